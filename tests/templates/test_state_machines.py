"""Contracts between the templates, the ASL files and shared/errors.py.

Step Functions matches errors by name, and a `${Name}` left without a substitution only fails at
deploy time; both are checked here for every state machine of every use case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.cfn_templates import load_template, template_paths
from shared.errors import ERROR_NAMES, RETRYABLE_ERRORS

AWS_ERROR_PREFIXES = ("States.", "Lambda.", "SageMaker.", "DynamoDB.", "SNS.", "S3.")
TERMINAL_NAMES = ERROR_NAMES - RETRYABLE_ERRORS


def _state_machines() -> list[Any]:
    found = []
    for path in template_paths():
        template = load_template(path)
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") == "AWS::Serverless::StateMachine":
                found.append(
                    pytest.param(
                        path, logical_id, resource["Properties"], id=f"{path.parent.name}:{logical_id}"
                    )
                )
    return found


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Map processors and Parallel branches."""
    for name, state in definition.get("States", {}).items():
        yield name, state
        for nested in (state.get("ItemProcessor"), state.get("Iterator")):
            if nested:
                yield from _states(nested)
        for branch in state.get("Branches", []):
            yield from _states(branch)


def _definition(path: Path, properties: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    text = (path.parent / properties["DefinitionUri"]).read_text(encoding="utf-8")
    return text, json.loads(text)


STATE_MACHINES = _state_machines()


def test_there_is_at_least_one_state_machine() -> None:
    assert STATE_MACHINES


@pytest.mark.parametrize(("path", "logical_id", "properties"), STATE_MACHINES)
def test_substitutions_and_placeholders_match(
    path: Path, logical_id: str, properties: dict[str, Any]
) -> None:
    text, _ = _definition(path, properties)
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))
    substitutions = set(properties.get("DefinitionSubstitutions", {}))
    assert placeholders - substitutions == set(), "placeholders without a substitution"
    assert substitutions - placeholders == set(), "substitutions the ASL never uses"
    for key in substitutions:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", key), f"{key}: substitution keys are PascalCase"


@pytest.mark.parametrize(("path", "logical_id", "properties"), STATE_MACHINES)
def test_error_names_are_ours_or_aws(path: Path, logical_id: str, properties: dict[str, Any]) -> None:
    _, definition = _definition(path, properties)
    for name, state in _states(definition):
        for retry in state.get("Retry", []):
            for error in retry["ErrorEquals"]:
                assert error.startswith(AWS_ERROR_PREFIXES) or error in RETRYABLE_ERRORS, (
                    f"{name}: Retry on {error!r}, which is not a retryable error of shared.errors"
                )
                assert error != "States.ALL", f"{name}: retrying States.ALL retries terminal errors too"
        for catch in state.get("Catch", []):
            for error in catch["ErrorEquals"]:
                assert error.startswith(AWS_ERROR_PREFIXES) or error in ERROR_NAMES, (
                    f"{name}: Catch on {error!r}, which no code raises"
                )
    assert not TERMINAL_NAMES & RETRYABLE_ERRORS


@pytest.mark.parametrize(("path", "logical_id", "properties"), STATE_MACHINES)
def test_every_task_has_retry_catch_and_timeout(
    path: Path, logical_id: str, properties: dict[str, Any]
) -> None:
    _, definition = _definition(path, properties)
    tasks = [(name, state) for name, state in _states(definition) if state["Type"] == "Task"]
    assert tasks
    for name, state in tasks:
        assert state.get("Retry"), f"{name}: no Retry"
        for retry in state["Retry"]:
            assert {"IntervalSeconds", "MaxAttempts", "BackoffRate"} <= retry.keys(), (
                f"{name}: implicit Retry"
            )
        assert state.get("Catch"), f"{name}: no Catch"
        assert all("ResultPath" in catch for catch in state["Catch"]), f"{name}: Catch without ResultPath"
        assert state.get("TimeoutSeconds") or state.get("TimeoutSecondsPath"), f"{name}: no TimeoutSeconds"
