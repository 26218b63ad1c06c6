"""ExtractMetadataFunction: one Distributed Map item (a batch of layout keys) → catalogue records."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from semiconductor_eda.extract import extract_batch
from semiconductor_eda.settings import ExtractSettings
from shared.batch import BatchRequest
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = ExtractSettings.from_env(os.environ)
    request = BatchRequest.from_event(event)
    summary = extract_batch(settings, request)
    metrics.add_metric(name="LayoutsInvalid", unit=MetricUnit.Count, value=summary.errors)
    logger.info(
        "layouts catalogued",
        run_id=request.run_id,
        batch=request.batch,
        files=summary.files,
        invalid=summary.errors,
    )
    return summary.to_dict()
