"""shared.cross_region_client: which errors fail over, where each call goes, breaker and metric.

Timeouts and connection errors are raised by a botocore ``before-send`` hook (the request never
leaves the process); 5xx, throttling and 4xx answers come from botocore's Stubber, so the exact
request each region received is checked. The functional tests run moto's DynamoDB in two regions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.stub import Stubber
from moto import mock_aws

from shared.cross_region_client import (
    FAILOVER_METRIC,
    BreakerState,
    CircuitBreaker,
    CrossRegionClient,
    default_client_factory,
    failover_reason,
)
from shared.errors import CrossRegionUnavailableError, InvalidInputError
from shared.observability import metrics
from shared.snapstart import run_after_restore_hooks

PRIMARY = "ap-northeast-1"
SECONDARY = "us-east-1"
ACCOUNT = "123456789012"
PRIMARY_AP = f"arn:aws:s3:{PRIMARY}:{ACCOUNT}:accesspoint/vol1-ap"
SECONDARY_AP = f"arn:aws:s3:{SECONDARY}:{ACCOUNT}:accesspoint/vol1-dr-ap"
BUCKETS = {PRIMARY: {"Bucket": PRIMARY_AP}, SECONDARY: {"Bucket": SECONDARY_AP}}
NO_RETRIES = {"total_max_attempts": 1}


@pytest.fixture(autouse=True)
def _clean_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def failovers() -> float:
    entry = metrics.metric_set.get(FAILOVER_METRIC)
    return sum(entry["Value"]) if entry else 0


class Regions:
    """One real botocore client per region, each with a Stubber; records the clients created."""

    def __init__(self, service: str = "s3") -> None:
        self.service = service
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}
        self.created: list[str] = []
        self.sent: list[tuple[str, str]] = []  # (region, URL) of requests that reached the wire

    def factory(self, service: str, region: str) -> Any:
        assert service == self.service
        self.created.append(region)
        return self.client(region)

    def client(self, region: str) -> Any:
        if region not in self.clients:
            self.clients[region] = boto3.client(
                self.service, region_name=region, config=Config(retries=NO_RETRIES)
            )
        return self.clients[region]

    def stub(self, region: str) -> Stubber:
        """The region's Stubber (answers every request of that client from now on)."""
        if region not in self.stubbers:
            self.stubbers[region] = Stubber(self.client(region))
            self.stubbers[region].activate()
        return self.stubbers[region]

    def fail_with(self, region: str, error: Exception) -> None:
        """Every request of ``region``'s client raises ``error`` instead of being sent."""

        def raise_error(request: Any, **_: Any) -> None:
            self.sent.append((region, request.url))
            raise error

        # Registered first so it runs before the Stubber's own before-send answer.
        self.client(region).meta.events.register_first("before-send", raise_error)


@pytest.fixture
def regions() -> Regions:
    return Regions()


def cross_region(regions: Regions, **options: Any) -> CrossRegionClient:
    return CrossRegionClient(
        "s3", PRIMARY, SECONDARY, resources=BUCKETS, client_factory=regions.factory, **options
    )


def head_ok(stubber: Stubber, bucket: str, etag: str = '"e1"') -> None:
    stubber.add_response(
        "head_object", {"ETag": etag, "ContentLength": 3}, {"Bucket": bucket, "Key": "a.gds"}
    )


# --- what fails over --------------------------------------------------------------------------


