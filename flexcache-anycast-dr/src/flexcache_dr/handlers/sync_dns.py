"""SyncDnsFunction (opt-in): Route 53 weighted TXT records that match the published routes."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from flexcache_dr.clients import aws
from flexcache_dr.cycle import sync_dns
from flexcache_dr.settings import DnsSettings
from flexcache_dr.store import RoutingStore, TopologyStore
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = DnsSettings.from_env(os.environ)
    client = aws("dynamodb")
    result = sync_dns(
        TopologyStore(client, settings.tables.topology),
        RoutingStore(client, settings.tables.routing, settings.tables.audit),
        aws("route53"),
        hosted_zone_id=settings.hosted_zone_id,
        domain=settings.record_domain,
        ttl=settings.ttl,
        secret_prefix=settings.secret_prefix,
        region=settings.region,
    )
    metrics.add_metric(name="DnsRecordsUpserted", unit=MetricUnit.Count, value=result["records"])
    logger.info("route 53 records synced", **result)
    return result
