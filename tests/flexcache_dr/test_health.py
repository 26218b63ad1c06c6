"""Health checks against the ONTAP REST simulator (ONTAP's field names and values) and a timed probe."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from flexcache_dr.health import Observation, ProbeSettings, check_member
from flexcache_dr.topology import Member

from sandbox.datasets.flexcache import FlexCacheSite, flexcache_topology
from sandbox.ontap import OntapSimulator
from sandbox.scenarios.flexcache_anycast_dr import cluster_simulator
from shared.errors import InvalidInputError
from shared.ontap_client import OntapClient
from tests.flexcache_dr.builders import DELETE, T0, record
from tests.shared.ontap_fakes import StaticCredentials

PROBE = ProbeSettings(canary_key="flexcache-dr/canary.bin", canary_bytes=1024)
PASSWORD = "Cluster-Passw0rd-1"


class FakeS3:
    """get_object of one canary per bucket; a missing one answers NoSuchKey like S3."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.ranges: list[str] = []

    def get_object(self, *, Bucket: str, Key: str, Range: str) -> dict[str, Any]:
        self.ranges.append(Range)
        if Bucket not in self.objects:
            raise ClientError(
                {
                    "Error": {"Code": "NoSuchKey", "Message": "missing"},
                    "ResponseMetadata": {"HTTPStatusCode": 404},
                },
                "GetObject",
            )
        start, end = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        return {"Body": io.BytesIO(self.objects[Bucket][start : end + 1]), "ETag": '"e"'}


@dataclass
class Site:
    member: Member
    sim: OntapSimulator
    client: OntapClient


def _member(site: FlexCacheSite, endpoint: str) -> Member:
    return Member.from_dict(
        {
            "member_id": f"{site.role}-x",
            "role": site.role,
            "region": site.region,
            "management_endpoint": endpoint,
            "secret": f"fsxn/{site.cluster_name}",
            "svm": site.svm,
            "volume": site.volume,
            "access_point_alias": site.s3_access_point_alias,
            "priority": site.priority,
            "weight": site.weight,
        }
    )


@pytest.fixture
def sites() -> Iterator[dict[str, Site]]:
    """The origin's and one cache's clusters, each its own TLS simulator."""
    dataset = flexcache_topology(11, caches=1)
    with ExitStack() as stack:
        found = {}
        for site in dataset.sites:
            sim = cluster_simulator(dataset, site, PASSWORD)
            endpoint = stack.enter_context(sim.running(tls=True))
            client = OntapClient(
                endpoint.endpoint,
                StaticCredentials("fsxadmin", PASSWORD),
                ca_bundle=endpoint.ca_bundle,
                max_retries=0,
                timeout=5,
            )
            stack.callback(client.close)
            found[site.role] = Site(_member(site, endpoint.endpoint), sim, client)
        yield found


def _check(site: Site, s3: FakeS3 | None = None) -> Observation:
    s3 = s3 or FakeS3({site.member.access_point_alias: b"canary" * 400})
    return check_member(
        site.member, ontap=lambda _: site.client, s3=lambda _: s3, probe=PROBE, run_id="run-1", now=lambda: T0
    )


@pytest.mark.network
def test_a_healthy_cache_passes_every_check_with_ontaps_fields(sites: dict[str, Site]) -> None:
    cache = sites["cache"]
    s3 = FakeS3({cache.member.access_point_alias: b"canary" * 400})
    observation = _check(cache, s3)
    assert observation.checks == {
        "svm": True,
        "volume": True,
        "flexcache": True,
        "origin_link": True,
        "cluster_peer": True,
        "probe": True,
    }
    assert observation.all_checks_passed and observation.latency_ms is not None
    assert s3.ranges == ["bytes=0-1023"]
    # origins.state is an "expensive" FlexCache property: it must be asked for by name
    flexcache_requests = [r for r in cache.sim.requests if r.path == "/api/storage/flexcache/flexcaches"]
    assert flexcache_requests and "origins.state" in flexcache_requests[0].query
    peer_requests = [r for r in cache.sim.requests if r.path == "/api/cluster/peers"]
    assert peer_requests and "status.state" in peer_requests[0].query


@pytest.mark.network
def test_the_origin_is_checked_without_flexcache_or_peer_checks(sites: dict[str, Site]) -> None:
    observation = _check(sites["origin"])
    assert observation.checks == {"svm": True, "volume": True, "probe": True}


@pytest.mark.network
def test_an_unavailable_peer_fails_the_origin_link_and_the_peer_check(sites: dict[str, Site]) -> None:
    cache = sites["cache"]
    cache.sim.cluster_peer_down(sites["origin"].sim.cluster.name)
    observation = _check(cache)
    assert observation.failed_checks == ("origin_link", "cluster_peer")
    assert observation.details["origin_link"] == "origin relationship state 'offline'"
    assert "status.state is 'unavailable'" in observation.details["cluster_peer"]


@pytest.mark.network
def test_an_offline_volume_and_a_stopped_svm_fail_their_checks(sites: dict[str, Site]) -> None:
    cache = sites["cache"]
    next(v for v in cache.sim.volumes if v.name == cache.member.volume).state = "offline"
    next(s for s in cache.sim.svms if s.name == cache.member.svm).state = "stopped"
    observation = _check(cache)
    assert observation.failed_checks == ("svm", "volume")
    assert observation.details == {"svm": "SVM state is 'stopped'", "volume": "volume state is 'offline'"}


