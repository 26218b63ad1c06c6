#!/usr/bin/env python3
"""A fake `aws` CLI for script tests: the few Lambda/CloudFormation calls our scripts make.

State lives in the JSON file named by FAKE_AWS_STATE; every call is appended to FAKE_AWS_CALLS,
one line of arguments each, so tests assert the exact commands a script ran.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(argv: list[str]) -> int:
    with Path(os.environ["FAKE_AWS_CALLS"]).open("a", encoding="utf-8") as calls:
        calls.write(" ".join(argv) + "\n")
    state_file = Path(os.environ["FAKE_AWS_STATE"])
    state = json.loads(state_file.read_text(encoding="utf-8"))
    args = [a for i, a in enumerate(argv) if not (a == "--region" or (i and argv[i - 1] == "--region"))]
    service, command, rest = args[0], args[1], args[2:]
    function = state["functions"].get(option(rest, "--function-name") or "", {})
    query = option(rest, "--query")
    out: object = None
    if (service, command) == ("cloudformation", "describe-stacks"):
        if option(rest, "--stack-name") != state["stack"]:
            print(
                f"An error occurred (ValidationError): Stack {option(rest, '--stack-name')} does not exist",
                file=sys.stderr,
            )
            return 254
        out = "CREATE_COMPLETE"
    elif (service, command) == ("cloudformation", "list-stack-resources"):
        out = "\t".join(state["functions"])
    elif (service, command) == ("lambda", "get-function-configuration"):
        qualifier = option(rest, "--qualifier")
        config = function["versions"][qualifier] if qualifier else function
        out = {
            "Runtime": function["runtime"],
            "SnapStart.ApplyOn": config["apply_on"],
            "SnapStart.OptimizationStatus": config.get("optimization", "Off"),
        }[query or ""]
    elif (service, command) == ("lambda", "update-function-configuration"):
        function["apply_on"] = option(rest, "--snap-start").split("=", 1)[1]
        function["dirty"] = True
    elif (service, command) == ("lambda", "publish-version"):
        if function["dirty"] or not function["versions"]:
            version = str(len(function["versions"]) + 1)
            function["versions"][version] = {
                "apply_on": function["apply_on"],
                "optimization": "On" if function["apply_on"] == "PublishedVersions" else "Off",
            }
            function["dirty"] = False
        out = max(function["versions"], key=int)
    elif (service, command) == ("lambda", "get-alias"):
        name = option(rest, "--name")
        if name not in function["aliases"]:
            print("An error occurred (ResourceNotFoundException): Alias not found", file=sys.stderr)
            return 254
        out = function["aliases"][name]
    elif (service, command) in {("lambda", "create-alias"), ("lambda", "update-alias")}:
        function["aliases"][option(rest, "--name")] = option(rest, "--function-version")
    elif (service, command) == ("lambda", "wait"):
        pass
    else:
        print(f"fake aws: unsupported call {argv}", file=sys.stderr)
        return 2
    state_file.write_text(json.dumps(state), encoding="utf-8")
    if out is not None:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
