"""Inference invariants (Hypothesis), each checked against production code.

#1 routing is deterministic and picks exactly one path; #2 ServerlessConfig validation accepts
exactly SageMaker's bounds; #3 a serverless invocation never outlives the Step Functions task
timeout, whatever the policy and however the endpoint stays cold; #4 every synchronous path
answers with the same keys (response transparency).
"""

from __future__ import annotations

import io
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from hypothesis import given
from hypothesis import strategies as st

from shared.cost_validation import (
    SERVERLESS_MAX_CONCURRENCY_RANGE,
    SERVERLESS_MEMORY_SIZES_MB,
    ServerlessConfig,
    validate_serverless_config,
)
from shared.errors import InvalidInputError, ServerlessColdStartTimeoutError
from shared.inference import (
    RESPONSE_KEYS,
    InferenceInvoker,
    InferenceRequest,
    InferenceTarget,
    ServerlessPolicy,
)
from shared.routing import INFERENCE_TYPES, InferencePath, determine_inference_path

counts = st.integers(min_value=-10, max_value=10**9)
types = st.one_of(st.sampled_from(INFERENCE_TYPES), st.text(max_size=12))


# --- #1 routing determinism, exactly one path ----------------------------------------------------


def _route(file_count: int, threshold: int, inference_type: str) -> InferencePath | None:
    try:
        return determine_inference_path(file_count, threshold, inference_type)
    except InvalidInputError:
        return None


@given(counts, counts, types)
def test_routing_is_deterministic_and_selects_exactly_one_path(count: int, threshold: int, kind: str) -> None:
    first = _route(count, threshold, kind)
    assert first == _route(count, threshold, kind)
    valid = count >= 0 and threshold >= 0 and kind in INFERENCE_TYPES
    assert (first is not None) == valid
    if first is not None:
        assert isinstance(first, InferencePath)
        assert [path for path in InferencePath if path is first] == [first]


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_fixed_types_ignore_the_counts(
    count_a: int, threshold_a: int, count_b: int, threshold_b: int
) -> None:
    for kind in ("none", "serverless", "components"):
        assert determine_inference_path(count_a, threshold_a, kind) is determine_inference_path(
            count_b, threshold_b, kind
        )


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_provisioned_routing_is_monotonic_in_the_file_count(count: int, threshold: int) -> None:
    # Once a run is big enough for Batch Transform, a bigger one is too.
    here = determine_inference_path(count, threshold, "provisioned")
    bigger = determine_inference_path(count + 1, threshold, "provisioned")
    assert here in (InferencePath.REALTIME_ENDPOINT, InferencePath.BATCH_TRANSFORM)
    if here is InferencePath.BATCH_TRANSFORM:
        assert bigger is InferencePath.BATCH_TRANSFORM


# --- #2 ServerlessConfig validation ---------------------------------------------------------------


@given(st.integers(0, 8192), st.integers(-5, 260), st.one_of(st.none(), st.integers(-5, 260)))
def test_serverless_config_accepts_exactly_sagemakers_bounds(
    memory: int, concurrency: int, provisioned: int | None
) -> None:
    config: dict[str, Any] = {"MemorySizeInMB": memory, "MaxConcurrency": concurrency}
    if provisioned is not None:
        config["ProvisionedConcurrency"] = provisioned
    low, high = SERVERLESS_MAX_CONCURRENCY_RANGE
    expected_ok = (
        memory in SERVERLESS_MEMORY_SIZES_MB
        and low <= concurrency <= high
        and 0 <= (provisioned or 0) <= concurrency
    )
    try:
        validated = validate_serverless_config(config)
    except InvalidInputError:
        assert not expected_ok
    else:
        assert expected_ok
        # What is accepted survives its own API form unchanged (idempotence)
        assert validate_serverless_config(validated.to_api()) == validated
        assert validated == ServerlessConfig(memory, concurrency, provisioned or 0)


# --- #3 serverless timeout bound --------------------------------------------------------------------


class _ColdEndpoint:
    """Never ready: each call answers ModelNotReadyException at once, or reads until the timeout."""

    def __init__(self, clock: list[float], timeouts: list[bool], read_timeout: float) -> None:
        self.clock, self.timeouts, self.read_timeout = clock, timeouts, read_timeout

    def invoke_endpoint(self, **_: Any) -> Any:
        if self.timeouts and self.timeouts.pop(0):
            self.clock[0] += self.read_timeout
            raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker")
        self.clock[0] += 0.05
        raise ClientError(
            {
                "Error": {"Code": "ModelNotReadyException", "Message": "not ready"},
                "ResponseMetadata": {"HTTPStatusCode": 429},
            },
            "InvokeEndpoint",
        )


@given(
    initial=st.floats(1, 200),
    delay=st.floats(0, 60),
    retries=st.integers(0, 10),
    task=st.floats(1, 300),
    timeouts=st.lists(st.booleans(), max_size=12),
)
def test_serverless_invocation_never_outlives_the_task_timeout(
    initial: float, delay: float, retries: int, task: float, timeouts: list[bool]
) -> None:
    try:
        policy = ServerlessPolicy(
            initial_timeout_s=initial, retry_delay_s=delay, max_retries=retries, task_timeout_s=task
        )
    except InvalidInputError:
        # Refused at start exactly when the configured budget does not fit the task timeout
        assert initial + delay * retries > task
        return
    assert initial + delay * retries <= task
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    invoker = InferenceInvoker(
        client=_ColdEndpoint(clock, list(timeouts), initial),
        clock=lambda: clock[0],
        sleeper=sleep,
        serverless=policy,
    )
    target = InferenceTarget(InferencePath.SERVERLESS_INFERENCE, "cold-endpoint")
    try:
        invoker.invoke(target, InferenceRequest(b"{}"))
    except ServerlessColdStartTimeoutError:
        pass
    else:  # pragma: no cover - the endpoint never answers
        raise AssertionError("a never-ready endpoint cannot answer")
    assert clock[0] <= task


# --- #4 response transparency -----------------------------------------------------------------------


class _AnsweringEndpoint:
    def __init__(self, body: bytes, content_type: str, variant: str | None) -> None:
        self.body, self.content_type, self.variant = body, content_type, variant

    def invoke_endpoint(self, **_: Any) -> dict[str, Any]:
        response: dict[str, Any] = {
            "Body": StreamingBody(io.BytesIO(self.body), len(self.body)),
            "ContentType": self.content_type,
        }
        if self.variant is not None:
            response["InvokedProductionVariant"] = self.variant
        return response


TARGETS = (
    InferenceTarget(InferencePath.REALTIME_ENDPOINT, "rt"),
    InferenceTarget(InferencePath.SERVERLESS_INFERENCE, "sl"),
    InferenceTarget(InferencePath.INFERENCE_COMPONENTS, "ic", "model-a"),
)


@given(
    body=st.binary(max_size=512),
    content_type=st.sampled_from(["application/json", "text/csv", "application/x-npy", ""]),
    variant=st.one_of(st.none(), st.text(min_size=1, max_size=8)),
)
def test_every_path_answers_with_identical_keys(body: bytes, content_type: str, variant: str | None) -> None:
    answers = [
        InferenceInvoker(client=_AnsweringEndpoint(body, content_type, variant), clock=lambda: 0.0)
        .invoke(target, InferenceRequest(b"{}"))
        .to_dict()
        for target in TARGETS
    ]
    assert all(set(answer) == RESPONSE_KEYS for answer in answers)
    assert {answer["body_bytes"] for answer in answers} == {len(body)}
    assert {answer["invoked_variant"] for answer in answers} == {variant}
