"""A routing cycle end to end on moto: load, decide, commit; overrides; concurrent decisions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flexcache_dr.cycle import Stores, load_topology, run_cycle
from flexcache_dr.decision import Policy
from flexcache_dr.publication import PublicationPlan
from flexcache_dr.store import RoutingStore

from shared.errors import InvalidInputError, RouteVersionConflictError
from tests.flexcache_dr.builders import T0, observation, topology

TOP = topology()
POLICY = Policy(drain_after=2, restore_after=2)


def _observe(stores: Stores, at, failing=()) -> None:
    for m in TOP.members:
        stores.health.put(
            observation(m.member_id, at, passed=m.member_id not in failing, run_id=f"r-{at:%H%M%S}")
        )


def _cycle(stores: Stores, now, **kwargs: Any):
    return run_cycle(
        stores, POLICY, run_id=f"run-{now:%H%M%S}", actor=kwargs.pop("actor", "scheduler"), now=now, **kwargs
    )


@pytest.fixture
def ready(aws: Any) -> Stores:
    aws.stores.topology.replace(TOP, source="test", now=T0)
    _observe(aws.stores, T0 - timedelta(minutes=1))
    _cycle(aws.stores, T0)
    return aws.stores


def test_the_first_cycle_publishes_every_route_and_the_next_publishes_nothing(ready: Stores) -> None:
    state = ready.routing.load()
    assert state.version == 1
    assert state.route_targets()["us-west-2"] == "cache-usw2"
    _observe(ready, T0 + timedelta(seconds=30))
    again = _cycle(ready, T0 + timedelta(minutes=1))
    assert not again.plan.changed
    assert ready.routing.load().version == 1


def test_an_operator_override_is_committed_with_the_route_it_changes_and_both_are_audited(
    ready: Stores,
) -> None:
    now = T0 + timedelta(minutes=2)
    result = _cycle(
        ready,
        now,
        override={
            "client_region": "us-west-2",
            "target": "cache-euw1",
            "duration_minutes": 30,
            "reason": "CHG-7 usw2 upgrade",
            "actor": "alice",
        },
    )
    assert result.plan.actor == "operator:alice"
    state = ready.routing.load()
    assert state.route_targets()["us-west-2"] == "cache-euw1"
    assert state.routes["us-west-2"].override and state.routes["us-west-2"].version == 2
    assert state.overrides["us-west-2"].expires_at == now + timedelta(minutes=30)
    (pin,) = ready.routing.audit_trail("override#us-west-2")
    assert (
        pin["actor"] == "operator:alice" and pin["new"]["target"] == "cache-euw1" and pin["previous"] is None
    )
    route_trail = ready.routing.audit_trail("route#us-west-2")
    assert [(r["previous"], r["new"], r["actor"]) for r in route_trail] == [
        ("(unpublished)", "cache-usw2", "scheduler"),
        ("cache-usw2", "cache-euw1", "operator:alice"),
    ]
    assert "operator override by alice" in route_trail[-1]["reason"]
    # clearing it puts the region back on its own cache, audited too
    cleared = _cycle(
        ready,
        now + timedelta(minutes=1),
        override={"client_region": "us-west-2", "clear": True, "reason": "done", "actor": "alice"},
    )
    assert cleared.plan.override_changes[0].new is None
    assert ready.routing.load().route_targets()["us-west-2"] == "cache-usw2"
    assert "us-west-2" not in ready.routing.load().overrides


def test_clearing_an_override_that_does_not_exist_changes_nothing(ready: Stores) -> None:
    result = _cycle(
        ready,
        T0 + timedelta(minutes=1),
        override={"client_region": "us-west-2", "clear": True, "reason": "tidy", "actor": "alice"},
    )
    assert not result.plan.changed


class InterleavedRouting:
    """A RoutingStore in which another execution commits between this one's read and its commit."""

    def __init__(self, inner: RoutingStore, competitor) -> None:
        self.inner = inner
        self.competitor = competitor
        self.commits = 0

    def load(self):
        return self.inner.load()

    def commit(self, plan: PublicationPlan) -> None:
        self.commits += 1
        if self.competitor is not None:
            competitor, self.competitor = self.competitor, None
            competitor()
        self.inner.commit(plan)

    def audit_trail(self, subject: str):
        return self.inner.audit_trail(subject)


