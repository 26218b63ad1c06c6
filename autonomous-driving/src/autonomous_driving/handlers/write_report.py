"""WriteReportFunction: the run's QC report (JSON + Markdown), and the optional Bedrock summary."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from autonomous_driving.bedrock_summary import BedrockSummarizer
from autonomous_driving.report import ReportRequest, ReportSettings, write_report
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = ReportSettings.from_env(os.environ)
    request = ReportRequest.from_event(event)
    summarizer = BedrockSummarizer(settings.bedrock_model_id) if settings.bedrock_model_id else None
    result = write_report(settings, request, summarizer=summarizer)
    metrics.add_metric(name="RunsFailingQc", unit=MetricUnit.Count, value=int(result["verdict"] == "FAIL"))
    logger.info("report written", run_id=request.run_id, verdict=result["verdict"])
    return result