def test_a_healthy_primary_answers_and_the_secondary_is_never_created(regions: Regions) -> None:
    head_ok(regions.stub(PRIMARY), PRIMARY_AP)

    response = cross_region(regions).access_with_failover("head_object", Key="a.gds")

    assert response["ETag"] == '"e1"'
    assert regions.created == [PRIMARY]
    assert failovers() == 0


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("InternalError", 500, "server"),
        ("ServiceUnavailable", 503, "server"),
        ("SlowDown", 503, "throttling"),
        ("ThrottlingException", 400, "throttling"),
        ("TooManyRequestsException", 429, "throttling"),
    ],
)
def test_server_errors_and_throttling_fail_over_to_the_secondarys_own_resource(
    regions: Regions, code: str, status: int, reason: str
) -> None:
    # Given the primary answers 5xx/throttling (botocore's retries exhausted)
    regions.stub(PRIMARY).add_client_error(
        "head_object", code, http_status_code=status, expected_params={"Bucket": PRIMARY_AP, "Key": "a.gds"}
    )
    head_ok(regions.stub(SECONDARY), SECONDARY_AP, etag='"dr"')

    # When
    response = cross_region(regions).access_with_failover("head_object", Key="a.gds")

    # Then the secondary answered, asked for ITS access point (Stubber checks the exact request)
    assert response["ETag"] == '"dr"'
    assert regions.created == [PRIMARY, SECONDARY]
    for stubber in regions.stubbers.values():
        stubber.assert_no_pending_responses()
    assert failovers() == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ReadTimeoutError(endpoint_url="https://primary"), "timeout"),
        (ConnectTimeoutError(endpoint_url="https://primary"), "timeout"),
        (EndpointConnectionError(endpoint_url="https://primary"), "connection"),
        (ConnectionClosedError(endpoint_url="https://primary"), "connection"),
    ],
)
def test_timeouts_and_connection_errors_fail_over(regions: Regions, error: Exception, reason: str) -> None:
    regions.fail_with(PRIMARY, error)
    head_ok(regions.stub(SECONDARY), SECONDARY_AP)

    cross_region(regions).access_with_failover("head_object", Key="a.gds")

    assert failover_reason(error) == reason
    assert [region for region, _ in regions.sent] == [PRIMARY]
    assert failovers() == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", 403),
        ("NoSuchKey", 404),
        ("404", 404),
        ("ValidationException", 400),
        ("InvalidRange", 416),
        ("PreconditionFailed", 412),
    ],
)
def test_client_errors_are_raised_and_never_sent_to_the_secondary(
    regions: Regions, code: str, status: int
) -> None:
    regions.stub(PRIMARY).add_client_error("head_object", code, http_status_code=status)

    with pytest.raises(Exception) as raised:
        cross_region(regions).access_with_failover("head_object", Key="a.gds")

    assert raised.value.response["Error"]["Code"] == code  # type: ignore[attr-defined]
    assert regions.created == [PRIMARY]
    assert failovers() == 0


def test_client_side_errors_do_not_fail_over(regions: Regions) -> None:
    # A missing required parameter fails in botocore before anything is sent: no region is at fault.
    with pytest.raises(ParamValidationError):
        cross_region(regions).access_with_failover("head_object")
    assert regions.created == [PRIMARY]
    assert failover_reason(ParamValidationError(report="x")) is None


def test_both_regions_down_raises_the_retryable_error_from_the_secondarys(regions: Regions) -> None:
    regions.fail_with(PRIMARY, EndpointConnectionError(endpoint_url="https://primary"))
    regions.stub(SECONDARY).add_client_error("head_object", "ServiceUnavailable", http_status_code=503)

    with pytest.raises(CrossRegionUnavailableError) as raised:
        cross_region(regions).access_with_failover("head_object", Key="a.gds")

    assert raised.value.retryable
    assert raised.value.details["primary_reason"] == "connection"
    assert raised.value.details["secondary_reason"] == "server"
    assert raised.value.__cause__ is not None
    assert failovers() == 1


def test_a_client_error_of_the_secondary_is_raised_as_is(regions: Regions) -> None:
    regions.fail_with(PRIMARY, ReadTimeoutError(endpoint_url="https://primary"))
    regions.stub(SECONDARY).add_client_error("head_object", "NoSuchKey", http_status_code=404)

    with pytest.raises(Exception) as raised:
        cross_region(regions).access_with_failover("head_object", Key="a.gds")

    assert raised.value.response["Error"]["Code"] == "NoSuchKey"  # type: ignore[attr-defined]


# --- addressing each region's own resources ---------------------------------------------------


def test_botocore_sends_an_access_point_arn_to_the_arns_region_whatever_the_client() -> None:
    # Why resources are per region: an "us-east-1" client given the primary's ARN calls the primary.
    client = boto3.client("s3", region_name=SECONDARY, config=Config(retries=NO_RETRIES))
    urls: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        urls.append(request.url)
        raise EndpointConnectionError(endpoint_url=request.url)

    client.meta.events.register_first("before-send", capture)
    with pytest.raises(EndpointConnectionError):
        client.head_object(Bucket=PRIMARY_AP, Key="a.gds")
    assert urls == [f"https://vol1-ap-{ACCOUNT}.s3-accesspoint.{PRIMARY}.amazonaws.com/a.gds"]


def test_each_region_is_sent_its_own_access_point(regions: Regions) -> None:
    regions.fail_with(PRIMARY, EndpointConnectionError(endpoint_url="https://primary"))
    # No Stubber answer for the secondary: record where the request would really go.
    regions.fail_with(SECONDARY, EndpointConnectionError(endpoint_url="https://secondary"))

    with pytest.raises(CrossRegionUnavailableError):
        cross_region(regions).access_with_failover("head_object", Key="a.gds")

    assert [(region, url.split("/")[2]) for region, url in regions.sent] == [
        (PRIMARY, f"vol1-ap-{ACCOUNT}.s3-accesspoint.{PRIMARY}.amazonaws.com"),
        (SECONDARY, f"vol1-dr-ap-{ACCOUNT}.s3-accesspoint.{SECONDARY}.amazonaws.com"),
    ]


