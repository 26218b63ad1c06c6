"""ReportFunction: every finding once (none lost), evidence files, safe rendering, retries, narrative."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from legal_compliance.evidence import ReportRequest, write_report
from legal_compliance.handlers import report as report_handler
from legal_compliance.narrative import BedrockNarrator
from legal_compliance.report import build_report, csv_text, html_page, markdown, notification
from legal_compliance.rules import default_rules
from legal_compliance.settings import ReportSettings
from moto import mock_aws

from shared.errors import InvalidInputError
from shared.s3ap import OutputLocation, write_json, write_jsonl, write_manifest
from tests.legal_compliance.conftest import OUTPUT, REGION, SVM_UUID, VOLUME_UUID, read_json, read_lines

RUN = "audit-2026-11-22T0300-7f3c2a"
HOSTILE = '=HYPERLINK("http://x")/<script>alert(1)</script> | a.docx'
CONTEXT = {
    "svm": {"uuid": SVM_UUID, "name": "svm_legal"},
    "volume": {
        "uuid": VOLUME_UUID,
        "name": "legal_ntfs",
        "junction_path": "/legal",
        "security_style": "ntfs",
    },
    "export_policy_scope": "svm",
    "shares": [],
    "export_policies": [],
    "scope": "full",
    "findings": [
        {
            "finding_id": "s1",
            "rule": "share_everyone_full_control",
            "title": "Share grants Everyone full control",
            "severity": "high",
            "target_type": "share",
            "path": "/legal/Matters",
            "share": "matters",
            "principal": "Everyone",
            "rights": "full_control",
            "evidence": {},
            "rationale": "r",
            "remediation": "m",
        }
    ],
}


def finding(rule: str, severity: str, key: str, principal: str | None = "Everyone") -> dict[str, Any]:
    return {
        "finding_id": f"id-{key}",
        "rule": rule,
        "title": rule,
        "severity": severity,
        "target_type": "file",
        "path": "/legal/" + key,
        "key": key,
        "principal": principal,
        "rights": "modify",
        "evidence": {"ace": {"user": principal}},
        "rationale": "why",
        "remediation": "-fix it",
    }


RECORDS = [
    {"key": "/", "status": "ok", "type": "folder", "readable": True, "findings": []},
    {"key": "Matters/", "status": "ok", "type": "folder", "readable": True, "findings": []},
    {
        "key": "Matters/a.docx",
        "status": "ok",
        "readable": True,
        "findings": [finding("broad_principal_write", "critical", "Matters/a.docx")],
    },
    {
        "key": HOSTILE,
        "status": "ok",
        "readable": True,
        "findings": [finding("direct_user_ace", "low", HOSTILE, "CORP\\j.smith")],
    },
    {
        "key": "Matters/gone.docx",
        "status": "ok",
        "readable": False,
        "findings": [finding("unreadable", "high", "Matters/gone.docx", None)],
    },
    {"key": "Matters/bug.docx", "status": "error", "error": "KeyError", "message": "'acls'"},
]


def build(
    records: list[dict[str, Any]] = RECORDS, count: int | None = None, manifest: tuple[str, ...] = ()
) -> Any:
    return build_report(
        records,
        CONTEXT,
        run_id=RUN,
        started_at="2026-11-22T03:00:00.000Z",
        discovery={"trigger": "schedule", "scope": "full", "count": len(records) if count is None else count},
        rules=default_rules(),
        manifest_keys=lambda: iter(manifest),
    )


def test_every_finding_once_error_records_and_unrecorded_keys_become_unreadable() -> None:
    report = build(
        count=8, manifest=("/", "Matters/", "Matters/a.docx", "Matters/lost 1.docx", "Matters/lost 2/")
    )

    rules = [(f["rule"], f.get("key") or f.get("share")) for f in report.findings]
    assert rules == [
        ("broad_principal_write", "Matters/a.docx"),
        ("share_everyone_full_control", "matters"),
        ("unreadable", "Matters/bug.docx"),
        ("unreadable", "Matters/gone.docx"),
        ("unreadable", "Matters/lost 1.docx"),
        ("unreadable", "Matters/lost 2/"),
        ("direct_user_ace", HOSTILE),
    ]
    by_key = {f.get("key"): f for f in report.findings}
    assert by_key["Matters/bug.docx"]["evidence"] == {"error": "KeyError", "message": "'acls'"}
    assert by_key["Matters/lost 1.docx"]["evidence"]["error"] == "NotAudited"
    assert by_key["Matters/lost 2/"]["target_type"] == "folder"
    assert (report.files, report.folders, report.unreadable, report.not_audited) == (4, 2, 2, 2)
    assert all(f["run_id"] == RUN and f["run_date"] == "2026-11-22" for f in report.findings)
    assert report.by_severity() == {"critical": 1, "high": 5, "medium": 0, "low": 1}


def test_the_manifest_is_read_only_when_records_are_missing() -> None:
    def fail() -> Iterator[str]:
        raise AssertionError("manifest read although every key was recorded")

    report = build_report(
        RECORDS,
        CONTEXT,
        run_id=RUN,
        started_at="2026-11-22T03:00:00Z",
        discovery={"count": len(RECORDS)},
        rules=default_rules(),
        manifest_keys=fail,
    )
    assert report.not_audited == 0


def test_csv_never_lets_a_spreadsheet_run_a_name() -> None:
    rows = list(csv.DictReader(io.StringIO(csv_text(build()))))
    hostile = next(row for row in rows if row["rule"] == "direct_user_ace")
    assert hostile["path"] == "'/legal/" + HOSTILE or hostile["path"].startswith("/legal/")
    assert all(not value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())
    assert json.loads(hostile["evidence"]) == {"ace": {"user": "CORP\\j.smith"}}
    assert rows[0]["remediation"] == "'-fix it"


def test_html_is_one_self_contained_escaped_page() -> None:
    page = html_page(build())

    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=|<link|@import|url\(""", page)  # nothing fetched from anywhere
    assert '<span class="sev critical">critical</span><b>1</b>' in page
    assert "broad_principal_write" in page and "Top offenders" in page