@pytest.mark.network
def test_a_missing_flexcache_fails_the_flexcache_and_origin_link_checks(sites: dict[str, Site]) -> None:
    cache = sites["cache"]
    cache.sim.flexcaches.clear()
    observation = _check(cache)
    assert observation.failed_checks == ("flexcache", "origin_link")


@pytest.mark.network
def test_an_unreachable_cluster_fails_the_ontap_checks_but_still_probes(sites: dict[str, Site]) -> None:
    cache = sites["cache"]
    cache.sim.faults.node_down()
    observation = _check(cache)
    assert observation.failed_checks == ("svm", "volume", "flexcache", "origin_link")
    assert observation.details["svm"].startswith("ONTAP REST failed:")
    assert observation.checks["probe"] is True


@pytest.mark.network
def test_a_missing_or_empty_canary_fails_the_probe(sites: dict[str, Site]) -> None:
    origin = sites["origin"]
    missing = _check(origin, FakeS3({}))
    assert missing.checks["probe"] is False and missing.latency_ms is None
    assert missing.details["probe"].startswith("canary read failed:")
    empty = _check(origin, FakeS3({origin.member.access_point_alias: b""}))
    assert empty.details["probe"] == "canary object flexcache-dr/canary.bin is empty"


class ScriptedReader:
    """An OntapReader answering fixed records (shapes ONTAP documents)."""

    def __init__(self, volume: dict[str, Any]) -> None:
        self.volume = volume

    def get(self, path: str, *, fields: Any = None, query: Any = None) -> dict[str, Any]:
        return {"name": "local", "uuid": "u-local"}

    def get_collection(self, path: str, *, fields: Any = None, query: Any = None) -> Any:
        if path == "/api/svm/svms":
            return iter([{"name": "svm1", "state": "running"}])
        if path == "/api/storage/volumes":
            return iter([self.volume])
        if path == "/api/storage/flexcache/flexcaches":
            return iter([{"origins": [{"state": "online", "cluster": {"name": "local", "uuid": "u-local"}}]}])
        raise AssertionError(f"unexpected {path}: the origin is on this cluster, no peer lookup")


def test_flexcache_endpoint_type_must_match_the_role_when_ontap_reports_it() -> None:
    cache = Member.from_dict(
        {
            "member_id": "cache-a",
            "role": "cache",
            "region": "us-west-2",
            "management_endpoint": "10.0.0.1",
            "secret": "fsxn/a",
            "svm": "svm1",
            "volume": "vol_a",
            "access_point_alias": "cache-a-abcdefghij0123456789-ext-s3alias",
            "priority": 1,
            "weight": 1,
        }
    )
    s3 = FakeS3({cache.access_point_alias: b"x"})

    def observe(volume: dict[str, Any]) -> Observation:
        reader = ScriptedReader(volume)
        return check_member(cache, ontap=lambda _: reader, s3=lambda _: s3, probe=PROBE, run_id="r")

    wrong = observe({"name": "vol_a", "state": "online", "flexcache_endpoint_type": "origin"})
    assert wrong.details["volume"] == "flexcache_endpoint_type is 'origin', expected 'cache'"
    right = observe({"name": "vol_a", "state": "online", "flexcache_endpoint_type": "cache"})
    assert right.checks["volume"] and "cluster_peer" not in right.checks  # same-cluster origin
    unreported = observe({"name": "vol_a", "state": "online"})
    assert unreported.checks["volume"]


# --- stored records ------------------------------------------------------------------------------


def test_a_stored_record_round_trips() -> None:
    observation = Observation.from_record(record())
    assert observation.observed_at == T0
    assert Observation.from_record(observation.to_record()) == observation


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"checks": {"svm": "true", "volume": True, "probe": True}},
            "health record.checks.svm",
            "true or false",
        ),
        (
            {"checks": {"svm": True, "volume": True, "probe": True, "ping": True}},
            "health record.checks",
            "unknown",
        ),
        ({"checks": {"svm": True, "probe": True}}, "health record.checks", "missing check(s) volume"),
        ({"checks": {}}, "health record.checks", "non-empty"),
        ({"latency_ms": "12.5"}, "health record.latency_ms", "number of milliseconds"),
        ({"latency_ms": True}, "health record.latency_ms", "number of milliseconds"),
        ({"latency_ms": -1}, "health record.latency_ms", ">= 0"),
        ({"latency_ms": float("inf")}, "health record.latency_ms", "finite"),
        ({"latency_ms": None}, "health record.latency_ms", "a passed probe must have a latency"),
        ({"observed_at": "2026-03-01T12:00:00"}, "health record.observed_at", "without a UTC offset"),
        ({"observed_at": "yesterday"}, "health record.observed_at", "not an ISO 8601"),
        ({"observed_at": 1772366400}, "health record.observed_at", "timestamp string"),
        ({"member_id": "Cache 1"}, "health record.member_id", "member id"),
        ({"run_id": ""}, "health record.run_id", "non-empty"),
        ({"run_id": DELETE}, "health record.run_id", "is missing"),
        ({"run_id": None}, "health record.run_id", "non-empty"),
        ({"details": {"probe": 404}}, "health record.details", "reason text"),
        ({"verdict": "healthy"}, "health record", "unknown key(s) verdict"),
    ],
)
def test_malformed_records_are_rejected_not_coerced(
    overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Observation.from_record(record(**overrides))
    assert raised.value.field == field
    assert message in raised.value.message


def test_a_record_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="must be an object"):
        Observation.from_record(["cache-usw2"])
