"""Streaming GDSII (Calma stream format) reader: catalogue metadata in memory independent of file size.

A GDSII stream is a sequence of records ``length:u16 type:u8 datatype:u8 payload`` (big-endian,
length including the 4-byte header, always even): HEADER, BGNLIB, LIBNAME, UNITS, then one
BGNSTR … ENDSTR structure (cell) per cell with its elements, and ENDLIB. :func:`scan` reads the
records once, in order, from any byte source (:mod:`semiconductor_eda.streams`) and returns a
:class:`~semiconductor_eda.layout.LayoutMetadata`:

* HEADER version, BGNLIB modification/access times, LIBNAME, UNITS (two 8-byte excess-64 reals:
  the database unit in user units and in metres);
* per structure: element counts (boundary, path, box, node, text, sref, aref), the box of its
  own shapes and its placements folded per orientation (see :mod:`semiconductor_eda.layout`);
* the layer/datatype pairs of shapes (boundary, path, box, node) and layer/texttype pairs of texts;
* after ENDLIB: top cells, undefined cells, depth and the hierarchical bounding box.

``mode="header"`` stops after UNITS and never reads more than :data:`HEADER_LIMIT` bytes.

Anything that does not follow the format raises :class:`~shared.errors.FileFormatError` with the
absolute offset of the offending record and a ``reason``: truncation, impossible record lengths,
unknown record types, records out of place, wrong data types or sizes, missing mandatory records,
duplicate structure names, cyclic references, non-zero bytes after ENDLIB. Zero padding after
ENDLIB (tape-block filling) is accepted.

Speed comes from not decoding record by record where the format allows a shortcut: a run of
consecutive plain BOUNDARY elements with the same vertex count (a placed design is mostly that)
is recognised by one regular expression and decoded by one ``array`` conversion, so the
per-element Python work disappears; everything else takes the general record loop.
"""

from __future__ import annotations

import math
import re
import struct
import sys
from array import array
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from semiconductor_eda.layout import (
    AREF,
    BOUNDARY,
    BOX,
    NODE,
    PATH,
    SREF,
    TEXT,
    CellStats,
    LayoutMetadata,
    Mode,
    Units,
    outline_box,
    straight_path_box,
)
from semiconductor_eda.streams import ByteSource, ChunkBuffer, iter_chunks, truncated
from shared.errors import FileFormatError

HEADER_LIMIT: Final = 64 * 1024
"""Header-only mode reads at most this many bytes (the header records take a few hundred)."""

# Record types (GDSII Stream Format Manual, release 6.0).
HEADER, BGNLIB, LIBNAME, UNITS, ENDLIB, BGNSTR, STRNAME, ENDSTR = range(8)
R_BOUNDARY, R_PATH, R_SREF, R_AREF, R_TEXT = 0x08, 0x09, 0x0A, 0x0B, 0x0C
LAYER, DATATYPE, WIDTH, XY, ENDEL, SNAME, COLROW = 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13
TEXTNODE, R_NODE, TEXTTYPE, PRESENTATION, SPACING, STRING, STRANS, MAG, ANGLE = range(0x14, 0x1D)
UINTEGER, USTRING, REFLIBS, FONTS, PATHTYPE, GENERATIONS, ATTRTABLE = range(0x1D, 0x24)
STYPTABLE, STRTYPE, ELFLAGS, ELKEY, LINKTYPE, LINKKEYS, NODETYPE = range(0x24, 0x2B)
PROPATTR, PROPVALUE, R_BOX, BOXTYPE, PLEX, BGNEXTN, ENDEXTN, TAPENUM = range(0x2B, 0x33)
TAPECODE, STRCLASS, RESERVED, FORMAT, MASK, ENDMASKS, LIBDIRSIZE, SRFNAME, LIBSECUR = range(0x33, 0x3C)

