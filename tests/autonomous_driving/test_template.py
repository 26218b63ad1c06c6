"""The template and the ASL: each inference path's resources exist only when chosen, the tasks are bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.template import Template

ROOT = Path(__file__).resolve().parents[2] / "autonomous-driving"
ACCESS_POINT = {
    "AccessPointAlias": "drive-logs-sbx0a1b2c3d4e5f6g7h8i9j0k1l2-ext-s3alias",
    "AccessPointArn": "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/drive-logs",
}
INFERENCE = {
    "EnableInference": "true",
    "ModelImageUri": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/drive-detector:1",
    "SageMakerExecutionRoleArn": "arn:aws:iam::123456789012:role/drive-detector",
    "ModelSubnetIds": "subnet-0123456789abcdef0",
    "ModelSecurityGroupIds": "sg-0123456789abcdef0",
}
EXISTING_START = "arn:aws:lambda:ap-northeast-1:123456789012:function:bt-start"
PATH_RESOURCES = {
    "RealtimeEndpointStack",
    "ServerlessEndpointStack",
    "InferenceComponentsStack",
    "BatchTransformStack",
    "TransformModel",
    "RunInferenceFunction",
    "RunInferenceFunctionLogGroup",
    "InferenceKey",
}


def _active(**parameters: str) -> set[str]:
    template = Template.from_file(
        ROOT / "template.yaml",
        stack_name="ad",
        region="ap-northeast-1",
        parameter_overrides={**ACCESS_POINT, **parameters},
    )
    return set(template.active_resources) & PATH_RESOURCES


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, set()),
        ({**INFERENCE, "InferenceType": "none"}, {"BatchTransformStack", "TransformModel", "InferenceKey"}),
        (
            {**INFERENCE, "InferenceType": "provisioned"},
            {
                "RealtimeEndpointStack",
                "BatchTransformStack",
                "TransformModel",
                "InferenceKey",
                "RunInferenceFunction",
                "RunInferenceFunctionLogGroup",
            },
        ),
        (
            {**INFERENCE, "InferenceType": "serverless"},
            {
                "ServerlessEndpointStack",
                "BatchTransformStack",
                "TransformModel",
                "InferenceKey",
                "RunInferenceFunction",
                "RunInferenceFunctionLogGroup",
            },
        ),
        (
            {**INFERENCE, "InferenceType": "components"},
            {
                "InferenceComponentsStack",
                "BatchTransformStack",
                "TransformModel",
                "InferenceKey",
                "RunInferenceFunction",
                "RunInferenceFunctionLogGroup",
            },
        ),
        (
            {
                **INFERENCE,
                "InferenceType": "serverless",
                "ExistingBatchTransformStartFunctionArn": EXISTING_START,
            },
            {
                "ServerlessEndpointStack",
                "InferenceKey",
                "RunInferenceFunction",
                "RunInferenceFunctionLogGroup",
            },
        ),
    ],
    ids=["disabled", "none", "provisioned", "serverless", "components", "existing-batch-transform"],
)
def test_each_paths_resources_exist_only_when_chosen(parameters: dict[str, str], expected: set[str]) -> None:
    assert _active(**parameters) == expected


def _states() -> dict[str, dict]:
    return json.loads((ROOT / "statemachine" / "drive_log.asl.json").read_text(encoding="utf-8"))["States"]


def test_synchronous_paths_are_bounded_and_fall_back_to_batch_transform() -> None:
    states = _states()
    assert states["Serverless Inference"]["TimeoutSeconds"] == 120
    assert states["Inference Components"]["TimeoutSeconds"] == 300
    assert states["Serverless Inference"]["Catch"][0] == {
        "ErrorEquals": ["ServerlessColdStartTimeoutError", "EndpointUnavailableError", "States.Timeout"],
        "ResultPath": "$.fallback",
        "Next": "Batch Transform",
    }
    assert states["Inference Components"]["Catch"][0]["ErrorEquals"][0] == "ComponentsColdStartTimeoutError"
    assert states["Inference Components"]["Catch"][0]["Next"] == "Batch Transform"
    assert states["Batch Transform"]["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert states["Batch Transform"]["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert states["Skip Inference"]["Type"] == "Pass"


def test_no_state_reads_the_execution_input() -> None:
    # A scheduled start passes {}: every path a state reads is written by an earlier state.
    text = (ROOT / "statemachine" / "drive_log.asl.json").read_text(encoding="utf-8")
    discover = _states()["Discover Files"]
    assert discover["ResultPath"] == "$"  # the input is replaced by discovery's result
    assert '"$$.Execution.Input' not in text
