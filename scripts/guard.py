"""Stage 3 of the gate: every cfn-guard rule file on every template after the SAM transform.

Runs Guard 3 through the ``cfn-guard-rs`` wheel. Its Python report classes raise on rules that
contain an ``or`` clause, so this calls the engine's entry point directly and reads the JSON report
(``status``, ``compliant``, ``not_compliant[].Rule.name``, ``not_applicable``).

    python -m scripts.guard [--rules guard-rules] [TEMPLATE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfn_guard_rs.cfn_guard_rs import run_checks_rs

from scripts.cfn_templates import REPO_ROOT, TemplateError, template_paths, transformed

RULES_DIR = REPO_ROOT / "guard-rules"


@dataclass(frozen=True)
class GuardReport:
    """Rule names by outcome for one data document against one rule file."""

    status: str
    compliant: tuple[str, ...]
    not_compliant: tuple[str, ...]
    not_applicable: tuple[str, ...]

    def outcome(self, rule: str) -> str:
        """PASS, FAIL or SKIP: the vocabulary of Guard's own rule-test files."""
        if rule in self.not_compliant:
            return "FAIL"
        if rule in self.compliant:
            return "PASS"
        return "SKIP"


def evaluate(data: dict[str, Any], rules_text: str) -> GuardReport:
    """Evaluate one data document (a template, or a Guard Hook's input) against one rule file."""
    report = json.loads(run_checks_rs(json.dumps(data), rules_text, False))
    failing = tuple(sorted({entry["Rule"]["name"] for entry in report.get("not_compliant", [])}))
    return GuardReport(
        status=report["status"],
        compliant=tuple(sorted(report.get("compliant", []))),
        not_compliant=failing,
        not_applicable=tuple(sorted(report.get("not_applicable", []))),
    )


def rule_files(rules_dir: Path = RULES_DIR) -> list[Path]:
    return sorted(rules_dir.glob("*.guard"))


def check(templates: list[Path], rules: list[Path]) -> list[str]:
    """One line per failure (template, rule file, rule); an empty list means compliant."""
    failures: list[str] = []
    for template_path in templates:
        name = (
            template_path.relative_to(REPO_ROOT) if template_path.is_relative_to(REPO_ROOT) else template_path
        )
        try:
            data = transformed(template_path)
        except TemplateError as error:
            failures.append(str(error))
            continue
        for rule_path in rules:
            report = evaluate(data, rule_path.read_text(encoding="utf-8"))
            failures += [f"{name}: {rule_path.name}: {rule} FAIL" for rule in report.not_compliant]
            print(f"{report.status:5} {name} x {rule_path.name}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("templates", nargs="*", type=Path, help="default: every template in the repo")
    parser.add_argument("--rules", type=Path, default=RULES_DIR, help="folder of *.guard files")
    args = parser.parse_args(argv)
    templates = args.templates or template_paths()
    rules = rule_files(args.rules)
    if not templates or not rules:
        print(f"nothing to check: {len(templates)} templates, {len(rules)} rule files", file=sys.stderr)
        return 1
    failures = check(templates, rules)
    for line in failures:
        print(line, file=sys.stderr)
    print(f"guard: {len(templates)} templates x {len(rules)} rule files, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