RECORD_NAMES: Final = {
    value: name
    for name, value in {
        "HEADER": HEADER, "BGNLIB": BGNLIB, "LIBNAME": LIBNAME, "UNITS": UNITS, "ENDLIB": ENDLIB,
        "BGNSTR": BGNSTR, "STRNAME": STRNAME, "ENDSTR": ENDSTR, "BOUNDARY": R_BOUNDARY, "PATH": R_PATH,
        "SREF": R_SREF, "AREF": R_AREF, "TEXT": R_TEXT, "LAYER": LAYER, "DATATYPE": DATATYPE,
        "WIDTH": WIDTH, "XY": XY, "ENDEL": ENDEL, "SNAME": SNAME, "COLROW": COLROW,
        "TEXTNODE": TEXTNODE, "NODE": R_NODE, "TEXTTYPE": TEXTTYPE, "PRESENTATION": PRESENTATION,
        "SPACING": SPACING, "STRING": STRING, "STRANS": STRANS, "MAG": MAG, "ANGLE": ANGLE,
        "UINTEGER": UINTEGER, "USTRING": USTRING, "REFLIBS": REFLIBS, "FONTS": FONTS,
        "PATHTYPE": PATHTYPE, "GENERATIONS": GENERATIONS, "ATTRTABLE": ATTRTABLE,
        "STYPTABLE": STYPTABLE, "STRTYPE": STRTYPE, "ELFLAGS": ELFLAGS, "ELKEY": ELKEY,
        "LINKTYPE": LINKTYPE, "LINKKEYS": LINKKEYS, "NODETYPE": NODETYPE, "PROPATTR": PROPATTR,
        "PROPVALUE": PROPVALUE, "BOX": R_BOX, "BOXTYPE": BOXTYPE, "PLEX": PLEX, "BGNEXTN": BGNEXTN,
        "ENDEXTN": ENDEXTN, "TAPENUM": TAPENUM, "TAPECODE": TAPECODE, "STRCLASS": STRCLASS,
        "RESERVED": RESERVED, "FORMAT": FORMAT, "MASK": MASK, "ENDMASKS": ENDMASKS,
        "LIBDIRSIZE": LIBDIRSIZE, "SRFNAME": SRFNAME, "LIBSECUR": LIBSECUR,
    }.items()
}  # fmt: skip

# Data types and the byte size of one value (ASCII strings: any even length).
NODATA, BITARRAY, INT2, INT4, REAL4, REAL8, ASCII = range(7)
_VALUE_SIZE: Final = {NODATA: 0, BITARRAY: 2, INT2: 2, INT4: 4, REAL4: 4, REAL8: 8, ASCII: 1}

# What the records we interpret must carry: (data type, payload size or None for "a multiple").
_SHAPE: Final[dict[int, tuple[int, int | None]]] = {
    HEADER: (INT2, 2), BGNLIB: (INT2, 24), LIBNAME: (ASCII, None), UNITS: (REAL8, 16),
    ENDLIB: (NODATA, 0), BGNSTR: (INT2, 24), STRNAME: (ASCII, None), ENDSTR: (NODATA, 0),
    R_BOUNDARY: (NODATA, 0), R_PATH: (NODATA, 0), R_SREF: (NODATA, 0), R_AREF: (NODATA, 0),
    R_TEXT: (NODATA, 0), R_NODE: (NODATA, 0), R_BOX: (NODATA, 0), ENDEL: (NODATA, 0),
    LAYER: (INT2, 2), DATATYPE: (INT2, 2), TEXTTYPE: (INT2, 2), BOXTYPE: (INT2, 2),
    NODETYPE: (INT2, 2), PATHTYPE: (INT2, 2), WIDTH: (INT4, 4), BGNEXTN: (INT4, 4),
    ENDEXTN: (INT4, 4), XY: (INT4, None), SNAME: (ASCII, None), STRING: (ASCII, None),
    COLROW: (INT2, 4), STRANS: (BITARRAY, 2), MAG: (REAL8, 8), ANGLE: (REAL8, 8),
    PRESENTATION: (BITARRAY, 2),
}  # fmt: skip

