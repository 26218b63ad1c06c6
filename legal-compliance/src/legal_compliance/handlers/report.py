"""ReportFunction: the run's findings (JSON Lines, CSV) and report (Markdown, HTML), and its summary."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from legal_compliance.evidence import ReportRequest, write_report
from legal_compliance.narrative import BedrockNarrator
from legal_compliance.rules import default_rules
from legal_compliance.settings import ReportSettings
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = ReportSettings.from_env(os.environ)
    request = ReportRequest.from_event(event)
    narrator = BedrockNarrator(settings.bedrock_model_id) if settings.bedrock_model_id else None
    _, summary = write_report(settings, default_rules(settings.rules), request, narrator=narrator)
    # The critical-findings alarm watches full audits only: a clean targeted run must not clear it.
    metrics.add_dimension(name="scope", value=str(request.discovery.get("scope", "full")))
    metrics.add_metric(name="Findings", unit=MetricUnit.Count, value=summary["findings"])
    metrics.add_metric(name="CriticalFindings", unit=MetricUnit.Count, value=summary["critical"])
    logger.info(
        "report written", run_id=request.run_id, findings=summary["findings"], critical=summary["critical"]
    )
    return summary
