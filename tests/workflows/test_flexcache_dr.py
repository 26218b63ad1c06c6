"""flexcache-anycast-dr's state machine in the sandbox, one ONTAP simulator per cluster.

Faults are injected into the simulators (a node down resets every connection; a peer down takes
the FlexCache relationships offline) and the real ASL runs the real handlers: checks, decisions,
conditional commits, EventBridge events and SNS alerts are all observed from the outside.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.runner import ExecutionResult, TopicWatch
from sandbox.scenarios.flexcache_anycast_dr import SANDBOX_PARAMETERS, SandboxTopology, start_topology
from tests.workflows.conftest import WorkflowHarness

pytestmark = [pytest.mark.network, pytest.mark.slow]

USE_CASE = "flexcache-anycast-dr"
N, M = 2, 3
EVENT_SOURCE = "fsxn.flexcache-anycast-dr"


@dataclass
class DrStack:
    """One deployed stack, its clusters, and what it announced."""

    world: SandboxWorld
    stack: UseCaseStack
    clusters: SandboxTopology
    alerts: TopicWatch
    events_queue: str

    def run(self, execution_input: dict[str, Any] | None = None) -> ExecutionResult:
        return self.stack.run(execution_input or {}, timeout_s=120)

    def baseline(self) -> ExecutionResult:
        result = self.run({"topology": self.clusters.document})
        assert result.succeeded, (result.error, result.cause)
        self.alerts.messages()
        self.events()
        return result

    def routes(self) -> dict[str, str | None]:
        items = self._scan("RoutingTable")
        return {i["sk"]["S"]: i["target"].get("S") for i in items if i["pk"]["S"] == "route"}

    def routing_items(self) -> list[dict[str, Any]]:
        return sorted(self._scan("RoutingTable"), key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def audit(self, subject: str | None = None) -> list[dict[str, Any]]:
        items = self._scan("AuditTable")
        found = [i for i in items if subject is None or i["subject"]["S"] == subject]
        return sorted(found, key=lambda i: i["at"]["S"])

    def events(self) -> list[dict[str, Any]]:
        sqs = self.world.client("sqs")
        received = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.events_queue, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return received
            for message in batch:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.events_queue, ReceiptHandle=message["ReceiptHandle"])

    def region_of(self, member_id: str) -> str:
        return self.clusters.site(member_id).region

    def _scan(self, logical_id: str) -> list[dict[str, Any]]:
        return self.world.client("dynamodb").scan(TableName=self.stack.ref(logical_id))["Items"]


def deploy(
    world: SandboxWorld, clusters: SandboxTopology, *, stack_name: str = USE_CASE, **parameters: Any
) -> DrStack:
    stack = world.deploy(
        USE_CASE,
        stack_name=stack_name,
        parameters={**SANDBOX_PARAMETERS, "DrainAfterFailures": N, "RestoreAfterSuccesses": M, **parameters},
        environment=clusters.environment,
    )
    sqs, events = world.client("sqs"), world.client("events")
    queue = sqs.create_queue(QueueName=f"{stack_name}-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = stack.ref("RoutingEventBus")
    events.put_rule(
        Name="all-routing-events", EventBusName=bus, EventPattern=json.dumps({"source": [EVENT_SOURCE]})
    )
    events.put_targets(
        Rule="all-routing-events", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    return DrStack(world, stack, clusters, stack.watch_topic("AlertTopic"), queue)


@pytest.fixture
def clusters(workflow: WorkflowHarness) -> Iterator[SandboxTopology]:
    with ExitStack() as resources:
        yield start_topology(workflow.world, resources, seed=7, caches=3)


@pytest.fixture
def dr(workflow: WorkflowHarness, clusters: SandboxTopology) -> DrStack:
    return deploy(workflow.world, clusters)


def _severity(message: dict[str, Any]) -> str:
    return str(message["MessageAttributes"]["severity"]["Value"])


def test_a_cache_going_down_is_drained_after_n_checks_and_restored_after_m(dr: DrStack) -> None:
    # Given published routes, each cache region on its own cache (region_affinity)
    dr.baseline()
    cache = dr.clusters.cache_ids[0]
    region = dr.region_of(cache)
    assert dr.routes()[region] == cache

    # When the cache's cluster stops answering (its management LIF resets every connection)
    dr.clusters.simulators[cache].faults.node_down()
    first = dr.run()
    # Then one failed check changes nothing (N = 2) and alerts nobody
    assert first.succeeded and dr.routes()[region] == cache
    assert dr.alerts.messages() == [] and dr.events() == []
    health = first.state_output("Check Health")["health"]
    assert {h["member_id"]: h["checks_passed"] for h in health}[cache] is False

    # And the second failed check drains it: the region falls back to the origin
    drained = dr.run()
    assert drained.succeeded and dr.routes()[region] == dr.clusters.origin_id
    (alert,) = dr.alerts.messages()
    assert _severity(alert) == "warning"
    assert alert["Subject"] == "[WARNING] FlexCache routing: 1 route change(s)"
    assert f"{region}: {cache} (cache, {region}) -> {dr.clusters.origin_id}" in alert["Message"]
    kinds = sorted(
        (e["detail-type"], e["detail"].get("client_region") or e["detail"]["member_id"]) for e in dr.events()
    )
    assert kinds == [("MemberStateChanged", cache), ("RouteChanged", region)]

    # While it stays down nothing more is published
    assert dr.run().succeeded and dr.alerts.messages() == [] and dr.events() == []

    # When it answers again, it is restored after M good checks, not before
    dr.clusters.simulators[cache].faults.node_up()
    for _ in range(M - 1):
        assert dr.run().succeeded
        assert dr.routes()[region] == dr.clusters.origin_id and dr.alerts.messages() == []
    assert dr.run().succeeded
    assert dr.routes()[region] == cache
    (restored,) = dr.alerts.messages()
    assert _severity(restored) == "info"

    # And every change is in the audit trail, previous -> new, with its reason, evidence and actor
    trail = dr.audit(f"route#{region}")
    assert [(r["previous"]["S"], r["new"]["S"]) for r in trail] == [
        ("(unpublished)", cache),
        (cache, dr.clusters.origin_id),
        (dr.clusters.origin_id, cache),
    ]
    assert {r["actor"]["S"] for r in trail} == {"scheduler"}
    assert trail[1]["reason"]["S"].startswith("origin fallback")
    evidence = json.dumps(trail[1]["evidence"])
    assert "ONTAP REST failed" in evidence
    member_trail = dr.audit(f"member#{cache}")
    assert [r["new"]["S"] for r in member_trail] == ["in_service", "drained", "in_service"]
    assert f"{N} consecutive failed checks" in member_trail[1]["reason"]["S"]
    assert f"{M} consecutive passed checks" in member_trail[2]["reason"]["S"]


def test_every_drill_scenario_reports_and_leaves_the_live_routes_untouched(dr: DrStack) -> None:
    dr.baseline()
    live, items, audit = dr.routes(), dr.routing_items(), len(dr.audit())
    caches = dr.clusters.cache_ids
    origin = dr.clusters.origin_id
    expectations = {
        "cache_down": ({"target": caches[0]}, {dr.region_of(caches[0]): origin}),
        "region_down": ({"region": dr.region_of(caches[1])}, {dr.region_of(caches[1]): origin}),
        "latency_spike": ({"target": caches[2]}, {dr.region_of(caches[2]): origin}),
        "origin_unreachable": ({}, dict.fromkeys(live, None)),
    }
    s3 = dr.world.client("s3")
    for scenario, (arguments, moves) in expectations.items():
        result = dr.run({"scenario": scenario, **arguments})
        assert result.succeeded, (scenario, result.error, result.cause)
        assert "Decide Routes" not in result.states_entered()
        report = json.loads(
            s3.get_object(Bucket=dr.stack.ref("OutputBucket"), Key=result.output["report"]["key"])[
                "Body"
            ].read()
        )
        assert report["scenario"] == scenario and report["applied"] is False
        assert {c["client_region"]: c["to"] for c in report["changes"]} == moves, scenario
        assert report["live_routes"] == live
        assert report["critical_regions"] == (sorted(live) if scenario == "origin_unreachable" else [])
        assert result.output["verdict"] == report["verdict"]
    # Then the live routes, member states and audit trail are exactly as before; nobody was alerted
    assert dr.routing_items() == items
    assert len(dr.audit()) == audit
    assert dr.alerts.messages() == [] and dr.events() == []


def test_all_paths_down_leaves_no_route_and_raises_a_critical_alert(dr: DrStack) -> None:
    dr.baseline()
    for sim in dr.clusters.simulators.values():
        sim.faults.node_down()
    for _ in range(N):
        assert dr.run().succeeded
    assert set(dr.routes().values()) == {None}
    (alert,) = dr.alerts.messages()
    assert _severity(alert) == "critical"
    assert alert["Subject"].startswith("[CRITICAL] FlexCache routing: no read path for ")
    route_events = [e for e in dr.events() if e["detail-type"] == "RouteChanged"]
    assert route_events and all(e["detail"]["critical"] and e["detail"]["new"] is None for e in route_events)


def test_an_origin_cut_off_drains_the_caches_by_default(dr: DrStack) -> None:
    """Origin unreachable for real: its cluster is down and every cache's peer to it is unavailable."""
    dr.baseline()
    origin_cluster = dr.clusters.dataset.origin.cluster_name
    dr.clusters.simulators[dr.clusters.origin_id].faults.node_down()
    for cache in dr.clusters.cache_ids:
        dr.clusters.simulators[cache].cluster_peer_down(origin_cluster)
    for _ in range(N):
        assert dr.run().succeeded
    assert set(dr.routes().values()) == {None}
    member_trail = dr.audit(f"member#{dr.clusters.cache_ids[0]}")
    assert "origin_link (origin relationship state 'offline')" in member_trail[-1]["reason"]["S"]


