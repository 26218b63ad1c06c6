"""shared.task_token_store: parked tokens in DynamoDB (moto) and the regional callback (Stubber)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from shared.errors import (
    InvalidInputError,
    TaskCallbackUnavailableError,
    TaskTokenError,
    TaskTokenStoreUnavailableError,
)
from shared.task_token_store import (
    KEY_ATTRIBUTE,
    TTL_ATTRIBUTE,
    TaskTokenRecord,
    TaskTokenStore,
    TokenStatus,
    correlation_id_for,
    execution_region_of,
    notify_execution,
)

TABLE = "task-tokens"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAc3ZUl0Yj" + "x" * 300
EXECUTION = "arn:aws:states:us-west-2:123456789012:execution:InferenceStateMachine:run-42"
MACHINE = "arn:aws:states:us-west-2:123456789012:stateMachine:InferenceStateMachine"
NOW = 1_800_000_000


def record(token: str = TOKEN) -> TaskTokenRecord:
    return TaskTokenRecord.for_token(
        token,
        execution_arn=EXECUTION,
        state_machine_arn=MACHINE,
        job_name=f"scoring-{correlation_id_for(token)}",
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="ap-northeast-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def store(dynamodb: Any) -> TaskTokenStore:
    return TaskTokenStore(TABLE, dynamodb=dynamodb, clock=lambda: NOW, ttl_seconds=3600)


# --- records ---------------------------------------------------------------------------------------


def test_correlation_id_is_derived_one_way_and_stable() -> None:
    cid = correlation_id_for(TOKEN)
    assert cid == correlation_id_for(TOKEN)
    assert len(cid) == 32 and int(cid, 16) >= 0
    assert cid not in TOKEN and TOKEN[:16] not in cid
    assert cid != correlation_id_for(TOKEN + "y")


def test_record_carries_region_and_state_machine_and_hides_the_token() -> None:
    parked = record()
    assert parked.execution_region == "us-west-2"
    assert parked.state_machine_arn == MACHINE
    assert TOKEN not in repr(parked)
    assert "task_token" not in repr(parked)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:states:us-west-2:123456789012:stateMachine:InferenceStateMachine",
        "arn:aws:states:us-west-2:1234:execution:M:n",
        "not an arn",
        None,
    ],
)
def test_execution_region_needs_an_execution_arn(arn: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        execution_region_of(arn)
    assert caught.value.field == "execution_arn"


def test_record_refuses_inconsistent_fields() -> None:
    parked = record()
    with pytest.raises(InvalidInputError, match="correlation_id"):
        TaskTokenRecord(**{**parked.__dict__, "correlation_id": "0" * 32})
    with pytest.raises(InvalidInputError, match="execution_region"):
        TaskTokenRecord(**{**parked.__dict__, "execution_region": "eu-west-1"})
    with pytest.raises(InvalidInputError, match="state_machine_arn"):
        TaskTokenRecord(**{**parked.__dict__, "state_machine_arn": EXECUTION})
    with pytest.raises(InvalidInputError, match="task_token"):
        record("")


# --- the store (moto DynamoDB) --------------------------------------------------------------------


def test_create_writes_the_record_with_ttl_region_and_state_machine(
    store: TaskTokenStore, dynamodb: Any
) -> None:
    stored, created = store.create(record())

    assert created
    item = dynamodb.get_item(TableName=TABLE, Key={KEY_ATTRIBUTE: {"S": stored.correlation_id}})["Item"]
    assert item["execution_region"] == {"S": "us-west-2"}
    assert item["state_machine_arn"] == {"S": MACHINE}
    assert item["status"] == {"S": "STARTING"}
    assert item[TTL_ATTRIBUTE] == {"N": str(NOW + 3600)}
    assert item["created_at"] == {"N": str(NOW)}
    assert store.get(stored.correlation_id) == stored


def test_create_never_overwrites_an_existing_record(store: TaskTokenStore) -> None:
    first, _ = store.create(record())
    store.set_status(first.correlation_id, TokenStatus.STARTED, expected=[TokenStatus.STARTING])

    again, created = store.create(record())

    assert not created
    assert again.status is TokenStatus.STARTED


def test_get_of_an_unknown_id_is_a_task_token_error(store: TaskTokenStore) -> None:
    with pytest.raises(TaskTokenError, match="never parked, or expired"):
        store.get("0" * 32)
    with pytest.raises(InvalidInputError):
        store.get("../etc")


def test_status_changes_only_from_the_expected_status(store: TaskTokenStore) -> None:
    cid = store.create(record())[0].correlation_id

    assert store.set_status(cid, TokenStatus.STARTED, expected=[TokenStatus.STARTING])
    assert not store.set_status(cid, TokenStatus.STARTED, expected=[TokenStatus.STARTING])
    assert store.set_status(
        cid, TokenStatus.CALLED_BACK, expected=[TokenStatus.STARTING, TokenStatus.STARTED]
    )
    assert store.get(cid).status is TokenStatus.CALLED_BACK
    assert not store.set_status("f" * 32, TokenStatus.STARTED, expected=[TokenStatus.STARTING])


def test_a_malformed_item_is_reported_not_half_read(store: TaskTokenStore, dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={KEY_ATTRIBUTE: {"S": "a" * 32}, "status": {"S": "STARTED"}})
    with pytest.raises(TaskTokenError, match="malformed"):
        store.get("a" * 32)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ProvisionedThroughputExceededException", 400, TaskTokenStoreUnavailableError),
        ("InternalServerError", 500, TaskTokenStoreUnavailableError),
        ("AccessDeniedException", 400, TaskTokenError),
        ("ResourceNotFoundException", 400, TaskTokenError),
    ],
)
def test_dynamodb_failures_are_typed(code: str, status: int, expected: type[Exception]) -> None:
    client = boto3.client("dynamodb", region_name="ap-northeast-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("put_item", service_error_code=code, http_status_code=status)
        stubber.add_client_error("get_item", service_error_code=code, http_status_code=status)
        stubber.add_client_error("update_item", service_error_code=code, http_status_code=status)
        store = TaskTokenStore(TABLE, dynamodb=client)
        with pytest.raises(expected):
            store.create(record())
        with pytest.raises(expected):
            store.get(correlation_id_for(TOKEN))
        with pytest.raises(expected):
            store.set_status(correlation_id_for(TOKEN), TokenStatus.STARTED, expected=[TokenStatus.STARTING])


@pytest.mark.parametrize(("name", "ttl"), [("x", 3600), ("tokens", 10), ("tokens", "3600")])
def test_store_settings_are_validated(name: str, ttl: Any) -> None:
    with pytest.raises(InvalidInputError):
        TaskTokenStore(name, ttl_seconds=ttl)


# --- the callback (Stubber on Step Functions) -----------------------------------------------------


@pytest.fixture
def sfn() -> Iterator[tuple[Any, Stubber, list[str]]]:
    regions: list[str] = []
    client = boto3.client("stepfunctions", region_name="us-west-2")
    with Stubber(client) as stubber:
        yield client, stubber, regions
        stubber.assert_no_pending_responses()


def factory_for(client: Any, regions: list[str]) -> Any:
    def factory(region: str) -> Any:
        regions.append(region)
        return client

    return factory


def test_success_goes_to_the_execution_region_with_the_token(sfn: Any) -> None:
    client, stubber, regions = sfn
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": '{"job": "done"}'})

    assert notify_execution(record(), output={"job": "done"}, sfn_factory=factory_for(client, regions))
    assert regions == ["us-west-2"]  # not the function's own region (ap-northeast-1 in tests)


def test_failure_sends_the_error_name_and_a_bounded_cause(sfn: Any) -> None:
    client, stubber, regions = sfn
    cause = "x" * 40_000
    stubber.add_response(
        "send_task_failure",
        {},
        {"taskToken": TOKEN, "error": "BatchTransformFailedError", "cause": cause[:32768]},
    )

    assert notify_execution(
        record(), error="BatchTransformFailedError", cause=cause, sfn_factory=factory_for(client, regions)
    )


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_an_execution_that_no_longer_waits_is_not_an_error(sfn: Any, code: str) -> None:
    client, stubber, regions = sfn
    stubber.add_client_error("send_task_success", service_error_code=code, http_status_code=400)

    assert notify_execution(record(), output={}, sfn_factory=factory_for(client, regions)) is False


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, TaskCallbackUnavailableError),
        ("AccessDeniedException", 400, TaskTokenError),
    ],
)
def test_callback_failures_are_typed(sfn: Any, code: str, status: int, expected: type[Exception]) -> None:
    client, stubber, regions = sfn
    stubber.add_client_error("send_task_success", service_error_code=code, http_status_code=status)

    with pytest.raises(expected):
        notify_execution(record(), output={}, sfn_factory=factory_for(client, regions))


def test_exactly_one_outcome_is_required() -> None:
    with pytest.raises(InvalidInputError):
        notify_execution(record(), sfn_factory=lambda region: None)
    with pytest.raises(InvalidInputError):
        notify_execution(record(), output={}, error="E", sfn_factory=lambda region: None)
