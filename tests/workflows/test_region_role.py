"""Multi-region active-passive in every use case that processes files, end to end in the sandbox.

Each use case is deployed as the **secondary** region's stack (the sandbox world's region) with
``EnableMultiRegion=true``, its own scenario's dataset and parameters, a region-status table (the
replica ``RegionStatusTableName`` names) and Route 53's ``HealthCheckStatus`` of the primary's
health check published in us-east-1 as Route 53 publishes it. The guard, the discovery handlers,
the IAM-scoped environment and the state machines are the shipped ones.

* primary healthy → the run enters *Region Active?* and ends in *Standby*: nothing listed,
  nothing written under ``runs/<run_id>/``, the volume untouched;
* primary unhealthy → the same deployment processes the run like a single-region one;
* the decision owner's override wins over the health signal in both directions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.cli import run_outputs
from sandbox.scenarios import RunOptions, RunPlan, scenario_for
from shared.region_role import (
    HEALTH_METRIC_NAME,
    HEALTH_METRIC_NAMESPACE,
    ROUTE53_METRICS_REGION,
    STATUS_KEY_ATTRIBUTE,
    RegionStatusTable,
)
from tests.workflows.conftest import WorkflowHarness

pytestmark = [pytest.mark.slow]

USE_CASES = ("legal-compliance", "semiconductor-eda", "autonomous-driving")
PRIMARY = "us-west-2"
HEALTH_CHECK = "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b"
STATUS_TABLE = "sbx-global-region-status"
FILES = 8


@pytest.fixture
def resources() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def deploy_secondary(
    workflow: WorkflowHarness, resources: ExitStack, use_case: str
) -> tuple[UseCaseStack, RunPlan]:
    world = workflow.world
    plan = scenario_for(use_case).prepare(world, resources, RunOptions(files=FILES, seed=7))
    world.client("dynamodb").create_table(
        TableName=STATUS_TABLE,
        KeySchema=[{"AttributeName": STATUS_KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": STATUS_KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    parameters = {
        **plan.parameters,
        "EnableMultiRegion": "true",
        "PrimaryRegion": PRIMARY,
        "SecondaryRegion": world.region,
        "PrimaryHealthCheckId": HEALTH_CHECK,
        "RegionStatusTableName": STATUS_TABLE,
    }
    return workflow.deploy(use_case, parameters=parameters, environment=plan.environment), plan


def route53_sees_primary(*, healthy: bool) -> None:
    """One datapoint of the primary's HealthCheckStatus, a minute ago, where Route 53 publishes it."""
    boto3.client("cloudwatch", region_name=ROUTE53_METRICS_REGION).put_metric_data(
        Namespace=HEALTH_METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": HEALTH_METRIC_NAME,
                "Dimensions": [{"Name": "HealthCheckId", "Value": HEALTH_CHECK}],
                "Value": 1.0 if healthy else 0.0,
                "Timestamp": datetime.now(UTC) - timedelta(minutes=1),
            }
        ],
    )


def volume_objects(world: SandboxWorld, plan: RunPlan) -> dict[str, str]:
    """Every object behind the access point (a bucket standing for it in moto), key → ETag."""
    s3 = world.client("s3")
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=plan.parameters["AccessPointAlias"]):
        found.update({entry["Key"]: entry["ETag"] for entry in page.get("Contents", ())})
    return found


def region_decision(workflow: WorkflowHarness, result: Any) -> dict[str, Any]:
    region: dict[str, Any] = workflow.state_input(result.history, "Region Active?")["discovery"]["region"]
    return region


@pytest.mark.parametrize("use_case", USE_CASES)
def test_the_secondary_processes_nothing_while_the_primary_is_healthy(
    workflow: WorkflowHarness, resources: ExitStack, use_case: str
) -> None:
    stack, plan = deploy_secondary(workflow, resources, use_case)
    route53_sees_primary(healthy=True)
    volume_before = volume_objects(workflow.world, plan)

    result = stack.run(dict(plan.input), name="standby-run", timeout_s=120)

    assert result.status == "SUCCEEDED", result.cause
    entered = result.states_entered()
    assert entered[entered.index("Discover Files") :] == ["Discover Files", "Region Active?", "Standby"]
    assert region_decision(workflow, result) == {
        "region": workflow.world.region,
        "role": "STANDBY",
        "active": False,
        "active_region": PRIMARY,
        "reason": "primary-healthy",
        "primary_health": "HEALTHY",
        "override": None,
    }
    discovered = workflow.state_input(result.history, "Region Active?")["discovery"]
    assert (discovered["count"], discovered["manifest"]) == (0, None)
    assert run_outputs(workflow.world, stack, "standby-run") == []
    assert volume_objects(workflow.world, plan) == volume_before


@pytest.mark.parametrize("use_case", USE_CASES)
def test_the_secondary_takes_over_when_the_primary_is_unhealthy(
    workflow: WorkflowHarness, resources: ExitStack, use_case: str
) -> None:
    stack, plan = deploy_secondary(workflow, resources, use_case)
    route53_sees_primary(healthy=False)

    result = stack.run(dict(plan.input), name="takeover-run", timeout_s=300)

    assert result.status == "SUCCEEDED", result.cause
    assert "Region Active?" in result.states_entered()
    assert "Standby" not in result.states_entered()
    decision = region_decision(workflow, result)
    assert (decision["role"], decision["reason"], decision["active_region"]) == (
        "ACTIVE",
        "primary-unhealthy",
        workflow.world.region,
    )
    assert workflow.state_input(result.history, "Region Active?")["discovery"]["count"] > 0
    assert any(
        output.endswith("/manifest.json") for output in run_outputs(workflow.world, stack, "takeover-run")
    )


def test_the_decision_owners_override_wins_over_the_health_signal(
    workflow: WorkflowHarness, resources: ExitStack
) -> None:
    stack, plan = deploy_secondary(workflow, resources, "semiconductor-eda")
    status = RegionStatusTable(STATUS_TABLE, dynamodb=workflow.world.client("dynamodb"))

    route53_sees_primary(healthy=True)
    status.set_override(workflow.world.region, reason="INC-1234 primary flapping", actor="on-call")
    pinned = stack.run(dict(plan.input), name="pinned-here", timeout_s=300)

    route53_sees_primary(healthy=False)
    status.set_override(PRIMARY, reason="INC-1234 failback", actor="on-call")
    pinned_away = stack.run(dict(plan.input), name="pinned-away", timeout_s=120)

    assert (pinned.status, pinned_away.status) == ("SUCCEEDED", "SUCCEEDED")
    assert "Standby" not in pinned.states_entered()
    assert region_decision(workflow, pinned)["reason"] == "override"
    assert pinned_away.states_entered()[-1] == "Standby"
    assert region_decision(workflow, pinned_away) | {"primary_health": None} == {
        "region": workflow.world.region,
        "role": "STANDBY",
        "active": False,
        "active_region": PRIMARY,
        "reason": "override",
        "primary_health": None,
        "override": PRIMARY,
    }
    assert run_outputs(workflow.world, stack, "pinned-away") == []
