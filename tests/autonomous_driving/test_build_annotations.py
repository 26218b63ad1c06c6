"""BuildAnnotationsFunction: COCO from prediction parts or from Batch Transform output."""

from __future__ import annotations

import json

import pytest
from autonomous_driving.annotations import AnnotationSettings, build_annotations
from autonomous_driving.handlers import build_annotations as handler_module
from autonomous_driving.handlers import check_quality

from sandbox.scenarios.autonomous_driving import model_answer
from shared.errors import InvalidInputError
from shared.s3ap import OutputLocation, write_jsonl
from tests.autonomous_driving.helpers import OUTPUT, RUN_ID

OUTPUT_PREFIX = f"runs/{RUN_ID}/batch-transform/output/"


@pytest.fixture
def checked_frames(drive_world, lambda_context, monkeypatch) -> list[str]:
    """QC records of every camera frame (the annotations' image sizes), passing ones returned."""
    monkeypatch.setenv("MODEL_LABELS", "car,truck,pedestrian,cyclist")
    frames = sorted(key for key, item in drive_world.files.items() if item.kind in ("png", "jpeg"))
    check_quality.handler({"run_id": RUN_ID, "batch": 0, "keys": frames}, lambda_context)
    return [key for key in frames if not drive_world.files[key].corrupt]


def _coco(drive_world) -> dict:
    return json.loads(drive_world.output(f"runs/{RUN_ID}/annotations/coco.json"))


def test_handler_builds_coco_from_batch_transform_output(
    drive_world, checked_frames, lambda_context, event_loader
):
    # Given the transform job's output: one <key>.out per frame, but one frame's answer missing
    for key in checked_frames[1:]:
        drive_world.s3.put_object(
            Bucket=OUTPUT, Key=f"{OUTPUT_PREFIX}{key}.out", Body=model_answer(drive_world.files[key])
        )
    # When the annotations are built
    result = handler_module.handler(event_loader("autonomous-driving/build_annotations"), lambda_context)
    coco = _coco(drive_world)
    # Then every frame that passed QC is an image, each ground-truth box one annotation
    expected = sum(len(drive_world.files[key].expected["objects"]) for key in checked_frames[1:])
    assert (result["images"], result["annotations"], result["errors"]) == (12, expected, 1)
    assert [image["file_name"] for image in coco["images"]] == checked_frames
    assert {(image["width"], image["height"]) for image in coco["images"]} == {(160, 120)}
    assert [category["name"] for category in coco["categories"]][:4] == [
        "car",
        "truck",
        "pedestrian",
        "cyclist",
    ]
    first = drive_world.files[checked_frames[1]].expected["objects"][0]
    x0, y0, x1, y1 = first["box"]
    assert coco["annotations"][0]["bbox"] == [x0, y0, x1 - x0, y1 - y0]
    assert coco["annotations"][0]["image_id"] == 2
    assert result["error_samples"] == {checked_frames[0]: "no Batch Transform output"}


def test_flat_output_names_are_found_too(drive_world, checked_frames) -> None:
    key = checked_frames[0]
    name = key.rsplit("/", 1)[1]
    drive_world.s3.put_object(Bucket=OUTPUT, Key=f"{OUTPUT_PREFIX}{name}.out", Body=b'{"detections": []}')
    drive_world.s3.put_object(Bucket=OUTPUT, Key=f"{OUTPUT_PREFIX}{checked_frames[1]}.out", Body=b"garbage")
    settings = AnnotationSettings(OutputLocation(OUTPUT), ("car",), 0.0, "m")
    result = build_annotations(
        settings,
        RUN_ID,
        {"path": "batch_transform", "output_uri": f"s3://{OUTPUT}/{OUTPUT_PREFIX.rstrip('/')}"},
    )
    assert (result["frames_without_predictions"], result["errors"]) == (11, 11)
    assert result["error_samples"][checked_frames[1]].startswith("model_output")


def test_coco_from_the_synchronous_paths_prediction_parts(drive_world, checked_frames) -> None:
    lines = [
        {
            "key": checked_frames[0],
            "status": "ok",
            "detections": [{"label": "car", "box": [1, 2, 11, 22], "score": 0.5}],
        },
        {"key": checked_frames[1], "status": "error", "error": "ModelInvocationError", "message": "boom"},
    ]
    write_jsonl(OutputLocation(OUTPUT), RUN_ID, "inference/predictions/part-00000000.jsonl", lines)
    settings = AnnotationSettings(OutputLocation(OUTPUT), ("car",), 0.0, "m")
    result = build_annotations(settings, RUN_ID, {"path": "serverless_inference"})
    coco = _coco(drive_world)
    assert (result["annotations"], result["errors"], result["frames_with_detections"]) == (1, 1, 1)
    assert coco["annotations"][0]["bbox"] == [1.0, 2.0, 10.0, 20.0]


def test_bad_inputs_are_refused(drive_world, lambda_context) -> None:
    with pytest.raises(InvalidInputError):
        handler_module.handler({"run_id": RUN_ID, "inference": {"status": "skipped"}}, lambda_context)
    with pytest.raises(InvalidInputError):
        build_annotations(
            AnnotationSettings(OutputLocation(OUTPUT), (), 0.0, "m"),
            RUN_ID,
            {"path": "batch_transform", "output_uri": "x"},
        )
    with pytest.raises(InvalidInputError):
        AnnotationSettings.from_env({"OUTPUT_BUCKET": OUTPUT, "MIN_DETECTION_SCORE": "x"})
    with pytest.raises(InvalidInputError):
        AnnotationSettings.from_env({})
