"""AutoStopFunction against moto's SageMaker, CloudWatch and Application Auto Scaling.

Given endpoints created in moto (and, for inference components, a small in-memory stand-in: moto
5.2.5 has no inference-component API, requires a ModelName in every variant, and its Application
Auto Scaling knows no copy-count dimension), when the handler or ``run`` executes, then the
endpoints' real state in moto says what happened. Moto creates endpoints "now" (wall clock), so
the injected clock runs two hours ahead: every endpoint is older than the idle window unless a
test says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from shared.auto_stop import AutoStopAction, AutoStopSettings
from shared.errors import SageMakerUnavailableError
from shared.functions.auto_stop import handler as auto_stop
from shared.functions.auto_stop.handler import EndpointFleet, run

REGION = "ap-northeast-1"
PREFIX = "fsxn-ad"
LATER = datetime.now(UTC) + timedelta(hours=2)


def clock() -> datetime:
    return LATER


class Clients:
    def __init__(self) -> None:
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        self.autoscaling = boto3.client("application-autoscaling", region_name=REGION)

    def endpoint(self, name: str, instances: int = 3, tags: dict[str, str] | None = None) -> None:
        self.sagemaker.create_model(
            ModelName=f"{name}-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/model:1"},
        )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=f"{name}-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{name}-model",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": instances,
                    "InitialVariantWeight": 1,
                }
            ],
        )
        self.sagemaker.create_endpoint(
            EndpointName=name,
            EndpointConfigName=f"{name}-config",
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )

    def target(self, name: str, minimum: int, maximum: int) -> str:
        resource_id = f"endpoint/{name}/variant/AllTraffic"
        self.autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            MinCapacity=minimum,
            MaxCapacity=maximum,
        )
        return resource_id

    def invoked(self, name: str, count: float, minutes_ago: int = 10) -> None:
        self.cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": name},
                        {"Name": "VariantName", "Value": "AllTraffic"},
                    ],
                    "Timestamp": LATER - timedelta(minutes=minutes_ago),
                    "Value": count,
                    "Unit": "None",
                }
            ],
        )

    def desired(self, name: str) -> int:
        (variant,) = self.sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"]
        return int(variant["DesiredInstanceCount"])

    def target_state(self, resource_id: str) -> dict[str, Any]:
        (target,) = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[resource_id]
        )["ScalableTargets"]
        return dict(target)

    def fleet(self) -> EndpointFleet:
        return EndpointFleet(self.sagemaker, self.cloudwatch, self.autoscaling)


@pytest.fixture
def aws() -> Iterator[Clients]:
    with mock_aws():
        yield Clients()


def settings(action: AutoStopAction = AutoStopAction.SCALE_TO_MINIMUM, **overrides: Any) -> AutoStopSettings:
    values: dict[str, Any] = {"endpoint_prefix": PREFIX, "environment": "staging", "action": action}
    return AutoStopSettings(**(values | overrides))


# --- each action -------------------------------------------------------------------------------


def test_scale_to_minimum_sets_one_instance_and_lowers_the_target_floor(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-realtime", instances=3)
    target = aws.target(f"{PREFIX}-realtime", minimum=2, maximum=4)

    report = run(settings(), aws.fleet(), clock)

    assert report["stopped"] == [f"{PREFIX}-realtime"]
    assert aws.desired(f"{PREFIX}-realtime") == 1
    assert aws.target_state(target)["MinCapacity"] == 1
    assert aws.target_state(target)["MaxCapacity"] == 4  # can still scale out when traffic returns
    assert report["estimated_savings_per_hour"] == pytest.approx(2 * 0.115)
    assert report["failed"] == []


def test_disable_scheduling_suspends_the_schedule_and_holds_the_off_hours_level(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-scheduled", instances=4)
    target = aws.target(f"{PREFIX}-scheduled", minimum=4, maximum=6)
    for name, minimum, maximum in (("start", 4, 6), ("end", 2, 2)):
        aws.autoscaling.put_scheduled_action(
            ServiceNamespace="sagemaker",
            ResourceId=target,
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            ScheduledActionName=f"stack-business-hours-{name}",
            Schedule="cron(0 9 ? * MON-FRI *)",
            Timezone="Asia/Tokyo",
            ScalableTargetAction={"MinCapacity": minimum, "MaxCapacity": maximum},
        )

    report = run(settings(AutoStopAction.DISABLE_SCHEDULING), aws.fleet(), clock)

    assert report["stopped"] == [f"{PREFIX}-scheduled"]
    state = aws.target_state(target)
    assert state["SuspendedState"]["ScheduledScalingSuspended"] is True
    assert state["MinCapacity"] == 2
    assert aws.desired(f"{PREFIX}-scheduled") == 2
    assert report["estimated_savings_per_hour"] == pytest.approx(2 * 0.115)


def test_delete_deregisters_the_target_and_deletes_the_endpoint_outside_production(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-dev", instances=1)
    aws.target(f"{PREFIX}-dev", minimum=1, maximum=2)

    report = run(settings(AutoStopAction.DELETE, environment="development"), aws.fleet(), clock)

    assert report["stopped"] == [f"{PREFIX}-dev"]
    assert aws.sagemaker.list_endpoints()["Endpoints"] == []
    assert aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_delete_configured_in_production_scales_down_instead(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-prod", instances=2)

    report = run(settings(AutoStopAction.DELETE, environment="production"), aws.fleet(), clock)

    assert report["stopped"] == [f"{PREFIX}-prod"]
    assert [e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]] == [f"{PREFIX}-prod"]
    assert aws.desired(f"{PREFIX}-prod") == 1


def test_dry_run_reports_without_changing_anything(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-realtime", instances=3)
    target = aws.target(f"{PREFIX}-realtime", minimum=2, maximum=4)

    report = run(settings(AutoStopAction.DELETE, environment="development", dry_run=True), aws.fleet(), clock)

    assert report["dry_run"] is True
    assert report["would_stop"] == [f"{PREFIX}-realtime"]
    assert "stopped" not in report
    assert aws.desired(f"{PREFIX}-realtime") == 3
    assert aws.target_state(target)["MinCapacity"] == 2
    assert report["estimated_savings_per_hour"] == pytest.approx(3 * 0.115)


# --- what is never idle, or never ours ---------------------------------------------------------------


def test_protected_invoked_young_and_foreign_endpoints_are_left_alone(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-protected", tags={"DoNotAutoStop": "true"})
    aws.endpoint(f"{PREFIX}-busy")
    aws.invoked(f"{PREFIX}-busy", 12)
    aws.endpoint("other-team-endpoint")

    report = run(settings(AutoStopAction.DELETE, environment="development"), aws.fleet(), clock)

    assert report["stopped"] == []
    assert report["skipped"] == {f"{PREFIX}-busy": "invoked", f"{PREFIX}-protected": "protected"}
    names = {e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]}
    assert names == {f"{PREFIX}-protected", f"{PREFIX}-busy", "other-team-endpoint"}


def test_an_endpoint_younger_than_the_window_is_not_idle_even_without_datapoints(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-new", instances=2)

    report = run(settings(), aws.fleet(), lambda: datetime.now(UTC) + timedelta(minutes=30))

    assert report["skipped"] == {f"{PREFIX}-new": "younger_than_window"}
    assert aws.desired(f"{PREFIX}-new") == 2


def test_an_invocation_outside_the_window_does_not_keep_an_endpoint_alive(aws: Clients) -> None:
    aws.endpoint(f"{PREFIX}-old", instances=2)
    aws.invoked(f"{PREFIX}-old", 50, minutes_ago=90)

    assert run(settings(), aws.fleet(), clock)["stopped"] == [f"{PREFIX}-old"]


# --- failures ----------------------------------------------------------------------------------------


class Throttling:
    """Wraps a client; one named operation fails for one endpoint, as AWS throttling would."""

    def __init__(self, client: Any, operation: str, endpoint: str) -> None:
        self._client, self._operation, self._endpoint = client, operation, endpoint

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation:
            return method

        def failing(**kwargs: Any) -> Any:
            if self._endpoint in json.dumps(kwargs, default=str):
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                    self._client.meta.method_to_api_mapping[name],
                )
            return method(**kwargs)

        return failing


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("sagemaker", "describe_endpoint"),
        ("cloudwatch", "get_metric_data"),
        ("sagemaker", "update_endpoint_weights_and_capacities"),
    ],
)
def test_a_failing_call_for_one_endpoint_is_reported_and_the_others_still_stop(
    aws: Clients, service: str, operation: str
) -> None:
    for name in ("a", "b", "c"):
        aws.endpoint(f"{PREFIX}-{name}", instances=2)
    clients = {"sagemaker": aws.sagemaker, "cloudwatch": aws.cloudwatch}
    clients[service] = Throttling(clients[service], operation, f"{PREFIX}-b")
    fleet = EndpointFleet(clients["sagemaker"], clients["cloudwatch"], aws.autoscaling)

    report = run(settings(), fleet, clock)

    assert report["stopped"] == [f"{PREFIX}-a", f"{PREFIX}-c"]
    (failure,) = report["failed"]
    assert failure["endpoint_name"] == f"{PREFIX}-b"
    assert failure["error"] == "ThrottlingException"
    assert failure["operation"] == aws.sagemaker.meta.method_to_api_mapping.get(
        operation, aws.cloudwatch.meta.method_to_api_mapping.get(operation)
    )
    assert aws.desired(f"{PREFIX}-a") == aws.desired(f"{PREFIX}-c") == 1


def test_listing_failure_fails_the_run_with_a_retryable_error(aws: Clients) -> None:
    fleet = EndpointFleet(Throttling(aws.sagemaker, "list_endpoints", ""), aws.cloudwatch, aws.autoscaling)
    with pytest.raises(SageMakerUnavailableError):
        run(settings(), fleet, clock)


# --- inference components (in-memory stand-in for what moto lacks) -------------------------------------


class ComponentsSageMaker:
    """moto's SageMaker plus inference components on one endpoint whose variant names no model."""

    def __init__(self, client: Any, endpoint: str, components: dict[str, int], managed_min: int) -> None:
        self._client, self._endpoint, self._managed_min = client, endpoint, managed_min
        self.copies = dict(components)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_endpoint_config(self, **kwargs: Any) -> dict[str, Any]:
        config = self._client.describe_endpoint_config(**kwargs)
        if kwargs["EndpointConfigName"] == f"{self._endpoint}-config":
            for variant in config["ProductionVariants"]:
                variant.pop("ModelName", None)
                variant["ManagedInstanceScaling"] = {
                    "Status": "ENABLED",
                    "MinInstanceCount": self._managed_min,
                    "MaxInstanceCount": 4,
                }
        return dict(config)

    def list_inference_components(self, EndpointNameEquals: str, **_: Any) -> dict[str, Any]:
        names = list(self.copies) if EndpointNameEquals == self._endpoint else []
        return {"InferenceComponents": [{"InferenceComponentName": n} for n in names]}

    def describe_inference_component(self, InferenceComponentName: str) -> dict[str, Any]:
        return {
            "InferenceComponentName": InferenceComponentName,
            "VariantName": "AllTraffic",
            "RuntimeConfig": {
                "DesiredCopyCount": self.copies[InferenceComponentName],
                "CurrentCopyCount": self.copies[InferenceComponentName],
            },
        }

    def update_inference_component_runtime_config(
        self,
        InferenceComponentName: str,
        DesiredRuntimeConfig: dict[str, int],
    ) -> dict[str, Any]:
        self.copies[InferenceComponentName] = DesiredRuntimeConfig["CopyCount"]
        return {}


