"""Vectorised NaN/Inf counting and bounds against numpy, for every value type and byte order."""

from __future__ import annotations

import numpy as np
import pytest
from autonomous_driving.pointclouds.stats import AXES, Column, PlanarStats, RowStats, bounds, gather


def _cloud(dtype: str, points: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cloud = np.empty(points, dtype=[("pad", "u1"), ("x", dtype), ("y", dtype), ("z", dtype), ("i", "u2")])
    for axis in AXES:
        cloud[axis] = (
            rng.integers(-1000, 1000, points) if np.dtype(dtype).kind in "iu" else rng.normal(0, 30, points)
        )
    if np.dtype(dtype).kind == "f":
        cloud["x"][rng.integers(0, points, points // 50)] = np.nan
        cloud["y"][rng.integers(0, points, points // 60)] = np.inf
        cloud["z"][rng.integers(0, points, points // 70)] = -np.inf
    return cloud


def _columns(cloud: np.ndarray) -> tuple[Column, Column, Column]:
    x, y, z = (
        Column(
            axis,
            cloud.dtype.fields[axis][1],
            cloud.dtype[axis].itemsize,
            cloud.dtype[axis].kind.replace("u", "u"),
            cloud.dtype[axis].byteorder == ">",
        )
        for axis in AXES
    )
    return x, y, z


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", ">f8", "<i2", ">i4", "<u4", "<i8", "i1"])
def test_row_stats_equal_numpy(dtype: str) -> None:
    cloud = _cloud(dtype, 3000, 1)
    stats = RowStats(_columns(cloud))
    data = cloud.tobytes()
    size = cloud.dtype.itemsize
    for start in range(0, 3000, 700):  # uneven blocks
        count = min(700, 3000 - start)
        stats.add_records(data[start * size :], count, size)
    xyz = np.stack([cloud[axis].astype(np.float64) for axis in AXES], axis=1)
    nan = np.isnan(xyz).any(axis=1)
    finite = np.isfinite(xyz).all(axis=1)
    assert (stats.points, stats.nan_points, stats.inf_points) == (3000, nan.sum(), (~finite & ~nan).sum())
    assert bounds(stats.low, stats.high) == {
        "min": list(xyz[finite].min(axis=0)),
        "max": list(xyz[finite].max(axis=0)),
    }


def test_planar_stats_count_points_once_and_bound_each_axis() -> None:
    cloud = _cloud("<f4", 1000, 2)
    stats = PlanarStats(_columns(cloud), 1000)
    for axis, name in enumerate(AXES):
        values = cloud[name].astype("<f4").tobytes()
        stats.add_values(axis, 0, values[:2016], 4)  # 504 points, a multiple of 8
        stats.add_values(axis, 504, values[2016:], 4)
    xyz = np.stack([cloud[axis].astype(np.float64) for axis in AXES], axis=1)
    nan = np.isnan(xyz).any(axis=1)
    assert stats.totals() == (nan.sum(), (~np.isfinite(xyz).all(axis=1) & ~nan).sum())
    for axis in range(3):
        column = xyz[:, axis][np.isfinite(xyz[:, axis])]
        assert (stats.low[axis], stats.high[axis]) == (column.min(), column.max())
    with pytest.raises(ValueError, match="multiple of 8"):
        stats.add_values(0, 3, cloud["x"].tobytes()[:40], 4)


def test_a_block_of_only_invalid_points_adds_no_bounds() -> None:
    stats = RowStats(_columns(_cloud("<f4", 4, 3)))
    nan_block = np.full(4, np.nan, dtype="<f4")
    stats.add_columns([nan_block.tobytes()] * 3, 4)
    assert (stats.nan_points, stats.low) == (4, [None, None, None])
    assert bounds(stats.low, stats.high) is None


def test_gather_reads_big_endian_values_into_little_endian() -> None:
    records = np.array([(1, 2.5), (3, -1.0)], dtype=[("a", ">u2"), ("v", ">f8")]).tobytes()
    values = gather(records, 2, 10, Column("v", 2, 8, "f", big_endian=True))
    assert np.frombuffer(values, "<f8").tolist() == [2.5, -1.0]
