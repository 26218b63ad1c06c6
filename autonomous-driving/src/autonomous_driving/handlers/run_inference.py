"""InferenceFunction: the next slice of the run's frames on the synchronous path the state machine chose."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from autonomous_driving.frame_inference import FrameInference, FrameInferenceSettings, InferenceStep
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = FrameInferenceSettings.from_env(os.environ)
    step = InferenceStep.from_event(event)
    result = FrameInference(settings).run(step, remaining_s=context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="FramesInferred", unit=MetricUnit.Count, value=result["frames"])
    logger.info(
        "frames inferred",
        run_id=step.run_id,
        path=result["path"],
        cursor=result["cursor"],
        total=result["total"],
        errors=result["errors"],
    )
    return result
