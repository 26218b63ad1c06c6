"""DiscoveryFunction: one listing of the volume's access point → the run's manifest of layout batches.

A multi-region standby region lists nothing (``shared.discovery.region_role``).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.discovery import NOTHING_DISCOVERED, DiscoveryRequest, DiscoverySettings, discover, region_role
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = DiscoverySettings.from_env(os.environ)
    request = DiscoveryRequest.from_event(event)
    role = region_role(os.environ)
    if not role.active:
        return {**NOTHING_DISCOVERED, "region": role.to_dict()}
    summary = discover(settings, request.run_id)
    metrics.add_metric(name="LayoutsDiscovered", unit=MetricUnit.Count, value=summary.count)
    logger.info("discovery finished", run_id=request.run_id, count=summary.count, batches=summary.batches)
    return {**summary.to_dict(), "region": role.to_dict()}
