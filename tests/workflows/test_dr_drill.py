"""DR drill in the sandbox: two regions, the primary made unhealthy, the secondary takes over.

What is deployed, per region, from the shipped templates (regional stack names from shared.naming):

* primary only: ``shared/cfn/global-task-token-store.yaml`` with EnableMultiRegion=true (the
  global task-token table and the region-status table; CloudFormation creates every replica from
  this one stack);
* both: ``shared/cfn/batch-transform.yaml`` with EnableMultiRegion=true and the global table's name
  (the real start and callback handlers), and a small app built the way a use case integrates the
  guard: **Check Region Role** (a function calling ``shared.region_role.RegionRoleGuard``) → a
  Choice → the ``.waitForTaskToken`` **Batch Transform** task, or **Standby**.

What moto cannot do is played here, at the AWS boundary, and nowhere else:

* **Global Tables replication.** moto keeps one DynamoDB per region and has no replication:
  :class:`Replication` creates the secondary replicas with the template's key schema and copies
  changed items between the replicas when the drill says so (deterministic "replication lag"). It
  detects conflicts (an item changed in both replicas since the last sync): there must be none.
* **Route 53's health checkers.** Nothing offline probes an entry point: :class:`Route53Checkers`
  probes the primary's health endpoint — its ONTAP management endpoint on the ONTAP simulator,
  which every run depends on — and publishes ``AWS/Route53 HealthCheckStatus`` into moto's
  CloudWatch in us-east-1, one datapoint per (compressed) minute, as Route 53 would. The fault is
  injected in the simulator (``faults.node_down()``), never in the guard.
* **SageMaker's job events**, as in test_inference_fallback: jobs are created ``Completed`` and
  emit no event; the drill builds the "SageMaker Transform Job State Change" event from
  DescribeTransformJob and invokes a region's callback function through moto's Lambda API.

The primary's in-flight execution (started before the fault) is completed the way the runbook
re-drives it (scripts/dr-redrive-callbacks.sh): its job's event goes to the *secondary's* callback,
which reads the replicated token record and calls Step Functions in the execution's region; a late
delivery to the primary's own callback then finds the record already called back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.ontap import OntapSimulator
from sandbox.runner import ExecutionResult
from scripts.cfn_templates import REPO_ROOT, load_template
from shared.naming import ResourceKind, global_name, regional_name, stack_name
from shared.region_role import HEALTH_METRIC_NAME, HEALTH_METRIC_NAMESPACE, RegionStatusTable
from shared.snapstart import run_after_restore_hooks

CFN = REPO_ROOT / "shared" / "cfn"
PRIMARY = "ap-northeast-1"
SECONDARY = "us-east-1"
REGIONS = (PRIMARY, SECONDARY)
ACCOUNT = "123456789012"
DEPLOYMENT = "drill"
TOKEN_TABLE = global_name(DEPLOYMENT, ResourceKind.TABLE, "task-tokens")
STATUS_TABLE = global_name(DEPLOYMENT, ResourceKind.TABLE, "region-status")
ALIASES = {
    PRIMARY: "vol1-ap-3hx7a2bq9z1k5example-ext-s3alias",
    SECONDARY: "vol1-dr-9kq2c4xw7m1p3example-ext-s3alias",
}
LOGS_KEY_ID = "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b"
MANIFEST = [{"keys": ["wafer/001.gds", "wafer/002.gds"]}, {"keys": ["wafer/003.gds"]}]

# The drill app: what a use case adds for multi-region (docs/disaster-recovery.md, "Integration").
GUARD_HANDLER = '''"""CheckRegionRoleFunction: may this region process this run?"""

import os

from shared.region_role import RegionRoleGuard


def handler(event, context):
    return RegionRoleGuard.from_env(os.environ).check().to_dict()
'''
APP_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  BatchTransformStartFunctionArn: {Type: String}
  PrimaryRegion: {Type: String}
  SecondaryRegion: {Type: String}
  PrimaryHealthCheckId: {Type: String}
  RegionStatusTable: {Type: String}
Globals:
  Function:
    Runtime: python3.13
    Timeout: 30
    MemorySize: 256
Resources:
  CheckRegionRoleFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: drill_app.check_region_role.handler
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: dr-drill
          MULTI_REGION_ENABLED: "true"
          PRIMARY_REGION: !Ref PrimaryRegion
          SECONDARY_REGION: !Ref SecondaryRegion
          PRIMARY_HEALTH_CHECK_ID: !Ref PrimaryHealthCheckId
          REGION_STATUS_TABLE: !Ref RegionStatusTable
          # the drill compresses time: Route53Checkers' minutes start 30 minutes in the past
          HEALTH_WINDOW_SECONDS: "3600"
  DrillStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/drill.asl.json
      DefinitionSubstitutions:
        CheckRegionRoleFunctionArn: !GetAtt CheckRegionRoleFunction.Arn
        BatchTransformStartFunctionArn: !Ref BatchTransformStartFunctionArn
"""
APP_DEFINITION = {
    "Comment": "DR drill: process the run only when this region is the active one",
    "StartAt": "Check Region Role",
    "States": {
        "Check Region Role": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": "${CheckRegionRoleFunctionArn}",
                "Payload": {"run_id.$": "$$.Execution.Name"},
            },
            "ResultSelector": {"decision.$": "$.Payload"},
            "ResultPath": "$.region",
            "TimeoutSeconds": 30,
            "Retry": [
                {
                    "ErrorEquals": ["RegionStatusUnavailableError"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 2,
                    "BackoffRate": 2.0,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Run Failed"}],
            "Next": "Route By Region Role",
        },
        "Route By Region Role": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.region.decision.active", "BooleanEquals": True, "Next": "Batch Transform"}
            ],
            "Default": "Standby",
        },
        "Standby": {"Type": "Succeed", "Comment": "Another region is active: this run processes nothing"},
        "Batch Transform": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": "${BatchTransformStartFunctionArn}",
                "Payload": {
                    "task_token.$": "$$.Task.Token",
                    "execution_arn.$": "$$.Execution.Id",
                    "state_machine_arn.$": "$$.StateMachine.Id",
                    "run_id.$": "$$.Execution.Name",
                    "manifest.$": "$.discovery.manifest",
                },
            },
            "ResultPath": "$.inference",
            "TimeoutSeconds": 600,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Run Failed"}],
            "Next": "Run Done",
        },
        "Run Done": {"Type": "Succeed"},
        "Run Failed": {"Type": "Fail", "Error": "States.TaskFailed", "Cause": "see the history"},
    },
}


