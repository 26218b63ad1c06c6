"""Streaming OASIS (SEMI P39) reader: the same catalogue metadata as the GDSII reader.

An OASIS file is the magic ``%SEMI-OASIS\\r\\n``, a START record (version "1.0", the database
unit as grid steps per micron, the offset flag and — when the flag is 0 — the six name-table
offsets), records, and a 256-byte END record (the table offsets when the flag is 1, padding, a
validation scheme and, for CRC32 or CHECKSUM32, a signature over every byte before it).

:func:`scan` reads it once, sequentially:

* CBLOCKs (raw DEFLATE) are inflated incrementally with ``zlib.decompressobj(-15)``, at most
  one chunk of output at a time; compressed and uncompressed byte counts are checked exactly;
* name tables: CELLNAME (implicit or explicit reference numbers, never mixed, as the standard
  requires), TEXTSTRING, PROPNAME and PROPSTRING (counted), LAYERNAME (kept: name, layer and
  datatype intervals); cells and placements by reference number are resolved at END, since
  writers (gdstk among them) put the tables last;
* CELL, PLACEMENT (both record types, every repetition type 0-11, magnification and any angle),
  RECTANGLE, POLYGON (point-list types 0-5), PATH (extension schemes), TRAPEZOID (23/24/25),
  CTRAPEZOID (types 0-25), CIRCLE, TEXT, XGEOMETRY, with their modal variables, which are reset
  at each CELL and name record and must be set before they are used;
* PROPERTY records and their values (reals of every type, integers, strings, references) are
  parsed to be skipped correctly, never stored;
* the END record's validation signature is checked against a CRC32 or byte sum computed while
  streaming.

A repetition is never expanded: its instance count and the range of its offsets are what the
counts and boxes need. Memory is one chunk, the largest record, the name tables and two bounded
caches of shape extents keyed by their point lists' bytes (:data:`CACHE_ENTRIES`).

Everything malformed raises :class:`~shared.errors.FileFormatError` with the file offset of the
record (for a record inside a CBLOCK: the CBLOCK's offset, plus ``decompressed_offset``) and a
``reason``.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Final

from semiconductor_eda.layout import (
    AREF,
    BOUNDARY,
    PATH,
    SREF,
    TEXT,
    CellStats,
    LayoutMetadata,
    Mode,
    Units,
    outline_box,
)
from semiconductor_eda.streams import ByteSource, ChunkBuffer, iter_chunks, truncated
from shared.errors import FileFormatError

MAGIC: Final = b"%SEMI-OASIS\r\n"
HEADER_LIMIT: Final = 64 * 1024
"""Header-only mode reads at most this many bytes (magic and START take a few dozen)."""
MAX_RECORD: Final = 64 * 1024 * 1024
"""A record larger than this (a polygon of millions of points) is refused, which bounds memory."""
WINDOW: Final = 64 * 1024
"""Bytes made available before each record is decoded; larger records grow the window."""
INFLATE_STEP: Final = 1024 * 1024
"""Decompressed bytes produced per step of a CBLOCK."""
CACHE_ENTRIES: Final = 8192
"""Point lists (polygons) and path outlines remembered by their bytes; the cache restarts when full."""
CACHE_KEY_BYTES: Final = 256
"""Longer point lists are decoded every time: the caches stay within a few megabytes."""

TABLES: Final = ("cellname", "textstring", "propname", "propstring", "layername", "xname")
RECORD_NAMES: Final = (
    "PAD", "START", "END", "CELLNAME", "CELLNAME", "TEXTSTRING", "TEXTSTRING", "PROPNAME", "PROPNAME",
    "PROPSTRING", "PROPSTRING", "LAYERNAME", "LAYERNAME", "CELL", "CELL", "XYABSOLUTE", "XYRELATIVE",
    "PLACEMENT", "PLACEMENT", "TEXT", "RECTANGLE", "POLYGON", "PATH", "TRAPEZOID", "TRAPEZOID",
    "TRAPEZOID", "CTRAPEZOID", "CIRCLE", "PROPERTY", "PROPERTY", "XNAME", "XNAME", "XELEMENT",
    "XGEOMETRY", "CBLOCK",
)  # fmt: skip
_OCTANGULAR: Final = ((1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1), (-1, -1), (1, -1))
_MANHATTAN: Final = _OCTANGULAR[:4]
_NAME_TABLES: Final = (
    dict.fromkeys((5, 6), "textstring")
    | dict.fromkeys((7, 8), "propname")
    | dict.fromkeys((9, 10), "propstring")
    | dict.fromkeys((30, 31), "xname")
)
_IN_CELL_RECORDS: Final = frozenset(range(17, 28)) | {33}
_SINGLE = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")

PathEntry = tuple[int, float, float, tuple[float, float, float, float] | None]
"""A PATH's half-width, start and end extensions and the box of its outline relative to its
position (None: no extent)."""
Repetition = tuple[int, float, float, float, float]
"""(instances, x0, y0, x1, y1): how many copies and the range of their offsets (0 included)."""
_NO_REPETITION: Final[Repetition] = (1, 0, 0, 0, 0)


class _Bad(Exception):
    """A malformed record; the scan loop turns it into a FileFormatError at the record's offset."""

    def __init__(self, message: str, reason: str = "bad_record") -> None:
        super().__init__(message)
        self.reason = reason


# --- primitive decoders: (buffer, position) -> (value, new position); IndexError past the end ------


