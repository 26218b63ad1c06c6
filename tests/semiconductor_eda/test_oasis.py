"""The OASIS reader on hand-made files: START/END, name tables, every geometry record, repetition and
point-list type, modal variables, properties, CBLOCKs, validation, and every error path.

Geometry of hand-made records is checked against gdstk reading the same bytes (its OASIS reader
is the independent implementation at hand), plus exact expectations where the arithmetic is plain.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import gdstk
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semiconductor_eda import oasis

from shared.errors import FileFormatError
from tests.semiconductor_eda.builders import (
    MAGIC,
    cblock,
    cell,
    cellname,
    circle,
    ctrapezoid,
    end,
    gdelta,
    ostr,
    path,
    placement,
    point_list,
    polygon,
    rectangle,
    rep_grid,
    sint,
    start,
    text,
    trapezoid,
    uint,
)


def scan(data: bytes, **options):
    return oasis.scan(data, **options).to_record()


def cells(record):
    return {item["name"]: item for item in record["cells"]}


def file_of(*records: bytes, unit: float = 1000.0, scheme: int = 0) -> bytes:
    return end(start(unit) + b"".join(records), scheme=scheme)


def gdstk_box(tmp_path: Path, data: bytes, name: str) -> list[float]:
    target = tmp_path / "oracle.oas"
    target.write_bytes(data)
    library = gdstk.read_oas(str(target))
    (x0, y0), (x1, y1) = next(c for c in library.cells if c.name == name).bounding_box()
    unit = 1e-6 / library.precision  # database units per micron
    return [x0 * unit, y0 * unit, x1 * unit, y1 * unit]


def assert_close(box, expected, tolerance=1e-6):
    assert box is not None
    assert all(math.isclose(a, b, abs_tol=tolerance) for a, b in zip(box, expected, strict=True)), (
        box,
        expected,
    )


# --- START, END, header mode -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit_bytes", "db_unit_m"),
    [
        (uint(0) + uint(1000), 1e-9),  # positive whole number
        (uint(2) + uint(4), 4e-6),  # reciprocal: 0.25 steps per micron
        (uint(4) + uint(2000) + uint(2), 1e-9),  # ratio
        (uint(7) + bytes.fromhex("0000000000408f40"), 1e-9),  # IEEE double 1000.0
        (uint(6) + bytes.fromhex("00007a44"), 1e-9),  # IEEE float 1000.0
    ],
)
def test_start_record_and_units(unit_bytes, db_unit_m):
    data = end(MAGIC + uint(1) + ostr("1.0") + unit_bytes + uint(1) + cellname("A") + cell(0))
    record = scan(data)
    assert (record["format"], record["version"]) == ("oasis", "1.0")
    assert math.isclose(record["units"]["db_unit_m"], db_unit_m)
    assert record["units"]["user_unit_m"] == 1e-6
    assert record["oasis"]["offset_flag"] == 1
    assert record["oasis"]["tables"]["cellname"] == {"strict": 1, "offset": 0}
    assert record["cell_count"] == 1


def test_table_offsets_in_start_and_header_mode():
    data = end(start(offset_flag=0) + cellname("A") + cell(0), offset_flag=0)
    record = scan(data, mode="header")
    assert record["mode"] == "header" and record["oasis"]["offset_flag"] == 0
    assert record["oasis"]["tables"]["xname"] == {"strict": 0, "offset": 0}
    assert "cells" not in record
    assert scan(data)["cell_count"] == 1


@pytest.mark.parametrize("scheme", [1, 2])
def test_validation_signatures(scheme):
    data = file_of(
        cellname("A"), cell(0), rectangle(layer=1, datatype=0, w=10, h=10, x=0, y=0), scheme=scheme
    )
    record = scan(data)
    validation = record["oasis"]["validation"]
    assert validation["scheme"] == ("crc32", "checksum32")[scheme - 1]
    assert validation["signature"] == validation["computed"]
    flipped = bytearray(data)
    flipped[len(start())] ^= 0x01  # a body byte changes: the signature no longer matches
    with pytest.raises(FileFormatError) as raised:
        scan(bytes(flipped))
    # Either the record no longer parses or the signature is wrong: both are INVALID.
    assert raised.value.offset >= 0


def test_checksum_mismatch_is_reported_at_the_signature():
    data = bytearray(file_of(cellname("A"), cell(0), scheme=1))
    data[-1] ^= 0xFF
    with pytest.raises(FileFormatError) as raised:
        scan(bytes(data))
    assert raised.value.details["reason"] == "checksum_mismatch"
    assert raised.value.offset == len(data) - 4


# --- names and cells ---------------------------------------------------------------------------


def test_cells_and_placements_by_reference_number_resolve_at_end():
    data = file_of(
        cell(0),
        rectangle(layer=1, datatype=0, w=100, h=50, x=0, y=0),
        cell(1),
        placement(0, 1000, 0),
        placement(None, 2000, 0),
        cell("BYNAME"),
        placement("LEAF", 0, 0),
        cellname("LEAF"),
        cellname("TOP"),
    )
    record = scan(data)
    assert [c["name"] for c in record["cells"]] == ["BYNAME", "LEAF", "TOP"]
    assert record["top_cells"] == ["BYNAME", "TOP"]
    top = cells(record)["TOP"]
    assert top["counts"]["sref"] == 2 and top["children"] == ["LEAF"]
    assert top["bounding_box"] == [1000, 0, 2100, 50]
    assert record["oasis"]["name_records"]["cellname"] == 2


def test_explicit_reference_numbers_and_their_errors():
    ok = file_of(
        cellname("B", 7),
        cellname("A", 3),
        cell(3),
        placement(7, 0, 0),
        cell(7),
        rectangle(layer=1, datatype=0, w=1, h=1, x=0, y=0),
    )
    assert scan(ok)["top_cells"] == ["A"]
    for records, reason in [
        ((cellname("A"), cellname("B", 5)), "mixed_reference_modes"),
        ((cellname("A", 1), cellname("B", 1)), "duplicate_reference_number"),
        ((cell(4),), "undefined_reference_number"),
        ((cell("A"), cell("A")), "duplicate_cell"),
    ]:
        with pytest.raises(FileFormatError) as raised:
            scan(file_of(*records))
        assert raised.value.details["reason"] == reason


def test_layername_records_and_other_name_tables():
    data = file_of(
        uint(11) + ostr("METAL1") + uint(3) + uint(31) + uint(0),
        uint(12) + ostr("M1_PIN") + uint(4) + uint(31) + uint(33) + uint(1) + uint(2),
        uint(5) + ostr("VDD"),
        uint(7) + ostr("S_TOP_CELL"),
        uint(9) + ostr(b"\x00raw"),
        uint(30) + uint(1) + ostr("x"),
        cellname("A"),
        cell(0),
        text(0, 5, 5),
    )
    record = scan(data)
    assert record["oasis"]["layer_names"] == [
        {"name": "METAL1", "kind": "geometry", "layers": [31, 31], "types": [0, None]},
        {"name": "M1_PIN", "kind": "text", "layers": [31, 33], "types": [0, 2]},
    ]
    assert record["oasis"]["name_records"] == {
        "cellname": 1,
        "textstring": 1,
        "propname": 1,
        "propstring": 1,
        "xname": 1,
    }
    assert record["text_layers"] == [[10, 0]]


# --- geometry ----------------------------------------------------------------------------------


def test_rectangles_with_modal_variables_and_relative_mode():
    data = file_of(
        cellname("A"),
        cell(0),
        rectangle(layer=1, datatype=2, w=100, h=40, x=0, y=0),
        rectangle(x=500),  # same layer, size and y
        rectangle(w=30, square=True, x=-20, y=-20),  # a 30 x 30 square
        uint(16),
        rectangle(x=10, y=10),  # relative: (-10, -10)
        uint(15),
    )
    record = scan(data)
    a = cells(record)["A"]
    assert a["counts"]["boundary"] == 4 and a["shapes"] == 4
    assert a["bounding_box"] == [-20, -20, 600, 40]
    assert record["layers"] == [[1, 2]]


@pytest.mark.parametrize(
    "points",
    [
        point_list(0, [100, 50, -30, 70]),  # 1-deltas, horizontal first (+ implied closing vertex)
        point_list(1, [80, 40, -20]),  # vertical first
        point_list(2, [(0, 60), (1, 30), (2, 20)]),  # 2-deltas E N W
        point_list(3, [(4, 40), (3, 10), (6, 5)]),  # 3-deltas NE S SW
        point_list(4, [(33, 7), (-5, 40), (0, -12)]),  # g-deltas, both forms
        point_list(5, [(10, 0), (5, 5), (-40, 3)]),  # g-deltas of deltas
    ],
)
def test_polygon_point_lists_match_gdstk(tmp_path, points):
    data = file_of(cellname("A"), cell(0), polygon(points, x=1000, y=-500))
    ours = cells(scan(data))["A"]["bounding_box"]
    assert_close(ours, gdstk_box(tmp_path, data, "A"))


@pytest.mark.parametrize(
    ("scheme", "extensions"),
    [(None, ()), (0b0101, ()), (0b1010, ()), (0b1111, (30, -10)), (0b0111, (25,))],
)
@pytest.mark.parametrize(
    "points",
    [
        point_list(0, [400]),
        point_list(2, [(0, 300), (1, 200), (0, 100)]),
        point_list(4, [(300, 400)]),
        point_list(4, [(300, 120), (50, 260)]),
    ],
)
def test_paths_match_gdstk(tmp_path, scheme, extensions, points):
    if scheme is None:  # the first PATH of a cell must say its extensions
        records = [path(points, scheme=0b0101), path(None, halfwidth=None, x=None, y=None)]
    else:
        records = [path(points, scheme=scheme, extensions=extensions)]
    data = file_of(cellname("A"), cell(0), *records)
    ours = cells(scan(data))["A"]["bounding_box"]
    assert_close(ours, gdstk_box(tmp_path, data, "A"))


@pytest.mark.parametrize("record", [23, 24, 25])
@pytest.mark.parametrize("vertical", [False, True])
@pytest.mark.parametrize(("a", "b"), [(20, 30), (-20, 30), (20, -30), (-25, -35)])
def test_trapezoids_match_gdstk(tmp_path, record, vertical, a, b):
    data = file_of(
        cellname("A"), cell(0), trapezoid(record, vertical=vertical, w=200, h=100, a=a, b=b, x=7, y=11)
    )
    ours = cells(scan(data))["A"]["bounding_box"]
    assert_close(ours, gdstk_box(tmp_path, data, "A"))


@pytest.mark.parametrize("kind", range(26))
def test_ctrapezoids_match_gdstk(tmp_path, kind):
    w = None if kind in (20, 21) else 300
    h = None if kind in (16, 17, 18, 19, 22, 23, 25) else 100
    data = file_of(cellname("A"), cell(0), ctrapezoid(kind, w=w, h=h, x=-40, y=25))
    ours = cells(scan(data))["A"]["bounding_box"]
    assert_close(ours, gdstk_box(tmp_path, data, "A"))


def test_circle_text_and_xgeometry():
    xgeometry = uint(33) + bytes([0x1B]) + uint(9) + uint(6) + uint(1) + ostr(b"opaque") + sint(0) + sint(0)
    data = file_of(
        cellname("A"),
        cell(0),
        circle(50, 100, 100),
        text("CLK", -10, 400, textlayer=20, texttype=1),
        text(None, 5, 5, textlayer=None, texttype=None),
        xgeometry,
    )
    record = scan(data)
    a = cells(record)["A"]
    assert a["bounding_box"] == [-10, 5, 150, 400]
    assert (a["counts"]["boundary"], a["counts"]["text"], a["other"]) == (1, 2, 1)
    assert record["text_layers"] == [[20, 1]]
    assert record["layers"] == [[1, 0], [6, 1]]


# --- repetitions -------------------------------------------------------------------------------


REPETITIONS = [
    (rep_grid(3, 2, 100, 50), 6, (0, 0, 200, 50)),
    (uint(2) + uint(2) + uint(40), 4, (0, 0, 120, 0)),
    (uint(3) + uint(1) + uint(25), 3, (0, 0, 0, 50)),
    (uint(4) + uint(1) + uint(10) + uint(30), 3, (0, 0, 40, 0)),  # dimension 1: three positions
    (uint(5) + uint(1) + uint(10) + uint(3) + uint(4), 3, (0, 0, 70, 0)),  # grid 10
    (uint(6) + uint(0) + uint(7), 2, (0, 0, 0, 7)),
    (uint(7) + uint(1) + uint(5) + uint(1) + uint(1), 3, (0, 0, 0, 10)),
    (uint(8) + uint(0) + uint(1) + gdelta(100, 10) + gdelta(-20, 60), 6, (-40, 0, 100, 130)),
    (uint(9) + uint(1) + gdelta(-30, 40), 3, (-60, 0, 0, 80)),
    (uint(10) + uint(1) + gdelta(50, -20) + gdelta(-80, 10), 3, (-30, -20, 50, 0)),
    (uint(11) + uint(0) + uint(4) + gdelta(-5, 3), 2, (-20, 0, 0, 12)),
]


@pytest.mark.parametrize(("repetition", "count", "offsets"), REPETITIONS)
def test_shape_and_placement_repetitions(tmp_path, repetition, count, offsets):
    data = file_of(
        cellname("LEAF"),
        cellname("TOP"),
        cell(0),
        rectangle(layer=1, datatype=0, w=10, h=10, x=0, y=0, repetition=repetition),
        cell(1),
        placement(0, 1000, 1000, repetition=repetition),
        rectangle(layer=2, datatype=0, w=1, h=1, x=0, y=0, repetition=uint(0)),  # type 0 reuses it
    )
    record = scan(data)
    leaf, top = cells(record)["LEAF"], cells(record)["TOP"]
    x0, y0, x1, y1 = offsets
    assert (leaf["counts"]["boundary"], leaf["shapes"]) == (1, count)
    assert leaf["bounding_box"] == [x0, y0, x1 + 10, y1 + 10]
    assert (top["counts"]["aref"], top["instances"], top["shapes"]) == (1, count, count)
    assert_close(top["bounding_box"], gdstk_box(tmp_path, data, "TOP"))


def test_placements_with_magnification_any_angle_and_flip():
    data = file_of(
        cellname("LEAF"),
        cellname("TOP"),
        cell(0),
        rectangle(layer=1, datatype=0, w=100, h=50, x=0, y=0),
        cell(1),
        placement(0, 0, 0, magnification=2.0, angle=90.0, flip=True),
    )
    record = scan(data)
    # Flip: y in [-50, 0]; x2: [0, 200] x [-100, 0]; rotate 90: (x, y) -> (-y, x).
    assert cells(record)["TOP"]["bounding_box"] == [0, 0, 100, 200]
    assert record["bounding_box"]["exact"] is True
    tilted = file_of(
        cellname("L"),
        cellname("T"),
        cell(0),
        rectangle(layer=1, datatype=0, w=10, h=10, x=0, y=0),
        cell(1),
        placement(0, 0, 0, angle=30.0),
    )
    assert scan(tilted)["bounding_box"]["exact"] is False


# --- properties, extensions, compression -------------------------------------------------------


def test_properties_of_every_value_type_are_skipped():
    values = (
        uint(0)
        + uint(5)
        + uint(1)
        + uint(5)
        + uint(2)
        + uint(3)
        + uint(3)
        + uint(3)
        + uint(4)
        + uint(1)
        + uint(3)
        + uint(5)
        + uint(1)
        + uint(3)
        + uint(6)
        + bytes(4)
        + uint(7)
        + bytes(8)
        + uint(8)
        + uint(300)
        + uint(9)
        + sint(-300)
        + uint(10)
        + ostr("a")
        + uint(11)
        + ostr(b"\x01")
        + uint(12)
        + ostr("n")
        + uint(13)
        + uint(0)
        + uint(14)
        + uint(0)
        + uint(15)
        + uint(0)
    )
    prop = uint(28) + bytes([0xF4]) + ostr("S_X") + uint(16) + values
    data = file_of(
        prop,
        cellname("A"),
        prop,
        cell(0),
        prop,
        rectangle(layer=1, datatype=0, w=1, h=1, x=0, y=0),
        prop,
        uint(29),
    )
    assert cells(scan(data))["A"]["counts"]["boundary"] == 1


def test_xelement_and_pad_records_are_skipped():
    data = file_of(uint(0), cellname("A"), cell(0), uint(32) + uint(1) + ostr(b"ext"), uint(0))
    assert scan(data)["cell_count"] == 1


def test_cblock_content_is_read_like_plain_records():
    body = cell(0) + rectangle(layer=1, datatype=0, w=10, h=20, x=5, y=5) + placement(1, 0, 0)
    plain = scan(
        file_of(
            cellname("A"), cellname("B"), body, cell(1), rectangle(layer=3, datatype=0, w=1, h=1, x=0, y=0)
        )
    )
    packed = scan(
        file_of(
            cellname("A"),
            cellname("B"),
            cblock(body),
            cblock(cell(1) + rectangle(layer=3, datatype=0, w=1, h=1, x=0, y=0)),
        )
    )
    plain.pop("bytes_read"), packed.pop("bytes_read")
    assert plain == packed


# --- errors ------------------------------------------------------------------------------------


def error_of(data: bytes) -> FileFormatError:
    with pytest.raises(FileFormatError) as raised:
        oasis.scan(data)
    return raised.value


def test_bad_cblocks():
    records = cell(0) + rectangle(layer=1, datatype=0, w=10, h=20, x=5, y=5)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = compressor.compress(records) + compressor.flush()
    prefix = start() + cellname("A")
    cases = {
        "unknown method": uint(34) + uint(1) + uint(len(records)) + uint(len(packed)) + packed,
        "inflates to more": uint(34) + uint(0) + uint(len(records) - 1) + uint(len(packed)) + packed,
        "inflates to less": uint(34) + uint(0) + uint(len(records) + 5) + uint(len(packed)) + packed,
        "stream ends late": uint(34) + uint(0) + uint(len(records)) + uint(len(packed) - 1) + packed[:-1],
        "bytes after the stream": uint(34)
        + uint(0)
        + uint(len(records))
        + uint(len(packed) + 2)
        + packed
        + b"\x00\x00",
        "not deflate": uint(34) + uint(0) + uint(10) + uint(4) + b"\xff\xff\xff\xff",
        "nested": cblock(cblock(records)),
        "record crosses the end": cblock(records[:-1]),
    }
    for name, block in cases.items():
        error = error_of(end(prefix + block))
        assert error.details["reason"] in ("bad_cblock", "truncated"), name
        assert error.offset == len(prefix), name


def test_truncation_everywhere_is_a_format_error_with_offset():
    data = file_of(
        cellname("A"), cblock(cell(0) + rectangle(layer=1, datatype=0, w=10, h=20, x=5, y=5)), scheme=1
    )
    for cut in range(len(data)):
        with pytest.raises(FileFormatError) as raised:
            oasis.scan(data[:cut])
        assert 0 <= raised.value.offset <= cut


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%SEMI-OASIS\r\n", "truncated"),
        (b"%SEMI-OASIX\r\n\x01", "not_oasis"),
        (MAGIC + uint(3), "not_oasis"),
        (end(MAGIC + uint(1) + ostr("2.0") + uint(0) + uint(1000) + uint(1)), "unsupported_version"),
        (end(MAGIC + uint(1) + ostr("1.0") + uint(0) + uint(0) + uint(1)), "bad_units"),
        (end(MAGIC + uint(1) + ostr("1.0") + uint(2) + uint(0) + uint(1)), "bad_real"),
        (end(start() + rectangle(layer=1, datatype=0, w=1, h=1, x=0, y=0)), "unexpected_record"),
        (end(start() + cellname("A") + cell(0) + rectangle(w=1, h=1, x=0, y=0)), "undefined_modal"),
        (
            end(start() + cellname("A") + cell(0) + rectangle(layer=1, datatype=0, x=0, y=0)),
            "undefined_modal",
        ),
        (
            end(
                start()
                + cellname("A")
                + cell(0)
                + rectangle(layer=1, datatype=0, w=1, h=1, repetition=uint(0))
            ),
            "undefined_modal",
        ),
        (
            end(
                start()
                + cellname("A")
                + cell(0)
                + rectangle(layer=1, datatype=0, w=1, h=1, repetition=uint(12))
            ),
            "bad_repetition",
        ),
        (end(start() + cellname("A") + cell(0) + polygon(uint(6) + uint(1) + uint(1))), "bad_point_list"),
        (end(start() + cellname("A") + cell(0) + polygon(None)), "undefined_modal"),
        (
            end(start() + cellname("A") + cell(0) + path(point_list(0, [9]), halfwidth=None)),
            "undefined_modal",
        ),
        (end(start() + cellname("A") + cell(0) + path(point_list(0, [9]))), "undefined_modal"),
        (end(start() + cellname("A") + cell(0) + path(None, scheme=0b0101)), "undefined_modal"),
        (end(start() + cellname("A") + cell(0) + path(point_list(0, [9]), scheme=16)), "bad_record"),
        (
            end(start() + cellname("A") + cell(0) + path(uint(7) + uint(1) + uint(9), scheme=5)),
            "bad_point_list",
        ),
        (end(start() + cellname("A") + cell(0) + ctrapezoid(26, w=1, h=1)), "bad_ctrapezoid"),
        (end(start() + cellname("A") + cell(0) + placement(None, 0, 0)), "undefined_modal"),
        (end(start() + cellname("A") + cell(0) + text(None, 0, 0)), "undefined_modal"),
        (end(start() + cellname("A") + uint(29)), "undefined_modal"),
        (end(start() + uint(35)), "unexpected_record"),
        (end(start() + start()[len(MAGIC) :]), "unexpected_record"),
        (end(start() + cellname("A")) + b"\x00", "trailing_data"),
        (
            end(
                start()
                + cellname("A")
                + cell(0)
                + rectangle(layer=1, datatype=0, w=1, h=1, x=0, y=0, square=True)[:3]
                + b"\xe3"
            ),
            "bad_record",
        ),
        (end(start() + uint(1 << 70)), "integer_overflow"),
        (end(start() + uint(28) + bytes([0x14]) + ostr("P") + uint(16)), "bad_property"),
    ],
)
def test_malformed_files(data, reason):
    error = error_of(data)
    assert error.details["reason"] == reason
    assert error.offset >= 0


def test_one_byte_chunks_give_the_same_record():
    data = file_of(
        cellname("A"),
        cellname("B"),
        cblock(
            cell(0) + rectangle(layer=1, datatype=0, w=10, h=20, x=5, y=5, repetition=rep_grid(2, 2, 30, 30))
        ),
        cell(1),
        placement(0, 100, 0),
        path(point_list(2, [(0, 300), (1, 200)]), scheme=0b1010),
        text("T", 1, 1),
        scheme=2,
    )
    whole = oasis.scan(data).to_record()
    trickled = oasis.scan(iter(data[i : i + 1] for i in range(len(data)))).to_record()
    assert whole == trickled


# --- the fast loop and its caches --------------------------------------------------------------
#
# `_Reader.fast_records` decodes the commonest records inline and looks point lists up by their
# bytes; the general path (one handler per record) is the reference it must agree with exactly.


class GeneralPathOnly(oasis._Reader):
    """The reader with its fast loop switched off: every record through its handler."""

    def fast_records(self) -> None:
        return None


def outcome(data: bytes, chunk: int = 1 << 20, *, reader: type[oasis._Reader] = oasis._Reader):
    """The record, or the error's (offset, reason, offset inside a CBLOCK)."""
    try:
        chunks = iter([data[i : i + chunk] for i in range(0, len(data), chunk)])
        return reader(chunks, "full").run().to_record()
    except FileFormatError as error:
        return (error.offset, error.details.get("reason"), error.details.get("decompressed_offset"))


