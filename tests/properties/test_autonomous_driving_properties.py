"""autonomous-driving invariants (Hypothesis), each checked against production code.

#1 no input bytes make a parser raise anything but FileFormatError (random bytes, and valid files
of every format with bytes changed, cut or appended); #2 a point cloud's result does not depend
on how its stream is chunked; #3 the vectorised statistics equal a numpy oracle; #4 the streaming
LZF decoder inverts the compressor whatever the chunking; #5 QC verdicts are FAIL exactly when
there is a reason.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from functools import cache

import numpy as np
from autonomous_driving.images import inspect_image
from autonomous_driving.pointclouds import inspect_laz_header, scan_pointcloud
from autonomous_driving.pointclouds.lzf import decompress
from autonomous_driving.pointclouds.stats import AXES, Column, RowStats, bounds
from autonomous_driving.qc import Thresholds, assess_cloud
from autonomous_driving.video import inspect_video
from hypothesis import given
from hypothesis import strategies as st

from sandbox.datasets import (
    camera_image,
    kitti_scan,
    las_cloud,
    lzf_compress,
    pcd_cloud,
    ply_cloud,
    video_clip,
)
from shared.errors import FileFormatError


def _seekable(parse: Callable[..., object]) -> Callable[[bytes], object]:
    return lambda data: parse(io.BytesIO(data), len(data))


def _streamed(fmt: str) -> Callable[[bytes], object]:
    return lambda data: scan_pointcloud(fmt, [data[i : i + 97] for i in range(0, len(data), 97)])


PARSERS: dict[str, Callable[[bytes], object]] = {
    "image": _seekable(inspect_image),
    "video": _seekable(inspect_video),
    "laz": _seekable(inspect_laz_header),
    "pcd": _streamed("pcd"),
    "las": _streamed("las"),
    "ply": _streamed("ply"),
    "kitti_bin": _streamed("kitti_bin"),
}


@cache
def _samples() -> dict[str, list[bytes]]:
    """Small valid files of every format (the seeds mutations start from)."""
    laz = bytearray(las_cloud(2, points=40, version="1.4", point_format=6).data)
    laz[104] |= 0x80
    return {
        "image": [
            camera_image(1, width=32, height=24, fmt="png").data,
            camera_image(2, width=32, height=24, fmt="jpeg").data,
        ],
        "video": [
            video_clip(1, width=32, height=32, fps=2, seconds=1.0).data,
            video_clip(2, width=32, height=32, fps=2, seconds=1.0, container="mov", faststart=False).data,
        ],
        "laz": [bytes(laz)],
        "pcd": [
            pcd_cloud(1, points=40, encoding=encoding, nan_points=2, inf_points=1).data
            for encoding in ("ascii", "binary", "binary_compressed")
        ],
        "las": [
            las_cloud(1, points=40, version="1.2", point_format=3).data,
            las_cloud(1, points=40, version="1.4", point_format=6).data,
        ],
        "ply": [
            ply_cloud(1, points=40, encoding="ascii", faces=5).data,
            ply_cloud(1, points=40, faces=5).data,
        ],
        "kitti_bin": [kitti_scan(1, points=40).data],
    }


def _parse_or_format_error(kind: str, data: bytes) -> None:
    with contextlib.suppress(FileFormatError):  # anything else escapes and fails the test
        PARSERS[kind](data)


@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=600))
def test_random_bytes_raise_only_the_format_error(kind: str, data: bytes) -> None:
    _parse_or_format_error(kind, data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(PARSERS)))
    data = bytearray(draw(st.sampled_from(_samples()[kind])))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data += draw(st.binary(max_size=40))
    return kind, bytes(data)


@given(mutated())
def test_damaged_real_files_raise_only_the_format_error(case: tuple[str, bytes]) -> None:
    _parse_or_format_error(*case)


@given(
    st.sampled_from(
        [("pcd", 0), ("pcd", 1), ("pcd", 2), ("las", 0), ("las", 1), ("ply", 0), ("ply", 1), ("kitti_bin", 0)]
    ),
    st.lists(st.integers(1, 400), min_size=1, max_size=40),
)
def test_chunking_never_changes_a_point_cloud_result(sample: tuple[str, int], sizes: list[int]) -> None:
    fmt, index = sample
    data = _samples()[fmt][index]
    whole = scan_pointcloud(fmt, [data]).to_dict()
    chunks, position = [], 0
    for size in sizes * (len(data) // sum(sizes) + 1):
        if position >= len(data):
            break
        chunks.append(data[position : position + size])
        position += size
    assert scan_pointcloud(fmt, chunks).to_dict() == whole


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -0.0, float("nan"), float("inf"), float("-inf"), 3.4e38, -1e-45]),
)


@given(
    st.lists(st.tuples(values, values, values), min_size=1, max_size=200),
    st.sampled_from(["<f4", ">f4", "<f8"]),
)
def test_statistics_equal_the_numpy_oracle(points: list[tuple[float, float, float]], dtype: str) -> None:
    cloud = np.array(points, dtype=dtype)
    size = np.dtype(dtype).itemsize
    columns = tuple(
        Column(axis, index * size, size, "f", dtype.startswith(">")) for index, axis in enumerate(AXES)
    )
    stats = RowStats(columns)  # type: ignore[arg-type]
    stats.add_records(cloud.tobytes(), len(points), 3 * size)
    xyz = cloud.astype(np.float64)
    nan = np.isnan(xyz).any(axis=1)
    finite = np.isfinite(xyz).all(axis=1)
    assert (stats.nan_points, stats.inf_points) == (int(nan.sum()), int((~finite & ~nan).sum()))
    expected = (
        {"min": list(xyz[finite].min(axis=0)), "max": list(xyz[finite].max(axis=0))} if finite.any() else None
    )
    assert bounds(stats.low, stats.high) == expected


@given(st.binary(max_size=3000), st.integers(1, 200), st.integers(1, 5000))
def test_lzf_stream_decoding_inverts_compression(data: bytes, chunk: int, block: int) -> None:
    compressed = lzf_compress(data + data[: len(data) // 2])  # repeats give back-references
    chunks = [compressed[i : i + chunk] for i in range(0, len(compressed), chunk)]
    assert (
        b"".join(decompress(chunks, len(data) + len(data) // 2, block=block)) == data + data[: len(data) // 2]
    )


@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.floats(0, 1),
    st.integers(0, 5000),
)
def test_a_cloud_fails_exactly_when_a_rule_gives_a_reason(
    points: int, nan: int, header: int, ratio: float, minimum: int
) -> None:
    from autonomous_driving.pointclouds import CloudInfo

    nan = min(nan, points)
    info = CloudInfo(
        "pcd", header, points, nan_points=nan, bounds={"min": [0.0, 0.0, 0.0], "max": [10.0, 5.0, 1.0]}
    )
    assessment = assess_cloud(info, Thresholds(min_points=minimum, max_invalid_ratio=ratio))
    assert (assessment.verdict == "FAIL") == bool(assessment.reasons)
    assert ("point_count_mismatch" in [r.code for r in assessment.reasons]) == (header != points)
    assert ("too_few_points" in [r.code for r in assessment.reasons]) == (points - nan < minimum)