def test_an_applied_drill_is_refused_in_production_and_moves_routes_in_staging(
    workflow: WorkflowHarness, clusters: SandboxTopology
) -> None:
    cache = clusters.cache_ids[0]
    drill = {"scenario": "cache_down", "target": cache, "apply": True, "actor": "gameday"}

    production = deploy(workflow.world, clusters)  # Environment defaults to production
    production.baseline()
    live = production.routing_items()
    refused = production.run(drill)
    assert refused.status == "FAILED" and refused.error == "InvalidInputError"
    assert "production" in (refused.cause or "")
    (alert,) = production.alerts.messages()
    assert alert["Subject"] == "[CRITICAL] FlexCache routing: run failed"
    assert production.routing_items() == live

    staging = deploy(workflow.world, clusters, stack_name="flexcache-dr-staging", Environment="staging")
    staging.baseline()
    region = staging.region_of(cache)
    applied = staging.run(drill)
    assert applied.succeeded and applied.output["applied"] is True
    assert staging.routes()[region] == clusters.origin_id
    assert staging.audit(f"route#{region}")[-1]["actor"]["S"] == "drill:gameday"
    (alert,) = staging.alerts.messages()
    assert _severity(alert) == "warning"
    # the real checks pass, so ordinary hysteresis brings the cache back after M of them
    for _ in range(M):
        assert staging.run().succeeded
    assert staging.routes()[region] == cache


