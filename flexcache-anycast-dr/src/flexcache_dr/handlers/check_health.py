"""CheckHealthFunction: one member's ONTAP checks and canary probe, stored with a TTL."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from flexcache_dr.clients import aws, ontap_client, s3_in
from flexcache_dr.health import check_member
from flexcache_dr.settings import HealthSettings
from flexcache_dr.store import HealthStore
from flexcache_dr.topology import Member
from shared.errors import InvalidInputError
from shared.observability import MetricUnit, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = HealthSettings.from_env(os.environ)
    member = Member.from_dict(
        event.get("member"), secret_prefix=settings.secret_prefix, stack_region=settings.region
    )
    run_id = event.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError("run_id", "is required")
    observation = check_member(
        member,
        ontap=partial(ontap_client, environ=dict(os.environ)),
        s3=lambda m: s3_in(m.region),
        probe=settings.probe,
        run_id=run_id,
    )
    HealthStore(aws("dynamodb"), settings.health_table, retention=settings.retention).put(observation)
    metrics.add_metric(
        name="HealthChecksFailed", unit=MetricUnit.Count, value=0 if observation.all_checks_passed else 1
    )
    logger.info(
        "member checked",
        member_id=member.member_id,
        failed=list(observation.failed_checks),
        latency_ms=observation.latency_ms,
    )
    return {
        "member_id": member.member_id,
        "checks_passed": observation.all_checks_passed,
        "failed_checks": list(observation.failed_checks),
        "latency_ms": None if observation.latency_ms is None else round(observation.latency_ms, 1),
    }
