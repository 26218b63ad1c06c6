"""AutoStopFunction: hourly, find this project's idle SageMaker endpoints and stop paying for them.

Run by the EventBridge Scheduler schedule of shared/cfn/auto-stop.yaml. This module is the
adapter: it reads each endpoint (SageMaker, CloudWatch, Application Auto Scaling) into an
:class:`~shared.auto_stop.EndpointSnapshot`, lets :func:`shared.auto_stop.decide` choose, and runs
the chosen steps unless ``DRY_RUN`` is on. A failing or throttled call for one endpoint is
recorded in the report (and the ``AutoStopFailures`` metric) and the run goes on with the others;
only a failure to list the endpoints fails the invocation.

Environment: ``ENDPOINT_NAME_PREFIX``, ``ENVIRONMENT``, ``AUTO_STOP_ACTION`` (scale_to_minimum |
disable_scheduling | delete), ``IDLE_WINDOW_MINUTES`` (60), ``DRY_RUN`` (false).
Metrics: ``EndpointsStoppedCount``, ``EstimatedSavingsPerHour`` (USD, us-east-1 list prices of
shared/pricing.py) and ``AutoStopFailures``, with the dimension ``Mode`` = ``enforce`` or
``dry_run`` (a dry run reports what it would have stopped and saved).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.auto_stop import (
    AutoStopSettings,
    ComponentState,
    Decision,
    EndpointSnapshot,
    ScalableTargetState,
    Step,
    StepKind,
    VariantState,
    component_target_id,
    decide,
    summarize,
    variant_target_id,
)
from shared.errors import SageMakerUnavailableError
from shared.observability import MetricUnit, logger, metrics, tracer

Client = Any
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


def utc_now() -> datetime:
    return datetime.now(UTC)


class EndpointFleet:
    """SageMaker, CloudWatch and Application Auto Scaling calls of one run; clients are injected or
    created on first use (never at import time)."""

    def __init__(
        self, sagemaker: Client = None, cloudwatch: Client = None, autoscaling: Client = None
    ) -> None:
        self._sagemaker = sagemaker
        self._cloudwatch = cloudwatch
        self._autoscaling = autoscaling

    @property
    def sagemaker(self) -> Client:
        if self._sagemaker is None:
            self._sagemaker = boto3.client("sagemaker", config=_RETRIES)
        return self._sagemaker

    @property
    def cloudwatch(self) -> Client:
        if self._cloudwatch is None:
            self._cloudwatch = boto3.client("cloudwatch", config=_RETRIES)
        return self._cloudwatch

    @property
    def autoscaling(self) -> Client:
        if self._autoscaling is None:
            self._autoscaling = boto3.client("application-autoscaling", config=_RETRIES)
        return self._autoscaling

    # --- reading ---------------------------------------------------------------------------------

    def endpoint_names(self, settings: AutoStopSettings) -> list[str]:
        """This project's endpoints: ListEndpoints filtered by name, then by prefix."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"NameContains": settings.endpoint_prefix, "MaxResults": 100}
        while True:
            page = self.sagemaker.list_endpoints(**kwargs)
            names += [
                e["EndpointName"] for e in page.get("Endpoints", []) if settings.matches(e["EndpointName"])
            ]
            if not page.get("NextToken"):
                return sorted(names)
            kwargs["NextToken"] = page["NextToken"]

    def _tags(self, arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        kwargs: dict[str, Any] = {"ResourceArn": arn}
        while True:
            page = self.sagemaker.list_tags(**kwargs)
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
            if not page.get("NextToken"):
                return tags
            kwargs["NextToken"] = page["NextToken"]

    def _component_names(self, endpoint_name: str) -> Iterator[str]:
        kwargs: dict[str, Any] = {"EndpointNameEquals": endpoint_name}
        while True:
            page = self.sagemaker.list_inference_components(**kwargs)
            yield from (c["InferenceComponentName"] for c in page.get("InferenceComponents", []))
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]

    def _targets(self, resource_ids: list[str]) -> dict[tuple[str, str], ScalableTargetState]:
        if not resource_ids:
            return {}
        found: dict[tuple[str, str], ScalableTargetState] = {}
        response = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=resource_ids
        )
        for target in response.get("ScalableTargets", []):
            key = (target["ResourceId"], target["ScalableDimension"])
            actions = self.autoscaling.describe_scheduled_actions(
                ServiceNamespace="sagemaker", ResourceId=key[0], ScalableDimension=key[1]
            ).get("ScheduledActions", [])
            found[key] = ScalableTargetState(
                resource_id=key[0],
                dimension=key[1],
                min_capacity=int(target["MinCapacity"]),
                max_capacity=int(target["MaxCapacity"]),
                scheduled_suspended=bool(target.get("SuspendedState", {}).get("ScheduledScalingSuspended")),
                scheduled_min_capacities=tuple(
                    int(a["ScalableTargetAction"]["MinCapacity"])
                    for a in actions
                    if "MinCapacity" in a.get("ScalableTargetAction", {})
                ),
            )
        return found

    def _invocations(
        self,
        endpoint_name: str,
        variants: list[str],
        components: list[str],
        settings: AutoStopSettings,
        now: datetime,
    ) -> float | None:
        """Sum of Invocations over the window, per real variant and per component; None when
        CloudWatch holds no datapoint at all (SageMaker publishes none for a minute without calls)."""
        dimension_sets = [
            [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": variant}]
            for variant in variants
        ] + [[{"Name": "InferenceComponentName", "Value": component}] for component in components]
        if not dimension_sets:
            return None
        queries = [
            {
                "Id": f"q{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "Invocations",
                        "Dimensions": dimensions,
                    },
                    "Period": settings.idle_window_minutes * 60,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for index, dimensions in enumerate(dimension_sets)
        ]
        values: list[float] = []
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": now - settings.idle_window,
            "EndTime": now,
        }
        while True:
            page = self.cloudwatch.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                values += [float(v) for v in result.get("Values", [])]
            if not page.get("NextToken"):
                return sum(values) if values else None
            kwargs["NextToken"] = page["NextToken"]

    def snapshot(self, name: str, settings: AutoStopSettings, now: datetime) -> EndpointSnapshot:
        endpoint = self.sagemaker.describe_endpoint(EndpointName=name)
        config = self.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        configured = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
        # An endpoint for inference components names no model in its variants (docs/inference.md).
        hosts_components = any(
            "ModelName" not in v and "ServerlessConfig" not in v for v in configured.values()
        )
        components = []
        for component_name in self._component_names(name) if hosts_components else ():
            described = self.sagemaker.describe_inference_component(InferenceComponentName=component_name)
            runtime = described.get("RuntimeConfig", {})
            components.append(
                (component_name, described["VariantName"], int(runtime.get("CurrentCopyCount", 0)))
            )
        variant_ids = {
            v["VariantName"]: variant_target_id(name, v["VariantName"])
            for v in endpoint.get("ProductionVariants", [])
        }
        component_ids = {c[0]: component_target_id(c[0]) for c in components}
        targets = self._targets([rid for rid, _ in [*variant_ids.values(), *component_ids.values()]])

        variants = []
        for summary in endpoint.get("ProductionVariants", []):
            variant_name = summary["VariantName"]
            declared = configured.get(variant_name, {})
            managed = summary.get("ManagedInstanceScaling") or declared.get("ManagedInstanceScaling") or {}
            variants.append(
                VariantState(
                    name=variant_name,
                    current_instances=int(summary.get("CurrentInstanceCount", 0)),
                    instance_type=declared.get("InstanceType"),
                    serverless="CurrentServerlessConfig" in summary or "ServerlessConfig" in declared,
                    managed_min_instances=(
                        int(managed.get("MinInstanceCount", 0))
                        if managed.get("Status") == "ENABLED"
                        else None
                    ),
                    target=targets.get(variant_ids[variant_name]),
                )
            )
        return EndpointSnapshot(
            name=name,
            status=endpoint["EndpointStatus"],
            in_service_since=max(
                endpoint["CreationTime"], endpoint.get("LastModifiedTime", endpoint["CreationTime"])
            ),
            tags=self._tags(endpoint["EndpointArn"]),
            variants=tuple(variants),
            components=tuple(
                ComponentState(c_name, variant, copies, targets.get(component_ids[c_name]))
                for c_name, variant, copies in components
            ),
            invocations=self._invocations(name, list(variant_ids), [c[0] for c in components], settings, now),
        )

    # --- acting ----------------------------------------------------------------------------------

    def apply(self, step: Step) -> None:
        params = dict(step.params)
        if step.kind is StepKind.REGISTER_TARGET:
            self.autoscaling.register_scalable_target(**params)
        elif step.kind is StepKind.DEREGISTER_TARGET:
            self.autoscaling.deregister_scalable_target(**params)
        elif step.kind is StepKind.UPDATE_ENDPOINT_CAPACITIES:
            self.sagemaker.update_endpoint_weights_and_capacities(**params)
        elif step.kind is StepKind.UPDATE_COMPONENT_COPIES:
            self.sagemaker.update_inference_component_runtime_config(
                InferenceComponentName=params["InferenceComponentName"],
                DesiredRuntimeConfig={"CopyCount": params["CopyCount"]},
            )
        elif step.kind is StepKind.DELETE_COMPONENT:
            self.sagemaker.delete_inference_component(**params)
        elif step.kind is StepKind.DELETE_ENDPOINT:
            self.sagemaker.delete_endpoint(**params)
        else:  # pragma: no cover - StepKind is closed
            raise ValueError(f"unknown step {step.kind}")


