"""SageMaker list prices and the monthly cost model of the four inference paths.

One model serves three readers, so their numbers cannot drift apart:

* auto-stop (:mod:`shared.auto_stop`) prices the instances it releases
  (``EstimatedSavingsPerHour``) with :func:`instance_hourly_usd`;
* scheduled scaling (:mod:`shared.cost_validation`) estimates its monthly savings from the same
  hourly prices;
* ``scripts/cost_chart.py`` draws ``docs/cost-breakeven.svg`` from :func:`monthly_cost`, and
  docs/cost-guide.md quotes the same functions.

**Source.** Amazon SageMaker AI pricing page (https://aws.amazon.com/sagemaker/ai/pricing/),
On-Demand, region US East (N. Virginia), "Real-Time Inference" and "Serverless Inference" tabs,
list prices as published in 2025 (``PRICE_DATE``) and transcribed by hand: this code never calls
the Price List API. Other regions usually list higher prices, so every figure derived from this
table is an *estimate* in us-east-1 dollars; refresh the table (and ``PRICE_DATE``) from the page
when prices change. Batch Transform bills the same instance-hour rates as real-time hosting for
the types listed here.

Everything here is pure arithmetic; nothing reads the network or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "HOURS_PER_MONTH",
    "INSTANCE_HOURLY_USD",
    "PRICE_DATE",
    "PRICE_REGION",
    "PRICE_SOURCE",
    "SERVERLESS_DATA_USD_PER_GB",
    "SERVERLESS_USD_PER_GB_SECOND",
    "CostPath",
    "Deployment",
    "Workload",
    "break_even_requests",
    "instance_hourly_usd",
    "monthly_cost",
]

PRICE_SOURCE: Final = "https://aws.amazon.com/sagemaker/ai/pricing/ (On-Demand, US East (N. Virginia))"
PRICE_DATE: Final = "2025"
PRICE_REGION: Final = "us-east-1"

HOURS_PER_MONTH: Final = 730.0
"""AWS's own convention for a month of instance-hours (8,760 hours / 12)."""

INSTANCE_HOURLY_USD: Final[Mapping[str, float]] = MappingProxyType(
    {
        "ml.t2.medium": 0.056,
        "ml.t3.medium": 0.05,
        "ml.m5.large": 0.115,
        "ml.m5.xlarge": 0.23,
        "ml.m5.2xlarge": 0.461,
        "ml.m5.4xlarge": 0.922,
        "ml.c5.large": 0.102,
        "ml.c5.xlarge": 0.204,
        "ml.c5.2xlarge": 0.408,
        "ml.g4dn.xlarge": 0.7364,
        "ml.g5.xlarge": 1.408,
    }
)
"""Real-time inference, USD per instance-hour (billed per second)."""

SERVERLESS_USD_PER_GB_SECOND: Final = 0.00002
"""Serverless Inference compute: 0.0000200 USD per second at 1024 MB, linear in memory size."""

SERVERLESS_DATA_USD_PER_GB: Final = 0.016
"""Serverless Inference data processing, per GB in and per GB out."""

_GB: Final = 1024**3


def instance_hourly_usd(instance_type: str) -> float | None:
    """The hourly list price of ``instance_type``, or None when the table does not know it."""
    return INSTANCE_HOURLY_USD.get(instance_type)


class CostPath(StrEnum):
    """The four inference paths of docs/inference.md, as the cost model names them."""

    BATCH_TRANSFORM = "batch_transform"
    REALTIME_ENDPOINT = "realtime_endpoint"
    SERVERLESS_INFERENCE = "serverless_inference"
    INFERENCE_COMPONENTS = "inference_components"


@dataclass(frozen=True)
class Workload:
    """A month of inference requests.

    Traffic arrives during ``active_hours`` (business hours by default: 10 h x 22 days); the
    real-time endpoint runs every hour of the month regardless, inference components only while
    there is traffic (plus a scale-in tail per active day), Batch Transform once per active day.
    """

    requests_per_month: float
    payload_bytes: int = 100 * 1024
    """Request plus response bytes of one invocation."""
    duration_ms: float = 200.0
    """Model time of one request on one worker."""
    active_days: int = 22
    active_hours_per_day: float = 10.0

    @property
    def active_hours(self) -> float:
        return self.active_days * self.active_hours_per_day