def both_paths(data: bytes, chunk: int = 1 << 20):
    return outcome(data, chunk), outcome(data, chunk, reader=GeneralPathOnly)


POINT_LISTS = [
    point_list(0, [100, 50, -30, 70]),
    point_list(1, [80, 40, -20]),
    point_list(2, [(0, 60), (1, 30), (2, 20)]),
    point_list(3, [(4, 40), (3, 10), (6, 5)]),
    point_list(4, [(33, 7), (-5, 40), (0, -12)]),
    point_list(5, [(10, 0), (5, 5), (-40, 3)]),
    point_list(0, [3, -3] * 20),  # more deltas than are unrolled in a pattern
    point_list(4, [(1, 2), (3, -4)] * 70),  # a count of two bytes: never a cache key
    point_list(1, [100_000, -100_000] * 50),  # longer than CACHE_KEY_BYTES: never a cache key
]


@pytest.mark.parametrize("points", POINT_LISTS)
def test_a_repeated_polygon_is_decoded_once(monkeypatch, tmp_path, points):
    # Given the same point list at three positions, inside a CBLOCK and outside one
    shapes = b"".join(polygon(points, x=x, y=y) for x, y in ((0, 0), (5000, -300), (-70, 9000)))
    data = file_of(cellname("A"), cellname("B"), cell(0), shapes, cell(1), cblock(shapes))
    decoded = []
    extent = oasis._polygon_extent
    monkeypatch.setattr(oasis, "_polygon_extent", lambda buf, pos: decoded.append(pos) or extent(buf, pos))

    # When it is read, the general path being the reference
    fast, general = both_paths(data)

    # Then the boxes are gdstk's and the general path's, and a short list was decoded once
    assert fast == general
    assert_close(cells(fast)["A"]["bounding_box"], gdstk_box(tmp_path, data, "A"))
    assert cells(fast)["A"]["bounding_box"] == cells(fast)["B"]["bounding_box"]
    cacheable = len(points) <= oasis.CACHE_KEY_BYTES and points[1] < 0x80
    assert len(decoded) == (1 if cacheable else 6) + 6  # the general path decodes all six