def _uint(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    value = byte & 0x7F
    shift = 7
    while True:
        pos += 1
        byte = buf[pos]
        if byte & 0x7F:
            # Non-canonical encodings (KLayout pads END with 0x80 0x80 … 0x00) are legal;
            # only significant bits beyond 64 are refused.
            if shift >= 64 or ((byte & 0x7F) << shift) >> 64:
                raise _Bad("unsigned integer larger than 64 bits", "integer_overflow")
            value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + 1
        shift += 7


def _sint(buf: bytes, pos: int) -> tuple[int, int]:
    value, pos = _uint(buf, pos)
    return (-(value >> 1) if value & 1 else value >> 1), pos


def _string(buf: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = _uint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise IndexError  # the window is too small (or the file ends): the loop decides
    return buf[pos:end], end


def _name(buf: bytes, pos: int) -> tuple[str, int]:
    raw, pos = _string(buf, pos)
    return raw.decode("ascii", errors="replace"), pos


def _real(buf: bytes, pos: int, kind: int | None = None) -> tuple[float, int]:
    if kind is None:
        kind, pos = _uint(buf, pos)
    if kind in (0, 1):
        value, pos = _uint(buf, pos)
        return (float(value) if kind == 0 else -float(value)), pos
    if kind in (2, 3):
        value, pos = _uint(buf, pos)
        if value == 0:
            raise _Bad("reciprocal real of zero", "bad_real")
        return (1.0 / value if kind == 2 else -1.0 / value), pos
    if kind in (4, 5):
        numerator, pos = _uint(buf, pos)
        denominator, pos = _uint(buf, pos)
        if denominator == 0:
            raise _Bad("ratio real with a zero denominator", "bad_real")
        return (numerator / denominator if kind == 4 else -numerator / denominator), pos
    if kind == 6:
        if pos + 4 > len(buf):
            raise IndexError
        return _SINGLE.unpack_from(buf, pos)[0], pos + 4
    if kind == 7:
        if pos + 8 > len(buf):
            raise IndexError
        return _DOUBLE.unpack_from(buf, pos)[0], pos + 8
    raise _Bad(f"real of unknown type {kind}", "bad_real")


def _gdelta(buf: bytes, pos: int) -> tuple[int, int, int]:
    value, pos = _uint(buf, pos)
    if not value & 1:
        dx, dy = _OCTANGULAR[(value >> 1) & 7]
        magnitude = value >> 4
        return dx * magnitude, dy * magnitude, pos
    dx = -(value >> 2) if value & 2 else value >> 2
    dy, pos = _sint(buf, pos)
    return dx, dy, pos


def _grid_repetition(buf: bytes, pos: int, kind: int) -> tuple[Repetition, int]:
    """Types 1-3: a rectangular grid (or a row, or a column) with unsigned spacings."""
    nx = ny = 1
    sx = sy = 0
    if kind != 3:
        nx, pos = _uint(buf, pos)
        nx += 2
    if kind != 2:
        ny, pos = _uint(buf, pos)
        ny += 2
    if kind != 3:
        sx, pos = _uint(buf, pos)
    if kind != 2:
        sy, pos = _uint(buf, pos)
    return (nx * ny, 0, 0, (nx - 1) * sx, (ny - 1) * sy), pos


def _axis_repetition(buf: bytes, pos: int, kind: int) -> tuple[Repetition, int]:
    """Types 4-7: n positions along x (4, 5) or y (6, 7), spacings listed (5, 7: on a grid)."""
    count, pos = _uint(buf, pos)
    if count > len(buf):  # every spacing takes at least one byte
        raise IndexError
    grid = 1
    if kind in (5, 7):
        grid, pos = _uint(buf, pos)
    total = 0
    for _ in range(count + 1):
        space, pos = _uint(buf, pos)
        total += space
    extent = total * grid
    if kind in (4, 5):
        return (count + 2, 0, 0, extent, 0), pos
    return (count + 2, 0, 0, 0, extent), pos


def _lattice_repetition(buf: bytes, pos: int, kind: int) -> tuple[Repetition, int]:
    """Types 8-9: an n x m lattice (or a line) along arbitrary displacement vectors."""
    n, pos = _uint(buf, pos)
    n += 2
    m = 1
    if kind == 8:
        m, pos = _uint(buf, pos)
        m += 2
    nx, ny, pos = _gdelta(buf, pos)
    mx = my = 0
    if kind == 8:
        mx, my, pos = _gdelta(buf, pos)
    xs = (0, (n - 1) * nx, (m - 1) * mx, (n - 1) * nx + (m - 1) * mx)
    ys = (0, (n - 1) * ny, (m - 1) * my, (n - 1) * ny + (m - 1) * my)
    return (n * m, min(xs), min(ys), max(xs), max(ys)), pos


def _free_repetition(buf: bytes, pos: int, kind: int) -> tuple[Repetition, int]:
    """Types 10-11: any positions, listed as successive displacements (11: on a grid)."""
    count, pos = _uint(buf, pos)
    if count > len(buf):  # every displacement takes at least one byte
        raise IndexError
    grid = 1
    if kind == 11:
        grid, pos = _uint(buf, pos)
    x = y = x0 = y0 = x1 = y1 = 0
    for _ in range(count + 1):
        dx, dy, pos = _gdelta(buf, pos)
        x += dx
        y += dy
        x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
    return (count + 2, x0 * grid, y0 * grid, x1 * grid, y1 * grid), pos


_REPETITIONS: Final = (
    (_grid_repetition,) * 3 + (_axis_repetition,) * 4 + (_lattice_repetition,) * 2 + (_free_repetition,) * 2
)


def _repetition(buf: bytes, pos: int, previous: Repetition | None) -> tuple[Repetition, int]:
    """A repetition as (instances, offset range); type 0 reuses the previous one."""
    kind, pos = _uint(buf, pos)
    if kind == 0:
        if previous is None:
            raise _Bad("repetition type 0 (reuse) with no previous repetition", "undefined_modal")
        return previous, pos
    if kind > len(_REPETITIONS):
        raise _Bad(f"unknown repetition type {kind}", "bad_repetition")
    return _REPETITIONS[kind - 1](buf, pos, kind)


def _point_list(buf: bytes, pos: int) -> tuple[list[int], int]:
    """A point list as flat coordinates ``0, 0, x1, y1, …`` relative to the element's position.

    For a polygon, types 0 and 1 imply a closing vertex made of coordinates already present, so
    it changes no extent and is not added.
    """
    kind, pos = _uint(buf, pos)
    count, pos = _uint(buf, pos)
    if count > len(buf):  # every delta takes at least one byte
        raise IndexError
    x = y = 0
    coords = [0, 0]
    append = coords.append
    if kind in (0, 1):
        horizontal = kind == 0
        for _ in range(count):
            delta, pos = _sint(buf, pos)
            if horizontal:
                x += delta
            else:
                y += delta
            horizontal = not horizontal
            append(x)
            append(y)
    elif kind in (2, 3):
        bits, directions = (2, _MANHATTAN) if kind == 2 else (3, _OCTANGULAR)
        mask = (1 << bits) - 1
        for _ in range(count):
            value, pos = _uint(buf, pos)
            dx, dy = directions[value & mask]
            magnitude = value >> bits
            x += dx * magnitude
            y += dy * magnitude
            append(x)
            append(y)
    elif kind in (4, 5):
        vx = vy = 0
        for _ in range(count):
            dx, dy, pos = _gdelta(buf, pos)
            if kind == 5:
                vx, vy = vx + dx, vy + dy
                dx, dy = vx, vy
            x += dx
            y += dy
            append(x)
            append(y)
    else:
        raise _Bad(f"unknown point-list type {kind}", "bad_point_list")
    return coords, pos


def _polygon_extent(buf: bytes, pos: int) -> tuple[int, int, int, int, int]:  # noqa: PLR0912, PLR0915 - one loop per point-list kind
    """The extent (relative to the position) of a polygon's point list, without keeping points.

    The same arithmetic as :func:`_point_list`, reduced to running minima and maxima.
    """
    kind, pos = _uint(buf, pos)
    count, pos = _uint(buf, pos)
    if count > len(buf):  # every delta takes at least one byte
        raise IndexError
    x = y = x0 = y0 = x1 = y1 = 0
    if kind in (0, 1):
        horizontal = kind == 0
        for _ in range(count):
            value = buf[pos]
            if value < 0x80:
                pos += 1
            elif buf[pos + 1] < 0x80:
                value = (value & 0x7F) | (buf[pos + 1] << 7)
                pos += 2
            else:
                value, pos = _uint(buf, pos)
            delta = -(value >> 1) if value & 1 else value >> 1
            if horizontal:
                x += delta
                if x < x0:
                    x0 = x
                elif x > x1:
                    x1 = x
            else:
                y += delta
                if y < y0:
                    y0 = y
                elif y > y1:
                    y1 = y
            horizontal = not horizontal
        # A polygon's implied closing vertex reuses coordinates already seen: no new extent.
        return x0, y0, x1, y1, pos
    if kind not in (2, 3, 4, 5):
        raise _Bad(f"unknown point-list type {kind}", "bad_point_list")
    bits, directions = (2, _MANHATTAN) if kind == 2 else (3, _OCTANGULAR)
    mask = (1 << bits) - 1
    vx = vy = 0
    for _ in range(count):
        if kind <= 3:
            value = buf[pos]
            if value < 0x80:
                pos += 1
            elif buf[pos + 1] < 0x80:
                value = (value & 0x7F) | (buf[pos + 1] << 7)
                pos += 2
            else:
                value, pos = _uint(buf, pos)
            dx, dy = directions[value & mask]
            magnitude = value >> bits
            dx, dy = dx * magnitude, dy * magnitude
        else:
            dx, dy, pos = _gdelta(buf, pos)
            if kind == 5:
                vx, vy = vx + dx, vy + dy
                dx, dy = vx, vy
        x += dx
        y += dy
        if x < x0:
            x0 = x
        elif x > x1:
            x1 = x
        if y < y0:
            y0 = y
        elif y > y1:
            y1 = y
    return x0, y0, x1, y1, pos


# A point list is `count` integers (types 0-3) or g-deltas (types 4, 5); a g-delta is one integer,
# or two when bit 0 of the first is set, which is bit 0 of its first byte. These patterns find
# where a list ends in C, so that its bytes can be looked up before anything is decoded.
_VARINT: Final = rb"[\x80-\xff]*[\x00-\x7f]"


def _byte_class(values: range) -> bytes:
    return b"[" + b"".join(b"\\x%02x" % value for value in values) + b"]"


_GDELTA: Final = b"(?:%s|%s%s|(?:%s|%s%s)%s)" % (
    _byte_class(range(0x00, 0x80, 2)),
    _byte_class(range(0x80, 0x100, 2)),
    _VARINT,
    _byte_class(range(0x01, 0x80, 2)),
    _byte_class(range(0x81, 0x100, 2)),
    _VARINT,
    _VARINT,
)
_UNROLLED: Final = 16
_Matcher = Callable[[bytes, int, int], re.Match[bytes] | None]
_LIST_MATCHERS: Final[dict[bytes, _Matcher]] = {}
"""Per (type, count) header of a point list, the matcher of its deltas (at most 6 x 128)."""
_PATH_HEAD: Final = re.compile(
    # A PATH's half-width and a one-byte extension scheme setting both extensions (kind 0 would
    # reuse a modal one), with the extensions it makes explicit: kind 3 at the start or the end.
    b"%s(?:[\\x05\\x06\\x09\\x0a]|[\\x07\\x0b\\x0d\\x0e]%s|\\x0f%s%s)" % (_VARINT, _VARINT, _VARINT, _VARINT)
).match


def _list_matcher(header: bytes) -> _Matcher | None:
    """The matcher of the deltas of a point list with this (type, count) header, compiled once;
    None when the type or the count is more than one byte or the type is unknown."""
    if len(header) < 2 or header[0] > 5 or header[1] > 0x7F:
        return None
    delta, count = (_VARINT if header[0] < 4 else _GDELTA), header[1]
    # Unrolled, a pattern matches a third faster than with {n}; short lists are the common ones,
    # and unrolling only those keeps every pattern (and the re module's cache of them) small.
    pattern = delta * count if count <= _UNROLLED else b"(?:%s){%d}" % (delta, count)
    match = _LIST_MATCHERS[header] = re.compile(pattern).match
    return match


def _path_outline(  # noqa: PLR0912 - extension schemes
    buf: bytes,
    pos: int,
    info: int,
    *,
    halfwidth: int | None,
    start: float | None,
    end: float | None,
    points: bytes | None,
) -> tuple[PathEntry, bytes, int]:
    """A PATH's half-width, extensions and point list from ``pos`` (explicit per ``info``, else
    the modal values given) and its outline's box: the entry, the point list's bytes (its modal
    value) and the position after the list.
    """
    if info & 0x40:
        halfwidth, pos = _uint(buf, pos)
    if halfwidth is None:
        raise _Bad("PATH before its half-width is set", "undefined_modal")
    if info & 0x80:
        scheme, pos = _uint(buf, pos)
        start_kind, end_kind = (scheme >> 2) & 3, scheme & 3
        if scheme > 15:
            raise _Bad(f"path extension scheme {scheme}")
        if start_kind == 1:
            start = 0
        elif start_kind == 2:
            start = halfwidth
        elif start_kind == 3:
            start, pos = _sint(buf, pos)
        if end_kind == 1:
            end = 0
        elif end_kind == 2:
            end = halfwidth
        elif end_kind == 3:
            end, pos = _sint(buf, pos)
    if start is None or end is None:
        raise _Bad("PATH before its extensions are set", "undefined_modal")
    if info & 0x20:
        coords, after = _point_list(buf, pos)
        points, pos = buf[pos:after], after
    elif points is None:
        raise _Bad("PATH before its point list is set", "undefined_modal")
    else:
        coords = _point_list(points, 0)[0]
    box = outline_box(coords, halfwidth, start, end)
    return (halfwidth, start, end, box), points, pos


def _interval(buf: bytes, pos: int) -> tuple[list[int | None], int]:
    kind, pos = _uint(buf, pos)
    if kind == 0:
        return [0, None], pos
    if kind in (1, 2, 3):
        bound, pos = _uint(buf, pos)
        return ([0, bound] if kind == 1 else [bound, None] if kind == 2 else [bound, bound]), pos
    if kind == 4:
        low, pos = _uint(buf, pos)
        high, pos = _uint(buf, pos)
        return [low, high], pos
    raise _Bad(f"unknown interval type {kind}", "bad_interval")


# Vertices of the 26 CTRAPEZOID types (SEMI P39 §33, as gdstk and KLayout draw them), each
# coordinate a combination of the width and height: (x_w, x_h, y_w, y_h) → (x_w·w + x_h·h, y_w·w + y_h·h).
_CTRAPEZOIDS: Final[tuple[tuple[tuple[int, int, int, int], ...], ...]] = (
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, -1, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, -1, 0, 0), (1, 0, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, 0, 0, 1), (0, 1, 0, 1)),
    ((0, 1, 0, 0), (1, 0, 0, 0), (1, 0, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, -1, 0, 1), (0, 1, 0, 1)),
    ((0, 1, 0, 0), (1, -1, 0, 0), (1, 0, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, -1, 0, 0), (1, 0, 0, 1), (0, 1, 0, 1)),
    ((0, 1, 0, 0), (1, 0, 0, 0), (1, -1, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, 0, -1, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, 0, 0, 1), (0, 0, -1, 1)),
    ((0, 0, 0, 0), (1, 0, 1, 0), (1, 0, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 1, 0), (1, 0, 0, 0), (1, 0, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 1, 0), (1, 0, -1, 1), (0, 0, 0, 1)),
    ((0, 0, 1, 0), (1, 0, 0, 0), (1, 0, 0, 1), (0, 0, -1, 1)),
    ((0, 0, 0, 0), (1, 0, 1, 0), (1, 0, 0, 1), (0, 0, -1, 1)),
    ((0, 0, 1, 0), (1, 0, 0, 0), (1, 0, -1, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (0, 0, 1, 0)),
    ((0, 0, 0, 0), (1, 0, 1, 0), (0, 0, 1, 0)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, 0, 1, 0)),
    ((1, 0, 0, 0), (1, 0, 1, 0), (0, 0, 1, 0)),
    ((0, 0, 0, 0), (0, 2, 0, 0), (0, 1, 0, 1)),
    ((0, 1, 0, 0), (0, 2, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 1, 0), (0, 0, 2, 0)),
    ((1, 0, 0, 0), (1, 0, 2, 0), (0, 0, 1, 0)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, 0, 0, 1), (0, 0, 0, 1)),
    ((0, 0, 0, 0), (1, 0, 0, 0), (1, 0, 1, 0), (0, 0, 1, 0)),
)
_CTRAPEZOID_NO_HEIGHT: Final = frozenset({16, 17, 18, 19, 22, 23, 25})  # height implied by the width
_CTRAPEZOID_NO_WIDTH: Final = frozenset({20, 21})  # width implied by the height


