"""The same rules serve CI and the Guard Hook: shape of the hook's input, its template, its bundle.

CI evaluates whole transformed templates; a Guard Hook on RESOURCE operations evaluates one resource
at a time (docs/guard-hooks.md). The rules only give the same verdicts in both places if none of
them joins two resources, which these tests check on every case and every template of the repo.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
import pytest
import yaml

from scripts.cfn_templates import REPO_ROOT, load_template, template_paths, transformed
from scripts.guard import RULES_DIR, evaluate, rule_files, rule_names
from scripts.guard_hook_bundle import build, bundle_bytes

HOOK_TEMPLATE = REPO_ROOT / "shared" / "cfn" / "guard-hook.yaml"
HOOK = load_template(HOOK_TEMPLATE)
PARAMETERS = HOOK["Parameters"]
GUARD_HOOK = HOOK["Resources"]["GuardHook"]["Properties"]


def _schema(resource_type: str) -> dict[str, Any]:
    """The resource provider schema cfn-lint validates templates with."""
    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    index = json.loads((schemas / "providers" / "us-east-1.json").read_text(encoding="utf-8"))
    schema: dict[str, Any] = json.loads((schemas / "resources" / f"{index[resource_type]}.json").read_text())
    return schema


GUARD_HOOK_SCHEMA = _schema("AWS::CloudFormation::GuardHook")


def _hook_input(logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
    """What a Guard Hook on a RESOURCE operation hands to Guard (Hooks user guide, resource input)."""
    return {
        "HookContext": {
            "AWSAccountID": "123456789012",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/example/1",
            "HookTypeName": "Private::Guard::FsxnS3apRules",
            "HookTypeVersion": "00000001",
            "InvocationPoint": "CREATE_PRE_PROVISION",
            "TargetName": resource["Type"],
            "TargetType": "RESOURCE",
            "TargetLogicalId": logical_id,
            "ChangeSetId": "",
        },
        "Resources": {logical_id: {"Type": resource["Type"], "Properties": resource.get("Properties", {})}},
        "Previous": {},
    }


def _rule_cases() -> list[Any]:
    cases = []
    for test_file in sorted((RULES_DIR / "tests").glob("*.yaml")):
        for case in yaml.safe_load(test_file.read_text(encoding="utf-8")):
            resources = case["input"].get("Resources", {})
            cases.append(pytest.param(RULES_DIR / f"{test_file.stem}.guard", resources, id=case["name"][:70]))
    return cases


@cache
def _transformed(path: Path) -> dict[str, Any]:
    return transformed(path)


def _assert_per_resource(rule_file: Path, resources: dict[str, Any]) -> None:
    rules = rule_file.read_text(encoding="utf-8")
    whole = evaluate({"Resources": resources}, rules)
    singles = [evaluate(_hook_input(name, resource), rules) for name, resource in resources.items()]
    for rule in rule_names(rules):
        failed_alone = any(report.outcome(rule) == "FAIL" for report in singles)
        assert (whole.outcome(rule) == "FAIL") == failed_alone, f"{rule_file.name}: {rule}"


@pytest.mark.parametrize(("rule_file", "resources"), _rule_cases())
def test_rule_cases_fail_as_a_template_exactly_when_a_resource_fails_alone(
    rule_file: Path, resources: dict[str, Any]
) -> None:
    _assert_per_resource(rule_file, resources)


@pytest.mark.parametrize("template", template_paths(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_repo_templates_give_the_hook_the_same_verdicts(template: Path) -> None:
    resources = _transformed(template)["Resources"]
    for rule_file in rule_files():
        _assert_per_resource(rule_file, resources)


def _selected_types(rules: str) -> set[str]:
    """Resource types the rules select with Type == '...' or Type in [...]."""
    types = set(re.findall(r"Type\s*==\s*'([A-Za-z0-9:]+)'", rules))
    for listed in re.findall(r"Type\s+in\s+\[([^\]]*)\]", rules):
        types |= set(re.findall(r"'([A-Za-z0-9:]+)'", listed))
    return types


def test_hook_targets_exactly_the_types_the_rules_check() -> None:
    selected = set().union(*(_selected_types(path.read_text(encoding="utf-8")) for path in rule_files()))
    assert set(GUARD_HOOK["TargetFilters"]["TargetNames"]) == selected


def test_hook_runs_on_resource_operations_before_create_and_update_only() -> None:
    assert GUARD_HOOK["TargetOperations"] == ["RESOURCE"]
    filters = GUARD_HOOK["TargetFilters"]
    assert filters["Actions"] == ["CREATE", "UPDATE"]  # a deleted resource has no properties
    assert filters["InvocationPoints"] == ["PRE_PROVISION"]
    assert set(filters["Actions"]) <= set(GUARD_HOOK_SCHEMA["definitions"]["Action"]["enum"])


def test_alias_parameter_uses_the_hooks_own_pattern() -> None:
    schema_pattern = GUARD_HOOK_SCHEMA["properties"]["Alias"]["pattern"]
    assert PARAMETERS["HookAlias"]["AllowedPattern"] == schema_pattern


@pytest.mark.parametrize(
    ("alias", "valid"),
    [
        ("Private::Guard::FsxnS3apRules", True),
        ("MyOrg::Governance::Guard", True),
        ("AWS::Guard::Hook", False),
        ("awsome::Guard::Hook", False),
        ("AwS1::Guard::Hook", False),
        ("Org::Guard", False),
        ("Org::Gu-ard::Hook", False),
        ("O::Guard::Hook", False),
    ],
)
def test_alias_pattern_semantics(alias: str, valid: bool) -> None:
    # Java (CloudFormation) scopes an inline (?i) to its group; Python spells that (?i:...).
    python_pattern = PARAMETERS["HookAlias"]["AllowedPattern"].replace("(?!(?i)aws)", "(?!(?i:aws))")
    assert bool(re.fullmatch(python_pattern, alias)) is valid


def test_failure_mode_defaults_to_warn_and_allows_what_the_hook_allows() -> None:
    assert PARAMETERS["FailureMode"]["Default"] == "WARN"
    assert sorted(PARAMETERS["FailureMode"]["AllowedValues"]) == sorted(
        GUARD_HOOK_SCHEMA["properties"]["FailureMode"]["enum"]
    )


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("guard-rules/fsxn-s3ap-guard-rules.zip", True),
        ("rules/all.tar.gz", True),
        ("rules/iam.guard", True),
        ("guard-rules/", False),
        ("guard-rules", False),
        ("rules/all.tgz", False),
    ],
)
def test_rule_location_names_one_object(key: str, valid: bool) -> None:
    assert bool(re.fullmatch(PARAMETERS["RulesObjectKey"]["AllowedPattern"], key)) is valid


def test_rule_location_is_pinned_to_the_uploaded_version() -> None:
    location = GUARD_HOOK["RuleLocation"]
    assert location == {
        "Uri": {"Fn::Sub": "s3://${RulesBucket}/${RulesObjectKey}"},
        "VersionId": {"Ref": "RulesObjectVersion"},
    }
    assert HOOK["Resources"]["GuardHook"]["Condition"] == "RulesUploaded"


def test_rules_bucket_is_versioned_encrypted_and_private() -> None:
    bucket = HOOK["Resources"]["RulesBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}


# --- one bundle of all the rule files -------------------------------------------------------------


def test_rule_files_can_be_evaluated_together() -> None:
    # A bundle holds every rule file; names must not collide if the hook reads them as one.
    lets: list[str] = []
    rules: list[str] = []
    for path in rule_files():
        text = path.read_text(encoding="utf-8")
        lets += re.findall(r"^let\s+(\w+)", text, re.MULTILINE)
        rules += rule_names(text)
    assert len(lets) == len(set(lets)), "two rule files declare the same variable"
    assert len(rules) == len(set(rules)), "two rule files declare the same rule"


@pytest.mark.parametrize("template", template_paths(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_concatenated_rules_give_the_same_verdicts(template: Path) -> None:
    data = _transformed(template)
    together = evaluate(data, "\n".join(path.read_text(encoding="utf-8") for path in rule_files()))
    for path in rule_files():
        alone = evaluate(data, path.read_text(encoding="utf-8"))
        for rule in rule_names(path.read_text(encoding="utf-8")):
            assert together.outcome(rule) == alone.outcome(rule), rule


def test_bundle_is_reproducible_and_holds_exactly_the_rule_files(tmp_path: Path) -> None:
    first = build(tmp_path / "a.zip")
    second = build(tmp_path / "b.zip")
    assert first.sha256 == second.sha256 == hashlib.sha256((tmp_path / "a.zip").read_bytes()).hexdigest()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == sorted(path.name for path in rule_files())
        for path in rule_files():
            assert archive.read(path.name) == path.read_bytes()


def test_bundle_changes_when_a_rule_changes(tmp_path: Path) -> None:
    rule = tmp_path / "one.guard"
    rule.write_text("rule a { Resources exists }\n")
    before = bundle_bytes([rule])
    rule.write_text("rule a { Resources !empty }\n")
    assert bundle_bytes([rule]) != before
    with pytest.raises(ValueError, match="no rule files"):
        bundle_bytes([])


def test_bundle_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.guard_hook_bundle", "--out", str(tmp_path / "rules.zip")],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    assert summary["rules"] == sorted(path.name for path in rule_files())
    rejected = subprocess.run(
        [sys.executable, "-m", "scripts.guard_hook_bundle", "--out", str(tmp_path / "rules.tar")],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rejected.returncode == 2
