"""The multi-region stacks: nothing exists when the feature is off, the global tables and routing
when it is on, and the templates' names are the names shared.naming computes.

Templates are evaluated as CloudFormation would see them: ``transformed`` (the SAM transform, for
batch-transform.yaml) and the sandbox's ``Template``, which evaluates Parameters and Conditions and
resolves intrinsic functions; no condition logic is re-implemented here.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sandbox.template import PhysicalResource, PseudoParameters, Template
from scripts.cfn_templates import REPO_ROOT, load_template, transformed
from scripts.guard import check, rule_files
from shared.naming import DEPLOYMENT_PATTERN, ResourceKind, global_name, regional_name
from shared.region_role import HEALTH_METRIC_NAME, HEALTH_METRIC_NAMESPACE, STATUS_KEY_ATTRIBUTE

CFN = REPO_ROOT / "shared" / "cfn"
STORE = CFN / "global-task-token-store.yaml"
ROUTING = CFN / "multi-region.yaml"
BATCH = CFN / "batch-transform.yaml"
PRIMARY = "ap-northeast-1"
SECONDARY = "us-east-1"
ACCOUNT = "123456789012"
HEALTH_CHECK = "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b"
MULTI_REGION_TYPES = {
    "AWS::DynamoDB::GlobalTable",
    "AWS::Route53::HealthCheck",
    "AWS::Route53::RecordSet",
    "AWS::CloudWatch::Alarm",
}
BATCH_PARAMETERS = {
    "SharedLayerArn": f"arn:aws:lambda:{PRIMARY}:{ACCOUNT}:layer:shared:1",
    "JobNamePrefix": "scoring",
    "ModelName": "scoring-model",
    "InputAccessPointAlias": "vol1-ap-3hx7a2bq9z1k5example-ext-s3alias",
    "OutputBucketName": "inference-runs",
    "LogsKmsKeyArn": f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b",
}
GUARDED_USE_CASES = ("legal-compliance", "semiconductor-eda", "autonomous-driving")
GUARD_PARAMETERS = ("PrimaryRegion", "SecondaryRegion", "PrimaryHealthCheckId", "RegionStatusTableName")
ROUTING_PARAMETERS = {
    "DeploymentName": "legal-prod",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "RecordName": "ingest.example.com",
    "EntryPointDomainName": "abc123.execute-api.ap-northeast-1.amazonaws.com",
}


def evaluate(
    path: Path, parameters: dict[str, Any], *, region: str = PRIMARY, stack: str = "stack"
) -> Template:
    """The template as CloudFormation evaluates it for these parameters in ``region``."""
    body = transformed(path, parameters, region=region)
    return Template(
        body,
        base_dir=path.parent,
        pseudo=PseudoParameters(stack_name=stack, region=region),
        parameter_overrides=parameters,
    )


def resolved(template: Template, logical_id: str, name: str) -> Any:
    """A property of an active resource, every intrinsic resolved (other resources by logical id)."""
    refs = {
        lid: PhysicalResource(ref=f"<{lid}>", attributes={"Arn": f"<{lid}.Arn>"})
        for lid in template.active_resources
    }
    return template.resolve(template.resources[logical_id].properties[name], refs)


def types_of(template: Template) -> set[str]:
    return {resource.type for resource in template.active_resources.values()}


# --- off: nothing multi-region ------------------------------------------------------------------


def test_store_off_creates_one_regional_table_and_nothing_multi_region() -> None:
    template = evaluate(STORE, {"DeploymentName": "legal-prod"})
    assert {lid: res.type for lid, res in template.active_resources.items()} == {
        "TaskTokenTable": "AWS::DynamoDB::Table"
    }
    assert not types_of(template) & MULTI_REGION_TYPES


def test_routing_off_creates_nothing() -> None:
    assert evaluate(ROUTING, {"DeploymentName": "legal-prod"}).active_resources == {}
    assert evaluate(ROUTING, {"DeploymentName": "legal-prod"}, region="us-east-1").active_resources == {}


def test_batch_transform_off_is_unchanged_single_region() -> None:
    template = evaluate(BATCH, BATCH_PARAMETERS)
    assert "TaskTokenTable" in template.active_resources
    assert not types_of(template) & MULTI_REGION_TYPES
    start = template.resources["BatchTransformStartFunction"]
    variables = template.resolve(start.properties["Environment"]["Variables"], _refs(template))
    assert variables["TASK_TOKEN_TABLE"] == "<TaskTokenTable>"
    assert _token_policy_resources(template) == ["<TaskTokenTable.Arn>", "<TaskTokenTable.Arn>"]


def _refs(template: Template) -> dict[str, PhysicalResource]:
    return {
        lid: PhysicalResource(ref=f"<{lid}>", attributes={"Arn": f"<{lid}.Arn>"})
        for lid in template.active_resources
    }


def _token_policy_resources(template: Template) -> list[Any]:
    found = []
    for lid in ("BatchTransformStartFunctionRole", "SageMakerCallbackFunctionRole"):
        for policy in resolved(template, lid, "Policies"):
            for statement in policy["PolicyDocument"]["Statement"]:
                if any(str(action).startswith("dynamodb:") for action in statement["Action"]):
                    found.append(statement["Resource"])
    return found


# --- on: the global tables ------------------------------------------------------------------------


@pytest.mark.parametrize("replicas", [["us-east-1"], ["us-east-1", "us-west-2"]])
def test_store_on_creates_global_tables_replicated_with_pitr_to_each_region(replicas: list[str]) -> None:
    template = evaluate(
        STORE,
        {"DeploymentName": "legal-prod", "EnableMultiRegion": "true", "ReplicaRegions": ",".join(replicas)},
    )
    assert {lid: res.type for lid, res in template.active_resources.items()} == {
        "GlobalTaskTokenTable": "AWS::DynamoDB::GlobalTable",
        "RegionStatusTable": "AWS::DynamoDB::GlobalTable",
    }
    for lid in ("GlobalTaskTokenTable", "RegionStatusTable"):
        assert resolved(template, lid, "BillingMode") == "PAY_PER_REQUEST"
        assert resolved(template, lid, "StreamSpecification") == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert resolved(template, lid, "SSESpecification") == {"SSEEnabled": True, "SSEType": "KMS"}
        assert resolved(template, lid, "MultiRegionConsistency") == "EVENTUAL"
        assert resolved(template, lid, "GlobalTableWitnesses") is None
        assert resolved(template, lid, "Replicas") == [
            {"Region": region, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
            for region in [PRIMARY, *replicas]
        ]
    assert resolved(template, "GlobalTaskTokenTable", "TimeToLiveSpecification") == {
        "AttributeName": "ttl",
        "Enabled": True,
    }
    assert resolved(template, "RegionStatusTable", "KeySchema") == [
        {"AttributeName": STATUS_KEY_ATTRIBUTE, "KeyType": "HASH"}
    ]


def test_store_on_strong_consistency_with_a_witness_and_a_key_in_every_replica() -> None:
    template = evaluate(
        STORE,
        {
            "DeploymentName": "legal-prod",
            "EnableMultiRegion": "true",
            "ReplicaRegions": "ap-northeast-3",
            "MultiRegionConsistency": "STRONG",
            "WitnessRegion": "ap-northeast-2",
            "KmsKeyId": "mrk-1234abcd12ab34cd56ef1234567890ab",
        },
    )
    assert resolved(template, "GlobalTaskTokenTable", "MultiRegionConsistency") == "STRONG"
    assert resolved(template, "GlobalTaskTokenTable", "GlobalTableWitnesses") == [
        {"Region": "ap-northeast-2"}
    ]
    replicas = resolved(template, "GlobalTaskTokenTable", "Replicas")
    assert [replica["Region"] for replica in replicas] == [PRIMARY, "ap-northeast-3"]
    assert {replica["SSESpecification"]["KMSMasterKeyId"] for replica in replicas} == {
        "mrk-1234abcd12ab34cd56ef1234567890ab"
    }


def test_store_outputs_the_table_the_batch_stacks_use() -> None:
    outputs = load_template(STORE)["Outputs"]
    assert outputs["TaskTokenTableName"]["Value"] == {
        "Fn::If": ["IsMultiRegion", {"Ref": "GlobalTaskTokenTable"}, {"Ref": "TaskTokenTable"}]
    }
    assert outputs["RegionStatusTableName"]["Condition"] == "IsMultiRegion"


def test_batch_transform_on_uses_this_regions_replica_and_creates_no_table() -> None:
    template = evaluate(
        BATCH,
        {
            **BATCH_PARAMETERS,
            "EnableMultiRegion": "true",
            "GlobalTaskTokenTableName": "legal-prod-global-task-tokens",
        },
        region=SECONDARY,
    )
    assert "TaskTokenTable" not in template.active_resources
    assert not {"AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"} & types_of(template)
    start = template.resources["BatchTransformStartFunction"]
    variables = template.resolve(start.properties["Environment"]["Variables"], _refs(template))
    assert variables["TASK_TOKEN_TABLE"] == "legal-prod-global-task-tokens"
    replica_arn = f"arn:aws:dynamodb:{SECONDARY}:{ACCOUNT}:table/legal-prod-global-task-tokens"
    assert _token_policy_resources(template) == [replica_arn, replica_arn]


def test_batch_transform_keeps_its_parameters_and_outputs() -> None:
    template = load_template(BATCH)
    assert set(BATCH_PARAMETERS) <= set(template["Parameters"])
    assert set(template["Outputs"]) == {
        "BatchTransformStartFunctionArn",
        "SageMakerCallbackFunctionArn",
        "TaskTokenTableName",
        "TaskTokenTableArn",
    }
    assert template["Parameters"]["EnableMultiRegion"]["Default"] == "false"
    assert re.fullmatch(
        template["Parameters"]["KmsKeyArn"]["AllowedPattern"],
        f"arn:aws:kms:{SECONDARY}:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab",
    )


# --- on: health and routing -----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "region"), [("PRIMARY", PRIMARY), ("SECONDARY", SECONDARY)])
def test_routing_on_creates_the_health_check_and_this_regions_failover_record(role: str, region: str) -> None:
    parameters = {**ROUTING_PARAMETERS, "EnableMultiRegion": "true", "RegionRole": role}
    if role == "SECONDARY":
        parameters["PrimaryHealthCheckId"] = HEALTH_CHECK
    template = evaluate(ROUTING, parameters, region=region)

    record = {
        name: resolved(template, "FailoverRecord", name)
        for name in template.resources["FailoverRecord"].properties
    }
    assert record == {
        "HostedZoneId": "Z0123456789ABCDEFGHIJ",
        "Name": "ingest.example.com",
        "Type": "CNAME",
        "TTL": "60",
        "SetIdentifier": f"legal-prod-{region}",
        "Failover": role,
        "HealthCheckId": "<EntryPointHealthCheck>",
        "ResourceRecords": ["abc123.execute-api.ap-northeast-1.amazonaws.com"],
    }
    check_config = resolved(template, "EntryPointHealthCheck", "HealthCheckConfig")
    assert check_config["Type"] == "HTTPS"
    assert check_config["FullyQualifiedDomainName"] == ROUTING_PARAMETERS["EntryPointDomainName"]
    assert (check_config["RequestInterval"], check_config["FailureThreshold"]) == ("30", "3")


def test_the_primary_health_alarm_exists_only_where_route53_publishes_its_metrics() -> None:
    parameters = {**ROUTING_PARAMETERS, "EnableMultiRegion": "true"}
    assert "PrimaryHealthAlarm" not in evaluate(ROUTING, parameters, region=PRIMARY).active_resources

    secondary = evaluate(
        ROUTING,
        {**parameters, "RegionRole": "SECONDARY", "PrimaryHealthCheckId": HEALTH_CHECK},
        region=SECONDARY,
    )
    alarm = {
        name: resolved(secondary, "PrimaryHealthAlarm", name)
        for name in ("Namespace", "MetricName", "Dimensions")
    }
    assert alarm == {
        "Namespace": HEALTH_METRIC_NAMESPACE,
        "MetricName": HEALTH_METRIC_NAME,
        "Dimensions": [{"Name": "HealthCheckId", "Value": HEALTH_CHECK}],
    }
    assert resolved(secondary, "PrimaryHealthAlarm", "TreatMissingData") == "breaching"


# --- the naming rule in the templates is shared.naming ------------------------------------------


@pytest.mark.parametrize("deployment", ["legal-prod", "eda", "a" + "b" * 22 + "c"])
@pytest.mark.parametrize("region", [PRIMARY, SECONDARY, "us-gov-west-1", "ap-southeast-5"])
def test_template_names_are_the_names_shared_naming_computes(deployment: str, region: str) -> None:
    off = evaluate(STORE, {"DeploymentName": deployment}, region=region)
    assert resolved(off, "TaskTokenTable", "TableName") == regional_name(
        deployment, region, ResourceKind.TABLE, "task-tokens"
    )
    on = evaluate(
        STORE,
        {"DeploymentName": deployment, "EnableMultiRegion": "true", "ReplicaRegions": "eu-west-1"},
        region=region,
    )
    assert resolved(on, "GlobalTaskTokenTable", "TableName") == global_name(
        deployment, ResourceKind.TABLE, "task-tokens"
    )
    assert resolved(on, "RegionStatusTable", "TableName") == global_name(
        deployment, ResourceKind.TABLE, "region-status"
    )

    routing = evaluate(
        ROUTING,
        {**ROUTING_PARAMETERS, "DeploymentName": deployment, "EnableMultiRegion": "true"},
        region=region,
    )
    tags = {tag["Key"]: tag["Value"] for tag in resolved(routing, "EntryPointHealthCheck", "HealthCheckTags")}
    assert tags["Name"] == regional_name(deployment, region, ResourceKind.STACK, "entry-point")
    assert resolved(routing, "FailoverRecord", "SetIdentifier") == regional_name(
        deployment, region, ResourceKind.STACK
    )


@pytest.mark.parametrize("path", [STORE, ROUTING])
def test_deployment_name_is_constrained_by_the_naming_rule(path: Path) -> None:
    assert load_template(path)["Parameters"]["DeploymentName"]["AllowedPattern"] == DEPLOYMENT_PATTERN


# --- the use cases: discovery asks the region-role guard ------------------------------------------


def use_case_parameters(use_case: str, **extra: str) -> dict[str, str]:
    """The use case's development parameters (samconfig.sample.toml) plus ``extra``."""
    with (REPO_ROOT / use_case / "samconfig.sample.toml").open("rb") as handle:
        text = tomllib.load(handle)["default"]["deploy"]["parameters"]["parameter_overrides"]
    return {**dict(item.split("=", 1) for item in shlex.split(text)), **extra}