# --- what moto lacks, played at the boundary -----------------------------------------------------


class Replication:
    """Global Tables replication between the two replicas of each table, when :meth:`sync` is called."""

    def __init__(self, clients: dict[str, Any], tables: list[str]) -> None:
        self.clients = clients
        self.tables = tables
        self.synced: dict[tuple[str, str], str] = {}
        self.conflicts: list[tuple[str, str]] = []
        self.copied = 0

    def _items(self, region: str, table: str) -> dict[str, dict[str, Any]]:
        key = self._key_name(table)
        items = self.clients[region].scan(TableName=table, ConsistentRead=True)["Items"]
        return {item[key]["S"]: item for item in items}

    def _key_name(self, table: str) -> str:
        schema = self.clients[PRIMARY].describe_table(TableName=table)["Table"]["KeySchema"]
        return str(schema[0]["AttributeName"])

    def sync(self) -> None:
        for table in self.tables:
            key_name = self._key_name(table)
            replicas = {region: self._items(region, table) for region in REGIONS}
            for key in set(replicas[PRIMARY]) | set(replicas[SECONDARY]):
                seen = self.synced.get((table, key))
                state = {region: replicas[region].get(key) for region in REGIONS}
                encoded = {
                    region: json.dumps(item, sort_keys=True) if item else "" for region, item in state.items()
                }
                if encoded[PRIMARY] == encoded[SECONDARY]:
                    self.synced[(table, key)] = encoded[PRIMARY]
                    continue
                changed = [region for region in REGIONS if encoded[region] != (seen or "")]
                if len(changed) != 1:
                    self.conflicts.append((table, key))
                    continue
                source = changed[0]
                target = SECONDARY if source == PRIMARY else PRIMARY
                if state[source] is None:
                    self.clients[target].delete_item(TableName=table, Key={key_name: {"S": key}})
                else:
                    self.clients[target].put_item(TableName=table, Item=state[source])
                self.synced[(table, key)] = encoded[source]
                self.copied += 1


