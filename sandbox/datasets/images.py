"""Seeded camera frames (PNG and JPEG via Pillow) with object boxes, plus damaged copies.

A frame is a road scene drawn with numpy: sky gradient, road, lane marks and a few coloured
boxes standing for vehicles, whose pixel boxes are the ground truth a detection step can be
checked against. JPEGs carry EXIF (make, model, capture time derived from the seed, never the
clock) because camera pipelines read it.

Pillow's encoders are deterministic for a given Pillow/zlib/libjpeg build, which the repo pins.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import numpy as np
from PIL import Image

from sandbox.datasets.base import SyntheticFile, np_rng, rng
from sandbox.datasets.corrupt import patch, truncate

ImageFormat = Literal["png", "jpeg"]

CAMERA_MAKE: Final = "SandboxOptics"
CAMERA_MODEL: Final = "FC-1"
_EPOCH: Final = datetime(2025, 4, 1, 8, 0, 0)
_EXIF_IFD: Final = 0x8769
_TAG_MAKE, _TAG_MODEL, _TAG_DATETIME, _TAG_DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0132, 0x9003
_PNG_SIGNATURE_AND_IHDR: Final = 8 + 25  # signature, then the 25-byte IHDR chunk
_PNG_IEND: Final = 12


def road_scene(seed: int, width: int, height: int, objects: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    r = rng(seed, "image-scene")
    noise = np_rng(seed, "image-noise")
    horizon = height * 2 // 5
    rows = np.arange(height, dtype=np.float32)[:, None]
    image = np.empty((height, width, 3), dtype=np.float32)
    sky = np.clip(rows / max(horizon, 1), 0, 1)
    image[..., 0] = 90 + 80 * sky
    image[..., 1] = 140 + 60 * sky
    image[..., 2] = 230 - 30 * sky
    image[horizon:] = (95, 95, 100)  # asphalt
    centre = width / 2 + r.uniform(-0.1, 0.1) * width
    for lane in (-1, 1):
        for row in range(horizon, height, 2):
            depth = (row - horizon) / max(height - horizon, 1)
            column = int(centre + lane * depth * width * 0.35)
            if (row // 12) % 2 == 0 and 0 <= column < width - 2:
                image[row : row + 2, column : column + max(2, int(6 * depth))] = (235, 235, 235)
    boxes: list[dict[str, Any]] = []
    for _ in range(objects):
        box_w = r.randrange(max(4, width // 16), max(5, width // 5))
        box_h = r.randrange(max(4, height // 16), max(5, height // 5))
        x0 = r.randrange(0, max(1, width - box_w))
        y0 = r.randrange(horizon, max(horizon + 1, height - box_h))
        colour = (r.randrange(256), r.randrange(256), r.randrange(256))
        image[y0 : y0 + box_h, x0 : x0 + box_w] = colour
        boxes.append(
            {
                "label": r.choice(("car", "truck", "pedestrian", "cyclist")),
                "box": [x0, y0, x0 + box_w, y0 + box_h],
            }
        )
    image += noise.normal(0, 4, size=image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), boxes


def camera_image(
    seed: int,
    *,
    width: int = 640,
    height: int = 480,
    fmt: ImageFormat = "png",
    objects: int = 4,
    quality: int = 90,
    key: str | None = None,
) -> SyntheticFile:
    """One frame; ``expected``: width, height, format (Pillow's name), mode, objects[{label, box}]
    (x0, y0, x1, y1 in pixels, exclusive end) and, for JPEG, exif {make, model, datetime_original}."""
    if width < 16 or height < 16:
        raise ValueError("frames are at least 16x16")
    pixels, boxes = road_scene(seed, width, height, objects)
    image = Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    expected: dict[str, Any] = {"width": width, "height": height, "mode": "RGB", "objects": boxes}
    if fmt == "png":
        image.save(buffer, "PNG")
        expected["format"] = "PNG"
    elif fmt == "jpeg":
        taken = (_EPOCH + timedelta(seconds=rng(seed, "image-time").randrange(86_400 * 30))).strftime(
            "%Y:%m:%d %H:%M:%S"
        )
        exif = Image.Exif()
        exif[_TAG_MAKE], exif[_TAG_MODEL], exif[_TAG_DATETIME] = CAMERA_MAKE, CAMERA_MODEL, taken
        exif.get_ifd(_EXIF_IFD)[_TAG_DATETIME_ORIGINAL] = taken
        image.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
        expected["format"] = "JPEG"
        expected["exif"] = {"make": CAMERA_MAKE, "model": CAMERA_MODEL, "datetime_original": taken}
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    extension = "png" if fmt == "png" else "jpg"
    return SyntheticFile(key or f"camera/frame_{seed:06d}.{extension}", buffer.getvalue(), fmt, expected)


def truncated_image(valid: SyntheticFile, seed: int) -> SyntheticFile:
    """Cut inside the compressed pixels (PNG IDAT, JPEG scan), after the headers a reader
    identifies the file by, so the failure shows only when the pixels are decoded."""
    if valid.kind == "png":
        return truncate(valid, seed, low=_PNG_SIGNATURE_AND_IHDR + 16, high=valid.size - _PNG_IEND)
    if valid.kind == "jpeg":
        scan = valid.data.index(b"\xff\xda")
        return truncate(valid, seed, low=scan + 16, high=valid.size - 2)
    raise ValueError(f"not an image: {valid.kind}")


def corrupt_image(valid: SyntheticFile, seed: int) -> SyntheticFile:
    """PNG: one IHDR byte changed, so the chunk's CRC no longer matches. JPEG: the frame header
    (SOF) claims a 0x0 image. Both are refused when opened, not only when decoded."""
    r = rng(seed, f"corrupt-image:{valid.key}")
    if valid.kind == "png":
        offset = 16 + r.randrange(8)  # width/height inside IHDR's data
        return patch(
            valid, {offset: bytes([valid.data[offset] ^ 0x40])}, reason="chunk_crc_mismatch", chunk="IHDR"
        )
    if valid.kind == "jpeg":
        sof = valid.data.index(b"\xff\xc0")
        # SOF0: marker, length (2), precision (1), height (2), width (2)
        return patch(valid, {sof + 5: b"\x00\x00\x00\x00"}, reason="bad_frame_header", marker="SOF0")
    raise ValueError(f"not an image: {valid.kind}")


def image_dataset(
    seed: int, *, count: int = 6, width: int = 640, height: int = 480, prefix: str = "camera"
) -> list[SyntheticFile]:
    """``count`` frames alternating PNG and JPEG, then a truncated and a corrupt copy of each format."""
    frames = [
        camera_image(
            seed * 10_000 + index,
            width=width,
            height=height,
            fmt="png" if index % 2 == 0 else "jpeg",
            key=f"{prefix}/seq_{seed}/frame_{index:04d}.{'png' if index % 2 == 0 else 'jpg'}",
        )
        for index in range(max(count, 2))
    ]
    png, jpeg = frames[0], frames[1]
    damaged = [
        truncated_image(png, seed),
        corrupt_image(png, seed),
        truncated_image(jpeg, seed),
        corrupt_image(jpeg, seed),
    ]
    return frames + damaged