def discovery_guard(
    use_case: str, parameters: dict[str, str], region: str
) -> tuple[dict[str, Any], list[Any]]:
    """The transformed template's DiscoveryFunction guard variables and its role's statements."""
    template = evaluate(REPO_ROOT / use_case / "template.yaml", parameters, region=region, stack=use_case)
    refs = _refs(template)
    variables = template.resolve(
        template.resources["DiscoveryFunction"].properties["Environment"]["Variables"], refs
    )
    guard = {name: variables[name] for name in GUARD_VARIABLES}
    policies = template.resolve(template.resources["DiscoveryFunctionRole"].properties["Policies"], refs)
    statements = [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]
    return guard, statements


GUARD_VARIABLES = (
    "MULTI_REGION_ENABLED",
    "PRIMARY_REGION",
    "SECONDARY_REGION",
    "PRIMARY_HEALTH_CHECK_ID",
    "REGION_STATUS_TABLE",
)
MULTI_REGION_ON = {
    "EnableMultiRegion": "true",
    "PrimaryRegion": PRIMARY,
    "SecondaryRegion": SECONDARY,
    "PrimaryHealthCheckId": HEALTH_CHECK,
    "RegionStatusTableName": "legal-prod-global-region-status",
}


@pytest.mark.parametrize("use_case", GUARDED_USE_CASES)
def test_use_case_off_its_guard_makes_no_call_and_has_no_permission(use_case: str) -> None:
    guard, statements = discovery_guard(use_case, use_case_parameters(use_case), PRIMARY)
    assert guard == dict.fromkeys(GUARD_VARIABLES, "") | {"MULTI_REGION_ENABLED": "false"}
    actions = {action for statement in statements for action in _listed(statement["Action"])}
    assert not {action for action in actions if action.startswith(("cloudwatch:", "dynamodb:"))}
    template = evaluate(REPO_ROOT / use_case / "template.yaml", use_case_parameters(use_case))
    assert not types_of(template) & MULTI_REGION_TYPES - {"AWS::CloudWatch::Alarm"}