def test_a_regional_parameter_may_not_be_passed_with_the_call(regions: Regions) -> None:
    with pytest.raises(InvalidInputError, match="Bucket address a regional resource"):
        cross_region(regions).access_with_failover("head_object", Bucket=PRIMARY_AP, Key="a.gds")
    assert regions.created == []


def test_an_arn_of_another_region_is_refused_before_any_call(regions: Regions) -> None:
    client = CrossRegionClient("s3", PRIMARY, SECONDARY, client_factory=regions.factory)
    with pytest.raises(InvalidInputError, match="another region"):
        client.access_with_failover("head_object", Bucket=PRIMARY_AP, Key="a.gds")
    assert regions.created == []


def test_an_arn_inside_a_payload_is_data_not_an_address(regions: Regions) -> None:
    regions.stub(PRIMARY).add_response("put_object", {"ETag": '"p"'})
    body = f'{{"execution": "arn:aws:states:{SECONDARY}:{ACCOUNT}:execution:m:run"}}'
    cross_region(regions).access_with_failover("put_object", Key="runs/r/report.json", Body=body)
    regions.stubbers[PRIMARY].assert_no_pending_responses()


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({PRIMARY: {"Bucket": PRIMARY_AP}}, "exactly"),
        (
            {PRIMARY: {"Bucket": PRIMARY_AP}, SECONDARY: {"Bucket": SECONDARY_AP, "Key": "k"}},
            "same parameters",
        ),
        ({PRIMARY: {"Bucket": PRIMARY_AP}, SECONDARY: {"Bucket": PRIMARY_AP}}, "not a resource of us-east-1"),
    ],
)
def test_resource_maps_are_checked(resources: dict[str, dict[str, str]], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        CrossRegionClient("s3", PRIMARY, SECONDARY, resources=resources)


@pytest.mark.parametrize(
    ("service", "primary", "secondary", "field"),
    [
        ("S3", PRIMARY, SECONDARY, "service"),
        ("s3", "tokyo", SECONDARY, "primary_region"),
        ("s3", PRIMARY, "", "secondary_region"),
        ("s3", PRIMARY, PRIMARY, "secondary_region"),
    ],
)
def test_construction_is_validated(service: str, primary: str, secondary: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        CrossRegionClient(service, primary, secondary)
    assert raised.value.field == field


def test_an_unknown_operation_is_refused(regions: Regions) -> None:
    with pytest.raises(InvalidInputError, match="no operation"):
        cross_region(regions).access_with_failover("get_everything", Key="a")
    with pytest.raises(InvalidInputError, match="no operation"):
        cross_region(regions).access_with_failover("_make_api_call", Key="a")


def test_client_for_another_region_is_refused(regions: Regions) -> None:
    with pytest.raises(InvalidInputError, match="neither"):
        cross_region(regions).client("eu-west-1")


# --- clients --------------------------------------------------------------------------------------


def test_clients_are_created_lazily_once_per_region_and_dropped_after_a_restore(regions: Regions) -> None:
    client = cross_region(regions)
    assert regions.created == []
    for _ in range(3):
        head_ok(regions.stub(PRIMARY), PRIMARY_AP)
        client.access_with_failover("head_object", Key="a.gds")
    assert regions.created == [PRIMARY]

    run_after_restore_hooks()
    head_ok(regions.stub(PRIMARY), PRIMARY_AP)
    client.access_with_failover("head_object", Key="a.gds")
    assert regions.created == [PRIMARY, PRIMARY]


def test_the_default_factory_fails_fast() -> None:
    client = default_client_factory("s3", SECONDARY)
    assert client.meta.region_name == SECONDARY
    assert client.meta.config.connect_timeout == 5
    assert client.meta.config.retries["total_max_attempts"] == 3


# --- circuit breaker ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_dead_primary_is_skipped_for_the_cool_down_then_tried_once(regions: Regions) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cool_down_seconds=60, clock=clock)
    client = cross_region(regions, circuit_breaker=breaker)
    regions.fail_with(PRIMARY, EndpointConnectionError(endpoint_url="https://primary"))
    for _ in range(5):
        head_ok(regions.stub(SECONDARY), SECONDARY_AP)

    # Two failures open the breaker; the next calls do not touch the primary
    for _ in range(4):
        client.access_with_failover("head_object", Key="a.gds")
    assert [region for region, _ in regions.sent] == [PRIMARY, PRIMARY]
    assert breaker.state is BreakerState.OPEN
    assert failovers() == 4  # every call the secondary served

    # After the cool-down, one trial asks the primary again; still down: open again
    clock.now += 60
    client.access_with_failover("head_object", Key="a.gds")
    assert [region for region, _ in regions.sent] == [PRIMARY, PRIMARY, PRIMARY]
    assert breaker.state is BreakerState.OPEN


def test_the_trial_call_closes_the_breaker_when_the_primary_is_back(regions: Regions) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cool_down_seconds=30, clock=clock)
    client = cross_region(regions, circuit_breaker=breaker)
    regions.stub(PRIMARY).add_client_error("head_object", "InternalError", http_status_code=500)
    head_ok(regions.stub(SECONDARY), SECONDARY_AP)
    client.access_with_failover("head_object", Key="a.gds")
    assert breaker.state is BreakerState.OPEN

    clock.now += 30
    head_ok(regions.stub(PRIMARY), PRIMARY_AP, etag='"back"')
    assert client.access_with_failover("head_object", Key="a.gds")["ETag"] == '"back"'
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_a_client_error_proves_the_primary_is_up(regions: Regions) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=Clock())
    client = cross_region(regions, circuit_breaker=breaker)
    regions.stub(PRIMARY).add_client_error("head_object", "InternalError", http_status_code=500)
    head_ok(regions.stub(SECONDARY), SECONDARY_AP)
    client.access_with_failover("head_object", Key="a.gds")
    assert breaker.consecutive_failures == 1

    regions.stub(PRIMARY).add_client_error("head_object", "NoSuchKey", http_status_code=404)
    with pytest.raises(Exception, match="NoSuchKey"):
        client.access_with_failover("head_object", Key="a.gds")
    assert breaker.consecutive_failures == 0
    assert breaker.state is BreakerState.CLOSED


