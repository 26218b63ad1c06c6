"""CheckHealthFunction with the event file: a real ONTAP client against one cluster's simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from flexcache_dr.handlers.check_health import handler
from flexcache_dr.store import deserialize

from sandbox.ontap import FlexCacheRelationship, OntapSimulator
from shared.errors import InvalidInputError

PASSWORD = "Usw2-Cluster-Passw0rd"


@pytest.fixture
def cluster(aws: Any, event_loader: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The event's cache on its own cluster (simulator), its secret, and its access point's canary."""
    event = event_loader("flexcache-anycast-dr/check_health")
    member = event["member"]
    sim = OntapSimulator(cluster_name="FsxId0b2c3d4e5f6071829", password=PASSWORD)
    svm = sim.add_svm(member["svm"])
    sim.add_volume(member["volume"], svm=svm, style="flexgroup")
    sim.add_flexcache(
        member["volume"],
        svm=svm,
        origins=[FlexCacheRelationship("anycast_data", "svm_use1", "FsxId0a1b2c3d4e5f60718")],
    )
    sim.add_cluster_peer(
        "FsxId0a1b2c3d4e5f60718", remote_ip_addresses=["10.10.0.5"], peer_applications=["flexcache"]
    )
    boto3.client("secretsmanager", region_name="ap-northeast-1").create_secret(
        Name=member["secret"], SecretString=json.dumps({"username": "fsxadmin", "password": PASSWORD})
    )
    s3 = boto3.client("s3", region_name=member["region"])
    s3.create_bucket(
        Bucket=member["access_point_alias"],
        CreateBucketConfiguration={"LocationConstraint": member["region"]},
    )
    s3.put_object(Bucket=member["access_point_alias"], Key="flexcache-dr/canary.bin", Body=b"c" * 5000)
    for name, value in aws.environ.items():
        monkeypatch.setenv(name, value)
    with sim.running(tls=True) as endpoint:
        monkeypatch.setenv("ONTAP_CA_BUNDLE", endpoint.ca_bundle or "")
        event["member"] = {**member, "management_endpoint": endpoint.endpoint}
        yield {"event": event, "sim": sim, "aws": aws}


@pytest.mark.network
def test_a_healthy_cache_is_recorded_with_its_latency(cluster: dict[str, Any], lambda_context: Any) -> None:
    result = handler(cluster["event"], lambda_context)
    assert result["member_id"] == "cache-usw2"
    assert result["checks_passed"] is True and result["failed_checks"] == []
    assert result["latency_ms"] is not None
    aws = cluster["aws"]
    (item,) = aws.dynamodb.scan(TableName=aws.tables["health"])["Items"]
    stored = deserialize(item)
    assert stored["checks"]["cluster_peer"] is True and stored["run_id"] == "scheduled-2026-03-01T12-01"


@pytest.mark.network
def test_a_cut_off_origin_is_recorded_as_failed_checks_not_an_error(
    cluster: dict[str, Any], lambda_context: Any
) -> None:
    cluster["sim"].cluster_peer_down("FsxId0a1b2c3d4e5f60718")
    result = handler(cluster["event"], lambda_context)
    assert result["checks_passed"] is False
    assert result["failed_checks"] == ["origin_link", "cluster_peer"]


def test_a_member_outside_the_secret_prefix_is_refused(
    aws: Any, event_loader: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ONTAP_SECRET_PREFIX", "prod/fsxn/")
    with pytest.raises(InvalidInputError, match="not under the prefix 'prod/fsxn/'"):
        handler(event_loader("flexcache-anycast-dr/check_health"), lambda_context)