class Route53Checkers:
    """Route 53's view of the primary, published as HealthCheckStatus one (drill) minute at a time."""

    def __init__(self, cloudwatch: Any, health_check_id: str, probe: Callable[[], bool]) -> None:
        self.cloudwatch = cloudwatch
        self.health_check_id = health_check_id
        self.probe = probe
        self.minute = datetime.now(UTC) - timedelta(minutes=30)

    def tick(self) -> float:
        value = 1.0 if self.probe() else 0.0
        self.cloudwatch.put_metric_data(
            Namespace=HEALTH_METRIC_NAMESPACE,
            MetricData=[
                {
                    "MetricName": HEALTH_METRIC_NAME,
                    "Dimensions": [{"Name": "HealthCheckId", "Value": self.health_check_id}],
                    "Value": value,
                    "Timestamp": self.minute,
                }
            ],
        )
        self.minute += timedelta(minutes=1)
        return value


def handlers_now_run_in(region: str) -> None:
    """Before ``region``'s start and callback functions run after the other region's.

    On Lambda each region's functions are separate processes. In the sandbox they share one Python
    process and — their layer being passed by ARN — its ``shared`` modules, whose process-wide
    clients without a region (SageMaker and S3 in shared.inference and shared.s3ap) would stay
    bound to the region that created them. Dropping them, as a SnapStart restore does, keeps each
    region's calls in its own region. (shared.task_token_store and shared.region_role keep one
    client per region and need no such help.)
    """
    assert region in REGIONS
    run_after_restore_hooks()


def regional_world(primary: SandboxWorld, region: str) -> SandboxWorld:
    """A second region of the same moto world: moto's backends are per region, the mock is one.

    It shares the primary world's (already open) Lambda dispatcher and IAM role, and is never
    entered itself (a second mock_aws start would not reset anything, but its IAM role exists).
    """
    world = SandboxWorld(region=region)
    world.dispatcher = primary.dispatcher
    world.role_arn = primary.role_arn
    return world


def nested_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "template.yaml").symlink_to(CFN / f"{name}.yaml")
    return folder


def drill_app(tmp_path: Path) -> Path:
    folder = tmp_path / "drill-app"
    (folder / "src" / "drill_app").mkdir(parents=True)
    (folder / "src" / "drill_app" / "__init__.py").write_text("")
    (folder / "src" / "drill_app" / "check_region_role.py").write_text(GUARD_HANDLER)
    (folder / "statemachine").mkdir()
    (folder / "statemachine" / "drill.asl.json").write_text(json.dumps(APP_DEFINITION, indent=2))
    (folder / "template.yaml").write_text(APP_TEMPLATE)
    return folder


# --- the two regions ----------------------------------------------------------------------------


