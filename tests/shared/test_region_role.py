"""shared.region_role: the decision table, Route 53's health metric, the override item, settings.

The CloudWatch request is checked with botocore's Stubber (exact shape); the end-to-end tests put
HealthCheckStatus datapoints into moto's CloudWatch in us-east-1 and the override item into moto's
DynamoDB, and ask the guard of each region.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from shared.errors import InvalidInputError, RegionStatusUnavailableError
from shared.region_role import (
    HEALTH_METRIC_NAME,
    HEALTH_METRIC_NAMESPACE,
    OVERRIDE_KEY,
    STATUS_KEY_ATTRIBUTE,
    Health,
    RegionRoleGuard,
    RegionRoleSettings,
    RegionStatusTable,
    Role,
    Route53HealthMetric,
    decide_role,
    health_from_datapoints,
)

PRIMARY = "ap-northeast-1"
SECONDARY = "us-east-1"
HEALTH_CHECK = "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b"
TABLE = "legal-prod-global-region-status"
NOW = 1_800_000_000.0


def env(region: str, **extra: str) -> dict[str, str]:
    return {
        "AWS_REGION": region,
        "MULTI_REGION_ENABLED": "true",
        "PRIMARY_REGION": PRIMARY,
        "SECONDARY_REGION": SECONDARY,
        "PRIMARY_HEALTH_CHECK_ID": HEALTH_CHECK,
        "REGION_STATUS_TABLE": TABLE,
        **extra,
    }


# --- the decision -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("health", "override", "active", "reason"),
    [
        (Health.HEALTHY, None, PRIMARY, "primary-healthy"),
        (Health.UNHEALTHY, None, SECONDARY, "primary-unhealthy"),
        (Health.UNKNOWN, None, PRIMARY, "health-unknown"),
        (Health.HEALTHY, SECONDARY, SECONDARY, "override"),
        (Health.UNHEALTHY, PRIMARY, PRIMARY, "override"),
    ],
)
def test_exactly_one_region_is_active(health: Health, override: str | None, active: str, reason: str) -> None:
    decisions = [decide_role(region, PRIMARY, SECONDARY, health, override) for region in (PRIMARY, SECONDARY)]
    assert [d.region for d in decisions if d.active] == [active]
    assert {d.active_region for d in decisions} == {active}
    assert {d.reason for d in decisions} == {reason}
    standby = next(d for d in decisions if not d.active)
    assert standby.role is Role.STANDBY
    assert standby.to_dict() == {
        "region": standby.region,
        "role": "STANDBY",
        "active": False,
        "active_region": active,
        "reason": reason,
        "primary_health": health.value,
        "override": override,
    }


@pytest.mark.parametrize(
    ("region", "primary", "secondary", "override", "field"),
    [
        ("eu-west-1", PRIMARY, SECONDARY, None, "region"),
        (PRIMARY, PRIMARY, PRIMARY, None, "secondary_region"),
        (PRIMARY, "tokyo", SECONDARY, None, "primary_region"),
        (PRIMARY, PRIMARY, SECONDARY, "eu-west-1", "override"),
    ],
)
def test_the_decision_refuses_inconsistent_regions(
    region: str, primary: str, secondary: str, override: str | None, field: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        decide_role(region, primary, secondary, Health.HEALTHY, override)
    assert raised.value.field == field


def test_the_latest_datapoint_decides_in_any_order() -> None:
    t0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert health_from_datapoints([]) is Health.UNKNOWN
    assert health_from_datapoints([(t0 + timedelta(minutes=1), 0.0), (t0, 1.0)]) is Health.UNHEALTHY
    assert health_from_datapoints([(t0, 0.0), (t0 + timedelta(minutes=1), 1.0)]) is Health.HEALTHY


# --- Route 53's health metric -------------------------------------------------------------------


def test_the_metric_query_is_route53s_status_of_the_primary_health_check() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=SECONDARY)
    metric = Route53HealthMetric(HEALTH_CHECK, cloudwatch=cloudwatch, window_seconds=300, clock=lambda: NOW)
    now = datetime.fromtimestamp(NOW, tz=UTC)
    with Stubber(cloudwatch) as stubber:
        stubber.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {
                        "Id": "primaryhealth",
                        "Timestamps": [now - timedelta(minutes=1), now - timedelta(minutes=2)],
                        "Values": [0.0, 1.0],
                        "StatusCode": "Complete",
                    }
                ]
            },
            {
                "MetricDataQueries": [
                    {
                        "Id": "primaryhealth",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/Route53",
                                "MetricName": "HealthCheckStatus",
                                "Dimensions": [{"Name": "HealthCheckId", "Value": HEALTH_CHECK}],
                            },
                            "Period": 60,
                            "Stat": "Minimum",
                        },
                        "ReturnData": True,
                    }
                ],
                "StartTime": now - timedelta(seconds=300),
                "EndTime": now + timedelta(seconds=60),
                "ScanBy": "TimestampDescending",
            },
        )
        assert metric.primary_health() is Health.UNHEALTHY
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "status"), [("InternalServiceError", 500), ("Throttling", 400)])
def test_an_unreadable_metric_is_unknown_not_unhealthy(code: str, status: int) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=SECONDARY)
    metric = Route53HealthMetric(HEALTH_CHECK, cloudwatch=cloudwatch)
    with Stubber(cloudwatch) as stubber:
        stubber.add_client_error("get_metric_data", code, http_status_code=status)
        assert metric.primary_health() is Health.UNKNOWN


def test_no_datapoints_is_unknown() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=SECONDARY)
    with Stubber(cloudwatch) as stubber:
        stubber.add_response("get_metric_data", {"MetricDataResults": []})
        assert Route53HealthMetric(HEALTH_CHECK, cloudwatch=cloudwatch).primary_health() is Health.UNKNOWN


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"health_check_id": "hc-1"}, "health_check_id"),
        ({"window_seconds": 30}, "window_seconds"),
        ({"region": "nowhere"}, "region"),
    ],
)
def test_metric_settings_are_validated(options: dict[str, Any], field: str) -> None:
    arguments = {"health_check_id": HEALTH_CHECK, **options}
    with pytest.raises(InvalidInputError) as raised:
        Route53HealthMetric(arguments.pop("health_check_id"), **arguments)
    assert raised.value.field == field


# --- moto: both regions, one signal -------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        for region in (PRIMARY, SECONDARY):
            boto3.client("dynamodb", region_name=region).create_table(
                TableName=TABLE,
                AttributeDefinitions=[{"AttributeName": STATUS_KEY_ATTRIBUTE, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": STATUS_KEY_ATTRIBUTE, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield {
            "cloudwatch": boto3.client("cloudwatch", region_name="us-east-1"),
            PRIMARY: boto3.client("dynamodb", region_name=PRIMARY),
            SECONDARY: boto3.client("dynamodb", region_name=SECONDARY),
        }


def publish(cloudwatch: Any, value: float, minutes_ago: float) -> None:
    """What Route 53 publishes every minute for a health check."""
    cloudwatch.put_metric_data(
        Namespace=HEALTH_METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": HEALTH_METRIC_NAME,
                "Dimensions": [{"Name": "HealthCheckId", "Value": HEALTH_CHECK}],
                "Value": value,
                "Timestamp": datetime.now(UTC) - timedelta(minutes=minutes_ago),
            }
        ],
    )


def guard(aws: dict[str, Any], region: str) -> RegionRoleGuard:
    settings = RegionRoleSettings.from_env(env(region))
    return RegionRoleGuard(
        settings,
        health=Route53HealthMetric(HEALTH_CHECK, cloudwatch=aws["cloudwatch"]),
        override=RegionStatusTable(TABLE, dynamodb=aws[region]),
    )


def roles(aws: dict[str, Any]) -> dict[str, str]:
    return {region: guard(aws, region).check().role.value for region in (PRIMARY, SECONDARY)}


def test_moto_the_secondary_takes_over_when_route53_reports_the_primary_unhealthy(
    aws: dict[str, Any],
) -> None:
    assert roles(aws) == {PRIMARY: "ACTIVE", SECONDARY: "STANDBY"}  # no datapoint: static roles
    publish(aws["cloudwatch"], 1, minutes_ago=3)
    assert roles(aws) == {PRIMARY: "ACTIVE", SECONDARY: "STANDBY"}
    publish(aws["cloudwatch"], 0, minutes_ago=2)
    assert roles(aws) == {PRIMARY: "STANDBY", SECONDARY: "ACTIVE"}
    publish(aws["cloudwatch"], 1, minutes_ago=1)
    assert roles(aws) == {PRIMARY: "ACTIVE", SECONDARY: "STANDBY"}


def test_moto_the_override_wins_in_the_region_that_holds_it(aws: dict[str, Any]) -> None:
    publish(aws["cloudwatch"], 1, minutes_ago=1)
    # The decision owner fails over; the item is written to both replicas (replication played here)
    for region in (PRIMARY, SECONDARY):
        RegionStatusTable(TABLE, dynamodb=aws[region], clock=lambda: NOW).set_override(
            SECONDARY, reason="drill", actor="oncall"
        )
    assert roles(aws) == {PRIMARY: "STANDBY", SECONDARY: "ACTIVE"}
    item = aws[SECONDARY].get_item(TableName=TABLE, Key={STATUS_KEY_ATTRIBUTE: {"S": OVERRIDE_KEY}})["Item"]
    assert item["reason"] == {"S": "drill"}
    assert item["actor"] == {"S": "oncall"}
    assert item["set_at"] == {"N": str(int(NOW))}

    for region in (PRIMARY, SECONDARY):
        RegionStatusTable(TABLE, dynamodb=aws[region]).clear_override()
    assert roles(aws) == {PRIMARY: "ACTIVE", SECONDARY: "STANDBY"}


def test_an_override_naming_no_region_is_refused(aws: dict[str, Any]) -> None:
    aws[PRIMARY].put_item(
        TableName=TABLE, Item={STATUS_KEY_ATTRIBUTE: {"S": OVERRIDE_KEY}, "active_region": {"S": "mars"}}
    )
    with pytest.raises(InvalidInputError, match="active_region"):
        RegionStatusTable(TABLE, dynamodb=aws[PRIMARY]).active_override()


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("get_item", lambda table: table.active_override()),
        ("put_item", lambda table: table.set_override(SECONDARY, reason="r", actor="a")),
        ("delete_item", lambda table: table.clear_override()),
    ],
)
def test_an_unreadable_override_table_stops_the_region(operation: str, call: Any) -> None:
    dynamodb = boto3.client("dynamodb", region_name=SECONDARY)
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error(operation, "InternalServerError", http_status_code=500)
        with pytest.raises(RegionStatusUnavailableError) as raised:
            call(RegionStatusTable(TABLE, dynamodb=dynamodb))
    assert raised.value.retryable
    assert raised.value.details["code"] == "InternalServerError"


def test_the_table_name_and_replica_region_are_validated() -> None:
    with pytest.raises(InvalidInputError) as raised:
        RegionStatusTable("x", region=PRIMARY)
    assert raised.value.field == "table_name"
    with pytest.raises(InvalidInputError) as raised:
        RegionStatusTable(TABLE)  # no client and no region: which replica?
    assert raised.value.field == "region"


# --- settings and the guard ---------------------------------------------------------------------


class Exploding:
    """A source that must not be asked."""

    def primary_health(self) -> Health:
        raise AssertionError("the health signal was read")

    def active_override(self) -> str | None:
        raise AssertionError("the override was read")


@pytest.mark.parametrize("flag", [None, "", "false", "0", "no", "FALSE"])
def test_single_region_is_always_active_and_calls_nothing(flag: str | None) -> None:
    environ = (
        {"AWS_REGION": PRIMARY} if flag is None else {"AWS_REGION": PRIMARY, "MULTI_REGION_ENABLED": flag}
    )
    decision = RegionRoleGuard.from_env(environ, health=Exploding(), override=Exploding()).check()
    assert decision.active
    assert decision.reason == "single-region"


def test_an_override_is_read_first_and_skips_the_health_signal() -> None:
    class Override:
        def active_override(self) -> str | None:
            return SECONDARY

    decision = RegionRoleGuard.from_env(env(PRIMARY), health=Exploding(), override=Override()).check()
    assert (decision.role, decision.reason) == (Role.STANDBY, "override")


def test_settings_from_the_environment() -> None:
    settings = RegionRoleSettings.from_env(
        env(SECONDARY, HEALTH_METRIC_REGION="us-east-1", HEALTH_WINDOW_SECONDS="120")
    )
    assert settings == RegionRoleSettings(
        enabled=True,
        region=SECONDARY,
        primary_region=PRIMARY,
        secondary_region=SECONDARY,
        health_check_id=HEALTH_CHECK,
        status_table=TABLE,
        metric_region="us-east-1",
        window_seconds=120,
    )
    guard = RegionRoleGuard(settings)
    assert isinstance(guard.health, Route53HealthMetric)
    assert guard.health.window_seconds == 120
    assert isinstance(guard.override, RegionStatusTable)
    assert guard.override.region == SECONDARY  # this region's replica
    assert guard.override.dynamodb.meta.region_name == SECONDARY


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"MULTI_REGION_ENABLED": "maybe"}, "MULTI_REGION_ENABLED"),
        ({"PRIMARY_REGION": ""}, "PRIMARY_REGION"),
        ({"SECONDARY_REGION": "nowhere"}, "SECONDARY_REGION"),
        ({"PRIMARY_HEALTH_CHECK_ID": ""}, "PRIMARY_HEALTH_CHECK_ID"),
        ({"REGION_STATUS_TABLE": ""}, "REGION_STATUS_TABLE"),
        ({"HEALTH_WINDOW_SECONDS": "5m"}, "HEALTH_WINDOW_SECONDS"),
        ({"AWS_REGION": "eu-west-1"}, "region"),
        ({"AWS_REGION": ""}, "AWS_REGION"),
    ],
)
def test_invalid_settings_name_the_variable(changes: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        RegionRoleSettings.from_env({**env(PRIMARY), **changes})
    assert raised.value.field == field
