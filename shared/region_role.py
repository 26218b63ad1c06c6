"""Active-passive guard: exactly one region processes, and it is the one Route 53 routes to.

With ``EnableMultiRegion`` on, every use case runs in a primary and a secondary region. Event
producers reach the active region through a Route 53 failover record (shared/cfn/multi-region.yaml),
but scheduled polling runs in both regions whatever DNS says; without a guard the secondary would
process every file a second time. A use case's first handler (discovery) therefore asks
:meth:`RegionRoleGuard.check` and, when its region is on standby, processes nothing.

**The health signal is Route 53's own view of the primary** — the ``HealthCheckStatus`` metric
(``AWS/Route53``, dimension ``HealthCheckId``, 1 healthy / 0 unhealthy, one datapoint a minute,
published in us-east-1) of the health check that guards the primary's failover record. The guard
adds no threshold of its own: Route 53 has already applied ``FailureThreshold``, so processing
fails over exactly when routing does, and the two cannot disagree about who is active. The latest
datapoint within ``window_seconds`` decides; none (CloudWatch unreachable, wrong id) is ``UNKNOWN``.

**The decision owner's override** is an item in the region-status DynamoDB global table
(``key = "override"``, ``active_region``), written by ``scripts/dr-failover.sh`` and removed by
``scripts/dr-failback.sh``. It wins over the health signal, it is read from the *local* replica
(no cross-region call when a region is down), and it replicates to a recovering region before that
region processes anything, so a primary that comes back after a manual failover stays on standby
until someone fails back on purpose.

Decision (:func:`decide_role`, pure), for the region the code runs in:

==========================  ==================  ====================
input                       primary             secondary
==========================  ==================  ====================
override names a region     active iff named    active iff named
primary ``HEALTHY``         **active**          standby
primary ``UNHEALTHY``       standby             **active**
primary ``UNKNOWN``         **active**          standby
==========================  ==================  ====================

``UNKNOWN`` keeps the static roles: a region never fails over because it cannot *see* — CloudWatch
in us-east-1 being unreachable is not evidence that the primary is down — and the decision owner
has the override for the case where it is. Both regions reading the same inputs always yields
exactly one active region (tests/properties, #15). Reading the override table failing is different:
a region that cannot know whether it was failed away from raises
:class:`~shared.errors.RegionStatusUnavailableError` (retryable) and processes nothing this time.

With ``MULTI_REGION_ENABLED`` unset or ``false`` the guard answers ``ACTIVE`` without any call:
single-region deployments pay nothing for it.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import InvalidInputError, RegionStatusUnavailableError
from shared.observability import logger
from shared.settings import required
from shared.snapstart import after_restore

__all__ = [
    "HEALTH_METRIC_NAME",
    "HEALTH_METRIC_NAMESPACE",
    "OVERRIDE_KEY",
    "STATUS_KEY_ATTRIBUTE",
    "Health",
    "HealthSource",
    "OverrideSource",
    "RegionRoleGuard",
    "RegionRoleSettings",
    "RegionStatusTable",
    "Role",
    "RoleDecision",
    "Route53HealthMetric",
    "decide_role",
    "health_from_datapoints",
]

HEALTH_METRIC_NAMESPACE: Final = "AWS/Route53"
HEALTH_METRIC_NAME: Final = "HealthCheckStatus"
ROUTE53_METRICS_REGION: Final = "us-east-1"
"""Route 53 publishes its health-check metrics in US East (N. Virginia) only."""
DEFAULT_WINDOW_SECONDS: Final = 300
STATUS_KEY_ATTRIBUTE: Final = "key"
"""Partition key of the region-status table (shared/cfn/global-task-token-store.yaml)."""
OVERRIDE_KEY: Final = "override"
"""The item holding the decision owner's choice of active region."""

_REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_HEALTH_CHECK_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TABLE_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no", ""})

CloudWatchClient = Any
DynamoDBClient = Any


class Health(StrEnum):
    """The primary region as Route 53 sees it."""

    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"


class Role(StrEnum):
    ACTIVE = "ACTIVE"
    """This region processes."""
    STANDBY = "STANDBY"
    """This region processes nothing (its runs end at once)."""


