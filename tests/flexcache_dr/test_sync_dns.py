"""SyncDnsFunction with the event file: the zone mirrors the published routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from flexcache_dr.handlers.decide_routes import handler as decide
from flexcache_dr.handlers.sync_dns import handler
from flexcache_dr.topology import parse_topology

from tests.flexcache_dr.builders import observation


def test_the_records_follow_the_routes(
    aws: Any, event_loader: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = boto3.client("route53").create_hosted_zone(Name="reads.example.com", CallerReference="t")
    for name, value in aws.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOSTED_ZONE_ID", zone["HostedZone"]["Id"].split("/")[-1])
    monkeypatch.setenv("RECORD_DOMAIN", "reads.example.com")
    topology = parse_topology(event_loader("flexcache-anycast-dr/load_topology")["document"])
    aws.stores.topology.replace(topology, source="test", now=datetime.now(UTC))
    for member in topology.members:
        aws.stores.health.put(observation(member.member_id, datetime.now(UTC) - timedelta(seconds=5)))
    decide(event_loader("flexcache-anycast-dr/decide_routes"), lambda_context)

    result = handler(event_loader("flexcache-anycast-dr/sync_dns"), lambda_context)

    assert result == {"records": 5 * 5, "batches": 1, "state_version": 1}
    records = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone["HostedZone"]["Id"])
    chosen = {r["Name"]: r["SetIdentifier"] for r in records["ResourceRecordSets"] if r.get("Weight") == 1}
    assert chosen["us-west-2.reads.example.com."] == "cache-usw2"
    assert chosen["eu-central-1.reads.example.com."] == "origin-use1"
