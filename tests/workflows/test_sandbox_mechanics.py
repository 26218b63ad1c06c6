"""The sandbox itself, on a fixture SAM app: what use-case workflow tests rely on.

The fixture (tests/workflows/fixtures/mechanics) follows the project's conventions: one
template.yaml, the ASL in statemachine/, handlers under src/ importing ``shared.errors``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from sandbox.aws import SandboxError, SandboxWorld
from sandbox.runner import ExecutionTimeoutError, run_execution
from sandbox.template import ParameterError, TemplateError, UnresolvableReferenceError

MECHANICS = Path(__file__).resolve().parent / "fixtures" / "mechanics"
STATE_PAYLOAD_BUDGET = 16 * 1024


def _copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "mechanics"
    shutil.copytree(MECHANICS, target)
    # The copy's layer must still point at the repo's shared/.
    template = target / "template.yaml"
    shared = (MECHANICS / "../../../../shared").resolve()
    template.write_text(template.read_text().replace("../../../../shared", str(shared)))
    return target


# --- deployment from the template ---------------------------------------------------------------


def test_deploy_creates_what_moto_hosts_and_records_what_it_skips(workflow):
    # When the fixture app is deployed with its defaults
    stack = workflow.deploy(MECHANICS)
    world = workflow.world

    # Then data stores exist under the names Ref resolves to
    bucket = stack.ref("OutputBucket")
    world.client("s3").head_bucket(Bucket=bucket)
    assert world.client("dynamodb").describe_table(TableName=stack.ref("RunsTable"))["Table"][
        "KeySchema"
    ] == [{"AttributeName": "run_id", "KeyType": "HASH"}]
    assert stack.ref("NotificationTopic") in [
        topic["TopicArn"] for topic in world.client("sns").list_topics()["Topics"]
    ]
    secret = json.loads(
        world.client("secretsmanager").get_secret_value(SecretId=stack.ref("OntapSecret"))["SecretString"]
    )
    assert secret["username"] == "fsxadmin"
    assert len(secret["password"]) == 24

    # And each function carries its resolved environment (Globals merged, Sub/Ref/GetAtt resolved)
    discovery = world.client("lambda").get_function_configuration(FunctionName=stack.ref("DiscoveryFunction"))
    variables = discovery["Environment"]["Variables"]
    assert variables == {
        "POWERTOOLS_SERVICE_NAME": "sandbox-mechanics",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "OUTPUT_BUCKET": bucket,
        "KEY_PREFIX": "data/",
        "MANIFEST_PREFIX": "mechanics/ap-northeast-1/",
        "ONTAP_SECRET_ARN": stack.ref("OntapSecret"),
        "OUTPUT_BUCKET_ARN": f"arn:aws:s3:::{bucket}",
    }
    assert (discovery["Timeout"], discovery["MemorySize"], discovery["Runtime"]) == (60, 512, "python3.13")
    summarize = world.client("lambda").get_function_configuration(FunctionName=stack.ref("SummarizeFunction"))
    assert "ALARM_TOPIC_ARN" not in summarize["Environment"]["Variables"]  # !If … AWS::NoValue

    # And the state machine runs the ASL file with every ${Substitution} replaced
    definition = world.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.state_machine_arn()
    )["definition"]
    assert "${" not in definition
    assert stack.function_arns["SummarizeFunction"] in definition

    # And AWS-only or condition-off resources are recorded, not faked
    assert [(s.logical_id, s.type) for s in stack.skipped] == [
        ("StateMachineLogGroup", "AWS::Logs::LogGroup")
    ]
    assert any("AlarmTopic" in note and "AlarmsEnabled is false" in note for note in stack.notes)
    assert any("Nightly" in note for note in stack.notes)


def test_a_bucket_can_stand_for_an_access_point_alias(workflow):
    alias = workflow.world.create_bucket("vol1-ap-abc123xyz-ext-s3alias")

    workflow.world.client("s3").put_object(Bucket=alias, Key="a.txt", Body=b"x")

    assert workflow.world.client("s3").list_objects_v2(Bucket=alias)["KeyCount"] == 1


def test_parameter_override_turns_on_a_condition(workflow):
    stack = workflow.deploy(MECHANICS, parameters={"EnableAlarms": "true", "LogLevel": "DEBUG"})

    summarize = workflow.world.client("lambda").get_function_configuration(
        FunctionName=stack.ref("SummarizeFunction")
    )["Environment"]["Variables"]
    assert summarize["ALARM_TOPIC_ARN"] == stack.ref("AlarmTopic")
    assert summarize["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert ("FailureAlarm", "AWS::CloudWatch::Alarm") in [(s.logical_id, s.type) for s in stack.skipped]


def test_parameter_values_are_validated_like_cloudformation(workflow):
    with pytest.raises(ParameterError, match="LogLevel='TRACE' is not one of"):
        workflow.deploy(MECHANICS, parameters={"LogLevel": "TRACE"})
    with pytest.raises(ParameterError, match="no such parameter"):
        workflow.deploy(MECHANICS, parameters={"LogLevl": "INFO"})


def test_environment_overrides_reach_the_handlers(workflow):
    # Given a deployment whose discovery function is pointed elsewhere, as a test would point
    # a function at the ONTAP simulator
    stack = workflow.deploy(
        MECHANICS,
        environment={"ONTAP_MANAGEMENT_ENDPOINT": "127.0.0.1:8443"},
        function_environment={"DiscoveryFunction": {"KEY_PREFIX": "elsewhere/"}},
    )

    # When the workflow runs
    result = stack.run({"run_id": "override", "batches": 2})

    # Then the handler saw the override at call time
    assert result.status == "SUCCEEDED", result.cause
    manifest_ref = result.state_output("Discover Files")["discovery"]["manifest"]
    manifest = json.loads(
        workflow.world.client("s3")
        .get_object(Bucket=manifest_ref["bucket"], Key=manifest_ref["key"])["Body"]
        .read()
    )
    assert manifest == [{"keys": ["elsewhere/00000/0.bin"]}, {"keys": ["elsewhere/00001/0.bin"]}]
    variables = workflow.world.client("lambda").get_function_configuration(
        FunctionName=stack.ref("ValidateFunction")
    )["Environment"]["Variables"]
    assert variables["ONTAP_MANAGEMENT_ENDPOINT"] == "127.0.0.1:8443"
    assert "KEY_PREFIX" not in variables  # the per-function override went to DiscoveryFunction only


def test_unknown_function_in_environment_override_is_refused(workflow):
    with pytest.raises(SandboxError, match="DiscoverFunction"):
        workflow.deploy(MECHANICS, function_environment={"DiscoverFunction": {"X": "1"}})


def test_a_variable_lambda_reserves_fails_deployment(workflow, tmp_path):
    app = _copy_fixture(tmp_path)
    template = app / "template.yaml"
    template.write_text(template.read_text().replace("KEY_PREFIX: !Ref KeyPrefix", "AWS_REGION: us-east-1"))

    with pytest.raises(
        TemplateError, match=r"DiscoveryFunction: Lambda reserves environment variable\(s\) AWS_REGION"
    ):
        workflow.deploy(app)


def test_asl_placeholder_without_substitution_fails_deployment(workflow, tmp_path):
    app = _copy_fixture(tmp_path)
    asl = app / "statemachine" / "mechanics.asl.json"
    asl.write_text(asl.read_text().replace("${OutputBucket}", "${ResultsBucket}"))

    with pytest.raises(UnresolvableReferenceError, match=r"\$\{ResultsBucket\}"):
        workflow.deploy(app)


def test_unused_substitution_fails_deployment(workflow, tmp_path):
    app = _copy_fixture(tmp_path)
    asl = app / "statemachine" / "mechanics.asl.json"
    asl.write_text(asl.read_text().replace('"${OutputBucket}"', '"literal-bucket"'))

    with pytest.raises(TemplateError, match=r"not used by .*mechanics\.asl\.json: OutputBucket"):
        workflow.deploy(app)


def test_asl_that_moto_cannot_execute_is_refused_at_deployment(workflow, tmp_path):
    # ItemBatcher is valid on AWS but not in moto 5.2.5: the project's convention is manifests
    # of batches, and the sandbox says so at deployment rather than mid-run.
    app = _copy_fixture(tmp_path)
    asl = app / "statemachine" / "mechanics.asl.json"
    definition = json.loads(asl.read_text())
    definition["States"]["Process Batches"]["ItemBatcher"] = {"MaxItemsPerBatch": 10}
    asl.write_text(json.dumps(definition))

    with pytest.raises(TemplateError, match="moto's Step Functions rejected the definition"):
        workflow.deploy(app)


# --- Retry and Catch on the names of shared.errors ---------------------------------------------


def test_retryable_error_is_retried_by_name_until_success(workflow):
    # Given discovery fails once with S3TransientError (a RETRYABLE_ERRORS name)
    result = workflow.run(MECHANICS, {"run_id": "retry-once", "batches": 3, "transient_failures": 1})

    # Then the ASL Retry on that name fired and the second attempt succeeded
    assert result.status == "SUCCEEDED", result.cause
    failures = workflow.task_failures(result.history)
    assert [(f["state"], f["error"]) for f in failures] == [("Discover Files", "S3TransientError")]
    discover_events = [
        event["type"]
        for event in result.history
        if event["type"].startswith("Task") and _state_of(result.history, event) == "Discover Files"
    ]
    assert discover_events == [
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
    ]
    assert workflow.states_entered(result.history) == [
        "Validate Input",
        "Discover Files",
        "Process Batches",
        "Summarize",
        "Notify",
    ]
    cause = json.loads(result.task_failures()[0]["cause"])
    assert cause["errorType"] == "S3TransientError"
    assert cause["errorMessage"] == "simulated SlowDown on attempt 1"
    assert "discovery.py" in cause["stackTrace"][-1]
    assert result.output["summary"] == {"run_id": "retry-once", "batches": 3, "keys": 3, "complete": True}
    attempts = [i.error_type for i in workflow.world.invocations if "DiscoveryFunction" in i.function_name]
    assert attempts == ["S3TransientError", None]


def test_retries_stop_at_max_attempts_and_the_catch_takes_over(workflow):
    # Given discovery keeps failing beyond MaxAttempts (3 retries)
    result = workflow.run(MECHANICS, {"run_id": "retry-forever", "batches": 1, "transient_failures": 10})

    # Then it was attempted 1 + 3 times, then caught by States.ALL into the failure branch
    assert [f["error"] for f in result.task_failures()] == ["S3TransientError"] * 4
    assert result.states_entered() == ["Validate Input", "Discover Files", "Report Failure"]
    assert (result.status, result.error) == ("FAILED", "RunFailed")
    assert result.state_input("Report Failure")["error"]["Error"] == "S3TransientError"


def test_terminal_error_goes_straight_to_the_catch_that_names_it(workflow):
    # Given an input that fails validation with InvalidInputError (terminal: no Retry names it)
    result = workflow.run(MECHANICS, {"run_id": "Not Valid", "batches": 1})

    # Then the Catch on InvalidInputError took over at the first failure, with its ResultPath
    assert [f["error"] for f in result.task_failures()] == ["InvalidInputError"]
    assert result.states_entered() == ["Validate Input", "Record Rejection"]
    assert result.status == "SUCCEEDED"
    caught = result.state_input("Record Rejection")
    assert caught["run_id"] == "Not Valid"  # ResultPath $.error keeps the original input
    assert caught["error"]["Error"] == "InvalidInputError"
    assert (
        json.loads(caught["error"]["Cause"])["errorMessage"]
        == "run_id: must be lowercase letters, digits and dashes"
    )
    assert result.output["status"] == "REJECTED"


def _state_of(history, event):
    current = None
    for candidate in history:
        if candidate["type"].endswith("StateEntered"):
            current = candidate["stateEnteredEventDetails"]["name"]
        if candidate is event:
            return current
    return None


# --- Distributed Map over a manifest in S3 -----------------------------------------------------


def test_distributed_map_runs_the_real_processor_for_every_batch(workflow):
    stack = workflow.deploy(MECHANICS)
    watch = stack.watch_topic("NotificationTopic")

    result = stack.run({"run_id": "small", "batches": 20, "keys_per_batch": 3})

    assert result.status == "SUCCEEDED", result.cause
    (map_run,) = result.map_runs
    assert map_run["itemCounts"]["total"] == 20
    assert map_run["itemCounts"]["succeeded"] == 20
    assert map_run["toleratedFailurePercentage"] == 5.0
    assert result.output["summary"] == {"run_id": "small", "batches": 20, "keys": 60, "complete": True}
    processed = [i for i in workflow.world.invocations if "ProcessBatchFunction" in i.function_name]
    assert len(processed) == 20
    assert all(i.error_type is None and i.event["run_id"] == "small" for i in processed)
    assert sorted(len(i.event["keys"]) for i in processed) == [3] * 20
    # The ResultWriter wrote its manifest where the ASL said
    writer = result.output["process"]["ResultWriterDetails"]
    assert writer["Bucket"] == stack.ref("OutputBucket")
    assert writer["Key"].startswith("map-results/")
    # Notify published the summary; Summarize recorded the run
    (notification,) = watch.messages()
    assert notification["Subject"] == "sandbox mechanics run"
    assert json.loads(notification["Message"])["keys"] == 60
    item = workflow.world.client("dynamodb").get_item(
        TableName=stack.ref("RunsTable"), Key={"run_id": {"S": "small"}}
    )["Item"]
    assert item["batches"] == {"N": "20"}


@pytest.mark.slow
def test_distributed_map_over_2000_batches_keeps_state_small(workflow):
    # Given a manifest of 2,000 batches (the map processor is the real in-process handler)
    started = time.monotonic()
    result = workflow.run(MECHANICS, {"run_id": "scale", "batches": 2000}, timeout_s=300)
    elapsed = time.monotonic() - started

    # Then every batch was processed and the run completed
    assert result.status == "SUCCEEDED", result.cause
    (map_run,) = result.map_runs
    assert map_run["itemCounts"]["succeeded"] == 2000
    assert result.output["summary"]["batches"] == 2000
    assert sum("ProcessBatchFunction" in i.function_name for i in workflow.world.invocations) == 2000

    # And no state input, output or task parameters in the history come near the limits
    largest = workflow.largest_payload_bytes(result.history)
    assert largest < STATE_PAYLOAD_BUDGET, largest
    print(f"\n2,000 map items in {elapsed:.1f}s ({2000 / elapsed:.0f} items/s); largest payload {largest} B")


# --- worlds are independent ---------------------------------------------------------------------


def test_worlds_are_independent_and_leave_no_handler_modules_behind():
    before = {name for name in sys.modules if name.startswith("sandbox_mechanics")}
    for run_id in ("first", "second"):
        with SandboxWorld() as world:
            stack = world.deploy(MECHANICS)
            result = stack.run({"run_id": run_id, "batches": 1})
            assert result.status == "SUCCEEDED", result.cause
            # A new world starts empty: the first world's bucket content is gone
            keys = world.client("s3").list_objects_v2(Bucket=stack.ref("OutputBucket"))["Contents"]
            assert {key["Key"].split("/")[1] for key in keys if key["Key"].startswith("runs/")} == {run_id}
        assert {name for name in sys.modules if name.startswith("sandbox_mechanics")} == before


def test_a_run_that_does_not_end_in_time_is_stopped_and_reported(sandbox_world):
    sfn = sandbox_world.client("stepfunctions")
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
    arn = sfn.create_state_machine(
        name="slow", definition=json.dumps(definition), roleArn=sandbox_world.role_arn
    )["stateMachineArn"]

    with pytest.raises(
        ExecutionTimeoutError, match=r"still RUNNING after 1s; states entered: \['Wait'\]"
    ) as raised:
        run_execution(sfn, arn, {}, timeout_s=1)

    assert sfn.describe_execution(executionArn=raised.value.execution_arn)["status"] == "ABORTED"
