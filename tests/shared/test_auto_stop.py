"""shared.auto_stop: the pure decision, every rule and every action, without AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auto_stop import (
    AutoStopAction,
    AutoStopSettings,
    ComponentState,
    EndpointSnapshot,
    ScalableTargetState,
    SkipReason,
    Step,
    StepKind,
    VariantState,
    decide,
    is_protected,
    summarize,
)
from shared.cost_validation import COMPONENT_DIMENSION, VARIANT_DIMENSION
from shared.errors import InvalidInputError

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=5)
SCALE = AutoStopSettings("fsxn", "staging")


def variant_target(minimum: int = 1, maximum: int = 4, **kwargs: Any) -> ScalableTargetState:
    return ScalableTargetState(
        "endpoint/fsxn-rt/variant/AllTraffic", VARIANT_DIMENSION, minimum, maximum, **kwargs
    )


def realtime(
    instances: int = 3, target: ScalableTargetState | None = None, **kwargs: Any
) -> EndpointSnapshot:
    values: dict[str, Any] = {
        "name": "fsxn-rt",
        "status": "InService",
        "in_service_since": OLD,
        "variants": (VariantState("AllTraffic", instances, "ml.m5.large", target=target),),
    }
    return EndpointSnapshot(**(values | kwargs))


def components(
    managed_min: int | None = 0, copies: int = 2, instances: int = 2, **kwargs: Any
) -> EndpointSnapshot:
    target = ScalableTargetState("inference-component/fsxn-ic", COMPONENT_DIMENSION, 1, 4, **kwargs)
    return EndpointSnapshot(
        "fsxn-ic-endpoint",
        "InService",
        OLD,
        variants=(VariantState("AllTraffic", instances, "ml.g5.xlarge", managed_min_instances=managed_min),),
        components=(ComponentState("fsxn-ic", "AllTraffic", copies, target),),
    )


# --- when nothing happens -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (realtime(tags={"DoNotAutoStop": "true"}), SkipReason.PROTECTED),
        (realtime(tags={"DoNotAutoStop": " TRUE "}), SkipReason.PROTECTED),
        (realtime(status="Updating"), SkipReason.NOT_IN_SERVICE),
        (realtime(in_service_since=NOW - timedelta(minutes=59)), SkipReason.YOUNGER_THAN_WINDOW),
        (
            realtime(in_service_since=NOW - timedelta(minutes=59), invocations=None),
            SkipReason.YOUNGER_THAN_WINDOW,
        ),
        (realtime(invocations=1.0), SkipReason.INVOKED),
        (realtime(instances=1), SkipReason.ALREADY_AT_MINIMUM),
        (realtime(instances=0), SkipReason.NO_INSTANCES),
        (
            EndpointSnapshot(
                "fsxn-sl", "InService", OLD, variants=(VariantState("AllTraffic", 0, serverless=True),)
            ),
            SkipReason.NO_INSTANCES,
        ),
    ],
)
def test_skips_name_their_reason(snapshot: EndpointSnapshot, reason: SkipReason) -> None:
    decision = decide(snapshot, AutoStopSettings("fsxn", "development", AutoStopAction.SCALE_TO_MINIMUM), NOW)
    assert not decision.acts
    assert decision.reason == reason.value
    assert decision.steps == ()


def test_protection_beats_every_action_even_delete() -> None:
    settings = AutoStopSettings("fsxn", "development", AutoStopAction.DELETE)
    assert not decide(realtime(tags={"DoNotAutoStop": "true"}), settings, NOW).acts


@pytest.mark.parametrize("value", ["false", "yes", "", "1"])
def test_only_the_value_true_protects(value: str) -> None:
    assert not is_protected({"DoNotAutoStop": value})
    assert decide(realtime(tags={"DoNotAutoStop": value}), SCALE, NOW).acts


def test_no_datapoint_is_zero_invocations_once_older_than_the_window() -> None:
    decision = decide(realtime(invocations=None, in_service_since=NOW - timedelta(minutes=60)), SCALE, NOW)
    assert decision.acts


# --- scale_to_minimum -----------------------------------------------------------------------------


def test_standard_variant_goes_to_one_instance_after_lowering_its_target() -> None:
    decision = decide(realtime(instances=3, target=variant_target(minimum=2)), SCALE, NOW)
    assert decision.action is AutoStopAction.SCALE_TO_MINIMUM
    assert decision.steps == (
        Step(StepKind.REGISTER_TARGET, {**variant_target().api_keys(), "MinCapacity": 1}),
        Step(
            StepKind.UPDATE_ENDPOINT_CAPACITIES,
            {
                "EndpointName": "fsxn-rt",
                "DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredInstanceCount": 1}],
            },
        ),
    )
    assert decision.instances_released == 2
    assert decision.savings_per_hour == pytest.approx(0.23)


def test_all_variants_go_in_one_capacity_update() -> None:
    snapshot = EndpointSnapshot(
        "fsxn-ab",
        "InService",
        OLD,
        variants=(VariantState("A", 2, "ml.m5.large"), VariantState("B", 3, "ml.c5.xlarge")),
    )
    decision = decide(snapshot, SCALE, NOW)
    (update,) = decision.steps
    assert update.params["DesiredWeightsAndCapacities"] == [
        {"VariantName": "A", "DesiredInstanceCount": 1},
        {"VariantName": "B", "DesiredInstanceCount": 1},
    ]
    assert decision.savings_per_hour == pytest.approx(0.115 + 2 * 0.204)


def test_unknown_instance_types_are_reported_not_priced() -> None:
    snapshot = realtime()
    snapshot = EndpointSnapshot(
        snapshot.name, "InService", OLD, variants=(VariantState("AllTraffic", 3, "ml.x99.huge"),)
    )
    decision = decide(snapshot, SCALE, NOW)
    assert decision.acts and decision.savings_per_hour == 0.0
    assert decision.unpriced_instance_types == ("ml.x99.huge",)


@pytest.mark.parametrize(("managed_min", "copies_after", "released"), [(0, 0, 2), (1, 1, 1)])
def test_components_reach_zero_copies_only_with_managed_minimum_zero(
    managed_min: int, copies_after: int, released: int
) -> None:
    decision = decide(components(managed_min), SCALE, NOW)
    *register, update = decision.steps
    # the copy-count target's floor (1) is lowered first, only when the copies go below it
    assert [step.params["MinCapacity"] for step in register] == ([0] if copies_after == 0 else [])
    assert update == Step(
        StepKind.UPDATE_COMPONENT_COPIES, {"InferenceComponentName": "fsxn-ic", "CopyCount": copies_after}
    )
    assert decision.instances_released == released
    assert decision.savings_per_hour == pytest.approx(released * 1.408)


def test_components_without_managed_scaling_keep_one_instance_and_one_copy() -> None:
    decision = decide(components(None, instances=3), SCALE, NOW)
    assert decision.steps[-1].kind is StepKind.UPDATE_ENDPOINT_CAPACITIES
    assert decision.steps[-1].params["DesiredWeightsAndCapacities"] == [
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 1}
    ]
    assert {"InferenceComponentName": "fsxn-ic", "CopyCount": 1} in [s.params for s in decision.steps]


# --- disable_scheduling ---------------------------------------------------------------------------


def test_disable_scheduling_suspends_and_holds_the_lowest_scheduled_minimum() -> None:
    target = variant_target(minimum=4, maximum=6, scheduled_min_capacities=(4, 2))
    decision = decide(
        realtime(instances=4, target=target),
        AutoStopSettings("fsxn", "production", AutoStopAction.DISABLE_SCHEDULING),
        NOW,
    )
    register, update = decision.steps
    assert register.params["SuspendedState"] == {"ScheduledScalingSuspended": True}
    assert register.params["MinCapacity"] == 2
    assert update.params["DesiredWeightsAndCapacities"][0]["DesiredInstanceCount"] == 2
    assert decision.instances_released == 2


def test_disable_scheduling_on_an_already_suspended_target_at_its_level_does_nothing() -> None:
    target = variant_target(minimum=1, scheduled_suspended=True, scheduled_min_capacities=(1,))
    settings = AutoStopSettings("fsxn", "production", AutoStopAction.DISABLE_SCHEDULING)
    assert decide(realtime(instances=1, target=target), settings, NOW).reason == SkipReason.ALREADY_AT_MINIMUM


# --- delete ---------------------------------------------------------------------------------------


def test_delete_outside_production_removes_targets_components_then_the_endpoint() -> None:
    decision = decide(components(0), AutoStopSettings("fsxn", "development", AutoStopAction.DELETE), NOW)
    assert [s.kind for s in decision.steps] == [
        StepKind.DEREGISTER_TARGET,
        StepKind.DELETE_COMPONENT,
        StepKind.DELETE_ENDPOINT,
    ]
    assert decision.instances_released == 2


@pytest.mark.parametrize("environment", ["production", "Production", "prod", "anything-else", "PRODUCTION "])
def test_delete_becomes_scale_to_minimum_unless_the_environment_is_known_non_production(
    environment: str,
) -> None:
    decision = decide(realtime(), AutoStopSettings("fsxn", environment, AutoStopAction.DELETE), NOW)
    assert decision.action is AutoStopAction.SCALE_TO_MINIMUM
    assert decision.action_downgraded
    assert StepKind.DELETE_ENDPOINT not in [s.kind for s in decision.steps]


# --- settings and report --------------------------------------------------------------------------


def test_settings_from_env_with_defaults() -> None:
    settings = AutoStopSettings.from_env({"ENDPOINT_NAME_PREFIX": "fsxn", "ENVIRONMENT": "staging"})
    assert settings == AutoStopSettings("fsxn", "staging", AutoStopAction.SCALE_TO_MINIMUM, 60, False)
    assert settings.matches("FSXN-realtime") and not settings.matches("other-fsxn")


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"ENVIRONMENT": "staging"}, "ENDPOINT_NAME_PREFIX"),
        ({"ENDPOINT_NAME_PREFIX": "fsxn"}, "ENVIRONMENT"),
        (
            {"ENDPOINT_NAME_PREFIX": "fsxn", "ENVIRONMENT": "x", "AUTO_STOP_ACTION": "stop"},
            "AUTO_STOP_ACTION",
        ),
        (
            {"ENDPOINT_NAME_PREFIX": "fsxn", "ENVIRONMENT": "x", "IDLE_WINDOW_MINUTES": "1h"},
            "IDLE_WINDOW_MINUTES",
        ),
        (
            {"ENDPOINT_NAME_PREFIX": "fsxn", "ENVIRONMENT": "x", "IDLE_WINDOW_MINUTES": "2"},
            "IDLE_WINDOW_MINUTES",
        ),
        ({"ENDPOINT_NAME_PREFIX": "fsxn", "ENVIRONMENT": "x", "DRY_RUN": "maybe"}, "DRY_RUN"),
    ],
)
def test_settings_reject_bad_values_naming_them(environ: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        AutoStopSettings.from_env(environ)
    assert caught.value.field == field


def test_summary_counts_failures_as_evaluated() -> None:
    acted = decide(realtime(), SCALE, NOW)
    skipped = decide(realtime(invocations=3.0, name="fsxn-busy"), SCALE, NOW)
    report = summarize([acted, skipped], [{"endpoint_name": "fsxn-x", "error": "ThrottlingException"}], False)
    assert report["evaluated"] == 3
    assert report["stopped"] == ["fsxn-rt"]
    assert report["skipped"] == {"fsxn-busy": "invoked"}
    assert report["estimated_savings_per_hour"] == pytest.approx(0.23)
