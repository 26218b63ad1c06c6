"""PLY (Stanford polygon format), ascii and binary: the header, then one pass over every element.

Header: ``ply``, ``format ascii|binary_little_endian|binary_big_endian 1.0``, ``comment`` and
``obj_info`` lines, ``element <name> <count>`` each followed by its ``property <type> <name>`` or
``property list <count type> <item type> <name>`` lines, and ``end_header``. The points are the
``vertex`` element, which needs x, y and z scalar properties.

Elements are stored one after the other. Vertices with scalar properties only are fixed-size
records and go to the vectorised statistics; list properties (faces' ``vertex_indices``) are
walked record by record, reading only their counts, so a mesh's faces are checked for
completeness without being kept. Fewer vertices than declared, or an element cut short, is a
truncated file.
"""

from __future__ import annotations

import array
import struct
from dataclasses import dataclass
from typing import Final

from autonomous_driving.pointclouds.common import (
    BLOCK_BYTES,
    MAX_HEADER_LINE,
    MAX_HEADER_LINES,
    CloudInfo,
    header_text,
    pump_records,
)
from autonomous_driving.pointclouds.stats import AXES, Column, RowStats, bounds
from autonomous_driving.sources import ChunkReader
from shared.errors import FileFormatError

_TYPES: Final = {
    "char": ("i", 1), "int8": ("i", 1), "uchar": ("u", 1), "uint8": ("u", 1),
    "short": ("i", 2), "int16": ("i", 2), "ushort": ("u", 2), "uint16": ("u", 2),
    "int": ("i", 4), "int32": ("i", 4), "uint": ("u", 4), "uint32": ("u", 4),
    "float": ("f", 4), "float32": ("f", 4), "double": ("f", 8), "float64": ("f", 8),
}  # fmt: skip
_STRUCT: Final = {("i", 1): "b", ("u", 1): "B", ("i", 2): "h", ("u", 2): "H", ("i", 4): "i", ("u", 4): "I",
                  ("f", 4): "f", ("f", 8): "d"}  # fmt: skip
ENCODINGS: Final = ("ascii", "binary_little_endian", "binary_big_endian")
MAX_LIST_LENGTH: Final = 1 << 20
_ASCII_FLOAT: Final = Column("ascii", 0, 8, "f")


@dataclass(frozen=True)
class Property:
    name: str
    kind: str
    size: int
    list_count: tuple[str, int] | None = None  # (kind, size) of a list's length


@dataclass(frozen=True)
class Element:
    name: str
    count: int
    properties: tuple[Property, ...]

    @property
    def fixed(self) -> bool:
        return all(prop.list_count is None for prop in self.properties)

    @property
    def record_size(self) -> int:
        return sum(prop.size for prop in self.properties)

    def offset_of(self, name: str) -> int:
        offset = 0
        for prop in self.properties:
            if prop.name == name:
                return offset
            offset += prop.size
        raise KeyError(name)


def _type(name: str, offset: int) -> tuple[str, int]:
    if name not in _TYPES:
        raise FileFormatError(f"unknown PLY property type {name!r}", offset=offset)
    return _TYPES[name]


def _property(words: list[str], offset: int) -> Property:
    if len(words) == 5 and words[1] == "list":
        count_type, item_type = _type(words[2], offset), _type(words[3], offset)
        if count_type[0] == "f":
            raise FileFormatError("a list length must be an integer type", offset=offset)
        return Property(words[4], item_type[0], item_type[1], count_type)
    if len(words) == 3:
        kind, size = _type(words[1], offset)
        return Property(words[2], kind, size)
    raise FileFormatError(f"malformed property line {' '.join(words)!r}", offset=offset)


def read_header(reader: ChunkReader) -> tuple[str, list[Element]]:
    if reader.read(4) not in (b"ply\n", b"ply\r"):
        raise FileFormatError("not a PLY file (no 'ply' magic line)", offset=0)
    encoding: str | None = None
    elements: list[tuple[str, int, list[Property]]] = []
    for _ in range(MAX_HEADER_LINES):
        offset = reader.offset
        line = reader.readline(MAX_HEADER_LINE, "PLY header")
        if not line:
            break
        words = header_text(line).split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        keyword = words[0]
        if keyword == "end_header":
            if encoding is None:
                raise FileFormatError("the PLY header has no format line", offset=offset)
            return encoding, [Element(name, count, tuple(props)) for name, count, props in elements]
        if keyword == "format":
            if len(words) != 3 or words[1] not in ENCODINGS:
                raise FileFormatError(f"unsupported PLY format line {' '.join(words)!r}", offset=offset)
            encoding = words[1]
        elif keyword == "element" and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif keyword == "property":
            if not elements:
                raise FileFormatError("a property before any element", offset=offset)
            elements[-1][2].append(_property(words, offset))
        else:
            raise FileFormatError(f"unknown PLY header line {keyword!r}", offset=offset)
    raise FileFormatError("the PLY header has no end_header line", offset=reader.offset)


