"""The CloudFormation-aware template loader: tags, parameters, conditions, intrinsic functions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from sandbox.template import (
    ParameterError,
    PhysicalResource,
    PseudoParameters,
    StateMachineSpec,
    Template,
    TemplateError,
    UnresolvableReferenceError,
    load_yaml,
    merge_globals,
)

MECHANICS = Path(__file__).resolve().parents[1] / "workflows" / "fixtures" / "mechanics"


def _template(text: str, *, overrides: dict | None = None, base_dir: Path = Path()) -> Template:
    return Template(
        load_yaml(textwrap.dedent(text)),
        base_dir=base_dir,
        pseudo=PseudoParameters(stack_name="demo"),
        parameter_overrides=overrides,
    )


RESOURCES = {
    "Bucket": PhysicalResource(ref="demo-bucket", attributes={"Arn": "arn:aws:s3:::demo-bucket"}),
    "Fn": PhysicalResource(
        ref="demo-Fn", attributes={"Arn": "arn:aws:lambda:ap-northeast-1:123456789012:function:demo-Fn"}
    ),
}


# --- YAML tags --------------------------------------------------------------------------------


def test_short_form_tags_become_long_form_functions():
    body = load_yaml(
        textwrap.dedent(
            """
            AWSTemplateFormatVersion: 2010-09-09
            A: !Ref Bucket
            B: !GetAtt Fn.Arn
            C: !GetAtt Stack.Outputs.TopicArn
            D: !Sub "${AWS::Region}-x"
            E: !Sub ["${A}-${B}", {A: 1, B: !Ref Bucket}]
            F: !If [IsProd, !Join ["-", [a, b]], !Ref AWS::NoValue]
            G: !Equals [!Ref Env, prod]
            H: !Not [!Condition IsProd]
            I: !And [!Condition IsProd, !Or [!Condition X, !Condition Y]]
            J: !Select [0, !Split [",", "a,b"]]
            K: !FindInMap [Map, !Ref AWS::Region, Key]
            L: !Base64 text
            M: !GetAZs ""
            N: !ImportValue shared-export
            O: !GetAtt [Fn, Arn]
            """
        )
    )
    assert body == {
        "AWSTemplateFormatVersion": "2010-09-09",  # a string, as CloudFormation reads it
        "A": {"Ref": "Bucket"},
        "B": {"Fn::GetAtt": ["Fn", "Arn"]},
        "C": {"Fn::GetAtt": ["Stack", "Outputs.TopicArn"]},
        "D": {"Fn::Sub": "${AWS::Region}-x"},
        "E": {"Fn::Sub": ["${A}-${B}", {"A": 1, "B": {"Ref": "Bucket"}}]},
        "F": {"Fn::If": ["IsProd", {"Fn::Join": ["-", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]},
        "G": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "H": {"Fn::Not": [{"Condition": "IsProd"}]},
        "I": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [{"Condition": "X"}, {"Condition": "Y"}]}]},
        "J": {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
        "K": {"Fn::FindInMap": ["Map", {"Ref": "AWS::Region"}, "Key"]},
        "L": {"Fn::Base64": "text"},
        "M": {"Fn::GetAZs": ""},
        "N": {"Fn::ImportValue": "shared-export"},
        "O": {"Fn::GetAtt": ["Fn", "Arn"]},
    }


# --- Sub, Ref, GetAtt, Join, Select, FindInMap ----------------------------------------------------

BASIC = """
Parameters:
  Stage: {Type: String, Default: dev}
  Sizes: {Type: CommaDelimitedList, Default: "1,2, 3"}
Mappings:
  Regions:
    ap-northeast-1: {Short: apne1}
Resources:
  Bucket: {Type: AWS::S3::Bucket}
  Fn: {Type: AWS::Serverless::Function}