@dataclass(frozen=True)
class Deployment:
    """How each path is provisioned; the defaults are the nested stacks' defaults."""

    instance_type: str = "ml.m5.large"
    min_instances: int = 1
    """Real-time endpoint floor (a standard variant never goes below 1)."""
    workers_per_instance: int = 2
    """Requests one instance serves at once (model server workers)."""
    target_utilization: float = 0.7
    """Headroom kept by target tracking before adding an instance."""
    serverless_memory_mb: int = 2048
    components_scale_in_tail_hours: float = 0.5
    """Instance time after the last request of an active day before the copies reach zero."""
    batch_startup_hours: float = 0.1
    """Billed start-up of a transform job (instance launch, container and model download)."""
    batch_instances: int = 1


def _hourly(deployment: Deployment) -> float:
    price = instance_hourly_usd(deployment.instance_type)
    if price is None:
        raise KeyError(f"no list price for {deployment.instance_type} in shared.pricing")
    return price


def _instances_for_peak(workload: Workload, deployment: Deployment) -> int:
    """Instances needed to serve the average active-hour rate at the target utilization."""
    if workload.active_hours <= 0 or workload.requests_per_month <= 0:
        return 0
    per_hour = workload.requests_per_month / workload.active_hours
    capacity = 3_600_000.0 / workload.duration_ms * deployment.workers_per_instance
    return math.ceil(per_hour / (capacity * deployment.target_utilization))


def _realtime(workload: Workload, deployment: Deployment) -> float:
    instances = max(deployment.min_instances, 1, _instances_for_peak(workload, deployment))
    return instances * _hourly(deployment) * HOURS_PER_MONTH


def _components(workload: Workload, deployment: Deployment) -> float:
    instances = _instances_for_peak(workload, deployment)
    if instances == 0:
        return 0.0
    hours = min(
        HOURS_PER_MONTH,
        workload.active_hours + workload.active_days * deployment.components_scale_in_tail_hours,
    )
    return instances * _hourly(deployment) * hours


def _serverless(workload: Workload, deployment: Deployment) -> float:
    gb = deployment.serverless_memory_mb / 1024
    compute = workload.requests_per_month * workload.duration_ms / 1000 * gb * SERVERLESS_USD_PER_GB_SECOND
    data = workload.requests_per_month * workload.payload_bytes / _GB * SERVERLESS_DATA_USD_PER_GB
    return compute + data


def _batch(workload: Workload, deployment: Deployment) -> float:
    if workload.requests_per_month <= 0:
        return 0.0
    jobs = max(workload.active_days, 1)
    # The work splits across the job's instances; every instance pays each job's start-up.
    work_hours = (
        workload.requests_per_month * workload.duration_ms / 3_600_000.0 / deployment.workers_per_instance
    )
    startup_hours = deployment.batch_instances * jobs * deployment.batch_startup_hours
    return (work_hours + startup_hours) * _hourly(deployment)


_MODELS: Final[Mapping[CostPath, Callable[[Workload, Deployment], float]]] = MappingProxyType(
    {
        CostPath.BATCH_TRANSFORM: _batch,
        CostPath.REALTIME_ENDPOINT: _realtime,
        CostPath.SERVERLESS_INFERENCE: _serverless,
        CostPath.INFERENCE_COMPONENTS: _components,
    }
)


def monthly_cost(path: CostPath, workload: Workload, deployment: Deployment | None = None) -> float:
    """USD per month of serving ``workload`` by ``path`` (compute and serverless data only).

    Not included, because they are the same on every path or negligible here: model storage in
    S3, CloudWatch, data transfer out of the region, the Lambda that invokes the model.
    """
    return _MODELS[CostPath(path)](workload, deployment or Deployment())


def break_even_requests(
    cheaper_when_small: CostPath,
    cheaper_when_large: CostPath,
    workload: Workload,
    deployment: Deployment | None = None,
    *,
    low: float = 1.0,
    high: float = 1e10,
) -> float | None:
    """Monthly request count above which ``cheaper_when_large`` costs less, or None if it never
    does in ``[low, high]`` (the curves are monotonic in volume, so a bisection finds it)."""

    def gap(requests: float) -> float:
        sized = Workload(
            requests,
            workload.payload_bytes,
            workload.duration_ms,
            workload.active_days,
            workload.active_hours_per_day,
        )
        return monthly_cost(cheaper_when_small, sized, deployment) - monthly_cost(
            cheaper_when_large, sized, deployment
        )

    if gap(high) <= 0:
        return None
    if gap(low) >= 0:
        return low
    for _ in range(200):
        middle = math.sqrt(low * high)
        if gap(middle) < 0:
            low = middle
        else:
            high = middle
        if high / low < 1.0001:
            break
    return high
