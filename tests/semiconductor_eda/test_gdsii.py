"""The streaming GDSII reader on hand-made streams: every field, element kind, transform and error."""

from __future__ import annotations

import math
import struct

import pytest
from semiconductor_eda import gdsii
from semiconductor_eda.streams import ChunkBuffer

from shared.errors import FileFormatError
from tests.semiconductor_eda.builders import Gds, gds_ascii, gds_real8, gds_record


def scan(data: bytes, **options):
    return gdsii.scan(data, **options).to_record()


def cells(record):
    return {cell["name"]: cell for cell in record["cells"]}


def one_byte_chunks(data: bytes):
    return iter(data[i : i + 1] for i in range(len(data)))


# --- header ------------------------------------------------------------------------------------


def test_header_fields_and_units():
    data = (
        Gds()
        .lib("TAPEOUT_A", version=600, user_per_db=1e-3, metres_per_db=1e-9)
        .cell("A")
        .rect(0, 0, 1, 1)
        .endcell()
        .end()
    )

    record = scan(data)

    assert (record["format"], record["version"], record["library"]) == ("gdsii", "600", "TAPEOUT_A")
    assert record["modified"] == "2025-01-02T03:04:05"
    assert record["accessed"] == "2025-06-07T08:09:10"
    assert math.isclose(record["units"]["db_unit_m"], 1e-9)
    assert math.isclose(record["units"]["user_unit_m"], 1e-6)
    assert record["units"]["db_per_user_unit"] == 1000


@pytest.mark.parametrize("value", [1e-3, 1e-9, 1.0, 0.5, 2.5e-8, 123456.75, -42.0, 1e-6])
def test_real8_round_trips(value):
    assert math.isclose(gdsii.real8(gds_real8(value)), value, rel_tol=1e-15)


def test_years_since_1900_and_impossible_dates():
    data = Gds().lib(stamp=(125, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0)).end()
    record = scan(data)
    assert record["modified"] == "2025-03-04T05:06:07"
    assert record["accessed"] is None  # month 0: no date, no crash


def test_header_mode_stops_after_units_and_reads_at_most_64_kib():
    body = Gds().lib("BIG")
    for index in range(4000):
        body.cell(f"C{index}").rect(0, 0, 10, 10).endcell()
    data = body.end()
    assert len(data) > 2 * gdsii.HEADER_LIMIT
    consumed = []

    def counted():
        for i in range(0, len(data), 4096):
            consumed.append(4096)
            yield data[i : i + 4096]

    record = gdsii.scan(b"", mode="header", chunks=ChunkBuffer(counted())).to_record()

    assert record["library"] == "BIG" and record["mode"] == "header"
    assert "cells" not in record
    assert sum(consumed) <= gdsii.HEADER_LIMIT
    assert scan(data, mode="header")["bytes_read"] < 200


# --- elements ----------------------------------------------------------------------------------


def test_element_kinds_counts_and_layers():
    data = (
        Gds()
        .lib()
        .cell("LEAF")
        .rect(0, 0, 100, 50, layer=1, datatype=0)
        .boundary([(0, 0), (30, 0), (0, 40)], layer=1, datatype=2, props=True)
        .path([(0, 0), (200, 0)], 20, layer=2, datatype=0)
        .box(-5, -5, 5, 5, layer=3, boxtype=1)
        .node((500, 500), layer=4, nodetype=2)
        .text("VDD", (-40, 10), layer=10, texttype=3)
        .endcell()
        .end()
    )

    record = scan(data)
    leaf = cells(record)["LEAF"]

    assert leaf["counts"] == {"boundary": 2, "path": 1, "box": 1, "node": 1, "text": 1, "sref": 0, "aref": 0}
    assert leaf["shapes"] == 6
    assert record["layers"] == [[1, 0], [1, 2], [2, 0], [3, 1], [4, 2]]
    assert record["text_layers"] == [[10, 3]]
    # The flush path reaches y = ±10; the text is a point; the node is not geometry.
    assert leaf["bounding_box"] == [-40, -10, 200, 50]
    assert record["top_cells"] == ["LEAF"]


