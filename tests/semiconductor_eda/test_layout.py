"""Geometry shared by both readers: path outlines, placement transforms, hierarchy resolution."""

from __future__ import annotations

import math

import gdstk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from semiconductor_eda.layout import CellStats, LayoutMetadata, path_box, resolve_hierarchy, transform_box

from shared.errors import FileFormatError

point = st.tuples(st.integers(-300, 300), st.integers(-300, 300))


@settings(max_examples=max(20, settings.default.max_examples), deadline=None)
@given(
    st.lists(point, min_size=2, max_size=6),
    st.integers(1, 40),
    st.one_of(st.sampled_from(("flush", "extended")), st.tuples(st.integers(-10, 40), st.integers(-10, 40))),
)
def test_path_outline_box_matches_gdstk(spine, width, ends):
    # gdstk merges points closer than its tolerance; keep the spine free of such pairs.
    cleaned = [spine[0]]
    for p in spine[1:]:
        if math.dist(p, cleaned[-1]) > 0.5:
            cleaned.append(p)
    if len(cleaned) < 2:
        return
    cell = gdstk.Cell("P")
    cell.add(gdstk.FlexPath(cleaned, width, ends=ends, simple_path=True))
    theirs = cell.bounding_box()
    half = width / 2
    start, end = (0.0, 0.0) if ends == "flush" else (half, half) if ends == "extended" else ends
    ours = path_box(cleaned, half, start, end)
    if theirs is None:
        assert ours is None
        return
    (x0, y0), (x1, y1) = theirs
    assert ours is not None
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(ours, (x0, y0, x1, y1), strict=True)), (
        ours,
        theirs,
    )


def test_round_ends_are_exact_half_circles():
    assert path_box([(0, 0), (100, 0)], 10, 0, 0, round_ends=True) == (-10, -10, 110, 10)
    diagonal = path_box([(0, 0), (30, 40)], 10, 0, 0, round_ends=True)
    assert diagonal == (-10, -10, 40, 50)


def test_degenerate_paths_have_no_extent():
    assert path_box([(5, 5)], 10, 0, 0) is None
    assert path_box([(5, 5), (5, 5)], 10, 5, 5) is None


@pytest.mark.parametrize(
    ("reflected", "angle", "magnification", "expected", "exact"),
    [
        (False, 0, 1.0, (0, 0, 10, 20), True),
        (False, 90, 1.0, (-20, 0, 0, 10), True),
        (False, 450, 1.0, (-20, 0, 0, 10), True),
        (False, -270, 1.0, (-20, 0, 0, 10), True),
        (True, 0, 1.0, (0, -20, 10, 0), True),
        (True, 270, 3.0, (-60, -30, 0, 0), True),
        (False, 0, -1.0, (-10, -20, 0, 0), True),
    ],
)
def test_transform_box(reflected, angle, magnification, expected, exact):
    box, is_exact = transform_box((0, 0, 10, 20), reflected, angle, magnification)
    assert box == pytest.approx(expected)
    assert is_exact is exact


def test_arbitrary_angle_box_contains_the_rotated_corners():
    box, exact = transform_box((0, 0, 10, 20), False, 30.0, 1.0)
    assert not exact
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    for x, y in ((0, 0), (10, 0), (0, 20), (10, 20)):
        rx, ry = c * x - s * y, s * x + c * y
        assert box[0] - 1e-9 <= rx <= box[2] + 1e-9 and box[1] - 1e-9 <= ry <= box[3] + 1e-9


def test_placements_fold_into_one_entry_per_orientation():
    top = CellStats("TOP", 0)
    for x in range(0, 10_000, 10):
        top.add_placement(
            "LEAF", reflected=False, angle=90.0, magnification=1.0, origins=(x, 0, x, 0), instances=1
        )
    top.add_placement(
        "LEAF", reflected=False, angle=450.0, magnification=1.0, origins=(0, -5, 0, -5), instances=1
    )
    assert len(top.placements) == 1
    assert top.placements[("LEAF", False, 90.0, 1.0)] == [1001, 1001, 0, -5, 9990, 0]


def test_hierarchy_depth_boxes_and_cycles():
    leaf, mid, top = CellStats("LEAF", 0), CellStats("MID", 10), CellStats("TOP", 20)
    leaf.add_box(0, 0, 10, 10)
    mid.add_placement(
        "LEAF", reflected=False, angle=0.0, magnification=2.0, origins=(100, 0, 100, 0), instances=1
    )
    top.add_placement("MID", reflected=True, angle=0.0, magnification=1.0, origins=(0, 0, 0, 0), instances=1)
    hierarchy = resolve_hierarchy({"LEAF": leaf, "MID": mid, "TOP": top})
    assert hierarchy.top_cells == ["TOP"] and hierarchy.depth == 3
    assert hierarchy.boxes["TOP"] == [100, -20, 120, 0]
    leaf.add_placement(
        "TOP", reflected=False, angle=0.0, magnification=1.0, origins=(0, 0, 0, 0), instances=1
    )
    with pytest.raises(FileFormatError) as raised:
        resolve_hierarchy({"LEAF": leaf, "MID": mid, "TOP": top})
    assert raised.value.details["reason"] == "cyclic_reference"
    assert "->" in raised.value.message


def test_deep_hierarchies_do_not_recurse():
    cells = {f"C{i}": CellStats(f"C{i}", i) for i in range(5000)}
    for i in range(4999):
        cells[f"C{i}"].add_placement(
            f"C{i + 1}", reflected=False, angle=0.0, magnification=1.0, origins=(1, 0, 1, 0), instances=1
        )
    cells["C4999"].add_box(0, 0, 1, 1)
    hierarchy = resolve_hierarchy(cells)
    assert hierarchy.depth == 5000 and hierarchy.boxes["C0"] == [4999, 0, 5000, 1]


def test_header_only_metadata_has_no_hierarchy():
    record = LayoutMetadata(format="gdsii", mode="header", version="600").finish().to_record()
    assert "cells" not in record and record["mode"] == "header"