def _failure(name: str, error: Exception) -> dict[str, Any]:
    if isinstance(error, ClientError):
        return {
            "endpoint_name": name,
            "operation": error.operation_name,
            "error": error.response.get("Error", {}).get("Code", "ClientError"),
            "detail": error.response.get("Error", {}).get("Message", ""),
        }
    return {"endpoint_name": name, "operation": "", "error": type(error).__name__, "detail": str(error)}


def run(
    settings: AutoStopSettings, fleet: EndpointFleet, clock: Callable[[], datetime] | None = None
) -> dict[str, Any]:
    """One pass over this project's endpoints; returns the report (see shared.auto_stop.summarize)."""
    now = (clock or utc_now)()
    try:
        names = fleet.endpoint_names(settings)
    except (ClientError, BotoCoreError) as error:
        raise SageMakerUnavailableError(f"cannot list endpoints: {error}") from error
    decisions: list[Decision] = []
    failures: list[dict[str, Any]] = []
    for name in names:
        try:
            decision = decide(fleet.snapshot(name, settings, now), settings, now)
            if decision.acts and not settings.dry_run:
                for step in decision.steps:
                    fleet.apply(step)
        except (ClientError, BotoCoreError) as error:
            failures.append(_failure(name, error))
            logger.error("auto-stop failed for an endpoint; continuing", **failures[-1])
            continue
        decisions.append(decision)
        logger.info("auto-stop decision", dry_run=settings.dry_run, **decision.to_dict())
    return summarize(decisions, failures, settings.dry_run)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = AutoStopSettings.from_env(os.environ)
    report = run(settings, EndpointFleet())
    acted = report["would_stop" if settings.dry_run else "stopped"]
    metrics.add_dimension(name="Mode", value="dry_run" if settings.dry_run else "enforce")
    metrics.add_metric(name="EndpointsStoppedCount", unit=MetricUnit.Count, value=len(acted))
    metrics.add_metric(
        name="EstimatedSavingsPerHour", unit=MetricUnit.NoUnit, value=report["estimated_savings_per_hour"]
    )
    metrics.add_metric(name="AutoStopFailures", unit=MetricUnit.Count, value=len(report["failed"]))
    logger.info("auto-stop run", action=settings.effective_action.value, **report)
    return report
