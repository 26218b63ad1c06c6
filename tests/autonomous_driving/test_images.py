"""Camera frames: header parsing against files Pillow writes, and damage built by hand."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from autonomous_driving.images import inspect_image
from autonomous_driving.qc import assess_image
from PIL import Image

from sandbox.datasets import camera_image, corrupt_image, truncated_image
from shared.errors import FileFormatError
from tests.autonomous_driving.helpers import CountingReader


def _inspect(data: bytes):
    reader = CountingReader(data)
    return inspect_image(reader, len(data)), reader


def _pillow(mode: str, fmt: str, size: tuple[int, int] = (97, 61), **options: object) -> bytes:
    rng = np.random.default_rng(3)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4, "P": 1, "I;16": 1}[mode]
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, size=size[::-1], dtype=np.uint16))
    else:
        pixels = rng.integers(0, 255, size=(size[1], size[0], channels), dtype=np.uint8)
        if mode in ("P", "CMYK"):
            rgb = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
            image = Image.fromarray(rgb, "RGB").convert(mode)
        else:
            image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "expected_mode", "depth"),
    [
        ("L", "L", 8),
        ("LA", "LA", 8),
        ("RGB", "RGB", 8),
        ("RGBA", "RGBA", 8),
        ("P", "P", 8),
        ("I;16", "L", 16),
    ],
)
def test_png_header_matches_what_pillow_wrote(mode: str, expected_mode: str, depth: int) -> None:
    data = _pillow(mode, "PNG")
    info, reader = _inspect(data)
    assert (info.format, info.width, info.height) == ("png", 97, 61)
    assert (info.mode, info.bit_depth, info.truncated) == (expected_mode, depth, False)
    assert Image.open(io.BytesIO(data)).size == (info.width, info.height)
    # Only the signature + IHDR and the 12-byte IEND tail were read.
    assert reader.bytes_read <= 8 + 33 + 12


@pytest.mark.parametrize(
    ("mode", "options", "expected_mode", "process"),
    [
        ("RGB", {}, "YCbCr", "baseline"),
        ("RGB", {"progressive": True}, "YCbCr", "progressive"),
        ("L", {}, "L", "baseline"),
        ("CMYK", {}, "CMYK", "baseline"),
    ],
)
def test_jpeg_frame_header_matches_what_pillow_wrote(
    mode: str, options: dict[str, object], expected_mode: str, process: str
) -> None:
    data = _pillow(mode, "JPEG", **options)
    info, _ = _inspect(data)
    assert (info.format, info.width, info.height, info.mode) == ("jpeg", 97, 61, expected_mode)
    assert info.details["process"] == process
    assert not info.truncated


def test_jpeg_with_a_large_metadata_segment_is_read_by_seeking_over_it() -> None:
    # Given a JPEG whose SOF sits behind 60 KB of ICC profile (APP2) segments
    data = _pillow("RGB", "JPEG", size=(64, 48), icc_profile=bytes(range(256)) * 240)
    # When it is inspected
    info, reader = _inspect(data)
    # Then the profile's bytes were skipped, not read
    assert (info.width, info.height) == (64, 48)
    assert reader.bytes_read < 2_000


def test_dataset_frames_and_exif_match_their_ground_truth() -> None:
    for fmt in ("png", "jpeg"):
        frame = camera_image(11, width=320, height=200, fmt=fmt)
        info, _ = _inspect(frame.data)
        assert (info.width, info.height) == (320, 200)
        assert info.format.upper() == frame.expected["format"]
        if fmt == "jpeg":
            assert info.details["exif"]["make"] == frame.expected["exif"]["make"]
            assert info.details["exif"]["model"] == frame.expected["exif"]["model"]
            assert info.details["exif"]["datetime_original"] == frame.expected["exif"]["datetime_original"]


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_truncated_frames_are_flagged_and_fail_qc(fmt: str, seed: int) -> None:
    damaged = truncated_image(camera_image(seed, width=64, height=48, fmt=fmt), seed)
    info, _ = _inspect(damaged.data)
    assessment = assess_image(info)
    assert info.truncated
    assert [reason.code for reason in assessment.reasons] == ["truncated"]
    assert assessment.verdict == "FAIL"


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_corrupt_headers_raise_the_format_error_with_an_offset(fmt: str) -> None:
    damaged = corrupt_image(camera_image(5, width=64, height=48, fmt=fmt), 5)
    with pytest.raises(FileFormatError) as raised:
        _inspect(damaged.data)
    assert raised.value.offset > 0


def test_bytes_after_iend_are_reported_not_failed() -> None:
    data = _pillow("RGB", "PNG") + b"camera-vendor-trailer" * 4
    info, _ = _inspect(data)
    assert not info.truncated
    assert info.trailing_bytes == 84
    assert assess_image(info).verdict == "PASS"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + bytes(40), "not a PNG or JPEG"),
        (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"gAMA", bytes(4)) + bytes(16), "not a 13-byte IHDR"),
        (
            b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)),
            "dimensions",
        ),
        (
            b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 5, 3, 2, 0, 0, 0)),
            "bit depth",
        ),
        (
            b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 5, 8, 2, 1, 0, 0)),
            "compression",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "ends"),
        (b"\xff\xd8\xff\xda\x00\x08" + bytes(10), "before any frame header"),
        (b"\xff\xd8\xff\xe0\x00\x01", "length 1"),
        (b"\xff\xd8\xff\xe0\x40\x00" + bytes(10), "runs past the end"),
        (b"\xff\xd8\x00\x00", "expected a marker"),
        (b"\xff\xd8\xff\xc0\x00\x0b\x08\x00\x10\x00\x10\x03\x11\x00\x00" + bytes(8), "inconsistent"),
        (b"\xff\xd8\xff\xc0\x00\x11\x05\x00\x10\x00\x10\x03" + bytes(9) + b"\xff\xd9", "precision"),
    ],
)
def test_hand_built_damage_is_a_format_error(data: bytes, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        _inspect(data)


def test_fill_bytes_and_standalone_markers_before_the_frame_header_are_skipped() -> None:
    sof = b"\xff\xc0\x00\x11\x08\x00\x20\x00\x30\x03" + bytes(9)
    data = b"\xff\xd8" + b"\xff\xff" + b"\xff\x01" + sof + bytes(32) + b"\xff\xd9"
    info, _ = _inspect(data)
    assert (info.width, info.height, info.mode) == (48, 32, "YCbCr")
