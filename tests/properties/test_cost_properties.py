"""Cost-control invariants (Hypothesis), each checked against production code.

#5 a schedule is accepted only when business hours start before they end; #6 an accepted schedule
never lets an off-hour cost more than a business hour (off-hours max <= business min), so its
guaranteed savings are never negative; #7 billing thresholds are accepted only in the order
warning < critical < emergency; #8 an endpoint tagged DoNotAutoStop=true is never acted on,
whatever its state and the configured action; #9 in production no decision deletes anything.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.auto_stop import (
    DESTRUCTIVE_STEPS,
    AutoStopAction,
    AutoStopSettings,
    ComponentState,
    EndpointSnapshot,
    ScalableTargetState,
    VariantState,
    decide,
)
from shared.cost_validation import (
    COMPONENT_DIMENSION,
    VARIANT_DIMENSION,
    validate_billing_thresholds,
    validate_scheduled_scaling,
)
from shared.errors import InvalidInputError

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TARGETS = {
    "variant": f"endpoint/ep/variant/AllTraffic|{VARIANT_DIMENSION}|sagemaker",
    "inference-component": f"inference-component/ic|{COMPONENT_DIMENSION}|sagemaker",
}
hours = st.integers(min_value=-2, max_value=26)
capacities = st.integers(min_value=-1, max_value=102)


def _schedule(config: dict[str, Any]) -> Any:
    try:
        return validate_scheduled_scaling(config)
    except InvalidInputError:
        return None


@given(st.sampled_from(sorted(TARGETS)), hours, hours, capacities, capacities, capacities, capacities)
def test_5_and_6_accepted_schedules_are_ordered_and_reduce_cost(
    kind: str, start: int, end: int, business_min: int, business_max: int, off_min: int, off_max: int
) -> None:
    config = _schedule(
        {
            "ScalableTargetId": TARGETS[kind],
            "BusinessHoursStart": start,
            "BusinessHoursEnd": end,
            "BusinessMinCapacity": business_min,
            "BusinessMaxCapacity": business_max,
            "OffHoursMinCapacity": off_min,
            "OffHoursMaxCapacity": off_max,
        }
    )
    if start >= end:
        assert config is None  # 5
    if config is None:
        return
    assert config.start_hour < config.end_hour  # 5
    assert (
        0 <= config.off_hours_min <= config.off_hours_max <= config.business_min <= config.business_max
    )  # 6
    if kind == "variant":
        assert config.off_hours_min >= 1
    savings = config.monthly_savings(unit_hourly_usd=0.115)
    assert savings.usd_guaranteed >= 0 and savings.capacity_hours_guaranteed >= 0  # 6
    assert savings.usd_at_minimum >= savings.usd_guaranteed


amounts = st.one_of(st.integers(-5, 2_000_000), st.decimals(0, 2_000, places=2).map(str))


@given(amounts, amounts, amounts)
def test_7_billing_thresholds_are_accepted_only_strictly_increasing(
    warning: Any, critical: Any, emergency: Any
) -> None:
    try:
        thresholds = validate_billing_thresholds(
            {"WarningThreshold": warning, "CriticalThreshold": critical, "EmergencyThreshold": emergency}
        )
    except InvalidInputError:
        return
    assert thresholds.warning < thresholds.critical < thresholds.emergency


targets = st.none() | st.builds(
    ScalableTargetState,
    resource_id=st.just("endpoint/ep/variant/AllTraffic"),
    dimension=st.just(VARIANT_DIMENSION),
    min_capacity=st.integers(0, 5),
    max_capacity=st.integers(5, 10),
    scheduled_suspended=st.booleans(),
    scheduled_min_capacities=st.lists(st.integers(0, 5), max_size=3).map(tuple),
)
variants = st.builds(
    VariantState,
    name=st.sampled_from(["AllTraffic", "Blue"]),
    current_instances=st.integers(0, 8),
    instance_type=st.sampled_from(["ml.m5.large", "ml.g5.xlarge", "ml.unknown.size", None]),
    serverless=st.booleans(),
    managed_min_instances=st.none() | st.integers(0, 2),
    target=targets,
)
snapshots = st.builds(
    EndpointSnapshot,
    name=st.just("fsxn-ep"),
    status=st.sampled_from(["InService", "Updating", "Creating", "Failed"]),
    in_service_since=st.integers(0, 600).map(lambda minutes: NOW - timedelta(minutes=minutes)),
    tags=st.dictionaries(
        st.sampled_from(["DoNotAutoStop", "Owner"]), st.sampled_from(["true", "false", "x"])
    ),
    variants=st.lists(variants, min_size=1, max_size=2, unique_by=lambda v: v.name).map(tuple),
    components=st.lists(
        st.builds(
            ComponentState,
            name=st.sampled_from(["ic-a", "ic-b"]),
            variant_name=st.sampled_from(["AllTraffic", "Blue"]),
            copies=st.integers(0, 4),
        ),
        max_size=2,
        unique_by=lambda c: c.name,
    ).map(tuple),
    invocations=st.none() | st.floats(0, 100),
)
settings_ = st.builds(
    AutoStopSettings,
    endpoint_prefix=st.just("fsxn"),
    environment=st.sampled_from(["production", "Production", "staging", "development", "prod", "qa"]),
    action=st.sampled_from(list(AutoStopAction)),
    idle_window_minutes=st.integers(5, 240),
    dry_run=st.booleans(),
)


@given(snapshots, settings_)
def test_8_a_protected_endpoint_is_never_acted_on(
    snapshot: EndpointSnapshot, settings: AutoStopSettings
) -> None:
    protected = EndpointSnapshot(
        snapshot.name,
        snapshot.status,
        snapshot.in_service_since,
        {**snapshot.tags, "DoNotAutoStop": "true"},
        snapshot.variants,
        snapshot.components,
        snapshot.invocations,
    )
    decision = decide(protected, settings, NOW)
    assert not decision.acts and decision.steps == () and decision.reason == "protected"


@given(snapshots, settings_)
def test_9_in_production_the_action_is_never_delete(
    snapshot: EndpointSnapshot, settings: AutoStopSettings
) -> None:
    production = AutoStopSettings(
        settings.endpoint_prefix,
        "production",
        settings.action,
        settings.idle_window_minutes,
        settings.dry_run,
    )
    decision = decide(snapshot, production, NOW)
    assert decision.action is not AutoStopAction.DELETE
    assert not {step.kind for step in decision.steps} & DESTRUCTIVE_STEPS
    if decision.acts:
        assert decision.action in {AutoStopAction.SCALE_TO_MINIMUM, AutoStopAction.DISABLE_SCHEDULING}