class Region:
    """One region's world, stacks and helpers."""

    def __init__(self, world: SandboxWorld, batch: UseCaseStack, app: UseCaseStack) -> None:
        self.world = world
        self.name = world.region
        self.batch = batch
        self.app = app
        self.bucket = regional_name(DEPLOYMENT, self.name, ResourceKind.BUCKET, "runs")

    def run_input(self, run_id: str) -> dict[str, Any]:
        key = f"runs/{run_id}/manifest.json"
        self.world.client("s3").put_object(Bucket=self.bucket, Key=key, Body=json.dumps(MANIFEST).encode())
        return {"discovery": {"manifest": {"bucket": self.bucket, "key": key}, "count": 3}}

    def run(self, run_id: str) -> ExecutionResult:
        return self.app.run(self.run_input(run_id), name=run_id, timeout_s=120)

    def start(self, run_id: str) -> Callable[[], ExecutionResult]:
        """Start the run in a thread (it waits for its task token); returns ``join``."""
        execution_input = self.run_input(run_id)
        results: list[ExecutionResult] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                results.append(self.app.run(execution_input, name=run_id, timeout_s=120))
            except BaseException as error:  # surfaced by join()
                errors.append(error)

        thread = threading.Thread(target=run, name=f"{self.name}-{run_id}")
        thread.start()

        def join() -> ExecutionResult:
            thread.join(timeout=150)
            if errors:
                raise errors[0]
            return results[0]

        return join

    def started_record(self, run_id: str) -> dict[str, Any]:
        """The run's token record in this region's replica once the job has started."""
        dynamodb = self.world.client("dynamodb")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for item in dynamodb.scan(TableName=TOKEN_TABLE, ConsistentRead=True)["Items"]:
                if item["execution_arn"]["S"].endswith(f":{run_id}") and item["status"]["S"] == "STARTED":
                    return item
            time.sleep(0.05)
        raise AssertionError(f"{run_id} never parked a token and started a job in {self.name}")

    def job_state_change(self, job_name: str) -> dict[str, Any]:
        job = self.world.client("sagemaker").describe_transform_job(TransformJobName=job_name)
        detail = json.loads(
            json.dumps({k: v for k, v in job.items() if k != "ResponseMetadata"}, default=str)
        )
        return {
            "version": "0",
            "id": f"drill-{job_name}",
            "detail-type": "SageMaker Transform Job State Change",
            "source": "aws.sagemaker",
            "account": ACCOUNT,
            "time": "2026-11-22T12:00:00Z",
            "region": self.name,
            "resources": [job["TransformJobArn"]],
            "detail": detail,
        }

    def callback(self, event: dict[str, Any]) -> dict[str, Any]:
        """Deliver a job state change to this region's callback function (as EventBridge would)."""
        response = self.world.client("lambda").invoke(
            FunctionName=self.batch.function_arns["SageMakerCallbackFunction"], Payload=json.dumps(event)
        )
        outcome: dict[str, Any] = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, outcome
        return outcome


@pytest.fixture
def drill(workflow: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    primary_world = workflow.world
    assert primary_world.region == PRIMARY
    worlds = {PRIMARY: primary_world, SECONDARY: regional_world(primary_world, SECONDARY)}

    # The global store, once, in the primary; the secondary replicas as Global Tables create them
    store = worlds[PRIMARY].deploy(
        nested_folder(tmp_path, "global-task-token-store"),
        stack_name=stack_name(DEPLOYMENT, PRIMARY, "global-store"),
        parameters={"DeploymentName": DEPLOYMENT, "EnableMultiRegion": "true", "ReplicaRegions": SECONDARY},
    )
    assert (store.ref("GlobalTaskTokenTable"), store.ref("RegionStatusTable")) == (TOKEN_TABLE, STATUS_TABLE)
    resources = load_template(CFN / "global-task-token-store.yaml")["Resources"]
    for logical_id, table in (("GlobalTaskTokenTable", TOKEN_TABLE), ("RegionStatusTable", STATUS_TABLE)):
        properties = resources[logical_id]["Properties"]
        worlds[SECONDARY].client("dynamodb").create_table(
            TableName=table,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode=properties["BillingMode"],
        )
    replication = Replication({r: worlds[r].client("dynamodb") for r in REGIONS}, [TOKEN_TABLE, STATUS_TABLE])

    # The primary's health check and Route 53's view of it
    health_check_id = str(
        boto3.client("route53").create_health_check(
            CallerReference="dr-drill",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": "ingest-apne1.example.com",
                "ResourcePath": "/health",
                "RequestInterval": 10,
                "FailureThreshold": 3,
            },
        )["HealthCheck"]["Id"]
    )
    ontap = OntapSimulator(password="drill-password")
    with ontap.running() as endpoint:

        def primary_entry_point_healthy() -> bool:
            try:
                response = requests.get(
                    f"{endpoint.base_url}/api/cluster", auth=(endpoint.username, "drill-password"), timeout=2
                )
            except requests.RequestException:
                return False
            return response.ok

        checkers = Route53Checkers(
            worlds[SECONDARY].client("cloudwatch"), health_check_id, primary_entry_point_healthy
        )

        regions = {}
        for region, world in worlds.items():
            bucket = world.create_bucket(regional_name(DEPLOYMENT, region, ResourceKind.BUCKET, "runs"))
            world.client("sagemaker").create_model(
                ModelName="scoring-model",
                ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/scoring",
                PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/scoring:1"},
            )
            (tmp_path / region).mkdir()
            batch = world.deploy(
                nested_folder(tmp_path / region, "batch-transform"),
                stack_name=stack_name(DEPLOYMENT, region, "batch"),
                parameters={
                    "SharedLayerArn": f"arn:aws:lambda:{region}:{ACCOUNT}:layer:shared:1",
                    "JobNamePrefix": "scoring",
                    "ModelName": "scoring-model",
                    "InputAccessPointAlias": ALIASES[region],
                    "OutputBucketName": bucket,
                    "LogsKmsKeyArn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{LOGS_KEY_ID}",
                    "EnableMultiRegion": "true",
                    "GlobalTaskTokenTableName": TOKEN_TABLE,
                },
            )
            app = world.deploy(
                drill_app(tmp_path / region),
                stack_name=stack_name(DEPLOYMENT, region, "app"),
                parameters={
                    "BatchTransformStartFunctionArn": batch.function_arns["BatchTransformStartFunction"],
                    "PrimaryRegion": PRIMARY,
                    "SecondaryRegion": SECONDARY,
                    "PrimaryHealthCheckId": health_check_id,
                    "RegionStatusTable": STATUS_TABLE,
                },
            )
            regions[region] = Region(world, batch, app)
        yield {"regions": regions, "replication": replication, "checkers": checkers, "ontap": ontap}