def test_lists_differing_in_one_byte_are_not_confused(tmp_path):
    # Given point lists that differ only in their type (horizontal or vertical first, plain or
    # cumulative g-deltas), and paths that differ only in their extension scheme, one per cell
    variants = [
        polygon(point_list(0, [100, 50, -30])),
        polygon(point_list(1, [100, 50, -30])),
        polygon(point_list(4, [(100, 50), (-30, 7)])),
        polygon(point_list(5, [(100, 50), (-30, 7)])),
        path(point_list(0, [400]), scheme=0b0101),
        path(point_list(0, [400]), scheme=0b1010),
    ]
    names = [f"C{index}" for index in range(len(variants))]
    data = file_of(
        *(cellname(name) for name in names), *(cell(index) + record for index, record in enumerate(variants))
    )

    # When they are read, then each has its own box, gdstk's
    fast, general = both_paths(data)
    assert fast == general
    for name in names:
        assert_close(cells(fast)[name]["bounding_box"], gdstk_box(tmp_path, data, name))
    assert len({tuple(cells(fast)[name]["bounding_box"]) for name in names}) == len(names)


@pytest.mark.parametrize(
    ("scheme", "extensions"),
    [(0b0101, ()), (0b1010, ()), (0b1111, (30, -10)), (0b0111, (25,)), (0b1101, (-40,))],
)
@pytest.mark.parametrize("points", [point_list(0, [400]), point_list(2, [(0, 300), (1, 200), (0, 100)])])
def test_repeated_paths_and_modal_reuse(tmp_path, scheme, extensions, points):
    # Given explicit paths (a cache key), repeated, then paths reusing the modal point list,
    # half-width or extensions (decoded from the modal variables)
    data = file_of(
        cellname("A"),
        cell(0),
        path(points, scheme=scheme, extensions=extensions, x=0, y=0),
        path(points, scheme=scheme, extensions=extensions, x=1000, y=-1000),
        path(None, halfwidth=80, scheme=0b0101, x=-3000),
        path(None, halfwidth=None, x=4000, y=200),
        path(point_list(0, [-250]), halfwidth=None, scheme=0b0000, y=7000),
    )

    # When it is read, then the fast loop agrees with the general path and with gdstk
    fast, general = both_paths(data)
    assert fast == general
    assert cells(fast)["A"]["counts"]["path"] == 5
    assert_close(cells(fast)["A"]["bounding_box"], gdstk_box(tmp_path, data, "A"))


