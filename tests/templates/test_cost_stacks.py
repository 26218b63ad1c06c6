"""The cost-control nested stacks: scheduled-scaling, billing-alarm, auto-stop.

What each must contain, their bounds shared with Python, cfn-lint and the guard rules, the
us-east-1 Rule of the billing stack (structure, and cfn-lint's own condition solver, which honours
Rules, finding no deployable scenario in another region), and the deploy-time parameter check.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode
from cfnlint.template import Template

from scripts.cfn_templates import REPO_ROOT, load_template, transformed
from scripts.check_cost_parameters import check_template, main, overrides_from_samconfig
from scripts.guard import check, rule_files
from shared.auto_stop import IDLE_WINDOW_MINUTES_RANGE, NON_PRODUCTION_ENVIRONMENTS, AutoStopAction
from shared.cost_validation import (
    BILLING_DEFAULT_THRESHOLDS,
    BILLING_THRESHOLD_RANGE,
    BUSINESS_DAYS,
    DEFAULT_TIMEZONE,
    SCHEDULE_END_HOUR_RANGE,
    SCHEDULE_START_HOUR_RANGE,
    SCHEDULED_CAPACITY_MAX,
    TARGET_KINDS,
)

CFN = REPO_ROOT / "shared" / "cfn"
STACKS = {name: CFN / f"{name}.yaml" for name in ("scheduled-scaling", "billing-alarm", "auto-stop")}


def template(name: str) -> dict[str, Any]:
    return load_template(STACKS[name])


def resources(name: str, kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template(name)["Resources"].items() if r["Type"] == kind}


@pytest.mark.parametrize("name", STACKS)
def test_cfn_lint_is_clean(name: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--", str(STACKS[name])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_guard_rules_pass_on_every_cost_stack() -> None:
    assert check(list(STACKS.values()), rule_files()) == []


@pytest.mark.parametrize("name", STACKS)
def test_every_parameter_is_constrained_and_described(name: str) -> None:
    for parameter_name, parameter in template(name)["Parameters"].items():
        assert {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & parameter.keys(), parameter_name
        assert parameter.get("Description") or "AllowedValues" in parameter, parameter_name


@pytest.mark.parametrize("name", ["scheduled-scaling", "auto-stop"])
def test_nested_functions_use_the_layer_and_have_no_requirements(name: str) -> None:
    (function,) = resources(name, "AWS::Serverless::Function").values()
    properties = function["Properties"]
    code_dir = (CFN / properties["CodeUri"]).resolve()
    module, _, attribute = properties["Handler"].rpartition(".")
    assert f"def {attribute}(" in (code_dir / f"{module}.py").read_text(encoding="utf-8")
    assert (code_dir / "__init__.py").is_file() and not list(code_dir.rglob("requirements.txt"))
    assert template(name)["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayerArn"}]
    assert properties["LoggingConfig"]["LogGroup"]["Ref"] in resources(name, "AWS::Logs::LogGroup")


# --- scheduled scaling ---------------------------------------------------------------------------------


def test_schedule_parameters_are_the_python_bounds() -> None:
    parameters = template("scheduled-scaling")["Parameters"]
    assert (parameters["BusinessHoursStart"]["MinValue"], parameters["BusinessHoursStart"]["MaxValue"]) == (
        SCHEDULE_START_HOUR_RANGE
    )
    assert (parameters["BusinessHoursEnd"]["MinValue"], parameters["BusinessHoursEnd"]["MaxValue"]) == (
        SCHEDULE_END_HOUR_RANGE
    )
    for capacity in (
        "BusinessMinCapacity",
        "BusinessMaxCapacity",
        "OffHoursMinCapacity",
        "OffHoursMaxCapacity",
    ):
        assert (parameters[capacity]["MinValue"], parameters[capacity]["MaxValue"]) == (
            0,
            SCHEDULED_CAPACITY_MAX,
        )
    assert tuple(parameters["BusinessDays"]["AllowedValues"]) == tuple(BUSINESS_DAYS)
    assert tuple(parameters["TargetKind"]["AllowedValues"]) == TARGET_KINDS
    assert parameters["Timezone"]["Default"] == DEFAULT_TIMEZONE == "Asia/Tokyo"


def test_the_schedule_owns_no_scalable_target_and_passes_every_parameter_to_its_resource() -> None:
    assert resources("scheduled-scaling", "AWS::ApplicationAutoScaling::ScalableTarget") == {}
    (custom,) = resources("scheduled-scaling", "Custom::ScheduledScaling").values()
    passed = set(custom["Properties"]) - {"ServiceToken", "ActionNamePrefix"}
    scheduling = set(template("scheduled-scaling")["Parameters"]) - {
        "SharedLayerArn",
        "LogsKmsKeyArn",
        "LogRetentionDays",
        "LogLevel",
    }
    assert passed == scheduling
    assert all(custom["Properties"][key] == {"Ref": key} for key in passed)


def test_standard_variants_are_refused_a_zero_minimum_by_a_rule() -> None:
    rule = template("scheduled-scaling")["Rules"]["StandardVariantsKeepOneInstance"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "TargetKind"}, "variant"]}
    asserted = [a["Assert"] for a in rule["Assertions"]]
    assert asserted == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "BusinessMinCapacity"}, "0"]}]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "OffHoursMinCapacity"}, "0"]}]},
    ]


def test_the_endpoint_stacks_output_what_the_schedule_takes() -> None:
    pattern = template("scheduled-scaling")["Parameters"]["ScalableTargetId"]["AllowedPattern"]
    for stack in ("realtime-endpoint", "inference-components"):
        output = load_template(CFN / f"{stack}.yaml")["Outputs"]["ScalableTargetId"]["Value"]
        assert output["Ref"] in load_template(CFN / f"{stack}.yaml")["Resources"]
    assert re.match(
        pattern, "endpoint/ep-1/variant/AllTraffic|sagemaker:variant:DesiredInstanceCount|sagemaker"
    )
    assert re.match(
        pattern, "inference-component/ic-1|sagemaker:inference-component:DesiredCopyCount|sagemaker"
    )
    assert not re.match(pattern, "table/t|dynamodb:table:ReadCapacityUnits|dynamodb")


# --- billing alarms ------------------------------------------------------------------------------------


def test_three_tiers_each_with_its_encrypted_topic() -> None:
    parameters = template("billing-alarm")["Parameters"]
    tiers = ("Warning", "Critical", "Emergency")
    assert tuple(parameters[f"{tier}Threshold"]["Default"] for tier in tiers) == BILLING_DEFAULT_THRESHOLDS
    for tier in tiers:
        assert (parameters[f"{tier}Threshold"]["MinValue"], parameters[f"{tier}Threshold"]["MaxValue"]) == (
            BILLING_THRESHOLD_RANGE
        )
    alarms = resources("billing-alarm", "AWS::CloudWatch::Alarm")
    topics = resources("billing-alarm", "AWS::SNS::Topic")
    (key_id,) = resources("billing-alarm", "AWS::KMS::Key")
    for tier in tiers:
        alarm = alarms[f"{tier}Alarm"]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Billing", "EstimatedCharges")
        assert alarm["Dimensions"] == [{"Name": "Currency", "Value": "USD"}]
        assert alarm["Threshold"] == {"Ref": f"{tier}Threshold"}
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"] == [{"Ref": f"{tier}Topic"}]
        assert topics[f"{tier}Topic"]["Properties"]["KmsMasterKeyId"] == {"Ref": key_id}
    policy = resources("billing-alarm", "AWS::KMS::Key")[key_id]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in policy)


def test_the_rule_asserts_the_region_is_us_east_1() -> None:
    rules = template("billing-alarm")["Rules"]
    assert rules == {
        "BillingMetricsOnlyInUsEast1": {
            "Assertions": [
                {
                    "Assert": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
                    "AssertDescription": rules["BillingMetricsOnlyInUsEast1"]["Assertions"][0][
                        "AssertDescription"
                    ],
                }
            ]
        }
    }


@pytest.mark.parametrize(
    ("region", "deployable"), [("us-east-1", True), ("eu-west-1", False), ("ap-northeast-1", False)]
)
def test_cfn_lint_solver_finds_no_deployable_scenario_outside_us_east_1(
    region: str, deployable: bool
) -> None:
    # cfn-lint has no "a Rule fails in region X" check, but its condition solver adds the template's
    # Rules as constraints: with a probe condition on the region, a region the Rules exclude leaves
    # no satisfiable scenario at all.
    decoded, _ = decode(str(STACKS["billing-alarm"]))
    probed = copy.deepcopy(decoded)
    probed["Conditions"]["ProbeRegion"] = {"Fn::Equals": [{"Ref": "AWS::Region"}, region]}
    scenarios = Template(str(STACKS["billing-alarm"]), probed, [region]).conditions.build_scenerios_on_region(
        "ProbeRegion", region
    )
    assert (scenarios != []) is deployable
    # without the Rule the same probe is satisfiable anywhere: the Rule is what refuses
    del probed["Rules"]
    assert Template("probe", probed, [region]).conditions.build_scenerios_on_region(
        "ProbeRegion", region
    ) == [True]


# --- auto-stop -------------------------------------------------------------------------------------------


def test_auto_stop_parameters_are_the_python_settings() -> None:
    parameters = template("auto-stop")["Parameters"]
    assert tuple(parameters["AutoStopAction"]["AllowedValues"]) == tuple(a.value for a in AutoStopAction)
    assert parameters["AutoStopAction"]["Default"] == "scale_to_minimum"
    assert (parameters["IdleWindowMinutes"]["MinValue"], parameters["IdleWindowMinutes"]["MaxValue"]) == (
        IDLE_WINDOW_MINUTES_RANGE
    )
    assert parameters["IdleWindowMinutes"]["Default"] == 60
    non_production = set(parameters["Environment"]["AllowedValues"]) - {"production"}
    assert non_production <= NON_PRODUCTION_ENVIRONMENTS


def test_production_refuses_delete_by_rule_and_never_gets_the_permission() -> None:
    stack = template("auto-stop")
    assert stack["Rules"]["NeverDeleteInProduction"] == {
        "RuleCondition": {"Fn::Equals": [{"Ref": "Environment"}, "production"]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AutoStopAction"}, "delete"]}]},
                "AssertDescription": stack["Rules"]["NeverDeleteInProduction"]["Assertions"][0][
                    "AssertDescription"
                ],
            }
        ],
    }
    assert stack["Conditions"]["MayDelete"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "AutoStopAction"}, "delete"]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "Environment"}, "production"]}]},
        ]
    }
    always, conditional = stack["Resources"]["AutoStopFunction"]["Properties"]["Policies"]
    allowed = [a for s in always["Statement"] if s["Effect"] == "Allow" for a in s["Action"]]
    assert not [a for a in allowed if "Delete" in a or "Deregister" in a]
    condition, granted, otherwise = conditional["Fn::If"]
    assert (condition, otherwise) == ("MayDelete", {"Ref": "AWS::NoValue"})
    assert {a for s in granted["Statement"] for a in s["Action"]} == {
        "sagemaker:DeleteEndpoint",
        "sagemaker:DeleteInferenceComponent",
        "application-autoscaling:DeregisterScalableTarget",
    }


def test_auto_stop_runs_hourly_on_eventbridge_scheduler_and_denies_protected_endpoints() -> None:
    rendered = transformed(STACKS["auto-stop"])["Resources"]
    (schedule,) = [r for r in rendered.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert template("auto-stop")["Parameters"]["ScheduleExpression"]["Default"] == "rate(1 hour)"
    function = resources("auto-stop", "AWS::Serverless::Function")["AutoStopFunction"]["Properties"]
    statements = function["Policies"][0]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"StringEqualsIgnoreCase": {"aws:ResourceTag/DoNotAutoStop": "true"}}
    assert set(function["Environment"]["Variables"]) == {
        "ENDPOINT_NAME_PREFIX",
        "ENVIRONMENT",
        "AUTO_STOP_ACTION",
        "IDLE_WINDOW_MINUTES",
        "DRY_RUN",
    }


# --- deploy-time parameter check (scripts/check_cost_parameters.py) ----------------------------------------


def test_defaults_of_both_stacks_pass() -> None:
    assert check_template(STACKS["billing-alarm"]) == []
    assert check_template(STACKS["scheduled-scaling"]) == []


def test_out_of_order_thresholds_and_schedules_are_refused() -> None:
    (billing,) = check_template(STACKS["billing-alarm"], {"WarningThreshold": "250"})
    assert billing.field == "CriticalThreshold"
    (hours,) = check_template(STACKS["scheduled-scaling"], {"BusinessHoursStart": "19"})
    assert hours.field == "BusinessHoursEnd"
    (zero,) = check_template(
        STACKS["scheduled-scaling"], {"OffHoursMinCapacity": "0", "OffHoursMaxCapacity": "0"}
    )
    assert zero.field == "OffHoursMinCapacity"
    assert (
        check_template(
            STACKS["scheduled-scaling"],
            {"TargetKind": "inference-component", "OffHoursMinCapacity": "0", "OffHoursMaxCapacity": "0"},
        )
        == []
    )


def test_a_parent_template_is_checked_through_its_refs_overrides_and_samconfig(tmp_path: Path) -> None:
    parent = tmp_path / "template.yaml"
    parent.write_text(
        """AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  BillingWarning: {Type: Number, Default: 100}
Resources:
  BillingAlarmStack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: ../shared/cfn/billing-alarm.yaml
      Parameters:
        WarningThreshold: !Ref BillingWarning
        CriticalThreshold: 150
""",
        encoding="utf-8",
    )
    assert check_template(parent) == []
    (problem,) = check_template(parent, {"BillingWarning": "150"})
    assert (problem.stack, problem.field) == ("BillingAlarmStack", "CriticalThreshold")
    config = tmp_path / "samconfig.toml"
    config.write_text('[production.deploy.parameters]\nparameter_overrides = "BillingWarning=160 Other=x"\n')
    assert overrides_from_samconfig(config, "production") == {"BillingWarning": "160", "Other": "x"}
    assert main([str(parent), "--config-file", str(config), "--config-env", "production"]) == 1
    assert main([str(parent)]) == 0