def processed_in(results: dict[str, ExecutionResult]) -> list[str]:
    """The regions whose execution of one run went through Batch Transform."""
    return [region for region, result in results.items() if "Batch Transform" in result.states_entered()]


def test_dr_drill_secondary_takes_over_in_flight_tokens_complete_nothing_twice(drill: dict[str, Any]) -> None:
    regions: dict[str, Region] = drill["regions"]
    primary, secondary = regions[PRIMARY], regions[SECONDARY]
    replication: Replication = drill["replication"]
    checkers: Route53Checkers = drill["checkers"]
    ontap: OntapSimulator = drill["ontap"]
    runs: dict[str, dict[str, ExecutionResult]] = {}
    callbacks: list[tuple[str, dict[str, Any]]] = []

    # Phase 1 — primary healthy: the scheduler fires r1 in both regions; only the primary processes
    assert checkers.tick() == 1.0
    join_r1 = primary.start("r1")
    r1_on_secondary = secondary.run("r1")
    r1_record = primary.started_record("r1")  # in flight: the job runs, the execution waits
    replication.sync()

    # Fault — the primary's ONTAP node goes down; Route 53 marks the primary unhealthy
    handlers_now_run_in(SECONDARY)
    ontap.faults.node_down()
    assert checkers.tick() == 0.0

    # In flight — r1's job ends; the primary's callback path is impaired, so the event is re-driven
    # to the secondary, which reads the replicated record and resumes r1 in the primary's region
    r1_event = primary.job_state_change(r1_record["job_name"]["S"])
    callbacks.append((SECONDARY, secondary.callback(r1_event)))
    runs["r1"] = {PRIMARY: join_r1(), SECONDARY: r1_on_secondary}
    replication.sync()
    handlers_now_run_in(PRIMARY)
    callbacks.append((PRIMARY, primary.callback(r1_event)))  # EventBridge's late delivery: a duplicate

    # Phase 2 — primary unhealthy: r2 is processed by the secondary only
    handlers_now_run_in(SECONDARY)
    r2_on_primary = primary.run("r2")
    join_r2 = secondary.start("r2")
    r2_record = secondary.started_record("r2")
    callbacks.append((SECONDARY, secondary.callback(secondary.job_state_change(r2_record["job_name"]["S"]))))
    runs["r2"] = {PRIMARY: r2_on_primary, SECONDARY: join_r2()}
    replication.sync()

    # Decision owner pins the secondary (dr-failover.sh); then the primary recovers
    RegionStatusTable(STATUS_TABLE, dynamodb=secondary.world.client("dynamodb")).set_override(
        SECONDARY, reason="drill: pin until failback", actor="dr-drill"
    )
    replication.sync()
    ontap.faults.node_up()
    assert checkers.tick() == 1.0

    # Phase 3 — primary healthy again but the override holds: r3 stays in the secondary
    r3_on_primary = primary.run("r3")
    join_r3 = secondary.start("r3")
    r3_record = secondary.started_record("r3")
    callbacks.append((SECONDARY, secondary.callback(secondary.job_state_change(r3_record["job_name"]["S"]))))
    runs["r3"] = {PRIMARY: r3_on_primary, SECONDARY: join_r3()}
    replication.sync()

    # Failback (dr-failback.sh): the override is removed; r4 is the primary's again
    RegionStatusTable(STATUS_TABLE, dynamodb=primary.world.client("dynamodb")).clear_override()
    replication.sync()
    handlers_now_run_in(PRIMARY)
    join_r4 = primary.start("r4")
    r4_on_secondary = secondary.run("r4")
    r4_record = primary.started_record("r4")
    callbacks.append((PRIMARY, primary.callback(primary.job_state_change(r4_record["job_name"]["S"]))))
    runs["r4"] = {PRIMARY: join_r4(), SECONDARY: r4_on_secondary}
    replication.sync()

    # Every execution succeeded; each run was processed in exactly one region, the expected one
    for run_id, results in runs.items():
        for region, result in results.items():
            assert result.status == "SUCCEEDED", (run_id, region, result.cause)
    assert {run_id: processed_in(results) for run_id, results in runs.items()} == {
        "r1": [PRIMARY],
        "r2": [SECONDARY],
        "r3": [SECONDARY],
        "r4": [PRIMARY],
    }
    reasons = {
        run_id: {
            region: result.state_output("Check Region Role")["region"]["decision"]["reason"]
            for region, result in results.items()
        }
        for run_id, results in runs.items()
    }
    assert reasons == {
        "r1": {PRIMARY: "primary-healthy", SECONDARY: "primary-healthy"},
        "r2": {PRIMARY: "primary-unhealthy", SECONDARY: "primary-unhealthy"},
        "r3": {PRIMARY: "override", SECONDARY: "override"},
        "r4": {PRIMARY: "primary-healthy", SECONDARY: "primary-healthy"},
    }
    for results in runs.values():
        standby = next(result for result in results.values() if "Standby" in result.states_entered())
        assert "inference" not in standby.output  # the standby region processed nothing

    # The in-flight r1 completed through the secondary's callback, in the primary's region
    r1_output = runs["r1"][PRIMARY].output["inference"]
    assert r1_output["job_name"] == r1_record["job_name"]["S"]
    assert callbacks[0] == (SECONDARY, {**callbacks[0][1], "action": "notified"})
    assert callbacks[0][1]["correlation_id"] == r1_output["correlation_id"]
    assert callbacks[1][1]["action"] == "duplicate"

    # Nothing twice: one transform job per run across both regions, one callback per token
    jobs = {
        region: sorted(
            job["TransformJobName"]
            for job in regions[region]
            .world.client("sagemaker")
            .list_transform_jobs()["TransformJobSummaries"]
        )
        for region in REGIONS
    }
    assert jobs == {
        PRIMARY: sorted([r1_record["job_name"]["S"], r4_record["job_name"]["S"]]),
        SECONDARY: sorted([r2_record["job_name"]["S"], r3_record["job_name"]["S"]]),
    }
    assert [outcome["action"] for _, outcome in callbacks] == [
        "notified",
        "duplicate",
        "notified",
        "notified",
        "notified",
    ]

    # The replicas converged without a single conflicting write, and every token was used once
    assert replication.conflicts == []
    replicas = {
        region: sorted(
            regions[region]
            .world.client("dynamodb")
            .scan(TableName=TOKEN_TABLE, ConsistentRead=True)["Items"],
            key=lambda item: item["correlation_id"]["S"],
        )
        for region in REGIONS
    }
    assert replicas[PRIMARY] == replicas[SECONDARY]
    records = {item["execution_arn"]["S"].rsplit(":", 1)[1]: item for item in replicas[PRIMARY]}
    assert sorted(records) == ["r1", "r2", "r3", "r4"]
    assert {item["status"]["S"] for item in records.values()} == {"CALLED_BACK"}
    assert {run_id: item["execution_region"]["S"] for run_id, item in records.items()} == {
        "r1": PRIMARY,
        "r2": SECONDARY,
        "r3": SECONDARY,
        "r4": PRIMARY,
    }
    status_items = regions[PRIMARY].world.client("dynamodb").scan(TableName=STATUS_TABLE)["Items"]
    assert status_items == []  # failed back: no override left anywhere
