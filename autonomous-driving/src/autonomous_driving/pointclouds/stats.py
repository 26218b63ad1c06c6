"""Point statistics over raw records at C speed, in bounded memory, without numpy.

The Lambda layer carries no numpy, and a per-point Python loop over a 2 GB cloud (134 million
points) would outlast Lambda's 15 minutes. Every operation here is a builtin that loops in C:

* a coordinate column is gathered out of packed records with extended-slice assignment
  (``out[k::size] = records[offset + k::record_size]``, one pass per byte of the value);
* NaN/Inf are found from the IEEE 754 exponent and mantissa bytes with ``bytes.translate``
  (one flag byte per value) and combined across x, y, z as big integers (``&``, ``|``,
  ``int.bit_count``): a value is non-finite when all exponent bits are set, NaN when its
  mantissa is also non-zero;
* bounds are ``min``/``max`` of an ``array.array`` after non-finite points have been overwritten
  with the first finite point of the block (so they cannot be extremes), again with big-integer
  masks.

Memory is a few copies of one block of records. :class:`RowStats` serves interleaved records
(PCD ascii/binary, LAS, PLY, KITTI): bounds are over *finite points* (x, y and z all finite).
:class:`PlanarStats` serves PCD ``binary_compressed``, whose x values of all points precede the
y values: a point's validity is known only after its last coordinate, so its NaN/Inf flags are
kept as two bitsets (2 bits per point: 33 MB for 134 million points) and bounds are over each
axis's finite *values*.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass
from typing import Final

AXES: Final = ("x", "y", "z")

_TYPECODES: Final = {
    ("f", 4): "f",
    ("f", 8): "d",
    ("i", 1): "b",
    ("i", 2): "h",
    ("i", 4): "i",
    ("i", 8): "q",
    ("u", 1): "B",
    ("u", 2): "H",
    ("u", 4): "I",
    ("u", 8): "Q",
}
for (_kind, _size), _code in _TYPECODES.items():  # pragma: no cover - platform guard
    if array.array(_code).itemsize != _size:
        raise ImportError(f"array typecode {_code!r} is not {_size} bytes on this platform")
_NATIVE_LITTLE: Final = sys.byteorder == "little"


def _table(predicate: object) -> bytes:
    return bytes(1 if predicate(value) else 0 for value in range(256))  # type: ignore[operator]


_NONZERO: Final = _table(lambda b: b != 0)
_F32_EXP_HIGH: Final = _table(lambda b: b & 0x7F == 0x7F)  # byte 3: sign + 7 exponent bits
_F32_EXP_LOW: Final = _table(lambda b: b & 0x80)  # byte 2: last exponent bit
_F32_MANT_HIGH: Final = _table(lambda b: b & 0x7F)  # byte 2: 7 mantissa bits
_F64_EXP_LOW: Final = _table(lambda b: b & 0xF0 == 0xF0)  # byte 6: 4 exponent bits
_F64_MANT_HIGH: Final = _table(lambda b: b & 0x0F)
_FLAG_TO_FF: Final = bytes(0xFF if value else 0 for value in range(256))
_PACK: Final = tuple(bytes((1 << bit) if value else 0 for value in range(256)) for bit in range(8))


@dataclass(frozen=True, slots=True)
class Column:
    """Where a numeric value sits in a record: byte offset, size, kind (f/i/u) and byte order."""

    name: str
    offset: int
    size: int
    kind: str
    big_endian: bool = False

    @property
    def typecode(self) -> str:
        return _TYPECODES[(self.kind, self.size)]

    @property
    def is_float(self) -> bool:
        return self.kind == "f"


def supported(kind: str, size: int) -> bool:
    return (kind, size) in _TYPECODES


def gather(records: bytes, count: int, record_size: int, column: Column) -> bytes:
    """The column's ``count`` values as contiguous little-endian bytes."""
    size = column.size
    if count <= 0:
        return b""
    if record_size == size and not column.big_endian:
        return records[column.offset : column.offset + count * size]
    out = bytearray(count * size)
    last = (count - 1) * record_size + 1
    for lane in range(size):
        source = column.offset + (size - 1 - lane if column.big_endian else lane)
        out[lane::size] = records[source : source + last : record_size]
    return bytes(out)


