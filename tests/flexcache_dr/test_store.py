"""DynamoDB adapters (moto, tables as in template.yaml): round trips, TTLs, typed errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from flexcache_dr.decision import Policy, decide
from flexcache_dr.publication import RoutingState, plan_publication
from flexcache_dr.store import HealthStore, RoutingStore, TopologyStore, deserialize, serialize

from shared.errors import InvalidInputError, RouteVersionConflictError, RoutingStoreUnavailableError
from tests.flexcache_dr.builders import T0, history_of, observation, topology

TOP = topology()


def test_topology_replace_and_load_round_trip_and_remove_dropped_members(aws: Any) -> None:
    store: TopologyStore = aws.stores.topology
    assert store.load() is None
    store.replace(TOP, source="test", now=T0)
    loaded, fingerprint = store.load(secret_prefix="fsxn/")
    assert loaded == TOP and fingerprint == TOP.fingerprint()
    smaller = topology([("cache-usw2", "us-west-2")])
    store.replace(smaller, source="test", now=T0)
    assert store.load()[0] == smaller
    keys = {item["pk"]["S"] for item in aws.dynamodb.scan(TableName=aws.tables["topology"])["Items"]}
    assert keys == {"topology", "member#origin-use1", "member#cache-usw2"}


def test_health_history_is_newest_first_bounded_and_expires(aws: Any) -> None:
    store: HealthStore = aws.stores.health
    for minutes in range(6):
        store.put(observation("cache-usw2", T0 + timedelta(minutes=minutes), run_id=f"run-{minutes}"))
    recent = store.recent(["cache-usw2", "cache-euw1"], 3)
    assert [o.run_id for o in recent["cache-usw2"]] == ["run-5", "run-4", "run-3"]
    assert recent["cache-euw1"] == []
    item = aws.dynamodb.scan(TableName=aws.tables["health"], Limit=1)["Items"][0]
    stored = deserialize(item)
    assert stored["expires_at"] > (T0 + timedelta(hours=47)).timestamp()


def test_a_malformed_stored_health_record_is_rejected_with_its_key(aws: Any) -> None:
    aws.dynamodb.put_item(
        TableName=aws.tables["health"],
        Item=serialize(
            {
                "member_id": "cache-usw2",
                "observed_at": "2026-03-01T12:00:00.000000+00:00#run-x",
                "run_id": "run-x",
                "checks": {"svm": True, "volume": True, "probe": "yes"},
                "latency_ms": 5,
            }
        ),
    )
    with pytest.raises(InvalidInputError) as raised:
        aws.stores.health.recent(["cache-usw2"], 5)
    assert raised.value.field.endswith(".checks.probe")
    assert "health record cache-usw2/2026-03-01T12:00:00.000000+00:00#run-x" in raised.value.field


def _first_plan(state: RoutingState, *, actor: str = "scheduler"):
    decision = decide(
        TOP, history_of(TOP), previous={}, current_routes={}, overrides={}, policy=Policy(), now=T0
    )
    return plan_publication(
        TOP, decision, state, actor=actor, run_id="run-1", now=T0, strategy="region_affinity"
    )


def test_a_commit_writes_routes_members_and_audit_atomically_and_reads_back(aws: Any) -> None:
    routing: RoutingStore = aws.stores.routing
    plan = _first_plan(routing.load())
    routing.commit(plan)
    state = routing.load()
    assert state.version == 1
    assert state.route_targets() == {c.client_region: c.new for c in plan.route_changes}
    assert all(route.version == 1 for route in state.routes.values())
    assert set(state.members) == set(TOP.member_ids)
    trail = routing.audit_trail("route#us-west-2")
    assert len(trail) == 1
    assert trail[0]["new"] == "cache-usw2" and trail[0]["actor"] == "scheduler"
    assert trail[0]["evidence"]["new_target"]["state"] == "in_service"


def test_a_commit_on_a_stale_version_is_a_conflict_and_writes_nothing(aws: Any) -> None:
    routing: RoutingStore = aws.stores.routing
    stale = routing.load()
    routing.commit(_first_plan(stale))
    with pytest.raises(RouteVersionConflictError) as raised:
        routing.commit(_first_plan(stale, actor="operator:bob"))
    assert raised.value.details["expected_version"] == 0
    assert [r["actor"] for r in routing.audit_trail("route#us-west-2")] == ["scheduler"]
    assert routing.load().version == 1


class _Failing:
    def __init__(self, code: str) -> None:
        self.code = code

    def _fail(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": self.code, "Message": "x"}}, "Op")

    scan = query = put_item = transact_write_items = _fail


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ProvisionedThroughputExceededException", RoutingStoreUnavailableError),
        ("InternalServerError", RoutingStoreUnavailableError),
        ("ResourceNotFoundException", InvalidInputError),
        ("ValidationException", ClientError),
    ],
)
def test_dynamodb_errors_become_typed_errors(code: str, expected: type[Exception]) -> None:
    client = _Failing(code)
    with pytest.raises(expected):
        RoutingStore(client, "r", "a").load()
    with pytest.raises(expected):
        HealthStore(client, "h", retention=timedelta(hours=1)).put(observation("cache-usw2", T0))
    with pytest.raises(expected):
        RoutingStore(client, "r", "a").commit(_first_plan(RoutingState()))


def test_a_transaction_cancelled_for_another_reason_is_retryable() -> None:
    class Cancelled:
        def transact_write_items(self, **_: Any) -> Any:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "x"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )

    with pytest.raises(RoutingStoreUnavailableError, match="TransactionConflict"):
        RoutingStore(Cancelled(), "r", "a").commit(_first_plan(RoutingState()))
