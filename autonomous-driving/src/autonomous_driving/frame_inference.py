"""The synchronous inference paths over a run's frames, a slice per invocation (a Step Functions loop).

Realtime Endpoint, Serverless Inference and Inference Components answer one frame per
InvokeEndpoint, and each ASL task is bounded (120 s, 120 s, 300 s), so one invocation cannot
promise a whole run. It therefore takes the frames manifest (``frames.json``) and a ``cursor``,
sends frames ``cursor, cursor + 1 …`` through :class:`shared.inference.InferenceInvoker` (the path's
own retry policy: serverless cold-start retries, components scale-from-zero backoff) until
``FRAMES_PER_INVOCATION`` frames are done or half of the task's time is spent, writes one part
``inference/predictions/part-<cursor>.jsonl`` and returns the next cursor; the state machine's
"More Frames" Choice calls it again until ``done``.

What a frame's trouble becomes:

* the model rejected it, it is too large for the path, or its answer is not the contract
  (:mod:`autonomous_driving.detections`): an error line in the part, and the run goes on;
* the *path* is unavailable — a serverless endpoint still cold after its retries
  (ServerlessColdStartTimeoutError), a component with no copy after its backoff
  (ComponentsColdStartTimeoutError), an endpoint failing for good (EndpointUnavailableError):
  raised, so that the ASL ``Catch`` falls back to Batch Transform over all the run's frames.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from autonomous_driving.detections import parse_model_output
from autonomous_driving.images import inspect_image
from shared.batch import error_record
from shared.errors import (
    InvalidInputError,
    OutputExistsError,
    PatternError,
    PayloadTooLargeError,
    RetryableError,
    S3AccessError,
    S3TransientError,
)
from shared.inference import (
    REALTIME_MAX_PAYLOAD_BYTES,
    SERVERLESS_MAX_PAYLOAD_BYTES,
    InferenceRequest,
    InferenceSettings,
)
from shared.observability import logger
from shared.routing import InferencePath
from shared.s3ap import (
    AccessPoint,
    OutputLocation,
    S3Client,
    S3ObjectRef,
    default_s3_client,
    iter_run_jsonl,
    read_range,
    write_jsonl,
)

PREDICTIONS_PREFIX: Final = "inference/predictions/"
TASK_TIMEOUT_S: Final = {
    InferencePath.REALTIME_ENDPOINT: 120.0,
    InferencePath.SERVERLESS_INFERENCE: 120.0,
    InferencePath.INFERENCE_COMPONENTS: 300.0,
}
"""TimeoutSeconds of each path's task in the state machine; half of it is the invocation's budget."""

_PAYLOAD_LIMIT: Final = {
    InferencePath.REALTIME_ENDPOINT: REALTIME_MAX_PAYLOAD_BYTES,
    InferencePath.SERVERLESS_INFERENCE: SERVERLESS_MAX_PAYLOAD_BYTES,
    InferencePath.INFERENCE_COMPONENTS: REALTIME_MAX_PAYLOAD_BYTES,
}


def labels_from(raw: str) -> tuple[str, ...]:
    return tuple(label.strip() for label in raw.split(",") if label.strip())


@dataclass(frozen=True)
class FrameInferenceSettings:
    """InferenceFunction's environment: shared.inference's settings plus the frames' source."""

    inference: InferenceSettings
    access_point: AccessPoint
    output: OutputLocation
    frames_per_invocation: int
    labels: tuple[str, ...]
    min_score: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FrameInferenceSettings:
        for required in ("ACCESS_POINT", "OUTPUT_BUCKET"):
            if not environ.get(required):
                raise InvalidInputError(required, "is not set")
        per_invocation = environ.get("FRAMES_PER_INVOCATION", "25")
        if not per_invocation.isdigit() or not 1 <= int(per_invocation) <= 1000:
            raise InvalidInputError("FRAMES_PER_INVOCATION", f"expected 1-1000, got {per_invocation!r}")
        try:
            min_score = float(environ.get("MIN_DETECTION_SCORE", "0") or 0)
        except ValueError:
            raise InvalidInputError("MIN_DETECTION_SCORE", "expected a number") from None
        return cls(
            inference=InferenceSettings.from_env(environ),
            access_point=AccessPoint.parse(environ["ACCESS_POINT"]),
            output=OutputLocation(environ["OUTPUT_BUCKET"], environ.get("OUTPUT_PREFIX", "")),
            frames_per_invocation=int(per_invocation),
            labels=labels_from(environ.get("MODEL_LABELS", "")),
            min_score=min_score,
        )


