"""AuditBatchFunction: one Distributed Map item — each file's security from ONTAP, judged by the rules."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from legal_compliance.audit import audit_batch
from legal_compliance.rules import default_rules
from legal_compliance.settings import BatchSettings
from shared.batch import BatchRequest
from shared.observability import MetricUnit, logger, metrics, tracer
from shared.ontap_client import client_for


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = BatchSettings.from_env(os.environ)
    request = BatchRequest.from_event(event)
    result = audit_batch(client_for(settings.ontap), default_rules(settings.rules), settings.output, request)
    metrics.add_metric(name="ObjectsAudited", unit=MetricUnit.Count, value=result["files"])
    logger.info(
        "batch audited",
        run_id=request.run_id,
        batch=request.batch,
        files=result["files"],
        findings=result["findings"],
    )
    return result
