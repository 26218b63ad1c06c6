"""ReviewAndReportFunction: parts in, catalogue, findings, summary and reports out."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from semiconductor_eda.handlers import extract_metadata, review_and_report

from sandbox.datasets import layouts
from shared.errors import InvalidInputError
from tests.semiconductor_eda.conftest import IO_RING, OUTPUT, SOC_GDS, SOC_OAS

RUN = "layouts-2026-11-22T0300-4c1e9b"


def jsonl(volume, key):
    return [json.loads(line) for line in volume.output(key).decode().splitlines()]


@pytest.fixture
def extracted(soc, lambda_context, event_loader):
    extract_metadata.handler(event_loader("semiconductor-eda/extract_metadata"), lambda_context)
    return soc


def test_handler_writes_every_output(extracted, lambda_context, event_loader):
    truth = layouts.gdsii_file(11, cells=8, shapes_per_cell=12).expected

    result = review_and_report.handler(event_loader("semiconductor-eda/review_and_report"), lambda_context)

    prefix = f"runs/{RUN}/"
    names = ("findings/findings.jsonl", "metadata/layouts.jsonl", "parts/batch-000000.jsonl", "report.html")
    assert extracted.output_keys(prefix) == [prefix + name for name in (*names, "report.md", "summary.json")]
    assert (result["files"], result["valid"], result["invalid"], result["missing"]) == (3, 2, 1, 0)
    assert result["bucket"] == OUTPUT
    catalogue = {r["key"]: r for r in jsonl(extracted, prefix + "metadata/layouts.jsonl")}
    assert set(catalogue) == {SOC_GDS, SOC_OAS, IO_RING}  # both formats of one chip are kept
    findings = jsonl(extracted, prefix + "findings/findings.jsonl")
    invalid = [f for f in findings if f["rule"] == "invalid_file"]
    assert [(f["key"], f["details"]["reason"]) for f in invalid] == [(IO_RING, "truncated")]
    assert invalid[0]["details"]["offset"] == catalogue[IO_RING]["offset"]
    duplicates = [f for f in findings if f["rule"] == "duplicate_cells"]
    assert len(duplicates) == 2 * len(truth["cells"])
    assert result["findings"]["error"] == 1
    summary = json.loads(extracted.output(prefix + "summary.json"))
    assert summary["files"]["by_format"] == {"gdsii": 1, "oasis": 1}
    assert summary["findings"]["by_rule"]["duplicate_cells"] == len(duplicates)
    assert summary["rules"]["layer_map"]["allowed"] is None
    report = extracted.output(prefix + "report.md").decode()
    assert "**Blocking findings: 1.**" in report and IO_RING in report
    assert b"<table>" in extracted.output(prefix + "report.html")


def test_rules_and_layer_map_from_the_volume(extracted, lambda_context, monkeypatch):
    extracted.put(
        "config/review.json",
        json.dumps({"duplicate_cells": {"enabled": False}, "empty_cells": {"severity": "info"}}).encode(),
    )
    extracted.put("config/layers.map", b"# allowed\n1/0\n2/*\nMETAL3 drawing 30 0\n")
    monkeypatch.setenv("REVIEW_RULES_KEY", "config/review.json")
    monkeypatch.setenv("LAYER_MAP_KEY", "config/layers.map")
    monkeypatch.setenv("DIE_MAX_WIDTH_UM", "100")
    monkeypatch.setenv("TOP_CELL_PATTERN", "^TOP_")

    review_and_report.handler({"run_id": RUN, "expected_files": 3}, lambda_context)

    findings = jsonl(extracted, f"runs/{RUN}/findings/findings.jsonl")
    rules = {f["rule"] for f in findings}
    assert "duplicate_cells" not in rules
    assert {"layer_map", "die_size"} <= rules
    summary = json.loads(extracted.output(f"runs/{RUN}/summary.json"))
    assert summary["rules"]["layer_map"]["allowed"] == ["1/0", "2/*", "30/0"]
    assert summary["rules"]["unreferenced_cells"]["top_cell_pattern"] == "^TOP_"


def test_narrative_when_enabled(extracted, lambda_context, monkeypatch):
    monkeypatch.setenv("NARRATIVE_MODEL_ID", "amazon.nova-micro-v1:0")
    client = boto3.client("bedrock-runtime", region_name="ap-northeast-1")
    stubber = Stubber(client)
    stubber.add_response(
        "converse",
        {
            "output": {
                "message": {"role": "assistant", "content": [{"text": "One file is truncated: io_ring.gds."}]}
            },
            "stopReason": "end_turn",
            "usage": {"inputTokens": 900, "outputTokens": 12, "totalTokens": 912},
            "metrics": {"latencyMs": 300},
        },
        {
            "modelId": "amazon.nova-micro-v1:0",
            "messages": [{"role": "user", "content": [{"text": ANY}]}],
            "inferenceConfig": {"maxTokens": 800, "temperature": 0.2},
        },
    )
    monkeypatch.setattr(review_and_report, "bedrock_runtime", lambda: client)
    with stubber:
        result = review_and_report.handler({"run_id": RUN}, lambda_context)

    assert "narrative.md" in result["outputs"]
    assert extracted.output(f"runs/{RUN}/narrative.md").decode().startswith("One file is truncated")
    assert json.loads(extracted.output(f"runs/{RUN}/summary.json"))["narrative"]["status"] == "written"


def test_a_failing_narrative_does_not_fail_the_run(extracted, lambda_context, monkeypatch):
    monkeypatch.setenv("NARRATIVE_MODEL_ID", "amazon.nova-micro-v1:0")
    client = boto3.client("bedrock-runtime", region_name="ap-northeast-1")
    stubber = Stubber(client)
    stubber.add_client_error("converse", "AccessDeniedException", "model access not granted")
    monkeypatch.setattr(review_and_report, "bedrock_runtime", lambda: client)
    with stubber:
        result = review_and_report.handler({"run_id": RUN}, lambda_context)

    assert "narrative.md" not in result["outputs"]
    narrative = json.loads(extracted.output(f"runs/{RUN}/summary.json"))["narrative"]
    assert narrative == {
        "status": "failed",
        "model_id": "amazon.nova-micro-v1:0",
        "error": "AccessDeniedException",
    }


def test_a_retried_invocation_keeps_what_was_written(extracted, lambda_context):
    first = review_and_report.handler({"run_id": RUN, "expected_files": 3}, lambda_context)
    second = review_and_report.handler({"run_id": RUN, "expected_files": 3}, lambda_context)
    assert first == second


def test_an_empty_run_still_has_its_report(volume, lambda_context):
    result = review_and_report.handler({"run_id": "empty-run", "expected_files": 0}, lambda_context)
    assert (result["files"], result["missing"], result["findings"]) == (
        0,
        0,
        {"error": 0, "warning": 0, "info": 0},
    )
    assert volume.output("runs/empty-run/metadata/layouts.jsonl") == b""
    assert "No blocking finding" in volume.output("runs/empty-run/report.md").decode()


@pytest.mark.parametrize(
    ("event", "env", "field"),
    [
        ({"expected_files": 1}, {}, "run_id"),
        ({"run_id": "r", "expected_files": -1}, {}, "expected_files"),
        ({"run_id": "r"}, {"REVIEW_RULES": '{"bogus": {}}'}, "rules"),
        ({"run_id": "r"}, {"DIE_MAX_WIDTH_UM": "wide"}, "DIE_MAX_WIDTH_UM"),
        ({"run_id": "r"}, {"NARRATIVE_MODEL_ID": "no spaces allowed"}, "NARRATIVE_MODEL_ID"),
    ],
)
def test_bad_input_and_settings_are_rejected(volume, lambda_context, monkeypatch, event, env, field):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInputError) as raised:
        review_and_report.handler(event, lambda_context)
    assert raised.value.field == field


def test_a_rules_file_that_is_not_json_is_rejected(volume, lambda_context, monkeypatch):
    volume.put("config/review.json", b"{oops")
    monkeypatch.setenv("REVIEW_RULES_KEY", "config/review.json")
    with pytest.raises(InvalidInputError) as raised:
        review_and_report.handler({"run_id": "r"}, lambda_context)
    assert raised.value.field == "config/review.json"