@dataclass(frozen=True)
class InferenceStep:
    """The task's input: ``{"run_id", "path", "frames": {"bucket", "key"}, "cursor"}``."""

    run_id: str
    path: InferencePath
    frames: S3ObjectRef
    cursor: int

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> InferenceStep:
        if not isinstance(event, Mapping):
            raise InvalidInputError("event", "expected an object")
        run_id, path, frames, cursor = (event.get(name) for name in ("run_id", "path", "frames", "cursor"))
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run_id", "expected the execution name")
        try:
            chosen = InferencePath(str(path))
        except ValueError:
            raise InvalidInputError("path", f"unknown inference path {path!r}") from None
        if chosen is InferencePath.BATCH_TRANSFORM:
            raise InvalidInputError("path", "Batch Transform is not a synchronous path")
        if not isinstance(frames, Mapping) or not all(
            isinstance(frames.get(k), str) for k in ("bucket", "key")
        ):
            raise InvalidInputError("frames", "expected the frames manifest {bucket, key}")
        if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
            raise InvalidInputError("cursor", f"expected a frame index >= 0, got {cursor!r}")
        return cls(run_id, chosen, S3ObjectRef(frames["bucket"], frames["key"]), cursor)


def read_frames(manifest: S3ObjectRef, *, s3: S3Client | None = None) -> list[str]:
    """The keys of a frames manifest (``[{"keys": [...]}, ...]``), in order."""
    client = s3 if s3 is not None else default_s3_client()
    try:
        body = client.get_object(Bucket=manifest.bucket, Key=manifest.key)["Body"].read()
    except (ClientError, BotoCoreError) as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        if code in ("NoSuchKey", "NoSuchBucket", "AccessDenied", "404", "403"):
            raise S3AccessError(f"frames manifest s3://{manifest.bucket}/{manifest.key}: {code}") from error
        raise S3TransientError(f"frames manifest s3://{manifest.bucket}/{manifest.key}: {code}") from error
    try:
        batches = json.loads(body)
        if not isinstance(batches, list):
            raise TypeError("expected a list of batches")
        return [str(key) for batch in batches for key in batch["keys"]]
    except (ValueError, TypeError, KeyError) as error:
        raise InvalidInputError("frames", f"not a frames manifest: {error}") from None


class FrameInference:
    """Runs one slice of a run's frames on a synchronous path."""

    def __init__(
        self,
        settings: FrameInferenceSettings,
        *,
        s3: S3Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        **invoker_overrides: Any,
    ) -> None:
        self.settings = settings
        self._s3 = s3
        self._clock = clock
        self._invoker = settings.inference.invoker(clock=clock, **invoker_overrides)

    def run(self, step: InferenceStep, *, remaining_s: float | None = None) -> dict[str, Any]:
        frames = read_frames(step.frames, s3=self._s3)
        target = self.settings.inference.target(step.path)
        budget = TASK_TIMEOUT_S[step.path] / 2
        if remaining_s is not None:
            budget = min(budget, remaining_s / 2)
        deadline = self._clock() + budget
        selected = frames[step.cursor : step.cursor + self.settings.frames_per_invocation]
        counts = {"frames": 0, "errors": 0, "detections": 0, "cold_starts": 0}

        def records() -> Iterator[dict[str, Any]]:
            for index, key in enumerate(selected):
                if index and self._clock() >= deadline:
                    return  # the next invocation continues from here
                record = self._infer(target, step.path, key)
                counts["frames"] += 1
                counts["errors"] += record["status"] == "error"
                counts["detections"] += len(record.get("detections", ()))
                counts["cold_starts"] += bool(record.get("cold_start"))
                yield record

        name = f"{PREDICTIONS_PREFIX}part-{step.cursor:08d}.jsonl"
        try:
            part = write_jsonl(self.settings.output, step.run_id, name, records(), s3=self._s3).object
        except OutputExistsError:
            # A replayed invocation: the earlier attempt's part stands; continue after its frames.
            logger.warning("predictions part already written", part=name)
            counts["frames"] = sum(
                1 for _ in iter_run_jsonl(self.settings.output, step.run_id, name, s3=self._s3)
            )
            part = S3ObjectRef(self.settings.output.bucket, self.settings.output.run_key(step.run_id, name))
        cursor = step.cursor + counts["frames"]
        return {
            "path": step.path.value,
            "cursor": cursor,
            "total": len(frames),
            "done": cursor >= len(frames),
            **counts,
            "part": part.to_dict(),
        }

    def _infer(self, target: Any, path: InferencePath, key: str) -> dict[str, Any]:
        limit = _PAYLOAD_LIMIT[path]
        body = read_range(self.settings.access_point, key, 0, limit + 1, s3=self._s3)
        try:
            if len(body) > limit:
                raise PayloadTooLargeError(
                    f"{key} exceeds the {limit}-byte request limit of {path.value}",
                    limit=limit,
                    path=path.value,
                )
            image = inspect_image(io.BytesIO(body), len(body))
            response = self._invoker.invoke(
                target, InferenceRequest(body, self.settings.inference.content_type, "application/json")
            )
            detections = parse_model_output(
                response.body,
                width=image.width,
                height=image.height,
                labels=self.settings.labels,
                min_score=self.settings.min_score,
            )
        except RetryableError:
            raise  # the path is unavailable: the state machine decides (Retry, or Batch Transform)
        except PatternError as error:  # this frame only: rejected, too large, unreadable answer
            return error_record(key, error)
        return {
            "key": key,
            "status": "ok",
            "width": image.width,
            "height": image.height,
            "detections": [detection.to_dict() for detection in detections],
            "latency_ms": response.latency_ms,
            "attempts": response.attempts,
            "cold_start": response.cold_start,
        }