def test_only_one_call_tests_a_half_open_primary() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cool_down_seconds=10, clock=clock)
    breaker.record_failure()
    assert not breaker.allow_primary()
    clock.now += 10
    assert breaker.allow_primary()  # the trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow_primary()  # concurrent calls go to the secondary
    breaker.release()  # the trial ended without a verdict
    assert breaker.allow_primary()


def test_an_unknown_operation_does_not_keep_the_trial(regions: Regions) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cool_down_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    with pytest.raises(InvalidInputError):
        cross_region(regions, circuit_breaker=breaker).access_with_failover("get_everything", Key="a")
    assert breaker.allow_primary()


@pytest.mark.parametrize(("threshold", "cool_down"), [(0, 10), (1.5, 10), (1, 0), (1, -5)])
def test_breaker_settings_are_validated(threshold: Any, cool_down: Any) -> None:
    with pytest.raises(InvalidInputError):
        CircuitBreaker(failure_threshold=threshold, cool_down_seconds=cool_down)


# --- moto: two regions, each with its own table ---------------------------------------------------


@pytest.fixture
def two_region_tables() -> Iterator[Callable[..., CrossRegionClient]]:
    with mock_aws():
        for region, table in ((PRIMARY, "tokens-apne1"), (SECONDARY, "tokens-use1")):
            dynamodb = boto3.client("dynamodb", region_name=region)
            dynamodb.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            dynamodb.put_item(TableName=table, Item={"k": {"S": "run-1"}, "region": {"S": region}})

        def make(primary_down: bool = False, **options: Any) -> CrossRegionClient:
            def factory(service: str, region: str) -> Any:
                client = boto3.client(service, region_name=region, config=Config(retries=NO_RETRIES))
                if primary_down and region == PRIMARY:

                    def unreachable(request: Any, **_: Any) -> None:
                        raise EndpointConnectionError(endpoint_url=request.url)

                    client.meta.events.register_first("before-send", unreachable)
                return client

            return CrossRegionClient(
                "dynamodb",
                PRIMARY,
                SECONDARY,
                resources={PRIMARY: {"TableName": "tokens-apne1"}, SECONDARY: {"TableName": "tokens-use1"}},
                client_factory=factory,
                **options,
            )

        yield make


def test_moto_reads_the_primary_table_while_the_primary_is_up(two_region_tables: Any) -> None:
    item = two_region_tables().access_with_failover("get_item", Key={"k": {"S": "run-1"}})["Item"]
    assert item["region"]["S"] == PRIMARY
    assert failovers() == 0


def test_moto_reads_the_secondary_table_when_the_primary_is_unreachable(two_region_tables: Any) -> None:
    item = two_region_tables(primary_down=True).access_with_failover("get_item", Key={"k": {"S": "run-1"}})[
        "Item"
    ]
    assert item["region"]["S"] == SECONDARY
    assert failovers() == 1


def test_moto_resource_not_found_in_the_primary_is_not_a_failover(two_region_tables: Any) -> None:
    client = CrossRegionClient(
        "dynamodb",
        PRIMARY,
        SECONDARY,
        resources={PRIMARY: {"TableName": "missing-table"}, SECONDARY: {"TableName": "tokens-use1"}},
        client_factory=lambda service, region: boto3.client(service, region_name=region),
    )
    with pytest.raises(Exception, match="ResourceNotFoundException"):
        client.access_with_failover("get_item", Key={"k": {"S": "run-1"}})
    assert failovers() == 0