def _ctrapezoid(kind: int, w: int, h: int) -> tuple[tuple[int, int, int, int], int, int]:
    """Box (relative to the position) of a CTRAPEZOID and the modal (w, h) it leaves."""
    if not 0 <= kind < len(_CTRAPEZOIDS):
        raise _Bad(f"unknown ctrapezoid type {kind}", "bad_ctrapezoid")
    xs = [xw * w + xh * h for xw, xh, _, _ in _CTRAPEZOIDS[kind]]
    ys = [yw * w + yh * h for _, _, yw, yh in _CTRAPEZOIDS[kind]]
    if 16 <= kind <= 19:
        h = w
    elif kind in (20, 21):
        w = 2 * h
    elif kind in (22, 23):
        h = 2 * w
    return (min(xs), min(ys), max(xs), max(ys)), w, h


# --- the stream: raw chunks (with running validation sums), CBLOCK inflation -------------------


class _Validated:
    """Raw chunks passed through, with CRC32 and byte sum of all but the last 4 bytes seen."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.crc32 = 0
        self.checksum = 0
        self.tail = b""

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if not chunk:
                continue
            data = self.tail + chunk if self.tail else chunk
            if len(data) > 4:
                body = data[:-4]
                self.crc32 = zlib.crc32(body, self.crc32)
                self.checksum = (self.checksum + sum(body)) & 0xFFFFFFFF
                self.tail = data[-4:]
            else:
                self.tail = data
            yield chunk


def _inflate(outer: ChunkBuffer, compressed: int, uncompressed: int, offset: int) -> Iterator[bytes]:
    """The uncompressed bytes of one CBLOCK, produced step by step from the outer stream."""
    inflater = zlib.decompressobj(-15)
    left, produced = compressed, 0

    def bad(message: str) -> FileFormatError:
        return FileFormatError(f"CBLOCK: {message}", offset=offset, reason="bad_cblock")

    def emit(data: bytes) -> bytes:
        nonlocal produced
        produced += len(data)
        if produced > uncompressed:
            raise bad(f"inflates to more than the {uncompressed} bytes it declares")
        return data

    try:
        while left > 0:
            if not outer.fill(1):
                raise truncated(offset, f"a CBLOCK of {compressed} compressed bytes", outer.offset)
            take = min(left, len(outer.buf) - outer.pos, INFLATE_STEP)
            data = outer.buf[outer.pos : outer.pos + take]
            outer.pos += take
            left -= take
            if inflater.eof:
                raise bad("compressed bytes after the end of the DEFLATE stream")
            out = inflater.decompress(data, INFLATE_STEP)
            while True:
                if out:
                    yield emit(out)
                if not inflater.unconsumed_tail:
                    break
                out = inflater.decompress(inflater.unconsumed_tail, INFLATE_STEP)
        rest = inflater.flush()
        if rest:
            yield emit(rest)
    except zlib.error as error:
        raise bad(f"invalid DEFLATE data ({error})") from error
    if not inflater.eof:
        raise bad("DEFLATE stream does not end within the CBLOCK")
    if inflater.unused_data:
        raise bad("compressed bytes after the end of the DEFLATE stream")
    if produced != uncompressed:
        raise bad(f"inflates to {produced} bytes, not the {uncompressed} it declares")


# --- the reader --------------------------------------------------------------------------------


class _Reader:
    """One pass over an OASIS stream; modal variables are attributes, reset per cell."""

    def __init__(self, chunks: Iterator[bytes], mode: Mode) -> None:
        self.raw = _Validated(chunks)
        self.outer = ChunkBuffer(iter(self.raw))
        self.src = self.outer
        self.mode: Mode = mode
        self.meta = LayoutMetadata(format="oasis", mode=mode)
        self.cblock: tuple[int, ChunkBuffer] | None = None  # (offset, outer buffer) while inside one
        self.cell: CellStats | None = None
        self.cell_names: dict[int, str] = {}
        self.table_modes: dict[str, str] = {}
        self.table_counts = dict.fromkeys(("cellname", "textstring", "propname", "propstring", "xname"), 0)
        self.layer_names: list[dict[str, Any]] = []
        self.ref_names: dict[int, str] = {}
        self.offset_flag = 0
        self.extents: dict[bytes, tuple[int, int, int, int]] = {}  # polygon point list -> extent
        self.outlines: dict[bytes, PathEntry] = {}  # PATH half-width … point list -> outline
        self.reset()
        self.handlers: dict[int, Callable[[bytes, int, int], int]] = {
            3: self.r_cellname, 4: self.r_cellname, 5: self.r_table, 6: self.r_table, 7: self.r_table,
            8: self.r_table, 9: self.r_table, 10: self.r_table, 11: self.r_layername, 12: self.r_layername,
            13: self.r_cell, 14: self.r_cell, 15: self.r_xymode, 16: self.r_xymode, 17: self.r_placement,
            18: self.r_placement, 19: self.r_text, 20: self.r_rectangle, 21: self.r_polygon, 22: self.r_path,
            23: self.r_trapezoid, 24: self.r_trapezoid, 25: self.r_trapezoid, 26: self.r_ctrapezoid,
            27: self.r_circle, 28: self.r_property, 29: self.r_property, 30: self.r_table, 31: self.r_table,
            32: self.r_xelement, 33: self.r_xgeometry,
        }  # fmt: skip

    def reset(self) -> None:
        """Modal variables at a CELL or name record: positions 0, absolute mode, the rest unset."""
        self.absolute = True
        self.px = self.py = self.gx = self.gy = self.tx = self.ty = 0
        self.layer: int | None = None
        self.datatype: int | None = None
        self.textlayer: int | None = None
        self.texttype: int | None = None
        self.text_string = False
        self.placement_cell: str | None = None
        self.gw: int | None = None
        self.gh: int | None = None
        self.polygon_points: tuple[int, int, int, int] | None = None
        self.path_points: bytes | None = None  # as encoded: decoded when a PATH reuses it
        self.halfwidth: int | None = None
        self.start_ext: float | None = None
        self.end_ext: float | None = None
        self.ctrap_type: int | None = None
        self.radius: int | None = None
        self.repetition: Repetition | None = None
        self.property_name = False
        self.property_values = False

    # -- the loop ---------------------------------------------------------------------------------

    def error(self, message: str, reason: str, offset: int) -> FileFormatError:
        if self.cblock is not None:
            return FileFormatError(
                f"{message} (inside the CBLOCK at byte {self.cblock[0]})",
                offset=self.cblock[0],
                reason=reason,
                decompressed_offset=offset,
            )
        return FileFormatError(message, offset=offset, reason=reason)

    def run(self) -> LayoutMetadata:
        src = self.outer
        if not src.fill(len(MAGIC)) or src.buf[: len(MAGIC)] != MAGIC:
            if src.buf[: len(MAGIC)] == MAGIC[: len(src.buf)] and src.exhausted:
                raise truncated(0, "the OASIS magic", len(src.buf))
            raise FileFormatError("not an OASIS file: bad magic", offset=0, reason="not_oasis")
        src.pos = len(MAGIC)
        self.record(self.r_start_expected)
        self.meta.bytes_read = self.outer.offset
        if self.mode == "header":
            self.meta.extra = self.extra()
            return self.meta
        while True:
            if self.cell is not None:
                self.fast_records()
            if self.src.at_end():
                if self.cblock is not None:
                    self.src = self.cblock[1]
                    self.cblock = None
                    continue
                raise FileFormatError(
                    "file ends before the END record: truncated", offset=self.outer.offset, reason="truncated"
                )
            if self.record(self.dispatch):
                break
        self.meta.bytes_read = self.outer.offset
        self.resolve()
        self.meta.extra = self.extra()
        return self.meta.finish()

    def record(self, decode: Callable[[bytes, int, int], int | None]) -> bool:
        """Decode one record with ``decode(buf, pos, record_id)``; True once END was read."""
        src = self.src
        window = WINDOW
        while True:
            src.fill(window)
            buf, pos = src.buf, src.pos
            start = src.base + pos
            try:
                rid, body = _uint(buf, pos)
                end = decode(buf, body, rid)
            except IndexError:
                available = len(buf) - pos
                if src.exhausted and available < window:
                    if self.cblock is not None:
                        raise self.error(
                            "record runs past the end of its CBLOCK", "bad_cblock", start
                        ) from None
                    raise truncated(start, "a record", src.base + len(buf)) from None
                if window >= MAX_RECORD:
                    raise self.error(
                        f"record larger than {MAX_RECORD} bytes", "record_too_large", start
                    ) from None
                window *= 2
                continue
            except _Bad as bad:
                raise self.error(str(bad), bad.reason, start) from None
            if end is None:  # END: the whole file has been consumed and checked
                return True
            src.pos = end
            return False

    def fast_records(self) -> None:  # noqa: PLR0912, PLR0915 - one hot loop, inlined on purpose
        """Decode the commonest records of a cell body in one tight loop.

        RECTANGLE, POLYGON, PATH, TEXT and PLACEMENT records without a repetition, and the
        XY-mode records, are what cell bodies are mostly made of; here their fields are decoded
        inline, with the modal variables in local variables. Integers of up to three bytes take
        no call: past a first byte ``v`` (then at least 0x80), ``v + (b << 7) - 0x80`` is
        ``(v & 0x7F) | (b << 7)`` in fewer steps, and the walrus keeps ``b`` for the third byte.

        The loop can stop anywhere: at a record it does not handle (a repetition, another record
        type, something to report) or at the end of the window, and the general path takes over
        from exactly that record. So a record's counts, box and relative positions are committed
        only once it is complete, while its explicit fields (layer, width, …) go straight into
        the modal variables: decoding the record again sets them to the same values. What the
        loop accepts it checks as the general path would.

        A polygon's point list (a path's half-width, extensions and point list) is looked up by
        its bytes before anything is decoded: layouts repeat the same shapes at many positions,
        and the extent (the outline's box) depends on those bytes alone. Regular expressions find
        where they end, in C (:data:`_LIST_MATCHERS`, :data:`_PATH_HEAD`).
        """
        src = self.src
        src.fill(WINDOW)
        buf, pos = src.buf, src.pos
        cell = self.cell
        if cell is None:  # the dispatcher refuses these records outside a cell; -O must not drop it
            raise _Bad("element record outside a cell", "unexpected_record")
        layers, text_layers = self.meta.layers, self.meta.text_layers
        layer, datatype, gw, gh, gx, gy = self.layer, self.datatype, self.gw, self.gh, self.gx, self.gy
        px, py, child, absolute = self.px, self.py, self.placement_cell, self.absolute
        extent, halfwidth, start_ext, end_ext = (
            self.polygon_points,
            self.halfwidth,
            self.start_ext,
            self.end_ext,
        )
        path_points = self.path_points
        textlayer, texttype, tx, ty, text_set = (
            self.textlayer,
            self.texttype,
            self.tx,
            self.ty,
            self.text_string,
        )
        inf = float("inf")
        bx0 = by0 = inf
        bx1 = by1 = -inf
        boundaries = paths = texts = placements = 0
        last_layer = last_datatype = -1  # the pair last added to `layers`
        box: tuple[float, float, float, float] | None
        uint, names = _uint, self.ref_names
        extents, outlines, matchers = self.extents, self.outlines, _LIST_MATCHERS
        list_matcher, path_head, key_bytes = _list_matcher, _PATH_HEAD, CACHE_KEY_BYTES
        try:
            while True:
                rid = buf[pos]
                if rid == 20:
                    info = buf[pos + 1]
                    if info & 0x04 or info & 0xA0 == 0xA0:
                        break  # repetition, or a square with a height (an error): general path
                    p = pos + 2
                    if info & 0x01:
                        layer = buf[p]
                        if layer < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            layer += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            layer += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            layer, p = uint(buf, p)
                    elif layer is None:
                        break
                    if info & 0x02:
                        datatype = buf[p]
                        if datatype < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            datatype += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            datatype += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            datatype, p = uint(buf, p)
                    elif datatype is None:
                        break
                    if info & 0x40:
                        gw = buf[p]
                        if gw < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            gw += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            gw += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            gw, p = uint(buf, p)
                    elif gw is None:
                        break
                    if info & 0x20:
                        gh = buf[p]
                        if gh < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            gh += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            gh += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            gh, p = uint(buf, p)
                    elif info & 0x80:
                        gh = gw
                    elif gh is None:
                        break
                    x, y = gx, gy
                    if info & 0x10:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        x = v if absolute else x + v
                    if info & 0x08:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        y = v if absolute else y + v
                    gx, gy = x, y
                    boundaries += 1
                    if layer != last_layer or datatype != last_datatype:
                        last_layer, last_datatype = layer, datatype
                        layers.add((layer, datatype))
                    if x < bx0:  # noqa: PLR1730 - a comparison is cheaper than a call here
                        bx0 = x
                    if y < by0:  # noqa: PLR1730
                        by0 = y
                    x += gw
                    if x > bx1:  # noqa: PLR1730
                        bx1 = x
                    y += gh
                    if y > by1:  # noqa: PLR1730
                        by1 = y
                    pos = p
                elif rid == 21 or rid == 22:  # noqa: PLR1714 - comparisons beat a set lookup here
                    info = buf[pos + 1]
                    if info & 0x04:
                        break  # repetition: general path
                    p = pos + 2
                    if info & 0x01:
                        layer = buf[p]
                        if layer < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            layer += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            layer += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            layer, p = uint(buf, p)
                    elif layer is None:
                        break
                    if info & 0x02:
                        datatype = buf[p]
                        if datatype < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            datatype += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            datatype += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            datatype, p = uint(buf, p)
                    elif datatype is None:
                        break
                    if rid == 21:
                        if info & 0x20:
                            header = buf[p : p + 2]
                            match = matchers.get(header) or list_matcher(header)
                            found = match(buf, p + 2, p + key_bytes) if match else None
                            if found is None:  # not a cache key, or past the window: decode
                                x0, y0, x1, y1, p = _polygon_extent(buf, p)
                                extent = (x0, y0, x1, y1)
                            else:
                                end = found.end()
                                key = buf[p:end]
                                extent = extents.get(key)
                                if extent is None:
                                    x0, y0, x1, y1, _ = _polygon_extent(buf, p)
                                    if len(extents) >= CACHE_ENTRIES:
                                        extents.clear()
                                    extent = extents[key] = (x0, y0, x1, y1)
                                p = end
                        elif extent is None:
                            break
                        box = extent
                    else:
                        # Half-width, extensions and point list explicit: their bytes are the key.
                        found = path_head(buf, p) if info & 0xE0 == 0xE0 else None
                        if found is not None:
                            q = found.end()
                            header = buf[q : q + 2]
                            match = matchers.get(header) or list_matcher(header)
                            found = match(buf, q + 2, p + key_bytes) if match else None
                        if found is None:
                            entry, path_points, p = _path_outline(
                                buf,
                                p,
                                info,
                                halfwidth=halfwidth,
                                start=start_ext,
                                end=end_ext,
                                points=path_points,
                            )
                        else:
                            end = found.end()
                            key = buf[p:end]
                            cached = outlines.get(key)
                            if cached is None:
                                cached = _path_outline(
                                    buf, p, info, halfwidth=None, start=None, end=None, points=None
                                )[0]
                                if len(outlines) >= CACHE_ENTRIES:
                                    outlines.clear()
                                outlines[key] = cached
                            entry, path_points, p = cached, buf[q:end], end
                        halfwidth, start_ext, end_ext, box = entry
                    x, y = gx, gy
                    if info & 0x10:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        x = v if absolute else x + v
                    if info & 0x08:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        y = v if absolute else y + v
                    gx, gy = x, y
                    if rid == 21:
                        boundaries += 1
                    else:
                        paths += 1
                    if layer != last_layer or datatype != last_datatype:
                        last_layer, last_datatype = layer, datatype
                        layers.add((layer, datatype))
                    pos = p
                    if box is None:
                        continue
                    left, bottom, right, top = box
                    left += x
                    if left < bx0:  # noqa: PLR1730
                        bx0 = left
                    bottom += y
                    if bottom < by0:  # noqa: PLR1730
                        by0 = bottom
                    right += x
                    if right > bx1:  # noqa: PLR1730
                        bx1 = right
                    top += y
                    if top > by1:  # noqa: PLR1730
                        by1 = top
                elif rid == 17:
                    info = buf[pos + 1]
                    if info & 0x08:
                        break
                    p = pos + 2
                    name, x, y = child, px, py
                    if info & 0x80:
                        if info & 0x40:
                            number, p = uint(buf, p)
                            name = names.get(number) or self.ref_name(number)
                        else:
                            name, p = _name(buf, p)
                    if info & 0x20:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        x = v if absolute else x + v
                    if info & 0x10:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        y = v if absolute else y + v
                    if name is None:
                        break
                    child, px, py = name, x, y
                    cell.add_placement(
                        name,
                        reflected=bool(info & 0x01),
                        angle=90.0 * ((info >> 1) & 3),
                        magnification=1.0,
                        origins=(x, y, x, y),
                        instances=1,
                    )
                    placements += 1
                    pos = p
                elif rid == 19:
                    info = buf[pos + 1]
                    if info & 0x84:
                        break  # repetition, or the reserved bit (an error): general path
                    p = pos + 2
                    tl, tt, x, y = textlayer, texttype, tx, ty
                    if info & 0x40:
                        if info & 0x20:
                            _, p = uint(buf, p)
                        else:
                            _, p = _string(buf, p)
                    elif not text_set:
                        break
                    if info & 0x01:
                        tl = buf[p]
                        if tl < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            tl += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            tl += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            tl, p = uint(buf, p)
                    if info & 0x02:
                        tt = buf[p]
                        if tt < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            tt += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            tt += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            tt, p = uint(buf, p)
                    if info & 0x10:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        x = v if absolute else x + v
                    if info & 0x08:
                        v = buf[p]
                        if v < 0x80:
                            p += 1
                        elif (b := buf[p + 1]) < 0x80:
                            v += (b << 7) - 0x80
                            p += 2
                        elif (c := buf[p + 2]) < 0x80:
                            v += (b << 7) + (c << 14) - 0x4080
                            p += 3
                        else:
                            v, p = uint(buf, p)
                        v = -(v >> 1) if v & 1 else v >> 1
                        y = v if absolute else y + v
                    if tl is None or tt is None:
                        break
                    textlayer, texttype, tx, ty, text_set = tl, tt, x, y, True
                    text_layers.add((tl, tt))
                    texts += 1
                    if x < bx0:  # noqa: PLR1730
                        bx0 = x
                    if y < by0:  # noqa: PLR1730
                        by0 = y
                    if x > bx1:  # noqa: PLR1730
                        bx1 = x
                    if y > by1:  # noqa: PLR1730
                        by1 = y
                    pos = p
                elif rid == 15 or rid == 16:  # noqa: PLR1714
                    absolute = rid == 15
                    pos += 1
                else:
                    break
        except IndexError:
            pass  # the record at `pos` runs past the window: the general path grows it
        except _Bad:
            pass  # the general path decodes the record again and reports it at its offset
        src.pos = pos
        self.layer, self.datatype, self.gw, self.gh, self.gx, self.gy = layer, datatype, gw, gh, gx, gy
        self.px, self.py, self.placement_cell, self.absolute = px, py, child, absolute
        self.polygon_points, self.halfwidth, self.start_ext, self.end_ext = (
            extent,
            halfwidth,
            start_ext,
            end_ext,
        )
        self.path_points = path_points
        self.textlayer, self.texttype, self.tx, self.ty, self.text_string = (
            textlayer,
            texttype,
            tx,
            ty,
            text_set,
        )
        counts = cell.counts
        counts[BOUNDARY] += boundaries
        counts[PATH] += paths
        counts[TEXT] += texts
        counts[SREF] += placements
        cell.shapes += boundaries + paths + texts
        cell.instances += placements
        if bx0 != inf:
            cell.add_box(bx0, by0, bx1, by1)

    def ref_name(self, number: int) -> str:
        """The provisional name of a cell known by reference number (resolved at END)."""
        name = self.ref_names[number] = f"\x00#{number}"
        return name

    def dispatch(self, buf: bytes, pos: int, rid: int) -> int | None:
        if rid == 0:
            return pos
        if rid == 34:
            return self.r_cblock(buf, pos)
        if rid == 2:
            self.r_end(buf, pos)
            return None
        handler = self.handlers.get(rid)
        if handler is None:
            name = "START" if rid == 1 else f"unknown record id {rid}"
            raise _Bad(f"{name} where a record must be", "unexpected_record")
        if rid in _IN_CELL_RECORDS and self.cell is None:
            raise _Bad(f"{RECORD_NAMES[rid]} outside a cell", "unexpected_record")
        return handler(buf, pos, rid)

    # -- START, END, CBLOCK -----------------------------------------------------------------------

    def r_start_expected(self, buf: bytes, pos: int, rid: int) -> int:
        if rid != 1:
            raise _Bad("the first record is not START", "not_oasis")
        version, pos = _name(buf, pos)
        unit, pos = _real(buf, pos)
        flag, pos = _uint(buf, pos)
        tables = None
        if flag == 0:
            tables, pos = self.table_offsets(buf, pos)
        elif flag != 1:
            raise _Bad(f"offset flag {flag} is neither 0 nor 1")
        if version != "1.0":
            raise _Bad(f"unsupported OASIS version {version!r}", "unsupported_version")
        if not (math.isfinite(unit) and unit > 0):
            raise _Bad(f"invalid unit {unit!r}", "bad_units")
        self.meta.version = version
        self.meta.units = Units(db_unit_m=1e-6 / unit, user_unit_m=1e-6)
        self.offset_flag = flag
        self.tables = tables
        return pos

    def table_offsets(self, buf: bytes, pos: int) -> tuple[dict[str, dict[str, int]], int]:
        tables = {}
        for name in TABLES:
            strict, pos = _uint(buf, pos)
            offset, pos = _uint(buf, pos)
            tables[name] = {"strict": strict, "offset": offset}
        return tables, pos

    def r_end(self, buf: bytes, pos: int) -> None:
        if self.cblock is not None:
            raise _Bad("END inside a CBLOCK", "unexpected_record")
        if self.offset_flag == 1:
            self.tables, pos = self.table_offsets(buf, pos)
        _padding, pos = _string(buf, pos)
        scheme, pos = _uint(buf, pos)
        if scheme not in (0, 1, 2):
            raise _Bad(f"unknown validation scheme {scheme}", "bad_validation")
        signature_at = pos
        if scheme:
            if pos + 4 > len(buf):
                raise IndexError
            pos += 4
        src = self.outer
        src.pos = pos
        if not src.at_end():
            raise _Bad("data after the END record", "trailing_data")
        self.validation: dict[str, Any] = {"scheme": ("none", "crc32", "checksum32")[scheme]}
        if scheme:
            stored = int.from_bytes(buf[signature_at : signature_at + 4], "little")
            computed = self.raw.crc32 if scheme == 1 else self.raw.checksum
            self.validation |= {"signature": f"{stored:08x}", "computed": f"{computed:08x}"}
            if stored != computed:
                raise FileFormatError(
                    f"{self.validation['scheme']} signature {stored:08x} does not match "
                    f"the file ({computed:08x})",
                    offset=src.base + signature_at,
                    reason="checksum_mismatch",
                )

    def r_cblock(self, buf: bytes, pos: int) -> int:
        if self.cblock is not None:
            raise _Bad("CBLOCK inside a CBLOCK", "bad_cblock")
        method, pos = _uint(buf, pos)
        uncompressed, pos = _uint(buf, pos)
        compressed, pos = _uint(buf, pos)
        if method != 0:
            raise _Bad(f"CBLOCK compression type {method} (only 0, DEFLATE, exists)", "bad_cblock")
        outer = self.src
        offset = outer.base + outer.pos
        outer.pos = pos  # the compressed bytes follow; the inflater consumes them from here
        self.cblock = (offset, outer)
        self.src = ChunkBuffer(_inflate(outer, compressed, uncompressed, offset))
        return pos

    def extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"offset_flag": self.offset_flag, "tables": getattr(self, "tables", None)}
        if self.mode == "full":
            extra["validation"] = getattr(self, "validation", None)
            extra["name_records"] = self.table_counts
            extra["layer_names"] = self.layer_names
        return extra

    # -- names ------------------------------------------------------------------------------------

    def table_mode(self, table: str, explicit: bool) -> None:
        mode = "explicit" if explicit else "implicit"
        if self.table_modes.setdefault(table, mode) != mode:
            raise _Bad(
                f"{table.upper()} records mix implicit and explicit reference numbers",
                "mixed_reference_modes",
            )

    def leave_cell(self) -> None:
        self.cell = None
        self.reset()

    def r_cellname(self, buf: bytes, pos: int, rid: int) -> int:
        name, pos = _name(buf, pos)
        if rid == 4:
            number, pos = _uint(buf, pos)
        else:
            number = self.table_counts["cellname"]
        self.table_mode("cellname", rid == 4)
        if number in self.cell_names:
            raise _Bad(f"CELLNAME reference number {number} defined twice", "duplicate_reference_number")
        self.cell_names[number] = name
        self.table_counts["cellname"] += 1
        self.leave_cell()
        return pos

    def r_table(self, buf: bytes, pos: int, rid: int) -> int:
        table = _NAME_TABLES[rid]
        if table == "xname":
            _attribute, pos = _uint(buf, pos)
        _value, pos = _string(buf, pos)
        explicit = rid in (6, 8, 10, 31)
        if explicit:
            _number, pos = _uint(buf, pos)
        self.table_mode(table, explicit)
        self.table_counts[table] += 1
        self.leave_cell()
        return pos

    def r_layername(self, buf: bytes, pos: int, rid: int) -> int:
        name, pos = _name(buf, pos)
        layers, pos = _interval(buf, pos)
        types, pos = _interval(buf, pos)
        self.layer_names.append(
            {"name": name, "kind": "geometry" if rid == 11 else "text", "layers": layers, "types": types}
        )
        self.leave_cell()
        return pos

    def r_cell(self, buf: bytes, pos: int, rid: int) -> int:
        start = self.src.base + self.src.pos if self.cblock is None else self.cblock[0]
        if rid == 13:
            number, pos = _uint(buf, pos)
            name = f"\x00#{number}"
        else:
            name, pos = _name(buf, pos)
        cells = self.meta.cells
        if name in cells:
            raise _Bad(f"cell {_shown(name)} is defined twice", "duplicate_cell")
        self.reset()
        self.cell = cells[name] = CellStats(name, start)
        return pos

    def resolve(self) -> None:
        """Replace reference numbers by names now that every CELLNAME has been read."""

        def real(name: str) -> str:
            if not name.startswith("\x00#"):
                return name
            number = int(name[2:])
            if number not in self.cell_names:
                raise FileFormatError(
                    f"reference number {number} has no CELLNAME record",
                    offset=self.outer.offset,
                    reason="undefined_reference_number",
                )
            return self.cell_names[number]

        resolved: dict[str, CellStats] = {}
        for cell in self.meta.cells.values():
            cell.name = real(cell.name)
            if cell.name in resolved:
                raise FileFormatError(
                    f"cell {cell.name!r} is defined twice", offset=cell.offset, reason="duplicate_cell"
                )
            resolved[cell.name] = cell
            if any(key[0].startswith("\x00#") for key in cell.placements):
                placements: dict[tuple[str, bool, float, float], list[Any]] = {}
                for (child, reflected, angle, magnification), entry in cell.placements.items():
                    key = (real(child), reflected, angle, magnification)
                    merged = placements.setdefault(key, [0, 0, *entry[2:]])
                    merged[0] += entry[0]
                    merged[1] += entry[1]
                    merged[2:] = [
                        min(merged[2], entry[2]),
                        min(merged[3], entry[3]),
                        max(merged[4], entry[4]),
                        max(merged[5], entry[5]),
                    ]
                cell.placements = placements
        self.meta.cells = resolved

    # -- cell contents ----------------------------------------------------------------------------

    def r_xymode(self, buf: bytes, pos: int, rid: int) -> int:
        self.absolute = rid == 15
        return pos

    def x_y(
        self, buf: bytes, pos: int, info: int, bits: tuple[int, int], at: tuple[int, int]
    ) -> tuple[int, int, int]:
        x_bit, y_bit = bits
        x, y = at
        if info & x_bit:
            value, pos = _sint(buf, pos)
            x = value if self.absolute else x + value
        if info & y_bit:
            value, pos = _sint(buf, pos)
            y = value if self.absolute else y + value
        return x, y, pos

    def layer_datatype(self, buf: bytes, pos: int, info: int) -> tuple[int, int, int]:
        layer, datatype = self.layer, self.datatype
        if info & 0x01:
            layer, pos = _uint(buf, pos)
        if info & 0x02:
            datatype, pos = _uint(buf, pos)
        if layer is None or datatype is None:
            raise _Bad("geometry before layer and datatype are set", "undefined_modal")
        return layer, datatype, pos

    def repeat(self, buf: bytes, pos: int, info: int, bit: int) -> tuple[Repetition, int]:
        if info & bit:
            return _repetition(buf, pos, self.repetition)
        return _NO_REPETITION, pos

    def shape(
        self,
        kind: int | None,
        *,
        layer: int,
        datatype: int,
        box: tuple[float, float, float, float] | None,
        repetition: Repetition,
        info: int,
    ) -> None:
        """Commit a shape record: modal layer, datatype and repetition, then counts, layers, box.

        ``kind`` None is an XGEOMETRY (counted as ``other``, no known extent).
        """
        self.layer, self.datatype = layer, datatype
        if info & 0x04:
            self.repetition = repetition
        cell = self.cell
        if cell is None:  # the dispatcher refuses these records outside a cell; -O must not drop it
            raise _Bad("element record outside a cell", "unexpected_record")
        if kind is None:
            cell.other += 1
        else:
            cell.counts[kind] += 1
        self.meta.layers.add((layer, datatype))
        count, ox0, oy0, ox1, oy1 = repetition
        cell.shapes += count
        if box is not None:
            cell.add_box(box[0] + ox0, box[1] + oy0, box[2] + ox1, box[3] + oy1)

    def r_rectangle(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        layer, datatype, pos = self.layer_datatype(buf, pos + 1, info)
        w, h = self.gw, self.gh
        if info & 0x40:
            w, pos = _uint(buf, pos)
        if info & 0x20:
            if info & 0x80:
                raise _Bad("square RECTANGLE with an explicit height")
            h, pos = _uint(buf, pos)
        elif info & 0x80:
            h = w
        if w is None or h is None:
            raise _Bad("RECTANGLE before its width and height are set", "undefined_modal")
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.gx, self.gy))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        self.gw, self.gh, self.gx, self.gy = w, h, x, y
        self.shape(
            BOUNDARY,
            layer=layer,
            datatype=datatype,
            box=(x, y, x + w, y + h),
            repetition=repetition,
            info=info,
        )
        return pos

    def r_polygon(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        layer, datatype, pos = self.layer_datatype(buf, pos + 1, info)
        extent = self.polygon_points
        if info & 0x20:
            x0, y0, x1, y1, pos = _polygon_extent(buf, pos)
            extent = (x0, y0, x1, y1)
        if extent is None:
            raise _Bad("POLYGON before its point list is set", "undefined_modal")
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.gx, self.gy))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        self.polygon_points, self.gx, self.gy = extent, x, y
        self.shape(
            BOUNDARY,
            layer=layer,
            datatype=datatype,
            box=(x + extent[0], y + extent[1], x + extent[2], y + extent[3]),
            repetition=repetition,
            info=info,
        )
        return pos

    def r_path(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        layer, datatype, pos = self.layer_datatype(buf, pos + 1, info)
        entry, points, pos = _path_outline(
            buf,
            pos,
            info,
            halfwidth=self.halfwidth,
            start=self.start_ext,
            end=self.end_ext,
            points=self.path_points,
        )
        halfwidth, start, end, relative = entry
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.gx, self.gy))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        self.halfwidth, self.start_ext, self.end_ext, self.path_points = halfwidth, start, end, points
        self.gx, self.gy = x, y
        box = (
            None if relative is None else (x + relative[0], y + relative[1], x + relative[2], y + relative[3])
        )
        self.shape(PATH, layer=layer, datatype=datatype, box=box, repetition=repetition, info=info)
        return pos

    def r_trapezoid(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        layer, datatype, pos = self.layer_datatype(buf, pos + 1, info)
        w, h = self.gw, self.gh
        if info & 0x40:
            w, pos = _uint(buf, pos)
        if info & 0x20:
            h, pos = _uint(buf, pos)
        if w is None or h is None:
            raise _Bad("TRAPEZOID before its width and height are set", "undefined_modal")
        a = b = 0
        if rid in (23, 24):
            a, pos = _sint(buf, pos)
        if rid in (23, 25):
            b, pos = _sint(buf, pos)
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.gx, self.gy))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        self.gw, self.gh, self.gx, self.gy = w, h, x, y
        # Delta a moves one corner of the first edge inwards by |a|, delta b one corner of the
        # opposite edge by |b| (SEMI P39 §32): the span is the box's unless a delta exceeds it.
        if info & 0x80:  # vertical: the slanted sides are the top and bottom ones
            low, high = min(y, y + h - abs(b)), max(y + abs(a), y + h)
            box = (x, low, x + w, high)
        else:
            low, high = min(x, x + w - abs(b)), max(x + abs(a), x + w)
            box = (low, y, high, y + h)
        self.shape(BOUNDARY, layer=layer, datatype=datatype, box=box, repetition=repetition, info=info)
        return pos

    def r_ctrapezoid(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        layer, datatype, pos = self.layer_datatype(buf, pos + 1, info)
        kind = self.ctrap_type
        if info & 0x80:
            kind, pos = _uint(buf, pos)
        w, h = self.gw, self.gh
        if info & 0x40:
            w, pos = _uint(buf, pos)
        if info & 0x20:
            h, pos = _uint(buf, pos)
        if kind is None:
            raise _Bad("CTRAPEZOID before its type is set", "undefined_modal")
        if (w is None and kind not in _CTRAPEZOID_NO_WIDTH) or (
            h is None and kind not in _CTRAPEZOID_NO_HEIGHT
        ):
            raise _Bad("CTRAPEZOID before its width and height are set", "undefined_modal")
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.gx, self.gy))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        (bx0, by0, bx1, by1), new_w, new_h = _ctrapezoid(kind, w or 0, h or 0)
        self.ctrap_type, self.gx, self.gy = kind, x, y
        self.gw = new_w if w is not None or kind in _CTRAPEZOID_NO_WIDTH else None
        self.gh = new_h if h is not None or kind in _CTRAPEZOID_NO_HEIGHT else None
        box = (x + bx0, y + by0, x + bx1, y + by1)
        self.shape(BOUNDARY, layer=layer, datatype=datatype, box=box, repetition=repetition, info=info)
        return pos

    def r_circle(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        layer, datatype, pos = self.layer_datatype(buf, pos + 1, info)
        radius = self.radius
        if info & 0x20:
            radius, pos = _uint(buf, pos)
        if radius is None:
            raise _Bad("CIRCLE before its radius is set", "undefined_modal")
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.gx, self.gy))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        self.radius, self.gx, self.gy = radius, x, y
        self.shape(
            BOUNDARY,
            layer=layer,
            datatype=datatype,
            box=(x - radius, y - radius, x + radius, y + radius),
            repetition=repetition,
            info=info,
        )
        return pos

    def r_text(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        pos += 1
        if info & 0x80:
            raise _Bad("TEXT info byte with its reserved bit set")
        if info & 0x40:
            if info & 0x20:
                _number, pos = _uint(buf, pos)
            else:
                _text, pos = _string(buf, pos)
        elif not self.text_string:
            raise _Bad("TEXT before its text string is set", "undefined_modal")
        textlayer, texttype = self.textlayer, self.texttype
        if info & 0x01:
            textlayer, pos = _uint(buf, pos)
        if info & 0x02:
            texttype, pos = _uint(buf, pos)
        if textlayer is None or texttype is None:
            raise _Bad("TEXT before its text layer and text type are set", "undefined_modal")
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.tx, self.ty))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        self.text_string = True
        self.textlayer, self.texttype, self.tx, self.ty = textlayer, texttype, x, y
        if info & 0x04:
            self.repetition = repetition
        cell = self.cell
        if cell is None:  # the dispatcher refuses these records outside a cell; -O must not drop it
            raise _Bad("element record outside a cell", "unexpected_record")
        self.meta.text_layers.add((textlayer, texttype))
        count, ox0, oy0, ox1, oy1 = repetition
        cell.counts[TEXT] += 1
        cell.shapes += count
        cell.add_box(x + ox0, y + oy0, x + ox1, y + oy1)
        return pos

    def r_placement(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        pos += 1
        child = self.placement_cell
        if info & 0x80:
            if info & 0x40:
                number, pos = _uint(buf, pos)
                child = self.ref_names.get(number) or self.ref_name(number)
            else:
                child, pos = _name(buf, pos)
        if child is None:
            raise _Bad("PLACEMENT before its cell is set", "undefined_modal")
        magnification, angle = 1.0, 0.0
        if rid == 17:
            angle = 90.0 * ((info >> 1) & 3)
        else:
            if info & 0x04:
                magnification, pos = _real(buf, pos)
            if info & 0x02:
                angle, pos = _real(buf, pos)
            if not (math.isfinite(magnification) and math.isfinite(angle)):
                raise _Bad("PLACEMENT with a non-finite magnification or angle")
        x, y, pos = self.x_y(buf, pos, info, (0x20, 0x10), (self.px, self.py))
        repetition, pos = self.repeat(buf, pos, info, 0x08)
        self.placement_cell, self.px, self.py = child, x, y
        if info & 0x08:
            self.repetition = repetition
        cell = self.cell
        if cell is None:  # the dispatcher refuses these records outside a cell; -O must not drop it
            raise _Bad("element record outside a cell", "unexpected_record")
        count, ox0, oy0, ox1, oy1 = repetition
        cell.counts[AREF if info & 0x08 else SREF] += 1
        cell.instances += count
        cell.add_placement(
            child,
            reflected=bool(info & 0x01),
            angle=angle,
            magnification=magnification,
            origins=(x + ox0, y + oy0, x + ox1, y + oy1),
            instances=count,
        )
        return pos

    def r_property(self, buf: bytes, pos: int, rid: int) -> int:  # noqa: PLR0912 - value types
        if rid == 29:
            if not (self.property_name and self.property_values):
                raise _Bad("PROPERTY repeat before a property is set", "undefined_modal")
            return pos
        info = buf[pos]
        pos += 1
        if info & 0x04:
            if info & 0x02:
                _number, pos = _uint(buf, pos)
            else:
                _name_value, pos = _string(buf, pos)
        elif not self.property_name:
            raise _Bad("PROPERTY before its name is set", "undefined_modal")
        if info & 0x08:
            if not self.property_values:
                raise _Bad("PROPERTY reuses a value list never set", "undefined_modal")
        else:
            count = info >> 4
            if count == 15:
                count, pos = _uint(buf, pos)
                if count > len(buf):  # every value takes at least one byte
                    raise IndexError
            for _ in range(count):
                kind, pos = _uint(buf, pos)
                if kind <= 7:
                    _value, pos = _real(buf, pos, kind)
                elif kind in (8, 9, 13, 14, 15):
                    _number, pos = _uint(buf, pos)
                elif kind in (10, 11, 12):
                    _text, pos = _string(buf, pos)
                else:
                    raise _Bad(f"property value of unknown type {kind}", "bad_property")
        self.property_name = self.property_values = True
        return pos

    def r_xelement(self, buf: bytes, pos: int, rid: int) -> int:
        _attribute, pos = _uint(buf, pos)
        _data, pos = _string(buf, pos)
        return pos

    def r_xgeometry(self, buf: bytes, pos: int, rid: int) -> int:
        info = buf[pos]
        _attribute, pos = _uint(buf, pos + 1)
        layer, datatype, pos = self.layer_datatype(buf, pos, info)
        _data, pos = _string(buf, pos)
        x, y, pos = self.x_y(buf, pos, info, (0x10, 0x08), (self.gx, self.gy))
        repetition, pos = self.repeat(buf, pos, info, 0x04)
        self.gx, self.gy = x, y
        self.shape(None, layer=layer, datatype=datatype, box=None, repetition=repetition, info=info)
        return pos


def _shown(name: str) -> str:
    return f"#{name[2:]}" if name.startswith("\x00#") else repr(name)


def scan(source: ByteSource, *, mode: Mode = "full", chunks: Iterator[bytes] | None = None) -> LayoutMetadata:
    """Read an OASIS file from ``source`` once and return its catalogue metadata.

    ``mode="header"`` reads the magic and START only, from at most :data:`HEADER_LIMIT` bytes.
    """
    if chunks is None:
        chunks = iter_chunks(source, limit=HEADER_LIMIT if mode == "header" else None)
    return _Reader(chunks, mode).run()
