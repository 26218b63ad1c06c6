"""What a decision publishes: changes, audit records, events and one alert per change set."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flexcache_dr.decision import DRAINED, IN_SERVICE, MemberState, Policy, decide
from flexcache_dr.publication import (
    MEMBER_STATE_CHANGED,
    ROUTE_CHANGED,
    OverrideRequest,
    PublishedRoute,
    RoutingState,
    plan_publication,
)

from shared.errors import InvalidInputError
from tests.flexcache_dr.builders import T0, history_of, states, topology

TOP = topology()


def _decision(failing=(), previous=None):
    return decide(
        TOP,
        history_of(TOP, failing=failing),
        previous=states(TOP) if previous is None else previous,
        current_routes={},
        overrides={},
        policy=Policy(drain_after=3),
        now=T0,
    )


def _published(decision, version: int = 4) -> RoutingState:
    return RoutingState(
        version=version,
        routes={r: PublishedRoute(r, route.target, 1) for r, route in decision.routes.items()},
        members={m: MemberState(a.state, a.since) for m, a in decision.members.items()},
    )


def _plan(decision, state, **kwargs: Any):
    return plan_publication(
        TOP, decision, state, actor="scheduler", run_id="run-9", now=T0, strategy="region_affinity", **kwargs
    )


def test_a_first_publication_writes_every_route_and_member_state() -> None:
    plan = _plan(_decision(previous={}), RoutingState())
    assert plan.changed and plan.expected_version == 0 and plan.new_version == 1
    assert [c.client_region for c in plan.route_changes] == list(TOP.client_regions)
    assert all(not c.previously_published and c.new_version == 1 for c in plan.route_changes)
    assert len(plan.member_changes) == len(TOP.members)
    records = plan.audit_records()
    assert {r["subject"] for r in records} >= {"route#us-west-2", "member#cache-usw2"}
    assert all(r["at"] == plan.audit_sort_key and r["state_version"] == 1 for r in records)
    assert next(r for r in records if r["subject"] == "route#us-west-2")["previous"] == "(unpublished)"
    assert plan.severity == "info"


def test_a_steady_state_publishes_nothing() -> None:
    decision = _decision()
    plan = _plan(decision, _published(decision))
    assert not plan.changed
    assert plan.to_output(TOP) == {
        "changed": False,
        "state_version": 4,
        "route_changes": 0,
        "member_changes": 0,
        "override_changes": 0,
        "critical_regions": [],
        "events": [],
        "alert": None,
    }


def test_a_drain_is_one_route_change_one_member_change_and_one_warning_alert() -> None:
    before = _decision()
    after = _decision(failing=["cache-usw2"])
    plan = _plan(after, _published(before))
    (route,) = plan.route_changes
    assert (route.client_region, route.previous, route.new) == ("us-west-2", "cache-usw2", "origin-use1")
    assert (route.previous_version, route.new_version) == (1, 2)
    assert route.evidence["previous_target"]["state"] == DRAINED
    assert route.evidence["previous_target"]["observations"][0]["failed"] == ["probe"]
    assert route.evidence["new_target"]["state"] == IN_SERVICE
    (member,) = plan.member_changes
    assert (member.member_id, member.previous, member.new) == ("cache-usw2", IN_SERVICE, DRAINED)
    output = plan.to_output(TOP)
    assert [e["detail_type"] for e in output["events"]] == [ROUTE_CHANGED, MEMBER_STATE_CHANGED]
    detail = output["events"][0]["detail"]
    assert detail["previous"]["access_point_alias"].startswith("cache-usw2-")
    assert detail["new"]["role"] == "origin" and detail["critical"] is False
    assert detail["state_version"] == 5 and detail["route_version"] == 2
    alert = output["alert"]
    assert alert["severity"] == "warning"
    assert alert["subject"] == "[WARNING] FlexCache routing: 1 route change(s)"
    assert "us-west-2: cache-usw2 (cache, us-west-2) -> origin-use1 (origin, us-east-1)" in alert["message"]
    assert "cache-usw2: in_service -> drained" in alert["message"]


def test_losing_every_path_is_a_critical_alert_naming_the_regions() -> None:
    before = _decision()
    after = _decision(failing=[m.member_id for m in TOP.members])
    plan = _plan(after, _published(before))
    alert = plan.alert(TOP)
    assert alert is not None and alert["severity"] == "critical"
    assert alert["subject"].startswith("[CRITICAL] FlexCache routing: no read path for ")
    assert len(alert["subject"]) <= 100
    assert "NO ROUTE" in alert["message"]
    assert all(e["detail"]["critical"] for e in plan.events(TOP) if e["detail_type"] == ROUTE_CHANGED)


# --- operator override requests ------------------------------------------------------------------


def _override(**changes: Any) -> dict[str, Any]:
    request = {
        "client_region": "us-west-2",
        "target": "cache-euw1",
        "duration_minutes": 60,
        "reason": "CHG-1: upgrade",
        "actor": "alice",
    }
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


def test_an_override_request_becomes_a_pin_until_its_expiry() -> None:
    request = OverrideRequest.from_event(_override(), TOP)
    pin = request.to_override(T0)
    assert pin is not None and pin.expires_at == T0 + timedelta(minutes=60) and pin.actor == "alice"
    clear = OverrideRequest.from_event(
        {"client_region": "us-west-2", "clear": True, "reason": "done", "actor": "alice"}, TOP
    )
    assert clear.clear and clear.to_override(T0) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"client_region": "sa-east-1"}, "override.client_region"),
        ({"target": "cache-zzz"}, "override.target"),
        ({"duration_minutes": 0}, "override.duration_minutes"),
        ({"duration_minutes": "60"}, "override.duration_minutes"),
        ({"duration_minutes": 7 * 24 * 60 + 1}, "override.duration_minutes"),
        ({"reason": " "}, "override.reason"),
        ({"actor": "alice smith"}, "override.actor"),
        ({"clear": True}, "override"),
        ({"clear": "yes"}, "override.clear"),
        ({"until": "tomorrow"}, "override"),
    ],
)
def test_invalid_override_requests_are_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        OverrideRequest.from_event(_override(**changes), TOP)
    assert raised.value.field == field