def test_full_caches_start_again(monkeypatch):
    # Given more distinct polygons and paths than the caches hold
    monkeypatch.setattr(oasis, "CACHE_ENTRIES", 2)
    lists = [point_list(0, [10 * k, 20, -5]) for k in range(1, 6)]
    shapes = b"".join(polygon(p, x=100 * k) + path(p, scheme=0b1010, x=7 * k) for k, p in enumerate(lists))
    data = file_of(cellname("A"), cell(0), shapes * 3)

    # When it is read, then nothing is lost or confused
    fast, general = both_paths(data)
    assert fast == general
    assert cells(fast)["A"]["counts"]["boundary"] == cells(fast)["A"]["counts"]["path"] == 15


def test_multibyte_integers_and_windows_cut_anywhere():
    # Given fields of one to ten bytes (non-canonical ones too), in relative mode, read through
    # chunks of every small size: records are cut by the window anywhere, even mid-integer
    big = 2**40 + 12345
    records = cblock(
        uint(16)
        + rectangle(layer=300, datatype=70_000, w=big, h=129, x=-(2**22), y=2**21)
        + bytes([0x14, 0x7B, 0x81, 0x80, 0x00, 0x05, 0xFF, 0x01, 0x83, 0x00, 0x10, 0x11])
        + rectangle(w=16_384, square=True, x=-1, y=1)
        + polygon(point_list(0, [2**30, -(2**30), 1]), layer=999, datatype=2**20, x=big, y=-big)
        + path(point_list(2, [(0, 2**25)]), halfwidth=2**15, scheme=0b1111, extensions=(-(2**24), 3))
        + text("PIN", -(2**21), 2**35, textlayer=2**14, texttype=130)
        + placement(1, 2**23, -(2**23))
    )
    data = file_of(cellname("A"), cellname("B"), cell(0), records, cell(1))
    whole, general = both_paths(data)
    assert whole == general
    assert isinstance(whole, dict)
    assert cells(whole)["A"]["counts"]["boundary"] == 4
    for chunk in (1, 2, 3, 5, 8, 13):
        assert both_paths(data, chunk) == (whole, whole)


