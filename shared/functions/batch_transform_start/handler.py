"""BatchTransformStartFunction: park the task token, start the transform job over the run's manifest.

Invoked by a ``lambda:invoke.waitForTaskToken`` task whose payload is
``{"task_token.$": "$$.Task.Token", "execution_arn.$": "$$.Execution.Id",
"state_machine_arn.$": "$$.StateMachine.Id", "run_id.$": "$$.Execution.Name",
"manifest.$": "$.discovery.manifest"}``. The execution resumes when SageMakerCallbackFunction
reports the job's end; what this function returns is not the task's result.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.inference import BatchTransformRequest, BatchTransformSettings, start_batch_transform
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = BatchTransformSettings.from_env(os.environ)
    request = BatchTransformRequest.from_event(event)
    started = start_batch_transform(settings, request)
    metrics.add_metric(
        name="TransformJobsStarted", unit=MetricUnit.Count, value=0 if started.already_started else 1
    )
    logger.info("batch transform requested", run_id=request.run_id, **started.to_dict())
    return started.to_dict()
