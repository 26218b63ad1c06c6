"""autonomous-driving in the sandbox: a drive log behind an S3 Access Point, and a model on each path.

The drive log: camera frames (PNG/JPEG, plus truncated and corrupt copies), H.264 clips (MP4/MOV,
plus truncated copies), LiDAR sweeps in every format (PCD ascii/binary/binary_compressed, LAS
1.2/1.4, PLY, KITTI, plus damaged ones) and a few files the use case skips — all from
:mod:`sandbox.datasets`, with their ground truth.

Scenarios (``python -m sandbox run autonomous-driving --scenario NAME``):

=====================  ========================================================================
``serverless``         (default) ``serverless``, warm endpoint: the whole pipeline
``baseline``           ``EnableInference=false``: QC and report only, inference skipped
``batch``              ``InferenceType=none`` → Batch Transform
``realtime``           ``provisioned`` below ``BatchThreshold`` → the real-time endpoint
``provisioned_batch``  ``provisioned`` with frames >= ``BatchThreshold`` → Batch Transform
``serverless_cold``    ``serverless``, endpoint stays cold → timeout → Batch Transform fallback
``components``         ``components`` scaled to zero: "no capacity" first, success after backoff
=====================  ========================================================================

What moto lacks is played here, at the AWS boundary, never inside a handler (the approach of
tests/workflows/test_inference_fallback.py):

* **the model** — moto's InvokeEndpoint answers results queued through
  ``POST /moto-api/static/sagemaker/endpoint-results``; each frame that passes QC gets its ground
  truth boxes as the model's answer, queued in the order the frames are sent (key order);
* **a cold or scaled-to-zero endpoint** — :class:`ModelEndpoints` wraps moto's sagemaker-runtime
  response (which also needs a nudge to accept binary frames) so a named endpoint answers
  ``ModelNotReadyException`` (HTTP 429) or the inference component "no capacity"
  ``ValidationError`` (HTTP 400), always or for its first calls;
* **Batch Transform** — moto creates transform jobs already Completed, runs no container and
  emits no EventBridge event. :class:`TransformEmulator` watches the task-token table; when a job
  is started it writes ``<output>/<key>.out`` for each key of the job's manifest (the model's
  answer) and delivers the "SageMaker Transform Job State Change" event to the callback function
  through moto's Lambda API (the real handler runs);
* **nested stacks** — the sandbox deploys one template per stack, so shared/cfn/batch-transform.yaml
  is deployed as its own stack (a folder whose template.yaml links to it) with the app's output
  bucket, and the app is given its start function through ``ExistingBatchTransformStartFunctionArn``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

import boto3
import requests
from moto.core.exceptions import JsonRESTError
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from sandbox.aws import REPO_ROOT, SandboxWorld, UseCaseStack
from sandbox.datasets import (
    SyntheticFile,
    image_dataset,
    pointcloud_dataset,
    upload_files,
    video_dataset,
)
from sandbox.runner import ExecutionResult
from sandbox.scenarios import SANDBOX_ACCOUNT, RunOptions, RunPlan, access_point_parameters
from sandbox.template import physical_suffix

USE_CASE: Final = "autonomous-driving"
BATCH_STACK: Final = "autonomous-driving-batch-transform"
DRIVE_PREFIX: Final = "drives/2025-04-01/run_0007"
ENDPOINT_PREFIX: Final = "drive-log"
MODEL_NAME: Final = "drive-detector"
JOB_PREFIX: Final = "drive-log"
LOGS_KEY_ID: Final = "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b"
NESTED_TEMPLATE: Final = REPO_ROOT / "shared" / "cfn" / "batch-transform.yaml"
NO_CAPACITY: Final = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
    "in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)
FRAMES_LIST: Final = "metadata/frames.json"
"""A frames list in the shape of a run's frames.json (the first two good frames), for invoking
RunInferenceFunction alone (events/autonomous-driving/run_inference.json, sam local invoke)."""
SKIPPED_FILES: Final = {
    "calibration/calib_cam_to_cam.txt": b"S_00: 1.392000e+03 5.120000e+02\n",
    "metadata/drive.json": b'{"vehicle": "sbx-07", "route": "loop"}\n',
    "rosbag/run_0007.bag": b"#ROSBAG V2.0\n" + bytes(64),
}

_INFERENCE: Final[dict[str, dict[str, str]]] = {
    "serverless": {"InferenceType": "serverless"},
    "baseline": {},
    "batch": {"InferenceType": "none"},
    "realtime": {"InferenceType": "provisioned", "BatchThreshold": "1000"},
    "provisioned_batch": {"InferenceType": "provisioned", "BatchThreshold": "1"},
    "serverless_cold": {"InferenceType": "serverless"},
    "components": {"InferenceType": "components"},
}


# --- the drive log ----------------------------------------------------------------------------


def drive_log(seed: int, files: int) -> list[SyntheticFile]:
    """Camera frames (about a quarter of ``files``), five clips, one sweep in every LiDAR format."""
    frames = image_dataset(seed, count=max(2, files // 4), width=160, height=120, prefix="camera")
    clips = video_dataset(seed, width=160, height=96, seconds=1.0, prefix="video")
    clouds = pointcloud_dataset(seed, points=2000, prefix="lidar")
    return frames + clips + clouds


def model_answer(item: SyntheticFile) -> bytes:
    """What the model says about a frame: its ground-truth objects, with a confident score."""
    detections = [
        {"label": obj["label"], "box": obj["box"], "score": 0.9} for obj in item.expected["objects"]
    ]
    return json.dumps({"detections": detections}).encode()


@dataclass(frozen=True)
class DriveLog:
    """The uploaded drive log: keys on the volume and what the model answers for each good frame."""

    bucket: str
    files: list[SyntheticFile]
    keys: list[str]
    answers: dict[str, bytes] = field(default_factory=dict)

    @property
    def passing_frames(self) -> list[str]:
        """Camera frames that pass QC, in the order the inference step sends them."""
        return sorted(self.answers)


def upload_drive_log(s3: Any, bucket: str, seed: int, files: int) -> DriveLog:
    """Upload the drive log under :data:`DRIVE_PREFIX`, with the files the use case skips."""
    dataset = drive_log(seed, files)
    keys = upload_files(s3, bucket, dataset, prefix=DRIVE_PREFIX)
    answers = {
        key: model_answer(item)
        for key, item in zip(keys, dataset, strict=True)
        if item.kind in ("png", "jpeg") and not item.corrupt
    }
    others = {**SKIPPED_FILES, FRAMES_LIST: json.dumps([{"keys": sorted(answers)[:2]}]).encode()}
    for name, body in others.items():
        s3.put_object(Bucket=bucket, Key=f"{DRIVE_PREFIX}/{name}", Body=body)
    return DriveLog(bucket, dataset, keys + [f"{DRIVE_PREFIX}/{name}" for name in others], answers)


# --- the SageMaker side -----------------------------------------------------------------------


def queue_model_answers(world: SandboxWorld, answers: list[bytes]) -> None:
    """Queue InvokeEndpoint results in moto, in the order the frames will be sent."""
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": SANDBOX_ACCOUNT,
            "region": world.region,
            "results": [
                {
                    "Body": body.decode(),
                    "ContentType": "application/json",
                    "InvokedProductionVariant": "AllTraffic",
                }
                for body in answers
            ],
        },
        timeout=10,
    )
    response.raise_for_status()


class _ModelNotReady(JsonRESTError):
    code = 429

    def __init__(self, endpoint: str) -> None:
        super().__init__("ModelNotReadyException", f"Model for endpoint {endpoint} is not ready yet")


class _NoCapacity(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__("ValidationError", NO_CAPACITY)


class ModelEndpoints:
    """moto's sagemaker-runtime made to take camera frames, and endpoints made to fail like cold ones.

    * moto 5.2.5 decodes every request body as UTF-8 (``BaseResponse.setup_class``) and keys its
      queued results by a JSON document holding the body, so a binary frame fails inside moto.
      While this adapter is open, the response class keeps raw bodies (moto's own
      ``use_raw_body`` switch) and the body is keyed by its base64 text: the handler's request is
      byte for byte what it sends to SageMaker.
    * ``cold`` endpoints always answer ``ModelNotReadyException`` (HTTP 429); ``scaled_to_zero``
      endpoints answer the inference component "no capacity" ``ValidationError`` for their first
      N calls. ``calls`` records (endpoint, answer) so a test can count the retries.
    """

    def __init__(
        self, *, cold: tuple[str, ...] = (), scaled_to_zero: Mapping[str, int] | None = None
    ) -> None:
        self.cold = cold
        self.scaled_to_zero = dict(scaled_to_zero or {})
        self.calls: list[tuple[str, str]] = []
        self._original = SageMakerRuntimeResponse.invoke_endpoint
        self._raw_body = SageMakerRuntimeResponse.use_raw_body

    def __enter__(self) -> ModelEndpoints:
        original = self._original
        endpoints = self

        def invoke_endpoint(response: SageMakerRuntimeResponse) -> Any:
            # moto 5.2.5's backend sees EndpointName=None: read it from the URL path.
            endpoint = unquote(response.path.split("/")[2])
            if endpoint in endpoints.cold:
                endpoints.calls.append((endpoint, "ModelNotReadyException"))
                raise _ModelNotReady(endpoint)
            if endpoints.scaled_to_zero.get(endpoint, 0) > 0:
                endpoints.scaled_to_zero[endpoint] -= 1
                endpoints.calls.append((endpoint, "ValidationError"))
                raise _NoCapacity()
            endpoints.calls.append((endpoint, "ok"))
            if isinstance(response.body, bytes):
                response.body = base64.b64encode(response.body).decode("ascii")
            return original(response)

        SageMakerRuntimeResponse.use_raw_body = True
        SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc_info: object) -> None:
        SageMakerRuntimeResponse.invoke_endpoint = self._original  # type: ignore[method-assign]
        SageMakerRuntimeResponse.use_raw_body = self._raw_body


class TransformEmulator:
    """Plays SageMaker and EventBridge for Batch Transform jobs started in the world (a thread)."""

    def __init__(self, world: SandboxWorld, batch: UseCaseStack, answers: Mapping[str, bytes]) -> None:
        self.region = world.region
        self.table = batch.ref("TaskTokenTable")
        self.callback = batch.function_arns["SageMakerCallbackFunction"]
        self.answers = dict(answers)
        self.jobs: list[str] = []
        self.outputs: list[str] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sandbox-transform-emulator", daemon=True)

    def __enter__(self) -> TransformEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    def _watch(self) -> None:
        dynamodb = self._client("dynamodb")
        while not self._stop.wait(0.05):
            try:
                items = dynamodb.scan(TableName=self.table)["Items"]
                for item in items:
                    job = item.get("job_name", {}).get("S")
                    if item["status"]["S"] == "STARTED" and job and job not in self.jobs:
                        self.jobs.append(job)
                        self._complete(job)
            except Exception as error:  # surfaced by the caller, never swallowed silently
                self.errors.append(error)
                return

    def _complete(self, job_name: str) -> None:
        sagemaker, s3 = self._client("sagemaker"), self._client("s3")
        job = sagemaker.describe_transform_job(TransformJobName=job_name)
        manifest_uri = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, key = manifest_uri.removeprefix("s3://").partition("/")
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        out_bucket, _, out_prefix = (
            job["TransformOutput"]["S3OutputPath"].removeprefix("s3://").partition("/")
        )
        for relative in manifest[1:]:
            answer = self.answers.get(relative, b'{"detections": []}')
            s3.put_object(Bucket=out_bucket, Key=f"{out_prefix}{relative}.out", Body=answer)
            self.outputs.append(f"{out_prefix}{relative}.out")
        detail = json.loads(
            json.dumps({k: v for k, v in job.items() if k != "ResponseMetadata"}, default=str)
        )
        event = {
            "version": "0",
            "id": "5c2a7e0f-3d1b-4e8a-9f60-sandbox0job0",
            "detail-type": "SageMaker Transform Job State Change",
            "source": "aws.sagemaker",
            "account": SANDBOX_ACCOUNT,
            "time": "2025-04-01T12:00:00Z",
            "region": self.region,
            "resources": [job["TransformJobArn"]],
            "detail": detail,
        }
        response = self._client("lambda").invoke(FunctionName=self.callback, Payload=json.dumps(event))
        if "FunctionError" in response:
            raise RuntimeError(f"callback failed: {response['Payload'].read().decode()}")


def predicted_bucket_name(stack_name: str, logical_id: str) -> str:
    """The name the sandbox gives a bucket without BucketName (its stand-in for CloudFormation's)."""
    suffix = physical_suffix(stack_name, logical_id)
    return (f"{stack_name}-{logical_id}"[: 63 - len(suffix) - 1] + f"-{suffix}").lower()


def deploy_batch_transform(
    world: SandboxWorld, resources: ExitStack, output_bucket: str, alias: str
) -> UseCaseStack:
    """shared/cfn/batch-transform.yaml as its own stack, writing to the app's output bucket."""
    folder = Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="batch-transform-")))
    (folder / "template.yaml").symlink_to(NESTED_TEMPLATE)
    return world.deploy(
        folder,
        stack_name=BATCH_STACK,
        parameters={
            "SharedLayerArn": f"arn:aws:lambda:{world.region}:{SANDBOX_ACCOUNT}:layer:shared:1",
            "JobNamePrefix": JOB_PREFIX,
            "ModelName": MODEL_NAME,
            "InputAccessPointAlias": alias,
            "OutputBucketName": output_bucket,
            "ContentType": "application/x-image",
            "LogsKmsKeyArn": f"arn:aws:kms:{world.region}:{SANDBOX_ACCOUNT}:key/{LOGS_KEY_ID}",
        },
    )


