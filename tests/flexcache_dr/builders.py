"""Small builders of topologies and observations for the flexcache-anycast-dr tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flexcache_dr.decision import MemberState
from flexcache_dr.health import Observation
from flexcache_dr.topology import Member, Topology

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORIGIN_CHECKS = ("svm", "volume", "probe")
CACHE_CHECKS = ("svm", "volume", "flexcache", "origin_link", "cluster_peer", "probe")


def alias(member_id: str) -> str:
    return f"{member_id}-abcdefghij0123456789-ext-s3alias"


def member(
    member_id: str,
    *,
    role: str = "cache",
    region: str = "us-west-2",
    priority: int = 10,
    weight: int = 50,
    endpoint: str | None = None,
) -> Member:
    return Member.from_dict(
        {
            "member_id": member_id,
            "role": role,
            "region": region,
            "management_endpoint": endpoint or f"{member_id}.mgmt.example.com",
            "secret": f"fsxn/{member_id}",
            "svm": "svm1",
            "volume": f"vol_{member_id.replace('-', '_')}",
            "access_point_alias": alias(member_id),
            "priority": priority,
            "weight": weight,
        }
    )


def topology(
    caches: Sequence[tuple[str, str]] | Sequence[Member] = (
        ("cache-usw2", "us-west-2"),
        ("cache-euw1", "eu-west-1"),
        ("cache-apse1", "ap-southeast-1"),
    ),
    *,
    origin_region: str = "us-east-1",
    client_regions: Iterable[str] | None = None,
) -> Topology:
    members = [member("origin-use1", role="origin", region=origin_region, priority=1, weight=100)]
    for index, cache in enumerate(caches):
        if isinstance(cache, Member):
            members.append(cache)
        else:
            members.append(member(cache[0], region=cache[1], priority=index + 2, weight=10 * (index + 1)))
    regions = (
        tuple(client_regions) if client_regions is not None else tuple(sorted({m.region for m in members}))
    )
    return Topology(members=tuple(members), client_regions=regions)


def observation(
    member_id: str,
    at: datetime,
    *,
    passed: bool = True,
    latency: float | None = 20.0,
    failed: Iterable[str] = (),
    origin: bool | None = None,
    run_id: str = "run",
) -> Observation:
    is_origin = member_id.startswith("origin") if origin is None else origin
    names = ORIGIN_CHECKS if is_origin else CACHE_CHECKS
    failed = set(failed) if passed is False and failed else ({"probe"} if passed is False else set(failed))
    checks = {name: name not in failed for name in names}
    return Observation(
        member_id=member_id,
        observed_at=at,
        run_id=run_id,
        checks=checks,
        latency_ms=None if not checks["probe"] else latency,
        details={name: "test failure" for name in failed},
    )


def history_of(
    top: Topology, rounds: int = 3, *, end: datetime = T0, failing: Iterable[str] = (), latency: float = 20.0
) -> dict[str, list[Observation]]:
    """``rounds`` observations of every member, one a minute up to ``end``; ``failing`` ones fail."""
    bad = set(failing)
    return {
        m.member_id: [
            observation(
                m.member_id, end - timedelta(minutes=i), passed=m.member_id not in bad, latency=latency
            )
            for i in range(rounds)
        ]
        for m in top.members
    }


def states(
    top: Topology, state: str = "in_service", *, since: datetime | None = None
) -> dict[str, MemberState]:
    moment = since or T0 - timedelta(hours=1)
    return {m.member_id: MemberState(state, moment) for m in top.members}


DELETE = object()


def record(**overrides: Any) -> dict[str, Any]:
    """A valid stored health record, with ``overrides`` applied (``DELETE`` removes a key)."""
    base: dict[str, Any] = {
        "member_id": "cache-usw2",
        "observed_at": "2026-03-01T12:00:00.000000+00:00",
        "run_id": "run-1",
        "checks": {"svm": True, "volume": True, "flexcache": True, "origin_link": True, "probe": True},
        "latency_ms": 12.5,
        "details": {},
    }
    for key, value in overrides.items():
        if value is DELETE:
            base.pop(key, None)
        else:
            base[key] = value
    return base
