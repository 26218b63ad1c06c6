"""CheckQualityFunction: one Distributed Map item — a batch of files, one QC record each."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from autonomous_driving.inspection import FileInspector, QualitySettings
from shared.batch import BatchRequest, process_batch
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = QualitySettings.from_env(os.environ)
    request = BatchRequest.from_event(event)
    summary = process_batch(request, FileInspector(settings), settings.output)
    metrics.add_metric(name="FilesChecked", unit=MetricUnit.Count, value=summary.files)
    logger.info(
        "batch checked",
        run_id=request.run_id,
        batch=request.batch,
        files=summary.files,
        errors=summary.errors,
    )
    return summary.to_dict()
