"""BatchTransformStartFunction and shared.inference.start_batch_transform.

Handler tests run against moto (S3, DynamoDB, SageMaker); the exact CreateTransformJob request and
SageMaker's error answers are checked with botocore's Stubber.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from shared.errors import (
    BatchTransformStartError,
    InvalidInputError,
    S3AccessError,
    SageMakerUnavailableError,
)
from shared.functions.batch_transform_start.handler import handler
from shared.inference import (
    CORRELATION_TAG,
    BatchTransformRequest,
    BatchTransformSettings,
    default_sagemaker_client,
    start_batch_transform,
)
from shared.s3ap import default_s3_client
from shared.task_token_store import (
    KEY_ATTRIBUTE,
    TaskTokenStore,
    TokenStatus,
    correlation_id_for,
    default_dynamodb_client,
)

REGION = "ap-northeast-1"
BUCKET = "run-outputs"
TABLE = "task-tokens"
ALIAS = "vol1-ap-3hx7a2bq9z1k5example-ext-s3alias"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAc3ZUl0YjSecretToken" + "t" * 200
CID = correlation_id_for(TOKEN)
JOB = f"scoring-{CID}"
EVENT = {
    "task_token": TOKEN,
    "execution_arn": f"arn:aws:states:{REGION}:123456789012:execution:InferenceStateMachine:run-42",
    "state_machine_arn": f"arn:aws:states:{REGION}:123456789012:stateMachine:InferenceStateMachine",
    "run_id": "run-42",
    "manifest": {"bucket": BUCKET, "key": "runs/run-42/manifest.json"},
}
ENVIRONMENT = {
    "TASK_TOKEN_TABLE": TABLE,
    "TRANSFORM_JOB_PREFIX": "scoring",
    "TRANSFORM_MODEL_NAME": "scoring-model",
    "TRANSFORM_INSTANCE_TYPE": "ml.m5.large",
    "TRANSFORM_INSTANCE_COUNT": "2",
    "INPUT_ACCESS_POINT": ALIAS,
    "OUTPUT_BUCKET": BUCKET,
}
MANIFEST = [{"keys": ["a/1.bin", "a/2.bin"]}, {"keys": ["b/3.bin"]}]


def _clear_cached_clients() -> None:
    for cached in (default_s3_client, default_dynamodb_client, default_sagemaker_client):
        cached.cache_clear()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    _clear_cached_clients()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=BUCKET, Key="runs/run-42/manifest.json", Body=json.dumps(MANIFEST).encode())
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model(
            ModelName="scoring-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/scoring",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/scoring:1"},
        )
        yield {"s3": s3, "dynamodb": dynamodb, "sagemaker": sagemaker}
    _clear_cached_clients()


# --- the handler, against moto ---------------------------------------------------------------------


def test_handler_parks_the_token_and_starts_the_job(aws, monkeypatch, lambda_context, caplog) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)

    result = handler(dict(EVENT), lambda_context)

    # The job exists, named after the correlation id, reading a SageMaker manifest of the run's keys
    assert result["job_name"] == JOB
    assert result["keys"] == 3
    job = aws["sagemaker"].describe_transform_job(TransformJobName=JOB)
    assert job["TransformInput"]["DataSource"]["S3DataSource"] == {
        "S3DataType": "ManifestFile",
        "S3Uri": f"s3://{BUCKET}/runs/run-42/batch-transform/input.manifest",
    }
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/runs/run-42/batch-transform/output/"
    assert job["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 2}
    manifest = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key="runs/run-42/batch-transform/input.manifest")["Body"].read()
    )
    assert manifest == [{"prefix": f"s3://{ALIAS}/"}, "a/1.bin", "a/2.bin", "b/3.bin"]
    # The token is parked with where to call back, and the record says the job started
    item = aws["dynamodb"].get_item(TableName=TABLE, Key={KEY_ATTRIBUTE: {"S": CID}})["Item"]
    assert item["task_token"] == {"S": TOKEN}
    assert item["execution_region"] == {"S": REGION}
    assert item["state_machine_arn"] == {"S": EVENT["state_machine_arn"]}
    assert item["status"] == {"S": "STARTED"}
    # And the token appears in no log line and not in the result
    logged = [str(vars(entry)) for entry in caplog.records]
    assert any("transform job started" in entry for entry in logged)
    assert not [entry for entry in logged if TOKEN in entry]
    assert TOKEN not in json.dumps(result)


def test_handler_redelivery_of_the_same_token_starts_nothing_new(aws, monkeypatch, lambda_context) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    handler(dict(EVENT), lambda_context)

    again = handler(dict(EVENT), lambda_context)

    assert again["already_started"] is True
    assert [
        j["TransformJobName"] for j in aws["sagemaker"].list_transform_jobs()["TransformJobSummaries"]
    ] == [JOB]


def test_handler_rejects_an_event_without_the_token(aws, monkeypatch, lambda_context) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInputError) as caught:
        handler({k: v for k, v in EVENT.items() if k != "task_token"}, lambda_context)
    assert caught.value.field == "task_token"


# --- the domain function, exact requests and SageMaker's answers (Stubber) -------------------------


def _settings(**overrides: Any) -> BatchTransformSettings:
    return BatchTransformSettings.from_env({**ENVIRONMENT, **overrides})


@pytest.fixture
def stubbed(aws) -> Iterator[tuple[Any, Stubber, TaskTokenStore]]:
    client = boto3.client("sagemaker", region_name=REGION)
    store = TaskTokenStore(TABLE, dynamodb=aws["dynamodb"])
    with Stubber(client) as stubber:
        yield client, stubber, store


def _expected_job(kms: str | None = None) -> dict[str, Any]:
    output: dict[str, Any] = {
        "S3OutputPath": f"s3://{BUCKET}/runs/run-42/batch-transform/output/",
        "AssembleWith": "None",
    }
    resources: dict[str, Any] = {"InstanceType": "ml.m5.large", "InstanceCount": 2}
    if kms:
        output["KmsKeyId"] = kms
        resources["VolumeKmsKeyId"] = kms
    return {
        "TransformJobName": JOB,
        "ModelName": "scoring-model",
        "MaxConcurrentTransforms": 1,
        "MaxPayloadInMB": 6,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "ManifestFile",
                    "S3Uri": f"s3://{BUCKET}/runs/run-42/batch-transform/input.manifest",
                }
            },
            "ContentType": "application/octet-stream",
            "CompressionType": "None",
            "SplitType": "None",
        },
        "TransformOutput": output,
        "TransformResources": resources,
        "Tags": [{"Key": CORRELATION_TAG, "Value": CID}, {"Key": "fsxn-s3ap:run-id", "Value": "run-42"}],
    }


def test_the_job_is_tagged_with_the_correlation_id_never_the_token(stubbed) -> None:
    client, stubber, store = stubbed
    kms = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    stubber.add_response(
        "create_transform_job",
        {"TransformJobArn": f"arn:aws:sagemaker:{REGION}:1:transform-job/{JOB}"},
        _expected_job(kms),
    )

    started = start_batch_transform(
        _settings(KMS_KEY_ARN=kms), BatchTransformRequest.from_event(EVENT), store=store, sagemaker=client
    )

    stubber.assert_no_pending_responses()
    assert started.correlation_id == CID
    assert TOKEN not in json.dumps(_expected_job(kms))
    assert store.get(CID).status is TokenStatus.STARTED


def test_an_existing_job_of_the_same_name_counts_as_started(stubbed) -> None:
    client, stubber, store = stubbed
    stubber.add_client_error("create_transform_job", service_error_code="ResourceInUse", http_status_code=400)

    start_batch_transform(_settings(), BatchTransformRequest.from_event(EVENT), store=store, sagemaker=client)

    assert store.get(CID).status is TokenStatus.STARTED


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, SageMakerUnavailableError),
        ("ResourceLimitExceeded", 400, SageMakerUnavailableError),
        ("InternalFailure", 500, SageMakerUnavailableError),
        ("ValidationException", 400, BatchTransformStartError),
        ("ResourceNotFound", 400, BatchTransformStartError),
    ],
)
def test_sagemaker_refusals_are_typed_and_a_retry_finishes_the_work(
    stubbed, code: str, status: int, expected: type[Exception]
) -> None:
    client, stubber, store = stubbed
    stubber.add_client_error("create_transform_job", service_error_code=code, http_status_code=status)
    stubber.add_response("create_transform_job", {"TransformJobArn": "arn:x"})
    request = BatchTransformRequest.from_event(EVENT)

    with pytest.raises(expected):
        start_batch_transform(_settings(), request, store=store, sagemaker=client)
    assert store.get(CID).status is TokenStatus.STARTING

    # The same token delivered again (ASL Retry) reuses the record and the manifest, and starts the job
    started = start_batch_transform(_settings(), request, store=store, sagemaker=client)
    assert started.already_started is False
    assert store.get(CID).status is TokenStatus.STARTED
    stubber.assert_no_pending_responses()


def test_an_empty_run_manifest_is_refused(stubbed, aws) -> None:
    client, _, store = stubbed
    aws["s3"].put_object(Bucket=BUCKET, Key="runs/run-42/manifest.json", Body=b"[]")
    with pytest.raises(InvalidInputError, match="no keys"):
        start_batch_transform(
            _settings(), BatchTransformRequest.from_event(EVENT), store=store, sagemaker=client
        )


def test_a_manifest_that_is_not_batches_is_refused(stubbed, aws) -> None:
    client, _, store = stubbed
    aws["s3"].put_object(Bucket=BUCKET, Key="runs/run-42/manifest.json", Body=b'["a", "b"]')
    with pytest.raises(InvalidInputError, match="keys"):
        start_batch_transform(
            _settings(), BatchTransformRequest.from_event(EVENT), store=store, sagemaker=client
        )


def test_a_missing_run_manifest_is_an_s3_access_error(stubbed, aws) -> None:
    client, _, store = stubbed
    aws["s3"].delete_object(Bucket=BUCKET, Key="runs/run-42/manifest.json")
    with pytest.raises(S3AccessError, match="NoSuchKey"):
        start_batch_transform(
            _settings(), BatchTransformRequest.from_event(EVENT), store=store, sagemaker=client
        )


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**EVENT, "execution_arn": ""}, "execution_arn"),
        ({**EVENT, "manifest": "runs/run-42/manifest.json"}, "manifest"),
        ({**EVENT, "manifest": {"bucket": BUCKET}}, "manifest"),
        ({**EVENT, "run_id": 42}, "run_id"),
    ],
)
def test_bad_events_name_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        BatchTransformRequest.from_event(event)
    assert caught.value.field == field


def test_request_repr_hides_the_token() -> None:
    assert TOKEN not in repr(BatchTransformRequest.from_event(EVENT))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"TRANSFORM_JOB_PREFIX": "a" * 25}, "TRANSFORM_JOB_PREFIX"),
        ({"TRANSFORM_INSTANCE_TYPE": "m5.large"}, "TRANSFORM_INSTANCE_TYPE"),
        ({"TRANSFORM_SPLIT_TYPE": "Lines"}, "TRANSFORM_SPLIT_TYPE"),
        ({"TRANSFORM_MAX_PAYLOAD_MB": "101"}, "TRANSFORM_MAX_PAYLOAD_MB"),
        ({"TRANSFORM_INSTANCE_COUNT": "many"}, "TRANSFORM_INSTANCE_COUNT"),
        ({"TASK_TOKEN_TABLE": ""}, "TASK_TOKEN_TABLE"),
        ({"INPUT_ACCESS_POINT": "my-bucket"}, "access_point"),
    ],
)
def test_settings_are_validated_at_start(overrides: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _settings(**overrides)
    assert caught.value.field == field
