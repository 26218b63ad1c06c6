"""Oracle tests: our metadata equals what gdstk and KLayout report for the same files.

Hypothesis draws a library (a DAG of cells with rectangles, polygons, Manhattan paths with flush,
half-width and explicit end extensions, labels, and placements: rotations by multiples of 90°,
x-reflection, magnification 0.5/1/2, arrays) on many layers. gdstk builds it and writes it as
GDSII and as OASIS (plain and CBLOCK-compressed, with and without rectangle/trapezoid records);
KLayout reads the GDSII and writes GDSII and OASIS (without CBLOCKs and shape compaction, and with
both, so repetitions of shapes and placements appear). Each file is read by our reader and by the
library that wrote it; cell names, top cells, layer/datatype sets, per-cell element counts and
per-cell and library bounding boxes must agree.

gdstk keeps a repetition as one element, so its counts are compared with ours per record; KLayout
expands repetitions, so its shape and instance counts are compared with our expanded ``shapes``
and ``instances``. KLayout boxes are integers in database units (magnification 0.5 rounds), so
they agree to one unit; gdstk's agree to floating-point precision.

Elements of a cell are drawn distinct: KLayout compacts two identical shapes (or placements) at
one position into a repetition with a zero displacement and, reading its own file back, keeps one;
our reader counts the two positions the file lists.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import gdstk
import pytest
from hypothesis import HealthCheck, given, settings
from semiconductor_eda.catalogue import read_layout

from sandbox.datasets import layouts
from tests.semiconductor_eda.strategies import SCALE, build, library_specs

db = pytest.importorskip("klayout.db")

EXAMPLES = max(10, settings.default.max_examples // 3)


# --- what each library reports -----------------------------------------------------------------


def ours(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return read_layout(handle).to_record()


def gdstk_view(library: gdstk.Library) -> dict[str, Any]:
    layers: set[tuple[int, int]] = set()
    text_layers: set[tuple[int, int]] = set()
    cells = {}
    for cell in library.cells:
        layers |= {(p.layer, p.datatype) for p in cell.polygons}
        for path in cell.paths:
            layers |= set(zip(path.layers, path.datatypes, strict=True))
        text_layers |= {(label.layer, label.texttype) for label in cell.labels}
        box = cell.bounding_box()
        cells[cell.name] = {
            "counts": (
                len(cell.polygons),
                len(cell.paths),
                len(cell.labels),
                len(cell.references),
                sum(1 for ref in cell.references if ref.repetition.size > 1),
            ),
            "box": None if box is None else [v * SCALE for point in box for v in point],
        }
    return {
        "cells": cells,
        "tops": sorted(cell.name for cell in library.top_level()),
        "layers": sorted(layers),
        "text_layers": sorted(text_layers),
    }


def close(a: list[float] | None, b: list[float] | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return all(math.isclose(p, q, abs_tol=tolerance) for p, q in zip(a, b, strict=True))


def assert_matches_gdstk(record: dict[str, Any], view: dict[str, Any], label: str) -> None:
    assert sorted(c["name"] for c in record["cells"]) == sorted(view["cells"]), label
    assert record["top_cells"] == view["tops"], label
    assert [tuple(p) for p in record["layers"]] == view["layers"], label
    assert [tuple(p) for p in record["text_layers"]] == view["text_layers"], label
    for cell in record["cells"]:
        counts = cell["counts"]
        ours_counts = (
            counts["boundary"],
            counts["path"],
            counts["text"],
            counts["sref"] + counts["aref"],
            counts["aref"],
        )
        assert ours_counts == view["cells"][cell["name"]]["counts"], (label, cell["name"])
        assert close(cell["bounding_box"], view["cells"][cell["name"]]["box"], 1e-6), (
            label,
            cell["name"],
            cell["bounding_box"],
            view["cells"][cell["name"]]["box"],
        )


def klayout_view(path: Path) -> dict[str, Any]:
    layout = db.Layout()
    layout.read(str(path))
    cells = {}
    for cell in layout.each_cell():
        box = cell.bbox()
        cells[cell.name] = {
            "shapes": sum(cell.shapes(index).size() for index in layout.layer_indexes()),
            "instances": sum(instance.cell_inst.size() for instance in cell.each_inst()),
            "box": None if box.empty() else [box.left, box.bottom, box.right, box.top],
        }
    return {
        "cells": cells,
        "tops": sorted(cell.name for cell in layout.top_cells()),
        "layers": sorted({(info.layer, info.datatype) for info in layout.layer_infos()}),
        "dbu": layout.dbu,
    }


def assert_matches_klayout(record: dict[str, Any], view: dict[str, Any], label: str) -> None:
    assert sorted(c["name"] for c in record["cells"]) == sorted(view["cells"]), label
    assert record["top_cells"] == view["tops"], label
    assert sorted({tuple(p) for p in record["layers"] + record["text_layers"]}) == view["layers"], label
    assert math.isclose(record["units"]["db_unit_m"] * 1e6, view["dbu"]), label
    for cell in record["cells"]:
        theirs = view["cells"][cell["name"]]
        assert (cell["shapes"], cell["instances"]) == (theirs["shapes"], theirs["instances"]), (
            label,
            cell["name"],
        )
        assert close(cell["bounding_box"], theirs["box"], 1.0), (
            label,
            cell["name"],
            cell["bounding_box"],
            theirs["box"],
        )


def klayout_write(
    source: Path, target: Path, *, oasis: bool, cblocks: bool = False, compaction: int = 0
) -> None:
    layout = db.Layout()
    layout.read(str(source))
    options = db.SaveLayoutOptions()
    if oasis:
        options.format = "OASIS"
        options.oasis_write_cblocks = cblocks
        options.oasis_compression_level = compaction
    else:
        options.format = "GDS2"
    layout.write(str(target), options)


# --- the tests ---------------------------------------------------------------------------------

GDSTK_WRITERS = {
    "gdstk.gds": lambda lib, path: lib.write_gds(str(path)),
    "gdstk-plain.oas": lambda lib, path: lib.write_oas(
        str(path), compression_level=0, detect_rectangles=False, detect_trapezoids=False
    ),
    "gdstk-cblock.oas": lambda lib, path: lib.write_oas(str(path), compression_level=6, validation="crc32"),
    "gdstk-dense.oas": lambda lib, path: lib.write_oas(
        str(path), compression_level=9, validation="checksum32"
    ),
}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(library_specs())
def test_files_written_by_gdstk_match_gdstk(specs):
    library = build(specs)
    with tempfile.TemporaryDirectory(prefix="oracle-") as directory:
        for name, write in GDSTK_WRITERS.items():
            path = Path(directory) / name
            write(library, path)
            reread = gdstk.read_gds(str(path)) if name.endswith(".gds") else gdstk.read_oas(str(path))
            assert_matches_gdstk(ours(path), gdstk_view(reread), name)


KLAYOUT_WRITERS = {
    "klayout.gds": {"oasis": False},
    "klayout-plain.oas": {"oasis": True, "cblocks": False, "compaction": 0},
    "klayout-cblock-repetitions.oas": {"oasis": True, "cblocks": True, "compaction": 2},
    "klayout-repetitions.oas": {"oasis": True, "cblocks": False, "compaction": 3},
}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(library_specs())
def test_files_written_by_klayout_match_klayout(specs):
    library = build(specs)
    with tempfile.TemporaryDirectory(prefix="oracle-") as directory:
        source = Path(directory) / "source.gds"
        library.write_gds(str(source))
        for name, options in KLAYOUT_WRITERS.items():
            path = Path(directory) / name
            klayout_write(source, path, **options)
            assert_matches_klayout(ours(path), klayout_view(path), name)


def test_klayout_repetitions_are_really_exercised(tmp_path):
    # Given many identical shapes and placements, KLayout's compaction writes repetitions…
    layout = db.Layout()
    layout.dbu = 0.001
    leaf, top = layout.create_cell("LEAF"), layout.create_cell("TOP")
    metal = layout.layer(1, 0)
    for index in range(40):
        leaf.shapes(metal).insert(db.Box(index * 300, 0, index * 300 + 100, 100))
    for index in range(12):
        top.insert(db.CellInstArray(leaf.cell_index(), db.Trans(db.Vector(0, index * 5000))))
    options = db.SaveLayoutOptions()
    options.format = "OASIS"
    options.oasis_compression_level = 2
    path = tmp_path / "compact.oas"
    layout.write(str(path), options)

    # …which our reader counts once per record but expands in shapes and instances.
    record = ours(path)
    cells = {cell["name"]: cell for cell in record["cells"]}
    assert cells["LEAF"]["counts"]["boundary"] < 40 and cells["LEAF"]["shapes"] == 40
    assert cells["TOP"]["counts"]["aref"] >= 1 and cells["TOP"]["instances"] == 12
    assert_matches_klayout(record, klayout_view(path), "compact.oas")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sandbox_datasets_match_their_ground_truth(seed):
    """The sandbox's seeded layouts (deeper hierarchies, diagonal paths, trapezoids) in every flavour."""
    for item in layouts.layout_dataset(seed)[:4]:
        record = read_layout(item.data).to_record()
        expected = item.expected
        assert [c["name"] for c in record["cells"]] == expected["cells"], item.key
        assert record["top_cells"] == expected["top_cells"], item.key
        assert record["layers"] == expected["layers"] and record["text_layers"] == expected["text_layers"], (
            item.key
        )
        assert record["depth"] == expected["depth"], item.key
        (x0, y0), (x1, y1) = expected["bounding_box"]
        assert close(record["bounding_box"]["um"], [x0, y0, x1, y1], 1e-6), item.key
        for cell in record["cells"]:
            stats = expected["cell_stats"][cell["name"]]
            counts = cell["counts"]
            assert (counts["boundary"], counts["path"], counts["text"]) == (
                stats["polygons"],
                stats["paths"],
                stats["labels"],
            )
            assert (counts["sref"] + counts["aref"], counts["aref"]) == (
                stats["references"],
                stats["array_references"],
            )