def test_plain_and_general_element_paths_agree():
    plain = Gds().lib().cell("A")
    for index in range(40):  # a long same-size run, then short ones: both fast paths
        plain.rect(index * 10, 0, index * 10 + 5, 5, layer=index % 3)
    plain.boundary([(0, 0), (7, 0), (7, 3), (3, 3), (3, 9), (0, 9)], layer=7)
    data = plain.endcell().end()

    whole = scan(data)
    trickled = gdsii.scan(one_byte_chunks(data)).to_record()

    assert whole == trickled
    assert cells(whole)["A"]["counts"]["boundary"] == 41
    assert whole["layers"] == [[0, 0], [1, 0], [2, 0], [7, 0]]
    assert cells(whole)["A"]["bounding_box"] == [0, 0, 395, 9]


@pytest.mark.parametrize(
    ("pathtype", "extensions", "expected"),
    [
        (None, None, [0, -10, 100, 10]),  # flush
        (0, None, [0, -10, 100, 10]),
        (2, None, [-10, -10, 110, 10]),  # half-width extensions
        (4, (5, 30), [-5, -10, 130, 10]),  # explicit
        (4, (-5, 0), [5, -10, 100, 10]),  # a negative extension pulls the end in
        (1, None, [-10, -10, 110, 10]),  # round: half circles
    ],
)
def test_path_ends(pathtype, extensions, expected):
    data = (
        Gds()
        .lib()
        .cell("P")
        .path([(0, 0), (100, 0)], 20, pathtype=pathtype, extensions=extensions)
        .endcell()
        .end()
    )
    assert cells(scan(data))["P"]["bounding_box"] == expected


def test_manhattan_and_diagonal_path_outlines():
    data = (
        Gds()
        .lib()
        .cell("P")
        .path([(0, 0), (100, 0), (100, 100)], 20, pathtype=0)
        .endcell()
        .cell("D")
        .path([(0, 0), (30, 40)], 10, pathtype=0)
        .endcell()
        .end()
    )
    record = cells(scan(data))
    assert record["P"]["bounding_box"] == [0, -10, 110, 100]  # mitred outer corner at (110, -10)
    # A 3-4-5 segment 10 wide: its corners are 5 · (-0.8, 0.6) either side of the spine ends.
    assert record["D"]["bounding_box"] == [-4, -3, 34, 43]


# --- hierarchy ---------------------------------------------------------------------------------


def leaf() -> Gds:
    return Gds().lib().cell("LEAF").rect(0, 0, 100, 50).endcell()


@pytest.mark.parametrize(
    ("reflect", "angle", "magnification", "expected"),
    [
        (False, None, None, [1000, 2000, 1100, 2050]),
        (False, 90.0, None, [950, 2000, 1000, 2100]),
        (False, 180.0, None, [900, 1950, 1000, 2000]),
        (False, 270.0, None, [1000, 1900, 1050, 2000]),
        (True, None, None, [1000, 1950, 1100, 2000]),
        (True, 90.0, None, [1000, 2000, 1050, 2100]),
        (False, None, 2.0, [1000, 2000, 1200, 2100]),
        (False, -90.0, 0.5, [1000, 1950, 1025, 2000]),
    ],
)
def test_sref_transforms(reflect, angle, magnification, expected):
    data = (
        leaf()
        .cell("TOP")
        .sref("LEAF", (1000, 2000), reflect=reflect, angle=angle, magnification=magnification)
        .endcell()
        .end()
    )
    record = scan(data)
    assert cells(record)["TOP"]["bounding_box"] == expected
    assert record["bounding_box"]["exact"] is True
    assert record["top_cells"] == ["TOP"]


def test_aref_spans_its_corner_instances():
    data = leaf().cell("TOP").aref("LEAF", (0, 0), 3, 2, (200, 0), (0, 100), angle=90.0).endcell().end()

    top = cells(scan(data))["TOP"]

    # Rotated leaf spans x in [-50, 0], y in [0, 100]; origins span x 0..400, y 0..100.
    assert top["bounding_box"] == [-50, 0, 400, 200]
    assert top["counts"]["aref"] == 1
    assert top["instances"] == 6
    assert top["children"] == ["LEAF"]


def test_non_manhattan_angle_gives_a_containing_box_flagged_inexact():
    data = leaf().cell("TOP").sref("LEAF", (0, 0), angle=45.0).endcell().end()
    record = scan(data)
    box = record["bounding_box"]["db"]
    assert record["bounding_box"]["exact"] is False
    assert box[0] < -35 and box[2] > 70 and box[3] > 106  # the rotated box's corners