@pytest.mark.parametrize("use_case", GUARDED_USE_CASES)
@pytest.mark.parametrize("region", [PRIMARY, SECONDARY])
def test_use_case_on_reads_the_health_metric_and_this_regions_override_replica(
    use_case: str, region: str
) -> None:
    guard, statements = discovery_guard(use_case, use_case_parameters(use_case, **MULTI_REGION_ON), region)
    assert guard == {
        "MULTI_REGION_ENABLED": "true",
        "PRIMARY_REGION": PRIMARY,
        "SECONDARY_REGION": SECONDARY,
        "PRIMARY_HEALTH_CHECK_ID": HEALTH_CHECK,
        "REGION_STATUS_TABLE": "legal-prod-global-region-status",
    }
    by_sid = {statement.get("Sid"): statement for statement in statements}
    assert by_sid["ReadThePrimaryHealth"]["Action"] == "cloudwatch:GetMetricData"
    assert by_sid["ReadThePrimaryHealth"]["Resource"] == "*"
    assert by_sid["ReadTheRegionOverride"]["Action"] == "dynamodb:GetItem"
    assert by_sid["ReadTheRegionOverride"]["Resource"] == (
        f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/legal-prod-global-region-status"
    )


def test_autonomous_driving_passes_multi_region_to_its_batch_transform_stack() -> None:
    parameters = use_case_parameters(
        "autonomous-driving",
        **MULTI_REGION_ON,
        GlobalTaskTokenTableName="legal-prod-global-task-tokens",
        EnableInference="true",
        InferenceType="none",
        ModelImageUri=f"{ACCOUNT}.dkr.ecr.{PRIMARY}.amazonaws.com/drive-detector:1",
        SageMakerExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/drive-detector",
        ModelSubnetIds="subnet-0123456789abcdef0",
        ModelSecurityGroupIds="sg-0123456789abcdef0",
    )
    template = evaluate(REPO_ROOT / "autonomous-driving" / "template.yaml", parameters, stack="ad")
    nested = template.resources["BatchTransformStack"].properties["Parameters"]
    assert "BatchTransformStack" in template.active_resources
    assert template.resolve(nested["EnableMultiRegion"], _refs(template)) == "true"
    assert (
        template.resolve(nested["GlobalTaskTokenTableName"], _refs(template))
        == "legal-prod-global-task-tokens"
    )
    rule = load_template(REPO_ROOT / "autonomous-driving" / "template.yaml")["Rules"][
        "MultiRegionBatchTransformNeedsTheGlobalTable"
    ]
    assert '{"Ref": "GlobalTaskTokenTableName"}' in json.dumps(rule["Assertions"])


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


