"""RunDrillFunction with the event files: one per scenario, plus apply."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flexcache_dr.handlers.decide_routes import handler as decide
from flexcache_dr.handlers.run_drill import handler
from flexcache_dr.topology import parse_topology

from shared.errors import InvalidInputError
from tests.flexcache_dr.builders import observation


@pytest.fixture
def live(aws: Any, event_loader: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in aws.environ.items():
        monkeypatch.setenv(name, value)
    topology = parse_topology(event_loader("flexcache-anycast-dr/load_topology")["document"])
    aws.stores.topology.replace(topology, source="test", now=datetime.now(UTC))
    for member in topology.members:
        aws.stores.health.put(observation(member.member_id, datetime.now(UTC) - timedelta(seconds=5)))
    decide(event_loader("flexcache-anycast-dr/decide_routes"), lambda_context)
    return aws


@pytest.mark.parametrize(
    ("event", "verdict"),
    [
        ("run_drill", "1 client region(s) would move: us-west-2 cache-usw2 -> origin-use1"),
        ("run_drill-region_down", "1 client region(s) would move: eu-west-1 cache-euw1 -> origin-use1"),
        (
            "run_drill-latency_spike",
            "1 client region(s) would move: ap-northeast-1 cache-apne1 -> origin-use1",
        ),
        ("run_drill-origin_unreachable", "CRITICAL: no read path for "),
    ],
)
def test_each_drill_event_writes_its_report_and_changes_nothing_live(
    live: Any, event_loader: Any, lambda_context: Any, event: str, verdict: str
) -> None:
    before = live.stores.routing.load()
    result = handler(event_loader(f"flexcache-anycast-dr/{event}"), lambda_context)
    assert result["verdict"].startswith(verdict)
    assert result["applied"] is False and result["publication"]["changed"] is False
    body = live.s3.get_object(Bucket="test-output", Key=result["report"]["key"])["Body"].read()
    assert json.loads(body)["verdict"] == result["verdict"]
    assert live.stores.routing.load() == before


def test_apply_moves_live_routes_outside_production_only(
    live: Any, event_loader: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = event_loader("flexcache-anycast-dr/run_drill-apply")
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "production")
    with pytest.raises(InvalidInputError, match="production"):
        handler(event, lambda_context)
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "staging")
    result = handler(event, lambda_context)
    assert result["applied"] and result["publication"]["changed"]
    assert live.stores.routing.load().route_targets()["eu-west-1"] == "origin-use1"