def test_top_cells_undefined_cells_and_depth():
    data = (
        Gds()
        .lib()
        .cell("A")
        .sref("B", (0, 0))
        .sref("EXTERNAL_IP", (0, 0))
        .endcell()
        .cell("B")
        .rect(0, 0, 1, 1)
        .endcell()
        .cell("ORPHAN")
        .rect(0, 0, 2, 2)
        .endcell()
        .cell("EMPTY")
        .endcell()
        .end()
    )
    record = scan(data)
    assert record["top_cells"] == ["A", "EMPTY", "ORPHAN"]
    assert record["undefined_cells"] == ["EXTERNAL_IP"]
    assert record["depth"] == 2
    assert cells(record)["EMPTY"]["empty"] is True and cells(record)["EMPTY"]["bounding_box"] is None
    assert record["cell_count"] == 4


def test_zero_padding_after_endlib_is_accepted():
    data = leaf().end(padding=2048 - 150)
    assert scan(data)["bytes_read"] == len(data)


# --- damage: every error is a FileFormatError at the right offset ------------------------------


def error_of(data: bytes) -> FileFormatError:
    with pytest.raises(FileFormatError) as raised:
        gdsii.scan(data)
    return raised.value


def test_truncated_inside_a_record():
    data = leaf().end()
    error = error_of(data[:-10])
    assert error.details["reason"] == "truncated"
    assert 0 < error.offset < len(data) - 10


def test_truncated_at_a_record_boundary_without_endlib():
    data = leaf().end()[:-4]
    error = error_of(data)
    assert (error.details["reason"], error.offset) == ("truncated", len(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d, at: d[:at] + b"\x00\x03" + d[at + 2 :], "bad_record_length"),
        (lambda d, at: d[: at + 2] + b"\x7e" + d[at + 3 :], "unknown_record_type"),
        (lambda d, at: d[: at + 3] + b"\x05" + d[at + 4 :], "bad_record"),
    ],
)
def test_damaged_record_header_is_reported_at_its_offset(damage, reason):
    data = leaf().end()
    at = data.index(b"\x00\x04\x08\x00")  # the BOUNDARY record
    error = error_of(damage(data, at))
    assert error.details["reason"] == reason
    assert error.offset == at


def test_records_out_of_place():
    assert error_of(gds_record(0x02, 6, b"AB")).details["reason"] == "not_gdsii"
    no_endel = Gds().lib().cell("A").raw(gds_record(0x08, 0) + gds_record(0x07, 0)).end()
    assert error_of(no_endel).details["reason"] == "unexpected_record"
    missing = Gds().lib().cell("A").raw(gds_record(0x08, 0) + gds_record(0x11, 0)).endcell().end()
    assert error_of(missing).details["reason"] == "missing_record"


def test_wrong_vertex_counts_and_array_shape():
    sref_two_points = (
        Gds()
        .lib()
        .cell("A")
        .raw(
            gds_record(0x0A, 0)
            + gds_record(0x12, 6, gds_ascii("B"))
            + gds_record(0x10, 3, struct.pack(">4i", 0, 0, 1, 1))
            + gds_record(0x11, 0)
        )
        .endcell()
        .end()
    )
    assert error_of(sref_two_points).details["reason"] == "bad_record"
    zero_columns = Gds().lib().cell("A").aref("B", (0, 0), 0, 2, (10, 0), (0, 10)).endcell().end()
    assert error_of(zero_columns).details["reason"] == "bad_record"
    bad_pathtype = Gds().lib().cell("A").path([(0, 0), (1, 0)], 2, pathtype=3).endcell().end()
    assert error_of(bad_pathtype).details["reason"] == "bad_record"


def test_invalid_units_duplicate_structures_and_cycles():
    assert error_of(Gds().lib(user_per_db=0.0).end()).details["reason"] == "bad_units"
    twice = Gds().lib().cell("A").endcell().cell("A").endcell().end()
    error = error_of(twice)
    assert error.details["reason"] == "duplicate_structure"
    first = twice.index(b"\x00\x1c\x05\x02")
    assert error.offset == twice.index(b"\x00\x1c\x05\x02", first + 1)
    cycle = Gds().lib().cell("A").sref("B", (0, 0)).endcell().cell("B").sref("A", (0, 0)).endcell().end()
    assert error_of(cycle).details["reason"] == "cyclic_reference"


def test_data_after_endlib():
    data = leaf().end() + b"\x00\x00junk"
    error = error_of(data)
    assert error.details["reason"] == "trailing_data"
    assert error.offset == len(data) - 4