# --- hygiene ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [STORE, ROUTING], ids=lambda p: p.name)
def test_every_parameter_is_constrained_and_defaults_to_off(path: Path) -> None:
    parameters = load_template(path)["Parameters"]
    assert parameters["EnableMultiRegion"]["Default"] == "false"
    for name, parameter in parameters.items():
        constrained = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & parameter.keys()
        assert constrained, f"{path.name}: {name} is unconstrained"
        assert parameter.get("Description"), f"{path.name}: {name} has no Description"


@pytest.mark.parametrize("path", [STORE, ROUTING, BATCH], ids=lambda p: p.name)
def test_multi_region_requirements_are_rules_cloudformation_checks(path: Path) -> None:
    rules = load_template(path)["Rules"]
    for rule in rules.values():
        assert "Equals" in str(rule["RuleCondition"]) and "EnableMultiRegion" in str(rule["RuleCondition"])
        assert rule["Assertions"]


@pytest.mark.parametrize("use_case", GUARDED_USE_CASES)
def test_a_use_case_refuses_an_incomplete_multi_region_setting_by_rule(use_case: str) -> None:
    template = load_template(REPO_ROOT / use_case / "template.yaml")
    rule = template["Rules"]["MultiRegionNeedsBothRegionsAndTheirSignals"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableMultiRegion"}, "true"]}
    asserted = json.dumps(rule["Assertions"])
    for name in GUARD_PARAMETERS:
        assert f'{{"Fn::Not": [{{"Fn::Equals": [{{"Ref": "{name}"}}, ""]}}]}}' in asserted, name
    assert (
        '"Fn::Contains": [[{"Ref": "PrimaryRegion"}, {"Ref": "SecondaryRegion"}], {"Ref": "AWS::Region"}]'
        in asserted
    )
    for name in ("EnableMultiRegion", *GUARD_PARAMETERS):
        parameter = template["Parameters"][name]
        assert parameter["Description"] and {"AllowedValues", "AllowedPattern"} & parameter.keys(), name
    assert template["Parameters"]["EnableMultiRegion"]["Default"] == "false"


def test_guard_rules_pass_on_the_multi_region_stacks() -> None:
    assert check([STORE, ROUTING, BATCH], rule_files()) == []
