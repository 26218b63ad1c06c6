"""The cost controls of docs/cost-guide.md, wired into the autonomous-driving template: each one
exists only when asked for (zero cost when off), and their orderings are checked before deploy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.template import Template
from scripts.cfn_templates import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "autonomous-driving" / "template.yaml"
REQUIRED = {
    "AccessPointAlias": "drive-ap-0a1b2c3d4e5f6g7h8-ext-s3alias",
    "AccessPointArn": "arn:aws:s3:us-east-1:123456789012:accesspoint/drive-ap",
}
MODEL = {
    "EnableInference": "true",
    "ModelImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/detector:1",
    "SageMakerExecutionRoleArn": "arn:aws:iam::123456789012:role/sagemaker-execution",
    "ModelSubnetIds": "subnet-0a1b2c3d4e5f60718",
    "ModelSecurityGroupIds": "sg-0a1b2c3d4e5f60718",
}
COST_STACKS = {"ScheduledScalingStack", "BillingAlarmStack", "AutoStopStack"}


def active_cost_stacks(**parameters: Any) -> set[str]:
    template = Template.from_file(TEMPLATE, parameter_overrides={**REQUIRED, **parameters})
    return COST_STACKS & set(template.active_resources)


def test_by_default_no_cost_control_exists() -> None:
    assert active_cost_stacks() == set()


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"EnableBillingAlarms": "true"}, {"BillingAlarmStack"}),
        ({"EnableAutoStop": "true"}, {"AutoStopStack"}),
        (
            {"EnableScheduledScaling": "true", **MODEL, "InferenceType": "provisioned"},
            {"ScheduledScalingStack"},
        ),
        (
            {"EnableScheduledScaling": "true", **MODEL, "InferenceType": "components"},
            {"ScheduledScalingStack"},
        ),
        # Serverless endpoints and Batch Transform have no instances to schedule.
        ({"EnableScheduledScaling": "true", **MODEL, "InferenceType": "serverless"}, set()),
        ({"EnableScheduledScaling": "true"}, set()),
    ],
)
def test_each_control_exists_only_when_enabled(parameters: dict[str, str], expected: set[str]) -> None:
    assert active_cost_stacks(**parameters) == expected


def test_parent_rules_refuse_billing_alarms_outside_us_east_1_and_delete_in_production() -> None:
    rules = load_template(TEMPLATE)["Rules"]
    billing = rules["BillingAlarmsOnlyInUsEast1"]
    assert billing["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableBillingAlarms"}, "true"]}
    assert billing["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    auto_stop = rules["AutoStopNeverDeletesInProduction"]
    assert auto_stop["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AutoStopAction"}, "delete"]}]
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["BillingWarningThreshold=300"], "warning"),
        (["BusinessHoursStart=18", "BusinessHoursEnd=9"], "start"),
        (["OffHoursMaxCapacity=3", "BusinessMinCapacity=1"], "off"),
    ],
)
def test_orderings_cloudformation_cannot_compare_are_refused_before_deploy(
    overrides: list[str], field: str
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.check_cost_parameters",
            str(TEMPLATE),
            "--parameter-overrides",
            *overrides,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert field in (result.stdout + result.stderr).lower()
