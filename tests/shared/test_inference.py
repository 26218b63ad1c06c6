"""shared.inference, synchronous paths: exact requests (botocore Stubber), every retry and timeout
branch with an injected clock and sleeper (nothing really sleeps), typed errors, metrics."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, IncompleteReadError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from shared.errors import (
    ComponentsColdStartTimeoutError,
    EndpointUnavailableError,
    InvalidInputError,
    ModelInvocationError,
    PayloadTooLargeError,
    ServerlessColdStartTimeoutError,
)
from shared.inference import (
    COLD_START_METRIC,
    NO_CAPACITY_MESSAGE,
    REALTIME_MAX_PAYLOAD_BYTES,
    RESPONSE_KEYS,
    SERVERLESS_MAX_PAYLOAD_BYTES,
    ComponentsPolicy,
    InferenceInvoker,
    InferenceRequest,
    InferenceSettings,
    InferenceTarget,
    RealtimePolicy,
    ServerlessPolicy,
)
from shared.observability import metrics
from shared.routing import InferencePath

REPO_ROOT = Path(__file__).resolve().parents[2]
REALTIME = InferenceTarget(InferencePath.REALTIME_ENDPOINT, "scoring-realtime")
SERVERLESS = InferenceTarget(InferencePath.SERVERLESS_INFERENCE, "scoring-serverless")
COMPONENTS = InferenceTarget(InferencePath.INFERENCE_COMPONENTS, "scoring-ic", "scoring-model")
REQUEST = InferenceRequest(b'{"text": "hello"}', "application/json", "application/json")
NO_CAPACITY = (
    f"{NO_CAPACITY_MESSAGE}. ApplicationAutoScaling may be in-progress (if configured) or try to "
    "increase the capacity by invoking UpdateInferenceComponentRuntimeConfig API."
)


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps or a call takes time."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class SlowClient:
    """Delegates to a (stubbed) client; each call first takes ``durations.pop(0)`` seconds."""

    def __init__(self, client: Any, clock: FakeClock, durations: list[float]) -> None:
        self.client, self.clock, self.durations = client, clock, durations

    def invoke_endpoint(self, **params: Any) -> Any:
        self.clock.now += self.durations.pop(0) if self.durations else 0.0
        return self.client.invoke_endpoint(**params)


class RaisingClient:
    """A client whose calls raise the given botocore exceptions in turn, after ``duration`` seconds."""

    def __init__(self, clock: FakeClock, errors: list[Exception], duration: float = 0.0) -> None:
        self.clock, self.errors, self.duration, self.calls = clock, errors, duration, 0

    def invoke_endpoint(self, **params: Any) -> Any:
        self.calls += 1
        self.clock.now += self.duration
        raise self.errors.pop(0)


@pytest.fixture(autouse=True)
def _clean_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker-runtime", region_name="ap-northeast-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def invoker(client: Any, clock: FakeClock, **policies: Any) -> InferenceInvoker:
    return InferenceInvoker(client=client, clock=clock, sleeper=clock.sleep, rand=lambda: 1.0, **policies)


def expected_params(target: InferenceTarget, body: bytes = REQUEST.body) -> dict[str, Any]:
    params: dict[str, Any] = {
        "EndpointName": target.endpoint_name,
        "Body": body,
        "ContentType": "application/json",
        "Accept": "application/json",
    }
    if target.inference_component:
        params["InferenceComponentName"] = target.inference_component
    return params


def ok(stubber: Stubber, target: InferenceTarget, body: bytes = b'{"label": "cat"}') -> None:
    stubber.add_response(
        "invoke_endpoint",
        {
            "Body": StreamingBody(io.BytesIO(body), len(body)),
            "ContentType": "application/json",
            "InvokedProductionVariant": "AllTraffic",
        },
        expected_params(target),
    )


def error(stubber: Stubber, target: InferenceTarget, code: str, status: int, message: str = "") -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message=message or code,
        http_status_code=status,
        expected_params=expected_params(target),
    )


def cold_start_count() -> int:
    entry = metrics.metric_set.get(COLD_START_METRIC)
    return sum(entry["Value"]) if entry else 0


# --- realtime ------------------------------------------------------------------------------------


def test_realtime_sends_the_request_and_returns_the_answer(runtime, clock) -> None:
    client, stubber = runtime
    ok(stubber, REALTIME)

    response = invoker(client, clock).invoke(REALTIME, REQUEST)

    assert response.body == b'{"label": "cat"}'
    assert response.to_dict() == {
        "path": "realtime_endpoint",
        "endpoint_name": "scoring-realtime",
        "inference_component": None,
        "content_type": "application/json",
        "invoked_variant": "AllTraffic",
        "body_bytes": 16,
        "latency_ms": 0,
        "attempts": 1,
        "cold_start": False,
    }
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("InternalDependencyException", 530),
    ],
)
def test_realtime_retries_throttling_and_5xx_with_backoff(runtime, clock, code: str, status: int) -> None:
    client, stubber = runtime
    error(stubber, REALTIME, code, status)
    error(stubber, REALTIME, code, status)
    ok(stubber, REALTIME)

    response = invoker(client, clock).invoke(REALTIME, REQUEST)

    assert response.attempts == 3
    assert clock.sleeps == [0.5, 1.0]  # base 0.5 s doubling; the injected jitter draws its maximum


def test_realtime_gives_up_after_max_attempts_with_a_retryable_error(runtime, clock) -> None:
    client, stubber = runtime
    for _ in range(3):
        error(stubber, REALTIME, "ServiceUnavailable", 503)

    with pytest.raises(EndpointUnavailableError) as caught:
        invoker(client, clock).invoke(REALTIME, REQUEST)

    assert caught.value.retryable
    assert caught.value.details["attempts"] == 3
    assert caught.value.details["code"] == "ServiceUnavailable"
    assert clock.sleeps == [0.5, 1.0]


def test_realtime_backoff_is_capped_and_jittered(runtime, clock) -> None:
    client, stubber = runtime
    for _ in range(4):
        error(stubber, REALTIME, "ThrottlingException", 400)
    policy = RealtimePolicy(max_attempts=4, base_delay_s=2.0, max_delay_s=5.0)
    draws = iter([0.5, 0.25, 1.0])
    target = InferenceInvoker(
        client=client, clock=clock, sleeper=clock.sleep, rand=lambda: next(draws), realtime=policy
    )

    with pytest.raises(EndpointUnavailableError):
        target.invoke(REALTIME, REQUEST)

    assert clock.sleeps == [1.0, 1.0, 5.0]  # caps 2, 4, 5 (not 8) times the draws


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("ModelError", 424, "Received client error (400) from primary with message 'bad input'"),
        ("ValidationError", 400, "Endpoint scoring-realtime of account 123456789012 not found."),
    ],
)
def test_realtime_model_and_validation_errors_are_terminal_and_not_retried(
    runtime, clock, code: str, status: int, message: str
) -> None:
    client, stubber = runtime
    error(stubber, REALTIME, code, status, message)

    with pytest.raises(ModelInvocationError, match=code) as caught:
        invoker(client, clock).invoke(REALTIME, REQUEST)

    assert not caught.value.retryable
    assert clock.sleeps == []


def test_realtime_connection_errors_are_retried(clock) -> None:
    failing = RaisingClient(clock, [EndpointConnectionError(endpoint_url="https://runtime.sagemaker")] * 3)

    with pytest.raises(EndpointUnavailableError):
        invoker(failing, clock).invoke(REALTIME, REQUEST)

    assert failing.calls == 3


def test_realtime_answer_cut_while_reading_is_retried(runtime, clock) -> None:
    client, stubber = runtime

    class CutBody:
        def read(self) -> bytes:
            raise IncompleteReadError(actual_bytes=3, expected_bytes=16)

    stubber.add_response(
        "invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"{}"), 2)}, expected_params(REALTIME)
    )
    ok(stubber, REALTIME)

    class FirstBodyCut:
        def __init__(self) -> None:
            self.calls = 0

        def invoke_endpoint(self, **params: Any) -> Any:
            self.calls += 1
            response = client.invoke_endpoint(**params)
            return {**response, "Body": CutBody()} if self.calls == 1 else response

    response = invoker(FirstBodyCut(), clock).invoke(REALTIME, REQUEST)

    assert response.attempts == 2
    assert clock.sleeps == [0.5]


def test_realtime_read_timeout_is_not_repeated_inside_the_function(clock) -> None:
    # The model took longer than the read timeout; sending it again would only wait again.
    failing = RaisingClient(clock, [ReadTimeoutError(endpoint_url="https://runtime.sagemaker")], duration=70)

    with pytest.raises(EndpointUnavailableError):
        invoker(failing, clock).invoke(REALTIME, REQUEST)

    assert failing.calls == 1


def test_realtime_refuses_a_body_over_6_mb_before_calling(runtime, clock) -> None:
    client, _ = runtime  # no response queued: any call would fail the Stubber
    too_big = InferenceRequest(b"x" * (REALTIME_MAX_PAYLOAD_BYTES + 1))

    with pytest.raises(PayloadTooLargeError) as caught:
        invoker(client, clock).invoke(REALTIME, too_big)

    assert caught.value.details == {"size": 6_291_457, "limit": 6_291_456, "path": "realtime_endpoint"}


def test_realtime_accepts_exactly_6_mb(runtime, clock) -> None:
    client, stubber = runtime
    body = b"x" * REALTIME_MAX_PAYLOAD_BYTES
    stubber.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(b"{}"), 2), "ContentType": "application/json"},
        {"EndpointName": REALTIME.endpoint_name, "Body": body, "ContentType": "application/octet-stream"},
    )

    response = invoker(client, clock).invoke(REALTIME, InferenceRequest(body, "application/octet-stream"))

    assert response.invoked_variant is None
    assert response.body == b"{}"


def test_realtime_is_never_reported_as_a_cold_start(runtime, clock) -> None:
    client, stubber = runtime
    ok(stubber, REALTIME)

    response = invoker(SlowClient(client, clock, [9.0]), clock).invoke(REALTIME, REQUEST)

    assert response.latency_ms == 9000
    assert response.cold_start is False
    assert cold_start_count() == 0


# --- serverless ----------------------------------------------------------------------------------


def test_serverless_retries_model_not_ready_after_3_s_up_to_twice(runtime, clock) -> None:
    client, stubber = runtime
    error(stubber, SERVERLESS, "ModelNotReadyException", 429, "Model is not ready")
    error(stubber, SERVERLESS, "ModelNotReadyException", 429, "Model is not ready")
    ok(stubber, SERVERLESS)

    response = invoker(client, clock).invoke(SERVERLESS, REQUEST)

    assert clock.sleeps == [3.0, 3.0]
    assert response.attempts == 3
    assert response.cold_start is True  # not-ready answers on the way, although only 6 s passed
    assert cold_start_count() == 1


def test_serverless_raises_the_typed_cold_start_timeout_when_retries_run_out(runtime, clock) -> None:
    client, stubber = runtime
    for _ in range(3):
        error(stubber, SERVERLESS, "ModelNotReadyException", 429)

    with pytest.raises(ServerlessColdStartTimeoutError) as caught:
        invoker(client, clock).invoke(SERVERLESS, REQUEST)

    assert caught.value.retryable  # transient by nature; the ASL Catch chooses the fallback
    assert caught.value.details["attempts"] == 3
    assert caught.value.details["elapsed_s"] == 6.0
    assert clock.sleeps == [3.0, 3.0]
    assert cold_start_count() == 0  # no answer, no latency to report


@pytest.mark.parametrize(("latency_s", "cold"), [(4.0, False), (5.0, False), (5.001, True), (45.0, True)])
def test_serverless_latency_over_5_s_is_a_cold_start_metric(
    runtime, clock, latency_s: float, cold: bool
) -> None:
    client, stubber = runtime
    ok(stubber, SERVERLESS)

    response = invoker(SlowClient(client, clock, [latency_s]), clock).invoke(SERVERLESS, REQUEST)

    assert response.cold_start is cold
    assert cold_start_count() == (1 if cold else 0)


def test_serverless_read_timeout_past_the_budget_falls_back_at_once(clock) -> None:
    # Given a first attempt that reads for the full initial timeout (60 s) without an answer
    failing = RaisingClient(clock, [ReadTimeoutError(endpoint_url="https://runtime.sagemaker")], duration=60)

    # When a retry could not finish within the 120 s task timeout (60 + 3 + 60 > 120)
    with pytest.raises(ServerlessColdStartTimeoutError) as caught:
        invoker(failing, clock).invoke(SERVERLESS, REQUEST)

    # Then it gives up now, before Step Functions times the task out
    assert failing.calls == 1
    assert clock.sleeps == []
    assert caught.value.details["elapsed_s"] == 60.0


def test_serverless_short_read_timeout_is_retried_like_a_cold_start(clock) -> None:
    timeouts = [ReadTimeoutError(endpoint_url="https://runtime.sagemaker") for _ in range(3)]
    failing = RaisingClient(clock, timeouts, duration=20)
    policy = ServerlessPolicy(initial_timeout_s=20, retry_delay_s=3, max_retries=2, task_timeout_s=120)

    with pytest.raises(ServerlessColdStartTimeoutError):
        invoker(failing, clock, serverless=policy).invoke(SERVERLESS, REQUEST)

    assert failing.calls == 3
    assert clock.now - 1_000.0 <= 120


def test_serverless_throttling_is_retried_then_reported_unavailable(runtime, clock) -> None:
    client, stubber = runtime
    for _ in range(3):
        error(stubber, SERVERLESS, "ThrottlingException", 400)

    with pytest.raises(EndpointUnavailableError):
        invoker(client, clock).invoke(SERVERLESS, REQUEST)

    assert clock.sleeps == [0.5, 1.0]


def test_serverless_refuses_a_body_over_4_mb(runtime, clock) -> None:
    client, _ = runtime
    with pytest.raises(PayloadTooLargeError, match="at most 4194304 bytes"):
        invoker(client, clock).invoke(SERVERLESS, InferenceRequest(b"x" * (SERVERLESS_MAX_PAYLOAD_BYTES + 1)))


def test_serverless_client_is_created_lazily_with_the_initial_read_timeout(runtime, clock) -> None:
    client, stubber = runtime
    ok(stubber, SERVERLESS)
    made: list[float] = []

    def factory(read_timeout_s: float) -> Any:
        made.append(read_timeout_s)
        return client

    target = InferenceInvoker(client_factory=factory, clock=clock, sleeper=clock.sleep)
    assert made == []  # nothing at construction
    target.invoke(SERVERLESS, REQUEST)
    assert made == [60.0]


@pytest.mark.parametrize(
    ("initial", "delay", "retries", "task"),
    [(60, 3, 2, 60), (60, 31, 2, 120), (100, 3, 7, 120), (121, 0, 0, 120)],
)
def test_serverless_policy_refuses_a_retry_budget_over_the_task_timeout(
    initial: float, delay: float, retries: int, task: float
) -> None:
    with pytest.raises(InvalidInputError, match="exceeds the Step Functions task timeout") as caught:
        ServerlessPolicy(
            initial_timeout_s=initial, retry_delay_s=delay, max_retries=retries, task_timeout_s=task
        )
    assert caught.value.field == "serverless_policy"


def test_serverless_policy_accepts_a_budget_equal_to_the_task_timeout() -> None:
    policy = ServerlessPolicy(initial_timeout_s=60, retry_delay_s=30, max_retries=2, task_timeout_s=120)
    assert policy.retry_budget_s == 120


@pytest.mark.parametrize(
    "overrides",
    [
        {"initial_timeout_s": 0},
        {"retry_delay_s": -1},
        {"max_retries": 2.5},
        {"max_retries": True},
        {"task_timeout_s": "120"},
    ],
)
def test_serverless_policy_rejects_malformed_values(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        ServerlessPolicy(**overrides)


# --- inference components ------------------------------------------------------------------------


def test_components_are_invoked_by_component_name(runtime, clock) -> None:
    client, stubber = runtime
    ok(stubber, COMPONENTS)

    response = invoker(client, clock).invoke(COMPONENTS, REQUEST)

    assert response.inference_component == "scoring-model"
    assert response.cold_start is False


def test_components_wait_for_scale_from_zero_with_doubling_backoff(runtime, clock) -> None:
    client, stubber = runtime
    for _ in range(3):
        error(stubber, COMPONENTS, "ValidationError", 400, NO_CAPACITY)
    ok(stubber, COMPONENTS)

    response = invoker(client, clock).invoke(COMPONENTS, REQUEST)

    assert clock.sleeps == [5.0, 10.0, 20.0]
    assert response.attempts == 4
    assert response.cold_start is True
    assert cold_start_count() == 1


def test_components_give_up_within_300_s_with_the_typed_error(runtime, clock) -> None:
    client, stubber = runtime
    for _ in range(10):
        error(stubber, COMPONENTS, "ValidationError", 400, NO_CAPACITY)

    with pytest.raises(ComponentsColdStartTimeoutError) as caught:
        invoker(client, clock).invoke(COMPONENTS, REQUEST)

    # 5, 10, 20, then 30 s steps; no retry starts that could still be reading (70 s) at 300 s
    assert clock.sleeps == [5.0, 10.0, 20.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0]
    assert sum(clock.sleeps) + 70 <= 300
    assert caught.value.details["attempts"] == 10


def test_components_treat_model_not_ready_as_scale_from_zero(runtime, clock) -> None:
    client, stubber = runtime
    error(stubber, COMPONENTS, "ModelNotReadyException", 429)
    ok(stubber, COMPONENTS)

    assert invoker(client, clock).invoke(COMPONENTS, REQUEST).cold_start is True
    assert clock.sleeps == [5.0]


@pytest.mark.parametrize(
    "message",
    [
        "Inference Component Name header is required for endpoints to which you plan to deploy inference "
        "components. Please include Inference Component Name header or consider using SageMaker models.",
        "Inference Component scoring-model of account 123456789012 not found.",
        "Model scoring-model is not ready: its artifacts could not be downloaded",
    ],
)
def test_components_other_validation_errors_are_not_cold_starts(runtime, clock, message: str) -> None:
    client, stubber = runtime
    error(stubber, COMPONENTS, "ValidationError", 400, message)

    with pytest.raises(ModelInvocationError):
        invoker(client, clock).invoke(COMPONENTS, REQUEST)

    assert clock.sleeps == []


def test_no_capacity_is_only_a_cold_start_on_the_components_path(runtime, clock) -> None:
    client, stubber = runtime
    error(stubber, REALTIME, "ValidationError", 400, NO_CAPACITY)

    with pytest.raises(ModelInvocationError):
        invoker(client, clock).invoke(REALTIME, REQUEST)


def test_components_policy_delays() -> None:
    assert [ComponentsPolicy().delay(n) for n in range(6)] == [5, 10, 20, 30, 30, 30]


# --- response transparency, targets, settings --------------------------------------------------


def test_every_path_answers_with_the_same_keys(runtime, clock) -> None:
    client, stubber = runtime
    for target in (REALTIME, SERVERLESS, COMPONENTS):
        ok(stubber, target)
    answers = [
        invoker(client, clock).invoke(target, REQUEST).to_dict()
        for target in (REALTIME, SERVERLESS, COMPONENTS)
    ]
    assert [set(answer) for answer in answers] == [set(RESPONSE_KEYS)] * 3
    assert [answer["path"] for answer in answers] == [
        "realtime_endpoint",
        "serverless_inference",
        "inference_components",
    ]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((InferencePath.BATCH_TRANSFORM, "x"), "path"),
        ((InferencePath.REALTIME_ENDPOINT, "bad_name"), "endpoint_name"),
        ((InferencePath.INFERENCE_COMPONENTS, "ep"), "inference_component"),
        ((InferencePath.SERVERLESS_INFERENCE, "ep", "component"), "inference_component"),
    ],
)
def test_targets_are_validated(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        InferenceTarget(*args)
    assert caught.value.field == field


def test_requests_are_validated() -> None:
    with pytest.raises(InvalidInputError):
        InferenceRequest("text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        InferenceRequest(b"{}", "")


def test_settings_from_env_build_targets_and_policies() -> None:
    settings = InferenceSettings.from_env(
        {
            "SERVERLESS_ENDPOINT_NAME": "scoring-serverless",
            "COMPONENTS_ENDPOINT_NAME": "scoring-ic",
            "INFERENCE_COMPONENT_NAME": "scoring-model",
            "SERVERLESS_RETRY_DELAY_SECONDS": "1",
        }
    )
    assert settings.target("serverless_inference") == SERVERLESS
    assert settings.target(InferencePath.INFERENCE_COMPONENTS) == COMPONENTS
    assert settings.serverless.retry_delay_s == 1.0
    assert settings.invoker().serverless is settings.serverless
    with pytest.raises(InvalidInputError, match="not deployed"):
        settings.target("realtime_endpoint")
    with pytest.raises(InvalidInputError, match="unknown inference path"):
        settings.target("gpu")


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"SERVERLESS_RETRY_DELAY_SECONDS": "40"}, "serverless_policy"),  # 60 + 40 x 2 > 120
        ({"SERVERLESS_MAX_RETRIES": "two"}, "SERVERLESS_MAX_RETRIES"),
        ({"SERVERLESS_TASK_TIMEOUT_SECONDS": "soon"}, "SERVERLESS_TASK_TIMEOUT_SECONDS"),
    ],
)
def test_settings_fail_at_start_on_a_bad_time_budget(environ: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        InferenceSettings.from_env(environ)
    assert caught.value.field == field


def test_importing_the_inference_modules_creates_no_client() -> None:
    # A fresh interpreter whose boto3.client/boto3.resource explode proves nothing is made at import.
    code = (
        "import boto3\n"
        "def boom(*a, **k): raise SystemExit('client created at import')\n"
        "boto3.client = boto3.resource = boom\n"
        "import shared.routing, shared.inference, shared.cost_validation, shared.task_token_store\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
