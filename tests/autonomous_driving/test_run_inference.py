"""InferenceFunction: slices of frames on a synchronous path, per-frame errors, path-level failures."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from autonomous_driving.frame_inference import FrameInference, FrameInferenceSettings, InferenceStep
from autonomous_driving.handlers import run_inference
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from sandbox.scenarios.autonomous_driving import ModelEndpoints, model_answer, queue_model_answers
from shared.errors import InvalidInputError, S3AccessError, ServerlessColdStartTimeoutError
from shared.routing import InferencePath
from tests.autonomous_driving.helpers import OUTPUT, RUN_ID

FRAMES_KEY = f"runs/{RUN_ID}/frames.json"


def _error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "InvokeEndpoint",
    )


class FakeRuntime:
    """A sagemaker-runtime client whose answer to each request is chosen by the test."""

    def __init__(self, answer: Callable[[dict[str, Any]], bytes | Exception]) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        outcome = self.answer(params)
        if isinstance(outcome, Exception):
            raise outcome
        return {
            "Body": StreamingBody(io.BytesIO(outcome), len(outcome)),
            "ContentType": "application/json",
            "InvokedProductionVariant": "AllTraffic",
        }


@pytest.fixture
def frames(drive_world, monkeypatch) -> list[str]:
    """frames.json of the drive log's good frames, and the function's environment."""
    good = sorted(
        key for key, item in drive_world.files.items() if item.kind in ("png", "jpeg") and not item.corrupt
    )
    batches = [{"keys": good[:5]}, {"keys": good[5:]}]
    drive_world.s3.put_object(Bucket=OUTPUT, Key=FRAMES_KEY, Body=json.dumps(batches).encode())
    for name, value in {
        "REALTIME_ENDPOINT_NAME": "drive-log-realtime",
        "SERVERLESS_ENDPOINT_NAME": "drive-log-serverless",
        "COMPONENTS_ENDPOINT_NAME": "drive-log-components",
        "INFERENCE_COMPONENT_NAME": "drive-log-detector",
        "INFERENCE_CONTENT_TYPE": "application/x-image",
        "FRAMES_PER_INVOCATION": "5",
        "MODEL_LABELS": "car,truck,pedestrian,cyclist",
    }.items():
        monkeypatch.setenv(name, value)
    return good


def _step(path: InferencePath, cursor: int = 0) -> InferenceStep:
    return InferenceStep.from_event(
        {
            "run_id": RUN_ID,
            "path": path.value,
            "frames": {"bucket": OUTPUT, "key": FRAMES_KEY},
            "cursor": cursor,
        }
    )


def _answers(drive_world) -> Callable[[dict[str, Any]], bytes]:
    by_body = {
        item.data: model_answer(item)
        for item in drive_world.files.values()
        if item.kind in ("png", "jpeg") and not item.corrupt
    }
    return lambda params: by_body[params["Body"]]


def _part(drive_world, cursor: int) -> list[dict[str, Any]]:
    text = drive_world.output(f"runs/{RUN_ID}/inference/predictions/part-{cursor:08d}.jsonl").decode()
    return [json.loads(line) for line in text.splitlines()]


def test_frames_go_out_a_slice_per_invocation_until_done(drive_world, frames) -> None:
    # Given 12 good frames, 5 per invocation, and a model that answers each frame's boxes
    runtime = FakeRuntime(_answers(drive_world))
    inference = FrameInference(FrameInferenceSettings.from_env(os.environ), client=runtime)
    # When the state machine loops over the cursor
    results = []
    cursor = 0
    while not results or not results[-1]["done"]:
        results.append(inference.run(_step(InferencePath.SERVERLESS_INFERENCE, cursor)))
        cursor = results[-1]["cursor"]
    # Then three slices covered every frame once, in manifest order, with the model's boxes
    assert [(r["cursor"], r["frames"], r["done"]) for r in results] == [
        (5, 5, False),
        (10, 5, False),
        (12, 2, True),
    ]
    lines = _part(drive_world, 0) + _part(drive_world, 5) + _part(drive_world, 10)
    assert [line["key"] for line in lines] == frames
    for line in lines:
        truth = drive_world.files[line["key"]].expected
        assert [d["box"] for d in line["detections"]] == [
            [float(v) for v in o["box"]] for o in truth["objects"]
        ]
        assert (line["width"], line["height"]) == (160, 120)
    # And each request was the frame's own bytes with the model's content type, on the serverless endpoint
    assert {call["EndpointName"] for call in runtime.calls} == {"drive-log-serverless"}
    assert {call["ContentType"] for call in runtime.calls} == {"application/x-image"}
    assert runtime.calls[0]["Body"] == drive_world.files[frames[0]].data


def test_a_frame_the_model_rejects_is_recorded_and_the_slice_goes_on(drive_world, frames) -> None:
    bad = drive_world.files[frames[1]].data
    answers = _answers(drive_world)
    runtime = FakeRuntime(lambda p: _error("ModelError", 424, "boom") if p["Body"] == bad else answers(p))
    result = FrameInference(FrameInferenceSettings.from_env(os.environ), client=runtime).run(
        _step(InferencePath.REALTIME_ENDPOINT)
    )
    lines = _part(drive_world, 0)
    assert (result["frames"], result["errors"]) == (5, 1)
    assert (lines[1]["status"], lines[1]["error"]) == ("error", "ModelInvocationError")
    assert all(line["status"] == "ok" for line in lines[:1] + lines[2:])


def test_an_answer_outside_the_contract_is_a_frame_error(drive_world, frames) -> None:
    runtime = FakeRuntime(lambda p: b"<html>oops</html>")
    result = FrameInference(FrameInferenceSettings.from_env(os.environ), client=runtime).run(
        _step(InferencePath.REALTIME_ENDPOINT)
    )
    assert (result["frames"], result["errors"]) == (5, 5)
    assert _part(drive_world, 0)[0]["field"] == "model_output"


def test_a_serverless_endpoint_that_stays_cold_fails_the_path_for_the_fallback(drive_world, frames) -> None:
    # Given a serverless endpoint answering ModelNotReadyException, and a sleeper that does not sleep
    runtime = FakeRuntime(lambda p: _error("ModelNotReadyException", 429, "not ready"))
    inference = FrameInference(
        FrameInferenceSettings.from_env(os.environ), client=runtime, sleeper=lambda s: None
    )
    # When the slice runs, then the typed error the ASL Catch names is raised after 1 + 2 attempts
    with pytest.raises(ServerlessColdStartTimeoutError):
        inference.run(_step(InferencePath.SERVERLESS_INFERENCE))
    assert len(runtime.calls) == 3
    # And no part was left behind
    with pytest.raises(drive_world.s3.exceptions.NoSuchKey):
        drive_world.output(f"runs/{RUN_ID}/inference/predictions/part-00000000.jsonl")


def test_a_frame_too_large_for_serverless_is_refused_before_any_call(drive_world, frames) -> None:
    drive_world.s3.put_object(
        Bucket=OUTPUT, Key=FRAMES_KEY, Body=json.dumps([{"keys": ["big/frame.jpg"]}]).encode()
    )
    drive_world.put("big/frame.jpg", b"\xff\xd8" + bytes(5 << 20))
    runtime = FakeRuntime(lambda p: b"{}")
    result = FrameInference(FrameInferenceSettings.from_env(os.environ), client=runtime).run(
        _step(InferencePath.SERVERLESS_INFERENCE)
    )
    assert (result["errors"], runtime.calls) == (1, [])
    assert _part(drive_world, 0)[0]["error"] == "PayloadTooLargeError"


def test_a_replayed_invocation_continues_after_the_part_already_written(drive_world, frames) -> None:
    runtime = FakeRuntime(_answers(drive_world))
    inference = FrameInference(FrameInferenceSettings.from_env(os.environ), client=runtime)
    first = inference.run(_step(InferencePath.INFERENCE_COMPONENTS))
    replay = inference.run(_step(InferencePath.INFERENCE_COMPONENTS))
    assert (first["cursor"], replay["cursor"]) == (5, 5)
    assert replay["part"] == first["part"]


def test_an_invocation_stops_starting_frames_after_half_its_task_time(drive_world, frames) -> None:
    now = [0.0]

    def slow(params: dict[str, Any]) -> bytes:
        now[0] += 70.0  # each answer takes 70 s: the 120 s realtime task allows one before halfway
        return b'{"detections": []}'

    inference = FrameInference(
        FrameInferenceSettings.from_env(os.environ), client=FakeRuntime(slow), clock=lambda: now[0]
    )
    result = inference.run(_step(InferencePath.REALTIME_ENDPOINT))
    assert (result["frames"], result["cursor"], result["done"]) == (1, 1, False)


def test_handler_with_its_event_file_on_moto(drive_world, frames, lambda_context, event_loader) -> None:
    # Given moto's sagemaker-runtime answering each frame in order (the sandbox's model adapter),
    # and the event's frames list on the volume naming the first two good frames
    region = type("World", (), {"region": "ap-northeast-1"})()
    queue_model_answers(region, [model_answer(drive_world.files[key]) for key in frames[:2]])
    # When the function runs with its event file
    with ModelEndpoints() as endpoints:
        result = run_inference.handler(event_loader("autonomous-driving/run_inference"), lambda_context)
    # Then both frames went to the serverless endpoint and came back with their boxes
    assert (result["path"], result["frames"], result["errors"], result["done"]) == (
        "serverless_inference",
        2,
        0,
        True,
    )
    assert endpoints.calls == [("drive-log-serverless", "ok")] * 2
    assert [len(line["detections"]) for line in _part(drive_world, 0)] == [
        len(drive_world.files[key].expected["objects"]) for key in frames[:2]
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"run_id": "", "path": "realtime_endpoint", "frames": {"bucket": "b", "key": "k"}, "cursor": 0},
        {"run_id": "r", "path": "gpu", "frames": {"bucket": "b", "key": "k"}, "cursor": 0},
        {"run_id": "r", "path": "batch_transform", "frames": {"bucket": "b", "key": "k"}, "cursor": 0},
        {"run_id": "r", "path": "realtime_endpoint", "frames": "k", "cursor": 0},
        {"run_id": "r", "path": "realtime_endpoint", "frames": {"bucket": "b", "key": "k"}, "cursor": -1},
        [],
    ],
)
def test_malformed_steps_are_refused(event: Any) -> None:
    with pytest.raises(InvalidInputError):
        InferenceStep.from_event(event)


def test_settings_and_missing_frames_manifest(drive_world, frames, monkeypatch) -> None:
    monkeypatch.setenv("FRAMES_PER_INVOCATION", "0")
    with pytest.raises(InvalidInputError):
        FrameInferenceSettings.from_env(os.environ)
    monkeypatch.setenv("FRAMES_PER_INVOCATION", "2")
    monkeypatch.setenv("MIN_DETECTION_SCORE", "high")
    with pytest.raises(InvalidInputError):
        FrameInferenceSettings.from_env(os.environ)
    monkeypatch.setenv("MIN_DETECTION_SCORE", "0.5")
    inference = FrameInference(
        FrameInferenceSettings.from_env(os.environ), client=FakeRuntime(lambda p: b"{}")
    )
    missing = InferenceStep(
        RUN_ID, InferencePath.REALTIME_ENDPOINT, _step(InferencePath.REALTIME_ENDPOINT).frames, 0
    )
    drive_world.s3.delete_object(Bucket=OUTPUT, Key=FRAMES_KEY)
    with pytest.raises(S3AccessError):
        inference.run(missing)
    drive_world.s3.put_object(Bucket=OUTPUT, Key=FRAMES_KEY, Body=b"{}")
    with pytest.raises(InvalidInputError):
        inference.run(missing)
