"""What every point-cloud reader returns, and the record pump they share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from autonomous_driving.pointclouds.stats import RowStats
from autonomous_driving.sources import ChunkReader

BLOCK_BYTES: Final = 4 << 20
"""Records handed to the statistics at once: bounds memory (a few copies of one block)."""

MAX_HEADER_LINES: Final = 256
MAX_HEADER_LINE: Final = 64 * 1024


@dataclass
class CloudInfo:
    """One point cloud after its header and (unless ``decoded`` is False) its streaming pass.

    ``header_points`` is what the header promises (None for headerless KITTI scans), ``points``
    the complete records actually found. ``bounds`` cover finite points (``bounds_basis``), in
    metres for every format (LAS scaled integers are converted).
    """

    format: str
    header_points: int | None
    points: int
    nan_points: int = 0
    inf_points: int = 0
    bounds: dict[str, list[float]] | None = None
    bounds_basis: str = "finite_points"
    truncated: bool = False
    trailing_bytes: int = 0
    decoded: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def finite_points(self) -> int:
        return self.points - self.nan_points - self.inf_points

    @property
    def points_match_header(self) -> bool:
        return self.header_points is None or self.header_points == self.points

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "header_points": self.header_points,
            "points": self.points,
            "nan_points": self.nan_points,
            "inf_points": self.inf_points,
            "finite_points": self.finite_points,
            "bounds": self.bounds,
            "bounds_basis": self.bounds_basis,
            "truncated": self.truncated,
            "trailing_bytes": self.trailing_bytes,
            "decoded": self.decoded,
            **self.details,
        }


def pump_records(
    reader: ChunkReader,
    stats: RowStats,
    record_size: int,
    limit: int | None = None,
    on_block: Callable[[bytes, int], None] | None = None,
) -> tuple[int, int]:
    """Feed up to ``limit`` whole records (all of them when None) to ``stats``, block by block.

    Returns (whole records fed, bytes of a trailing partial record).
    """
    records = 0
    pending = b""
    budget = None if limit is None else limit * record_size
    consumed = 0
    while budget is None or consumed < budget:
        want = BLOCK_BYTES if budget is None else min(BLOCK_BYTES, budget - consumed)
        data = reader.take(want)
        if not data:
            break
        consumed += len(data)
        if pending:
            data = pending + data
        count = len(data) // record_size
        if count:
            stats.add_records(data, count, record_size)
            if on_block is not None:
                on_block(data, count)
            records += count
        pending = data[count * record_size :]
    return records, len(pending)


def limited(reader: ChunkReader, size: int) -> Iterator[bytes]:
    """The next ``size`` bytes of ``reader`` as chunks (fewer if the data ends)."""
    left = size
    while left > 0:
        data = reader.take(min(left, BLOCK_BYTES))
        if not data:
            return
        left -= len(data)
        yield data


def header_text(line: bytes) -> str:
    return line.decode("ascii", errors="replace").strip()
