"""The task-token store on a global table: a record read from the other region's replica still calls
back the execution's own region.

moto keeps one DynamoDB per region, so the two replicas of the global table are two moto tables of
the same name, created from the global-task-token-store template's own key schema; ``replicate``
copies items from one replica to the other, which is what Global Tables (version 2019.11.21) do
through the table's stream. Step Functions is a Stubber per region: a call in the wrong region
would find no stubbed response and fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from scripts.cfn_templates import REPO_ROOT, load_template
from shared.inference import CallbackSettings, complete_batch_transform
from shared.task_token_store import (
    KEY_ATTRIBUTE,
    TTL_ATTRIBUTE,
    TaskTokenRecord,
    TaskTokenStore,
    TokenStatus,
    correlation_id_for,
    default_dynamodb_client,
    notify_execution,
)

STORE_TEMPLATE = REPO_ROOT / "shared" / "cfn" / "global-task-token-store.yaml"
PRIMARY = "ap-northeast-1"
SECONDARY = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "legal-prod-global-task-tokens"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAglobalToken" + "g" * 250
CID = correlation_id_for(TOKEN)
JOB = f"scoring-{CID}"
EXECUTION = f"arn:aws:states:{PRIMARY}:{ACCOUNT}:execution:Inference:run-7"
MACHINE = f"arn:aws:states:{PRIMARY}:{ACCOUNT}:stateMachine:Inference"


def table_definition(logical_id: str) -> dict[str, Any]:
    properties = load_template(STORE_TEMPLATE)["Resources"][logical_id]["Properties"]
    return {key: properties[key] for key in ("AttributeDefinitions", "KeySchema", "BillingMode")}


@pytest.fixture
def replicas() -> Iterator[dict[str, Any]]:
    """The global table's replica in each region (the template's own key schema)."""
    with mock_aws():
        clients = {}
        for region in (PRIMARY, SECONDARY):
            client = boto3.client("dynamodb", region_name=region)
            client.create_table(TableName=TABLE, **table_definition("GlobalTaskTokenTable"))
            clients[region] = client
        yield clients


def replicate(replicas: dict[str, Any], source: str, target: str) -> int:
    """Apply every item of ``source``'s replica to ``target``'s (what the global table does)."""
    items = replicas[source].scan(TableName=TABLE, ConsistentRead=True)["Items"]
    for item in items:
        replicas[target].put_item(TableName=TABLE, Item=item)
    return len(items)


def park(store: TaskTokenStore) -> TaskTokenRecord:
    record, created = store.create(
        TaskTokenRecord.for_token(TOKEN, execution_arn=EXECUTION, state_machine_arn=MACHINE, job_name=JOB)
    )
    assert created
    assert store.set_status(CID, TokenStatus.STARTED, expected=[TokenStatus.STARTING])
    return record


class StepFunctions:
    """A Stubber'd Step Functions client per region; ``calls`` lists the regions asked."""

    def __init__(self) -> None:
        self.clients = {
            region: boto3.client("stepfunctions", region_name=region) for region in (PRIMARY, SECONDARY)
        }
        self.stubbers = {region: Stubber(client) for region, client in self.clients.items()}
        self.calls: list[str] = []
        for stubber in self.stubbers.values():
            stubber.activate()

    def factory(self, region: str) -> Any:
        self.calls.append(region)
        return self.clients[region]