def _start_and_wait(sfn: Any, arn: str, inputs: list[dict[str, Any]], timeout_s: float = 120) -> list[str]:
    executions = [
        sfn.start_execution(stateMachineArn=arn, name=f"race-{index}", input=json.dumps(i))["executionArn"]
        for index, i in enumerate(inputs)
    ]
    deadline = time.monotonic() + timeout_s
    statuses = {}
    while len(statuses) < len(executions) and time.monotonic() < deadline:
        for execution in executions:
            status = sfn.describe_execution(executionArn=execution)["status"]
            if status != "RUNNING":
                statuses[execution] = status
        time.sleep(0.05)
    assert len(statuses) == len(executions), "executions still running"
    return [statuses[e] for e in executions]


def test_concurrent_executions_never_lose_an_update(dr: DrStack) -> None:
    dr.baseline()
    cache = dr.clusters.cache_ids[0]
    region = dr.region_of(cache)
    pin = {
        "client_region": region,
        "target": dr.clusters.cache_ids[1],
        "duration_minutes": 30,
        "reason": "CHG-42 firmware",
        "actor": "alice",
    }
    dr.clusters.simulators[cache].faults.node_down()
    assert dr.run().succeeded  # first failure of `cache`
    sfn = dr.world.client("stepfunctions")
    # When a scheduled run (which drains `cache`) and an operator's pin of its region race
    statuses = _start_and_wait(sfn, dr.stack.state_machine_arn(), [{}, {"override": pin}])
    assert statuses == ["SUCCEEDED", "SUCCEEDED"]
    # Then both updates are there: the pin holds the region, and the cache is drained
    assert dr.routes()[region] == pin["target"]
    members = {i["sk"]["S"]: i["state"]["S"] for i in dr.routing_items() if i["pk"]["S"] == "member"}
    assert members[cache] == "drained"
    # and the audit trail is one gap-free sequence of commits: nothing was written on a stale version
    versions = sorted({int(r["state_version"]["N"]) for r in dr.audit()})
    state = next(i for i in dr.routing_items() if i["pk"]["S"] == "state")
    assert versions == list(range(1, int(state["version"]["N"]) + 1))
    route = next(i for i in dr.routing_items() if i["pk"]["S"] == "route" and i["sk"]["S"] == region)
    assert int(route["version"]["N"]) == len(dr.audit(f"route#{region}"))
    assert {r["actor"]["S"] for r in dr.audit(f"override#{region}")} == {"operator:alice"}


