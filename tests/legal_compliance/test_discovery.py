"""DiscoveryFunction of legal-compliance: full audits, FPolicy-targeted audits, retries, no self-ingestion."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from legal_compliance.discovery import AuditRequest, discover, normalise_path, with_folders
from legal_compliance.handlers import discovery
from legal_compliance.settings import AuditDiscoverySettings
from moto import mock_aws

from shared.errors import InvalidInputError
from shared.s3ap import ObjectRecord

ALIAS = "legal-ap-0a1b2c3d4e5f6g7h8i9j0k1l2m-ext-s3alias"
VOLUME = "7d9e1f20-3a4b-4c5d-8e6f-708192a3b4c5"
FILES = (
    "Matters/2024/契約書 2024.docx",
    "Matters/2024/memo #3 (100%).pdf",
    "Matters/2025/a b.docx",
    "top.txt",
)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    environment = {
        "ACCESS_POINT": ALIAS,
        "OUTPUT_BUCKET": "legal-outputs",
        "BATCH_SIZE": "3",
        "VOLUME_UUID": VOLUME,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3")
        for bucket in (ALIAS, "legal-outputs"):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
            )
        for key in FILES:
            client.put_object(Bucket=ALIAS, Key=key, Body=b"privileged")
        client.put_object(Bucket=ALIAS, Key="Matters/empty dir/", Body=b"")  # a directory placeholder
        yield client


def manifest_keys(s3: Any, result: dict[str, Any]) -> list[str]:
    body = s3.get_object(Bucket=result["manifest"]["bucket"], Key=result["manifest"]["key"])["Body"].read()
    return [key for batch in json.loads(body) for key in batch["keys"]]


def test_a_full_audit_lists_files_and_the_folders_above_them(s3, lambda_context, event_loader) -> None:
    event = event_loader("legal-compliance/discovery")

    result = discovery.handler(event, lambda_context)

    assert result["manifest"]["key"] == f"runs/{event['run_id']}/manifest.json"
    assert (result["trigger"], result["scope"]) == ("on_demand", "full")
    assert (result["files"], result["folders"], result["count"], result["batches"]) == (4, 4, 8, 3)
    assert manifest_keys(s3, result) == [
        "/",
        "Matters/",
        "Matters/2024/",
        "Matters/2024/memo #3 (100%).pdf",
        "Matters/2024/契約書 2024.docx",
        "Matters/2025/",
        "Matters/2025/a b.docx",
        "top.txt",
    ]


def test_the_schedule_marks_its_runs(s3, lambda_context, event_loader) -> None:
    result = discovery.handler(event_loader("legal-compliance/discovery-schedule"), lambda_context)
    assert (result["trigger"], result["scope"], result["files"]) == ("schedule", "full", 4)


def test_a_scan_prefix_keeps_the_folders_above_it(s3, lambda_context, monkeypatch) -> None:
    # Inherited ACEs are judged where they are set: the folders above the prefix are read too.
    monkeypatch.setenv("SCAN_PREFIX", "Matters/2025/")
    result = discovery.handler({"run_id": "r1"}, lambda_context)
    assert manifest_keys(s3, result) == ["/", "Matters/", "Matters/2025/", "Matters/2025/a b.docx"]


def test_an_fpolicy_event_audits_exactly_its_valid_existing_paths(s3, lambda_context, event_loader) -> None:
    event = event_loader("legal-compliance/discovery-fpolicy")

    result = discovery.handler(event, lambda_context)

    assert (result["trigger"], result["scope"], result["requested"]) == ("fpolicy", "paths", 5)
    assert manifest_keys(s3, result) == [
        "Matters/2024/契約書 2024.docx",  # backslashes are separators, as FPolicy reports CIFS paths
        "Matters/2024/memo #3 (100%).pdf",
        "Matters/2024/",
    ]
    assert result["skipped"] == {"missing": 1, "invalid": 1}
    assert (result["files"], result["folders"]) == (2, 1)


def test_an_event_for_another_volume_audits_nothing(s3, lambda_context, event_loader) -> None:
    event = event_loader("legal-compliance/discovery-fpolicy")
    event["input"]["detail"]["volume_uuid"] = "00000000-0000-4000-8000-000000000000"

    result = discovery.handler(event, lambda_context)

    assert (result["count"], result["skipped"]) == (0, {"other_volume": 5})
    assert manifest_keys(s3, result) == []


def test_requested_paths_outside_the_scan_prefix_or_in_the_outputs_are_skipped(s3, monkeypatch) -> None:
    monkeypatch.setenv("SCAN_PREFIX", "Matters/")
    monkeypatch.setenv("OUTPUT_BUCKET", ALIAS)  # outputs on the access point itself
    s3.put_object(Bucket=ALIAS, Key="runs/old/report.html", Body=b"<html>")
    settings = AuditDiscoverySettings.from_env(os.environ)
    request = AuditRequest(
        "r2",
        "on_demand",
        ("top.txt", "runs/old/report.html", "Matters/2025/a b.docx", "Matters/2025/a b.docx"),
    )

    result = discover(settings, request, s3=s3)

    assert result.skipped == {"out_of_scope": 2, "duplicate": 1}
    assert manifest_keys(s3, result.to_dict()) == ["Matters/2025/a b.docx"]


def test_outputs_written_to_the_access_point_are_never_listed(s3, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("OUTPUT_BUCKET", ALIAS)
    first = discovery.handler({"run_id": "r1"}, lambda_context)

    second = discovery.handler({"run_id": "r2"}, lambda_context)

    assert first["files"] == second["files"] == 4
    assert not [key for key in manifest_keys(s3, second) if key.startswith("runs/")]


def test_a_retried_discovery_returns_the_manifest_it_already_wrote(s3, lambda_context) -> None:
    first = discovery.handler({"run_id": "r3"}, lambda_context)
    s3.put_object(Bucket=ALIAS, Key="Matters/2026/new.docx", Body=b"x")

    again = discovery.handler({"run_id": "r3"}, lambda_context)

    assert {k: again[k] for k in ("manifest", "files", "folders", "batches")} == {
        k: first[k] for k in ("manifest", "files", "folders", "batches")
    }


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"run_id": "r", "input": {"paths": "Matters/2024/a.docx"}}, "paths"),
        ({"input": {}}, "run_id"),
        ({"run_id": "r", "input": []}, "input"),
        ({"run_id": "r", "input": {"trigger": "cron"}}, "trigger"),
        ({"run_id": "r", "input": {"detail-type": "x", "detail": "y"}}, "detail"),
        ({"run_id": "r", "input": {"detail-type": "x", "detail": {}}}, "detail.paths"),
        ({"run_id": "r", "input": {"paths": ["a"] * 1001}}, "paths"),
    ],
)
def test_bad_inputs_are_refused_by_name(event: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        AuditRequest.from_event(event, max_paths=1000)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Matters\\2024\\a.docx", "Matters/2024/a.docx"),
        ("/Matters//2024/a.docx", "Matters/2024/a.docx"),
        ("Matters/2024/", "Matters/2024/"),
        ("Matters\\2024\\", "Matters/2024/"),
        ("/", "/"),
        ("../etc/passwd", None),
        ("Matters/./a", None),
        ("a\x00b", None),
        ("", None),
    ],
)
def test_event_paths_are_normalised_or_refused(raw: str, key: str | None) -> None:
    assert normalise_path(raw) == key


def test_folders_come_once_and_before_their_first_file() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    records = [ObjectRecord(key, 1, "e", now) for key in ("a/b/1", "a/b/2", "a/c/3", "d")]
    assert [r.key for r in with_folders(records)] == [
        "/",
        "a/",
        "a/b/",
        "a/b/1",
        "a/b/2",
        "a/c/",
        "a/c/3",
        "d",
    ]
