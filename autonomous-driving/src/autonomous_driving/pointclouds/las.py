"""LAS 1.0-1.4 (ASPRS): the public header block, then the point records in one streaming pass.

Public header block (LAS 1.4 R15, Table 3): "LASF", version, header size, offset to point data,
number of VLRs, point data format and record length, legacy point count (uint32) and, from 1.4,
the 64-bit count; x/y/z scale factors and offsets; the header's max/min x, y, z. Every point
record of formats 0-10 starts with X, Y, Z as int32; the real coordinate is ``X x scale +
offset``. The classification sits in byte 15 (bits 0-4) for formats 0-5 and byte 16 for 6-10.

The stream is read from the start: header, VLRs skipped up to the point data, then exactly the
declared number of records (EVLRs of 1.4 and waveform data follow them and are not read). The
computed bounds are compared with the header's (a writer that forgot to update them, or points
appended afterwards); fewer records than declared is a truncated file.

LAZ (LASzip) has the same header with bit 7 of the point format set; its points are compressed
and are **not decoded** here: :func:`inspect_laz_header` reports what the header says.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from autonomous_driving.pointclouds.common import CloudInfo, pump_records
from autonomous_driving.pointclouds.stats import Column, RowStats, bounds
from autonomous_driving.sources import ChunkReader, Seekable, read_at
from shared.errors import FileFormatError

LEGACY_HEADER_SIZE: Final = 227
HEADER_SIZE_14: Final = 375
_MIN_RECORD: Final = {0: 20, 1: 28, 2: 26, 3: 34, 4: 57, 5: 63, 6: 30, 7: 36, 8: 38, 9: 59, 10: 67}
_COLUMNS: Final = (Column("X", 0, 4, "i"), Column("Y", 4, 4, "i"), Column("Z", 8, 4, "i"))
_CLASS_BITS: Final = bytes(value & 0x1F for value in range(256))


@dataclass(frozen=True)
class LasHeader:
    version: str
    header_size: int
    offset_to_points: int
    vlr_count: int
    point_format: int
    compressed: bool
    record_length: int
    points: int
    scales: tuple[float, float, float]
    offsets: tuple[float, float, float]
    header_min: tuple[float, float, float]
    header_max: tuple[float, float, float]
    system_identifier: str
    generating_software: str
    creation_date: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "point_format": self.point_format,
            "record_length": self.record_length,
            "compressed": self.compressed,
            "header_size": self.header_size,
            "offset_to_points": self.offset_to_points,
            "vlr_count": self.vlr_count,
            "scales": list(self.scales),
            "offsets": list(self.offsets),
            "header_bounds": {"min": list(self.header_min), "max": list(self.header_max)},
            "system_identifier": self.system_identifier,
            "generating_software": self.generating_software,
            "creation_date": self.creation_date,
        }


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()


def parse_header(data: bytes, *, legacy_only: bool = False) -> LasHeader:
    """The public header block from its first bytes (``LEGACY_HEADER_SIZE``, or 375 for LAS 1.4).

    ``legacy_only`` reads the first 227 bytes alone (to learn the header size before reading the
    rest); a 1.4 header's 64-bit point count is then not yet known.
    """
    if len(data) < 4 or data[:4] != b"LASF":
        raise FileFormatError("not a LAS file (no LASF signature)", offset=0)
    if len(data) < LEGACY_HEADER_SIZE:
        raise FileFormatError(f"the LAS header is cut at {len(data)} bytes", offset=len(data))
    major, minor = data[24], data[25]
    if major != 1 or minor > 4:
        raise FileFormatError(f"LAS version {major}.{minor} is not 1.0-1.4", offset=24)
    day, year, header_size, offset_to_points, vlr_count, raw_format, record_length, legacy_points = (
        struct.unpack_from("<HHHIIBHI", data, 90)
    )
    minimum = HEADER_SIZE_14 if minor == 4 else LEGACY_HEADER_SIZE
    if header_size < minimum:
        raise FileFormatError(f"LAS {major}.{minor} header size {header_size} < {minimum}", offset=94)
    if offset_to_points < header_size:
        raise FileFormatError(f"point data offset {offset_to_points} is inside the header", offset=96)
    point_format = raw_format & 0x3F
    compressed = bool(raw_format & 0x80)
    if point_format not in _MIN_RECORD or record_length < _MIN_RECORD[point_format]:
        raise FileFormatError(
            f"point format {point_format} with {record_length}-byte records is not LAS", offset=104
        )
    values = struct.unpack_from("<12d", data, 131)
    scales, offsets = values[0:3], values[3:6]
    header_max = (values[6], values[8], values[10])
    header_min = (values[7], values[9], values[11])
    if not all(math.isfinite(v) for v in values) or 0.0 in scales:
        raise FileFormatError("scale factors must be non-zero and scales/offsets/bounds finite", offset=131)
    points = legacy_points
    if minor == 4 and not legacy_only:
        if len(data) < HEADER_SIZE_14:
            raise FileFormatError(f"the LAS 1.4 header is cut at {len(data)} bytes", offset=len(data))
        (points,) = struct.unpack_from("<Q", data, 247)
        if legacy_points and legacy_points != points:
            raise FileFormatError(
                f"legacy point count {legacy_points} disagrees with the 64-bit count {points}", offset=107
            )
    creation = f"{year:04d}-{day:03d}" if year and day else None
    return LasHeader(
        version=f"{major}.{minor}",
        header_size=header_size,
        offset_to_points=offset_to_points,
        vlr_count=vlr_count,
        point_format=point_format,
        compressed=compressed,
        record_length=record_length,
        points=points,
        scales=(scales[0], scales[1], scales[2]),
        offsets=(offsets[0], offsets[1], offsets[2]),
        header_min=header_min,
        header_max=header_max,
        system_identifier=_text(data[26:58]),
        generating_software=_text(data[58:90]),
        creation_date=creation,
    )


def scan(reader: ChunkReader) -> CloudInfo:
    first = reader.read(LEGACY_HEADER_SIZE)
    header = parse_header(first, legacy_only=True)
    rest = reader.read_exact(header.header_size - LEGACY_HEADER_SIZE, "LAS header")
    header = parse_header(first + rest)
    if header.compressed:
        raise FileFormatError("LASzip-compressed points in a .las file (rename it .laz)", offset=104)
    skipped = reader.skip(header.offset_to_points - header.header_size)
    if skipped < header.offset_to_points - header.header_size:
        raise FileFormatError("the file ends inside its variable length records", offset=reader.offset)
    stats = RowStats(_COLUMNS)
    classes: Counter[int] = Counter()
    class_offset = 15 if header.point_format <= 5 else 16

    def count_classes(data: bytes, count: int) -> None:
        lane = data[
            class_offset : class_offset + (count - 1) * header.record_length + 1 : header.record_length
        ]
        classes.update(lane.translate(_CLASS_BITS) if header.point_format <= 5 else lane)

    records, partial = pump_records(reader, stats, header.record_length, header.points, count_classes)
    trailing = reader.drain()
    found = bounds(stats.low, stats.high, header.scales, header.offsets)
    details: dict[str, Any] = header.to_dict()
    details["classification"] = {str(code): classes[code] for code in sorted(classes)}
    if found is not None:
        details["header_bounds_match"] = _within(found, header)
    return CloudInfo(
        format="las",
        header_points=header.points,
        points=records,
        bounds=found,
        truncated=records < header.points,
        trailing_bytes=partial + trailing,
        details=details,
    )


def _within(found: dict[str, list[float]], header: LasHeader) -> bool:
    """Whether the points lie inside the header's bounds (within half a scale step)."""
    for axis in range(3):
        tolerance = abs(header.scales[axis]) / 2 + 1e-9 * max(1.0, abs(header.offsets[axis]))
        if found["min"][axis] < header.header_min[axis] - tolerance:
            return False
        if found["max"][axis] > header.header_max[axis] + tolerance:
            return False
    return True


def inspect_laz_header(reader: Seekable, size: int) -> CloudInfo:
    """A LAZ file's header: declared points and bounds; the compressed points are not decoded."""
    header = parse_header(read_at(reader, 0, HEADER_SIZE_14))
    if header.offset_to_points > size:
        raise FileFormatError(
            f"point data offset {header.offset_to_points} is past the end of the {size}-byte file", offset=96
        )
    details = header.to_dict()
    details["points_decoded"] = False
    details["note"] = "LASzip-compressed points are not decoded: counts and bounds are the header's"
    details["compressed_bytes"] = size - header.offset_to_points
    return CloudInfo(
        format="laz",
        header_points=header.points,
        points=header.points,
        bounds={"min": list(header.header_min), "max": list(header.header_max)},
        bounds_basis="header",
        decoded=False,
        details=details,
    )