def create_endpoints(world: SandboxWorld) -> None:
    """The SageMaker resources the nested endpoint stacks would create (moto hosts their API)."""
    sagemaker = world.client("sagemaker")
    role = f"arn:aws:iam::{SANDBOX_ACCOUNT}:role/drive-detector"
    image = f"{SANDBOX_ACCOUNT}.dkr.ecr.{world.region}.amazonaws.com/drive-detector:1"
    sagemaker.create_model(ModelName=MODEL_NAME, ExecutionRoleArn=role, PrimaryContainer={"Image": image})
    for suffix in ("realtime", "serverless", "components"):
        name = f"{ENDPOINT_PREFIX}-{suffix}"
        variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": MODEL_NAME}
        if suffix == "serverless":
            variant["ServerlessConfig"] = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
        else:
            variant |= {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


# --- the scenario -----------------------------------------------------------------------------


@dataclass
class PreparedRun:
    """What a workflow test needs besides the plan: the drive log, the faults, the emulator."""

    plan: RunPlan
    drive: DriveLog
    endpoints: ModelEndpoints | None = None
    emulator: TransformEmulator | None = None
    batch: UseCaseStack | None = None
    output_bucket: str = ""


class AutonomousDrivingScenario:
    use_case = USE_CASE
    names = tuple(_INFERENCE)

    def prepare(self, world: SandboxWorld, resources: ExitStack, options: RunOptions) -> RunPlan:
        return self.prepare_run(world, resources, options).plan

    def prepare_run(
        self, world: SandboxWorld, resources: ExitStack, options: RunOptions, *, stack_name: str = USE_CASE
    ) -> PreparedRun:
        name = options.scenario or self.names[0]
        parameters: dict[str, Any] = access_point_parameters(world, "drive-logs")
        drive = upload_drive_log(
            world.client("s3"), parameters["AccessPointAlias"], options.seed, options.files
        )
        files = len(drive.keys)
        if name == "baseline":
            return PreparedRun(RunPlan(parameters=parameters, input={}, files=files), drive)
        create_endpoints(world)
        output_bucket = predicted_bucket_name(stack_name, "OutputBucket")
        batch = deploy_batch_transform(world, resources, output_bucket, parameters["AccessPointAlias"])
        parameters |= {
            "EnableInference": "true",
            "ModelImageUri": f"{SANDBOX_ACCOUNT}.dkr.ecr.{world.region}.amazonaws.com/drive-detector:1",
            "SageMakerExecutionRoleArn": f"arn:aws:iam::{SANDBOX_ACCOUNT}:role/drive-detector",
            "ModelSubnetIds": "subnet-0123456789abcdef0",
            "ModelSecurityGroupIds": "sg-0123456789abcdef0",
            "EndpointNamePrefix": ENDPOINT_PREFIX,
            "FramesPerInvocation": "2",
            "ExistingBatchTransformStartFunctionArn": batch.function_arns["BatchTransformStartFunction"],
            **_INFERENCE[name],
        }
        queue_model_answers(world, [drive.answers[key] for key in drive.passing_frames])
        endpoints = resources.enter_context(
            ModelEndpoints(
                cold=(f"{ENDPOINT_PREFIX}-serverless",) if name == "serverless_cold" else (),
                scaled_to_zero={f"{ENDPOINT_PREFIX}-components": 1} if name == "components" else {},
            )
        )
        emulator = resources.enter_context(TransformEmulator(world, batch, drive.answers))
        # The serverless cold-start retry waits 3 s twice in production; 1 s keeps sandbox runs short.
        plan = RunPlan(
            parameters=parameters, environment={"SERVERLESS_RETRY_DELAY_SECONDS": "1"}, input={}, files=files
        )
        return PreparedRun(plan, drive, endpoints, emulator, batch, output_bucket)

    def summarize(self, stack: UseCaseStack, result: ExecutionResult) -> dict[str, Any]:
        output = result.output or {}
        quality = output.get("quality", {}).get("qc", {})
        annotations = output.get("annotations", {})
        inference = output.get("inference", {})
        return {
            "files discovered": output.get("discovery", {}).get("count", 0),
            "skipped": output.get("discovery", {}).get("skipped", {}).get("files", 0),
            "QC passed": quality.get("passed", 0),
            "QC failed": quality.get("failed", 0) + quality.get("errors", 0),
            "inference": inference.get("path") or inference.get("status", "-"),
            "annotations": annotations.get("annotations", 0),
            "report verdict": output.get("report", {}).get("verdict", "-"),
        }


@contextlib.contextmanager
def prepared(world: SandboxWorld, options: RunOptions) -> Iterator[PreparedRun]:
    """:meth:`AutonomousDrivingScenario.prepare_run` with its own resources (tests)."""
    with ExitStack() as resources:
        run = SCENARIO.prepare_run(world, resources, options)
        yield run
        if run.emulator is not None and run.emulator.errors:
            raise run.emulator.errors[0]
        time.sleep(0)


SCENARIO = AutonomousDrivingScenario()