def _flags(data: bytes, table: bytes) -> int:
    return int.from_bytes(data.translate(table), "little")


def nonfinite(values: bytes, size: int) -> tuple[int, int]:
    """(NaN flags, Inf flags) of little-endian floats: byte ``i`` of each flag integer is 1 or 0."""
    if size == 4:
        exponent = _flags(values[3::4], _F32_EXP_HIGH) & _flags(values[2::4], _F32_EXP_LOW)
        if not exponent:
            return 0, 0
        mantissa = (
            _flags(values[0::4], _NONZERO)
            | _flags(values[1::4], _NONZERO)
            | _flags(values[2::4], _F32_MANT_HIGH)
        )
    else:
        exponent = _flags(values[7::8], _F32_EXP_HIGH) & _flags(values[6::8], _F64_EXP_LOW)
        if not exponent:
            return 0, 0
        mantissa = _flags(values[6::8], _F64_MANT_HIGH)
        for lane in range(6):
            mantissa |= _flags(values[lane::8], _NONZERO)
    nan = exponent & mantissa
    return nan, exponent ^ nan


def _array(values: bytes, typecode: str) -> array.array[float] | array.array[int]:
    result: array.array[float] | array.array[int] = array.array(typecode)
    result.frombytes(values)
    if not _NATIVE_LITTLE:  # pragma: no cover - Lambda runs little-endian
        result.byteswap()
    return result


def _replace(values: bytes, size: int, bad: bytes, first_good: int) -> bytes:
    """``values`` with each value flagged in ``bad`` (a byte per value) replaced by value ``first_good``."""
    count = len(bad)
    mask = bytearray(count * size)
    wide = bad.translate(_FLAG_TO_FF)
    for lane in range(size):
        mask[lane::size] = wide
    mask_int = int.from_bytes(mask, "little")
    filler = int.from_bytes(values[first_good * size : (first_good + 1) * size] * count, "little")
    kept = int.from_bytes(values, "little") & ~mask_int
    return (kept | (filler & mask_int)).to_bytes(count * size, "little")


def _merge(
    low: float | None, high: float | None, block: array.array[float] | array.array[int]
) -> tuple[float, float]:
    block_low, block_high = float(min(block)), float(max(block))
    return (
        block_low if low is None else min(low, block_low),
        block_high if high is None else max(high, block_high),
    )


class RowStats:
    """Counts and bounds over interleaved records, fed block by block."""

    def __init__(self, columns: tuple[Column, Column, Column]) -> None:
        self.columns = columns
        self.points = 0
        self.nan_points = 0
        self.inf_points = 0
        self.low: list[float | None] = [None, None, None]
        self.high: list[float | None] = [None, None, None]

    @property
    def finite_points(self) -> int:
        return self.points - self.nan_points - self.inf_points

    def add_records(self, records: bytes, count: int, record_size: int) -> None:
        """``count`` packed records of ``record_size`` bytes (``records`` may hold more bytes)."""
        if count > 0:
            self.add_columns([gather(records, count, record_size, column) for column in self.columns], count)

    def add_columns(self, values: list[bytes], count: int) -> None:
        """x, y, z as contiguous little-endian values in the columns' types."""
        if count <= 0:
            return
        self.points += count
        nan = inf = 0
        for column, data in zip(self.columns, values, strict=True):
            if column.is_float:
                column_nan, column_inf = nonfinite(data, column.size)
                nan |= column_nan
                inf |= column_inf
        inf ^= inf & nan  # a point with a NaN coordinate counts as NaN, whatever else it has
        bad = nan | inf
        bad_count = bad.bit_count()
        self.nan_points += nan.bit_count()
        self.inf_points += bad_count - nan.bit_count()
        if bad_count == count:
            return
        flags = bad.to_bytes(count, "little") if bad else b""
        first_good = flags.find(0) if bad else 0
        for axis, (column, data) in enumerate(zip(self.columns, values, strict=True)):
            clean = _replace(data, column.size, flags, first_good) if bad else data
            self.low[axis], self.high[axis] = _merge(
                self.low[axis], self.high[axis], _array(clean, column.typecode)
            )

    def add_floats(self, xs: array.array[float], ys: array.array[float], zs: array.array[float]) -> None:
        """Parsed text values (``array('d')``) for clouds written as text; columns must be float64."""
        self.add_columns(
            [xs.tobytes(), ys.tobytes(), zs.tobytes()] if _NATIVE_LITTLE else _swapped(xs, ys, zs), len(xs)
        )


