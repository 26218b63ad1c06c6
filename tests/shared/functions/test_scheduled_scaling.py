"""ScheduledScalingFunction (the custom resource of scheduled-scaling.yaml) on moto's Application
Auto Scaling: actions put with their time zone, replaced on update, removed on delete, an invalid
schedule refused with the field named, and CloudFormation always answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.functions.scheduled_scaling.handler import handler, put_response, respond

RESOURCE_ID = "endpoint/fsxn-rt/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TARGET = f"{RESOURCE_ID}|{DIMENSION}|sagemaker"


def event(request: str = "Create", **overrides: Any) -> dict[str, Any]:
    # CloudFormation passes every property of a custom resource as a string.
    properties = {
        "ServiceToken": "arn:aws:lambda:ap-northeast-1:123456789012:function:f",
        "ActionNamePrefix": "ad-staging-ScheduledScaling-1A2B",
        "ScalableTargetId": TARGET,
        "TargetKind": "variant",
        "Timezone": "Asia/Tokyo",
        "BusinessDays": "MON-FRI",
        "BusinessHoursStart": "9",
        "BusinessHoursEnd": "18",
        "BusinessMinCapacity": "2",
        "BusinessMaxCapacity": "4",
        "OffHoursMinCapacity": "1",
        "OffHoursMaxCapacity": "1",
    } | overrides
    return {
        "RequestType": request,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/abc",
        "StackId": "arn:aws:cloudformation:ap-northeast-1:123456789012:stack/ad/guid",
        "RequestId": "req-1",
        "LogicalResourceId": "BusinessHoursSchedule",
        "ResourceProperties": properties,
        **(
            {"PhysicalResourceId": f"{TARGET}|ad-staging-ScheduledScaling-1A2B"}
            if request != "Create"
            else {}
        ),
    }


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: dict[str, Any]) -> None:
        self.sent.append((url, body))


@pytest.fixture
def autoscaling() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("application-autoscaling", region_name="ap-northeast-1")
        client.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=RESOURCE_ID,
            ScalableDimension=DIMENSION,
            MinCapacity=1,
            MaxCapacity=4,
        )
        yield client


def actions(client: Any) -> dict[str, dict[str, Any]]:
    listed = client.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID)
    return {a["ScheduledActionName"]: a for a in listed["ScheduledActions"]}


def test_create_puts_both_actions_in_the_time_zone_and_answers_success(autoscaling: Any) -> None:
    recorder = Recorder()
    body = respond(event(), autoscaling, recorder)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == f"{TARGET}|ad-staging-ScheduledScaling-1A2B"
    found = actions(autoscaling)
    start = found["ad-staging-ScheduledScaling-1A2B-business-hours-start"]
    end = found["ad-staging-ScheduledScaling-1A2B-business-hours-end"]
    assert (start["Schedule"], start["Timezone"]) == ("cron(0 9 ? * MON-FRI *)", "Asia/Tokyo")
    assert start["ScalableTargetAction"] == {"MinCapacity": 2, "MaxCapacity": 4}
    assert end["ScalableTargetAction"] == {"MinCapacity": 1, "MaxCapacity": 1}
    assert recorder.sent == [(event()["ResponseURL"], body)]
    assert body["Data"]["BusinessHoursStartAction"].endswith("business-hours-start")


def test_update_replaces_the_schedule_in_place(autoscaling: Any) -> None:
    respond(event(), autoscaling, Recorder())
    body = respond(event("Update", BusinessHoursStart="8", Timezone="UTC"), autoscaling, Recorder())
    assert body["Status"] == "SUCCESS"
    start = actions(autoscaling)["ad-staging-ScheduledScaling-1A2B-business-hours-start"]
    assert (start["Schedule"], start["Timezone"]) == ("cron(0 8 ? * MON-FRI *)", "UTC")
    assert len(actions(autoscaling)) == 2


def test_delete_removes_both_actions_and_tolerates_them_being_gone(autoscaling: Any) -> None:
    respond(event(), autoscaling, Recorder())
    assert respond(event("Delete"), autoscaling, Recorder())["Status"] == "SUCCESS"
    assert actions(autoscaling) == {}
    assert respond(event("Delete"), autoscaling, Recorder())["Status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"BusinessHoursStart": "18", "BusinessHoursEnd": "9"}, "BusinessHoursEnd"),
        ({"OffHoursMaxCapacity": "3"}, "OffHoursMaxCapacity"),
        ({"OffHoursMinCapacity": "0", "OffHoursMaxCapacity": "0"}, "OffHoursMinCapacity"),
        ({"TargetKind": "inference-component"}, "TargetKind"),
    ],
)
def test_an_invalid_schedule_fails_the_deploy_naming_the_field(
    autoscaling: Any, overrides: dict[str, str], field: str
) -> None:
    body = respond(event(**overrides), autoscaling, Recorder())
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(f"{field}:")
    assert actions(autoscaling) == {}
    # the rollback's Delete of a resource never created succeeds
    assert respond(event("Delete", **overrides), autoscaling, Recorder())["Status"] == "SUCCESS"


def test_an_unexpected_error_is_still_answered(autoscaling: Any) -> None:
    class Broken:
        def put_scheduled_action(self, **_: Any) -> None:
            raise RuntimeError("boom")

    body = respond(event(), Broken(), Recorder())
    assert (body["Status"], body["Reason"]) == ("FAILED", "boom")


def test_responses_go_only_to_https_urls() -> None:
    with pytest.raises(ValueError, match="https"):
        put_response("file:///etc/passwd", {})


def test_the_lambda_entry_point_answers(
    autoscaling: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    recorder = Recorder()
    monkeypatch.setattr("shared.functions.scheduled_scaling.handler.put_response", recorder)
    body = handler(event(), lambda_context)
    assert body["Status"] == "SUCCESS" and recorder.sent
