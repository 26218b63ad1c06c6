"""PCD (Point Cloud Library) v0.5-0.7: the text header, then one streaming pass over the data.

Header (pcl::PCDReader::readHeader): ``VERSION``, ``FIELDS``, ``SIZE``, ``TYPE`` (F/I/U),
``COUNT``, ``WIDTH``, ``HEIGHT``, ``VIEWPOINT``, ``POINTS``, ``DATA ascii|binary|binary_compressed``
(the last header line); ``#`` starts a comment. Data:

* ``ascii`` — one point per line, ``sum(COUNT)`` tokens (``nan``/``inf`` allowed);
* ``binary`` — packed records of ``sum(SIZE x COUNT)`` bytes, little-endian;
* ``binary_compressed`` — uint32 compressed size, uint32 uncompressed size, then LZF data that
  decodes to each field's values for all points, one field after the other (x…x y…y z…z …).

A header that is not PCD, or fields without x, y, z, raises FileFormatError. Data shorter or
longer than ``POINTS`` says is reported (``points`` vs ``header_points``), not raised: the points
present are still measured. A compressed block that cannot be decoded to its declared size is
unusable and raises.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Final

from autonomous_driving.pointclouds import lzf
from autonomous_driving.pointclouds.common import (
    BLOCK_BYTES,
    MAX_HEADER_LINE,
    MAX_HEADER_LINES,
    CloudInfo,
    header_text,
    limited,
    pump_records,
)
from autonomous_driving.pointclouds.stats import AXES, Column, PlanarStats, RowStats, bounds, supported
from autonomous_driving.sources import ChunkReader
from shared.errors import FileFormatError

ENCODINGS: Final = ("ascii", "binary", "binary_compressed")
_KEYS: Final = (
    "VERSION",
    "FIELDS",
    "SIZE",
    "TYPE",
    "COUNT",
    "WIDTH",
    "HEIGHT",
    "VIEWPOINT",
    "POINTS",
    "DATA",
)
_ASCII_FLOAT: Final = Column("ascii", 0, 8, "f")


@dataclass(frozen=True)
class PcdHeader:
    version: str | None
    fields: tuple[str, ...]
    sizes: tuple[int, ...]
    types: tuple[str, ...]
    counts: tuple[int, ...]
    width: int
    height: int
    viewpoint: tuple[float, ...] | None
    points: int
    encoding: str
    data_offset: int

    @property
    def record_size(self) -> int:
        return sum(size * count for size, count in zip(self.sizes, self.counts, strict=True))

    def field_offset(self, name: str) -> int:
        index = self.fields.index(name)
        return sum(size * count for size, count in zip(self.sizes[:index], self.counts[:index], strict=True))

    def column(self, name: str) -> Column:
        index = self.fields.index(name)
        return Column(name, self.field_offset(name), self.sizes[index], self.types[index].lower())

    def token_index(self, name: str) -> int:
        return sum(self.counts[: self.fields.index(name)])

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "encoding": self.encoding,
            "fields": list(self.fields),
            "sizes": list(self.sizes),
            "types": list(self.types),
            "counts": list(self.counts),
            "width": self.width,
            "height": self.height,
            "viewpoint": None if self.viewpoint is None else list(self.viewpoint),
            "data_offset": self.data_offset,
        }


def _integer(key: str, value: str, offset: int) -> int:
    if not value.isdigit():
        raise FileFormatError(f"PCD {key} is not a non-negative integer: {value!r}", offset=offset)
    return int(value)


def read_header(reader: ChunkReader) -> PcdHeader:
    entries: dict[str, tuple[list[str], int]] = {}
    for number in range(MAX_HEADER_LINES):
        offset = reader.offset
        line = reader.readline(MAX_HEADER_LINE, "PCD header")
        if not line:
            raise FileFormatError("the PCD header ends before its DATA line", offset=offset)
        text = header_text(line)
        if number == 0 and not (text.startswith("#") or text.split(" ", 1)[0].upper() in _KEYS):
            raise FileFormatError("not a PCD file (no PCD header)", offset=0)
        if not text or text.startswith("#"):
            continue
        key, *values = text.split()
        key = key.upper()
        if key not in _KEYS:
            raise FileFormatError(f"unknown PCD header line {key!r}", offset=offset)
        entries[key] = (values, offset)
        if key == "DATA":
            return _header(entries, reader.offset)
    raise FileFormatError(f"no DATA line within {MAX_HEADER_LINES} header lines", offset=reader.offset)


def _header(entries: dict[str, tuple[list[str], int]], data_offset: int) -> PcdHeader:
    def values(key: str) -> list[str]:
        if key not in entries:
            raise FileFormatError(f"the PCD header has no {key} line", offset=data_offset)
        return entries[key][0]

    fields = tuple(values("FIELDS"))
    sizes_raw, types_raw = values("SIZE"), values("TYPE")
    counts_raw = entries.get("COUNT", (["1"] * len(fields), 0))[0]
    if not fields or not len(fields) == len(sizes_raw) == len(types_raw) == len(counts_raw):
        raise FileFormatError(
            f"FIELDS, SIZE, TYPE and COUNT disagree ({len(fields)}, {len(sizes_raw)}, {len(types_raw)}, "
            f"{len(counts_raw)} entries)",
            offset=entries["FIELDS"][1],
        )
    sizes = tuple(_integer("SIZE", value, entries["SIZE"][1]) for value in sizes_raw)
    counts = tuple(_integer("COUNT", value, data_offset) for value in counts_raw)
    types = tuple(value.upper() for value in types_raw)
    for name, size, kind, count in zip(fields, sizes, types, counts, strict=True):
        if kind not in ("F", "I", "U") or not supported(kind.lower(), size) or count < 1:
            raise FileFormatError(
                f"field {name!r}: TYPE {kind} SIZE {size} COUNT {count} is not a PCD type",
                offset=entries["TYPE"][1],
            )
    missing = [axis for axis in AXES if axis not in fields]
    if missing:
        raise FileFormatError(f"the cloud has no {', '.join(missing)} field", offset=entries["FIELDS"][1])
    width = _integer("WIDTH", (values("WIDTH") or [""])[0], entries["WIDTH"][1])
    height = _integer("HEIGHT", (entries.get("HEIGHT", (["1"], 0))[0] or [""])[0], data_offset)
    points_entry = entries.get("POINTS")
    points = (
        _integer("POINTS", (points_entry[0] or [""])[0], points_entry[1]) if points_entry else width * height
    )
    encoding = (values("DATA") or [""])[0].lower()
    if encoding not in ENCODINGS:
        raise FileFormatError(f"unknown PCD DATA encoding {encoding!r}", offset=entries["DATA"][1])
    viewpoint = None
    if "VIEWPOINT" in entries:
        try:
            viewpoint = tuple(float(value) for value in entries["VIEWPOINT"][0])
        except ValueError:
            raise FileFormatError("VIEWPOINT is not 7 numbers", offset=entries["VIEWPOINT"][1]) from None
    version = entries.get("VERSION", ([None], 0))[0]
    return PcdHeader(
        version=(version[0] if version else None),
        fields=fields,
        sizes=sizes,
        types=types,
        counts=counts,
        width=width,
        height=height,
        viewpoint=viewpoint,
        points=points,
        encoding=encoding,
        data_offset=data_offset,
    )


def scan(reader: ChunkReader) -> CloudInfo:
    header = read_header(reader)
    details: dict[str, object] = dict(header.to_dict())
    if header.width * header.height != header.points:
        details["dimension_mismatch"] = True
    if header.encoding == "ascii":
        info = _scan_ascii(reader, header)
    elif header.encoding == "binary":
        info = _scan_binary(reader, header)
    else:
        info = _scan_compressed(reader, header)
    info.details = {**details, **info.details}
    return info


def _columns(header: PcdHeader) -> tuple[Column, Column, Column]:
    x, y, z = (header.column(axis) for axis in AXES)
    return x, y, z


def _scan_binary(reader: ChunkReader, header: PcdHeader) -> CloudInfo:
    stats = RowStats(_columns(header))
    records, partial = pump_records(reader, stats, header.record_size)
    return _row_info(
        header, stats, records, truncated=bool(partial) or records < header.points, trailing=partial
    )


def _row_info(
    header: PcdHeader, stats: RowStats, records: int, *, truncated: bool, trailing: int
) -> CloudInfo:
    return CloudInfo(
        format="pcd",
        header_points=header.points,
        points=records,
        nan_points=stats.nan_points,
        inf_points=stats.inf_points,
        bounds=bounds(stats.low, stats.high),
        truncated=truncated,
        trailing_bytes=trailing,
    )


def _scan_ascii(reader: ChunkReader, header: PcdHeader) -> CloudInfo:
    stats = RowStats((_ASCII_FLOAT, _ASCII_FLOAT, _ASCII_FLOAT))
    expected = sum(header.counts)
    ix, iy, iz = (header.token_index(axis) for axis in AXES)
    records = 0
    pending = b""
    line_number = 0

    def consume(lines: list[bytes], offset: int) -> None:
        nonlocal records, line_number
        xs: list[bytes] = []
        ys: list[bytes] = []
        zs: list[bytes] = []
        for line in lines:
            line_number += 1
            tokens = line.split()
            if not tokens:
                continue
            if len(tokens) != expected:
                raise FileFormatError(
                    f"data line {line_number} has {len(tokens)} values, the header declares {expected}",
                    offset=offset,
                    line=line_number,
                )
            xs.append(tokens[ix])
            ys.append(tokens[iy])
            zs.append(tokens[iz])
        if not xs:
            return
        try:
            columns = [array.array("d", map(float, values)) for values in (xs, ys, zs)]
        except ValueError as error:
            raise FileFormatError(f"a coordinate is not a number ({error})", offset=offset) from None
        stats.add_floats(*columns)
        records += len(xs)

    while True:
        data = reader.take(BLOCK_BYTES)
        if not data:
            break
        if pending:
            data = pending + data
        lines = data.split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_HEADER_LINE:
            raise FileFormatError(f"a data line is longer than {MAX_HEADER_LINE} bytes", offset=reader.offset)
        consume(lines, reader.offset)
    if pending.strip():  # a last line without its newline
        consume([pending], reader.offset)
    return _row_info(header, stats, records, truncated=records < header.points, trailing=0)


def _scan_compressed(reader: ChunkReader, header: PcdHeader) -> CloudInfo:
    sizes = reader.read_exact(8, "binary_compressed sizes")
    compressed = int.from_bytes(sizes[:4], "little")
    uncompressed = int.from_bytes(sizes[4:], "little")
    if uncompressed != header.points * header.record_size:
        raise FileFormatError(
            f"compressed block decodes to {uncompressed} bytes, {header.points} points need "
            f"{header.points * header.record_size}",
            offset=header.data_offset + 4,
        )
    columns = _columns(header)
    stats = PlanarStats(columns, header.points)
    regions = []
    for axis, name in enumerate(AXES):
        index = header.fields.index(name)
        stride = header.sizes[index] * header.counts[index]
        start = header.points * header.field_offset(name)
        regions.append((start, start + header.points * stride, axis, stride))
    carry: dict[int, bytes] = {}
    next_point = [0, 0, 0]
    position = 0
    blocks = lzf.decompress(limited(reader, compressed), uncompressed, base_offset=header.data_offset + 8)
    for block in blocks:
        block_start, block_end = position, position + len(block)
        position = block_end
        for start, end, axis, stride in regions:
            low, high = max(start, block_start), min(end, block_end)
            if low >= high:
                continue
            data = carry.pop(axis, b"") + block[low - block_start : high - block_start]
            unit = 8 * stride
            usable = len(data) if high == end else len(data) // unit * unit
            stats.add_values(axis, next_point[axis], data[:usable], stride)
            next_point[axis] += usable // stride
            if usable < len(data):
                carry[axis] = data[usable:]
    nan_points, inf_points = stats.totals()
    return CloudInfo(
        format="pcd",
        header_points=header.points,
        points=header.points,
        nan_points=nan_points,
        inf_points=inf_points,
        bounds=bounds(stats.low, stats.high),
        bounds_basis="finite_values",
        trailing_bytes=reader.drain(),
        details={"compressed_size": compressed, "uncompressed_size": uncompressed},
    )
