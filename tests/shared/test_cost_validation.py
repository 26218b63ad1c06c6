"""shared.cost_validation (ServerlessConfig, scheduled scaling, billing thresholds) and the cost model
of shared.pricing that the chart and the savings estimates share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.cost_validation import (
    BillingThresholds,
    ScalableTargetRef,
    ServerlessConfig,
    validate_billing_thresholds,
    validate_scheduled_scaling,
    validate_serverless_config,
)
from shared.errors import InvalidInputError
from shared.pricing import (
    HOURS_PER_MONTH,
    INSTANCE_HOURLY_USD,
    PRICE_DATE,
    PRICE_SOURCE,
    CostPath,
    Workload,
    break_even_requests,
    monthly_cost,
)


@pytest.mark.parametrize("memory", [1024, 2048, 3072, 4096, 5120, 6144])
def test_every_memory_size_sagemaker_offers_is_accepted(memory: int) -> None:
    config = validate_serverless_config({"MemorySizeInMB": memory, "MaxConcurrency": 5})
    assert config == ServerlessConfig(memory, 5, 0)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"MemorySizeInMB": 4096, "MaxConcurrency": 1}, ServerlessConfig(4096, 1, 0)),
        ({"MemorySizeInMB": 4096, "MaxConcurrency": 200}, ServerlessConfig(4096, 200, 0)),
        (
            {"MemorySizeInMB": 4096, "MaxConcurrency": 5, "ProvisionedConcurrency": 5},
            ServerlessConfig(4096, 5, 5),
        ),
        (
            {"MemorySizeInMB": 4096, "MaxConcurrency": 5, "ProvisionedConcurrency": 0},
            ServerlessConfig(4096, 5, 0),
        ),
        # CloudFormation passes parameters as strings
        (
            {"MemorySizeInMB": "2048", "MaxConcurrency": "10", "ProvisionedConcurrency": "2"},
            ServerlessConfig(2048, 10, 2),
        ),
    ],
)
def test_valid_configs(config: dict[str, Any], expected: ServerlessConfig) -> None:
    assert validate_serverless_config(config) == expected


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"MemorySizeInMB": 1000, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 1536, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 7168, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 2048, "MaxConcurrency": 0}, "MaxConcurrency"),
        ({"MemorySizeInMB": 2048, "MaxConcurrency": 201}, "MaxConcurrency"),
        (
            {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 6},
            "ProvisionedConcurrency",
        ),
        (
            {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": -1},
            "ProvisionedConcurrency",
        ),
        ({"MemorySizeInMB": 2048.0, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": True, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": "2 GB", "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 2048}, "MaxConcurrency"),
        ({"MemorySizeInMB": 2048, "MaxConcurrency": 5, "Memory": 1}, "ServerlessConfig"),
    ],
)
def test_invalid_configs_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_serverless_config(config)
    assert caught.value.field == field


def test_not_a_mapping_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="expected a mapping"):
        validate_serverless_config([("MemorySizeInMB", 1024)])  # type: ignore[arg-type]


def test_to_api_leaves_out_provisioned_concurrency_when_none() -> None:
    assert ServerlessConfig(2048, 5).to_api() == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert ServerlessConfig(2048, 5, 1).to_api() == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
        "ProvisionedConcurrency": 1,
    }


# --- scheduled scaling ---------------------------------------------------------------------------

VARIANT = "endpoint/fsxn-rt/variant/AllTraffic|sagemaker:variant:DesiredInstanceCount|sagemaker"
COMPONENT = "inference-component/fsxn-ic|sagemaker:inference-component:DesiredCopyCount|sagemaker"


def schedule(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ScalableTargetId": VARIANT,
        "BusinessHoursStart": 9,
        "BusinessHoursEnd": 18,
        "BusinessMinCapacity": 4,
        "BusinessMaxCapacity": 6,
        "OffHoursMinCapacity": 1,
        "OffHoursMaxCapacity": 1,
    }
    return values | overrides


def test_schedule_builds_two_actions_with_cron_and_timezone() -> None:
    config = validate_scheduled_scaling(schedule(Timezone="Europe/Paris", BusinessDays="MON-SAT"))
    start, end = config.scheduled_actions("stack")
    assert start == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/fsxn-rt/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ScheduledActionName": "stack-business-hours-start",
        "Schedule": "cron(0 9 ? * MON-SAT *)",
        "Timezone": "Europe/Paris",
        "ScalableTargetAction": {"MinCapacity": 4, "MaxCapacity": 6},
    }
    assert end["Schedule"] == "cron(0 18 ? * MON-SAT *)"
    assert end["ScalableTargetAction"] == {"MinCapacity": 1, "MaxCapacity": 1}


def test_schedule_defaults_to_tokyo_weekdays_and_accepts_template_strings() -> None:
    config = validate_scheduled_scaling({k: str(v) for k, v in schedule().items()})
    assert (config.timezone, config.business_days, config.start_hour, config.end_hour) == (
        "Asia/Tokyo",
        "MON-FRI",
        9,
        18,
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"BusinessHoursStart": 18, "BusinessHoursEnd": 9}, "BusinessHoursEnd"),
        ({"BusinessHoursStart": 9, "BusinessHoursEnd": 9}, "BusinessHoursEnd"),
        ({"BusinessHoursStart": 23}, "BusinessHoursStart"),
        ({"BusinessHoursEnd": 24}, "BusinessHoursEnd"),
        ({"OffHoursMaxCapacity": 5}, "OffHoursMaxCapacity"),
        ({"BusinessMinCapacity": 7}, "BusinessMinCapacity"),
        ({"OffHoursMinCapacity": 2, "OffHoursMaxCapacity": 1}, "OffHoursMinCapacity"),
        ({"OffHoursMinCapacity": -1}, "OffHoursMinCapacity"),
        ({"OffHoursMinCapacity": 0, "OffHoursMaxCapacity": 0}, "OffHoursMinCapacity"),
        ({"BusinessMaxCapacity": 101}, "BusinessMaxCapacity"),
        ({"Timezone": "Tokyo"}, "Timezone"),
        ({"Timezone": "Asia/Tokyo; DROP"}, "Timezone"),
        ({"BusinessDays": "MON-SUN"}, "BusinessDays"),
        ({"TargetKind": "inference-component"}, "TargetKind"),
        ({"ScalableTargetId": "endpoint/x/variant/AllTraffic"}, "ScalableTargetId"),
        ({"ScalableTargetId": "table/x|dynamodb:table:ReadCapacityUnits|dynamodb"}, "ScalableTargetId"),
        (
            {"ScalableTargetId": "inference-component/x|sagemaker:variant:DesiredInstanceCount|sagemaker"},
            "ScalableTargetId",
        ),
        ({"Extra": 1}, "ScheduledScaling"),
    ],
)
def test_invalid_schedules_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_scheduled_scaling(schedule(**overrides))
    assert caught.value.field == field


def test_only_inference_components_may_reach_zero() -> None:
    config = validate_scheduled_scaling(
        schedule(
            ScalableTargetId=COMPONENT, OffHoursMinCapacity=0, OffHoursMaxCapacity=0, BusinessMinCapacity=1
        )
    )
    assert config.target.kind == "inference-component" and config.off_hours_max == 0
    assert ScalableTargetRef.parse(VARIANT).min_supported_capacity == 1


def test_savings_of_four_instances_down_to_one_off_hours() -> None:
    config = validate_scheduled_scaling(schedule())
    savings = config.monthly_savings(unit_hourly_usd=0.115)
    off_hours = (168 - 45) * HOURS_PER_MONTH / 168
    assert savings.off_hours_per_month == pytest.approx(off_hours)
    assert savings.capacity_hours_guaranteed == pytest.approx(3 * off_hours)
    assert savings.usd_guaranteed == pytest.approx(3 * off_hours * 0.115)
    # 75 % of each off-hour, 123/168 of the week: 55 % of the always-on cost
    assert savings.reduction_at_minimum == pytest.approx(0.75 * 123 / 168)


def test_components_down_to_zero_off_hours_save_about_seventy_percent() -> None:
    config = validate_scheduled_scaling(
        schedule(
            ScalableTargetId=COMPONENT, BusinessMinCapacity=1, OffHoursMinCapacity=0, OffHoursMaxCapacity=0
        )
    )
    assert config.monthly_savings(1.0).reduction_at_minimum == pytest.approx(123 / 168)  # 0.732


# --- billing thresholds --------------------------------------------------------------------------------


def test_billing_defaults_and_strings() -> None:
    assert validate_billing_thresholds({}) == BillingThresholds(Decimal(100), Decimal(200), Decimal(500))
    assert validate_billing_thresholds(
        {"WarningThreshold": "50.5", "CriticalThreshold": 75, "EmergencyThreshold": 80.25}
    ).tiers() == (("Warning", Decimal("50.5")), ("Critical", Decimal(75)), ("Emergency", Decimal("80.25")))


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"WarningThreshold": 200}, "CriticalThreshold"),
        ({"CriticalThreshold": 500}, "EmergencyThreshold"),
        ({"WarningThreshold": 300, "CriticalThreshold": 200}, "CriticalThreshold"),
        ({"WarningThreshold": 0}, "WarningThreshold"),
        ({"EmergencyThreshold": 1_000_001}, "EmergencyThreshold"),
        ({"WarningThreshold": "1e3"}, "WarningThreshold"),
        ({"WarningThreshold": True}, "WarningThreshold"),
        ({"WarningThreshold": float("nan")}, "WarningThreshold"),
        ({"Warning": 1}, "BillingThresholds"),
    ],
)
def test_billing_thresholds_must_increase(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_billing_thresholds(config)
    assert caught.value.field == field


# --- the cost model (shared.pricing) -------------------------------------------------------------------


def test_price_table_names_its_source_and_date() -> None:
    assert PRICE_SOURCE.startswith("https://aws.amazon.com/sagemaker")
    assert PRICE_DATE
    assert all(type_.startswith("ml.") and price > 0 for type_, price in INSTANCE_HOURLY_USD.items())


def test_a_realtime_endpoint_costs_its_instance_every_hour_of_the_month() -> None:
    assert monthly_cost(CostPath.REALTIME_ENDPOINT, Workload(0)) == pytest.approx(0.115 * 730)
    assert monthly_cost(CostPath.INFERENCE_COMPONENTS, Workload(0)) == 0.0
    assert monthly_cost(CostPath.SERVERLESS_INFERENCE, Workload(0)) == 0.0


def test_serverless_costs_duration_times_memory_plus_data() -> None:
    cost = monthly_cost(CostPath.SERVERLESS_INFERENCE, Workload(1_000_000, payload_bytes=1024**3 // 1000))
    assert cost == pytest.approx(1_000_000 * 0.2 * 2 * 0.00002 + 1000 * 0.016, rel=1e-3)


def test_break_even_is_where_the_curves_cross() -> None:
    steady = Workload(0, active_days=30, active_hours_per_day=24)
    volume = break_even_requests(CostPath.SERVERLESS_INFERENCE, CostPath.REALTIME_ENDPOINT, steady)
    assert volume is not None
    below, above = (
        Workload(volume * 0.99, active_days=30, active_hours_per_day=24),
        Workload(volume * 1.01, active_days=30, active_hours_per_day=24),
    )
    assert monthly_cost(CostPath.SERVERLESS_INFERENCE, below) < monthly_cost(
        CostPath.REALTIME_ENDPOINT, below
    )
    assert monthly_cost(CostPath.SERVERLESS_INFERENCE, above) > monthly_cost(
        CostPath.REALTIME_ENDPOINT, above
    )


def test_the_committed_chart_is_drawn_from_the_current_model() -> None:
    from scripts.cost_chart import OUTPUT, render

    assert OUTPUT.read_text(encoding="utf-8") == render(), "run python -m scripts.cost_chart"
