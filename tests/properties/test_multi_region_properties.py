"""Multi-region properties, against the production code:

* #13 failover ordering — the primary is always asked first; the secondary only after a
  failover-class error (timeout, connection error, throttling, 5xx) and never after a client
  error; with a circuit breaker, the primary is skipped only after ``failure_threshold``
  consecutive failover-class failures and for less than the cool-down;
* #14 resource isolation — no name of one region equals any name of another region, for any
  deployment, kinds and purposes; global names are the same everywhere and never regional;
* #15 active-passive — the secondary processes nothing while Route 53 reports the primary healthy
  and takes over when it does not; exactly one region is active for any signal and override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from shared.cross_region_client import FAILOVER_METRIC, CircuitBreaker, CrossRegionClient, failover_reason
from shared.errors import CrossRegionUnavailableError
from shared.naming import PURPOSE_PATTERN, ResourceKind, global_name, regional_name
from shared.observability import metrics
from shared.region_role import (
    Health,
    RegionRoleGuard,
    RegionRoleSettings,
    RegionStatusTable,
    Route53HealthMetric,
    decide_role,
)

PRIMARY = "ap-northeast-1"
SECONDARY = "us-east-1"

# --- #13 failover ordering ------------------------------------------------------------------------


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetItem")


FAILOVER_ERRORS = st.sampled_from(
    [
        lambda: ReadTimeoutError(endpoint_url="https://x"),
        lambda: ConnectTimeoutError(endpoint_url="https://x"),
        lambda: EndpointConnectionError(endpoint_url="https://x"),
        lambda: ConnectionClosedError(endpoint_url="https://x"),
        lambda: client_error("InternalServerError", 500),
        lambda: client_error("ServiceUnavailable", 503),
        lambda: client_error("ThrottlingException", 400),
        lambda: client_error("ProvisionedThroughputExceededException", 400),
        lambda: client_error("TooManyRequestsException", 429),
    ]
)
CLIENT_ERRORS = st.builds(
    client_error,
    st.sampled_from(
        [
            "AccessDenied",
            "ValidationException",
            "ResourceNotFoundException",
            "NoSuchKey",
            "ConditionalCheckFailed",
        ]
    ),
    st.sampled_from([400, 401, 403, 404, 409, 412]),
)
OUTCOMES = st.one_of(
    st.just("ok"),
    FAILOVER_ERRORS.map(lambda make: make()),
    CLIENT_ERRORS,
)


@dataclass
class ScriptedClient:
    """A region's client: answers ``get_item`` with the next scripted outcome, records each call."""

    region: str
    log: list[str]
    outcomes: list[Any] = field(default_factory=list)

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.log.append(self.region)
        assert request["TableName"] == f"tokens-{self.region}"  # its own table, always
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return {"Item": {"served_by": {"S": self.region}}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(
    accesses=st.lists(st.tuples(OUTCOMES, OUTCOMES, st.floats(0, 40)), min_size=1, max_size=12),
    breaker_settings=st.none() | st.tuples(st.integers(1, 3), st.floats(5, 60)),
)
def test_13_primary_first_secondary_only_after_a_failover_class_error(
    accesses: list[tuple[Any, Any, float]], breaker_settings: tuple[int, float] | None
) -> None:
    metrics.clear_metrics()
    log: list[str] = []
    clients = {region: ScriptedClient(region, log) for region in (PRIMARY, SECONDARY)}
    clock = Clock()
    breaker = None
    if breaker_settings is not None:
        breaker = CircuitBreaker(
            failure_threshold=breaker_settings[0], cool_down_seconds=breaker_settings[1], clock=clock
        )
    client = CrossRegionClient(
        "dynamodb",
        PRIMARY,
        SECONDARY,
        resources={region: {"TableName": f"tokens-{region}"} for region in (PRIMARY, SECONDARY)},
        client_factory=lambda _service, region: clients[region],
        circuit_breaker=breaker,
    )
    primary_history: list[tuple[float, bool]] = []  # (time, failed with a failover-class error)
    reached_secondary = 0

    for primary_outcome, secondary_outcome, wait in accesses:
        clock.now += wait
        clients[PRIMARY].outcomes = [primary_outcome]
        clients[SECONDARY].outcomes = [secondary_outcome]
        start = len(log)
        try:
            result: Any = client.access_with_failover("get_item", Key={"k": {"S": "run"}})
        except (ClientError, CrossRegionUnavailableError) as error:  # nothing else may escape
            result = error
        calls = log[start:]
        reached_secondary += SECONDARY in calls

        assert calls in ([PRIMARY], [PRIMARY, SECONDARY], [SECONDARY])
        if calls[0] == PRIMARY:
            primary_failed = (
                failover_reason(primary_outcome) is not None if primary_outcome != "ok" else False
            )
            primary_history.append((clock.now, primary_failed))
            # the secondary is asked exactly when the primary failed with a failover-class error
            assert (calls == [PRIMARY, SECONDARY]) == primary_failed
            if primary_outcome != "ok" and not primary_failed:
                assert result is primary_outcome  # a client error comes back as is
        else:
            # skipping the primary needs a breaker opened by consecutive failures, within the cool-down
            assert breaker_settings is not None
            threshold, cool_down = breaker_settings
            recent = primary_history[-threshold:]
            assert len(recent) == threshold
            assert all(failed for _, failed in recent)
            assert clock.now - primary_history[-1][0] < cool_down
        if SECONDARY in calls and secondary_outcome == "ok":
            assert result["Item"]["served_by"]["S"] == SECONDARY
        if (
            SECONDARY in calls
            and secondary_outcome != "ok"
            and failover_reason(secondary_outcome) is not None
        ):
            assert isinstance(result, CrossRegionUnavailableError)

    entry = metrics.metric_set.get(FAILOVER_METRIC)
    assert (sum(entry["Value"]) if entry else 0) == reached_secondary
    metrics.clear_metrics()


# --- #14 no name collisions -----------------------------------------------------------------------

DEPLOYMENTS = st.from_regex(r"\A[a-z][a-z0-9-]{1,22}[a-z0-9]\Z").filter(
    lambda name: not name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
)
REGIONS = st.from_regex(r"\A[a-z]{2}(-[a-z]{1,9}){1,2}-[0-9]{1,2}\Z").filter(lambda region: len(region) <= 20)
PURPOSES = st.from_regex(PURPOSE_PATTERN.replace("^", r"\A").replace("$", r"\Z"))


def names_of(deployment: str, region: str, purposes: list[str]) -> set[str]:
    names = {regional_name(deployment, region, ResourceKind.STACK)}
    for kind in ResourceKind:
        for purpose in purposes:
            if kind is ResourceKind.BUCKET and purpose.endswith(("-s3alias", "--ol-s3", "--x-s3")):
                continue
            names.add(regional_name(deployment, region, kind, purpose))
    return names


@given(
    deployment=DEPLOYMENTS,
    regions=st.lists(REGIONS, min_size=2, max_size=2, unique=True),
    purposes=st.lists(PURPOSES, min_size=1, max_size=5),
    other_purposes=st.lists(PURPOSES, min_size=1, max_size=5),
)
def test_14_primary_and_secondary_names_never_collide(
    deployment: str, regions: list[str], purposes: list[str], other_purposes: list[str]
) -> None:
    primary, secondary = regions
    primary_names = names_of(deployment, primary, purposes)
    secondary_names = names_of(deployment, secondary, other_purposes)
    assert not primary_names & secondary_names
    global_names = {global_name(deployment, ResourceKind.TABLE, purpose) for purpose in purposes}
    assert not global_names & (primary_names | secondary_names)
    for name in primary_names | secondary_names | global_names:
        assert len(name) <= 63  # fits even an S3 bucket, without truncation


@given(
    first=st.tuples(DEPLOYMENTS, REGIONS),
    second=st.tuples(DEPLOYMENTS, REGIONS),
    purpose=PURPOSES,
)
def test_14_a_stack_name_region_pair_has_names_of_its_own(
    first: tuple[str, str], second: tuple[str, str], purpose: str
) -> None:
    # Same purpose, different regions: different names, whatever the two deployments are called.
    if first[1] == second[1]:
        return
    assert regional_name(*first, ResourceKind.TABLE, purpose) != regional_name(
        *second, ResourceKind.TABLE, purpose
    )


# --- #15 active-passive -------------------------------------------------------------------------

HEALTH_CHECK = "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b"
NOW = 1_800_000_000.0
DATAPOINTS = st.lists(
    st.tuples(st.integers(0, 299), st.sampled_from([0.0, 1.0])), max_size=6, unique_by=lambda point: point[0]
)


@pytest.fixture(scope="module")
def stubbed() -> dict[str, Any]:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    dynamodb = {region: boto3.client("dynamodb", region_name=region) for region in (PRIMARY, SECONDARY)}
    stubbers = {"cloudwatch": Stubber(cloudwatch), **{region: Stubber(c) for region, c in dynamodb.items()}}
    for stubber in stubbers.values():
        stubber.activate()
    return {"cloudwatch": cloudwatch, "dynamodb": dynamodb, "stubbers": stubbers}


def guard_of(stubbed: dict[str, Any], region: str) -> RegionRoleGuard:
    settings = RegionRoleSettings.from_env(
        {
            "AWS_REGION": region,
            "MULTI_REGION_ENABLED": "true",
            "PRIMARY_REGION": PRIMARY,
            "SECONDARY_REGION": SECONDARY,
            "PRIMARY_HEALTH_CHECK_ID": HEALTH_CHECK,
            "REGION_STATUS_TABLE": "legal-prod-global-region-status",
        }
    )
    return RegionRoleGuard(
        settings,
        health=Route53HealthMetric(HEALTH_CHECK, cloudwatch=stubbed["cloudwatch"], clock=lambda: NOW),
        override=RegionStatusTable("legal-prod-global-region-status", dynamodb=stubbed["dynamodb"][region]),
    )


@given(datapoints=DATAPOINTS)
def test_15_secondary_inactive_while_the_primary_is_healthy_active_otherwise(
    stubbed: dict[str, Any], datapoints: list[tuple[int, float]]
) -> None:
    now = datetime.fromtimestamp(NOW, tz=UTC)
    points = sorted(((now - timedelta(seconds=age), value) for age, value in datapoints), reverse=True)
    roles = {}
    for region in (PRIMARY, SECONDARY):
        stubbed["stubbers"][region].add_response("get_item", {})  # no override
        stubbed["stubbers"]["cloudwatch"].add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {
                        "Id": "primaryhealth",
                        "Timestamps": [timestamp for timestamp, _ in points],
                        "Values": [value for _, value in points],
                        "StatusCode": "Complete",
                    }
                ]
            },
        )
        roles[region] = guard_of(stubbed, region).check()
    for stubber in stubbed["stubbers"].values():
        stubber.assert_no_pending_responses()

    primary_healthy = (not points) or points[0][1] == 1.0  # the latest datapoint; none keeps static roles
    assert roles[SECONDARY].active is (not primary_healthy)
    assert roles[PRIMARY].active is primary_healthy
    assert roles[PRIMARY].active_region == roles[SECONDARY].active_region


@given(
    regions=st.lists(REGIONS, min_size=2, max_size=2, unique=True),
    health=st.sampled_from(list(Health)),
    override=st.sampled_from([None, 0, 1]),
)
def test_15_exactly_one_region_is_active_for_any_signal_and_override(
    regions: list[str], health: Health, override: int | None
) -> None:
    primary, secondary = regions
    chosen = None if override is None else regions[override]
    decisions = [decide_role(region, primary, secondary, health, chosen) for region in regions]
    assert sum(decision.active for decision in decisions) == 1
    if chosen is None:
        assert decisions[1].active is (health is Health.UNHEALTHY)
    else:
        assert decisions[regions.index(chosen)].active
