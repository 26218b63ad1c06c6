"""DiscoveryFunction: what this run audits (the whole volume, or an event's paths) → the manifest.

A multi-region standby region lists nothing (``shared.discovery.region_role``).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from legal_compliance.discovery import AuditRequest, DiscoverySummary, discover
from legal_compliance.settings import AuditDiscoverySettings
from shared.discovery import region_role
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = AuditDiscoverySettings.from_env(os.environ)
    request = AuditRequest.from_event(event, max_paths=settings.max_event_paths)
    role = region_role(os.environ)
    if not role.active:
        nothing = DiscoverySummary(request.run_id, request.trigger, request.scope)
        return {**nothing.to_dict(), "region": role.to_dict()}
    summary = discover(settings, request)
    metrics.add_metric(name="ObjectsDiscovered", unit=MetricUnit.Count, value=summary.count)
    logger.info(
        "discovery finished",
        run_id=request.run_id,
        trigger=request.trigger,
        scope=request.scope,
        files=summary.files,
        folders=summary.folders,
        batches=summary.batches,
        skipped=summary.skipped,
    )
    return {**summary.to_dict(), "region": role.to_dict()}
