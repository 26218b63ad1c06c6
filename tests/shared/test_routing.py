"""shared.routing and its ASL twin: one decision, written twice, executed both ways and compared."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.errors import ERROR_NAMES, InvalidInputError
from shared.routing import (
    INFERENCE_TYPES,
    REJECTED_STATE,
    ROUTING_STATE,
    InferencePath,
    determine_inference_path,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAGMENT = REPO_ROOT / "shared" / "asl" / "inference-routing.asl.json"
B, R, S, C = (
    InferencePath.BATCH_TRANSFORM,
    InferencePath.REALTIME_ENDPOINT,
    InferencePath.SERVERLESS_INFERENCE,
    InferencePath.INFERENCE_COMPONENTS,
)


# --- the Python function --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_count", "threshold", "inference_type", "expected"),
    [
        (0, 100, "none", B),
        (10_000, 100, "none", B),
        (0, 100, "serverless", S),
        (10_000, 100, "serverless", S),
        (0, 100, "components", C),
        (10_000, 100, "components", C),
        (99, 100, "provisioned", R),
        (100, 100, "provisioned", B),
        (101, 100, "provisioned", B),
        (0, 0, "provisioned", B),
        (0, 1, "provisioned", R),
    ],
)
def test_routing_table(file_count: int, threshold: int, inference_type: str, expected: InferencePath) -> None:
    assert determine_inference_path(file_count, threshold, inference_type) is expected


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((-1, 10, "provisioned"), "file_count"),
        ((1, -1, "provisioned"), "batch_threshold"),
        ((-1, 10, "none"), "file_count"),
        ((1, 10, "Serverless"), "inference_type"),
        ((1, 10, "gpu"), "inference_type"),
        ((1, 10, ""), "inference_type"),
        ((1, 10, None), "inference_type"),
        ((True, 10, "none"), "file_count"),
        ((1.5, 10, "none"), "file_count"),
        (("3", 10, "none"), "file_count"),
        ((1, None, "none"), "batch_threshold"),
    ],
)
def test_invalid_inputs_are_rejected_naming_the_field(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        determine_inference_path(*args)
    assert caught.value.field == field
    assert (
        repr(args[{"file_count": 0, "batch_threshold": 1, "inference_type": 2}[field]])
        in caught.value.message
    )


def test_every_path_has_a_distinct_state_name() -> None:
    names = {path.state_name for path in InferencePath}
    assert names == {"Batch Transform", "Realtime Endpoint", "Serverless Inference", "Inference Components"}


# --- the ASL fragment, executed in moto's Step Functions interpreter -----------------------------


def _fragment() -> dict[str, Any]:
    fragment: dict[str, Any] = json.loads(FRAGMENT.read_text(encoding="utf-8"))
    return fragment


def _input_classes() -> list[dict[str, Any]]:
    """One routing input per class: each type x (below, at, above threshold), zero threshold, and
    every way an input can be invalid (missing, wrong JSON type, negative, unknown type)."""
    classes: list[dict[str, Any]] = []
    for inference_type in INFERENCE_TYPES:
        for count, threshold in ((3, 10), (10, 10), (11, 10), (0, 0), (5, 0)):
            classes.append(
                {"file_count": count, "batch_threshold": threshold, "inference_type": inference_type}
            )
    valid = {"file_count": 3, "batch_threshold": 10, "inference_type": "provisioned"}
    for key in valid:
        classes.append({k: v for k, v in valid.items() if k != key})
        for wrong in ("3", True, None, [3], {"n": 3}):
            if key == "inference_type" and wrong == "3":
                continue  # a string is the right JSON type for the type; covered as unknown below
            classes.append({**valid, key: wrong})
    classes += [
        {**valid, "file_count": -1},
        {**valid, "batch_threshold": -1},
        {**valid, "file_count": -1, "inference_type": "none"},
        {**valid, "inference_type": "Provisioned"},
        {**valid, "inference_type": "gpu"},
        {**valid, "inference_type": ""},
        {**valid, "inference_type": 3},
    ]
    return classes


def _python_outcome(routing: dict[str, Any]) -> str:
    # All three inputs are required by the function's signature: a missing one is a rejection.
    if set(routing) != {"file_count", "batch_threshold", "inference_type"}:
        return "rejected"
    try:
        return determine_inference_path(**routing).state_name
    except InvalidInputError:
        return "rejected"


def _run_all(definition: dict[str, Any], inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        role = boto3.client("iam").create_role(RoleName="routing-test", AssumeRolePolicyDocument="{}")
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="routing", definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
        )["stateMachineArn"]
        executions = [
            sfn.start_execution(
                stateMachineArn=arn, name=f"case-{index}", input=json.dumps({"routing": item})
            )["executionArn"]
            for index, item in enumerate(inputs)
        ]
        results = []
        deadline = time.monotonic() + 60
        for execution in executions:
            while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
                assert time.monotonic() < deadline, "routing executions did not finish"
                time.sleep(0.02)
            results.append(described)
        return results


def test_the_asl_choice_and_the_python_function_agree_on_every_input_class() -> None:
    # Given the fragment plus one Pass state per path that reports where the Choice went
    fragment = _fragment()
    states = dict(fragment["States"])
    for path in InferencePath:
        states[path.state_name] = {"Type": "Pass", "Result": {"went_to": path.state_name}, "End": True}
    inputs = _input_classes()

    # When moto's interpreter executes it for an input of every class
    results = _run_all({"StartAt": ROUTING_STATE, "States": states}, inputs)

    # Then each execution ends where the Python function routes the same input
    disagreements = []
    for routing, described in zip(inputs, results, strict=True):
        if described["status"] == "SUCCEEDED":
            asl = json.loads(described["output"])["went_to"]
        elif described["status"] == "FAILED" and described.get("error") == "InvalidInputError":
            asl = "rejected"
        else:
            asl = f"{described['status']} {described.get('error')}"
        if asl != _python_outcome(routing):
            disagreements.append((routing, asl, _python_outcome(routing)))
    assert disagreements == []
    # And every path and the rejection were actually exercised
    outcomes = {_python_outcome(routing) for routing in inputs}
    assert outcomes == {path.state_name for path in InferencePath} | {"rejected"}


def test_the_fragment_rejects_with_an_error_class_of_shared_errors() -> None:
    fragment = _fragment()
    rejected = fragment["States"][REJECTED_STATE]
    assert rejected["Type"] == "Fail"
    assert rejected["Error"] == type(InvalidInputError("f", "m")).__name__
    assert rejected["Error"] in ERROR_NAMES


def test_the_fragment_only_targets_the_path_states_and_the_rejection() -> None:
    choice = _fragment()["States"][ROUTING_STATE]

    def targets(rules: list[dict[str, Any]]) -> set[str]:
        return {rule["Next"] for rule in rules}

    assert targets(choice["Choices"]) | {choice["Default"]} == {path.state_name for path in InferencePath} | {
        REJECTED_STATE
    }