_LIBRARY_OPTIONAL: Final = frozenset(
    {LIBDIRSIZE, SRFNAME, LIBSECUR, REFLIBS, FONTS, ATTRTABLE, GENERATIONS, FORMAT, MASK, ENDMASKS}
)
_ELEMENT_START: Final = {
    R_BOUNDARY: BOUNDARY, R_PATH: PATH, R_SREF: SREF, R_AREF: AREF, R_TEXT: TEXT, R_NODE: NODE, R_BOX: BOX,
}  # fmt: skip
_COMMON: Final = frozenset({ELFLAGS, PLEX, PROPATTR, PROPVALUE})
_ALLOWED: Final[dict[int, frozenset[int]]] = {
    BOUNDARY: _COMMON | {LAYER, DATATYPE, XY},
    PATH: _COMMON | {LAYER, DATATYPE, PATHTYPE, WIDTH, BGNEXTN, ENDEXTN, XY},
    SREF: _COMMON | {SNAME, STRANS, MAG, ANGLE, XY},
    AREF: _COMMON | {SNAME, STRANS, MAG, ANGLE, COLROW, XY},
    TEXT: _COMMON | {LAYER, TEXTTYPE, PRESENTATION, PATHTYPE, WIDTH, STRANS, MAG, ANGLE, XY, STRING},
    NODE: _COMMON | {LAYER, NODETYPE, XY},
    BOX: _COMMON | {LAYER, BOXTYPE, XY},
}
_REQUIRED: Final[dict[int, tuple[int, ...]]] = {
    BOUNDARY: (LAYER, DATATYPE, XY),
    PATH: (LAYER, DATATYPE, XY),
    SREF: (SNAME, XY),
    AREF: (SNAME, COLROW, XY),
    TEXT: (LAYER, TEXTTYPE, XY, STRING),
    NODE: (LAYER, NODETYPE, XY),
    BOX: (LAYER, BOXTYPE, XY),
}
_POINTS: Final = {SREF: 1, AREF: 3, TEXT: 1, BOX: 5}  # exact vertex counts where the format fixes one

# A plain BOUNDARY element: BOUNDARY, LAYER, DATATYPE, then an XY header (length read from it).
_PLAIN_HEAD: Final = re.compile(
    # BOUNDARY LAYER DATATYPE | PATH LAYER DATATYPE [PATHTYPE] [WIDTH] [BGNEXTN] [ENDEXTN]
    # | TEXT LAYER TEXTTYPE [PRESENTATION] [PATHTYPE] [WIDTH] [STRANS [MAG] [ANGLE]]; then an XY record.
    rb"(?:\x00\x04\x08\x00\x00\x06\x0d\x02(..)\x00\x06\x0e\x02(..)"
    rb"|\x00\x04\x09\x00\x00\x06\x0d\x02(..)\x00\x06\x0e\x02(..)(?:\x00\x06\x21\x02(..))?"
    rb"(?:\x00\x08\x0f\x03(....))?(?:\x00\x08\x30\x03(....))?(?:\x00\x08\x31\x03(....))?"
    rb"|\x00\x04\x0c\x00\x00\x06\x0d\x02(..)\x00\x06\x16\x02(..)(?:\x00\x06\x17\x01..)?(?:\x00\x06\x21\x02..)?"
    rb"(?:\x00\x08\x0f\x03....)?(?:\x00\x06\x1a\x01..(?:\x00\x0c\x1b\x05.{8})?(?:\x00\x0c\x1c\x05.{8})?)?"
    rb")(?=..\x10\x03)",
    re.S,
)
_INT4: Final = struct.Struct(">i")
_RUN_AFTER: Final = 2  # same-size boundaries in a row before trying the run expression
_LONG_RUN: Final = 4  # from this many same-size boundaries in a row, one array reduction is cheaper
_PLAIN_WINDOW: Final = 65536 + 64  # the largest plain boundary (a 65,535-byte XY record) and then some
_POOL_LIMIT: Final = 4 * 1024 * 1024  # pooled XY bytes before their box is folded into the cell's
_ENDEL: Final = b"\x00\x04\x11\x00"
_BOUNDARY_START: Final = b"\x00\x04\x08\x00"
_LITTLE: Final = sys.byteorder == "little"
_WORD: Final = "i" if array("i").itemsize == 4 else "l"


@lru_cache(maxsize=64)
def _boundary_run(xy_length: int) -> re.Pattern[bytes]:
    """One or more consecutive plain BOUNDARY elements whose XY record is ``xy_length`` bytes."""
    head = b"\x00\x04\x08\x00\x00\x06\x0d\x02..\x00\x06\x0e\x02.."
    xy = re.escape(bytes((xy_length >> 8, xy_length & 0xFF, XY, INT4)))
    return re.compile(b"(?:" + head + xy + b".{%d}" % (xy_length - 4) + re.escape(_ENDEL) + b")+", re.S)


@lru_cache(maxsize=256)
def _ints(count: int) -> struct.Struct:
    return struct.Struct(f">{count}i")


