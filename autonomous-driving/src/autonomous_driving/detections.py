"""What the model answers for one camera frame, whichever path produced it.

The contract (README, "Model contract"): the model receives the frame's bytes
(``application/x-image`` by default) and answers JSON in one of two shapes:

* ``{"detections": [{"label": "car", "box": [x0, y0, x1, y1], "score": 0.93}, ...]}`` — pixel
  coordinates, ``x1``/``y1`` exclusive (this project's own shape);
* ``{"prediction": [[class_index, score, xmin, ymin, xmax, ymax], ...]}`` — the SageMaker built-in
  Object Detection algorithm's output, coordinates normalised to [0, 1]; ``class_index`` names a
  label of ``ModelLabels`` by position.

Boxes are clipped to the frame; empty boxes and scores below ``MinDetectionScore`` are dropped.
Anything else is an :class:`~shared.errors.InvalidInputError` for that frame (recorded, never
fatal to the run).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInputError


@dataclass(frozen=True)
class Detection:
    label: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "box": list(self.box), "score": self.score}

    @classmethod
    def from_dict(cls, value: Any) -> Detection:
        return _pixel_detection(value, "detection")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError("model_output", f"{what} is not a finite number: {value!r}")
    return float(value)


def _pixel_detection(item: Any, what: str) -> Detection:
    if not isinstance(item, dict):
        raise InvalidInputError("model_output", f"{what} is not an object: {item!r}")
    label, box, score = item.get("label"), item.get("box"), item.get("score")
    if not isinstance(label, str) or not label:
        raise InvalidInputError("model_output", f"{what} has no label")
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise InvalidInputError("model_output", f"{what} box is not [x0, y0, x1, y1]: {box!r}")
    x0, y0, x1, y1 = (_number(value, f"{what} box value") for value in box)
    return Detection(label, (x0, y0, x1, y1), None if score is None else _number(score, f"{what} score"))


def parse_model_output(
    body: bytes, *, width: int, height: int, labels: Sequence[str], min_score: float = 0.0
) -> list[Detection]:
    """The detections in ``body`` for a ``width`` x ``height`` frame."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInputError("model_output", f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidInputError("model_output", "expected a JSON object")
    found: list[Detection] = []
    if "detections" in document:
        items = document["detections"]
        if not isinstance(items, list):
            raise InvalidInputError("model_output", "detections is not a list")
        found = [_pixel_detection(item, f"detection {index}") for index, item in enumerate(items)]
    elif "prediction" in document:
        items = document["prediction"]
        if not isinstance(items, list):
            raise InvalidInputError("model_output", "prediction is not a list")
        for index, item in enumerate(items):
            if not isinstance(item, list) or len(item) != 6:
                raise InvalidInputError(
                    "model_output", f"prediction {index} is not [class, score, x0, y0, x1, y1]"
                )
            klass, score, *box = (_number(value, f"prediction {index}") for value in item)
            if klass != int(klass) or klass < 0:
                raise InvalidInputError("model_output", f"prediction {index} has class {klass}")
            label = labels[int(klass)] if int(klass) < len(labels) else f"class_{int(klass)}"
            found.append(
                Detection(label, (box[0] * width, box[1] * height, box[2] * width, box[3] * height), score)
            )
    else:
        raise InvalidInputError("model_output", "expected a 'detections' or 'prediction' list")
    return [
        kept for kept in (_clip(item, width, height) for item in found) if kept and _scored(kept, min_score)
    ]


def _scored(detection: Detection, min_score: float) -> bool:
    return detection.score is None or detection.score >= min_score


def _clip(detection: Detection, width: int, height: int) -> Detection | None:
    x0, y0, x1, y1 = detection.box
    x0, x1 = sorted((min(max(x0, 0.0), width), min(max(x1, 0.0), width)))
    y0, y1 = sorted((min(max(y0, 0.0), height), min(max(y1, 0.0), height)))
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return None
    return Detection(
        detection.label, (round(x0, 3), round(y0, 3), round(x1, 3), round(y1, 3)), detection.score
    )