def scan(reader: ChunkReader) -> CloudInfo:
    encoding, elements = read_header(reader)
    vertex = next((element for element in elements if element.name == "vertex"), None)
    if vertex is None:
        raise FileFormatError("the PLY file has no vertex element", offset=reader.offset)
    names = {prop.name: prop for prop in vertex.properties}
    missing = [axis for axis in AXES if axis not in names or names[axis].list_count is not None]
    if missing:
        raise FileFormatError(f"the vertex element has no scalar {', '.join(missing)}", offset=reader.offset)
    big = encoding == "binary_big_endian"
    stats = RowStats(
        (_ASCII_FLOAT,) * 3  # type: ignore[arg-type]
        if encoding == "ascii"
        else tuple(
            Column(axis, vertex.offset_of(axis), names[axis].size, names[axis].kind, big) for axis in AXES
        )
    )
    found: dict[str, int] = {}
    truncated = False
    vertices = 0
    for element in elements:
        if encoding == "ascii":
            records = _ascii_element(reader, element, stats if element is vertex else None)
        elif element.fixed:
            if element is vertex:
                records, partial = pump_records(reader, stats, element.record_size, element.count)
            else:
                skipped = reader.skip(element.count * element.record_size)
                records, partial = (
                    divmod(skipped, element.record_size) if element.record_size else (element.count, 0)
                )
            truncated = truncated or bool(partial)
        else:
            records = _binary_lists(reader, element, big, stats if element is vertex else None)
        found[element.name] = records
        if element is vertex:
            vertices = records
        if records < element.count:
            truncated = True
            break
    trailing = reader.drain()
    return CloudInfo(
        format="ply",
        header_points=vertex.count,
        points=vertices,
        nan_points=stats.nan_points,
        inf_points=stats.inf_points,
        bounds=bounds(stats.low, stats.high),
        truncated=truncated,
        trailing_bytes=trailing,
        details={
            "encoding": encoding,
            "elements": {element.name: element.count for element in elements},
            "elements_found": found,
            "vertex_properties": [prop.name for prop in vertex.properties],
        },
    )


def _ascii_element(reader: ChunkReader, element: Element, stats: RowStats | None) -> int:
    """Read ``element.count`` non-empty lines; vertices' x, y, z go to ``stats``."""
    positions: dict[str, int] = {}
    if stats is not None and element.fixed:
        positions = {prop.name: index for index, prop in enumerate(element.properties)}
    records = 0
    batch: tuple[list[bytes], list[bytes], list[bytes]] = ([], [], [])

    def flush() -> None:
        if stats is not None and batch[0]:
            try:
                stats.add_floats(*(array.array("d", map(float, values)) for values in batch))
            except ValueError as error:
                raise FileFormatError(
                    f"a vertex coordinate is not a number ({error})", offset=reader.offset
                ) from None
            for values in batch:
                values.clear()

    while records < element.count:
        line = reader.readline(MAX_HEADER_LINE, "PLY data")
        if not line:
            break
        tokens = line.split()
        if not tokens:
            continue
        records += 1
        if stats is None:
            continue
        if positions:
            if len(tokens) < len(element.properties):
                raise FileFormatError(f"vertex {records - 1} has too few values", offset=reader.offset)
            values = [tokens[positions[axis]] for axis in AXES]
        else:
            values = _ascii_list_values(tokens, element, reader.offset)
        for column, value in zip(batch, values, strict=True):
            column.append(value)
        if len(batch[0]) >= 65536:
            flush()
    flush()
    return records


def _ascii_list_values(tokens: list[bytes], element: Element, offset: int) -> list[bytes]:
    index = 0
    found: dict[str, bytes] = {}
    try:
        for prop in element.properties:
            if prop.list_count is not None:
                index += 1 + int(tokens[index])
            else:
                found[prop.name] = tokens[index]
                index += 1
        return [found[axis] for axis in AXES]
    except (IndexError, ValueError, KeyError):
        raise FileFormatError("a vertex line does not match its properties", offset=offset) from None


def _binary_lists(reader: ChunkReader, element: Element, big: bool, stats: RowStats | None) -> int:
    """Walk records with list properties: read each list's length, skip its items."""
    order = ">" if big else "<"
    columns: tuple[bytearray, bytearray, bytearray] = (bytearray(), bytearray(), bytearray())
    axis_of = {axis: index for index, axis in enumerate(AXES)}
    pending = 0
    for record in range(element.count):
        for prop in element.properties:
            if prop.list_count is None:
                value = reader.read(prop.size)
                if len(value) < prop.size:
                    return record
                if stats is not None and prop.name in axis_of:
                    columns[axis_of[prop.name]].extend(value[::-1] if big else value)
                continue
            raw = reader.read(prop.list_count[1])
            if len(raw) < prop.list_count[1]:
                return record
            (length,) = struct.unpack(order + _STRUCT[prop.list_count], raw)
            if length < 0 or length > MAX_LIST_LENGTH:
                raise FileFormatError(f"a list of {length} items", offset=reader.offset)
            if reader.skip(length * prop.size) < length * prop.size:
                return record
        if stats is not None:
            pending += 1
            if pending * 8 >= BLOCK_BYTES // 4:
                stats.add_columns([bytes(column) for column in columns], pending)
                for column in columns:
                    column.clear()
                pending = 0
    if stats is not None and pending:
        stats.add_columns([bytes(column) for column in columns], pending)
    return element.count
