"""DiscoveryFunction: one listing of the volume → the run's manifest, counts by sensor, routing inputs.

A multi-region standby region lists nothing (``shared.discovery.region_role``).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from autonomous_driving.discovery import DriveLogDiscovery, DriveLogSettings, discover_drive_logs
from shared.discovery import DiscoveryRequest, region_role
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = DriveLogSettings.from_env(os.environ)
    request = DiscoveryRequest.from_event(event)
    role = region_role(os.environ)
    if not role.active:
        standby = DriveLogDiscovery.nothing(settings).to_dict()
        standby["discovery"]["region"] = role.to_dict()
        return standby
    result = discover_drive_logs(settings, request.run_id).to_dict()
    result["discovery"]["region"] = role.to_dict()
    metrics.add_metric(name="FilesDiscovered", unit=MetricUnit.Count, value=result["discovery"]["count"])
    logger.info(
        "drive log discovered",
        run_id=request.run_id,
        count=result["discovery"]["count"],
        by_kind=result["discovery"]["by_kind"],
        skipped=result["discovery"]["skipped"]["files"],
    )
    return result