"""


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            {"Fn::Sub": "${AWS::Region}/${AWS::AccountId}/${AWS::Partition}"},
            "ap-northeast-1/123456789012/aws",
        ),
        ({"Fn::Sub": "${AWS::StackName}-${Stage}"}, "demo-dev"),
        (
            {"Fn::Sub": "${Bucket}|${Bucket.Arn}|${Fn.Arn}"},
            "demo-bucket|arn:aws:s3:::demo-bucket|" + RESOURCES["Fn"].attributes["Arn"],
        ),
        ({"Fn::Sub": "${!Literal}-${Stage}"}, "${Literal}-dev"),
        ({"Fn::Sub": ["${Name}.${Stage}", {"Name": {"Ref": "Bucket"}}]}, "demo-bucket.dev"),
        ({"Ref": "Sizes"}, ["1", "2", "3"]),
        ({"Fn::Join": [",", {"Ref": "Sizes"}]}, "1,2,3"),
        ({"Fn::Select": [1, {"Ref": "Sizes"}]}, "2"),
        ({"Fn::Split": ["/", "a/b"]}, ["a", "b"]),
        ({"Fn::GetAtt": ["Bucket", "Arn"]}, "arn:aws:s3:::demo-bucket"),
        ({"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Short"]}, "apne1"),
        ({"Fn::ToJsonString": {"a": {"Ref": "Stage"}}}, '{"a":"dev"}'),
        ({"Fn::GetAZs": ""}, ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]),
    ],
)
def test_intrinsic_functions_resolve_against_parameters_pseudo_parameters_and_resources(expression, expected):
    assert _template(BASIC).resolve(expression, RESOURCES) == expected


def test_sub_and_ref_name_what_cannot_be_resolved():
    template = _template(BASIC)
    with pytest.raises(
        UnresolvableReferenceError, match=r"Variables\.X Fn::Sub \$\{Missing\}: Missing is neither"
    ):
        template.resolve({"Fn::Sub": "a-${Missing}"}, RESOURCES, where="Fn.Environment.Variables.X")
    with pytest.raises(UnresolvableReferenceError, match="Table is neither a parameter nor a resource"):
        template.resolve({"Ref": "Table"}, RESOURCES)
    with pytest.raises(
        UnresolvableReferenceError, match=r"Bucket\.DomainName is unknown; known attributes: Arn"
    ):
        template.resolve({"Fn::GetAtt": ["Bucket", "DomainName"]}, RESOURCES)
    with pytest.raises(UnresolvableReferenceError, match="resource Fn has no physical id yet"):
        template.resolve({"Fn::GetAtt": ["Fn", "Arn"]}, {})
    with pytest.raises(UnresolvableReferenceError, match="cannot be resolved offline"):
        template.resolve({"Fn::ImportValue": "network-VpcId"}, RESOURCES)


def test_attributes_of_skipped_resources_say_why_they_are_missing():
    skipped = {"Role": PhysicalResource(ref="demo-Role", skipped_reason="AWS::IAM::Role only exists on AWS")}
    template = _template("Resources: {Role: {Type: AWS::IAM::Role}}")
    with pytest.raises(
        UnresolvableReferenceError, match=r"Role\.RoleId is unknown \(AWS::IAM::Role only exists"
    ):
        template.resolve({"Fn::GetAtt": ["Role", "RoleId"]}, skipped)


# --- conditions and If ----------------------------------------------------------------------------

CONDITIONAL = """
Parameters:
  EnableAlarms: {Type: String, Default: "false", AllowedValues: ["true", "false"]}
  Stage: {Type: String, Default: dev}
Conditions:
  AlarmsEnabled: !Equals [!Ref EnableAlarms, "true"]
  IsProd: !Equals [!Ref Stage, prod]
  ProdAlarms: !And [!Condition AlarmsEnabled, !Condition IsProd]
  AnyOf: !Or [!Condition AlarmsEnabled, !Not [!Condition IsProd]]
Resources:
  Topic: {Type: AWS::SNS::Topic, Condition: AlarmsEnabled}
  Fn: {Type: AWS::Serverless::Function}
