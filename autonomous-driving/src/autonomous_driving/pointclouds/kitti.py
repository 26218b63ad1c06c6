"""KITTI Velodyne scans (``velodyne/*.bin``): headerless float32 (x, y, z, reflectance) records.

There is no header to check against, so the file size must be a whole number of 16-byte records;
a remainder means the scan was cut (or the file is not a KITTI scan).
"""

from __future__ import annotations

from typing import Final

from autonomous_driving.pointclouds.common import CloudInfo, pump_records
from autonomous_driving.pointclouds.stats import Column, RowStats, bounds
from autonomous_driving.sources import ChunkReader

RECORD_BYTES: Final = 16
_COLUMNS: Final = (Column("x", 0, 4, "f"), Column("y", 4, 4, "f"), Column("z", 8, 4, "f"))


def scan(reader: ChunkReader) -> CloudInfo:
    stats = RowStats(_COLUMNS)
    records, partial = pump_records(reader, stats, RECORD_BYTES)
    return CloudInfo(
        format="kitti_bin",
        header_points=None,
        points=records,
        nan_points=stats.nan_points,
        inf_points=stats.inf_points,
        bounds=bounds(stats.low, stats.high),
        truncated=bool(partial),
        trailing_bytes=partial,
        details={"record_bytes": RECORD_BYTES},
    )
