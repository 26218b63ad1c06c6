"""LoadTopologyFunction with the event files, on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flexcache_dr.handlers.load_topology import handler

from shared.errors import InvalidInputError


@pytest.fixture
def environ(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in aws.environ.items():
        monkeypatch.setenv(name, value)
    return aws


def test_a_topology_file_is_validated_stored_and_its_members_returned(
    environ: Any, event_loader: Any, lambda_context: Any
) -> None:
    result = handler(event_loader("flexcache-anycast-dr/load_topology"), lambda_context)
    assert result["written"] and result["source"] == "execution input"
    assert [m["member_id"] for m in result["members"]] == [
        "origin-use1",
        "cache-usw2",
        "cache-euw1",
        "cache-apne1",
    ]
    assert result["client_regions"][-1] == "eu-central-1"
    stored = handler(event_loader("flexcache-anycast-dr/load_topology-stored"), lambda_context)
    assert stored["source"] == "stored" and not stored["written"]
    assert stored["fingerprint"] == result["fingerprint"]


def test_the_topology_parameter_is_used_when_the_input_has_none(
    environ: Any, event_loader: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = event_loader("flexcache-anycast-dr/load_topology")["document"]
    monkeypatch.setenv("TOPOLOGY_DOCUMENT", json.dumps(document))
    result = handler(event_loader("flexcache-anycast-dr/load_topology-stored"), lambda_context)
    assert result["written"] and result["source"] == "TopologyDocument parameter"


def test_without_any_topology_the_run_fails_with_a_clear_error(
    environ: Any, event_loader: Any, lambda_context: Any
) -> None:
    with pytest.raises(InvalidInputError, match="no topology loaded yet"):
        handler(event_loader("flexcache-anycast-dr/load_topology-stored"), lambda_context)