"""


def test_conditions_are_evaluated_from_parameter_defaults_and_overrides():
    assert _template(CONDITIONAL).conditions == {
        "AlarmsEnabled": False,
        "IsProd": False,
        "ProdAlarms": False,
        "AnyOf": True,
    }
    on = _template(CONDITIONAL, overrides={"EnableAlarms": "true", "Stage": "prod"})
    assert on.conditions == {"AlarmsEnabled": True, "IsProd": True, "ProdAlarms": True, "AnyOf": True}


def test_resources_exist_only_under_their_condition():
    off = _template(CONDITIONAL)
    assert list(off.active_resources) == ["Fn"]
    assert list(off.inactive_resources) == ["Topic"]
    assert list(_template(CONDITIONAL, overrides={"EnableAlarms": "true"}).active_resources) == [
        "Topic",
        "Fn",
    ]


def test_if_picks_a_branch_and_no_value_removes_the_property():
    template = _template(CONDITIONAL)
    variables = {
        "ALARM_TOPIC": {"Fn::If": ["AlarmsEnabled", {"Ref": "Topic"}, {"Ref": "AWS::NoValue"}]},
        "LEVEL": {"Fn::If": ["IsProd", "INFO", "DEBUG"]},
        "LIST": [{"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]}, "y"],
    }
    # The false branch is not evaluated: Topic does not exist and is not needed
    assert template.resolve(variables, {}) == {"LEVEL": "DEBUG", "LIST": ["y"]}


def test_a_reference_to_a_resource_whose_condition_is_false_names_the_condition():
    with pytest.raises(
        UnresolvableReferenceError, match="Topic is not created because condition AlarmsEnabled is false"
    ):
        _template(CONDITIONAL).resolve({"Ref": "Topic"}, {}, where="Fn.Environment")


def test_conditions_that_refer_to_each_other_in_a_cycle_are_refused():
    with pytest.raises(TemplateError, match="depends on itself"):
        _template(
            """
            Conditions:
              A: !Condition B
              B: !Not [!Condition A]
            Resources: {Fn: {Type: AWS::Serverless::Function}}
            """
        )


# --- parameters -----------------------------------------------------------------------------------

PARAMETERS = """
Parameters:
  Mode: {Type: String, Default: POLLING, AllowedValues: [POLLING, EVENT_DRIVEN, HYBRID]}
  Prefix: {Type: String, Default: "", AllowedPattern: "^[a-z/]*$", MaxLength: 10}
  BatchSize: {Type: Number, Default: 100, MinValue: 1, MaxValue: 1000}
  Endpoint: {Type: String}
