"""COCO object-detection annotations (https://cocodataset.org/#format-data) from model detections.

``images`` are the frames that passed QC (id, file_name = the key on the volume, width, height);
``annotations`` one per detection with ``bbox`` = [x, y, width, height] in pixels, ``area``,
``iscrowd`` 0 and the model's ``score``; ``categories`` are the stack's ``ModelLabels`` in order
(ids from 1, stable across runs), then any label the model invented, sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from autonomous_driving.detections import Detection


def build_coco(
    images: Iterable[tuple[str, int, int]],
    detections: Mapping[str, Sequence[Detection]],
    *,
    labels: Sequence[str],
    run_id: str,
    model: str,
) -> dict[str, Any]:
    frames = sorted(images)
    seen = {detection.label for found in detections.values() for detection in found}
    names = list(dict.fromkeys(labels)) + sorted(seen - set(labels))
    category_ids = {name: index for index, name in enumerate(names, start=1)}
    coco_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (key, width, height) in enumerate(frames, start=1):
        coco_images.append({"id": image_id, "file_name": key, "width": width, "height": height})
        for detection in detections.get(key, ()):
            x0, y0, x1, y1 = detection.box
            w, h = round(x1 - x0, 3), round(y1 - y0, 3)
            annotation: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category_ids[detection.label],
                "bbox": [x0, y0, w, h],
                "area": round(w * h, 3),
                "iscrowd": 0,
            }
            if detection.score is not None:
                annotation["score"] = detection.score
            annotations.append(annotation)
    return {
        "info": {
            "description": f"autonomous-driving run {run_id}: detections of {model}",
            "version": "1.0",
            "contributor": "fsxn-s3ap-serverless-patterns autonomous-driving",
        },
        "licenses": [],
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": category_ids[name], "name": name, "supercategory": "object"} for name in names],
    }
