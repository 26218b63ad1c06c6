"""Stage 3 of the gate: every cfn-guard rule file on every template after the SAM transform.

Runs Guard 3 through the ``cfn-guard-rs`` wheel. Its Python report classes raise on rules that
contain an ``or`` clause, so this calls the engine's entry point directly and reads the JSON report
(``status``, ``compliant``, ``not_compliant[].Rule.name``, ``not_applicable``).

The wheel's entry point also returns only the last 8 KiB chunk of a longer report (its writer keeps
the last buffered write), which happens as soon as a few checks fail with their values. The report
ends with the ``not_applicable`` and ``compliant`` lists, so the outcome of every rule is recovered
from that tail (a rule in neither list failed); when the chunk boundary falls inside those lists,
the evaluation is repeated with a padding rule that always fails, which moves the boundary.

``--write-transformed DIR`` also writes each transformed template as JSON, for the official
``cfn-guard validate`` CLI that CI runs on the same documents (``make guard``).

    python -m scripts.guard [--rules guard-rules] [--write-transformed DIR] [TEMPLATE ...]
"""

from __future__ import annotations

import argparse
import json
import re
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


class GuardOutputError(RuntimeError):
    """The engine's report could not be read, even after moving the chunk boundary."""


def evaluate(data: dict[str, Any], rules_text: str) -> GuardReport:
    """Evaluate one data document (a template, or a Guard Hook's input) against one rule file."""
    payload = json.dumps(data)
    for padding in _PADDINGS:
        report = _report(run_checks_rs(payload, rules_text + padding, False), rules_text)
        if report is not None:
            return report
    raise GuardOutputError("cfn-guard-rs returned a report whose rule outcomes cannot be read")


_RULE_NAME = re.compile(r"^\s*rule\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
_PADDING_RULE = "guard_report_padding_"
# An always-failing rule adds a few hundred bytes before the tail lists; each size moves the
# boundary of the last chunk by a different amount.
_PADDINGS = (
    "",
    *(
        f"\nrule {_PADDING_RULE}{'p' * size} {{ guard_report_padding_probe exists }}\n"
        for size in (64, 512, 2048)
    ),
)


def rule_names(rules_text: str) -> tuple[str, ...]:
    """The names of the rules a rule file declares, in order."""
    return tuple(_RULE_NAME.findall(rules_text))


def _report(raw: str, rules_text: str) -> GuardReport | None:
    try:
        report = json.loads(raw)
    except json.JSONDecodeError:
        return _report_from_tail(raw, rules_text)
    failing = {entry["Rule"]["name"] for entry in report.get("not_compliant", [])}
    return _outcomes(
        set(report.get("compliant", [])),
        {name for name in failing if not name.startswith(_PADDING_RULE)},
        set(report.get("not_applicable", [])),
    )


def _report_from_tail(raw: str, rules_text: str) -> GuardReport | None:
    """Outcomes from the last chunk of a truncated report, or None if its tail lists are cut."""
    start = raw.rfind('"not_applicable"')
    if start < 0:
        return None
    try:
        tail = json.loads("{" + raw[start:])
    except json.JSONDecodeError:
        return None
    compliant = set(tail.get("compliant", []))
    not_applicable = set(tail.get("not_applicable", []))
    failing = {name for name in rule_names(rules_text) if name not in compliant | not_applicable}
    return _outcomes(compliant, failing, not_applicable)


def _outcomes(compliant: set[str], failing: set[str], not_applicable: set[str]) -> GuardReport:
    """Guard's own file status: FAIL if a rule failed, else PASS if one passed, else SKIP."""
    status = "FAIL" if failing else ("PASS" if compliant else "SKIP")
    return GuardReport(
        status=status,
        compliant=tuple(sorted(compliant)),
        not_compliant=tuple(sorted(failing)),
        not_applicable=tuple(sorted(not_applicable)),
    )


def rule_files(rules_dir: Path = RULES_DIR) -> list[Path]:
    return sorted(rules_dir.glob("*.guard"))


def _relative(template_path: Path) -> Path:
    return template_path.relative_to(REPO_ROOT) if template_path.is_relative_to(REPO_ROOT) else template_path


def transformed_file_name(template_path: Path) -> str:
    """``legal-compliance/template.yaml`` → ``legal-compliance.template.json`` (unique per template)."""
    return ".".join(_relative(template_path).with_suffix("").parts) + ".json"


def check(templates: list[Path], rules: list[Path], write_dir: Path | None = None) -> list[str]:
    """One line per failure (template, rule file, rule); an empty list means compliant.

    With ``write_dir``, each transformed template is also written there as JSON.
    """
    failures: list[str] = []
    for template_path in templates:
        name = _relative(template_path)
        try:
            data = transformed(template_path)
        except TemplateError as error:
            failures.append(str(error))
            continue
        if write_dir is not None:
            write_dir.mkdir(parents=True, exist_ok=True)
            (write_dir / transformed_file_name(template_path)).write_text(
                json.dumps(data, indent=1, sort_keys=True), encoding="utf-8"
            )
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
    parser.add_argument(
        "--write-transformed",
        type=Path,
        metavar="DIR",
        help="also write each transformed template to DIR as JSON (for the cfn-guard CLI)",
    )
    args = parser.parse_args(argv)
    templates = args.templates or template_paths()
    rules = rule_files(args.rules)
    if not templates or not rules:
        print(f"nothing to check: {len(templates)} templates, {len(rules)} rule files", file=sys.stderr)
        return 1
    failures = check(templates, rules, args.write_transformed)
    for line in failures:
        print(line, file=sys.stderr)
    print(f"guard: {len(templates)} templates x {len(rules)} rule files, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
