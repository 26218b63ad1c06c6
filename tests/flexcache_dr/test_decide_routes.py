"""DecideRoutesFunction with the event files (scheduled run, operator override, clear)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flexcache_dr.handlers.decide_routes import handler
from flexcache_dr.topology import parse_topology

from shared.errors import InvalidInputError
from tests.flexcache_dr.builders import observation


@pytest.fixture
def loaded(aws: Any, event_loader: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in aws.environ.items():
        monkeypatch.setenv(name, value)
    topology = parse_topology(event_loader("flexcache-anycast-dr/load_topology")["document"])
    aws.stores.topology.replace(topology, source="test", now=datetime.now(UTC))
    for member in topology.members:
        aws.stores.health.put(observation(member.member_id, datetime.now(UTC) - timedelta(seconds=5)))
    return aws


def test_a_scheduled_run_publishes_every_client_region(
    loaded: Any, event_loader: Any, lambda_context: Any
) -> None:
    result = handler(event_loader("flexcache-anycast-dr/decide_routes"), lambda_context)
    assert result["summary"]["routes"] == {
        "ap-northeast-1": "cache-apne1",
        "eu-central-1": "origin-use1",
        "eu-west-1": "cache-euw1",
        "us-east-1": "origin-use1",
        "us-west-2": "cache-usw2",
    }
    publication = result["publication"]
    assert publication["changed"] and publication["route_changes"] == 5 and publication["state_version"] == 1
    assert publication["alert"]["severity"] == "info"
    again = handler(event_loader("flexcache-anycast-dr/decide_routes"), lambda_context)
    assert again["publication"]["changed"] is False and again["publication"]["alert"] is None


def test_an_override_pins_the_route_and_clearing_it_restores_it(
    loaded: Any, event_loader: Any, lambda_context: Any
) -> None:
    handler(event_loader("flexcache-anycast-dr/decide_routes"), lambda_context)
    pinned = handler(event_loader("flexcache-anycast-dr/decide_routes-override"), lambda_context)
    assert pinned["summary"]["routes"]["us-west-2"] == "cache-euw1"
    assert pinned["summary"]["actor"] == "operator:alice"
    kinds = [e["detail_type"] for e in pinned["publication"]["events"]]
    assert kinds == ["RouteChanged", "RouteOverrideChanged"]
    cleared = handler(event_loader("flexcache-anycast-dr/decide_routes-override-clear"), lambda_context)
    assert cleared["summary"]["routes"]["us-west-2"] == "cache-usw2"


def test_a_run_without_run_id_is_refused(loaded: Any, lambda_context: Any) -> None:
    with pytest.raises(InvalidInputError, match="run_id"):
        handler({"actor": "scheduler"}, lambda_context)
