"""Inference paths executed in the sandbox: the serverless cold start that falls back to Batch Transform.

Two stacks are deployed into one moto world, as a use case's parent stack would nest them:

* ``shared/cfn/batch-transform.yaml`` itself (token table, start and callback functions: the real
  handlers, run in process), through a folder whose template.yaml links to it;
* the fixture app (tests/workflows/fixtures/inference_fallback): the routing Choice of
  shared/asl/inference-routing.asl.json embedded unchanged, an invoke function built on
  shared.inference, and the ``.waitForTaskToken`` task whose FunctionName is the start function.

What moto lacks is played here, at the AWS boundary, never inside a handler:

* moto's ``InvokeEndpoint`` cannot fail: it answers a static body, or the next result queued with
  ``POST /moto-api/static/sagemaker/endpoint-results`` (success results only). A cold serverless
  endpoint is therefore made by :func:`cold_endpoints`, which wraps moto's sagemaker-runtime
  response layer so that calls to the named endpoints answer HTTP 429 ``ModelNotReadyException``
  — the handler's botocore parses a real error response. (The wrap reads the endpoint from the URL
  path: moto 5.2.5's backend receives ``EndpointName=None`` for every call.)
* moto's SageMaker creates transform jobs already ``Completed`` and emits no EventBridge event,
  and its EventBridge does not invoke Lambda targets. The test plays EventBridge: it builds the
  "SageMaker Transform Job State Change" event from moto's DescribeTransformJob, checks that the
  nested stack's rule pattern matches it (moto's pattern matcher), and invokes the callback
  function through moto's Lambda API, which runs the real handler.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from moto.core.exceptions import JsonRESTError
from moto.events.models import EventPattern
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from sandbox.aws import UseCaseStack
from sandbox.runner import ExecutionResult
from scripts.cfn_templates import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
NESTED_TEMPLATE = REPO_ROOT / "shared" / "cfn" / "batch-transform.yaml"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "inference_fallback"
REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
BUCKET = "inference-runs"
ALIAS = "vol1-ap-3hx7a2bq9z1k5example-ext-s3alias"
MANIFEST = [{"keys": ["wafer/001.gds", "wafer/002.gds"]}, {"keys": ["wafer/003.gds"]}]


class _ModelNotReady(JsonRESTError):
    code = 429

    def __init__(self, endpoint: str) -> None:
        super().__init__("ModelNotReadyException", f"Model for endpoint {endpoint} is not ready yet")


@contextlib.contextmanager
def cold_endpoints(*names: str) -> Iterator[list[str]]:
    """Endpoints in ``names`` answer ModelNotReadyException (HTTP 429); yields the calls they got."""
    calls: list[str] = []
    original = SageMakerRuntimeResponse.invoke_endpoint

    def invoke_endpoint(self: SageMakerRuntimeResponse) -> Any:
        endpoint = unquote(self.path.split("/")[2])
        if endpoint in names:
            calls.append(endpoint)
            raise _ModelNotReady(endpoint)
        return original(self)

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        SageMakerRuntimeResponse.invoke_endpoint = original  # type: ignore[method-assign]


@pytest.fixture
def stacks(workflow, tmp_path) -> tuple[UseCaseStack, Any]:
    """The batch-transform nested stack, the SageMaker side moto hosts, and a deploy function."""
    world = workflow.world
    s3 = world.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    sagemaker = world.client("sagemaker")
    sagemaker.create_model(
        ModelName="scoring-model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/scoring",
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/scoring:1"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="scoring-serverless",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "scoring-model",
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="scoring-serverless", EndpointConfigName="scoring-serverless")

    nested = tmp_path / "batch-transform"
    nested.mkdir()
    (nested / "template.yaml").symlink_to(NESTED_TEMPLATE)
    batch = workflow.deploy(
        nested,
        stack_name="inference-batch",
        parameters={
            "SharedLayerArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:shared:1",
            "JobNamePrefix": "scoring",
            "ModelName": "scoring-model",
            "InputAccessPointAlias": ALIAS,
            "OutputBucketName": BUCKET,
            "LogsKmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b",
        },
    )

    def deploy_app(**parameters: str) -> UseCaseStack:
        return workflow.deploy(
            FIXTURE,
            parameters={
                "BatchTransformStartFunctionArn": batch.function_arns["BatchTransformStartFunction"],
                "ServerlessRetryDelaySeconds": "1",
                **parameters,
            },
        )

    return batch, deploy_app


def _run_input(run_id: str, count: int) -> dict[str, Any]:
    return {
        "discovery": {"manifest": {"bucket": BUCKET, "key": f"runs/{run_id}/manifest.json"}, "count": count},
        "document": {"wafer": "W-17", "layer": "M1"},
    }


def _seed_manifest(world: Any, run_id: str) -> None:
    world.client("s3").put_object(
        Bucket=BUCKET, Key=f"runs/{run_id}/manifest.json", Body=json.dumps(MANIFEST).encode("utf-8")
    )


def _wait_for_started_job(world: Any, batch: UseCaseStack, finished: threading.Event) -> dict[str, Any]:
    """The token record once the start function has started the job (as SageMaker would see it)."""
    dynamodb = world.client("dynamodb")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not finished.is_set():
        items = dynamodb.scan(TableName=batch.ref("TaskTokenTable"))["Items"]
        started = [item for item in items if item["status"]["S"] == "STARTED"]
        if started:
            return started[0]
        time.sleep(0.05)
    raise AssertionError("the Batch Transform task never parked a token and started a job")


def _job_state_change(world: Any, job_name: str) -> dict[str, Any]:
    """What EventBridge delivers when the job ends: the job's description as the detail."""
    job = world.client("sagemaker").describe_transform_job(TransformJobName=job_name)
    detail = json.loads(json.dumps({k: v for k, v in job.items() if k != "ResponseMetadata"}, default=str))
    return {
        "version": "0",
        "id": "3e0b1a4c-0f9d-4c56-a2b1-7c8d9e0f1a2b",
        "detail-type": "SageMaker Transform Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-11-22T12:00:00Z",
        "region": REGION,
        "resources": [job["TransformJobArn"]],
        "detail": detail,
    }


