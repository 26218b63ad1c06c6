"""DiscoveryFunction of legal-compliance: the handler with its event file, against moto."""

from __future__ import annotations

import json

import boto3
import pytest
from legal_compliance.handlers import discovery
from moto import mock_aws

ALIAS = "legal-ap-0a1b2c3d4e5f6g7h8i9j0k1l2m-ext-s3alias"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch):
    for name, value in {"ACCESS_POINT": ALIAS, "OUTPUT_BUCKET": "legal-outputs", "BATCH_SIZE": "100"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (ALIAS, "legal-outputs"):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
            )
        yield s3


def test_handler_writes_the_manifest_for_the_event_run(environment, lambda_context, event_loader) -> None:
    for key in ("Matters/2024/契約書 2024.docx", "Matters/2024/memo #3 (100%).pdf"):
        environment.put_object(Bucket=ALIAS, Key=key, Body=b"privileged")
    event = event_loader("legal-compliance/discovery")

    result = discovery.handler(event, lambda_context)

    assert result["count"] == 2
    assert result["manifest"]["key"] == f"runs/{event['run_id']}/manifest.json"
    manifest = json.loads(
        environment.get_object(Bucket="legal-outputs", Key=result["manifest"]["key"])["Body"].read()
    )
    assert sorted(manifest[0]["keys"]) == ["Matters/2024/memo #3 (100%).pdf", "Matters/2024/契約書 2024.docx"]
