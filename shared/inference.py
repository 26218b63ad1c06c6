"""SageMaker inference on each of the four paths, with the retry policy each one needs.

Synchronous paths (InvokeEndpoint, ``sagemaker-runtime``), through :class:`InferenceInvoker`:

* **Realtime endpoint** — throttling, 5xx and dropped connections are retried with capped,
  jittered exponential backoff (:class:`RealtimePolicy`); what still fails raises
  :class:`~shared.errors.EndpointUnavailableError` (retryable in ASL). A body over 6 MB
  (6,291,456 bytes, the API's ``BodyBlob`` limit) is refused before any call with
  :class:`~shared.errors.PayloadTooLargeError`.
* **Serverless Inference** — a cold endpoint answers ``ModelNotReadyException`` (HTTP 429: "a
  serverless endpoint variant's resources are still being provisioned … wait and try again") or
  takes longer than the first read timeout. :class:`ServerlessPolicy`: read timeout 60 s, retry
  after 3 s, at most 2 retries, and ``initial_timeout + retry_delay x max_retries <=
  task_timeout`` (120 s, the ASL task's TimeoutSeconds) checked when the policy is built. While
  running, no retry starts unless it can end (its delay plus a full read timeout) inside the task
  timeout. Exhausted: :class:`~shared.errors.ServerlessColdStartTimeoutError`, which the ASL
  ``Catch`` turns into the Batch Transform fallback. Requests over 4 MB are refused (the
  serverless payload limit).
* **Inference components** — invoked with ``InferenceComponentName``. While the component has no
  copy (scaled to zero), SageMaker answers ``ValidationError`` "Inference Component has no capacity
  to process this request …" (the failure counted by the ``NoCapacityInvocationFailures`` metric
  whose alarm scales it out); only that message, and ``ModelNotReadyException``, are treated as a
  cold start — every other ValidationError is a real error. Backoff ``min(5 x 2**n, 30)`` s
  (5, 10, 20, 30, 30 …) within 300 s in total (:class:`ComponentsPolicy`); exhausted:
  :class:`~shared.errors.ComponentsColdStartTimeoutError`.

Every path returns the same :class:`InferenceResponse` (same keys in :meth:`~InferenceResponse.
to_dict`: response transparency). A cold start (latency above 5,000 ms, or any not-ready answer
on the way) adds the ``ColdStartDetected`` EMF metric.

The asynchronous path, **Batch Transform**, runs a transform job over a run's manifest while the
execution waits on a ``.waitForTaskToken`` task: :func:`start_batch_transform` parks the token
(shared.task_token_store) and starts the job tagged with a correlation id; when EventBridge
reports the job's end, :func:`complete_batch_transform` calls the execution back.

Clock, sleeper and clients are injected (tests use a fake clock and botocore's Stubber); default
clients are created on first use, never at import time, and dropped after a SnapStart restore.
"""

from __future__ import annotations

import functools
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from shared.errors import (
    BatchTransformStartError,
    ComponentsColdStartTimeoutError,
    EndpointUnavailableError,
    InvalidInputError,
    ModelInvocationError,
    OutputExistsError,
    PatternError,
    PayloadTooLargeError,
    SageMakerUnavailableError,
    ServerlessColdStartTimeoutError,
    TaskTokenError,
)
from shared.observability import MetricUnit, logger, metrics
from shared.routing import InferencePath
from shared.s3ap import (
    AccessPoint,
    OutputLocation,
    S3Client,
    S3ObjectRef,
    read_json,
    write_text,
)
from shared.settings import required
from shared.snapstart import after_restore
from shared.task_token_store import (
    TaskTokenRecord,
    TaskTokenStore,
    TokenStatus,
    correlation_id_for,
    default_sfn_client,
    notify_execution,
)

__all__ = [
    "COLD_START_METRIC",
    "COLD_START_THRESHOLD_MS",
    "CORRELATION_TAG",
    "NO_CAPACITY_MESSAGE",
    "REALTIME_MAX_PAYLOAD_BYTES",
    "RESPONSE_KEYS",
    "SERVERLESS_MAX_PAYLOAD_BYTES",
    "BatchTransformRequest",
    "BatchTransformSettings",
    "BatchTransformStarted",
    "CallbackSettings",
    "ComponentsPolicy",
    "InferenceInvoker",
    "InferenceRequest",
    "InferenceResponse",
    "InferenceSettings",
    "InferenceTarget",
    "RealtimePolicy",
    "ServerlessPolicy",
    "TransformOutcome",
    "complete_batch_transform",
    "default_runtime_client",
    "default_sagemaker_client",
    "start_batch_transform",
]

RuntimeClient = Any
"""A boto3 ``sagemaker-runtime`` client (boto3 ships no types)."""
SageMakerClient = Any
"""A boto3 ``sagemaker`` client."""

REALTIME_MAX_PAYLOAD_BYTES: Final = 6 * 1024 * 1024
"""InvokeEndpoint's request limit (``BodyBlob`` max 6,291,456 bytes) for endpoints and components."""

SERVERLESS_MAX_PAYLOAD_BYTES: Final = 4 * 1024 * 1024
"""Serverless endpoints accept at most 4 MB per request (SageMaker guide, "Invoke a serverless endpoint")."""

COLD_START_THRESHOLD_MS: Final = 5000
COLD_START_METRIC: Final = "ColdStartDetected"

