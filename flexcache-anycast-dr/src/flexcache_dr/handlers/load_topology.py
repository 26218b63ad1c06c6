"""LoadTopologyFunction: validate and store the topology when one is given; return its members.

The topology comes from the execution input (``{"topology": {...}}``, e.g. a JSON file passed
with ``--input file://topology.json``) or from the ``TopologyDocument`` template parameter; it
is written only when its fingerprint differs from the stored one, and validated before anything
is written. Without either, the stored topology is used.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from flexcache_dr.clients import aws
from flexcache_dr.cycle import load_topology
from flexcache_dr.settings import RoutingSettings
from flexcache_dr.store import TopologyStore
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = RoutingSettings.from_env(os.environ)
    result = load_topology(
        TopologyStore(aws("dynamodb"), settings.tables.topology),
        document=event.get("document"),
        parameter=os.environ.get("TOPOLOGY_DOCUMENT", ""),
        secret_prefix=settings.secret_prefix,
        region=settings.region,
        now=datetime.now(UTC),
    )
    metrics.add_metric(name="TopologyMembers", unit=MetricUnit.Count, value=len(result["members"]))
    logger.info(
        "topology ready", source=result["source"], written=result["written"], members=len(result["members"])
    )
    return result
