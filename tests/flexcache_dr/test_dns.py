"""Route 53 weighted TXT records that mirror the published routes (opt-in)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from flexcache_dr import dns
from flexcache_dr.dns import NO_ROUTE, desired_records, sync_records
from moto import mock_aws

from shared.errors import RoutingStoreUnavailableError
from tests.flexcache_dr.builders import alias, topology

TOP = topology(client_regions=["us-west-2", "eu-central-1"])


def _weights(changes: list[dict[str, Any]], name: str) -> dict[str, int]:
    return {
        c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"]["Weight"]
        for c in changes
        if c["ResourceRecordSet"]["Name"] == name
    }


def test_exactly_one_record_per_region_has_weight_and_no_route_selects_none() -> None:
    changes = desired_records(TOP, {"us-west-2": "cache-usw2", "eu-central-1": None}, "reads.example.com", 60)
    assert len(changes) == 2 * (len(TOP.members) + 1)
    west = _weights(changes, "us-west-2.reads.example.com.")
    assert west["cache-usw2"] == 1 and sum(west.values()) == 1
    assert _weights(changes, "eu-central-1.reads.example.com.") == {
        **dict.fromkeys(TOP.member_ids, 0),
        NO_ROUTE: 1,
    }
    values = {
        c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"]["ResourceRecords"] for c in changes
    }
    assert values["cache-usw2"] == [{"Value": f'"{alias("cache-usw2")}"'}]


def test_changes_are_split_under_route53_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns, "_MAX_RECORDS", 4)
    changes = desired_records(TOP, {"us-west-2": "cache-usw2"}, "reads.example.com", 60)
    batches = dns._batches(changes)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [c for b in batches for c in b] == changes


def test_records_are_upserted_into_the_zone() -> None:
    with mock_aws():
        route53 = boto3.client("route53", region_name="us-east-1")
        zone = route53.create_hosted_zone(Name="reads.example.com", CallerReference="t")["HostedZone"]["Id"]
        changes = desired_records(
            TOP, {"us-west-2": "cache-euw1", "eu-central-1": "origin-use1"}, "reads.example.com", 30
        )
        assert sync_records(route53, zone, changes) == 1
        assert sync_records(route53, zone, changes) == 1  # idempotent
        records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        chosen = {(r["Name"], r["SetIdentifier"]) for r in records if r.get("Weight") == 1}
        assert chosen == {
            ("us-west-2.reads.example.com.", "cache-euw1"),
            ("eu-central-1.reads.example.com.", "origin-use1"),
        }


def test_route53_throttling_is_retryable_and_other_errors_propagate() -> None:
    class Refusing:
        def __init__(self, code: str) -> None:
            self.code = code

        def change_resource_record_sets(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": self.code, "Message": "x"}}, "ChangeResourceRecordSets")

    changes = desired_records(TOP, {}, "reads.example.com", 60)
    with pytest.raises(RoutingStoreUnavailableError):
        sync_records(Refusing("PriorRequestNotComplete"), "Z1", changes)
    with pytest.raises(ClientError):
        sync_records(Refusing("InvalidChangeBatch"), "Z1", changes)
