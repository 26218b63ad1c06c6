"""autonomous-driving's state machine in the sandbox, once per inference setting.

Each test prepares the scenario's world (sandbox/scenarios/autonomous_driving.py: the drive log
behind the access point, moto's SageMaker with the model's answers, the batch-transform stack and
its emulated job completion), deploys the real template with the setting's parameters, starts the
execution with ``{}`` as the schedule would, and checks the path taken and the run's outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.aws import UseCaseStack
from sandbox.runner import ExecutionResult
from sandbox.scenarios import RunOptions
from sandbox.scenarios.autonomous_driving import PreparedRun, prepared

RUN = "drive-run-0007"
QC_STATES = [
    "Discover Files",
    "Region Active?",
    "Any Files",
    "Check Quality",
    "Summarize Quality",
    "Inference Enabled",
]
REPORT_STATES = ["Write Report", "Run Outcome"]


@contextmanager
def scenario(workflow: Any, name: str, *, files: int = 12) -> Iterator[tuple[PreparedRun, UseCaseStack]]:
    with prepared(workflow.world, RunOptions(files=files, seed=7, scenario=name)) as run:
        stack = workflow.deploy(
            "autonomous-driving", parameters=run.plan.parameters, environment=run.plan.environment
        )
        if run.output_bucket:
            assert stack.ref("OutputBucket") == run.output_bucket  # the batch-transform stack writes there
        yield run, stack


def _output(stack: UseCaseStack, key: str) -> Any:
    body = stack.world.client("s3").get_object(Bucket=stack.ref("OutputBucket"), Key=f"runs/{RUN}/{key}")[
        "Body"
    ]
    data = body.read()
    return json.loads(data) if key.endswith(".json") else data.decode()


def _assert_annotations_are_the_models_answers(
    run: PreparedRun, stack: UseCaseStack, result: ExecutionResult
) -> None:
    coco = _output(stack, "annotations/coco.json")
    frames = run.drive.passing_frames
    assert [image["file_name"] for image in coco["images"]] == frames
    expected = sum(len(json.loads(run.drive.answers[key])["detections"]) for key in frames)
    assert len(coco["annotations"]) == expected == result.output["annotations"]["annotations"]
    assert result.output["annotations"]["errors"] == 0


def _assert_qc_outputs(run: PreparedRun, stack: UseCaseStack, result: ExecutionResult) -> None:
    corrupt = {key for key, item in zip(run.drive.keys, run.drive.files, strict=False) if item.corrupt}
    failures = [json.loads(line) for line in _output(stack, "failures.jsonl").splitlines()]
    assert {line["key"] for line in failures} == corrupt
    report = _output(stack, "report/qc-report.json")
    assert report["quality"]["files"] == result.output["discovery"]["count"] == len(run.drive.files)
    assert report["discovery"]["skipped"]["files"] == 4  # 3 other files and the frames list
    assert _output(stack, "report/qc-report.md").startswith(f"# Drive-log QC report — run `{RUN}`")
    (map_run,) = result.map_runs
    assert map_run["itemCounts"]["failed"] == 0
    assert result.largest_payload_bytes() < 16 * 1024  # pointers and counts, never file lists


def test_inference_disabled_skips_it_explicitly_and_succeeds(workflow) -> None:
    with scenario(workflow, "baseline") as (run, stack):
        result = stack.run({}, name=RUN, timeout_s=120)
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == [*QC_STATES, "Skip Inference", *REPORT_STATES, "Run Complete"]
    assert result.output["inference"] == {"status": "skipped", "reason": "EnableInference is false"}
    _assert_qc_outputs(run, stack, result)
    assert not [name for name in stack.function_arns if name == "RunInferenceFunction"]  # not deployed at all
    assert _output(stack, "report/qc-report.json")["inference"]["status"] == "skipped"


def test_none_goes_to_batch_transform_through_the_task_token(workflow) -> None:
    with scenario(workflow, "batch") as (run, stack):
        result = stack.run({}, name=RUN, timeout_s=120)
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered()[len(QC_STATES) :] == [
        "Any Frames",
        "Route Inference",
        "Batch Transform",
        "Build Annotations",
        *REPORT_STATES,
        "Run Complete",
    ]
    job = result.output["inference"]
    assert (job["path"], job["job_status"]) == ("batch_transform", "Completed")
    assert run.emulator is not None and run.emulator.jobs == [job["job_name"]]
    # The job read a SageMaker manifest of the frames that passed QC, through the access point
    manifest = json.loads(_output(stack, "batch-transform/input.manifest"))
    assert manifest[0] == {"prefix": f"s3://{run.drive.bucket}/"} and manifest[1:] == run.drive.passing_frames
    token = workflow.world.client("dynamodb").scan(TableName=run.batch.ref("TaskTokenTable"))["Items"][0]
    assert token["status"]["S"] == "CALLED_BACK"
    _assert_annotations_are_the_models_answers(run, stack, result)
    _assert_qc_outputs(run, stack, result)


def test_provisioned_below_the_threshold_uses_the_realtime_endpoint(workflow) -> None:
    with scenario(workflow, "realtime") as (run, stack):
        result = stack.run({}, name=RUN, timeout_s=120)
    assert result.status == "SUCCEEDED", result.cause
    # 3 frames, 2 per invocation: the loop calls the endpoint's task twice
    assert result.states_entered()[len(QC_STATES) :] == [
        "Any Frames",
        "Route Inference",
        "Realtime Endpoint",
        "More Frames",
        "Realtime Endpoint",
        "More Frames",
        "Build Annotations",
        *REPORT_STATES,
        "Run Complete",
    ]
    assert run.endpoints is not None and run.endpoints.calls == [("drive-log-realtime", "ok")] * 3
    _assert_annotations_are_the_models_answers(run, stack, result)


def test_provisioned_at_or_above_the_threshold_uses_batch_transform(workflow) -> None:
    with scenario(workflow, "provisioned_batch") as (run, stack):
        result = stack.run({}, name=RUN, timeout_s=120)
    assert result.status == "SUCCEEDED", result.cause
    routing = result.state_input("Route Inference")["routing"]
    assert routing == {"file_count": 7, "batch_threshold": 1, "inference_type": "provisioned"}
    assert "Batch Transform" in result.states_entered() and "Realtime Endpoint" not in result.states_entered()
    assert run.endpoints is not None and run.endpoints.calls == []
    _assert_annotations_are_the_models_answers(run, stack, result)


def test_serverless_warm_endpoint_answers_every_frame(workflow) -> None:
    with scenario(workflow, "serverless") as (run, stack):
        result = stack.run({}, name=RUN, timeout_s=120)
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered().count("Serverless Inference") == 2
    assert "Batch Transform" not in result.states_entered()
    _assert_annotations_are_the_models_answers(run, stack, result)


def test_serverless_cold_start_timeout_falls_back_to_batch_transform(workflow) -> None:
    with scenario(workflow, "serverless_cold") as (run, stack):
        result = stack.run({}, name=RUN, timeout_s=120)
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered()[len(QC_STATES) :] == [
        "Any Frames",
        "Route Inference",
        "Serverless Inference",
        "Batch Transform",
        "Build Annotations",
        *REPORT_STATES,
        "Run Complete",
    ]
    # 1 + 2 cold-start retries inside the function, then the typed error the Catch names, not retried
    assert (
        run.endpoints is not None
        and run.endpoints.calls == [("drive-log-serverless", "ModelNotReadyException")] * 3
    )
    assert [(f["state"], f["error"]) for f in result.task_failures()] == [
        ("Serverless Inference", "ServerlessColdStartTimeoutError")
    ]
    assert result.output["fallback"]["Error"] == "ServerlessColdStartTimeoutError"
    assert result.output["inference"]["path"] == "batch_transform"
    report = _output(stack, "report/qc-report.json")
    assert report["inference"]["fallback"] == {
        "from_error": "ServerlessColdStartTimeoutError",
        "to": "batch_transform",
    }
    _assert_annotations_are_the_models_answers(run, stack, result)


def test_components_scaled_to_zero_succeed_after_backoff(workflow) -> None:
    with scenario(workflow, "components") as (run, stack):
        result = stack.run({}, name=RUN, timeout_s=120)
    assert result.status == "SUCCEEDED", result.cause
    assert "Batch Transform" not in result.states_entered()
    assert result.states_entered().count("Inference Components") == 2
    # The first request found no copy ("no capacity"), the 5 s backoff let the copy start, the rest ran warm
    assert run.endpoints is not None and run.endpoints.calls == [
        ("drive-log-components", "ValidationError"),
        *[("drive-log-components", "ok")] * 3,
    ]
    first = json.loads(_output(stack, "inference/predictions/part-00000000.jsonl").splitlines()[0])
    assert (first["attempts"], first["cold_start"]) == (2, True)
    _assert_annotations_are_the_models_answers(run, stack, result)


def test_a_failing_endpoint_still_writes_the_report_then_fails_the_run(workflow) -> None:
    with scenario(workflow, "realtime") as (run, stack):
        assert run.endpoints is not None
        run.endpoints.cold = ("drive-log-realtime",)  # throttled for good: EndpointUnavailableError
        result = stack.run({}, name=RUN, timeout_s=120)
    assert (result.status, result.error) == ("FAILED", "EndpointUnavailableError")
    assert result.states_entered()[-3:] == ["Write Report", "Run Outcome", "Inference Failed"]
    report = _output(stack, "report/qc-report.json")
    assert (report["inference"]["status"], report["inference"]["error"]) == (
        "failed",
        "EndpointUnavailableError",
    )


def test_a_scheduled_start_on_an_empty_volume_succeeds(workflow) -> None:
    with prepared(workflow.world, RunOptions(files=0, seed=1, scenario="baseline")) as run:
        stack = workflow.deploy("autonomous-driving", parameters=run.plan.parameters)
        s3 = workflow.world.client("s3")
        for key in run.drive.keys:
            s3.delete_object(Bucket=run.drive.bucket, Key=key)
        result = stack.run({}, name=RUN, timeout_s=60)
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == [
        "Discover Files",
        "Region Active?",
        "Any Files",
        "Summarize Quality",
        "Inference Enabled",
        "Skip Inference",
        *REPORT_STATES,
        "Run Complete",
    ]
    assert _output(stack, "report/qc-report.json")["verdict"] == "PASS"
