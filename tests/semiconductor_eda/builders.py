"""Byte-level writers for hand-made GDSII and OASIS test files.

gdstk and KLayout write only what they choose to; these builders write exactly the records a test
names (BOX and NODE elements, absolute transforms, every OASIS repetition and point-list type,
modal variables, CBLOCKs, properties, validation schemes), so each corner of the readers is
exercised on purpose. They follow the format specifications, not the readers under test.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence

# --- GDSII ---------------------------------------------------------------------------------------

NODATA, BITARRAY, INT2, INT4, REAL8, ASCII = 0, 1, 2, 3, 5, 6


def gds_record(rtype: int, dtype: int, payload: bytes = b"") -> bytes:
    return struct.pack(">HBB", 4 + len(payload), rtype, dtype) + payload


def gds_real8(value: float) -> bytes:
    """Encode an excess-64, base-16 GDSII real (the inverse of the reader's decoder)."""
    if value == 0:
        return bytes(8)
    sign = 0x80 if value < 0 else 0
    value = abs(value)
    exponent = 64
    while value >= 1:
        value /= 16
        exponent += 1
    while value < 1 / 16:
        value *= 16
        exponent -= 1
    mantissa = round(value * 2**56)
    if mantissa >= 2**56:  # rounding carried into the next hex digit
        mantissa //= 16
        exponent += 1
    return bytes([sign | exponent]) + mantissa.to_bytes(7, "big")


def gds_ascii(text: str) -> bytes:
    raw = text.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _xy(points: Iterable[tuple[int, int]]) -> bytes:
    return gds_record(0x10, INT4, b"".join(struct.pack(">ii", x, y) for x, y in points))


class Gds:
    """A GDSII stream written record by record: ``Gds().lib().cell("A").boundary(...).end()``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def raw(self, data: bytes) -> Gds:
        self.parts.append(data)
        return self

    def lib(
        self,
        name: str = "LIB",
        *,
        version: int = 600,
        user_per_db: float = 1e-3,
        metres_per_db: float = 1e-9,
        stamp: Sequence[int] = (2025, 1, 2, 3, 4, 5, 2025, 6, 7, 8, 9, 10),
    ) -> Gds:
        self.parts += [
            gds_record(0x00, INT2, struct.pack(">h", version)),
            gds_record(0x01, INT2, struct.pack(">12h", *stamp)),
            gds_record(0x02, ASCII, gds_ascii(name)),
            gds_record(0x03, REAL8, gds_real8(user_per_db) + gds_real8(metres_per_db)),
        ]
        return self

    def cell(self, name: str) -> Gds:
        self.parts += [gds_record(0x05, INT2, bytes(24)), gds_record(0x06, ASCII, gds_ascii(name))]
        return self

    def endcell(self) -> Gds:
        self.parts.append(gds_record(0x07, NODATA))
        return self

    def boundary(
        self, points: Sequence[tuple[int, int]], layer: int = 1, datatype: int = 0, *, props: bool = False
    ) -> Gds:
        closed = [*points, points[0]]
        body = [gds_record(0x08, NODATA), gds_record(0x0D, INT2, struct.pack(">H", layer))]
        body += [gds_record(0x0E, INT2, struct.pack(">H", datatype)), _xy(closed)]
        if props:
            body += [gds_record(0x2B, INT2, struct.pack(">h", 1)), gds_record(0x2C, ASCII, gds_ascii("net"))]
        self.parts += [*body, gds_record(0x11, NODATA)]
        return self

    def rect(self, x0: int, y0: int, x1: int, y1: int, layer: int = 1, datatype: int = 0) -> Gds:
        return self.boundary([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], layer, datatype)

    def path(
        self,
        points: Sequence[tuple[int, int]],
        width: int,
        *,
        layer: int = 2,
        datatype: int = 0,
        pathtype: int | None = None,
        extensions: tuple[int, int] | None = None,
    ) -> Gds:
        body = [gds_record(0x09, NODATA), gds_record(0x0D, INT2, struct.pack(">H", layer))]
        body.append(gds_record(0x0E, INT2, struct.pack(">H", datatype)))
        if pathtype is not None:
            body.append(gds_record(0x21, INT2, struct.pack(">h", pathtype)))
        body.append(gds_record(0x0F, INT4, struct.pack(">i", width)))
        if extensions is not None:
            body += [
                gds_record(0x30, INT4, struct.pack(">i", extensions[0])),
                gds_record(0x31, INT4, struct.pack(">i", extensions[1])),
            ]
        self.parts += [*body, _xy(points), gds_record(0x11, NODATA)]
        return self

    def _transform(self, reflect: bool, magnification: float | None, angle: float | None) -> list[bytes]:
        if not (reflect or magnification is not None or angle is not None):
            return []
        parts = [gds_record(0x1A, BITARRAY, struct.pack(">H", 0x8000 if reflect else 0))]
        if magnification is not None:
            parts.append(gds_record(0x1B, REAL8, gds_real8(magnification)))
        if angle is not None:
            parts.append(gds_record(0x1C, REAL8, gds_real8(angle)))
        return parts

    def sref(
        self,
        name: str,
        at: tuple[int, int],
        *,
        reflect: bool = False,
        magnification: float | None = None,
        angle: float | None = None,
    ) -> Gds:
        self.parts += [gds_record(0x0A, NODATA), gds_record(0x12, ASCII, gds_ascii(name))]
        self.parts += self._transform(reflect, magnification, angle)
        self.parts += [_xy([at]), gds_record(0x11, NODATA)]
        return self

    def aref(
        self,
        name: str,
        at: tuple[int, int],
        columns: int,
        rows: int,
        column_step: tuple[int, int],
        row_step: tuple[int, int],
        *,
        reflect: bool = False,
        magnification: float | None = None,
        angle: float | None = None,
    ) -> Gds:
        x, y = at
        p2 = (x + columns * column_step[0], y + columns * column_step[1])
        p3 = (x + rows * row_step[0], y + rows * row_step[1])
        self.parts += [gds_record(0x0B, NODATA), gds_record(0x12, ASCII, gds_ascii(name))]
        self.parts += self._transform(reflect, magnification, angle)
        self.parts += [
            gds_record(0x13, INT2, struct.pack(">hh", columns, rows)),
            _xy([at, p2, p3]),
            gds_record(0x11, NODATA),
        ]
        return self

    def text(self, string: str, at: tuple[int, int], layer: int = 10, texttype: int = 0) -> Gds:
        self.parts += [
            gds_record(0x0C, NODATA),
            gds_record(0x0D, INT2, struct.pack(">H", layer)),
            gds_record(0x16, INT2, struct.pack(">H", texttype)),
            gds_record(0x17, BITARRAY, struct.pack(">H", 0)),
            _xy([at]),
            gds_record(0x19, ASCII, gds_ascii(string)),
            gds_record(0x11, NODATA),
        ]
        return self

    def box(self, x0: int, y0: int, x1: int, y1: int, layer: int = 3, boxtype: int = 1) -> Gds:
        self.parts += [
            gds_record(0x2D, NODATA),
            gds_record(0x0D, INT2, struct.pack(">H", layer)),
            gds_record(0x2E, INT2, struct.pack(">H", boxtype)),
            _xy([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
            gds_record(0x11, NODATA),
        ]
        return self

    def node(self, at: tuple[int, int], layer: int = 4, nodetype: int = 2) -> Gds:
        self.parts += [
            gds_record(0x15, NODATA),
            gds_record(0x0D, INT2, struct.pack(">H", layer)),
            gds_record(0x2A, INT2, struct.pack(">H", nodetype)),
            _xy([at]),
            gds_record(0x11, NODATA),
        ]
        return self

    def end(self, padding: int = 0) -> bytes:
        return b"".join([*self.parts, gds_record(0x04, NODATA), bytes(padding)])


# --- OASIS ---------------------------------------------------------------------------------------

MAGIC = b"%SEMI-OASIS\r\n"


def uint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sint(value: int) -> bytes:
    return uint((-value << 1) | 1 if value < 0 else value << 1)


def ostr(text: str | bytes) -> bytes:
    raw = text.encode("ascii") if isinstance(text, str) else text
    return uint(len(raw)) + raw


def oreal(value: float) -> bytes:
    """Integers as type 0/1, reciprocals as 2/3, anything else as an IEEE double (type 7)."""
    if value == int(value):
        return uint(0 if value >= 0 else 1) + uint(abs(int(value)))
    inverse = 1 / value
    if inverse == int(inverse):
        return uint(2 if value > 0 else 3) + uint(abs(int(inverse)))
    return uint(7) + struct.pack("<d", value)


def gdelta(dx: int, dy: int) -> bytes:
    """Form 1 (octangular, magnitude) when possible, else form 2 (x then signed y)."""
    directions = {
        (1, 0): 0,
        (0, 1): 1,
        (-1, 0): 2,
        (0, -1): 3,
        (1, 1): 4,
        (-1, 1): 5,
        (-1, -1): 6,
        (1, -1): 7,
    }
    magnitude = max(abs(dx), abs(dy))
    if magnitude and (dx == 0 or dy == 0 or abs(dx) == abs(dy)):
        unit = (dx // magnitude, dy // magnitude)
        return uint((magnitude << 4) | (directions[unit] << 1))
    return uint((abs(dx) << 2) | (2 if dx < 0 else 0) | 1) + sint(dy)


def start(unit: float = 1000.0, *, offset_flag: int = 1) -> bytes:
    body = uint(1) + ostr("1.0") + oreal(unit) + uint(offset_flag)
    if offset_flag == 0:
        body += b"".join(uint(0) + uint(0) for _ in range(6))
    return MAGIC + body


def end(data: bytes, *, scheme: int = 0, offset_flag: int = 1) -> bytes:
    """Append a 256-byte END record, with a CRC32 (1) or CHECKSUM32 (2) signature if asked."""
    tables = b"".join(uint(1) + uint(0) for _ in range(6)) if offset_flag == 1 else b""
    head = uint(2) + tables
    fixed = len(head) + 1 + (4 if scheme else 0)
    pad = 256 - fixed - 2  # the padding's length takes two bytes (it is >= 128)
    record = head + uint(pad) + bytes(pad) + uint(scheme)
    body = data + record
    if scheme == 1:
        return body + struct.pack("<I", zlib.crc32(body))
    if scheme == 2:
        return body + struct.pack("<I", sum(body) & 0xFFFFFFFF)
    return body


def cblock(records: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = compressor.compress(records) + compressor.flush()
    return uint(34) + uint(0) + uint(len(records)) + uint(len(packed)) + packed


def cellname(name: str, number: int | None = None) -> bytes:
    return uint(3) + ostr(name) if number is None else uint(4) + ostr(name) + uint(number)


def cell(name: str | int) -> bytes:
    return uint(13) + uint(name) if isinstance(name, int) else uint(14) + ostr(name)


def rectangle(
    *,
    layer: int | None = None,
    datatype: int | None = None,
    w: int | None = None,
    h: int | None = None,
    x: int | None = None,
    y: int | None = None,
    square: bool = False,
    repetition: bytes | None = None,
) -> bytes:
    info = (0x80 if square else 0) | (0x40 if w is not None else 0) | (0x20 if h is not None else 0)
    info |= (0x10 if x is not None else 0) | (0x08 if y is not None else 0) | (0x04 if repetition else 0)
    info |= (0x02 if datatype is not None else 0) | (0x01 if layer is not None else 0)
    body = uint(20) + bytes([info])
    for value in (layer, datatype, w, h):
        if value is not None:
            body += uint(value)
    for value in (x, y):
        if value is not None:
            body += sint(value)
    return body + (repetition or b"")


def point_list(kind: int, deltas: Sequence[object]) -> bytes:
    """Types 0/1 take 1-delta ints, 2/3 take (direction, magnitude), 4/5 take (dx, dy)."""
    body = uint(kind) + uint(len(deltas))
    for delta in deltas:
        if kind in (0, 1):
            body += sint(int(delta))  # type: ignore[call-overload]
        elif kind in (2, 3):
            direction, magnitude = delta  # type: ignore[misc]
            body += uint((magnitude << (2 if kind == 2 else 3)) | direction)
        else:
            dx, dy = delta  # type: ignore[misc]
            body += gdelta(dx, dy)
    return body


def polygon(
    points: bytes | None,
    *,
    layer: int | None = 1,
    datatype: int | None = 0,
    x: int | None = 0,
    y: int | None = 0,
    repetition: bytes | None = None,
) -> bytes:
    info = (
        (0x20 if points is not None else 0) | (0x10 if x is not None else 0) | (0x08 if y is not None else 0)
    )
    info |= (
        (0x04 if repetition else 0)
        | (0x02 if datatype is not None else 0)
        | (0x01 if layer is not None else 0)
    )
    body = uint(21) + bytes([info])
    for value in (layer, datatype):
        if value is not None:
            body += uint(value)
    body += points or b""
    for value in (x, y):
        if value is not None:
            body += sint(value)
    return body + (repetition or b"")


def path(
    points: bytes | None,
    *,
    halfwidth: int | None = 50,
    scheme: int | None = None,
    extensions: Sequence[int] = (),
    layer: int | None = 2,
    datatype: int | None = 0,
    x: int | None = 0,
    y: int | None = 0,
) -> bytes:
    info = (
        (0x80 if scheme is not None else 0)
        | (0x40 if halfwidth is not None else 0)
        | (0x20 if points is not None else 0)
    )
    info |= (0x10 if x is not None else 0) | (0x08 if y is not None else 0)
    info |= (0x02 if datatype is not None else 0) | (0x01 if layer is not None else 0)
    body = uint(22) + bytes([info])
    for value in (layer, datatype, halfwidth):
        if value is not None:
            body += uint(value)
    if scheme is not None:
        body += uint(scheme) + b"".join(sint(e) for e in extensions)
    body += points or b""
    for value in (x, y):
        if value is not None:
            body += sint(value)
    return body


def trapezoid(
    record: int,
    *,
    vertical: bool,
    w: int,
    h: int,
    a: int = 0,
    b: int = 0,
    x: int = 0,
    y: int = 0,
    layer: int = 1,
    datatype: int = 0,
) -> bytes:
    body = (
        uint(record)
        + bytes([(0x80 if vertical else 0) | 0x7B])
        + uint(layer)
        + uint(datatype)
        + uint(w)
        + uint(h)
    )
    if record in (23, 24):
        body += sint(a)
    if record in (23, 25):
        body += sint(b)
    return body + sint(x) + sint(y)


def ctrapezoid(
    kind: int, *, w: int | None, h: int | None, x: int = 0, y: int = 0, layer: int = 1, datatype: int = 0
) -> bytes:
    info = 0x80 | 0x10 | 0x08 | 0x03 | (0x40 if w is not None else 0) | (0x20 if h is not None else 0)
    body = uint(26) + bytes([info]) + uint(layer) + uint(datatype) + uint(kind)
    for value in (w, h):
        if value is not None:
            body += uint(value)
    return body + sint(x) + sint(y)


def circle(radius: int, x: int, y: int, *, layer: int = 1, datatype: int = 0) -> bytes:
    return uint(27) + bytes([0x3B]) + uint(layer) + uint(datatype) + uint(radius) + sint(x) + sint(y)


def text(
    string: str | int | None,
    x: int,
    y: int,
    *,
    textlayer: int | None = 10,
    texttype: int | None = 0,
    repetition: bytes | None = None,
) -> bytes:
    info = (
        (0x10 | 0x08)
        | (0x04 if repetition else 0)
        | (0x02 if texttype is not None else 0)
        | (0x01 if textlayer is not None else 0)
    )
    if string is not None:
        info |= 0x40 | (0x20 if isinstance(string, int) else 0)
    body = uint(19) + bytes([info])
    if isinstance(string, int):
        body += uint(string)
    elif string is not None:
        body += ostr(string)
    for value in (textlayer, texttype):
        if value is not None:
            body += uint(value)
    return body + sint(x) + sint(y) + (repetition or b"")


def placement(
    target: str | int | None,
    x: int,
    y: int,
    *,
    flip: bool = False,
    angle: float = 0.0,
    magnification: float = 1.0,
    repetition: bytes | None = None,
) -> bytes:
    """PLACEMENT 17 for right angles at magnification 1, else PLACEMENT 18."""
    info = 0x20 | 0x10 | (0x08 if repetition else 0) | (0x01 if flip else 0)
    if target is not None:
        info |= 0x80 | (0x40 if isinstance(target, int) else 0)
    reference = uint(target) if isinstance(target, int) else ostr(target) if target is not None else b""
    quarter = angle / 90
    if magnification == 1.0 and quarter == int(quarter):
        info |= (int(quarter) % 4) << 1
        return uint(17) + bytes([info]) + reference + sint(x) + sint(y) + (repetition or b"")
    info |= 0x04 | 0x02
    body = uint(18) + bytes([info]) + reference + oreal(magnification) + oreal(angle)
    return body + sint(x) + sint(y) + (repetition or b"")


def rep_grid(nx: int, ny: int, sx: int, sy: int) -> bytes:
    return uint(1) + uint(nx - 2) + uint(ny - 2) + uint(sx) + uint(sy)


def math_isclose_box(a: Sequence[float] | None, b: Sequence[float] | None, tolerance: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is b
    return all(math.isclose(p, q, rel_tol=1e-9, abs_tol=tolerance) for p, q in zip(a, b, strict=True))