def test_markdown_escapes_table_cells() -> None:
    text = markdown(build())
    row = next(line for line in text.splitlines() if "direct" in line and "script" in line)
    assert row.count(" | ") == 4  # the | inside the name is escaped, the table keeps 5 columns
    assert "\\<script\\>" in row


def test_the_table_is_capped_but_counts_are_complete() -> None:
    records = [
        {"key": f"f{i}", "status": "ok", "findings": [finding("broad_principal_write", "critical", f"f{i}")]}
        for i in range(30)
    ]
    report = build(records)
    assert "first 10 of 31" in markdown(report, table_rows=10)
    assert html_page(report, table_rows=10).count("broad_principal_write</code></td><td><code>/legal/f") == 10


def test_notification_subject_is_short_ascii() -> None:
    summary = build().summary({"report_html": f"runs/{RUN}/report.html"})
    summary["volume"] = "契約書ボリューム" * 20
    subject, message = notification(summary, OUTPUT)
    assert len(subject) <= 100 and subject.isascii()
    assert "5 findings: 1 critical, 3 high, 0 medium, 1 low" in message
    assert f"s3://{OUTPUT}/runs/{RUN}/report.html" in message


# --- the step and its handler ----------------------------------------------------------------------


@pytest.fixture
def stored_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A run whose discovery, context and one batch have been written."""
    monkeypatch.setenv("OUTPUT_BUCKET", OUTPUT)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=OUTPUT, CreateBucketConfiguration={"LocationConstraint": REGION})
        location = OutputLocation(OUTPUT)
        write_json(location, RUN, "context.json", CONTEXT, s3=s3)
        write_jsonl(location, RUN, "parts/batch-000000.jsonl", RECORDS[:3], s3=s3)
        yield s3


def test_handler_writes_the_evidence_and_returns_counts(stored_run, lambda_context, event_loader) -> None:
    event = event_loader("legal-compliance/report")
    event["discovery"]["count"] = 3

    summary = report_handler.handler(event, lambda_context)

    assert {k: summary[k] for k in ("findings", "critical", "unreadable", "not_audited")} == {
        "findings": 2,
        "critical": 1,
        "unreadable": 0,
        "not_audited": 0,
    }
    assert summary["report"] == f"runs/{RUN}/report.html"
    assert summary["subject"] == "[legal-compliance] 2 findings (1 critical) on legal_ntfs"
    lines = read_lines(stored_run, f"runs/{RUN}/findings/run_date=2026-11-22/findings.jsonl")
    assert [line["rule"] for line in lines] == ["broad_principal_write", "share_everyone_full_control"]
    stored = read_json(stored_run, f"runs/{RUN}/summary.json")
    assert stored["outputs"]["findings_csv"] == f"runs/{RUN}/findings.csv"
    head = stored_run.head_object(Bucket=OUTPUT, Key=f"runs/{RUN}/report.html")
    assert head["ContentType"] == "text/html; charset=utf-8"


def test_a_retried_report_keeps_what_was_written_and_succeeds(
    stored_run, lambda_context, event_loader
) -> None:
    event = event_loader("legal-compliance/report")
    event["discovery"]["count"] = 3
    first = report_handler.handler(event, lambda_context)
    versions = stored_run.list_object_versions(Bucket=OUTPUT, Prefix=f"runs/{RUN}/")["Versions"]

    again = report_handler.handler(event, lambda_context)

    assert again == first
    assert stored_run.list_object_versions(Bucket=OUTPUT, Prefix=f"runs/{RUN}/")["Versions"] == versions


def test_a_failed_batch_is_reported_not_lost(stored_run, lambda_context, event_loader) -> None:
    keys = [r["key"] for r in RECORDS[:3]] + ["Matters/never audited.docx"]
    from datetime import UTC, datetime

    from shared.s3ap import ObjectRecord

    write_manifest(
        OutputLocation(OUTPUT),
        RUN,
        [ObjectRecord(k, 1, "e", datetime(2026, 1, 1, tzinfo=UTC)) for k in keys],
        batch_size=3,
        s3=stored_run,
    )
    event = event_loader("legal-compliance/report")
    event["discovery"]["count"] = 4

    summary = report_handler.handler(event, lambda_context)

    assert (summary["findings"], summary["not_audited"]) == (3, 1)


def test_the_narrative_is_written_beside_the_report_and_its_failure_is_harmless(stored_run) -> None:
    settings = ReportSettings(OutputLocation(OUTPUT))
    request = ReportRequest(RUN, "2026-11-22T03:00:00Z", {"count": 3, "scope": "full"})
    prompts: list[str] = []

    def narrator(text: str) -> str:
        prompts.append(text)
        return "Two issues need attention."

    _, summary = write_report(settings, default_rules(), request, s3=stored_run, narrator=narrator)

    assert summary["findings"] == 2
    body = stored_run.get_object(Bucket=OUTPUT, Key=f"runs/{RUN}/narrative.md")["Body"].read().decode()
    assert body.endswith("Two issues need attention.\n") and "language model" in body
    assert '"broad_principal_write"' in prompts[0] and "Matters/a.docx" in prompts[0]

    def broken(text: str) -> str:
        raise TimeoutError("model timed out")

    other = ReportRequest("run-2", "2026-11-22T03:00:00Z", {"count": 0, "scope": "full"})
    write_json(OutputLocation(OUTPUT), "run-2", "context.json", CONTEXT, s3=stored_run)
    write_report(settings, default_rules(), other, s3=stored_run, narrator=broken)
    assert read_json(stored_run, "runs/run-2/summary.json")["narrative"] == "failed: TimeoutError"
    stored_run.head_object(Bucket=OUTPUT, Key="runs/run-2/report.html")


def test_bedrock_narrator_calls_converse_with_the_prompt() -> None:
    client = boto3.client("bedrock-runtime", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": " Fix the share first. "}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
            "metrics": {"latencyMs": 10},
        },
        {
            "modelId": "amazon.nova-micro-v1:0",
            "messages": [{"role": "user", "content": [{"text": "facts"}]}],
            "inferenceConfig": {"maxTokens": 700, "temperature": 0.0},
        },
    )
    with stubber:
        assert BedrockNarrator("amazon.nova-micro-v1:0", client=client)("facts") == "Fix the share first."


@pytest.mark.parametrize(
    "event",
    [
        {"started_at": "x", "discovery": {"count": 1}},
        {"run_id": "r", "discovery": {"count": 1}},
        {"run_id": "r", "started_at": "x", "discovery": {}},
    ],
)
def test_bad_report_events_are_refused(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        ReportRequest.from_event(event)