# Records as the fast loop meets them: any mix of explicit and modal fields, integers of one to
# seven bytes, every point-list type, repetitions (left to the general path), errors.
small = st.integers(0, 300)
unsigned = st.one_of(
    st.integers(0, 127), st.integers(0, 20_000), st.integers(0, 2**22), st.integers(0, 2**45)
)
signed = st.builds(lambda value, negative: -value if negative else value, unsigned, st.booleans())
repetitions = st.sampled_from(
    (
        uint(0),  # reuse the previous one
        rep_grid(2, 3, 10, 20),
        uint(2) + uint(1) + uint(50),
        uint(10) + uint(1) + gdelta(5, 7) + gdelta(-3, 0),
    )
)


@st.composite
def point_lists(draw) -> bytes:
    kind = draw(st.integers(0, 5))
    count = draw(st.one_of(st.integers(0, 6), st.integers(0, 140)))
    deltas: list[object]
    if kind in (0, 1):
        deltas = draw(st.lists(signed, min_size=count, max_size=count))
    elif kind in (2, 3):
        direction = st.integers(0, 3 if kind == 2 else 7)
        deltas = draw(st.lists(st.tuples(direction, unsigned), min_size=count, max_size=count))
    else:
        step = st.integers(-5000, 5000)
        deltas = draw(st.lists(st.tuples(step, step), min_size=count, max_size=count))
    return point_list(kind, deltas)