@pytest.mark.parametrize(("managed_min", "copies_after"), [(0, 0), (1, 1)])
def test_components_scale_to_zero_copies_only_when_managed_scaling_allows_zero_instances(
    aws: Clients, managed_min: int, copies_after: int
) -> None:
    aws.endpoint(f"{PREFIX}-components", instances=2)
    sagemaker = ComponentsSageMaker(
        aws.sagemaker, f"{PREFIX}-components", {f"{PREFIX}-ic-a": 2, f"{PREFIX}-ic-b": 1}, managed_min
    )

    report = run(settings(), EndpointFleet(sagemaker, aws.cloudwatch, aws.autoscaling), clock)

    assert report["stopped"] == [f"{PREFIX}-components"]
    assert sagemaker.copies == {f"{PREFIX}-ic-a": copies_after, f"{PREFIX}-ic-b": copies_after}
    released = 2 - managed_min
    assert report["estimated_savings_per_hour"] == pytest.approx(released * 0.115)
    assert aws.desired(f"{PREFIX}-components") == 2  # managed scaling, not auto-stop, moves instances


# --- the Lambda entry point ----------------------------------------------------------------------------


def test_handler_reads_its_settings_and_emits_the_cost_metrics(
    aws: Clients, monkeypatch: pytest.MonkeyPatch, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.endpoint(f"{PREFIX}-realtime", instances=3)
    for name, value in {
        "ENDPOINT_NAME_PREFIX": PREFIX,
        "ENVIRONMENT": "production",
        "AUTO_STOP_ACTION": "delete",
        "IDLE_WINDOW_MINUTES": "60",
        "DRY_RUN": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(auto_stop, "utc_now", clock)

    report = auto_stop.handler({}, lambda_context)

    assert report["stopped"] == [f"{PREFIX}-realtime"]
    assert aws.desired(f"{PREFIX}-realtime") == 1  # production: delete became scale_to_minimum
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (blob,) = emitted
    assert blob["EndpointsStoppedCount"] == [1.0]
    assert blob["EstimatedSavingsPerHour"] == [pytest.approx(0.23)]
    assert blob["AutoStopFailures"] == [0.0]
    assert blob["Mode"] == "enforce"
    names = {m["Name"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"EndpointsStoppedCount", "EstimatedSavingsPerHour", "AutoStopFailures"}
