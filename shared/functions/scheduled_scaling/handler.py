"""ScheduledScalingFunction: puts a business-hours schedule on a scalable target another stack owns.

CloudFormation declares scheduled actions only inside ``AWS::ApplicationAutoScaling::ScalableTarget``
(there is no ScheduledAction resource type for Application Auto Scaling), and the endpoint stacks
already own their targets: a second ScalableTarget resource for the same target would be a second
owner. So shared/cfn/scheduled-scaling.yaml declares this custom resource instead, and the actions
belong to it:

* Create / Update: validate the schedule (:func:`shared.cost_validation.validate_scheduled_scaling`)
  — an invalid one fails the deploy with the field named — then PutScheduledAction twice
  (business-hours start and end, with the ``Timezone``); Update with another target gets a new
  physical id, and CloudFormation then deletes the old one's actions;
* Delete: DeleteScheduledAction for both names; actions or targets already gone are fine.

Every request is answered (SUCCESS or FAILED) on the pre-signed ``ResponseURL``, whatever happens,
so a stack never waits an hour for a custom resource that crashed.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.cost_validation import ScalableTargetRef, ScheduledScalingConfig, validate_scheduled_scaling
from shared.errors import InvalidInputError
from shared.observability import logger

Client = Any
Responder = Callable[[str, dict[str, Any]], None]
_ENGINE_KEYS = ("ServiceToken", "ActionNamePrefix")
_NOTHING = "scheduled-scaling-not-created"


def put_response(url: str, body: dict[str, Any]) -> None:
    """PUT the response document to CloudFormation's pre-signed S3 URL (https only)."""
    if not url.startswith("https://"):
        raise ValueError("ResponseURL must be an https URL")
    data = json.dumps(body).encode()
    # The URL is pre-signed without a content type: sending one would break the signature.
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    # The scheme is checked above: no file:// or custom scheme can be opened.
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  # nosec B310
        answer.read()


def _config(properties: Mapping[str, Any]) -> tuple[ScheduledScalingConfig, str]:
    prefix = properties.get("ActionNamePrefix")
    if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "|:/"):
        raise InvalidInputError("ActionNamePrefix", f"expected a name without | : or /, got {prefix!r}")
    schedule = {k: v for k, v in properties.items() if k not in _ENGINE_KEYS}
    return validate_scheduled_scaling(schedule), prefix


def _physical_id(config: ScheduledScalingConfig, prefix: str) -> str:
    return f"{config.target}|{prefix}"


def _delete(properties: Mapping[str, Any], autoscaling: Client) -> None:
    try:
        target = ScalableTargetRef.parse(properties.get("ScalableTargetId"))
        prefix = str(properties["ActionNamePrefix"])
    except (InvalidInputError, KeyError):
        return  # never created: the create request had no valid target
    for suffix in ("business-hours-start", "business-hours-end"):
        try:
            autoscaling.delete_scheduled_action(**target.api_keys(), ScheduledActionName=f"{prefix}-{suffix}")
        except ClientError as error:
            # Gone already, or the target was deregistered with the endpoint stack before us.
            if error.response.get("Error", {}).get("Code") not in {
                "ObjectNotFoundException",
                "ValidationException",
            }:
                raise


def handle(event: Mapping[str, Any], autoscaling: Client) -> tuple[str, str, dict[str, Any]]:
    """Perform one custom-resource request; returns (physical id, reason, data) or raises."""
    request = event["RequestType"]
    properties = event.get("ResourceProperties", {})
    if request == "Delete":
        _delete(properties, autoscaling)
        return event.get("PhysicalResourceId", _NOTHING), "deleted", {}
    config, prefix = _config(properties)
    for action in config.scheduled_actions(prefix):
        autoscaling.put_scheduled_action(**action)
    start, end = config.action_names(prefix)
    savings = config.monthly_savings(unit_hourly_usd=0.0)
    data = {
        "BusinessHoursStartAction": start,
        "BusinessHoursEndAction": end,
        "GuaranteedCapacityHoursSavedPerMonth": round(savings.capacity_hours_guaranteed, 1),
    }
    return _physical_id(config, prefix), f"{request.lower()}d schedule on {config.target}", data


def respond(
    event: Mapping[str, Any], autoscaling: Client, responder: Responder = put_response
) -> dict[str, Any]:
    """Handle the request and always answer CloudFormation; returns the response document."""
    body: dict[str, Any] = {
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "NoEcho": False,
    }
    try:
        physical_id, reason, data = handle(event, autoscaling)
        body |= {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Reason": reason, "Data": data}
    # Anything at all is answered: an unanswered custom resource blocks the stack for an hour.
    except Exception as error:
        body |= {
            "Status": "FAILED",
            "PhysicalResourceId": event.get("PhysicalResourceId", _NOTHING),
            "Reason": str(error)[:1000],
        }
    logger.info(
        "custom resource answered",
        request_type=event.get("RequestType"),
        status=body["Status"],
        reason=body["Reason"],
        physical_resource_id=body["PhysicalResourceId"],
    )
    responder(str(event.get("ResponseURL", "")), body)
    return body


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    autoscaling = boto3.client(
        "application-autoscaling", config=Config(retries={"mode": "standard", "max_attempts": 5})
    )
    return respond(event, autoscaling, put_response)
