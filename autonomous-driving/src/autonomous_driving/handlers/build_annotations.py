"""BuildAnnotationsFunction: the run's detections (prediction parts or Batch Transform output) → COCO."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from autonomous_driving.annotations import AnnotationSettings, build_annotations
from shared.discovery import DiscoveryRequest
from shared.errors import InvalidInputError
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = AnnotationSettings.from_env(os.environ)
    request = DiscoveryRequest.from_event(event)
    inference = event.get("inference")
    if not isinstance(inference, dict) or not inference.get("path"):
        raise InvalidInputError("inference", "expected the inference step's result with its path")
    result = build_annotations(settings, request.run_id, inference)
    metrics.add_metric(name="AnnotationsWritten", unit=MetricUnit.Count, value=result["annotations"])
    logger.info(
        "annotations built",
        run_id=request.run_id,
        images=result["images"],
        annotations=result["annotations"],
        errors=result["errors"],
    )
    return result