@pytest.fixture
def sfn() -> Iterator[StepFunctions]:
    stepfunctions = StepFunctions()
    yield stepfunctions
    for stubber in stepfunctions.stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def test_both_templates_declare_the_key_and_ttl_the_store_uses() -> None:
    for logical_id in ("TaskTokenTable", "GlobalTaskTokenTable"):
        properties = load_template(STORE_TEMPLATE)["Resources"][logical_id]["Properties"]
        assert properties["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
        assert properties["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_a_record_read_in_the_other_region_calls_back_the_execution_region(
    replicas: dict[str, Any], sfn: StepFunctions
) -> None:
    # Given a token parked by an execution of the primary, replicated to the secondary
    park(TaskTokenStore(TABLE, dynamodb=replicas[PRIMARY]))
    assert replicate(replicas, PRIMARY, SECONDARY) == 1

    # When the secondary reads it from its own replica and calls back
    record = TaskTokenStore(TABLE, dynamodb=replicas[SECONDARY]).get(CID)
    sfn.stubbers[PRIMARY].add_response(
        "send_task_success", {}, {"taskToken": TOKEN, "output": '{"ok": true}'}
    )
    delivered = notify_execution(record, output={"ok": True}, sfn_factory=sfn.factory)

    # Then Step Functions was called in the execution's region, not in the reader's
    assert delivered
    assert (record.execution_region, record.state_machine_arn) == (PRIMARY, MACHINE)
    assert sfn.calls == [PRIMARY]


def test_the_callback_path_on_the_secondary_resumes_the_primary_execution_once(
    replicas: dict[str, Any], sfn: StepFunctions
) -> None:
    # Given the job's end delivered to the secondary's callback (the primary's is unavailable)
    park(TaskTokenStore(TABLE, dynamodb=replicas[PRIMARY]))
    replicate(replicas, PRIMARY, SECONDARY)
    settings = CallbackSettings(table_name=TABLE, job_prefix="scoring")
    event = {
        "detail-type": "SageMaker Transform Job State Change",
        "source": "aws.sagemaker",
        "region": PRIMARY,
        "detail": {
            "TransformJobName": JOB,
            "TransformJobStatus": "Completed",
            "TransformOutput": {"S3OutputPath": "s3://runs/runs/run-7/batch-transform/output/"},
        },
    }
    expected = {
        "path": "batch_transform",
        "job_name": JOB,
        "job_status": "Completed",
        "output_uri": "s3://runs/runs/run-7/batch-transform/output/",
        "correlation_id": CID,
    }
    sfn.stubbers[PRIMARY].add_response(
        "send_task_success", {}, {"taskToken": TOKEN, "output": json.dumps(expected)}
    )

    # When the secondary's callback handles it
    secondary_store = TaskTokenStore(TABLE, dynamodb=replicas[SECONDARY])
    outcome = complete_batch_transform(settings, event, store=secondary_store, sfn_factory=sfn.factory)

    # Then the primary execution was resumed, from the secondary's replica
    assert outcome.action == "notified"
    assert sfn.calls == [PRIMARY]
    assert secondary_store.get(CID).status is TokenStatus.CALLED_BACK

    # And once replicated back, the primary's own callback sees a duplicate and calls nothing
    replicate(replicas, SECONDARY, PRIMARY)
    primary_store = TaskTokenStore(TABLE, dynamodb=replicas[PRIMARY])
    again = complete_batch_transform(settings, event, store=primary_store, sfn_factory=sfn.factory)
    assert again.action == "duplicate"
    assert sfn.calls == [PRIMARY]


def test_a_redelivered_start_in_the_execution_region_reuses_the_replicated_record(
    replicas: dict[str, Any],
) -> None:
    store = TaskTokenStore(TABLE, dynamodb=replicas[PRIMARY])
    park(store)
    replicate(replicas, PRIMARY, SECONDARY)
    record, created = store.create(
        TaskTokenRecord.for_token(TOKEN, execution_arn=EXECUTION, state_machine_arn=MACHINE, job_name=JOB)
    )
    assert not created
    assert record.status is TokenStatus.STARTED


def test_each_region_gets_its_own_client_for_its_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    default_dynamodb_client.cache_clear()
    try:
        assert TaskTokenStore(TABLE, region=SECONDARY).dynamodb.meta.region_name == SECONDARY
        monkeypatch.setenv("AWS_REGION", PRIMARY)
        primary = TaskTokenStore(TABLE).dynamodb
        monkeypatch.setenv("AWS_REGION", SECONDARY)
        secondary = TaskTokenStore(TABLE).dynamodb
        # one cached client per region: code running in two regions never shares a replica's client
        assert (primary.meta.region_name, secondary.meta.region_name) == (PRIMARY, SECONDARY)
        assert TaskTokenStore(TABLE).dynamodb is secondary
    finally:
        default_dynamodb_client.cache_clear()


def test_records_replicate_unchanged(replicas: dict[str, Any]) -> None:
    park(TaskTokenStore(TABLE, dynamodb=replicas[PRIMARY]))
    replicate(replicas, PRIMARY, SECONDARY)
    primary = TaskTokenStore(TABLE, dynamodb=replicas[PRIMARY]).get(CID)
    secondary = TaskTokenStore(TABLE, dynamodb=replicas[SECONDARY]).get(CID)
    assert primary == secondary
    assert secondary.task_token == TOKEN
    assert TOKEN not in repr(secondary)