def test_a_scheduled_start_with_empty_input_uses_the_topology_parameter(
    workflow: WorkflowHarness, clusters: SandboxTopology
) -> None:
    dr = deploy(
        workflow.world, clusters, TopologyDocument=json.dumps(clusters.document, separators=(",", ":"))
    )
    result = dr.run({})
    assert result.succeeded, (result.error, result.cause)
    assert result.output["summary"]["routes"][dr.region_of(clusters.cache_ids[0])] == clusters.cache_ids[0]
    assert result.largest_payload_bytes() < 64 * 1024


def test_route53_records_follow_the_routes_when_opted_in(
    workflow: WorkflowHarness, clusters: SandboxTopology
) -> None:
    route53 = workflow.world.client("route53")
    zone = route53.create_hosted_zone(Name="reads.example.com", CallerReference="wf")["HostedZone"]["Id"]
    dr = deploy(workflow.world, clusters, HostedZoneId=zone.split("/")[-1], RecordDomain="reads.example.com")
    result = dr.run({"topology": clusters.document})
    assert result.succeeded and "Sync Route 53 Records" in result.states_entered()
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    chosen = {r["Name"]: r["SetIdentifier"] for r in records if r.get("Weight") == 1}
    cache = clusters.cache_ids[0]
    assert chosen[f"{dr.region_of(cache)}.reads.example.com."] == cache


def test_the_schedule_and_route53_are_off_by_default(dr: DrStack) -> None:
    created = set(dr.stack.resources)
    assert "SyncDnsFunction" not in created and "HealthCheckSchedule" not in created
    result = dr.run({"topology": dr.clusters.document})
    assert "Sync Route 53 Records" not in result.states_entered()


def test_a_malformed_health_record_fails_the_run_loudly_and_changes_no_route(dr: DrStack) -> None:
    dr.baseline()
    items = dr.routing_items()
    cache = dr.clusters.cache_ids[0]
    dr.world.client("dynamodb").put_item(
        TableName=dr.stack.ref("HealthTable"),
        Item={
            "member_id": {"S": cache},
            "observed_at": {"S": "2999-01-01T00:00:00.000000+00:00#hand-written"},
            "run_id": {"S": "hand-written"},
            "checks": {"M": {"svm": {"S": "true"}, "volume": {"BOOL": True}, "probe": {"BOOL": True}}},
            "latency_ms": {"N": "3"},
        },
    )
    result = dr.run()
    assert result.status == "FAILED" and result.error == "InvalidInputError"
    assert f"health record {cache}/2999-01-01T00:00:00.000000+00:00#hand-written.checks.svm" in (
        result.cause or ""
    )
    (alert,) = dr.alerts.messages()
    assert alert["Subject"] == "[CRITICAL] FlexCache routing: run failed"
    assert "Published routes are unchanged" in alert["Message"]
    assert dr.routing_items() == items
