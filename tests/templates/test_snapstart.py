"""SnapStart that takes effect: published versions behind an alias, and state machines invoking it.

SnapStart applies only to published versions. Every use-case function therefore publishes through
``AutoPublishAlias: live`` and every state machine substitution naming one of the stack's functions
points at that alias, whether SnapStart is on or off; ``EnableSnapStart`` only switches the
``SnapStart`` property, so turning it off leaves the stack behaving exactly as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.cfn_templates import REPO_ROOT, load_template, transformed

USE_CASES = sorted(REPO_ROOT.glob("*/template.yaml"))
SNAPSTART = {"Fn::If": ["SnapStartEnabled", {"ApplyOn": "PublishedVersions"}, {"Ref": "AWS::NoValue"}]}


def _targets(value: Any) -> set[str]:
    """Logical ids a value points at through ``Ref`` or ``Fn::GetAtt``."""
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if isinstance(value.get("Fn::GetAtt"), list):
            found.add(value["Fn::GetAtt"][0])
        return found.union(*(_targets(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_targets(item) for item in value))
    return set()


@pytest.mark.parametrize("path", USE_CASES, ids=lambda p: p.parent.name)
def test_enable_snapstart_is_an_off_by_default_switch(path: Path) -> None:
    template = load_template(path)
    assert template["Parameters"]["EnableSnapStart"]["Default"] == "false"
    assert set(template["Parameters"]["EnableSnapStart"]["AllowedValues"]) == {"true", "false"}
    assert template["Conditions"]["SnapStartEnabled"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}


@pytest.mark.parametrize("path", USE_CASES, ids=lambda p: p.parent.name)
def test_every_function_publishes_an_alias_and_switches_snapstart(path: Path) -> None:
    resources = transformed(path, {"EnableSnapStart": "true"})["Resources"]
    functions = {name for name, res in resources.items() if res["Type"] == "AWS::Lambda::Function"}
    assert functions
    aliases = {
        res["Properties"]["FunctionName"]["Ref"]: name
        for name, res in resources.items()
        if res["Type"] == "AWS::Lambda::Alias" and res["Properties"]["Name"] == "live"
    }
    for function in functions:
        properties = resources[function]["Properties"]
        assert properties["Runtime"] == "python3.13", function
        assert properties["SnapStart"] == SNAPSTART, function
        assert function in aliases, f"{function} has no live alias"


@pytest.mark.parametrize("path", USE_CASES, ids=lambda p: p.parent.name)
def test_state_machines_invoke_the_alias_never_the_unqualified_function(path: Path) -> None:
    resources = transformed(path, {"EnableSnapStart": "true"})["Resources"]
    functions = {name for name, res in resources.items() if res["Type"] == "AWS::Lambda::Function"}
    aliases = {name for name, res in resources.items() if res["Type"] == "AWS::Lambda::Alias"}
    machines = [res for res in resources.values() if res["Type"] == "AWS::StepFunctions::StateMachine"]
    assert machines
    for machine in machines:
        substitutions = machine["Properties"]["DefinitionSubstitutions"]
        named = set().union(*(_targets(value) for value in substitutions.values()))
        assert named & aliases, "no substitution names a function alias"
        assert not named & functions, f"unqualified functions invoked: {sorted(named & functions)}"
