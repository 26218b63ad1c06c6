"""SageMakerCallbackFunction and shared.inference.complete_batch_transform.

Events have the shape EventBridge delivers for "SageMaker Transform Job State Change" (the detail is
the job's description). The token store is moto's DynamoDB; Step Functions is a Stubber, so the
exact SendTaskSuccess/SendTaskFailure request and the region it goes to are checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from shared.errors import InvalidInputError, TaskTokenError
from shared.functions.sagemaker_callback.handler import handler
from shared.inference import CORRELATION_TAG, CallbackSettings, complete_batch_transform
from shared.task_token_store import (
    KEY_ATTRIBUTE,
    TaskTokenRecord,
    TaskTokenStore,
    TokenStatus,
    correlation_id_for,
    default_dynamodb_client,
    default_sfn_client,
)

TABLE = "task-tokens"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAcallbackToken" + "k" * 200
CID = correlation_id_for(TOKEN)
JOB = f"scoring-{CID}"
EXECUTION_REGION = "us-west-2"
SETTINGS = CallbackSettings(table_name=TABLE, job_prefix="scoring")
OUTPUT_URI = "s3://run-outputs/runs/run-42/batch-transform/output/"


def state_change(
    status: str, *, job: str = JOB, reason: str | None = None, tags: Any = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "TransformJobName": job,
        "TransformJobArn": f"arn:aws:sagemaker:{EXECUTION_REGION}:123456789012:transform-job/{job}",
        "TransformJobStatus": status,
        "ModelName": "scoring-model",
        "TransformOutput": {"S3OutputPath": OUTPUT_URI},
    }
    if reason:
        detail["FailureReason"] = reason
    if tags is not None:
        detail["Tags"] = tags
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "SageMaker Transform Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-11-22T12:00:00Z",
        "region": EXECUTION_REGION,
        "resources": [detail["TransformJobArn"]],
        "detail": detail,
    }


@pytest.fixture
def store() -> Iterator[TaskTokenStore]:
    default_dynamodb_client.cache_clear()
    default_sfn_client.cache_clear()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="ap-northeast-1")
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        store = TaskTokenStore(TABLE, dynamodb=dynamodb)
        parked, _ = store.create(
            TaskTokenRecord.for_token(
                TOKEN,
                execution_arn=f"arn:aws:states:{EXECUTION_REGION}:123456789012:execution:Inference:run-42",
                state_machine_arn=f"arn:aws:states:{EXECUTION_REGION}:123456789012:stateMachine:Inference",
                job_name=JOB,
            )
        )
        store.set_status(parked.correlation_id, TokenStatus.STARTED, expected=[TokenStatus.STARTING])
        yield store
    default_dynamodb_client.cache_clear()
    default_sfn_client.cache_clear()


@pytest.fixture
def sfn() -> Iterator[tuple[Stubber, Any, list[str]]]:
    client = boto3.client("stepfunctions", region_name=EXECUTION_REGION)
    regions: list[str] = []

    def factory(region: str) -> Any:
        regions.append(region)
        return client

    with Stubber(client) as stubber:
        yield stubber, factory, regions
        stubber.assert_no_pending_responses()


def test_completed_job_resumes_the_execution_in_its_region(store, sfn) -> None:
    stubber, factory, regions = sfn
    expected_output = {
        "path": "batch_transform",
        "job_name": JOB,
        "job_status": "Completed",
        "output_uri": OUTPUT_URI,
        "correlation_id": CID,
    }
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": json.dumps(expected_output)})

    outcome = complete_batch_transform(SETTINGS, state_change("Completed"), store=store, sfn_factory=factory)

    assert outcome.to_dict() == {
        "job_name": JOB,
        "job_status": "Completed",
        "correlation_id": CID,
        "action": "notified",
    }
    assert regions == [EXECUTION_REGION]
    assert store.get(CID).status is TokenStatus.CALLED_BACK


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_or_stopped_job_fails_the_task_with_the_reason(store, sfn, status: str) -> None:
    stubber, factory, _ = sfn
    stubber.add_response(
        "send_task_failure",
        {},
        {
            "taskToken": TOKEN,
            "error": "BatchTransformFailedError",
            "cause": f"transform job {JOB} {status}: ClientError: model container exited",
        },
    )

    outcome = complete_batch_transform(
        SETTINGS,
        state_change(status, reason="ClientError: model container exited"),
        store=store,
        sfn_factory=factory,
    )

    assert outcome.action == "notified"


def test_a_duplicate_event_calls_step_functions_once(store, sfn) -> None:
    stubber, factory, _ = sfn
    stubber.add_response("send_task_success", {})

    first = complete_batch_transform(SETTINGS, state_change("Completed"), store=store, sfn_factory=factory)
    second = complete_batch_transform(SETTINGS, state_change("Completed"), store=store, sfn_factory=factory)

    assert (first.action, second.action) == ("notified", "duplicate")


def test_an_execution_that_stopped_waiting_marks_the_token_expired(store, sfn) -> None:
    stubber, factory, _ = sfn
    stubber.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400)

    outcome = complete_batch_transform(SETTINGS, state_change("Completed"), store=store, sfn_factory=factory)

    assert outcome.action == "expired"
    assert store.get(CID).status is TokenStatus.EXPIRED


@pytest.mark.parametrize("status", ["InProgress", "Stopping"])
def test_non_terminal_statuses_are_ignored(sfn, status: str) -> None:
    _, factory, regions = sfn
    outcome = complete_batch_transform(SETTINGS, state_change(status), sfn_factory=factory)
    assert outcome.action == "ignored"
    assert regions == []


def test_the_correlation_tag_wins_over_the_job_name(store, sfn) -> None:
    stubber, factory, _ = sfn
    stubber.add_response("send_task_success", {})
    # A job renamed by hand still calls back through its tag … if the record names that job
    with pytest.raises(TaskTokenError, match="belongs to job"):
        complete_batch_transform(
            SETTINGS,
            state_change("Completed", job="scoring-renamed", tags={CORRELATION_TAG: CID}),
            store=store,
            sfn_factory=factory,
        )
    outcome = complete_batch_transform(
        SETTINGS, state_change("Completed", tags={CORRELATION_TAG: CID}), store=store, sfn_factory=factory
    )
    assert outcome.correlation_id == CID


def test_a_job_of_another_stack_is_refused(store, sfn) -> None:
    _, factory, _ = sfn
    with pytest.raises(TaskTokenError, match="not one of this stack's jobs"):
        complete_batch_transform(
            SETTINGS, state_change("Completed", job=f"other-{CID}"), store=store, sfn_factory=factory
        )


def test_a_job_without_a_parked_token_is_reported(store, sfn) -> None:
    _, factory, _ = sfn
    with pytest.raises(TaskTokenError, match="no task token"):
        complete_batch_transform(
            SETTINGS, state_change("Completed", job=f"scoring-{'0' * 32}"), store=store, sfn_factory=factory
        )


@pytest.mark.parametrize(
    "event",
    [
        {"detail-type": "SageMaker Training Job State Change", "detail": {}},
        {
            "detail-type": "SageMaker Transform Job State Change",
            "detail": {"TransformJobStatus": "Completed"},
        },
        "not an event",
    ],
)
def test_other_events_are_rejected(event: Any) -> None:
    with pytest.raises(InvalidInputError):
        complete_batch_transform(SETTINGS, event, sfn_factory=lambda region: None)


def test_handler_reads_its_settings_and_delivers(store, monkeypatch, lambda_context) -> None:
    # moto's Step Functions (without its interpreter) accepts SendTaskSuccess for any token, so
    # this checks the wiring: settings from the environment, default clients, the record's update.
    monkeypatch.setenv("TASK_TOKEN_TABLE", TABLE)
    monkeypatch.setenv("TRANSFORM_JOB_PREFIX", "scoring")

    result = handler(state_change("Completed"), lambda_context)

    assert result == {"job_name": JOB, "job_status": "Completed", "correlation_id": CID, "action": "notified"}
    assert store.get(CID).status is TokenStatus.CALLED_BACK


def test_handler_refuses_a_missing_setting(monkeypatch, lambda_context) -> None:
    monkeypatch.delenv("TASK_TOKEN_TABLE", raising=False)
    with pytest.raises(InvalidInputError) as caught:
        handler(state_change("Completed"), lambda_context)
    assert caught.value.field == "TASK_TOKEN_TABLE"