Resources: {Fn: {Type: AWS::Serverless::Function}}
"""


def test_parameters_take_defaults_and_overrides():
    template = _template(PARAMETERS, overrides={"Endpoint": "127.0.0.1:8443", "BatchSize": 250})
    assert template.parameters == {
        "Mode": "POLLING",
        "Prefix": "",
        "BatchSize": "250",
        "Endpoint": "127.0.0.1:8443",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "parameter Endpoint has no Default and no override"),
        ({"Endpoint": "x", "Mode": "PUSH"}, "Mode='PUSH' is not one of"),
        ({"Endpoint": "x", "Prefix": "UPPER/"}, "does not match"),
        ({"Endpoint": "x", "Prefix": "abcdefghijk"}, "longer than 10"),
        ({"Endpoint": "x", "BatchSize": "0"}, "below 1"),
        ({"Endpoint": "x", "BatchSize": "1001"}, "above 1000"),
        ({"Endpoint": "x", "BatchSize": "many"}, "is not a number"),
        ({"Endpoint": "x", "Unknown": "1"}, "no such parameter"),
    ],
)
def test_parameter_values_are_checked_like_cloudformation(overrides, message):
    with pytest.raises(ParameterError, match=message):
        _template(PARAMETERS, overrides=overrides)


# --- Globals, functions, state machines, order ------------------------------------------------------


def test_globals_merge_like_sam():
    merged = merge_globals(
        {"Timeout": 30, "Layers": ["L1"], "Environment": {"Variables": {"A": "1", "B": "1"}}},
        {"Timeout": 60, "Layers": ["L2"], "Environment": {"Variables": {"B": "2"}}},
    )
    assert merged == {
        "Timeout": 60,
        "Layers": ["L1", "L2"],
        "Environment": {"Variables": {"A": "1", "B": "2"}},
    }
    # An intrinsic function is a value, not a map to merge into
    assert merge_globals({"Fn::If": ["C", "a", "b"]}, {"Ref": "X"}) == {"Ref": "X"}


def test_function_and_state_machine_specs_of_the_fixture_app():
    template = Template.from_file(MECHANICS / "template.yaml")
    physical = {
        lid: PhysicalResource(ref=f"phys-{lid}", attributes={"Arn": f"arn:{lid}"})
        for lid in template.active_resources
    }
    physical["SharedLayer"] = PhysicalResource(
        ref="arn:aws:lambda:ap-northeast-1:123456789012:layer:shared:1"
    )

    functions = template.functions(physical)
    discovery = functions["DiscoveryFunction"]
    assert sorted(functions) == [
        "DiscoveryFunction",
        "ProcessBatchFunction",
        "SummarizeFunction",
        "ValidateFunction",
    ]
    assert discovery.handler == "sandbox_mechanics.handlers.discovery.handler"
    assert discovery.code_dir == MECHANICS / "src"
    assert (discovery.timeout_s, discovery.memory_mb, discovery.runtime) == (60, 512, "python3.13")
    assert discovery.layer_dirs == ((MECHANICS / "../../../../shared").resolve(),)
    assert discovery.environment["OUTPUT_BUCKET"] == "phys-OutputBucket"
    assert discovery.environment["MANIFEST_PREFIX"] == "mechanics/ap-northeast-1/"
    assert functions["ValidateFunction"].timeout_s == 10  # its own Timeout over Globals' 30

    (machine,) = template.state_machines(physical).values()
    assert machine.definition_path == MECHANICS / "statemachine" / "mechanics.asl.json"
    assert machine.substitutions["DiscoveryFunctionArn"] == "arn:DiscoveryFunction"
    assert machine.substitutions["OutputBucket"] == "phys-OutputBucket"
    rendered = json.loads(machine.render())
    assert rendered["States"]["Summarize"]["Resource"] == "arn:SummarizeFunction"


def test_creation_order_follows_references_and_depends_on():
    template = _template(
        """
        Resources:
          Machine:
            Type: AWS::Serverless::StateMachine
            Properties: {DefinitionSubstitutions: {FnArn: !GetAtt Fn.Arn, B: !Sub "${Bucket}"}}
          Fn:
            Type: AWS::Serverless::Function
            Properties: {Environment: {Variables: {T: !Ref Table}}}
          Table: {Type: AWS::DynamoDB::Table, DependsOn: Bucket}
          Bucket: {Type: AWS::S3::Bucket}
        """
    )
    order = template.creation_order()
    assert order.index("Bucket") < order.index("Table") < order.index("Fn") < order.index("Machine")


def test_circular_references_are_refused():
    template = _template(
        """
        Resources:
          A: {Type: AWS::SNS::Topic, Properties: {TopicName: !GetAtt B.TopicName}}
          B: {Type: AWS::SNS::Topic, Properties: {TopicName: !GetAtt A.TopicName}}
        """
    )
    with pytest.raises(TemplateError, match="circular dependency between resources: A, B"):
        template.creation_order()


def _machine(tmp_path: Path, text: str, substitutions: dict[str, str]) -> StateMachineSpec:
    path = tmp_path / "m.asl.json"
    path.write_text(text)
    return StateMachineSpec(
        logical_id="Machine",
        definition_path=path,
        definition=None,
        substitutions=substitutions,
        type="STANDARD",
    )


def test_definition_render_replaces_every_placeholder(tmp_path):
    spec = _machine(
        tmp_path, '{"Resource": "${FnArn}", "Bucket": "${Bucket}"}', {"FnArn": "arn:f", "Bucket": "b"}
    )
    assert json.loads(spec.render()) == {"Resource": "arn:f", "Bucket": "b"}


def test_definition_render_refuses_missing_and_unused_substitutions(tmp_path):
    with pytest.raises(UnresolvableReferenceError, match=r"no DefinitionSubstitutions for \$\{Bucket\}"):
        _machine(tmp_path, '{"Resource": "${FnArn}", "B": "${Bucket}"}', {"FnArn": "arn:f"}).render()
    with pytest.raises(TemplateError, match=r"DefinitionSubstitutions not used by .*: Extra"):
        _machine(tmp_path, '{"Resource": "${FnArn}"}', {"FnArn": "arn:f", "Extra": "x"}).render()
    with pytest.raises(TemplateError, match="not valid JSON after substitution"):
        _machine(tmp_path, '{"Resource": ${FnArn}}', {"FnArn": "arn:f"}).render()
