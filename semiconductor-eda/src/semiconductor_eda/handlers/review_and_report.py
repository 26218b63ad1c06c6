"""ReviewAndReportFunction: the run's records → catalogue JSONL, design-review findings, reports."""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from semiconductor_eda.aggregate import ReportRequest, review_and_report
from semiconductor_eda.settings import ReportSettings
from shared.observability import MetricUnit, logger, metrics, tracer


@functools.cache
def bedrock_runtime() -> Any:
    """Created on first use, and only when a narrative is configured (never at import)."""
    return boto3.client("bedrock-runtime")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = ReportSettings.from_env(os.environ)
    request = ReportRequest.from_event(event)
    result = review_and_report(settings, request, bedrock=bedrock_runtime)
    metrics.add_metric(name="ReviewErrors", unit=MetricUnit.Count, value=result["findings"]["error"])
    logger.info(
        "review and report written", run_id=request.run_id, files=result["files"], findings=result["findings"]
    )
    return result
