"""DecideRoutesFunction: decide every client region's read path and commit what changed.

Also applies an operator override (``{"override": {...}}``) in the same transaction.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from flexcache_dr.clients import aws
from flexcache_dr.cycle import Stores, run_cycle
from flexcache_dr.settings import RoutingSettings
from flexcache_dr.store import HealthStore, RoutingStore, TopologyStore
from shared.errors import InvalidInputError
from shared.observability import MetricUnit, logger, metrics, tracer


def stores_for(settings: RoutingSettings) -> Stores:
    client = aws("dynamodb")
    tables = settings.tables
    return Stores(
        topology=TopologyStore(client, tables.topology),
        # The decision only reads health; retention matters to writers.
        health=HealthStore(client, tables.health, retention=timedelta(0)),
        routing=RoutingStore(client, tables.routing, tables.audit),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = RoutingSettings.from_env(os.environ)
    run_id = event.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError("run_id", "is required")
    result = run_cycle(
        stores_for(settings),
        settings.policy,
        run_id=run_id,
        actor=str(event.get("actor", "scheduler")),
        now=datetime.now(UTC),
        secret_prefix=settings.secret_prefix,
        region=settings.region,
        override=event.get("override"),
    )
    output = result.to_output()
    metrics.add_metric(name="RouteChanges", unit=MetricUnit.Count, value=len(result.plan.route_changes))
    metrics.add_metric(
        name="RegionsWithoutRoute", unit=MetricUnit.Count, value=len(result.decision.critical_regions)
    )
    logger.info(
        "routes decided",
        actor=result.plan.actor,
        changed=result.plan.changed,
        state_version=output["summary"]["state_version"],
        critical_regions=list(result.decision.critical_regions),
    )
    return output