@dataclass(frozen=True)
class RoleDecision:
    """What a region may do, and why (JSON-able with :meth:`to_dict`, small enough for state)."""

    region: str
    role: Role
    active_region: str
    reason: str
    """``single-region`` | ``override`` | ``primary-healthy`` | ``primary-unhealthy`` | ``health-unknown``."""
    primary_health: Health
    override: str | None = None

    @property
    def active(self) -> bool:
        return self.role is Role.ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "role": self.role.value,
            "active": self.active,
            "active_region": self.active_region,
            "reason": self.reason,
            "primary_health": self.primary_health.value,
            "override": self.override,
        }


def _region(field: str, value: object) -> str:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise InvalidInputError(field, f"not an AWS region: {value!r}")
    return value


def decide_role(
    region: str,
    primary_region: str,
    secondary_region: str,
    primary_health: Health,
    override: str | None = None,
) -> RoleDecision:
    """The role of ``region`` (the primary or the secondary) given the signal and the override."""
    _region("region", region)
    _region("primary_region", primary_region)
    _region("secondary_region", secondary_region)
    if primary_region == secondary_region:
        raise InvalidInputError("secondary_region", f"must differ from the primary ({primary_region})")
    if region not in (primary_region, secondary_region):
        raise InvalidInputError("region", f"{region} is neither {primary_region} nor {secondary_region}")
    health = Health(primary_health)
    if override is not None:
        if override not in (primary_region, secondary_region):
            raise InvalidInputError(
                "override", f"{override!r} is neither {primary_region} nor {secondary_region}"
            )
        active_region, reason = override, "override"
    elif health is Health.UNHEALTHY:
        active_region, reason = secondary_region, "primary-unhealthy"
    elif health is Health.HEALTHY:
        active_region, reason = primary_region, "primary-healthy"
    else:
        active_region, reason = primary_region, "health-unknown"
    return RoleDecision(
        region=region,
        role=Role.ACTIVE if region == active_region else Role.STANDBY,
        active_region=active_region,
        reason=reason,
        primary_health=health,
        override=override,
    )


def health_from_datapoints(datapoints: Sequence[tuple[datetime, float]]) -> Health:
    """The latest ``(timestamp, HealthCheckStatus minimum)`` decides; none is ``UNKNOWN``."""
    if not datapoints:
        return Health.UNKNOWN
    _, latest = max(datapoints, key=lambda point: point[0])
    return Health.HEALTHY if latest >= 1 else Health.UNHEALTHY


# --- ports and their AWS adapters --------------------------------------------------------------


class HealthSource(Protocol):
    def primary_health(self) -> Health: ...


class OverrideSource(Protocol):
    def active_override(self) -> str | None: ...


def _config() -> Config:
    # Short timeouts: the guard runs at the start of every run and must not hold it up.
    return Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})


@functools.cache
def default_cloudwatch_client(region: str) -> CloudWatchClient:
    return boto3.client("cloudwatch", region_name=region, config=_config())


@functools.cache
def default_dynamodb_client(region: str) -> DynamoDBClient:
    """DynamoDB of ``region``: the replica of the region-status table that region reads."""
    return boto3.client("dynamodb", region_name=region, config=_config())


after_restore(default_cloudwatch_client.cache_clear)
after_restore(default_dynamodb_client.cache_clear)


