"""Guard's own rule-test files (guard-rules/tests/*.yaml), run through the cfn-guard-rs engine.

The same files are what `cfn-guard test` runs in GitHub Actions, so a rule and its cases cannot
drift apart between the local gate and CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.guard import RULES_DIR, evaluate, rule_files, rule_names


def _cases() -> list[pytest.param]:
    params = []
    for test_file in sorted((RULES_DIR / "tests").glob("*.yaml")):
        rule_file = RULES_DIR / f"{test_file.stem}.guard"
        for case in yaml.safe_load(test_file.read_text(encoding="utf-8")):
            params.append(pytest.param(rule_file, case, id=f"{test_file.stem}: {case['name']}"))
    return params


@pytest.mark.parametrize(("rule_file", "case"), _cases())
def test_rule_file_case(rule_file: Path, case: dict) -> None:
    # Given a rule file and one of its documented cases
    report = evaluate(case["input"], rule_file.read_text(encoding="utf-8"))
    # Then every rule has exactly the expected outcome
    outcomes = {rule: report.outcome(rule) for rule in case["expectations"]["rules"]}
    assert outcomes == case["expectations"]["rules"]


def test_every_rule_file_has_test_cases_for_each_of_its_rules() -> None:
    for rule_file in rule_files():
        test_file = RULES_DIR / "tests" / f"{rule_file.stem}.yaml"
        assert test_file.exists(), f"{rule_file.name} has no {test_file.relative_to(RULES_DIR)}"
        rules = {line.split()[1] for line in rule_file.read_text().splitlines() if line.startswith("rule ")}
        cases = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        seen = {(rule, outcome) for case in cases for rule, outcome in case["expectations"]["rules"].items()}
        for rule in rules:
            assert (rule, "PASS") in seen and (rule, "FAIL") in seen, f"{rule}: needs a PASS and a FAIL case"


def test_cases_only_name_rules_their_rule_file_declares() -> None:
    # A misspelt rule name would be evaluated as SKIP and could pass unnoticed.
    for test_file in sorted((RULES_DIR / "tests").glob("*.yaml")):
        rule_file = RULES_DIR / f"{test_file.stem}.guard"
        assert rule_file.exists(), f"{test_file.name} tests a rule file that does not exist"
        declared = set(rule_names(rule_file.read_text(encoding="utf-8")))
        for case in yaml.safe_load(test_file.read_text(encoding="utf-8")):
            assert set(case["expectations"]["rules"]) <= declared, f"{test_file.name}: {case['name']}"