def _rule_matches(event: dict[str, Any], prefix: str) -> bool:
    function = load_template(NESTED_TEMPLATE)["Resources"]["SageMakerCallbackFunction"]
    (rule,) = function["Properties"]["Events"].values()
    pattern = json.loads(
        json.dumps(rule["Properties"]["Pattern"]).replace(
            '{"Fn::Sub": "${JobNamePrefix}-"}', json.dumps(f"{prefix}-")
        )
    )
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))


def _run_with_callback(
    workflow, app: UseCaseStack, batch: UseCaseStack, run_id: str, execution_input: Any
) -> ExecutionResult:
    """Run the app; when the transform job has started, deliver its end through the callback function."""
    results: list[ExecutionResult] = []
    errors: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            results.append(app.run(execution_input, name=run_id, timeout_s=90))
        except BaseException as error:  # surfaced in the test thread
            errors.append(error)
        finally:
            finished.set()

    runner = threading.Thread(target=run, name=f"execution-{run_id}")
    runner.start()
    try:
        record = _wait_for_started_job(workflow.world, batch, finished)
        event = _job_state_change(workflow.world, record["job_name"]["S"])
        assert event["detail"]["TransformJobStatus"] == "Completed"
        assert _rule_matches(event, "scoring")
        response = workflow.world.client("lambda").invoke(
            FunctionName=batch.function_arns["SageMakerCallbackFunction"], Payload=json.dumps(event)
        )
        callback = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, callback
        assert callback["action"] == "notified"
    finally:
        runner.join(timeout=120)
    if errors:
        raise errors[0]
    return results[0]