class Route53HealthMetric:
    """``HealthSource`` reading Route 53's ``HealthCheckStatus`` of one health check from CloudWatch."""

    def __init__(
        self,
        health_check_id: str,
        *,
        cloudwatch: CloudWatchClient | None = None,
        region: str = ROUTE53_METRICS_REGION,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(health_check_id, str) or not _HEALTH_CHECK_ID.fullmatch(health_check_id):
            raise InvalidInputError("health_check_id", f"not a Route 53 health check id: {health_check_id!r}")
        if not isinstance(window_seconds, int) or not 60 <= window_seconds <= 3600:
            raise InvalidInputError("window_seconds", f"expected 60-3600 seconds, got {window_seconds!r}")
        self.health_check_id = health_check_id
        self.region = _region("region", region)
        self.window_seconds = window_seconds
        self._cloudwatch = cloudwatch
        self._clock = clock

    @property
    def cloudwatch(self) -> CloudWatchClient:
        if self._cloudwatch is None:
            self._cloudwatch = default_cloudwatch_client(self.region)
        return self._cloudwatch

    def query(self) -> dict[str, Any]:
        """The GetMetricData request: 1-minute minimums of the health check's status over the window."""
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        return {
            "MetricDataQueries": [
                {
                    "Id": "primaryhealth",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": HEALTH_METRIC_NAMESPACE,
                            "MetricName": HEALTH_METRIC_NAME,
                            "Dimensions": [{"Name": "HealthCheckId", "Value": self.health_check_id}],
                        },
                        "Period": 60,
                        "Stat": "Minimum",
                    },
                    "ReturnData": True,
                }
            ],
            "StartTime": now - timedelta(seconds=self.window_seconds),
            "EndTime": now + timedelta(seconds=60),  # include the minute in progress
            "ScanBy": "TimestampDescending",
        }

    def primary_health(self) -> Health:
        try:
            response = self.cloudwatch.get_metric_data(**self.query())
        except (ClientError, BotoCoreError) as err:
            # Not evidence that the primary is down: keep the static roles (see the module doc).
            logger.warning(
                "primary health unreadable", health_check_id=self.health_check_id, error=type(err).__name__
            )
            return Health.UNKNOWN
        results = response.get("MetricDataResults") or []
        points: list[tuple[datetime, float]] = []
        for result in results:
            points += list(zip(result.get("Timestamps") or [], result.get("Values") or [], strict=False))
        return health_from_datapoints(points)


class RegionStatusTable:
    """``OverrideSource`` (and its writer) over the region-status table's ``override`` item."""

    def __init__(
        self,
        table_name: str,
        *,
        region: str | None = None,
        dynamodb: DynamoDBClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``region`` is the replica to use (required unless ``dynamodb`` is given)."""
        if not isinstance(table_name, str) or not _TABLE_NAME.fullmatch(table_name):
            raise InvalidInputError("table_name", f"not a DynamoDB table name: {table_name!r}")
        if dynamodb is None:
            _region("region", region)
        self.table_name = table_name
        self.region = region
        self._dynamodb = dynamodb
        self._clock = clock

    @property
    def dynamodb(self) -> DynamoDBClient:
        if self._dynamodb is None:
            self._dynamodb = default_dynamodb_client(_region("region", self.region))
        return self._dynamodb

    def _unavailable(self, err: Exception, action: str) -> RegionStatusUnavailableError:
        code = str(err.response.get("Error", {}).get("Code", "")) if isinstance(err, ClientError) else ""
        return RegionStatusUnavailableError(
            f"{action} on {self.table_name} failed: {code or err}", table=self.table_name, code=code
        )

    def active_override(self) -> str | None:
        """The region the decision owner made active, or None (strongly consistent local read)."""
        try:
            response = self.dynamodb.get_item(
                TableName=self.table_name,
                Key={STATUS_KEY_ATTRIBUTE: {"S": OVERRIDE_KEY}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable(err, "GetItem") from err
        item = response.get("Item") or {}
        value = item.get("active_region", {}).get("S")
        return _region("active_region", value) if value else None

    def set_override(self, active_region: str, *, reason: str, actor: str) -> None:
        """Make ``active_region`` active whatever the health signal says (what dr-failover.sh writes)."""
        item = {
            STATUS_KEY_ATTRIBUTE: {"S": OVERRIDE_KEY},
            "active_region": {"S": _region("active_region", active_region)},
            "reason": {"S": reason or "unspecified"},
            "actor": {"S": actor or "unspecified"},
            "set_at": {"N": str(int(self._clock()))},
        }
        try:
            self.dynamodb.put_item(TableName=self.table_name, Item=item)
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable(err, "PutItem") from err
        logger.warning("region override set", active_region=active_region, reason=reason, actor=actor)

    def clear_override(self) -> None:
        """Give the decision back to the health signal (what dr-failback.sh does)."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table_name, Key={STATUS_KEY_ATTRIBUTE: {"S": OVERRIDE_KEY}}
            )
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable(err, "DeleteItem") from err
        logger.warning("region override cleared")


