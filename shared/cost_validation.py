"""Cost-related configuration checks, pure and shared by handlers, tests and templates.

Each section validates one opt-in cost feature and holds the bounds the matching nested stack
enforces in its parameter constraints (tests/templates compares the two, so a bound changes in
one place only). Sections so far:

* **ServerlessConfig** of a SageMaker Serverless Inference endpoint (SageMaker API reference,
  ``ProductionVariantServerlessConfig``): ``MemorySizeInMB`` in 1 GB steps from 1024 to 6144,
  ``MaxConcurrency`` 1-200, ``ProvisionedConcurrency`` at most ``MaxConcurrency``. The API's own
  range for provisioned concurrency starts at 1; here 0 means "none" (the template's
  ``HasProvisionedConcurrency`` condition then leaves the property out), so the accepted range is
  ``[0, MaxConcurrency]``.

* **Scheduled scaling** (``shared/cfn/scheduled-scaling.yaml``): business hours start before they
  end, capacities are non-negative with min <= max, the off-hours maximum is at most the
  business-hours minimum (so every off-hour costs no more than any business hour: a guaranteed
  reduction), and a standard variant keeps at least one instance (only an inference component's
  copy count may reach 0). :meth:`ScheduledScalingConfig.monthly_savings` estimates what it saves.
* **Billing alarm thresholds** (``shared/cfn/billing-alarm.yaml``): warning < critical < emergency.
  CloudFormation Rules can compare strings only, so this ordering (and the schedule's) is enforced
  before deploy by ``scripts/check_cost_parameters.py``, and the schedule's once more by the stack's
  custom resource, which refuses an invalid schedule during the deploy itself.

Auto-stop decisions live in :mod:`shared.auto_stop`. Every section follows the same pattern: a
frozen dataclass, a ``validate_*`` function raising :class:`~shared.errors.InvalidInputError` that
names the field, and module-level bound constants the templates are checked against.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from shared.errors import InvalidInputError
from shared.pricing import HOURS_PER_MONTH

__all__ = [
    "BILLING_DEFAULT_THRESHOLDS",
    "BILLING_THRESHOLD_RANGE",
    "BUSINESS_DAYS",
    "COMPONENT_DIMENSION",
    "DEFAULT_TIMEZONE",
    "SCHEDULED_CAPACITY_MAX",
    "SCHEDULE_END_HOUR_RANGE",
    "SCHEDULE_START_HOUR_RANGE",
    "SERVERLESS_MAX_CONCURRENCY_RANGE",
    "SERVERLESS_MEMORY_SIZES_MB",
    "SERVERLESS_PROVISIONED_CONCURRENCY_MAX",
    "TARGET_KINDS",
    "VARIANT_DIMENSION",
    "BillingThresholds",
    "MonthlySavings",
    "ScalableTargetRef",
    "ScheduledScalingConfig",
    "ServerlessConfig",
    "validate_billing_thresholds",
    "validate_scheduled_scaling",
    "validate_serverless_config",
]

# --- Serverless Inference ----------------------------------------------------------------------

SERVERLESS_MEMORY_SIZES_MB: Final = (1024, 2048, 3072, 4096, 5120, 6144)
"""The only MemorySizeInMB values SageMaker accepts (1 GB increments)."""

SERVERLESS_MAX_CONCURRENCY_RANGE: Final = (1, 200)
"""Inclusive bounds of MaxConcurrency."""

SERVERLESS_PROVISIONED_CONCURRENCY_MAX: Final = 200
"""Upper bound of the ProvisionedConcurrency parameter; the real bound is MaxConcurrency."""

_KEYS: Final = ("MemorySizeInMB", "MaxConcurrency", "ProvisionedConcurrency")


@dataclass(frozen=True)
class ServerlessConfig:
    """A validated ServerlessConfig; ``provisioned_concurrency == 0`` means none."""

    memory_size_mb: int
    max_concurrency: int
    provisioned_concurrency: int = 0

    def to_api(self) -> dict[str, int]:
        """The ``ServerlessConfig`` of a production variant, as CreateEndpointConfig takes it."""
        config = {"MemorySizeInMB": self.memory_size_mb, "MaxConcurrency": self.max_concurrency}
        if self.provisioned_concurrency:
            config["ProvisionedConcurrency"] = self.provisioned_concurrency
        return config


def _integer(field: str, value: object) -> int:
    # Template parameters and environment variables arrive as strings: accept decimal digits only.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidInputError(field, f"expected an integer, got {value!r}")


def validate_serverless_config(config: Mapping[str, Any]) -> ServerlessConfig:
    """Validate a ServerlessConfig given with the API's keys; raise naming the first bad field.

    ``{"MemorySizeInMB": 2048, "MaxConcurrency": 5}`` (values may be integer strings, as
    CloudFormation passes them); ``ProvisionedConcurrency`` is optional, 0 when absent.
    """
    if not isinstance(config, Mapping):
        raise InvalidInputError("ServerlessConfig", f"expected a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(_KEYS))
    if unknown:
        raise InvalidInputError("ServerlessConfig", f"unknown keys {unknown} (allowed: {', '.join(_KEYS)})")
    for required in _KEYS[:2]:
        if required not in config:
            raise InvalidInputError(required, "is required")
    memory = _integer("MemorySizeInMB", config["MemorySizeInMB"])
    if memory not in SERVERLESS_MEMORY_SIZES_MB:
        raise InvalidInputError(
            "MemorySizeInMB",
            f"must be one of {', '.join(map(str, SERVERLESS_MEMORY_SIZES_MB))}, got {memory}",
        )
    low, high = SERVERLESS_MAX_CONCURRENCY_RANGE
    concurrency = _integer("MaxConcurrency", config["MaxConcurrency"])
    if not low <= concurrency <= high:
        raise InvalidInputError("MaxConcurrency", f"must be between {low} and {high}, got {concurrency}")
    provisioned = _integer("ProvisionedConcurrency", config.get("ProvisionedConcurrency", 0))
    if not 0 <= provisioned <= concurrency:
        raise InvalidInputError(
            "ProvisionedConcurrency",
            f"must be between 0 (none) and MaxConcurrency ({concurrency}), got {provisioned}",
        )
    return ServerlessConfig(memory, concurrency, provisioned)


# --- Scheduled scaling -------------------------------------------------------------------------

VARIANT_DIMENSION: Final = "sagemaker:variant:DesiredInstanceCount"
COMPONENT_DIMENSION: Final = "sagemaker:inference-component:DesiredCopyCount"
TARGET_KINDS: Final = ("variant", "inference-component")
"""The two SageMaker scalable targets a schedule may drive (template parameter TargetKind)."""

DEFAULT_TIMEZONE: Final = "Asia/Tokyo"
SCHEDULE_START_HOUR_RANGE: Final = (0, 22)
SCHEDULE_END_HOUR_RANGE: Final = (1, 23)
"""Inclusive hour bounds (cron hours are 0-23 and the day must start before it ends)."""

SCHEDULED_CAPACITY_MAX: Final = 100
"""Upper bound of every capacity parameter (the endpoint stacks' MaxCapacity bound)."""

BUSINESS_DAYS: Final[Mapping[str, int]] = MappingProxyType(
    {"MON-FRI": 5, "MON-SAT": 6, "SUN-THU": 5, "SUN-SAT": 7}
)
"""Cron day-of-week ranges a schedule accepts, with their number of days per week."""

_HOURS_PER_WEEK: Final = 168
_SCHEDULE_KEYS: Final = (
    "ScalableTargetId",
    "BusinessHoursStart",
    "BusinessHoursEnd",
    "BusinessMinCapacity",
    "BusinessMaxCapacity",
    "OffHoursMinCapacity",
    "OffHoursMaxCapacity",
    "Timezone",
    "BusinessDays",
    "TargetKind",
)
# IANA names (Area/Location[/Sub]) and UTC; Application Auto Scaling checks the name itself.
_TIMEZONE = re.compile(r"^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$")
_RESOURCE_ID = {
    VARIANT_DIMENSION: re.compile(
        r"^endpoint/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/variant/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
    ),
    COMPONENT_DIMENSION: re.compile(r"^inference-component/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"),
}


@dataclass(frozen=True)
class ScalableTargetRef:
    """A SageMaker scalable target as CloudFormation's ``Ref`` of a ScalableTarget names it:
    ``ResourceId|ScalableDimension|ServiceNamespace`` (the endpoint stacks' ``ScalableTargetId``
    output)."""

    resource_id: str
    dimension: str
    namespace: str = "sagemaker"

    @classmethod
    def parse(cls, value: object, field: str = "ScalableTargetId") -> ScalableTargetRef:
        if not isinstance(value, str) or value.count("|") != 2:
            raise InvalidInputError(
                field, f"expected ResourceId|ScalableDimension|ServiceNamespace, got {value!r}"
            )
        resource_id, dimension, namespace = value.split("|")
        if namespace != "sagemaker" or dimension not in _RESOURCE_ID:
            raise InvalidInputError(
                field,
                f"must be a SageMaker variant or inference component target, got {dimension!r} "
                f"in {namespace!r}",
            )
        if not _RESOURCE_ID[dimension].match(resource_id):
            raise InvalidInputError(field, f"resource id {resource_id!r} does not fit dimension {dimension}")
        return cls(resource_id, dimension, namespace)

    @property
    def kind(self) -> str:
        return "variant" if self.dimension == VARIANT_DIMENSION else "inference-component"

    @property
    def min_supported_capacity(self) -> int:
        """A production variant keeps one instance; a component's copies may all go."""
        return 1 if self.kind == "variant" else 0

    def __str__(self) -> str:
        return f"{self.resource_id}|{self.dimension}|{self.namespace}"

    def api_keys(self) -> dict[str, str]:
        """ServiceNamespace, ResourceId and ScalableDimension: the keys of every Auto Scaling call."""
        return {
            "ServiceNamespace": self.namespace,
            "ResourceId": self.resource_id,
            "ScalableDimension": self.dimension,
        }


@dataclass(frozen=True)
class MonthlySavings:
    """Capacity-hours and dollars a schedule saves in a month, against keeping the business-hours
    minimum all the time. ``guaranteed`` assumes the worst case the bounds allow (off-hours at
    their maximum); ``at_minimum`` assumes both periods run at their minimum."""

    off_hours_per_month: float
    capacity_hours_guaranteed: float
    capacity_hours_at_minimum: float
    usd_guaranteed: float
    usd_at_minimum: float
    reduction_at_minimum: float
    """Fraction of the always-on cost saved (0.73 for 9-18 on weekdays down to zero)."""


@dataclass(frozen=True)
class ScheduledScalingConfig:
    """A validated business-hours schedule for one scalable target."""

    target: ScalableTargetRef
    start_hour: int
    end_hour: int
    business_min: int
    business_max: int
    off_hours_min: int
    off_hours_max: int
    timezone: str = DEFAULT_TIMEZONE
    business_days: str = "MON-FRI"

    @property
    def business_hours_per_week(self) -> int:
        return BUSINESS_DAYS[self.business_days] * (self.end_hour - self.start_hour)

    def action_names(self, prefix: str) -> tuple[str, str]:
        return (f"{prefix}-business-hours-start", f"{prefix}-business-hours-end")

    def scheduled_actions(self, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The two PutScheduledAction requests: capacity up at the start, down at the end."""
        start_name, end_name = self.action_names(prefix)
        days = self.business_days
        return (
            {
                **self.target.api_keys(),
                "ScheduledActionName": start_name,
                "Schedule": f"cron(0 {self.start_hour} ? * {days} *)",
                "Timezone": self.timezone,
                "ScalableTargetAction": {"MinCapacity": self.business_min, "MaxCapacity": self.business_max},
            },
            {
                **self.target.api_keys(),
                "ScheduledActionName": end_name,
                "Schedule": f"cron(0 {self.end_hour} ? * {days} *)",
                "Timezone": self.timezone,
                "ScalableTargetAction": {
                    "MinCapacity": self.off_hours_min,
                    "MaxCapacity": self.off_hours_max,
                },
            },
        )

    def monthly_savings(self, unit_hourly_usd: float) -> MonthlySavings:
        """Savings of one month, pricing one unit of capacity (an instance of a variant, or the
        instance share of one component copy) at ``unit_hourly_usd``."""
        if unit_hourly_usd < 0:
            raise InvalidInputError("unit_hourly_usd", f"must be non-negative, got {unit_hourly_usd}")
        weeks = HOURS_PER_MONTH / _HOURS_PER_WEEK
        off_hours = (_HOURS_PER_WEEK - self.business_hours_per_week) * weeks
        guaranteed = (self.business_min - self.off_hours_max) * off_hours
        at_minimum = (self.business_min - self.off_hours_min) * off_hours
        always_on = self.business_min * HOURS_PER_MONTH
        return MonthlySavings(
            off_hours_per_month=off_hours,
            capacity_hours_guaranteed=guaranteed,
            capacity_hours_at_minimum=at_minimum,
            usd_guaranteed=guaranteed * unit_hourly_usd,
            usd_at_minimum=at_minimum * unit_hourly_usd,
            reduction_at_minimum=at_minimum / always_on if always_on else 0.0,
        )


def _bounded(field: str, value: object, low: int, high: int) -> int:
    number = _integer(field, value)
    if not low <= number <= high:
        raise InvalidInputError(field, f"must be between {low} and {high}, got {number}")
    return number


def _schedule_capacities(config: Mapping[str, Any], floor: int) -> dict[str, int]:
    capacities: dict[str, int] = {}
    for name in ("BusinessMinCapacity", "BusinessMaxCapacity", "OffHoursMinCapacity", "OffHoursMaxCapacity"):
        capacities[name] = _bounded(name, config[name], 0, SCHEDULED_CAPACITY_MAX)
    for period in ("Business", "OffHours"):
        low, high = capacities[f"{period}MinCapacity"], capacities[f"{period}MaxCapacity"]
        if low > high:
            raise InvalidInputError(
                f"{period}MinCapacity", f"must not exceed {period}MaxCapacity ({high}), got {low}"
            )
        if low < floor:
            raise InvalidInputError(
                f"{period}MinCapacity",
                f"a standard variant keeps at least {floor} instance (only inference components "
                f"reach 0), got {low}",
            )
    if capacities["OffHoursMaxCapacity"] > capacities["BusinessMinCapacity"]:
        raise InvalidInputError(
            "OffHoursMaxCapacity",
            f"must not exceed BusinessMinCapacity ({capacities['BusinessMinCapacity']}) or off-hours "
            f"may cost more than business hours, got {capacities['OffHoursMaxCapacity']}",
        )
    if capacities["BusinessMaxCapacity"] == 0:
        raise InvalidInputError("BusinessMaxCapacity", "must be at least 1: business hours need capacity")
    return capacities


def validate_scheduled_scaling(config: Mapping[str, Any]) -> ScheduledScalingConfig:
    """Validate a schedule given with the template's parameter names; raise naming the field.

    Required: ``ScalableTargetId``, ``BusinessHoursStart``, ``BusinessHoursEnd`` and the four
    capacities; optional: ``Timezone`` (Asia/Tokyo), ``BusinessDays`` (MON-FRI) and
    ``TargetKind`` (must then match the target's dimension).
    """
    if not isinstance(config, Mapping):
        raise InvalidInputError("ScheduledScaling", f"expected a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(_SCHEDULE_KEYS))
    if unknown:
        raise InvalidInputError(
            "ScheduledScaling", f"unknown keys {unknown} (allowed: {', '.join(_SCHEDULE_KEYS)})"
        )
    for required in _SCHEDULE_KEYS[:7]:
        if required not in config:
            raise InvalidInputError(required, "is required")
    target = ScalableTargetRef.parse(config["ScalableTargetId"])
    kind = config.get("TargetKind", target.kind)
    if kind != target.kind:
        raise InvalidInputError("TargetKind", f"is {kind!r} but ScalableTargetId is a {target.kind} target")
    timezone = config.get("Timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str) or not _TIMEZONE.match(timezone):
        raise InvalidInputError(
            "Timezone", f"expected an IANA time zone such as Asia/Tokyo, got {timezone!r}"
        )
    days = config.get("BusinessDays", "MON-FRI")
    if days not in BUSINESS_DAYS:
        raise InvalidInputError("BusinessDays", f"must be one of {', '.join(BUSINESS_DAYS)}, got {days!r}")
    start = _bounded("BusinessHoursStart", config["BusinessHoursStart"], *SCHEDULE_START_HOUR_RANGE)
    end = _bounded("BusinessHoursEnd", config["BusinessHoursEnd"], *SCHEDULE_END_HOUR_RANGE)
    if start >= end:
        raise InvalidInputError(
            "BusinessHoursEnd", f"business hours must start before they end, got {start}-{end}"
        )
    capacities = _schedule_capacities(config, target.min_supported_capacity)
    return ScheduledScalingConfig(
        target=target,
        start_hour=start,
        end_hour=end,
        business_min=capacities["BusinessMinCapacity"],
        business_max=capacities["BusinessMaxCapacity"],
        off_hours_min=capacities["OffHoursMinCapacity"],
        off_hours_max=capacities["OffHoursMaxCapacity"],
        timezone=timezone,
        business_days=days,
    )


# --- Billing alarm thresholds --------------------------------------------------------------------

BILLING_THRESHOLD_RANGE: Final = (1, 1_000_000)
"""Inclusive USD bounds of each threshold parameter of billing-alarm.yaml."""

BILLING_DEFAULT_THRESHOLDS: Final = (100, 200, 500)
"""Warning, Critical, Emergency defaults (USD of estimated monthly charges)."""

_BILLING_KEYS: Final = ("WarningThreshold", "CriticalThreshold", "EmergencyThreshold")
_AMOUNT = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")


@dataclass(frozen=True)
class BillingThresholds:
    """USD amounts of estimated month-to-date charges, strictly increasing."""

    warning: Decimal
    critical: Decimal
    emergency: Decimal

    def tiers(self) -> tuple[tuple[str, Decimal], ...]:
        return (("Warning", self.warning), ("Critical", self.critical), ("Emergency", self.emergency))


def _amount(field: str, value: object) -> Decimal:
    if isinstance(value, bool):
        raise InvalidInputError(field, f"expected an amount in USD, got {value!r}")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        try:
            amount = Decimal(repr(value))
        except InvalidOperation as error:  # pragma: no cover - repr of a float is always parseable
            raise InvalidInputError(field, f"expected an amount in USD, got {value!r}") from error
        if not amount.is_finite():
            raise InvalidInputError(field, f"expected a finite amount in USD, got {value!r}")
    elif isinstance(value, str) and _AMOUNT.match(value.strip()):
        amount = Decimal(value.strip())
    else:
        raise InvalidInputError(field, f"expected an amount in USD (at most 2 decimals), got {value!r}")
    low, high = BILLING_THRESHOLD_RANGE
    if not low <= amount <= high:
        raise InvalidInputError(field, f"must be between {low} and {high} USD, got {amount}")
    return amount


def validate_billing_thresholds(config: Mapping[str, Any]) -> BillingThresholds:
    """Validate the three thresholds (template parameter names, defaults 100/200/500 when absent);
    require warning < critical < emergency, naming the first threshold out of order."""
    if not isinstance(config, Mapping):
        raise InvalidInputError("BillingThresholds", f"expected a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(_BILLING_KEYS))
    if unknown:
        raise InvalidInputError(
            "BillingThresholds", f"unknown keys {unknown} (allowed: {', '.join(_BILLING_KEYS)})"
        )
    warning, critical, emergency = (
        _amount(key, config.get(key, default))
        for key, default in zip(_BILLING_KEYS, BILLING_DEFAULT_THRESHOLDS, strict=True)
    )
    if not warning < critical:
        raise InvalidInputError(
            "CriticalThreshold", f"must be above WarningThreshold ({warning}), got {critical}"
        )
    if not critical < emergency:
        raise InvalidInputError(
            "EmergencyThreshold", f"must be above CriticalThreshold ({critical}), got {emergency}"
        )
    return BillingThresholds(warning, critical, emergency)
