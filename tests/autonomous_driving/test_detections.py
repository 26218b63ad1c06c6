"""The model-output contract and the COCO document built from it."""

from __future__ import annotations

import json

import pytest
from autonomous_driving.coco import build_coco
from autonomous_driving.detections import Detection, parse_model_output

from shared.errors import InvalidInputError

LABELS = ("car", "truck", "pedestrian", "cyclist")


def _parse(document: object, **options: object) -> list[Detection]:
    return parse_model_output(json.dumps(document).encode(), width=640, height=480, labels=LABELS, **options)  # type: ignore[arg-type]


def test_pixel_detections_are_clipped_to_the_frame_and_filtered_by_score() -> None:
    found = _parse(
        {
            "detections": [
                {"label": "car", "box": [600, 400, 700, 500], "score": 0.9},
                {"label": "truck", "box": [10, 10, 20, 20], "score": 0.2},
                {"label": "cyclist", "box": [5, 5, 5, 50]},
            ]
        },
        min_score=0.5,
    )
    assert found == [Detection("car", (600.0, 400.0, 640.0, 480.0), 0.9)]


def test_sagemaker_object_detection_output_is_normalised_coordinates() -> None:
    found = _parse({"prediction": [[2, 0.8, 0.25, 0.5, 0.5, 1.0], [7, 0.6, 0.0, 0.0, 0.1, 0.1]]})
    assert found == [
        Detection("pedestrian", (160.0, 240.0, 320.0, 480.0), 0.8),
        Detection("class_7", (0.0, 0.0, 64.0, 48.0), 0.6),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"boxes": []}).encode(),
        json.dumps({"detections": {}}).encode(),
        json.dumps({"detections": [{"label": "car", "box": [1, 2, 3]}]}).encode(),
        json.dumps({"detections": [{"box": [1, 2, 3, 4]}]}).encode(),
        json.dumps({"detections": [{"label": "car", "box": [1, 2, "3", 4]}]}).encode(),
        json.dumps({"detections": ["car"]}).encode(),
        json.dumps({"prediction": [[1, 0.5, 0, 0, 1]]}).encode(),
        json.dumps({"prediction": [[-1, 0.5, 0, 0, 1, 1]]}).encode(),
        json.dumps({"prediction": {}}).encode(),
        b'{"detections": [{"label": "car", "box": [0, 0, 1, 1], "score": NaN}]}',
    ],
)
def test_answers_outside_the_contract_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_model_output(body, width=64, height=48, labels=LABELS)
    assert raised.value.field == "model_output"


def test_coco_document_has_stable_categories_and_xywh_boxes() -> None:
    detections = {
        "b.png": [
            Detection("truck", (10.0, 20.0, 40.0, 60.0), 0.75),
            Detection("forklift", (0.0, 0.0, 1.0, 2.0)),
        ],
        "a.png": [Detection("car", (1.5, 2.5, 3.5, 6.5), 0.9)],
    }
    coco = build_coco(
        [("b.png", 640, 480), ("a.png", 320, 240), ("c.png", 8, 8)],
        detections,
        labels=LABELS,
        run_id="r1",
        model="m",
    )
    assert [image["file_name"] for image in coco["images"]] == ["a.png", "b.png", "c.png"]
    assert [category["name"] for category in coco["categories"]] == [*LABELS, "forklift"]
    assert coco["annotations"][0] == {
        "id": 1,
        "image_id": 1,
        "category_id": 1,
        "bbox": [1.5, 2.5, 2.0, 4.0],
        "area": 8.0,
        "iscrowd": 0,
        "score": 0.9,
    }
    assert coco["annotations"][1]["bbox"] == [10.0, 20.0, 30.0, 40.0]
    assert "score" not in coco["annotations"][2]
    assert coco["annotations"][2]["category_id"] == 5
    assert json.loads(json.dumps(coco)) == coco