@st.composite
def paths(draw) -> bytes:
    scheme = draw(st.none() | st.integers(0, 15))
    extensions = (
        [draw(signed) for kind in (scheme >> 2, scheme & 3) if kind == 3] if scheme is not None else []
    )
    return path(
        draw(st.none() | point_lists()),
        halfwidth=draw(st.none() | st.integers(0, 200) | unsigned),
        scheme=scheme,
        extensions=extensions,
        layer=draw(st.none() | small),
        datatype=draw(st.none() | small),
        x=draw(st.none() | signed),
        y=draw(st.none() | signed),
    )


cell_records = st.one_of(
    st.builds(
        rectangle,
        layer=st.none() | small,
        datatype=st.none() | small,
        w=st.none() | unsigned,
        h=st.none() | unsigned,
        x=st.none() | signed,
        y=st.none() | signed,
        repetition=st.none() | repetitions,
    ),
    st.builds(
        rectangle, w=st.none() | unsigned, x=st.none() | signed, y=st.none() | signed, square=st.just(True)
    ),
    st.builds(
        polygon,
        st.none() | point_lists(),
        layer=st.none() | small,
        datatype=st.none() | small,
        x=st.none() | signed,
        y=st.none() | signed,
        repetition=st.none() | repetitions,
    ),
    paths(),
    st.builds(
        text,
        st.sampled_from(("PIN", 3, None)),
        signed,
        signed,
        textlayer=st.none() | small,
        texttype=st.none() | small,
        repetition=st.none() | repetitions,
    ),
    st.builds(
        placement,
        st.sampled_from(("B", 1, None)),
        signed,
        signed,
        flip=st.booleans(),
        angle=st.sampled_from((0.0, 90.0, 45.0)),
        magnification=st.sampled_from((1.0, 2.0)),
        repetition=st.none() | repetitions,
    ),
    st.sampled_from((uint(15), uint(16))),
)
MODALS_SET = (
    rectangle(layer=1, datatype=0, w=10, h=20, x=0, y=0, repetition=rep_grid(2, 2, 5, 5))
    + polygon(point_list(0, [10, 20, -10]))
    + path(point_list(0, [100, 50]), scheme=0b0101)
    + text("A", 1, 1)
    + placement("B", 0, 0)
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.sampled_from((True, True, True, False)),
    st.lists(cell_records, max_size=40),
    st.booleans(),
    st.sampled_from((1, 3, 1 << 20)),
    st.data(),
)
def test_the_fast_loop_agrees_with_the_general_path(modals_set, records, compressed, chunk, data):
    body = (MODALS_SET if modals_set else b"") + b"".join(records)
    file = bytearray(
        file_of(cellname("A"), cellname("B"), cell(0), cblock(body) if compressed else body, cell(1))
    )
    if data.draw(st.booleans(), label="damaged"):
        file[data.draw(st.integers(0, len(file) - 1), label="at")] = data.draw(
            st.integers(0, 255), label="byte"
        )
    fast, general = both_paths(bytes(file), chunk)
    assert fast == general