def real8(data: bytes, offset: int = 0) -> float:
    """An 8-byte GDSII real: sign bit, 7-bit excess-64 base-16 exponent, 56-bit fraction."""
    raw = int.from_bytes(data[offset : offset + 8], "big")
    mantissa = raw & 0x00FF_FFFF_FFFF_FFFF
    value = math.ldexp(mantissa, 4 * (((raw >> 56) & 0x7F) - 64) - 56)
    return -value if raw >> 63 else value


def _date(values: tuple[int, ...]) -> datetime | None:
    year, month, day, hour, minute, second = values
    if 0 <= year < 1000:  # many writers store years since 1900
        year += 1900
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _text(payload: bytes) -> str:
    """An ASCII record value without its NUL padding; other bytes survive as replacement marks."""
    return payload.rstrip(b"\x00").decode("ascii", errors="replace")


class _Pool:
    """Plain boundaries (and text points) of a cell, reduced in bulk when the cell ends.

    Per element the loop only appends: the XY payload and the raw layer/datatype bytes of a
    single boundary, or a whole run of same-size boundaries as raw bytes grouped by XY length.
    :meth:`flush` turns each group into one ``array`` and takes C-level minima, maxima and the
    set of layer/datatype words, and decodes each distinct pair once.
    """

    __slots__ = ("pairs", "payloads", "runs", "size", "text_pairs")

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.runs: dict[int, list[bytes]] = {}
        # Raw (layer, datatype) bytes as the regular expression captured them.
        self.pairs: set[tuple[Any, ...]] = set()
        self.text_pairs: set[tuple[Any, ...]] = set()
        self.size = 0

    def add(self, pair: tuple[Any, ...], payload: bytes) -> None:
        self.pairs.add(pair)
        self.payloads.append(payload)
        self.size += len(payload)

    def run(self, buf: bytes, start: int, end: int, xy_length: int) -> int:
        """Keep a run of same-size plain boundaries for the flush; returns how many it holds."""
        self.runs.setdefault(xy_length, []).append(buf[start:end])
        self.size += end - start
        return (end - start) // (xy_length + 20)

    def _reduce_runs(self) -> list[int]:
        """Box corners of every pooled run, and their layer/datatype pairs into ``pairs``."""
        corners: list[int] = []
        for xy_length, chunks in self.runs.items():
            words = array(_WORD)
            words.frombytes(b"".join(chunks))
            if _LITTLE:
                words.byteswap()
            stride = (xy_length + 20) // 4
            for layer_word, type_word in set(zip(words[2::stride], words[3::stride], strict=True)):
                self.pairs.add(
                    (
                        ((layer_word >> 16) & 0xFFFF).to_bytes(2, "big"),
                        (type_word & 0xFFFF).to_bytes(2, "big"),
                    )
                )
            xs = range(5, 5 + (xy_length - 4) // 4, 2)
            ys = range(6, 6 + (xy_length - 4) // 4, 2)
            corners += (
                min(min(words[i::stride]) for i in xs),
                min(min(words[i::stride]) for i in ys),
                max(max(words[i::stride]) for i in xs),
                max(max(words[i::stride]) for i in ys),
            )
        self.runs.clear()
        return corners

    def flush(self, cell: CellStats, layers: set[tuple[int, int]], text_layers: set[tuple[int, int]]) -> None:
        corners = self._reduce_runs()
        for pairs, target in ((self.pairs, layers), (self.text_pairs, text_layers)):
            for layer, datatype in pairs:
                target.add((int.from_bytes(layer, "big"), int.from_bytes(datatype, "big")))
            pairs.clear()
        if self.payloads:
            words = array(_WORD)
            words.frombytes(b"".join(self.payloads))
            if _LITTLE:
                words.byteswap()
            corners += (min(words[0::2]), min(words[1::2]), max(words[0::2]), max(words[1::2]))
        if corners:
            cell.add_box(min(corners[0::4]), min(corners[1::4]), max(corners[2::4]), max(corners[3::4]))
        self.payloads.clear()
        self.size = 0


class _Reader:
    """One pass over a GDSII stream."""

    def __init__(self, chunks: ChunkBuffer, mode: Mode) -> None:
        self.src = chunks
        self.mode: Mode = mode
        self.meta = LayoutMetadata(format="gdsii", mode=mode)
        self.offset = 0  # offset of the record just read

    # -- records ----------------------------------------------------------------------------------

    def error(self, message: str, reason: str, offset: int | None = None) -> FileFormatError:
        return FileFormatError(message, offset=self.offset if offset is None else offset, reason=reason)

    def record(self) -> tuple[int, bytes]:
        """The next record's type and payload, checked against what its type must carry."""
        src = self.src
        offset = src.offset
        self.offset = offset
        if not src.fill(4):
            if src.fill(1):
                raise truncated(offset, "a record header", src.base + len(src.buf))
            raise self.error("file ends before ENDLIB: truncated", "truncated")
        buf, pos = src.buf, src.pos
        length = (buf[pos] << 8) | buf[pos + 1]
        rtype, dtype = buf[pos + 2], buf[pos + 3]
        if length < 4 or length & 1:
            raise self.error(f"impossible record length {length}", "bad_record_length")
        name = RECORD_NAMES.get(rtype)
        if name is None:
            raise self.error(f"unknown record type 0x{rtype:02x}", "unknown_record_type")
        if not src.fill(length):
            raise truncated(offset, f"the {name} record ({length} bytes)", src.base + len(src.buf))
        buf, pos = src.buf, src.pos
        payload = buf[pos + 4 : pos + length]
        src.pos = pos + length
        shape = _SHAPE.get(rtype)
        if shape is not None:
            want, size = shape
            if dtype != want or (
                len(payload) != size if size is not None else len(payload) % _VALUE_SIZE[want]
            ):
                raise self.error(
                    f"{name} record with data type {dtype} and {len(payload)} payload bytes", "bad_record"
                )
        elif dtype not in _VALUE_SIZE or (dtype != NODATA and len(payload) % _VALUE_SIZE[dtype]):
            raise self.error(
                f"{name} record with data type {dtype} and {len(payload)} payload bytes", "bad_record"
            )
        return rtype, payload

    def expect(self, rtype: int, context: str) -> bytes:
        found, payload = self.record()
        if found != rtype:
            raise self.error(
                f"expected {RECORD_NAMES[rtype]} {context}, found {RECORD_NAMES[found]}", "unexpected_record"
            )
        return payload

    # -- library ----------------------------------------------------------------------------------

    def run(self) -> LayoutMetadata:
        meta = self.meta
        found, payload = self.record()
        if found != HEADER:
            raise self.error("not a GDSII stream: the first record is not HEADER", "not_gdsii")
        meta.version = str(struct.unpack(">h", payload)[0])
        stamps = struct.unpack(">12h", self.expect(BGNLIB, "after HEADER"))
        meta.modified, meta.accessed = _date(stamps[:6]), _date(stamps[6:])
        while True:
            found, payload = self.record()
            if found == LIBNAME and meta.library is None:
                meta.library = _text(payload)
            elif found == UNITS and meta.library is not None:
                self.units(payload)
                break
            elif found not in _LIBRARY_OPTIONAL:
                missing = "LIBNAME" if meta.library is None else "UNITS"
                raise self.error(
                    f"expected {missing} in the library header, found {RECORD_NAMES[found]}",
                    "unexpected_record",
                )
        meta.bytes_read = self.src.offset
        if self.mode == "header":
            return meta
        while True:
            found, payload = self.record()
            if found == BGNSTR:
                self.structure()
            elif found == ENDLIB:
                break
            else:
                raise self.error(
                    f"expected BGNSTR or ENDLIB, found {RECORD_NAMES[found]}", "unexpected_record"
                )
        self.trailer()
        return meta.finish()

    def units(self, payload: bytes) -> None:
        user_per_db, metres_per_db = real8(payload, 0), real8(payload, 8)
        if not (user_per_db > 0 and metres_per_db > 0) or not math.isfinite(metres_per_db / user_per_db):
            raise self.error(
                f"invalid UNITS {user_per_db!r} user / {metres_per_db!r} m per database unit", "bad_units"
            )
        self.meta.units = Units(db_unit_m=metres_per_db, user_unit_m=metres_per_db / user_per_db)

    def trailer(self) -> None:
        """After ENDLIB only zero padding may follow (streams were written in 2048-byte tape blocks)."""
        src = self.src
        end = src.offset
        while src.fill(1):
            rest = src.buf[src.pos :]
            if rest.strip(b"\x00"):
                first = src.offset + len(rest) - len(rest.lstrip(b"\x00"))
                raise self.error("data after ENDLIB", "trailing_data", first)
            src.pos = len(src.buf)
        self.meta.bytes_read = src.offset
        if self.meta.bytes_read < end:  # pragma: no cover - offsets only grow
            raise self.error("stream went backwards", "internal")

    # -- structures -------------------------------------------------------------------------------

    def structure(self) -> None:
        start = self.offset
        name = _text(self.expect(STRNAME, "after BGNSTR"))
        cells = self.meta.cells
        if name in cells:
            raise self.error(
                f"structure {name!r} is defined twice (first at byte {cells[name].offset})",
                "duplicate_structure",
                start,
            )
        cell = CellStats(name, start)
        cells[name] = cell
        pool = _Pool()
        counts = cell.counts
        while True:
            self.plain_elements(cell, pool)
            rtype, _ = self.record()
            kind = _ELEMENT_START.get(rtype)
            if kind is not None:
                self.element(cell, kind)
                counts[kind] += 1
            elif rtype == ENDSTR:
                pool.flush(cell, self.meta.layers, self.meta.text_layers)
                return
            elif rtype == STRCLASS and not any(counts):
                continue
            else:
                raise self.error(
                    f"{RECORD_NAMES[rtype]} where an element or ENDSTR must be", "unexpected_record"
                )

    def plain_elements(self, cell: CellStats, pool: _Pool) -> None:  # noqa: PLR0912, PLR0915 - the hot loop
        """Take every plain BOUNDARY, PATH and TEXT element from here on, stopping at anything else.

        Plain means the records every layout writer emits for an element without properties:
        BOUNDARY, LAYER, DATATYPE, XY, ENDEL; for a PATH also PATHTYPE, WIDTH, BGNEXTN, ENDEXTN,
        each optional, in that order; a TEXT with its optional PRESENTATION, PATHTYPE, WIDTH and
        STRANS/MAG/ANGLE before XY and its STRING after. A boundary's layer/datatype bytes and XY
        payload go to the pool, whose box is computed in bulk; once several boundaries of one vertex
        count follow each other, the rest of the run is matched by one regular expression and reduced with
        ``array``. Anything else (properties, ELFLAGS, other elements, damage) is left to the
        general record loop, which checks it.
        """
        src = self.src
        plain = _PLAIN_HEAD.match
        pairs_add, payloads_append = pool.pairs.add, pool.payloads.append
        text_pairs_add = pool.text_pairs.add
        int4, four = _INT4.unpack, _ints(4).unpack_from
        px0 = py0 = math.inf
        px1 = py1 = -math.inf
        boundaries = paths = texts = pooled = same = previous = 0
        endel, run_after, text_record, boundary_record = _ENDEL, _RUN_AFTER, R_TEXT, R_BOUNDARY
        while True:
            if len(src.buf) - src.pos < _PLAIN_WINDOW:
                src.fill(_PLAIN_WINDOW)
            buf, pos = src.buf, src.pos
            # Any plain element starting before `end` lies wholly inside the window.
            end = len(buf) - (20 if src.exhausted else _PLAIN_WINDOW)
            start = pos
            while pos < end:
                match = plain(buf, pos)
                if match is None:
                    break
                xy = match.end()
                length = (buf[xy] << 8) | buf[xy + 1]
                tail = xy + length
                kind = buf[pos + 2]
                if kind == text_record:
                    # XY is one point, then a STRING record, then ENDEL.
                    text = tail + int.from_bytes(buf[tail : tail + 2], "big")
                    if (
                        length != 12
                        or buf[tail + 2 : tail + 4] != b"\x19\x06"
                        or text - tail < 4
                        or (text - tail) & 1
                        or buf[text : text + 4] != endel
                    ):
                        break
                    text_pairs_add(match.group(9, 10))
                    payloads_append(buf[xy + 4 : tail])
                    pooled += 8
                    texts += 1
                    pos = text + 4
                    continue
                if length < 12 or (length - 4) & 7 or buf[tail : tail + 4] != endel:
                    break
                if kind == boundary_record:
                    pairs_add(match.group(1, 2))
                    payloads_append(buf[xy + 4 : tail])
                    pooled += length
                    boundaries += 1
                    pos = tail + 4
                    if length != previous:
                        previous, same = length, 0
                        continue
                    same += 1
                    if same == run_after:
                        same = 0
                        run = _boundary_run(length).match(buf, pos)
                        if run is not None and run.end() - pos >= _LONG_RUN * (length + 20):
                            boundaries += pool.run(buf, pos, run.end(), length)
                            pos = run.end()
                    continue
                groups = match.groups()
                pathtype, width, begin, finish = groups[4:8]
                kind = 0 if pathtype is None else pathtype[1] if pathtype[0] == 0 else -1
                if kind not in (0, 1, 2, 4):
                    break  # the general loop reports it
                half = abs(int4(width)[0]) / 2 if width else 0
                if kind == 2:
                    first = last = half
                elif kind == 4:
                    first = int4(begin)[0] if begin else 0
                    last = int4(finish)[0] if finish else 0
                else:
                    first = last = 0
                if length == 12 and kind != 1:
                    box = straight_path_box(four(buf, xy + 4), half, first, last)
                else:
                    box = None
                if box is None:
                    box = _path_box(
                        _ints((length - 4) // 4).unpack_from(buf, xy + 4), half, kind, first, last
                    )
                pairs_add(groups[2:4])
                if box is not None:
                    if box[0] < px0:  # noqa: PLR1730 - comparisons are cheaper than calls here
                        px0 = box[0]
                    if box[1] < py0:  # noqa: PLR1730
                        py0 = box[1]
                    if box[2] > px1:  # noqa: PLR1730
                        px1 = box[2]
                    if box[3] > py1:  # noqa: PLR1730
                        py1 = box[3]
                paths += 1
                pos = tail + 4
            src.pos = pos
            if pos == start or pos < end:
                break
        pool.size += pooled
        if px0 != math.inf:
            cell.add_box(px0, py0, px1, py1)
        cell.counts[BOUNDARY] += boundaries
        cell.counts[PATH] += paths
        cell.counts[TEXT] += texts
        cell.shapes += boundaries + paths + texts
        if pool.size > _POOL_LIMIT:
            pool.flush(cell, self.meta.layers, self.meta.text_layers)

    def element(self, cell: CellStats, kind: int) -> None:  # noqa: PLR0912 - one branch per element rule
        start = self.offset
        allowed = _ALLOWED[kind]
        seen: dict[int, bytes] = {}
        while True:
            rtype, payload = self.record()
            if rtype == ENDEL:
                break
            if rtype not in allowed:
                raise self.error(
                    f"{RECORD_NAMES[rtype]} inside {RECORD_NAMES[_kind_record(kind)]} (ENDEL missing?)",
                    "unexpected_record",
                )
            if rtype in (PROPATTR, PROPVALUE, ELFLAGS, PLEX):
                continue
            if rtype in seen:
                raise self.error(f"two {RECORD_NAMES[rtype]} records in one element", "unexpected_record")
            seen[rtype] = payload
        self.offset = start
        for required in _REQUIRED[kind]:
            if required not in seen:
                raise self.error(
                    f"{RECORD_NAMES[_kind_record(kind)]} without {RECORD_NAMES[required]}", "missing_record"
                )
        xy = seen[XY]
        count = len(xy) // 4
        if count == 0 or count % 2:
            raise self.error(f"XY record with {count} coordinates", "bad_record")
        points = count // 2
        wanted = _POINTS.get(kind)
        if wanted is not None and points != wanted:
            raise self.error(
                f"{RECORD_NAMES[_kind_record(kind)]} with {points} points, not {wanted}", "bad_record"
            )
        coords = _ints(count).unpack(xy)
        if kind in (SREF, AREF):
            self.placement(cell, kind, seen, coords)
            return
        layer = struct.unpack(">H", seen[LAYER])[0]
        second = seen.get(DATATYPE) or seen.get(TEXTTYPE) or seen.get(BOXTYPE) or seen[NODETYPE]
        pair = (layer, struct.unpack(">H", second)[0])
        cell.shapes += 1
        if kind == TEXT:
            self.meta.text_layers.add(pair)
            cell.add_box(coords[0], coords[1], coords[0], coords[1])
            return
        self.meta.layers.add(pair)
        if kind == NODE:
            return  # electrical connectivity, not geometry (gdstk and KLayout agree)
        xs, ys = coords[0::2], coords[1::2]
        if kind != PATH:
            cell.add_box(min(xs), min(ys), max(xs), max(ys))
            return
        box = self.path_outline(seen, coords)
        if box is not None:
            cell.add_box(*box)

    def path_outline(
        self, seen: dict[int, bytes], coords: tuple[int, ...]
    ) -> tuple[float, float, float, float] | None:
        kind = struct.unpack(">h", seen[PATHTYPE])[0] if PATHTYPE in seen else 0
        if kind not in (0, 1, 2, 4):
            raise self.error(f"PATHTYPE {kind} is not 0, 1, 2 or 4", "bad_record")
        width = struct.unpack(">i", seen[WIDTH])[0] if WIDTH in seen else 0
        begin = struct.unpack(">i", seen[BGNEXTN])[0] if BGNEXTN in seen else 0
        finish = struct.unpack(">i", seen[ENDEXTN])[0] if ENDEXTN in seen else 0
        return _path_box(coords, abs(width) / 2, kind, begin, finish)

    def placement(self, cell: CellStats, kind: int, seen: dict[int, bytes], coords: tuple[int, ...]) -> None:
        child = _text(seen[SNAME])
        flags = struct.unpack(">H", seen[STRANS])[0] if STRANS in seen else 0
        reflected = bool(flags & 0x8000)
        magnification = real8(seen[MAG]) if MAG in seen else 1.0
        angle = real8(seen[ANGLE]) if ANGLE in seen else 0.0
        if not (math.isfinite(magnification) and math.isfinite(angle)):  # pragma: no cover - real8 is finite
            raise self.error("non-finite MAG or ANGLE", "bad_record")
        x, y = coords[0], coords[1]
        if kind == SREF:
            cell.instances += 1
            cell.add_placement(
                child,
                reflected=reflected,
                angle=angle,
                magnification=magnification,
                origins=(x, y, x, y),
                instances=1,
            )
            return
        columns, rows = struct.unpack(">hh", seen[COLROW])
        if columns < 1 or rows < 1:
            raise self.error(f"AREF with {columns} columns and {rows} rows", "bad_record")
        # Instance (i, j) is at origin + i·(p2 - origin)/columns + j·(p3 - origin)/rows; the
        # corner instances bound all the others.
        cx, cy = (coords[2] - x) / columns, (coords[3] - y) / columns
        rx, ry = (coords[4] - x) / rows, (coords[5] - y) / rows
        corners_x = [x, x + (columns - 1) * cx, x + (rows - 1) * rx, x + (columns - 1) * cx + (rows - 1) * rx]
        corners_y = [y, y + (columns - 1) * cy, y + (rows - 1) * ry, y + (columns - 1) * cy + (rows - 1) * ry]
        instances = columns * rows
        cell.instances += instances
        origins = (min(corners_x), min(corners_y), max(corners_x), max(corners_y))
        cell.add_placement(
            child,
            reflected=reflected,
            angle=angle,
            magnification=magnification,
            origins=origins,
            instances=instances,
        )


def _path_box(
    coords: tuple[int, ...], half: float, pathtype: int, begin: int, finish: int
) -> tuple[float, float, float, float] | None:
    """A PATH's outline box from its XY coordinates; PATHTYPE 0 flush, 1 round, 2 half-width
    extensions, 4 explicit BGNEXTN/ENDEXTN (a negative WIDTH is absolute: same outline here)."""
    if pathtype == 1:
        return outline_box(coords, half, 0, 0, round_ends=True)
    if pathtype == 2:
        return outline_box(coords, half, half, half)
    if pathtype == 4:
        return outline_box(coords, half, begin, finish)
    return outline_box(coords, half, 0, 0)


def _kind_record(kind: int) -> int:
    return next(rtype for rtype, value in _ELEMENT_START.items() if value == kind)


def scan(source: ByteSource, *, mode: Mode = "full", chunks: ChunkBuffer | None = None) -> LayoutMetadata:
    """Read a GDSII stream from ``source`` once and return its catalogue metadata.

    ``mode="header"`` reads HEADER through UNITS only, from at most :data:`HEADER_LIMIT` bytes.
    ``chunks`` lets a caller that already sniffed the first bytes hand over its buffer.
    """
    if chunks is None:
        limit = HEADER_LIMIT if mode == "header" else None
        chunks = ChunkBuffer(iter_chunks(source, limit=limit))
    return _Reader(chunks, mode).run()
