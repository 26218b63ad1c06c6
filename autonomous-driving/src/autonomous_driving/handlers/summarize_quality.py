"""SummarizeQualityFunction: the run's QC records → aggregates, the frames manifest, the failure manifest."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from autonomous_driving.summary import SummarySettings, summarize_quality
from shared.discovery import DiscoveryRequest
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = SummarySettings.from_env(os.environ)
    request = DiscoveryRequest.from_event(event)
    result = summarize_quality(settings.output, request.run_id, batch_size=settings.batch_size)
    metrics.add_metric(name="FilesFailedQc", unit=MetricUnit.Count, value=result.failure_count)
    logger.info(
        "quality summarised",
        run_id=request.run_id,
        files=result.summary.totals["files"],
        failures=result.failure_count,
        frames=result.frame_count,
    )
    return result.to_dict()
