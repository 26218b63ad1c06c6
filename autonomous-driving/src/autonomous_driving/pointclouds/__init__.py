"""LiDAR point clouds: one streaming pass in bounded memory (PCD, LAS, PLY, KITTI) or a header (LAZ).

:func:`scan_pointcloud` takes the format (from :mod:`autonomous_driving.catalogue`) and the
file's bytes as an iterable of chunks (in Lambda, ``ObjectStream.iter_chunks()``: one GetObject,
read once). Memory is one chunk plus one block of records, whatever the file's size (see
``benchmarks/pointcloud_qc.py``). LAZ is not streamed: :func:`~autonomous_driving.pointclouds.las.
inspect_laz_header` reads its header through a seekable reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from autonomous_driving.pointclouds import kitti, las, pcd, ply
from autonomous_driving.pointclouds.common import CloudInfo
from autonomous_driving.pointclouds.las import inspect_laz_header
from autonomous_driving.sources import ChunkReader
from shared.errors import FileFormatError

STREAMED_FORMATS: Final = ("pcd", "las", "ply", "kitti_bin")

__all__ = ["STREAMED_FORMATS", "CloudInfo", "inspect_laz_header", "scan_pointcloud"]


def scan_pointcloud(fmt: str, chunks: Iterable[bytes]) -> CloudInfo:
    """Header and streaming pass of a ``pcd``, ``las``, ``ply`` or ``kitti_bin`` file."""
    reader = ChunkReader(chunks)
    if fmt == "pcd":
        return pcd.scan(reader)
    if fmt == "las":
        return las.scan(reader)
    if fmt == "ply":
        return ply.scan(reader)
    if fmt == "kitti_bin":
        return kitti.scan(reader)
    raise FileFormatError(f"{fmt!r} is not a streamed point-cloud format", offset=0)