def test_concurrent_decisions_never_lose_an_update(ready: Stores) -> None:
    # Given cache-usw2 failed twice (the scheduler will drain it and move us-west-2 to the origin)
    _observe(ready, T0 + timedelta(seconds=10), failing=["cache-usw2"])
    _observe(ready, T0 + timedelta(seconds=20), failing=["cache-usw2"])
    now = T0 + timedelta(minutes=1)

    # and an operator pins us-west-2 to cache-euw1 after the scheduler read the state, before it commits
    def operator() -> None:
        _cycle(
            ready,
            now,
            override={
                "client_region": "us-west-2",
                "target": "cache-euw1",
                "duration_minutes": 60,
                "reason": "CHG-9",
                "actor": "bob",
            },
        )

    interleaved = replace(ready, routing=InterleavedRouting(ready.routing, operator))
    # When the scheduler commits its decision made on the stale state
    with pytest.raises(RouteVersionConflictError):
        _cycle(interleaved, now)
    # Then nothing of the stale decision was written: us-west-2 is not put back on the origin
    state = ready.routing.load()
    assert state.version == 2
    assert state.route_targets()["us-west-2"] == "cache-euw1"
    assert state.members["cache-usw2"].state == "drained"  # the operator's decision saw the failures too

    # When the scheduler retries (the state machine's Retry on RouteVersionConflictError)
    retried = _cycle(interleaved, now)
    # Then it decides on the fresh state, where the pin is honoured: nothing is left to change
    assert not retried.plan.changed
    assert retried.decision.routes["us-west-2"].override
    state = ready.routing.load()
    assert state.version == 2 and state.route_targets()["us-west-2"] == "cache-euw1"
    trail = ready.routing.audit_trail("route#us-west-2")
    assert [(r["new"], r["actor"], r["state_version"]) for r in trail] == [
        ("cache-usw2", "scheduler", 1),
        ("cache-euw1", "operator:bob", 2),
    ]
    assert interleaved.routing.commits == 2


def test_without_the_pin_the_same_failures_move_us_west_2_to_the_origin(ready: Stores) -> None:
    """What the scheduler's stale plan held above, and the conflict kept from overwriting the pin."""
    _observe(ready, T0 + timedelta(seconds=10), failing=["cache-usw2"])
    _observe(ready, T0 + timedelta(seconds=20), failing=["cache-usw2"])
    stale = _cycle(ready, T0 + timedelta(minutes=1))
    assert [(c.client_region, c.new) for c in stale.plan.route_changes] == [("us-west-2", "origin-use1")]


# --- loading the topology ------------------------------------------------------------------------


def _load(stores: Stores, *, document: object = None, parameter: str = "") -> dict[str, Any]:
    return load_topology(
        stores.topology, document=document, parameter=parameter, secret_prefix="fsxn/", region=None, now=T0
    )


def test_a_topology_is_loaded_from_the_input_first_then_the_parameter_and_only_when_it_changed(
    aws: Any,
) -> None:
    stores: Stores = aws.stores
    with pytest.raises(InvalidInputError, match="no topology loaded yet"):
        _load(stores)
    first = _load(stores, parameter=json.dumps(TOP.to_document()))
    assert first["written"] and first["source"] == "TopologyDocument parameter"
    assert [m["member_id"] for m in first["members"]] == list(TOP.member_ids)
    assert not _load(stores, parameter=json.dumps(TOP.to_document()))["written"]
    smaller = topology([("cache-usw2", "us-west-2")]).to_document()
    second = _load(stores, document=smaller, parameter=json.dumps(TOP.to_document()))
    assert second["written"] and second["source"] == "execution input" and len(second["members"]) == 2
    stored = _load(stores)
    assert stored["source"] == "stored" and not stored["written"] and len(stored["members"]) == 2


def test_an_invalid_topology_never_replaces_a_working_one(aws: Any) -> None:
    stores: Stores = aws.stores
    _load(stores, document=TOP.to_document())
    broken = TOP.to_document()
    broken["members"][1]["weight"] = "heavy"
    with pytest.raises(InvalidInputError, match=r"members\[1\].weight"):
        _load(stores, document=broken)
    assert stores.topology.load()[0] == TOP