NO_CAPACITY_MESSAGE: Final = "Inference Component has no capacity to process this request"
"""Start of the ValidationError message of an inference component with no copy running."""

CORRELATION_TAG: Final = "fsxn-s3ap:correlation-id"
"""Tag of a transform job naming its parked task token (never the token itself)."""

_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_THROTTLING_CODES: Final = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
_SERVER_CODES: Final = frozenset(
    {"InternalFailure", "ServiceUnavailable", "InternalDependencyException", "InternalServerError"}
)


# --- clients -------------------------------------------------------------------------------------


@functools.cache
def default_runtime_client(read_timeout_s: float) -> RuntimeClient:
    """A ``sagemaker-runtime`` client with this read timeout, created on first use.

    botocore's own retries are off: every retry decision is this module's, per path, so that a
    cold start is not hidden inside five SDK attempts and the time bounds hold.
    """
    return boto3.client(
        "sagemaker-runtime",
        config=Config(
            read_timeout=read_timeout_s,
            connect_timeout=5,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )


@functools.cache
def default_sagemaker_client() -> SageMakerClient:
    """The SageMaker control-plane client (CreateTransformJob), created on first use."""
    return boto3.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 5}))


after_restore(default_runtime_client.cache_clear)
after_restore(default_sagemaker_client.cache_clear)


# --- requests, targets, responses ----------------------------------------------------------------


@dataclass(frozen=True)
class InferenceRequest:
    """What is sent to the model: the body (bytes) and its MIME types."""

    body: bytes = field(repr=False)
    content_type: str = "application/json"
    accept: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.body, bytes | bytearray):
            raise InvalidInputError("body", f"expected bytes, got {type(self.body).__name__}")
        if not isinstance(self.content_type, str) or not self.content_type.strip():
            raise InvalidInputError("content_type", "is required")


@dataclass(frozen=True)
class InferenceTarget:
    """Where a synchronous path sends requests: an endpoint, and a component for that path."""

    path: InferencePath
    endpoint_name: str
    inference_component: str | None = None

    def __post_init__(self) -> None:
        if self.path is InferencePath.BATCH_TRANSFORM:
            raise InvalidInputError("path", "Batch Transform is asynchronous: use start_batch_transform")
        if not isinstance(self.endpoint_name, str) or not _ENDPOINT_NAME.fullmatch(self.endpoint_name):
            raise InvalidInputError("endpoint_name", f"not a SageMaker endpoint name: {self.endpoint_name!r}")
        needs_component = self.path is InferencePath.INFERENCE_COMPONENTS
        component = self.inference_component
        if needs_component and (not isinstance(component, str) or not _ENDPOINT_NAME.fullmatch(component)):
            raise InvalidInputError(
                "inference_component", f"the components path needs a component name, got {component!r}"
            )
        if not needs_component and component is not None:
            raise InvalidInputError(
                "inference_component", f"only the components path takes one ({self.path})"
            )


RESPONSE_KEYS: Final = frozenset(
    {
        "path",
        "endpoint_name",
        "inference_component",
        "content_type",
        "invoked_variant",
        "body_bytes",
        "latency_ms",
        "attempts",
        "cold_start",
    }
)
"""The keys of :meth:`InferenceResponse.to_dict`, identical on every synchronous path."""


@dataclass(frozen=True)
class InferenceResponse:
    """A model's answer, the same shape whichever path produced it."""

    path: InferencePath
    endpoint_name: str
    inference_component: str | None
    body: bytes = field(repr=False)
    content_type: str
    invoked_variant: str | None
    latency_ms: int
    attempts: int
    cold_start: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary for state and logs: the body's size, never the body (state is small)."""
        return {
            "path": self.path.value,
            "endpoint_name": self.endpoint_name,
            "inference_component": self.inference_component,
            "content_type": self.content_type,
            "invoked_variant": self.invoked_variant,
            "body_bytes": len(self.body),
            "latency_ms": self.latency_ms,
            "attempts": self.attempts,
            "cold_start": self.cold_start,
        }


# --- policies ------------------------------------------------------------------------------------


