"""OntapContextFunction: the volume, its shares and export policies, once per run → context.json."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from legal_compliance.audit import ContextRequest, prepare_context
from legal_compliance.rules import default_rules
from legal_compliance.settings import ContextSettings
from shared.observability import MetricUnit, logger, metrics, tracer
from shared.ontap_client import client_for


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = ContextSettings.from_env(os.environ)
    request = ContextRequest.from_event(event)
    summary = prepare_context(
        client_for(settings.ontap),
        default_rules(settings.rules),
        settings.volume_uuid,
        settings.output,
        request,
    )
    metrics.add_metric(name="ContextFindings", unit=MetricUnit.Count, value=summary["findings"])
    logger.info(
        "ONTAP context stored", run_id=request.run_id, **{k: v for k, v in summary.items() if k != "context"}
    )
    return summary
