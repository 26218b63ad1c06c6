"""shared.discovery: settings from the environment, the event contract, one listing → one manifest."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.discovery import NOTHING_DISCOVERED, DiscoveryRequest, DiscoverySettings, discover, region_role
from shared.errors import InvalidInputError
from shared.observability import metrics
from shared.snapstart import run_after_restore_hooks

ALIAS = "vol1-ap-k2x9q0z8a7b6c5d4e3f2g1h0-ext-s3alias"
ENV = {
    "ACCESS_POINT": ALIAS,
    "OUTPUT_BUCKET": "audit-outputs",
    "BATCH_SIZE": "2",
    "FILE_SUFFIXES": ".docx, .PDF",
}


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3")
        # moto has no access point alias routing: a bucket named as the alias stands in for it.
        for bucket in (ALIAS, "audit-outputs"):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
            )
        yield client


def test_settings_from_env() -> None:
    settings = DiscoverySettings.from_env(ENV)
    assert settings.access_point.bucket == ALIAS
    assert settings.suffixes == (".docx", ".PDF")
    assert settings.batch_size == 2
    assert settings.output.bucket == "audit-outputs"


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({**ENV, "ACCESS_POINT": ""}, "ACCESS_POINT"),
        ({k: v for k, v in ENV.items() if k != "OUTPUT_BUCKET"}, "OUTPUT_BUCKET"),
        ({**ENV, "BATCH_SIZE": "ten"}, "BATCH_SIZE"),
        ({**ENV, "ACCESS_POINT": "not an alias"}, "access_point"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        DiscoverySettings.from_env(env)
    assert raised.value.field == field


@pytest.mark.parametrize("event", [{}, {"run_id": ""}, {"run_id": 7}, []])
def test_event_without_run_id_is_rejected(event) -> None:
    with pytest.raises(InvalidInputError) as raised:
        DiscoveryRequest.from_event(event)
    assert raised.value.field == "run_id"


def test_discover_writes_batches_and_returns_only_a_summary(s3) -> None:
    # Given five matching files, one that does not match, and a folder placeholder
    for key in ("a.docx", "b.DOCX", "c/d.pdf", "c/e.pdf", "f.PDF", "g.txt", "c/"):
        s3.put_object(Bucket=ALIAS, Key=key, Body=b"x" * 10)
    # When discovery runs with batches of two
    summary = discover(DiscoverySettings.from_env(ENV), "run-1", s3=s3).to_dict()
    # Then the manifest holds three batches with exactly the matching keys, and the summary no keys
    assert summary["count"] == 5
    assert summary["bytes"] == 50
    assert summary["manifest"] == {"bucket": "audit-outputs", "key": "runs/run-1/manifest.json"}
    manifest = json.loads(
        s3.get_object(Bucket="audit-outputs", Key="runs/run-1/manifest.json")["Body"].read()
    )
    assert [len(item["keys"]) for item in manifest] == [2, 2, 1]
    assert sorted(k for item in manifest for k in item["keys"]) == [
        "a.docx",
        "b.DOCX",
        "c/d.pdf",
        "c/e.pdf",
        "f.PDF",
    ]
    assert "keys" not in json.dumps(summary)


def test_outputs_under_the_same_access_point_are_never_discovered(s3) -> None:
    # Given outputs configured on the very access point that discovery lists
    env = {**ENV, "OUTPUT_BUCKET": ALIAS, "OUTPUT_PREFIX": "audit", "FILE_SUFFIXES": ""}
    s3.put_object(Bucket=ALIAS, Key="contract.docx", Body=b"1")
    settings = DiscoverySettings.from_env(env)
    first = discover(settings, "run-1", s3=s3)
    # When a second run lists the access point after the first wrote its manifest there
    second = discover(settings, "run-2", s3=s3)
    # Then neither run counts the other's outputs
    assert first.count == second.count == 1


# --- the region-role gate -------------------------------------------------------------------------


def _metrics_emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    metrics.flush_metrics()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    return {key: value for line in lines for key, value in line.items() if not key.startswith("_")}


def test_single_region_discovery_is_active_without_a_call(capsys: pytest.CaptureFixture[str]) -> None:
    decision = region_role({"AWS_REGION": "ap-northeast-1"})  # no AWS mock: a call would fail
    assert (decision.active, decision.reason) == (True, "single-region")
    assert "RunsOnStandby" not in _metrics_emitted(capsys)


def test_a_standby_run_is_counted(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {
        "AWS_REGION": "us-east-1",
        "MULTI_REGION_ENABLED": "true",
        "PRIMARY_REGION": "ap-northeast-1",
        "SECONDARY_REGION": "us-east-1",
        "PRIMARY_HEALTH_CHECK_ID": "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b",
        "REGION_STATUS_TABLE": "sbx-global-region-status",
    }
    with mock_aws():
        run_after_restore_hooks()  # the guard's per-region clients, made inside this mock
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="sbx-global-region-status",
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        decision = region_role(environ)  # no datapoint: health unknown, static roles
        run_after_restore_hooks()
    assert (decision.active, decision.reason, decision.active_region) == (
        False,
        "health-unknown",
        "ap-northeast-1",
    )
    assert _metrics_emitted(capsys)["RunsOnStandby"] == [1.0]
    assert NOTHING_DISCOVERED == {"manifest": None, "count": 0, "bytes": 0, "batches": 0}
