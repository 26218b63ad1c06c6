"""Failover drills: the real decision on an overlay of health; a report; live routes untouched."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flexcache_dr.cycle import Snapshot, Stores, run_cycle
from flexcache_dr.decision import Policy
from flexcache_dr.drills import DrillRequest, execute_drill, overlay, report_markdown, run_drill
from flexcache_dr.publication import RoutingState

from shared.errors import InvalidInputError
from shared.s3ap import OutputLocation
from tests.flexcache_dr.builders import T0, history_of, observation, states, topology

TOP = topology()
POLICY = Policy(drain_after=3, restore_after=3)


def _snapshot(history=None) -> Snapshot:
    """Live state: every member in service for an hour, nothing published yet."""
    return Snapshot(
        topology=TOP, state=RoutingState(members=states(TOP)), history=history or history_of(TOP, rounds=3)
    )


def _drill(raw: dict[str, Any], *, environment: str = "staging", policy: Policy = POLICY, history=None):
    request = DrillRequest.from_event(raw, TOP, policy)
    return run_drill(_snapshot(history), request, policy, environment=environment, run_id="drill-1", now=T0)


@pytest.mark.parametrize(
    ("raw", "changes", "critical"),
    [
        (
            {"scenario": "cache_down", "target": "cache-usw2"},
            {"us-west-2": ("cache-usw2", "origin-use1")},
            [],
        ),
        (
            {"scenario": "region_down", "region": "eu-west-1"},
            {"eu-west-1": ("cache-euw1", "origin-use1")},
            [],
        ),
        (
            {"scenario": "latency_spike", "target": "cache-apse1"},
            {"ap-southeast-1": ("cache-apse1", "origin-use1")},
            [],
        ),
        (
            {"scenario": "origin_unreachable"},
            {
                "ap-southeast-1": ("cache-apse1", None),
                "eu-west-1": ("cache-euw1", None),
                "us-east-1": ("origin-use1", None),
                "us-west-2": ("cache-usw2", None),
            },
            ["ap-southeast-1", "eu-west-1", "us-east-1", "us-west-2"],
        ),
    ],
)
def test_each_scenario_reports_what_would_change(raw, changes, critical) -> None:
    outcome = _drill(raw)
    report = outcome.report
    assert {c["client_region"]: (c["from"], c["to"]) for c in report["changes"]} == changes
    assert report["critical_regions"] == critical
    assert report["applied"] is False and outcome.plan is None
    assert report["checks_simulated"] == POLICY.drain_after
    assert report["verdict"].startswith("CRITICAL" if critical else "1 client region(s) would move")
    json.dumps(report)  # the report is JSON as written


def test_origin_unreachable_with_disconnected_caches_served_moves_only_the_origin_region() -> None:
    policy = Policy(drain_after=3, restore_after=3, disconnected_caches="serve")
    report = _drill({"scenario": "origin_unreachable"}, policy=policy).report
    (change,) = report["changes"]
    assert (change["client_region"], change["from"], change["to"]) == (
        "us-east-1",
        "origin-use1",
        "cache-usw2",
    )
    assert change["reason"] == "last resort: origin drained, best in-service cache by priority"
    assert report["critical_regions"] == []


def test_fewer_simulated_checks_than_n_change_nothing_hysteresis_included() -> None:
    report = _drill({"scenario": "cache_down", "target": "cache-usw2", "checks": 2}).report
    assert report["changes"] == [] and report["verdict"] == "no route would change"


def test_a_latency_spike_below_the_threshold_moves_nothing_under_region_affinity() -> None:
    report = _drill({"scenario": "latency_spike", "target": "cache-apse1", "latency_ms": 400}).report
    assert report["changes"] == []


def test_the_overlay_keeps_real_history_and_adds_rounds_after_now() -> None:
    history = history_of(TOP, rounds=2)
    request = DrillRequest.from_event({"scenario": "cache_down", "target": "cache-usw2"}, TOP, POLICY)
    simulated, decided_at = overlay(TOP, history, request, POLICY, now=T0, run_id="d")
    assert len(simulated["cache-usw2"]) == 2 + 3
    added = simulated["cache-usw2"][2:]
    assert all(not o.checks["probe"] and o.observed_at > T0 for o in added)
    assert all(o.checks["probe"] for o in simulated["cache-euw1"][2:])
    assert decided_at > max(o.observed_at for o in added)
    assert history["cache-usw2"] == history_of(TOP, rounds=2)["cache-usw2"]  # the input is untouched


def test_a_member_never_observed_is_simulated_only_when_the_scenario_hits_it() -> None:
    history = history_of(TOP)
    del history["cache-apse1"]
    request = DrillRequest.from_event({"scenario": "latency_spike", "target": "cache-apse1"}, TOP, POLICY)
    simulated, _ = overlay(TOP, history, request, POLICY, now=T0, run_id="d")
    assert [o.latency_ms for o in simulated["cache-apse1"]] == [2000.0] * 3
    request = DrillRequest.from_event({"scenario": "cache_down", "target": "cache-usw2"}, TOP, POLICY)
    simulated, _ = overlay(TOP, history, request, POLICY, now=T0, run_id="d")
    assert simulated["cache-apse1"] == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"scenario": "meteor"}, "scenario"),
        ({"scenario": "cache_down"}, "target"),
        ({"scenario": "cache_down", "target": "origin-use1"}, "target"),
        ({"scenario": "cache_down", "target": "cache-nope"}, "target"),
        ({"scenario": "cache_down", "target": "cache-usw2", "region": "us-west-2"}, "region"),
        ({"scenario": "region_down", "region": "sa-east-1"}, "region"),
        ({"scenario": "origin_unreachable", "target": "cache-usw2"}, "target"),
        ({"scenario": "latency_spike", "target": "cache-usw2", "latency_ms": "slow"}, "latency_ms"),
        ({"scenario": "region_down", "region": "us-west-2", "latency_ms": 5}, "latency_ms"),
        ({"scenario": "origin_unreachable", "checks": 0}, "checks"),
        ({"scenario": "origin_unreachable", "apply": "true"}, "apply"),
        ({"scenario": "origin_unreachable", "actor": "a b"}, "actor"),
        ({"scenario": "origin_unreachable", "dry": True}, "drill"),
    ],
)
def test_invalid_drill_requests_are_refused(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        DrillRequest.from_event({**raw, "topology": None, "override": None}, TOP, POLICY)
    assert raised.value.field == field


def test_apply_is_refused_in_production_and_planned_elsewhere() -> None:
    raw = {"scenario": "cache_down", "target": "cache-usw2", "apply": True, "actor": "gameday"}
    with pytest.raises(InvalidInputError, match="production"):
        _drill(raw, environment="production")
    outcome = _drill(raw, environment="development")
    assert outcome.plan is not None and outcome.plan.actor == "drill:gameday"
    assert [c.new for c in outcome.plan.route_changes if c.client_region == "us-west-2"] == ["origin-use1"]


def test_the_markdown_report_shows_the_verdict_and_each_region() -> None:
    text = report_markdown(_drill({"scenario": "cache_down", "target": "cache-usw2"}).report)
    assert text.startswith("# Failover drill: cache_down")
    assert "**Verdict:** 1 client region(s) would move: us-west-2 cache-usw2 -> origin-use1" in text
    assert "| us-west-2 | — | cache-usw2 | origin-use1 |" in text
    assert "| cache-usw2 | in_service | drained |" in text


def _ready(aws: Any) -> Stores:
    stores: Stores = aws.stores
    stores.topology.replace(TOP, source="test", now=T0)
    for m in TOP.members:
        stores.health.put(observation(m.member_id, T0 - timedelta(seconds=30)))
    run_cycle(stores, POLICY, run_id="live", actor="scheduler", now=T0)
    return stores


def _execute(aws: Any, stores: Stores, raw: dict[str, Any], environment: str, run_id: str) -> dict[str, Any]:
    return execute_drill(
        stores,
        POLICY,
        raw,
        environment=environment,
        output=OutputLocation("test-output", "drills/"),
        s3=aws.s3,
        run_id=run_id,
        now=T0 + timedelta(minutes=1),
    )


def test_a_dry_run_writes_its_reports_and_leaves_live_routes_untouched(aws: Any) -> None:
    stores = _ready(aws)
    before = stores.routing.load()
    result = _execute(
        aws, stores, {"scenario": "cache_down", "target": "cache-usw2"}, "production", "drill-7"
    )
    assert result["publication"]["changed"] is False and result["changes"] == 1
    assert result["report"]["key"] == "drills/runs/drill-7/report.json"
    report = json.loads(aws.s3.get_object(Bucket="test-output", Key=result["report"]["key"])["Body"].read())
    assert report["live_routes"]["us-west-2"] == "cache-usw2"
    markdown = aws.s3.get_object(Bucket="test-output", Key=result["report"]["markdown_key"])["Body"].read()
    assert b"# Failover drill: cache_down" in markdown
    assert stores.routing.load() == before
    assert len(stores.routing.audit_trail("route#us-west-2")) == 1


def test_an_applied_drill_commits_like_a_real_failure_with_the_drill_as_actor(aws: Any) -> None:
    stores = _ready(aws)
    raw = {"scenario": "cache_down", "target": "cache-usw2", "apply": True, "actor": "gameday"}
    result = _execute(aws, stores, raw, "development", "drill-8")
    assert result["applied"] and result["publication"]["changed"]
    state = stores.routing.load()
    assert state.route_targets()["us-west-2"] == "origin-use1"
    assert state.members["cache-usw2"].state == "drained"
    last = stores.routing.audit_trail("route#us-west-2")[-1]
    assert last["actor"] == "drill:gameday" and last["run_id"] == "drill-8"
