"""events/<use-case>/: one payload per function at least, and none for a function that does not exist.

``scripts/local-test.sh all`` (tests/scripts/test_local_test.py) invokes every one of these files
against its function in the sandbox, so each event file is exercised by a test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sandbox.cli import function_for_event
from scripts.cfn_templates import REPO_ROOT, load_template

USE_CASES = sorted(path.parent for path in REPO_ROOT.glob("*/template.yaml"))


def functions(use_case: Path) -> set[str]:
    resources = load_template(use_case / "template.yaml")["Resources"]
    return {name for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"}


def event_files(use_case: Path) -> list[Path]:
    return sorted((REPO_ROOT / "events" / use_case.name).glob("*.json"))


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda p: p.name)
def test_every_function_has_an_event_file(use_case: Path) -> None:
    covered = {function_for_event(path) for path in event_files(use_case)}
    assert functions(use_case) - covered == set()


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda p: p.name)
def test_every_event_file_names_a_function_and_holds_a_json_object(use_case: Path) -> None:
    for path in event_files(use_case):
        assert re.fullmatch(r"[a-z0-9_]+(-[a-z0-9_]+)*", path.stem), (
            f"{path.name}: <function>[-<scenario>].json"
        )
        assert function_for_event(path) in functions(use_case), f"{path.name} names no function"
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path.name
