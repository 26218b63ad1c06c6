"""The inference nested stacks: what each must contain, bounds shared with Python, guard compliance,
and the EventBridge rule matching exactly this stack's transform jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from scripts.cfn_templates import REPO_ROOT, load_template, transformed
from scripts.guard import check, rule_files
from shared.cost_validation import (
    SERVERLESS_MAX_CONCURRENCY_RANGE,
    SERVERLESS_MEMORY_SIZES_MB,
    SERVERLESS_PROVISIONED_CONCURRENCY_MAX,
)
from shared.inference import TRANSFORM_EVENT_SOURCE, TRANSFORM_EVENT_TYPE
from shared.routing import REJECTED_STATE, ROUTING_STATE

CFN = REPO_ROOT / "shared" / "cfn"
STACKS = {
    name: CFN / f"{name}.yaml"
    for name in ("realtime-endpoint", "serverless-endpoint", "inference-components", "batch-transform")
}


def resources_of(name: str, kind: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in load_template(STACKS[name])["Resources"].items() if res["Type"] == kind}


def only(name: str, kind: str) -> dict[str, Any]:
    (resource,) = resources_of(name, kind).values()
    return resource


@pytest.mark.parametrize("name", STACKS)
def test_every_parameter_is_constrained_and_described(name: str) -> None:
    for parameter_name, parameter in load_template(STACKS[name])["Parameters"].items():
        constrained = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & parameter.keys()
        typed = parameter["Type"].startswith("List<AWS::")  # CloudFormation validates these itself
        assert constrained or typed, f"{name}: {parameter_name} is unconstrained"
        assert parameter.get("Description") or "AllowedValues" in parameter, f"{name}: {parameter_name}"


def test_guard_rules_pass_on_every_inference_stack() -> None:
    assert check(list(STACKS.values()), rule_files()) == []


# --- serverless ------------------------------------------------------------------------------------


def test_serverless_parameter_bounds_are_the_python_bounds() -> None:
    parameters = load_template(STACKS["serverless-endpoint"])["Parameters"]
    assert tuple(parameters["MemorySizeInMB"]["AllowedValues"]) == SERVERLESS_MEMORY_SIZES_MB
    assert (parameters["MaxConcurrency"]["MinValue"], parameters["MaxConcurrency"]["MaxValue"]) == (
        SERVERLESS_MAX_CONCURRENCY_RANGE
    )
    assert parameters["ProvisionedConcurrency"]["MinValue"] == 0
    assert parameters["ProvisionedConcurrency"]["MaxValue"] == SERVERLESS_PROVISIONED_CONCURRENCY_MAX


def test_serverless_provisioned_concurrency_is_optional_under_its_condition() -> None:
    template = load_template(STACKS["serverless-endpoint"])
    assert template["Conditions"]["HasProvisionedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ProvisionedConcurrency"}, 0]}]
    }
    (variant,) = only("serverless-endpoint", "AWS::SageMaker::EndpointConfig")["Properties"][
        "ProductionVariants"
    ]
    assert variant["ServerlessConfig"]["ProvisionedConcurrency"] == {
        "Fn::If": ["HasProvisionedConcurrency", {"Ref": "ProvisionedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert "InstanceType" not in variant


def test_serverless_model_is_marked_for_the_guard_and_has_no_vpc() -> None:
    model = only("serverless-endpoint", "AWS::SageMaker::Model")["Properties"]
    assert {"Key": "InferenceMode", "Value": "serverless"} in model["Tags"]
    assert "VpcConfig" not in model  # Serverless Inference rejects it


# --- realtime --------------------------------------------------------------------------------------


def test_realtime_endpoint_is_private_encrypted_and_autoscaled() -> None:
    model = only("realtime-endpoint", "AWS::SageMaker::Model")["Properties"]
    assert model["EnableNetworkIsolation"] is True
    assert set(model["VpcConfig"]) == {"Subnets", "SecurityGroupIds"}
    config = only("realtime-endpoint", "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    target = only("realtime-endpoint", "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["ResourceId"] == {"Fn::Sub": "endpoint/${Endpoint.EndpointName}/variant/AllTraffic"}
    policy = only("realtime-endpoint", "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    metric = policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert metric["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


# --- inference components ------------------------------------------------------------------------


def test_components_endpoint_config_names_no_model_and_no_weight() -> None:
    config = only("inference-components", "AWS::SageMaker::EndpointConfig")["Properties"]
    (variant,) = config["ProductionVariants"]
    assert "ModelName" not in variant
    assert "InitialVariantWeight" not in variant
    assert config["ExecutionRoleArn"] == {"Ref": "ExecutionRoleArn"}
    assert variant["ManagedInstanceScaling"]["Status"] == "ENABLED"
    assert variant["ManagedInstanceScaling"]["MinInstanceCount"] == {"Ref": "MinInstanceCount"}
    assert load_template(STACKS["inference-components"])["Parameters"]["MinInstanceCount"]["Default"] == 0
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}


def test_components_component_has_compute_requirements() -> None:
    component = only("inference-components", "AWS::SageMaker::InferenceComponent")["Properties"]
    requirements = component["Specification"]["ComputeResourceRequirements"]
    assert {"MinMemoryRequiredInMb", "NumberOfCpuCoresRequired"} <= set(requirements)
    assert component["VariantName"] == "AllTraffic"


def test_components_scale_to_zero_and_back_out_on_no_capacity() -> None:
    target_id, target = next(
        iter(resources_of("inference-components", "AWS::ApplicationAutoScaling::ScalableTarget").items())
    )
    assert target["Properties"]["MinCapacity"] == 0
    assert target["Properties"]["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    policies = resources_of("inference-components", "AWS::ApplicationAutoScaling::ScalingPolicy")
    step = {lid: p for lid, p in policies.items() if p["Properties"]["PolicyType"] == "StepScaling"}
    ((step_id, step_policy),) = step.items()
    assert step_policy["Properties"]["ScalingTargetId"] == {"Ref": target_id}
    assert step_policy["Properties"]["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ChangeInCapacity"
    alarm = only("inference-components", "AWS::CloudWatch::Alarm")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SageMaker", "NoCapacityInvocationFailures")
    assert alarm["Dimensions"] == [
        {"Name": "InferenceComponentName", "Value": {"Ref": "InferenceComponentName"}}
    ]
    assert alarm["AlarmActions"] == [{"Ref": step_id}]
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1


# --- batch transform -------------------------------------------------------------------------------


def _functions() -> dict[str, dict[str, Any]]:
    return resources_of("batch-transform", "AWS::Serverless::Function")


@pytest.mark.parametrize("logical_id", ["BatchTransformStartFunction", "SageMakerCallbackFunction"])
def test_nested_functions_have_a_handler_and_no_requirements(logical_id: str) -> None:
    properties = _functions()[logical_id]["Properties"]
    code_dir = (CFN / properties["CodeUri"]).resolve()
    module, _, attribute = properties["Handler"].rpartition(".")
    source = code_dir / f"{module}.py"
    assert source.is_file() and (code_dir / "__init__.py").is_file()
    assert f"def {attribute}(" in source.read_text(encoding="utf-8")
    assert not list(code_dir.rglob("requirements.txt"))
    template = load_template(STACKS["batch-transform"])
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayerArn"}]


def test_token_table_has_ttl_encryption_and_the_store_key() -> None:
    table = only("batch-transform", "AWS::DynamoDB::Table")["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "correlation_id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True


def _rule_pattern() -> dict[str, Any]:
    events = _functions()["SageMakerCallbackFunction"]["Properties"]["Events"]
    (event,) = events.values()
    assert event["Type"] == "EventBridgeRule"
    pattern = json.loads(json.dumps(event["Properties"]["Pattern"]))
    prefix = pattern["detail"]["TransformJobName"][0]["prefix"]
    pattern["detail"]["TransformJobName"][0]["prefix"] = prefix["Fn::Sub"].replace(
        "${JobNamePrefix}", "scoring"
    )
    return pattern


def _event(job: str, status: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "1",
        "detail-type": TRANSFORM_EVENT_TYPE,
        "source": TRANSFORM_EVENT_SOURCE,
        "account": "123456789012",
        "time": "2026-11-22T12:00:00Z",
        "region": "ap-northeast-1",
        "resources": [],
        "detail": {"TransformJobName": job, "TransformJobStatus": status},
    }


@pytest.mark.parametrize(
    ("job", "status", "matches"),
    [
        ("scoring-5ee3e0dd0ec2b86f1aca393e4b1ad7de", "Completed", True),
        ("scoring-5ee3e0dd0ec2b86f1aca393e4b1ad7de", "Failed", True),
        ("scoring-5ee3e0dd0ec2b86f1aca393e4b1ad7de", "Stopped", True),
        ("scoring-5ee3e0dd0ec2b86f1aca393e4b1ad7de", "InProgress", False),
        ("other-stack-5ee3e0dd0ec2b86f1aca393e4b1ad7de", "Completed", False),
        ("scoringx-5ee3e0dd0ec2b86f1aca393e4b1ad7de", "Completed", False),
    ],
)
def test_the_rule_matches_only_this_stacks_finished_jobs(job: str, status: str, matches: bool) -> None:
    # moto's EventBridge pattern matcher stands in for EventBridge's
    assert EventPattern.load(json.dumps(_rule_pattern())).matches_event(_event(job, status)) is matches


def test_callback_may_only_send_task_outcomes_on_any_resource() -> None:
    statements = [
        statement
        for policy in _functions()["SageMakerCallbackFunction"]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert [sorted(s["Action"]) for s in wildcard] == [["states:SendTaskFailure", "states:SendTaskSuccess"]]


def test_the_stack_transforms_to_plain_cloudformation() -> None:
    resources = transformed(STACKS["batch-transform"])["Resources"]
    assert {"AWS::Events::Rule", "AWS::Lambda::Function", "AWS::DynamoDB::Table"} <= {
        r["Type"] for r in resources.values()
    }


# --- the routing fragment, wherever a state machine embeds it -----------------------------------


def _asl_files() -> list[Path]:
    roots = [REPO_ROOT / "tests" / "workflows" / "fixtures", *REPO_ROOT.glob("*/statemachine")]
    return sorted(path for root in roots for path in root.rglob("*.asl.json") if ".aws-sam" not in path.parts)


def test_every_embedded_routing_choice_is_the_fragment() -> None:
    fragment = json.loads(
        (REPO_ROOT / "shared" / "asl" / "inference-routing.asl.json").read_text(encoding="utf-8")
    )
    embedding = []
    for path in _asl_files():
        states = json.loads(path.read_text(encoding="utf-8")).get("States", {})
        if ROUTING_STATE in states:
            embedding.append(path)
            assert states[ROUTING_STATE] == fragment["States"][ROUTING_STATE], path
            assert states[REJECTED_STATE] == fragment["States"][REJECTED_STATE], path
    assert embedding, "no state machine embeds the routing fragment"
