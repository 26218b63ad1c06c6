"""RunDrillFunction: a failover drill's report (and, outside production, its optional apply)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from flexcache_dr.clients import aws
from flexcache_dr.drills import execute_drill
from flexcache_dr.handlers.decide_routes import stores_for
from flexcache_dr.settings import DrillSettings
from shared.errors import InvalidInputError
from shared.observability import MetricUnit, logger, metrics, tracer
from shared.s3ap import OutputLocation


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = DrillSettings.from_env(os.environ)
    run_id = event.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError("run_id", "is required")
    result = execute_drill(
        stores_for(settings.routing),
        settings.routing.policy,
        event.get("drill"),
        environment=settings.environment,
        output=OutputLocation(settings.output_bucket, "drills/"),
        s3=aws("s3"),
        run_id=run_id,
        now=datetime.now(UTC),
        secret_prefix=settings.routing.secret_prefix,
        region=settings.routing.region,
    )
    metrics.add_metric(name="DrillRouteChanges", unit=MetricUnit.Count, value=result["changes"])
    logger.info(
        "drill finished", scenario=result["scenario"], verdict=result["verdict"], applied=result["applied"]
    )
    return result