def test_serverless_cold_start_falls_back_to_batch_transform_and_succeeds(workflow, stacks) -> None:
    # Given a serverless endpoint that stays cold, and a run routed to Serverless Inference
    batch, deploy_app = stacks
    app = deploy_app(InferenceType="serverless")
    _seed_manifest(workflow.world, "cold-run")

    # When the workflow runs
    with cold_endpoints("scoring-serverless") as cold_calls:
        result = _run_with_callback(workflow, app, batch, "cold-run", _run_input("cold-run", count=3))

    # Then the invoke function tried 1 + 2 times (3 s delay shortened to 1 s by the fixture) and
    # raised the typed cold-start timeout, which the Catch turned into the Batch Transform fallback
    assert result.status == "SUCCEEDED", result.cause
    assert cold_calls == ["scoring-serverless"] * 3
    assert result.states_entered() == [
        "Prepare Routing",
        "Route Inference",
        "Serverless Inference",
        "Batch Transform",
        "Inference Done",
    ]
    assert [(f["state"], f["error"]) for f in result.task_failures()] == [
        ("Serverless Inference", "ServerlessColdStartTimeoutError")
    ]
    fallback = result.state_input("Batch Transform")["fallback"]
    assert fallback["Error"] == "ServerlessColdStartTimeoutError"
    assert json.loads(fallback["Cause"])["errorMessage"].startswith(
        "serverless_inference scoring-serverless still cold"
    )
    invokes = [i for i in workflow.world.invocations if "InvokeFunction" in i.function_name]
    assert [i.error_type for i in invokes] == ["ServerlessColdStartTimeoutError"]  # no ASL Retry of it

    # And the execution resumed with the callback's output: the job and where its results are
    job = result.output["inference"]
    assert job["path"] == "batch_transform"
    assert job["job_status"] == "Completed"
    assert job["job_name"] == f"scoring-{job['correlation_id']}"
    assert job["output_uri"] == f"s3://{BUCKET}/runs/cold-run/batch-transform/output/"

    # And the job read a SageMaker manifest of the run's keys through the access point
    manifest = json.loads(
        workflow.world.client("s3")
        .get_object(Bucket=BUCKET, Key="runs/cold-run/batch-transform/input.manifest")["Body"]
        .read()
    )
    assert manifest == [{"prefix": f"s3://{ALIAS}/"}, "wafer/001.gds", "wafer/002.gds", "wafer/003.gds"]

    # And the token was used once, and neither the job nor the execution's output carries it
    record = workflow.world.client("dynamodb").scan(TableName=batch.ref("TaskTokenTable"))["Items"][0]
    assert record["status"]["S"] == "CALLED_BACK"
    assert record["execution_region"]["S"] == REGION
    assert record["state_machine_arn"]["S"] == app.state_machine_arn()
    token = record["task_token"]["S"]
    described = workflow.world.client("sagemaker").describe_transform_job(TransformJobName=job["job_name"])
    assert token not in json.dumps(described, default=str)
    assert token not in json.dumps(result.output)


def test_provisioned_run_below_the_threshold_is_answered_by_the_realtime_endpoint(workflow, stacks) -> None:
    # Given moto's queue of endpoint results holding the model's answer
    _, deploy_app = stacks
    app = deploy_app(InferenceType="provisioned", BatchThreshold="100")
    answer = json.dumps({"defects": 0})
    queued = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": ACCOUNT,
            "region": REGION,
            "results": [
                {"Body": answer, "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic"}
            ],
        },
        timeout=10,
    )
    assert queued.status_code == 201

    # When a run of 3 files is routed (3 < 100)
    result = app.run(_run_input("small-run", count=3), name="small-run", timeout_s=60)

    # Then the realtime path answered, with the response summary (not the body) in state
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == [
        "Prepare Routing",
        "Route Inference",
        "Realtime Endpoint",
        "Inference Done",
    ]
    response = result.output["inference"]["response"]
    assert response["path"] == "realtime_endpoint"
    assert response["endpoint_name"] == "scoring-realtime"
    assert response["body_bytes"] == len(answer)
    assert response["invoked_variant"] == "AllTraffic"
    assert response["cold_start"] is False


def test_invalid_routing_input_fails_with_the_python_error_name(workflow, stacks) -> None:
    _, deploy_app = stacks
    app = deploy_app(InferenceType="provisioned")

    result = app.run(_run_input("negative", count=-1), name="negative", timeout_s=60)

    assert (result.status, result.error) == ("FAILED", "InvalidInputError")
    assert result.states_entered() == ["Prepare Routing", "Route Inference", "Inference Routing Rejected"]
