"""SageMakerCallbackFunction: a transform job of this stack ended → call its execution back.

Triggered by the EventBridge rule of shared/cfn/batch-transform.yaml ("SageMaker Transform Job
State Change", this stack's job-name prefix, terminal statuses). SendTaskSuccess/SendTaskFailure
go to the region recorded with the token, never to this function's region by assumption.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.inference import CallbackSettings, complete_batch_transform
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = CallbackSettings.from_env(os.environ)
    outcome = complete_batch_transform(settings, event)
    metrics.add_metric(
        name="TransformCallbacksDelivered",
        unit=MetricUnit.Count,
        value=1 if outcome.action == "notified" else 0,
    )
    logger.info("transform job state change handled", **outcome.to_dict())
    return outcome.to_dict()