# --- the guard ----------------------------------------------------------------------------------


_MULTI_REGION = "MULTI_REGION_ENABLED is true"


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInputError(name, f"expected true or false, got {value!r}")


@dataclass(frozen=True)
class RegionRoleSettings:
    """The guard's configuration, from a function's environment (:meth:`from_env`).

    ``MULTI_REGION_ENABLED`` (default false), ``AWS_REGION`` (set by Lambda), and when enabled:
    ``PRIMARY_REGION``, ``SECONDARY_REGION``, ``PRIMARY_HEALTH_CHECK_ID``, ``REGION_STATUS_TABLE``,
    optionally ``HEALTH_METRIC_REGION`` (us-east-1) and ``HEALTH_WINDOW_SECONDS`` (300).
    """

    enabled: bool
    region: str
    primary_region: str = ""
    secondary_region: str = ""
    health_check_id: str = ""
    status_table: str = ""
    metric_region: str = ROUTE53_METRICS_REGION
    window_seconds: int = DEFAULT_WINDOW_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RegionRoleSettings:
        region = _region("AWS_REGION", environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"))
        if not _flag(environ, "MULTI_REGION_ENABLED"):
            return cls(enabled=False, region=region)
        window = environ.get("HEALTH_WINDOW_SECONDS", str(DEFAULT_WINDOW_SECONDS))
        if not window.isdigit():
            raise InvalidInputError("HEALTH_WINDOW_SECONDS", f"expected seconds, got {window!r}")
        settings = cls(
            enabled=True,
            region=region,
            primary_region=_region("PRIMARY_REGION", required(environ, "PRIMARY_REGION", when=_MULTI_REGION)),
            secondary_region=_region(
                "SECONDARY_REGION", required(environ, "SECONDARY_REGION", when=_MULTI_REGION)
            ),
            health_check_id=required(environ, "PRIMARY_HEALTH_CHECK_ID", when=_MULTI_REGION),
            status_table=required(environ, "REGION_STATUS_TABLE", when=_MULTI_REGION),
            metric_region=_region(
                "HEALTH_METRIC_REGION", environ.get("HEALTH_METRIC_REGION") or ROUTE53_METRICS_REGION
            ),
            window_seconds=int(window),
        )
        # Fails now, naming the setting, rather than on the first run.
        decide_role(settings.region, settings.primary_region, settings.secondary_region, Health.UNKNOWN)
        return settings


class RegionRoleGuard:
    """Answers "may this region process now?" for a use case's handler."""

    def __init__(
        self,
        settings: RegionRoleSettings,
        *,
        health: HealthSource | None = None,
        override: OverrideSource | None = None,
    ) -> None:
        self.settings = settings
        self._health = health
        self._override = override

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **sources: Any) -> RegionRoleGuard:
        return cls(RegionRoleSettings.from_env(environ), **sources)

    @property
    def health(self) -> HealthSource:
        if self._health is None:
            self._health = Route53HealthMetric(
                self.settings.health_check_id,
                region=self.settings.metric_region,
                window_seconds=self.settings.window_seconds,
            )
        return self._health

    @property
    def override(self) -> OverrideSource:
        if self._override is None:
            self._override = RegionStatusTable(self.settings.status_table, region=self.settings.region)
        return self._override

    def check(self) -> RoleDecision:
        """This region's role now. Single-region deployments are always active, without any call."""
        settings = self.settings
        if not settings.enabled:
            return RoleDecision(
                region=settings.region,
                role=Role.ACTIVE,
                active_region=settings.region,
                reason="single-region",
                primary_health=Health.UNKNOWN,
            )
        override = self.override.active_override()
        # An override decides alone: no CloudWatch call (it exists for when CloudWatch cannot help).
        health = Health.UNKNOWN if override is not None else self.health.primary_health()
        decision = decide_role(
            settings.region, settings.primary_region, settings.secondary_region, health, override
        )
        logger.info("region role", **decision.to_dict())
        return decision