def _number(field_name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInputError(field_name, f"expected a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _whole(field_name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(field_name, f"expected an integer from {low} to {high}, got {value!r}")
    return value


@dataclass(frozen=True)
class RealtimePolicy:
    """Provisioned endpoint: bounded retries of throttling/5xx with capped, jittered backoff."""

    max_attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 5.0
    read_timeout_s: float = 70.0
    """The API reference advises a 70 s socket timeout for models that may take 60 s."""

    def __post_init__(self) -> None:
        _whole("max_attempts", self.max_attempts, 1, 10)
        _number("base_delay_s", self.base_delay_s, 0, 60)
        _number("max_delay_s", self.max_delay_s, self.base_delay_s, 300)
        _number("read_timeout_s", self.read_timeout_s, 1, 300)

    def backoff(self, retry: int) -> float:
        return float(min(self.base_delay_s * 2**retry, self.max_delay_s))


@dataclass(frozen=True)
class ServerlessPolicy:
    """Serverless endpoint: cold-start retries bounded by the Step Functions task timeout."""

    initial_timeout_s: float = 60.0
    retry_delay_s: float = 3.0
    max_retries: int = 2
    task_timeout_s: float = 120.0
    max_transient_retries: int = 2
    transient_delay_s: float = 0.5

    def __post_init__(self) -> None:
        _number("initial_timeout_s", self.initial_timeout_s, 1, 900)
        _number("retry_delay_s", self.retry_delay_s, 0, 300)
        _whole("max_retries", self.max_retries, 0, 20)
        _number("task_timeout_s", self.task_timeout_s, 1, 900)
        _whole("max_transient_retries", self.max_transient_retries, 0, 10)
        _number("transient_delay_s", self.transient_delay_s, 0, 60)
        if self.retry_budget_s > self.task_timeout_s:
            raise InvalidInputError(
                "serverless_policy",
                f"initial_timeout ({self.initial_timeout_s:g} s) + retry_delay ({self.retry_delay_s:g} s) "
                f"x max_retries ({self.max_retries}) = {self.retry_budget_s:g} s exceeds the Step Functions "
                f"task timeout ({self.task_timeout_s:g} s)",
            )

    @property
    def retry_budget_s(self) -> float:
        """``initial_timeout + retry_delay x max_retries``: must fit in the task timeout."""
        return self.initial_timeout_s + self.retry_delay_s * self.max_retries


@dataclass(frozen=True)
class ComponentsPolicy:
    """Inference component: scale-from-zero backoff ``min(initial x 2**n, max)`` within a total bound."""

    initial_delay_s: float = 5.0
    max_delay_s: float = 30.0
    max_wait_s: float = 300.0
    read_timeout_s: float = 70.0
    max_transient_retries: int = 3

    def __post_init__(self) -> None:
        _number("initial_delay_s", self.initial_delay_s, 0, 300)
        _number("max_delay_s", self.max_delay_s, self.initial_delay_s, 900)
        _number("read_timeout_s", self.read_timeout_s, 1, 300)
        # Lambda's own limit is 900 s; the wait includes one full read of the last attempt.
        _number("max_wait_s", self.max_wait_s, self.read_timeout_s, 900)
        _whole("max_transient_retries", self.max_transient_retries, 0, 10)

    def delay(self, retry: int) -> float:
        """5, 10, 20, 30, 30 … seconds with the defaults."""
        return float(min(self.initial_delay_s * 2**retry, self.max_delay_s))


# --- the synchronous invoker ---------------------------------------------------------------------


class _Kind(Enum):
    COLD = "cold"
    TRANSIENT = "transient"
    FATAL = "fatal"


def _error_details(err: Exception) -> tuple[str, int, str]:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return str(error.get("Code", "")), status, str(error.get("Message", ""))
    return type(err).__name__, 0, str(err)


def _classify(path: InferencePath, err: Exception) -> _Kind:
    """What a failure means on ``path``: a cold start, a transient failure or a real error."""
    if isinstance(err, ReadTimeoutError):
        # A serverless endpoint still loading its model; elsewhere the model itself is too slow,
        # and sending the same request again would only repeat the wait.
        return _Kind.COLD if path is InferencePath.SERVERLESS_INFERENCE else _Kind.FATAL
    if isinstance(err, BotoConnectionError | IncompleteReadError | ResponseStreamingError):
        # The connection dropped before or while the answer was read: the request may be sent again.
        return _Kind.TRANSIENT
    if not isinstance(err, ClientError):
        return _Kind.FATAL
    code, status, message = _error_details(err)
    no_capacity = (
        path is InferencePath.INFERENCE_COMPONENTS
        and code == "ValidationError"
        and message.startswith(NO_CAPACITY_MESSAGE)
    )
    if no_capacity or (code == "ModelNotReadyException" and path is not InferencePath.REALTIME_ENDPOINT):
        return _Kind.COLD
    transient = code in _THROTTLING_CODES or code in _SERVER_CODES or status == 429 or status >= 500
    return _Kind.TRANSIENT if transient else _Kind.FATAL


@dataclass
class _Attempts:
    """What happened on the way to an answer (or to giving up)."""

    total: int = 0
    cold: int = 0
    transient: int = 0
    cold_seen: bool = False


class InferenceInvoker:
    """Invokes one target with its path's policy. Clock, sleeper, jitter and client are injectable."""

    def __init__(
        self,
        *,
        client: RuntimeClient | None = None,
        client_factory: Callable[[float], RuntimeClient] = default_runtime_client,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        realtime: RealtimePolicy | None = None,
        serverless: ServerlessPolicy | None = None,
        components: ComponentsPolicy | None = None,
    ) -> None:
        self._client = client
        self._client_factory = client_factory
        self._clock = clock
        self._sleeper = sleeper
        self._rand = rand
        self.realtime = realtime or RealtimePolicy()
        self.serverless = serverless or ServerlessPolicy()
        self.components = components or ComponentsPolicy()

    def _runtime(self, read_timeout_s: float) -> RuntimeClient:
        return self._client if self._client is not None else self._client_factory(read_timeout_s)

    def invoke(self, target: InferenceTarget, request: InferenceRequest) -> InferenceResponse:
        """Send ``request`` to ``target`` with its path's retry policy; one typed error otherwise."""
        if target.path is InferencePath.REALTIME_ENDPOINT:
            return self._invoke_realtime(target, request)
        if target.path is InferencePath.SERVERLESS_INFERENCE:
            return self._invoke_serverless(target, request)
        return self._invoke_components(target, request)

    # -- per path --

    def _invoke_realtime(self, target: InferenceTarget, request: InferenceRequest) -> InferenceResponse:
        policy = self.realtime
        _check_size(target, request, REALTIME_MAX_PAYLOAD_BYTES)
        client = self._runtime(policy.read_timeout_s)
        started, attempts = self._clock(), _Attempts()
        while True:
            attempts.total += 1
            try:
                return self._answer(target, client, request, started, attempts, cold_capable=False)
            except (ClientError, BotoCoreError) as err:
                kind = _classify(target.path, err)
                if kind is _Kind.FATAL or attempts.total >= policy.max_attempts:
                    raise self._give_up(target, err, kind, attempts, started) from err
                delay = self._jittered(policy.backoff(attempts.transient))
                attempts.transient += 1
                self._wait(target, err, delay, attempts)

    def _invoke_serverless(self, target: InferenceTarget, request: InferenceRequest) -> InferenceResponse:
        policy = self.serverless
        _check_size(target, request, SERVERLESS_MAX_PAYLOAD_BYTES)
        client = self._runtime(policy.initial_timeout_s)
        started, attempts = self._clock(), _Attempts()
        deadline = started + policy.task_timeout_s
        while True:
            attempts.total += 1
            try:
                return self._answer(target, client, request, started, attempts, cold_capable=True)
            except (ClientError, BotoCoreError) as err:
                kind = _classify(target.path, err)
                if kind is _Kind.COLD:
                    attempts.cold_seen = True
                    if attempts.cold >= policy.max_retries:
                        raise self._give_up(target, err, kind, attempts, started) from err
                    delay = policy.retry_delay_s
                    attempts.cold += 1
                elif kind is _Kind.TRANSIENT and attempts.transient < policy.max_transient_retries:
                    delay = self._jittered(policy.transient_delay_s * 2**attempts.transient)
                    attempts.transient += 1
                else:
                    raise self._give_up(target, err, kind, attempts, started) from err
                # Never start an attempt that could still be reading when the task times out.
                if self._clock() + delay + policy.initial_timeout_s > deadline:
                    raise self._give_up(target, err, kind, attempts, started) from err
                self._wait(target, err, delay, attempts)

    def _invoke_components(self, target: InferenceTarget, request: InferenceRequest) -> InferenceResponse:
        policy = self.components
        _check_size(target, request, REALTIME_MAX_PAYLOAD_BYTES)
        client = self._runtime(policy.read_timeout_s)
        started, attempts = self._clock(), _Attempts()
        deadline = started + policy.max_wait_s
        while True:
            attempts.total += 1
            try:
                return self._answer(target, client, request, started, attempts, cold_capable=True)
            except (ClientError, BotoCoreError) as err:
                kind = _classify(target.path, err)
                if kind is _Kind.COLD:
                    attempts.cold_seen = True
                    delay = policy.delay(attempts.cold)
                    attempts.cold += 1
                elif kind is _Kind.TRANSIENT and attempts.transient < policy.max_transient_retries:
                    delay = self._jittered(policy.delay(attempts.transient))
                    attempts.transient += 1
                else:
                    raise self._give_up(target, err, kind, attempts, started) from err
                if self._clock() + delay + policy.read_timeout_s > deadline:
                    raise self._give_up(target, err, kind, attempts, started) from err
                self._wait(target, err, delay, attempts)

    # -- shared steps --

    def _jittered(self, cap: float) -> float:
        # Full jitter: concurrent Map iterations throttled together must not retry together.
        return cap * self._rand()

    def _wait(self, target: InferenceTarget, err: Exception, delay: float, attempts: _Attempts) -> None:
        code, status, _ = _error_details(err)
        logger.info(
            "inference retry",
            path=target.path.value,
            endpoint_name=target.endpoint_name,
            inference_component=target.inference_component,
            attempt=attempts.total,
            code=code,
            status=status,
            delay_s=round(delay, 3),
        )
        self._sleeper(delay)

    def _answer(
        self,
        target: InferenceTarget,
        client: RuntimeClient,
        request: InferenceRequest,
        started: float,
        attempts: _Attempts,
        *,
        cold_capable: bool,
    ) -> InferenceResponse:
        params: dict[str, Any] = {
            "EndpointName": target.endpoint_name,
            "Body": bytes(request.body),
            "ContentType": request.content_type,
        }
        if request.accept:
            params["Accept"] = request.accept
        if target.inference_component:
            params["InferenceComponentName"] = target.inference_component
        response = client.invoke_endpoint(**params)
        body = response["Body"].read()
        latency_ms = round((self._clock() - started) * 1000)
        cold_start = cold_capable and (attempts.cold_seen or latency_ms > COLD_START_THRESHOLD_MS)
        if cold_start:
            metrics.add_metric(name=COLD_START_METRIC, unit=MetricUnit.Count, value=1)
            logger.info(
                "cold start detected",
                path=target.path.value,
                endpoint_name=target.endpoint_name,
                latency_ms=latency_ms,
                attempts=attempts.total,
            )
        return InferenceResponse(
            path=target.path,
            endpoint_name=target.endpoint_name,
            inference_component=target.inference_component,
            body=body,
            content_type=str(response.get("ContentType", "")),
            invoked_variant=response.get("InvokedProductionVariant"),
            latency_ms=latency_ms,
            attempts=attempts.total,
            cold_start=cold_start,
        )

    def _give_up(
        self, target: InferenceTarget, err: Exception, kind: _Kind, attempts: _Attempts, started: float
    ) -> PatternError:
        code, status, message = _error_details(err)
        elapsed = round(self._clock() - started, 3)
        where = f"{target.path.value} {target.endpoint_name}" + (
            f"/{target.inference_component}" if target.inference_component else ""
        )
        details: dict[str, Any] = {
            "endpoint_name": target.endpoint_name,
            "inference_component": target.inference_component,
            "code": code,
            "status": status,
            "attempts": attempts.total,
            "elapsed_s": elapsed,
        }
        if kind is _Kind.COLD and target.path is InferencePath.SERVERLESS_INFERENCE:
            return ServerlessColdStartTimeoutError(
                f"{where} still cold after {attempts.total} attempts in {elapsed:g} s ({code})", **details
            )
        if kind is _Kind.COLD:
            return ComponentsColdStartTimeoutError(
                f"{where} had no copy running after {attempts.total} attempts in {elapsed:g} s", **details
            )
        if kind is _Kind.TRANSIENT or isinstance(err, ReadTimeoutError):
            return EndpointUnavailableError(
                f"{where} unavailable after {attempts.total} attempts: {code} {message}".rstrip(), **details
            )
        return ModelInvocationError(f"{where} rejected the request: {code} {message}".rstrip(), **details)


def _check_size(target: InferenceTarget, request: InferenceRequest, limit: int) -> None:
    size = len(request.body)
    if size > limit:
        raise PayloadTooLargeError(
            f"{target.path.value} accepts at most {limit} bytes per request, this body has {size}",
            size=size,
            limit=limit,
            path=target.path.value,
        )


# --- settings for handlers -----------------------------------------------------------------------


def _env_number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInputError(name, f"expected a number, got {raw!r}") from None


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit():
        raise InvalidInputError(name, f"expected a whole number, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class InferenceSettings:
    """A synchronous-inference handler's configuration, read once from its environment.

    ``REALTIME_ENDPOINT_NAME``, ``SERVERLESS_ENDPOINT_NAME``, ``COMPONENTS_ENDPOINT_NAME`` and
    ``INFERENCE_COMPONENT_NAME`` name what each deployed path calls (unset for paths not
    deployed); ``INFERENCE_CONTENT_TYPE`` / ``INFERENCE_ACCEPT``; ``SERVERLESS_INITIAL_TIMEOUT_SECONDS``
    (60), ``SERVERLESS_RETRY_DELAY_SECONDS`` (3), ``SERVERLESS_MAX_RETRIES`` (2),
    ``SERVERLESS_TASK_TIMEOUT_SECONDS`` (120, the ASL task's TimeoutSeconds) and
    ``COMPONENTS_MAX_WAIT_SECONDS`` (300). Building the settings validates the serverless time
    bound, so a misconfigured function fails at its first invocation, before calling SageMaker.
    """

    endpoints: Mapping[InferencePath, str]
    inference_component: str | None
    content_type: str
    accept: str | None
    serverless: ServerlessPolicy
    components: ComponentsPolicy

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> InferenceSettings:
        names = {
            InferencePath.REALTIME_ENDPOINT: "REALTIME_ENDPOINT_NAME",
            InferencePath.SERVERLESS_INFERENCE: "SERVERLESS_ENDPOINT_NAME",
            InferencePath.INFERENCE_COMPONENTS: "COMPONENTS_ENDPOINT_NAME",
        }
        endpoints = {path: environ[name] for path, name in names.items() if environ.get(name)}
        serverless = ServerlessPolicy(
            initial_timeout_s=_env_number(environ, "SERVERLESS_INITIAL_TIMEOUT_SECONDS", 60.0),
            retry_delay_s=_env_number(environ, "SERVERLESS_RETRY_DELAY_SECONDS", 3.0),
            max_retries=_env_int(environ, "SERVERLESS_MAX_RETRIES", 2),
            task_timeout_s=_env_number(environ, "SERVERLESS_TASK_TIMEOUT_SECONDS", 120.0),
        )
        components = ComponentsPolicy(max_wait_s=_env_number(environ, "COMPONENTS_MAX_WAIT_SECONDS", 300.0))
        return cls(
            endpoints=endpoints,
            inference_component=environ.get("INFERENCE_COMPONENT_NAME") or None,
            content_type=environ.get("INFERENCE_CONTENT_TYPE") or "application/json",
            accept=environ.get("INFERENCE_ACCEPT") or None,
            serverless=serverless,
            components=components,
        )

    def target(self, path: InferencePath | str) -> InferenceTarget:
        """The deployed target of ``path``; InvalidInputError when that path is not configured."""
        try:
            chosen = InferencePath(path)
        except ValueError:
            raise InvalidInputError("path", f"unknown inference path {path!r}") from None
        endpoint = self.endpoints.get(chosen)
        if endpoint is None:
            raise InvalidInputError("path", f"{chosen.value} is not deployed (no endpoint configured)")
        component = self.inference_component if chosen is InferencePath.INFERENCE_COMPONENTS else None
        return InferenceTarget(chosen, endpoint, component)

    def invoker(self, **overrides: Any) -> InferenceInvoker:
        """An invoker with these settings' policies (tests override client, clock, sleeper)."""
        return InferenceInvoker(serverless=self.serverless, components=self.components, **overrides)


# --- Batch Transform over a manifest (.waitForTaskToken) -----------------------------------------

_JOB_PREFIX = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,23}")
_INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
_SPLIT_TYPES: Final = ("None", "Line", "RecordIO", "TFRecord")
_TERMINAL_JOB_STATUSES: Final = ("Completed", "Failed", "Stopped")
_SAGEMAKER_TRANSIENT: Final = frozenset(
    {"ThrottlingException", "Throttling", "ResourceLimitExceeded", "InternalFailure", "ServiceUnavailable"}
)
TRANSFORM_EVENT_SOURCE: Final = "aws.sagemaker"
TRANSFORM_EVENT_TYPE: Final = "SageMaker Transform Job State Change"


def _job_prefix(value: str, name: str = "TRANSFORM_JOB_PREFIX") -> str:
    if not _JOB_PREFIX.fullmatch(value):
        raise InvalidInputError(name, f"1-24 letters, digits and hyphens, got {value!r}")
    return value


@dataclass(frozen=True)
class BatchTransformSettings:
    """The start function's configuration (environment of BatchTransformStartFunction).

    ``TASK_TOKEN_TABLE``, ``TRANSFORM_JOB_PREFIX`` (this stack's jobs: the EventBridge rule
    matches the prefix), ``TRANSFORM_MODEL_NAME``, ``TRANSFORM_INSTANCE_TYPE``,
    ``TRANSFORM_INSTANCE_COUNT``, ``INPUT_ACCESS_POINT`` (alias of the volume's access point the
    job reads), ``OUTPUT_BUCKET`` / ``OUTPUT_PREFIX``, ``TRANSFORM_CONTENT_TYPE``,
    ``TRANSFORM_SPLIT_TYPE``, ``TRANSFORM_MAX_PAYLOAD_MB``, ``TRANSFORM_MAX_CONCURRENT``,
    ``KMS_KEY_ARN`` (output and volume encryption; empty for AWS-managed keys),
    ``TASK_TOKEN_TTL_SECONDS``.
    """

    table_name: str
    job_prefix: str
    model_name: str
    instance_type: str
    instance_count: int
    input_access_point: AccessPoint
    output: OutputLocation
    content_type: str = "application/octet-stream"
    split_type: str = "None"
    max_payload_mb: int = 6
    max_concurrent_transforms: int = 1
    kms_key_arn: str | None = None
    token_ttl_s: int = 2 * 24 * 3600

    def __post_init__(self) -> None:
        _job_prefix(self.job_prefix)
        if not _INSTANCE_TYPE.fullmatch(self.instance_type):
            raise InvalidInputError(
                "TRANSFORM_INSTANCE_TYPE", f"not an ml.* instance type: {self.instance_type!r}"
            )
        _whole("TRANSFORM_INSTANCE_COUNT", self.instance_count, 1, 100)
        if self.split_type not in _SPLIT_TYPES:
            raise InvalidInputError(
                "TRANSFORM_SPLIT_TYPE", f"one of {', '.join(_SPLIT_TYPES)}, got {self.split_type!r}"
            )
        _whole("TRANSFORM_MAX_PAYLOAD_MB", self.max_payload_mb, 0, 100)
        _whole("TRANSFORM_MAX_CONCURRENT", self.max_concurrent_transforms, 1, 100)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BatchTransformSettings:
        return cls(
            table_name=required(environ, "TASK_TOKEN_TABLE"),
            job_prefix=required(environ, "TRANSFORM_JOB_PREFIX"),
            model_name=required(environ, "TRANSFORM_MODEL_NAME"),
            instance_type=required(environ, "TRANSFORM_INSTANCE_TYPE"),
            instance_count=_env_int(environ, "TRANSFORM_INSTANCE_COUNT", 1),
            input_access_point=AccessPoint.parse(required(environ, "INPUT_ACCESS_POINT")),
            output=OutputLocation(required(environ, "OUTPUT_BUCKET"), environ.get("OUTPUT_PREFIX", "")),
            content_type=environ.get("TRANSFORM_CONTENT_TYPE") or "application/octet-stream",
            split_type=environ.get("TRANSFORM_SPLIT_TYPE") or "None",
            max_payload_mb=_env_int(environ, "TRANSFORM_MAX_PAYLOAD_MB", 6),
            max_concurrent_transforms=_env_int(environ, "TRANSFORM_MAX_CONCURRENT", 1),
            kms_key_arn=environ.get("KMS_KEY_ARN") or None,
            token_ttl_s=_env_int(environ, "TASK_TOKEN_TTL_SECONDS", 2 * 24 * 3600),
        )

    def store(self, **overrides: Any) -> TaskTokenStore:
        return TaskTokenStore(self.table_name, ttl_seconds=self.token_ttl_s, **overrides)


@dataclass(frozen=True)
class BatchTransformRequest:
    """What the ``.waitForTaskToken`` task sends: the token, who waits, and the run's manifest."""

    task_token: str = field(repr=False)
    execution_arn: str
    state_machine_arn: str
    run_id: str
    manifest: S3ObjectRef

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> BatchTransformRequest:
        if not isinstance(event, Mapping):
            raise InvalidInputError("event", f"expected an object, got {type(event).__name__}")
        strings = {}
        for name in ("task_token", "execution_arn", "state_machine_arn", "run_id"):
            value = event.get(name)
            if not isinstance(value, str) or not value:
                raise InvalidInputError(name, "is required (a non-empty string)")
            strings[name] = value
        manifest = event.get("manifest")
        if not isinstance(manifest, Mapping) or not all(
            isinstance(manifest.get(key), str) and manifest.get(key) for key in ("bucket", "key")
        ):
            raise InvalidInputError(
                "manifest", f"expected {{bucket, key}} of the run's manifest, got {manifest!r}"
            )
        return cls(manifest=S3ObjectRef(manifest["bucket"], manifest["key"]), **strings)


@dataclass(frozen=True)
class BatchTransformStarted:
    """The started (or already running) job; what the start function returns."""

    job_name: str
    correlation_id: str
    input_manifest: S3ObjectRef
    output_uri: str
    keys: int
    already_started: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "correlation_id": self.correlation_id,
            "input_manifest": self.input_manifest.to_dict(),
            "output_uri": self.output_uri,
            "keys": self.keys,
            "already_started": self.already_started,
        }


def _manifest_keys(manifest: S3ObjectRef, s3: S3Client | None) -> list[str]:
    """The keys of a run manifest (``[{"keys": [...]}, ...]``) in order."""
    batches = read_json(manifest, s3=s3)
    if not isinstance(batches, list) or not all(
        isinstance(batch, Mapping) and isinstance(batch.get("keys"), list) for batch in batches
    ):
        raise InvalidInputError(
            "manifest", f's3://{manifest.bucket}/{manifest.key}: expected [{{"keys": [...]}}, ...]'
        )
    return [str(key) for batch in batches for key in batch["keys"]]


def _sagemaker_failure(err: Exception, action: str, job_name: str) -> PatternError:
    code, status, message = _error_details(err)
    if code in _SAGEMAKER_TRANSIENT or status >= 500 or isinstance(err, BotoCoreError):
        return SageMakerUnavailableError(
            f"{action} {job_name} kept failing: {code}", code=code, job_name=job_name
        )
    return BatchTransformStartError(
        f"{action} {job_name} refused: {code}: {message}", code=code, job_name=job_name
    )


def start_batch_transform(
    settings: BatchTransformSettings,
    request: BatchTransformRequest,
    *,
    store: TaskTokenStore | None = None,
    sagemaker: SageMakerClient | None = None,
    s3: S3Client | None = None,
) -> BatchTransformStarted:
    """Park the task token and start a transform job over the run's manifest; idempotent per token.

    1. the record (token, execution region, state machine) is created conditionally; if a
       previous delivery of the same token got further, its work is reused, never repeated;
    2. the run's manifest of key batches becomes a SageMaker ``ManifestFile`` (prefix = the
       access point, then the keys) under ``runs/<run_id>/batch-transform/``;
    3. the job is named ``<prefix>-<correlation id>`` and tagged with the correlation id only.
    """
    store = store or settings.store()
    job_name = f"{settings.job_prefix}-{correlation_id_for(request.task_token)}"
    record = TaskTokenRecord.for_token(
        request.task_token,
        execution_arn=request.execution_arn,
        state_machine_arn=request.state_machine_arn,
        job_name=job_name,
    )
    stored, created = store.create(record)
    output_uri = (
        f"s3://{settings.output.bucket}/{settings.output.run_prefix(request.run_id)}batch-transform/output/"
    )
    manifest_ref = S3ObjectRef(
        settings.output.bucket, settings.output.run_key(request.run_id, "batch-transform/input.manifest")
    )
    keys = _manifest_keys(request.manifest, s3)
    if not created and stored.status is not TokenStatus.STARTING:
        return BatchTransformStarted(
            job_name, record.correlation_id, manifest_ref, output_uri, len(keys), True
        )
    if not keys:
        raise InvalidInputError("manifest", "the run's manifest has no keys: nothing to transform")
    document = [{"prefix": f"s3://{settings.input_access_point.bucket}/"}, *keys]
    try:
        write_text(
            settings.output,
            request.run_id,
            "batch-transform/input.manifest",
            json.dumps(document),
            content_type="application/json",
            s3=s3,
        )
    except OutputExistsError:
        if created:
            raise
        # Written by the earlier delivery of this token, from the same manifest.
    _create_transform_job(
        settings,
        job_name=job_name,
        correlation_id=record.correlation_id,
        run_id=request.run_id,
        manifest=manifest_ref,
        output_uri=output_uri,
        sagemaker=sagemaker,
    )
    store.set_status(record.correlation_id, TokenStatus.STARTED, expected=[TokenStatus.STARTING])
    logger.info(
        "transform job started",
        job_name=job_name,
        correlation_id=record.correlation_id,
        run_id=request.run_id,
        keys=len(keys),
    )
    return BatchTransformStarted(job_name, record.correlation_id, manifest_ref, output_uri, len(keys))


def _create_transform_job(
    settings: BatchTransformSettings,
    *,
    job_name: str,
    correlation_id: str,
    run_id: str,
    manifest: S3ObjectRef,
    output_uri: str,
    sagemaker: SageMakerClient | None,
) -> None:
    output: dict[str, Any] = {"S3OutputPath": output_uri, "AssembleWith": "None"}
    resources: dict[str, Any] = {
        "InstanceType": settings.instance_type,
        "InstanceCount": settings.instance_count,
    }
    if settings.kms_key_arn:
        output["KmsKeyId"] = settings.kms_key_arn
        resources["VolumeKmsKeyId"] = settings.kms_key_arn
    client = sagemaker if sagemaker is not None else default_sagemaker_client()
    try:
        client.create_transform_job(
            TransformJobName=job_name,
            ModelName=settings.model_name,
            MaxConcurrentTransforms=settings.max_concurrent_transforms,
            MaxPayloadInMB=settings.max_payload_mb,
            BatchStrategy="SingleRecord",
            TransformInput={
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "ManifestFile",
                        "S3Uri": f"s3://{manifest.bucket}/{manifest.key}",
                    }
                },
                "ContentType": settings.content_type,
                "CompressionType": "None",
                "SplitType": settings.split_type,
            },
            TransformOutput=output,
            TransformResources=resources,
            Tags=[
                {"Key": CORRELATION_TAG, "Value": correlation_id},
                {"Key": "fsxn-s3ap:run-id", "Value": run_id},
            ],
        )
    except (ClientError, BotoCoreError) as err:
        if isinstance(err, ClientError) and _error_details(err)[0] == "ResourceInUse":
            logger.info("transform job already exists", job_name=job_name, correlation_id=correlation_id)
            return
        raise _sagemaker_failure(err, "CreateTransformJob", job_name) from err