def _swapped(*columns: array.array[float]) -> list[bytes]:  # pragma: no cover - big-endian hosts only
    out = []
    for column in columns:
        copy = array.array("d", column)
        copy.byteswap()
        out.append(copy.tobytes())
    return out


def _pack_bits(flags: int, count: int) -> int:
    """One flag byte per value → one bit per value (value ``i`` at bit ``i``)."""
    data = flags.to_bytes(count, "little")
    packed = 0
    for bit in range(8):
        packed |= int.from_bytes(data[bit::8].translate(_PACK[bit]), "little")
    return packed


class PlanarStats:
    """Counts and bounds when each axis's values arrive as one run for all points (PCD binary_compressed)."""

    def __init__(self, columns: tuple[Column, Column, Column], points: int) -> None:
        self.columns = columns
        self.points = points
        self.nan_bits = bytearray((points + 7) // 8)
        self.inf_bits = bytearray((points + 7) // 8)
        self.low: list[float | None] = [None, None, None]
        self.high: list[float | None] = [None, None, None]
        self.seen = [0, 0, 0]

    def add_values(self, axis: int, start: int, values: bytes, stride: int) -> None:
        """Values of points ``start``, ``start + 1`` … of one axis; ``start`` is a multiple of 8.

        ``stride`` is the bytes per point in this run (size x PCD COUNT); the value is the first.
        """
        column = self.columns[axis]
        count = len(values) // stride
        if count <= 0:
            return
        if start % 8:
            raise ValueError("planar blocks start at a multiple of 8 points")
        data = gather(
            values, count, stride, Column(column.name, 0, column.size, column.kind, column.big_endian)
        )
        self.seen[axis] += count
        bad = 0
        if column.is_float:
            nan, inf = nonfinite(data, column.size)
            bad = nan | inf
            if bad:
                self._set(self.nan_bits, start, _pack_bits(nan, count), count)
                self._set(self.inf_bits, start, _pack_bits(inf, count), count)
        if bad and bad.bit_count() == count:
            return
        flags = bad.to_bytes(count, "little") if bad else b""
        clean = _replace(data, column.size, flags, flags.find(0)) if bad else data
        self.low[axis], self.high[axis] = _merge(
            self.low[axis], self.high[axis], _array(clean, column.typecode)
        )

    @staticmethod
    def _set(bits: bytearray, start: int, packed: int, count: int) -> None:
        first, end = start // 8, (start + count + 7) // 8
        current = int.from_bytes(bits[first:end], "little")
        bits[first:end] = (current | packed).to_bytes(end - first, "little")

    def totals(self) -> tuple[int, int]:
        """(NaN points, Inf points) once every axis has been fed."""
        nan = int.from_bytes(self.nan_bits, "little")
        inf = int.from_bytes(self.inf_bits, "little")
        return nan.bit_count(), (inf ^ (inf & nan)).bit_count()


def bounds(
    low: list[float | None],
    high: list[float | None],
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> dict[str, list[float]] | None:
    """``{"min": [x, y, z], "max": [x, y, z]}`` in real units (LAS: value x scale + offset)."""
    if any(value is None for value in (*low, *high)):
        return None
    lows, highs = [], []
    for axis in range(3):
        a = float(low[axis]) * scale[axis] + offset[axis]  # type: ignore[arg-type]
        b = float(high[axis]) * scale[axis] + offset[axis]  # type: ignore[arg-type]
        lows.append(min(a, b))
        highs.append(max(a, b))
    return {"min": lows, "max": highs}
