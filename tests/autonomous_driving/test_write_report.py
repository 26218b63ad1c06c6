"""WriteReportFunction: the QC report in JSON and Markdown, and the optional Bedrock summary."""

from __future__ import annotations

import json

import boto3
import pytest
from autonomous_driving.bedrock_summary import INSTRUCTION, BedrockSummarizer
from autonomous_driving.handlers import write_report as handler_module
from autonomous_driving.report import (
    ReportRequest,
    ReportSettings,
    build_report,
    render_markdown,
    write_report,
)
from botocore.stub import ANY, Stubber

from shared.errors import InvalidInputError
from shared.s3ap import OutputLocation, write_jsonl
from tests.autonomous_driving.helpers import OUTPUT, RUN_ID

FAILURES = [
    {
        "key": "cam/a.png",
        "kind": "camera",
        "format": "png",
        "status": "failed",
        "reasons": [{"code": "truncated", "detail": "no IEND | cut"}],
    },
    {
        "key": "lidar/b.pcd",
        "kind": "lidar",
        "format": "pcd",
        "status": "error",
        "error": "FileFormatError",
        "message": "LZF data ends",
        "offset": 120,
    },
]


@pytest.fixture
def failures(drive_world) -> None:
    write_jsonl(OutputLocation(OUTPUT), RUN_ID, "failures.jsonl", FAILURES)


def test_handler_writes_json_and_markdown(drive_world, failures, lambda_context, event_loader) -> None:
    event = event_loader("autonomous-driving/write_report")
    result = handler_module.handler(event, lambda_context)
    report = json.loads(drive_world.output(result["json"]["key"]))
    markdown = drive_world.output(result["markdown"]["key"]).decode()
    assert result["verdict"] == report["verdict"] == "FAIL"
    assert report["inference"] == {"status": "skipped", "path": None, "reason": "EnableInference is false"}
    assert report["failures"]["sample"] == FAILURES
    assert report["outputs"]["failures"] == f"s3://{OUTPUT}/runs/{RUN_ID}/failures.jsonl"
    assert "summary" not in report
    assert (
        "**Verdict: FAIL** — 26 passed, 5 failed, 4 unreadable of 35 files checked; 3 other files skipped."
        in markdown
    )
    assert "| `cam/a.png` | png | truncated: no IEND \\| cut |" in markdown
    assert "FileFormatError: LZF data ends" in markdown
    assert "- status: **skipped**" in markdown


def test_inference_outcomes_are_reported() -> None:
    base = {"run_id": "r", "discovery": {}, "quality": {"qc": {"files": 1, "passed": 1}}, "annotations": {}}
    fallback = ReportRequest.from_event(
        {
            **base,
            "inference": {"path": "batch_transform", "job_name": "j", "output_uri": "s3://b/o/"},
            "fallback": {"Error": "ServerlessColdStartTimeoutError", "Cause": "{}"},
            "failure": {"status": "none"},
            "annotations": {
                "coco": {"bucket": "b", "key": "k"},
                "images": 1,
                "annotations": 3,
                "categories": 4,
            },
        }
    )
    settings = ReportSettings(OutputLocation("out-bucket"), None)
    report = build_report(fallback, [], settings.output)
    assert report["inference"] == {
        "status": "completed",
        "path": "batch_transform",
        "job_name": "j",
        "output_uri": "s3://b/o/",
        "fallback": {"from_error": "ServerlessColdStartTimeoutError", "to": "batch_transform"},
    }
    assert report["verdict"] == "PASS" and "coco" in report["outputs"]
    markdown = render_markdown(report)
    assert "fell back to Batch Transform after `ServerlessColdStartTimeoutError`" in markdown
    assert "COCO annotations: 1 images, 3 annotations" in markdown
    failed = ReportRequest.from_event(
        {
            **base,
            "inference": {"path": "realtime_endpoint"},
            "fallback": {},
            "failure": {"Error": "ModelInvocationError", "Cause": "x"},
        }
    )
    assert build_report(failed, [], settings.output)["inference"]["status"] == "failed"


def _bedrock(response: dict | None = None, error: str | None = None) -> tuple[BedrockSummarizer, Stubber]:
    client = boto3.client("bedrock-runtime", region_name="ap-northeast-1")
    stubber = Stubber(client)
    expected = {
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "messages": [
            {
                "role": "user",
                "content": [{"text": ANY}],
            }
        ],
        "inferenceConfig": {"maxTokens": 600, "temperature": 0.2},
    }
    if error:
        stubber.add_client_error(
            "converse", service_error_code=error, http_status_code=429, expected_params=expected
        )
    else:
        stubber.add_response("converse", response, expected)
    stubber.activate()
    return BedrockSummarizer("anthropic.claude-3-haiku-20240307-v1:0", client=client), stubber


def test_a_bedrock_summary_is_written_when_enabled(drive_world, failures) -> None:
    summarizer, stubber = _bedrock(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "- 9 files failed QC."}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
            "metrics": {"latencyMs": 10},
        }
    )
    request = ReportRequest.from_event({"run_id": RUN_ID, "quality": {"qc": {"files": 2, "failed": 2}}})
    result = write_report(ReportSettings(OutputLocation(OUTPUT), "m"), request, summarizer=summarizer)
    stubber.assert_no_pending_responses()
    assert (
        drive_world.output(result["summary"]["key"]).decode()
        == f"# Summary of run {RUN_ID}\n\n- 9 files failed QC.\n"
    )
    report = json.loads(drive_world.output(result["json"]["key"]))
    assert report["summary"] == {"status": "written"}
    assert INSTRUCTION.startswith("You are a perception data engineer")


def test_bedrock_failing_never_fails_the_report(drive_world, failures) -> None:
    summarizer, _ = _bedrock(error="ThrottlingException")
    request = ReportRequest.from_event({"run_id": RUN_ID})
    result = write_report(ReportSettings(OutputLocation(OUTPUT), "m"), request, summarizer=summarizer)
    assert "summary" not in result
    assert json.loads(drive_world.output(result["json"]["key"]))["summary"] == {"status": "unavailable"}


@pytest.mark.parametrize("event", [{}, {"run_id": ""}, {"run_id": "r", "quality": ["qc"]}])
def test_malformed_requests_are_refused(event: dict) -> None:
    with pytest.raises(InvalidInputError):
        ReportRequest.from_event(event)
    with pytest.raises(InvalidInputError):
        ReportSettings.from_env({})