@dataclass(frozen=True)
class CallbackSettings:
    """The callback function's configuration: ``TASK_TOKEN_TABLE`` and ``TRANSFORM_JOB_PREFIX``."""

    table_name: str
    job_prefix: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CallbackSettings:
        return cls(
            table_name=required(environ, "TASK_TOKEN_TABLE"),
            job_prefix=_job_prefix(required(environ, "TRANSFORM_JOB_PREFIX")),
        )

    def store(self, **overrides: Any) -> TaskTokenStore:
        return TaskTokenStore(self.table_name, **overrides)


@dataclass(frozen=True)
class TransformOutcome:
    """What the callback did with one job state change."""

    job_name: str
    job_status: str
    correlation_id: str | None
    action: str
    """``notified`` | ``duplicate`` (already called back) | ``expired`` (nobody waits) | ``ignored``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "job_status": self.job_status,
            "correlation_id": self.correlation_id,
            "action": self.action,
        }


def _correlation_id(detail: Mapping[str, Any], job_name: str, prefix: str) -> str:
    tags = detail.get("Tags")
    if isinstance(tags, Mapping) and isinstance(tags.get(CORRELATION_TAG), str):
        return str(tags[CORRELATION_TAG])
    if job_name.startswith(f"{prefix}-"):
        return job_name[len(prefix) + 1 :]
    raise TaskTokenError(f"transform job {job_name} is not one of this stack's jobs ({prefix}-*)")


def complete_batch_transform(
    settings: CallbackSettings,
    event: Mapping[str, Any],
    *,
    store: TaskTokenStore | None = None,
    sfn_factory: Callable[[str], Any] = default_sfn_client,
) -> TransformOutcome:
    """Turn a "SageMaker Transform Job State Change" event into the waiting execution's callback.

    Completed → SendTaskSuccess with the job and its output location; Failed/Stopped →
    SendTaskFailure ``BatchTransformFailedError``; other statuses are ignored. The call goes to
    the execution's own region; a duplicate event finds the record already ``CALLED_BACK``.
    """
    if not isinstance(event, Mapping) or event.get("detail-type") != TRANSFORM_EVENT_TYPE:
        raise InvalidInputError("event", f"expected an EventBridge {TRANSFORM_EVENT_TYPE!r} event")
    detail = event.get("detail")
    if not isinstance(detail, Mapping) or not isinstance(detail.get("TransformJobName"), str):
        raise InvalidInputError("detail", "expected the transform job's description")
    job_name = str(detail["TransformJobName"])
    status = str(detail.get("TransformJobStatus", ""))
    if status not in _TERMINAL_JOB_STATUSES:
        return TransformOutcome(job_name, status, None, "ignored")
    correlation_id = _correlation_id(detail, job_name, settings.job_prefix)
    store = store or settings.store()
    record = store.get(correlation_id)
    if record.job_name != job_name:
        raise TaskTokenError(f"record {correlation_id} belongs to job {record.job_name}, not {job_name}")
    if record.status in (TokenStatus.CALLED_BACK, TokenStatus.EXPIRED):
        logger.info("duplicate job state change", job_name=job_name, correlation_id=correlation_id)
        return TransformOutcome(job_name, status, correlation_id, "duplicate")
    if status == "Completed":
        output_uri = str((detail.get("TransformOutput") or {}).get("S3OutputPath", ""))
        delivered = notify_execution(
            record,
            output={
                "path": InferencePath.BATCH_TRANSFORM.value,
                "job_name": job_name,
                "job_status": status,
                "output_uri": output_uri,
                "correlation_id": correlation_id,
            },
            sfn_factory=sfn_factory,
        )
    else:
        delivered = notify_execution(
            record,
            error="BatchTransformFailedError",
            cause=f"transform job {job_name} {status}: {detail.get('FailureReason') or 'no reason given'}",
            sfn_factory=sfn_factory,
        )
    final = TokenStatus.CALLED_BACK if delivered else TokenStatus.EXPIRED
    store.set_status(correlation_id, final, expected=[TokenStatus.STARTING, TokenStatus.STARTED])
    return TransformOutcome(job_name, status, correlation_id, "notified" if delivered else "expired")
