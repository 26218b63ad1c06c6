"""Seeded IC layout libraries written by gdstk as GDSII and OASIS, plus damaged copies.

The hierarchy is what makes layout parsing hard, so the libraries have it: cells on ``depth``
levels, each referencing deeper cells with 90° rotations, x-reflection, magnification and arrays
(GDSII AREF / OASIS repetitions); polygons, rectangles, trapezoids, paths (FlexPath and RobustPath)
and labels on many layer/datatype pairs.

Ground truth comes from gdstk itself on the library as built (``top_level()``, ``bounding_box()``,
the per-cell element lists). Everything is chosen so that writing and reading back preserves it:
coordinates on the 1 nm database grid, paths written as real PATH records (``simple_path=True``,
one spine each, flush or half-width-extended ends, which both formats store natively; RobustPaths
axis-parallel, since they read back as FlexPaths), fewer vertices than GDSII's 199-point
fracturing limit, label texts in ASCII. Bounding boxes are rounded to 1e-6 µm.

Determinism: GDSII stores the library's modification/access time, which gdstk takes from the
clock unless ``write_gds(timestamp=...)`` is given; we always give :data:`GDS_TIMESTAMP` (or the
caller's). gdstk's OASIS writer stores no time and, for one library, writes the same bytes every
time (checked by the tests across processes); DEFLATE output depends only on zlib's version.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import gdstk

from sandbox.datasets.base import SyntheticFile, rng
from sandbox.datasets.corrupt import garbage, patch, truncate

GDS_TIMESTAMP: Final = datetime(2025, 1, 1, 0, 0, 0)
"""Stored in every GDSII file's BGNLIB record, so reruns are byte-identical."""

UNIT: Final = 1e-6  # user unit: 1 µm
PRECISION: Final = 1e-9  # database unit: 1 nm
OASIS_MAGIC: Final = b"%SEMI-OASIS\r\n"
OASIS_END_RECORD_BYTES: Final = 256  # the END record is padded to 256 bytes (SEMI P39 §13.10)
_COORDINATE_DECIMALS: Final = 6  # bounding boxes are rounded below the 1 nm grid (1e-6 µm)

# GDSII record types (Calma stream format) that this module damages or recognises.
GDS_RECORD_NAMES: Final[dict[int, str]] = {
    0x00: "HEADER",
    0x01: "BGNLIB",
    0x02: "LIBNAME",
    0x03: "UNITS",
    0x04: "ENDLIB",
    0x05: "BGNSTR",
    0x06: "STRNAME",
    0x07: "ENDSTR",
    0x08: "BOUNDARY",
    0x09: "PATH",
    0x0A: "SREF",
    0x0B: "AREF",
    0x0C: "TEXT",
    0x0D: "LAYER",
    0x0E: "DATATYPE",
    0x0F: "WIDTH",
    0x10: "XY",
    0x11: "ENDEL",
    0x12: "SNAME",
    0x13: "COLROW",
    0x16: "TEXTTYPE",
    0x17: "PRESENTATION",
    0x19: "STRING",
    0x1A: "STRANS",
    0x1B: "MAG",
    0x1C: "ANGLE",
    0x21: "PATHTYPE",
}
_ELEMENT_RECORDS: Final = (0x08, 0x09, 0x0A, 0x0B, 0x0C)
_CELL_STEMS: Final = (
    "INV",
    "NAND2",
    "NOR2",
    "DFF",
    "SRAM",
    "PLL",
    "IO",
    "MUX",
    "ADC",
    "BUF",
    "LDO",
    "SERDES",
)

OasisValidation = Literal["crc32", "checksum32"] | None


def build_library(
    seed: int,
    *,
    cells: int = 12,
    shapes_per_cell: int = 24,
    depth: int = 4,
    name: str = "SYNTH",
) -> gdstk.Library:
    """A new random library: ``cells`` cells on ``depth`` levels, level 0 holding the top cells.

    Each non-leaf cell references one to three cells of deeper levels, always including one of the
    next level so the hierarchy really is ``depth`` deep; a deeper cell nobody picked becomes an
    extra top cell, as happens in real tape-outs.
    """
    if cells < depth or depth < 1:
        raise ValueError("need depth >= 1 and at least one cell per level")
    if shapes_per_cell < 1:
        raise ValueError("shapes_per_cell must be positive")
    r = rng(seed, "layout")
    library = gdstk.Library(name, unit=UNIT, precision=PRECISION)
    levels = [min(depth - 1, index * depth // cells) for index in range(cells)]
    built: list[gdstk.Cell] = []
    for index in range(cells):
        stem = _CELL_STEMS[r.randrange(len(_CELL_STEMS))]
        prefix = "TOP" if levels[index] == 0 else stem
        built.append(gdstk.Cell(f"{prefix}_{index:03d}"))
    # Deepest level first so that references see finished cells (bounding boxes, arrays).
    for index in sorted(range(cells), key=lambda i: -levels[i]):
        cell = built[index]
        for _ in range(shapes_per_cell):
            _add_shape(cell, r)
        deeper = [j for j in range(cells) if levels[j] > levels[index]]
        if deeper:
            nearest = [j for j in deeper if levels[j] == levels[index] + 1]
            targets = {r.choice(nearest)} | {r.choice(deeper) for _ in range(r.randrange(3))}
            for target in sorted(targets):
                cell.add(_reference(built[target], r))
    library.add(*built)
    return library


def _grid(r: Any, low: int, high: int) -> float:
    """A coordinate in µm on the 1 nm grid (so it survives the integer database units)."""
    return int(r.randrange(low, high)) / 1000


def _add_shape(cell: gdstk.Cell, r: Any) -> None:
    layer, datatype = r.randrange(64), r.randrange(8)
    x, y = _grid(r, 0, 200_000), _grid(r, 0, 200_000)
    choice = r.random()
    if choice < 0.35:
        cell.add(
            gdstk.rectangle((x, y), (x + _grid(r, 10, 20_000), y + _grid(r, 10, 20_000)), layer, datatype)
        )
    elif choice < 0.5:
        # An axis-parallel trapezoid: what OASIS's TRAPEZOID records (detect_trapezoids) are for.
        width, height, skew = _grid(r, 2_000, 20_000), _grid(r, 1_000, 10_000), _grid(r, 0, 1_000)
        points = [(x, y), (x + width, y), (x + width - skew, y + height), (x + skew, y + height)]
        cell.add(gdstk.Polygon(points, layer, datatype))
    elif choice < 0.7:
        vertices = r.randrange(3, 12)
        radius = _grid(r, 1_000, 15_000)
        angles = sorted(r.uniform(0, 2 * math.pi) for _ in range(vertices))
        points = [(round(x + radius * math.cos(a), 3), round(y + radius * math.sin(a), 3)) for a in angles]
        if len(set(points)) >= 3:
            cell.add(gdstk.Polygon(points, layer, datatype))
        else:
            cell.add(gdstk.rectangle((x, y), (x + 1, y + 1), layer, datatype))
    elif choice < 0.8:
        # Manhattan legs, sometimes a diagonal one (a FlexPath reads back as the same FlexPath, so
        # its off-grid corners still agree exactly).
        spine = [(x, y)]
        for step in range(r.randrange(1, 4)):
            leg = _grid(r, 1_000, 30_000)
            dx, dy = [(leg, 0.0), (0.0, leg), (leg, leg)][step % 2 if r.random() < 0.8 else 2]
            spine.append((spine[-1][0] + dx, spine[-1][1] + dy))
        ends = r.choice(("flush", "extended"))
        cell.add(
            gdstk.FlexPath(
                spine, 2 * _grid(r, 50, 2_000), ends=ends, simple_path=True, layer=layer, datatype=datatype
            )
        )
    elif choice < 0.88:
        path = gdstk.RobustPath(
            (x, y), 2 * _grid(r, 50, 2_000), simple_path=True, layer=layer, datatype=datatype
        )
        # Axis-parallel only: RobustPath outlines are sampled to a tolerance, so a diagonal end
        # would not match the FlexPath that the PATH record reads back as.
        leg = _grid(r, 1_000, 30_000)
        path.segment((x + leg, y) if r.random() < 0.5 else (x, y + leg))
        cell.add(path)
    else:
        text = f"NET_{r.randrange(10_000)}"
        cell.add(gdstk.Label(text, (x, y), layer=r.randrange(64), texttype=r.randrange(4)))


def _reference(target: gdstk.Cell, r: Any) -> gdstk.Reference:
    origin = (_grid(r, -100_000, 300_000), _grid(r, -100_000, 300_000))
    rotation = r.randrange(4) * math.pi / 2
    magnification = r.choice((1.0, 1.0, 0.5, 2.0))
    x_reflection = r.random() < 0.3
    if r.random() < 0.4:
        columns, rows = r.randrange(1, 4), r.randrange(2, 4)
        spacing = (_grid(r, 50_000, 250_000), _grid(r, 50_000, 250_000))
        return gdstk.Reference(
            target,
            origin,
            rotation=rotation,
            magnification=magnification,
            x_reflection=x_reflection,
            columns=columns,
            rows=rows,
            spacing=spacing,
        )
    return gdstk.Reference(
        target, origin, rotation=rotation, magnification=magnification, x_reflection=x_reflection
    )


def _box(box: Any) -> list[list[float]] | None:
    if box is None:
        return None
    (x0, y0), (x1, y1) = box
    return [
        [round(x0, _COORDINATE_DECIMALS), round(y0, _COORDINATE_DECIMALS)],
        [round(x1, _COORDINATE_DECIMALS), round(y1, _COORDINATE_DECIMALS)],
    ]


def _referenced_name(reference: gdstk.Reference) -> str:
    cell = reference.cell
    return cell if isinstance(cell, str) else str(cell.name)


def layout_ground_truth(library: gdstk.Library) -> dict[str, Any]:
    """What a layout parser must report, computed by gdstk (also used by tests on read-back).

    ``layers`` are the (layer, datatype) pairs of polygons and paths, ``text_layers`` the
    (layer, texttype) pairs of labels; ``cell_stats`` counts each cell's own elements (an array
    reference counts once); ``bounding_box`` spans the top cells; ``depth`` is the number of
    hierarchy levels (1 for a flat library).
    """
    layers: set[tuple[int, int]] = set()
    text_layers: set[tuple[int, int]] = set()
    stats: dict[str, dict[str, Any]] = {}
    children: dict[str, list[str]] = {}
    for cell in library.cells:
        if not isinstance(cell, gdstk.Cell):
            raise TypeError(f"raw cell {cell.name!r}: ground truth needs decoded cells")
        for polygon in cell.polygons:
            layers.add((polygon.layer, polygon.datatype))
        for path in cell.paths:
            layers.update(zip(path.layers, path.datatypes, strict=True))
        for label in cell.labels:
            text_layers.add((label.layer, label.texttype))
        children[cell.name] = sorted({_referenced_name(ref) for ref in cell.references})
        stats[cell.name] = {
            "polygons": len(cell.polygons),
            "paths": len(cell.paths),
            "references": len(cell.references),
            "array_references": sum(1 for ref in cell.references if ref.repetition.size > 1),
            "labels": len(cell.labels),
            "bounding_box": _box(cell.bounding_box()),
        }
    tops = sorted(cell.name for cell in library.top_level())
    boxes = [stats[name]["bounding_box"] for name in tops if stats[name]["bounding_box"] is not None]
    overall = (
        [
            [min(b[0][0] for b in boxes), min(b[0][1] for b in boxes)],
            [max(b[1][0] for b in boxes), max(b[1][1] for b in boxes)],
        ]
        if boxes
        else None
    )

    def height(name: str) -> int:
        return 1 + max((height(child) for child in children[name]), default=0)

    return {
        "unit": library.unit,
        "precision": library.precision,
        "cells": sorted(stats),
        "top_cells": tops,
        "layers": [list(pair) for pair in sorted(layers)],
        "text_layers": [list(pair) for pair in sorted(text_layers)],
        "cell_stats": stats,
        "children": children,
        "totals": {
            kind: sum(cell[kind] for cell in stats.values())
            for kind in ("polygons", "paths", "references", "labels")
        },
        "bounding_box": overall,
        "depth": max((height(name) for name in tops), default=0),
    }


def _written(write: Any, suffix: str) -> bytes:
    """gdstk writes only to file names: go through a private temporary directory."""
    with tempfile.TemporaryDirectory(prefix="datasets-") as directory:
        target = Path(directory) / f"layout{suffix}"
        write(str(target))
        return target.read_bytes()


def gdsii_file(
    seed: int,
    *,
    cells: int = 12,
    shapes_per_cell: int = 24,
    depth: int = 4,
    timestamp: datetime = GDS_TIMESTAMP,
    key: str | None = None,
) -> SyntheticFile:
    """A GDSII stream file of :func:`build_library`; ``expected`` adds format, name and timestamp."""
    library = build_library(seed, cells=cells, shapes_per_cell=shapes_per_cell, depth=depth)
    data = _written(lambda target: library.write_gds(target, timestamp=timestamp), ".gds")
    expected = layout_ground_truth(library) | {
        "format": "gdsii",
        "library_name": library.name,
        "timestamp": timestamp.isoformat(),
    }
    return SyntheticFile(key or f"layouts/synth_{seed}.gds", data, "gdsii", expected)


def oasis_file(
    seed: int,
    *,
    cells: int = 12,
    shapes_per_cell: int = 24,
    depth: int = 4,
    compression_level: int = 6,
    detect_rectangles: bool = True,
    detect_trapezoids: bool = True,
    validation: OasisValidation = "crc32",
    standard_properties: bool = False,
    key: str | None = None,
) -> SyntheticFile:
    """An OASIS file of :func:`build_library` with the writer options a tape-out flow varies.

    ``compression_level`` 0 writes plain records, 1-9 wraps each cell in a DEFLATE CBLOCK; the
    ``detect_*`` flags store rectangles/trapezoids as their compact record types instead of
    POLYGON; ``validation`` appends a CRC32 or checksum to the END record.
    """
    library = build_library(seed, cells=cells, shapes_per_cell=shapes_per_cell, depth=depth)
    data = _written(
        lambda target: library.write_oas(
            target,
            compression_level=compression_level,
            detect_rectangles=detect_rectangles,
            detect_trapezoids=detect_trapezoids,
            standard_properties=standard_properties,
            validation=validation,
        ),
        ".oas",
    )
    expected = layout_ground_truth(library) | {
        "format": "oasis",
        "compression_level": compression_level,
        "detect_rectangles": detect_rectangles,
        "detect_trapezoids": detect_trapezoids,
        "validation": validation,
    }
    stem = f"synth_{seed}_z{compression_level}{'' if detect_rectangles else '_norect'}"
    return SyntheticFile(key or f"layouts/{stem}.oas", data, "oasis", expected)


# --- damaged layouts ---------------------------------------------------------------------------


def gds_records(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, length, record type) of each GDSII record up to ENDLIB or the first bad length."""
    records: list[tuple[int, int, int]] = []
    offset = 0
    while offset + 4 <= len(data):
        length = int.from_bytes(data[offset : offset + 2], "big")
        if length < 4:
            break
        records.append((offset, length, data[offset + 2]))
        if data[offset + 2] == 0x04:
            break
        offset += length
    return records


def oasis_name_tables_offset(valid: SyntheticFile) -> int:
    """Where gdstk's OASIS output switches from cell bodies to the trailing name tables.

    gdstk refers to cells by reference number and writes the CELLNAME records (record type 3,
    then the name as a length-prefixed string) after all cells; the first one found marks the
    start. Cell names never occur elsewhere in clear text (cell bodies refer to numbers).
    """
    return min(_cellname_record(valid, name) for name in valid.expected["cells"])


def truncated_layout(
    valid: SyntheticFile, seed: int, *, region: Literal["cells", "name_tables"] = "cells"
) -> SyntheticFile:
    """Cut inside the library body: after the header records, before the ENDLIB/END record.

    Cutting into OASIS's 256-byte END record would lose only padding a lenient reader ignores.
    For OASIS, ``region`` says where: among the cells (a reader runs out of data mid-cell), or in
    the name tables after them (every cell body is intact but the names its references use are
    never defined). The latter crashes gdstk 1.0.2's ``read_oas`` (a segmentation fault, not an
    exception), which is why it is opt-in: parse untrusted OASIS in a child process.
    """
    if valid.kind == "gdsii":
        records = gds_records(valid.data)
        return truncate(valid, seed, low=records[2][0], high=records[-1][0], region="cells")
    if valid.kind == "oasis":
        tables = oasis_name_tables_offset(valid)
        if region == "cells":
            return truncate(valid, seed, low=len(OASIS_MAGIC) + 1, high=tables, region=region)
        return truncate(
            valid,
            seed,
            low=tables,
            high=valid.size - OASIS_END_RECORD_BYTES,
            region=region,
            tag="truncated-names",
        )
    raise ValueError(f"not a layout: {valid.kind}")


def corrupt_gdsii(
    valid: SyntheticFile, seed: int, *, damage: Literal["record_length", "record_type"] = "record_length"
) -> SyntheticFile:
    """Damage one seeded record header inside a cell.

    ``record_length``: its 2-byte length becomes impossible (below the 4-byte header, or past the
    end of the file): every reader loses its footing, gdstk raises. ``record_type``: an element's
    record type byte (BOUNDARY, PATH, SREF, AREF or TEXT) becomes one the format does not define;
    a lenient reader (gdstk) warns, skips it and silently loses that element.
    """
    if valid.kind != "gdsii":
        raise ValueError(f"not GDSII: {valid.kind}")
    r = rng(seed, f"corrupt-gds:{damage}:{valid.key}")
    records = gds_records(valid.data)
    if damage == "record_length":
        offset, length, record_type = r.choice(records[3:-1])
        bad_lengths = [0, 2]  # below the header's own 4 bytes
        overrun = valid.size - offset + 2 * r.randrange(1, 64)  # past the end of the file
        if overrun <= 0xFFFE:
            bad_lengths.append(overrun)
        bad = r.choice(bad_lengths)
        return patch(
            valid,
            {offset: bad.to_bytes(2, "big")},
            reason="bad_record_length",
            tag="badlength",
            record=GDS_RECORD_NAMES.get(record_type, hex(record_type)),
            record_offset=offset,
            length=bad,
            original_length=length,
        )
    elements = [(offset, kind) for offset, _, kind in records if kind in _ELEMENT_RECORDS]
    offset, record_type = r.choice(elements)
    bad_type = r.randrange(0x3C, 0x80)
    return patch(
        valid,
        {offset + 2: bytes([bad_type])},
        reason="unknown_record_type",
        tag="badtype",
        record=GDS_RECORD_NAMES[record_type],
        record_offset=offset,
        record_type=bad_type,
    )


def _cellname_record(valid: SyntheticFile, name: str) -> int:
    encoded = name.encode("ascii")
    found = valid.data.find(b"\x03" + bytes([len(encoded)]) + encoded)
    if found < 0:
        raise ValueError(f"no CELLNAME record for {name!r}")
    return found


def corrupt_oasis(
    valid: SyntheticFile, seed: int, *, damage: Literal["checksum", "magic"] = "checksum"
) -> SyntheticFile:
    """``checksum``: one letter of one cell's name changes case in a file that carries a
    validation signature. The file still parses (to a library with a renamed cell); only the
    signature tells (``gdstk.oas_validate`` says False). The change is confined to a name
    because gdstk 1.0.2 can crash on arbitrary flipped bytes (about 1 file in 15).
    ``magic``: the ``%SEMI-OASIS`` magic is damaged, so no reader accepts the file."""
    if valid.kind != "oasis":
        raise ValueError(f"not OASIS: {valid.kind}")
    r = rng(seed, f"corrupt-oas:{damage}:{valid.key}")
    if damage == "magic":
        offset = r.randrange(1, len(OASIS_MAGIC) - 2)
        return patch(valid, {offset: bytes([valid.data[offset] ^ 0x20])}, reason="bad_magic", tag="badmagic")
    if valid.expected.get("validation") is None:
        raise ValueError("a checksum can only mismatch in a file written with validation")
    name = r.choice(valid.expected["cells"])
    letter = r.choice([i for i, char in enumerate(name) if char.isalpha()])
    offset = _cellname_record(valid, name) + 2 + letter
    renamed = name[:letter] + name[letter].swapcase() + name[letter + 1 :]
    return patch(
        valid,
        {offset: renamed[letter].encode("ascii")},
        reason="checksum_mismatch",
        tag="badcrc",
        validation=valid.expected["validation"],
        cell=name,
        renamed_to=renamed,
    )


def layout_dataset(
    seed: int,
    *,
    cells: int = 12,
    shapes_per_cell: int = 24,
    depth: int = 4,
    prefix: str = "layouts",
    include_name_table_truncation: bool = False,
) -> list[SyntheticFile]:
    """One library in every flavour a layout pipeline meets, plus its damaged copies.

    GDSII; OASIS compressed with CRC32, uncompressed without rectangle/trapezoid detection, and
    maximally compressed with a checksum; then truncated GDSII and OASIS, a GDSII with a bad record
    length, one with an unknown record type, an OASIS whose checksum fails, one with a broken magic,
    and garbage under both extensions (the OASIS one behind a genuine magic). With
    ``include_name_table_truncation``, also an OASIS cut in its name tables, which crashes gdstk's
    reader (see :func:`truncated_layout`).
    """
    gds = gdsii_file(
        seed, cells=cells, shapes_per_cell=shapes_per_cell, depth=depth, key=f"{prefix}/chip_{seed}.gds"
    )

    def oasis(key: str, **options: Any) -> SyntheticFile:
        return oasis_file(seed, cells=cells, shapes_per_cell=shapes_per_cell, depth=depth, key=key, **options)

    oas = oasis(f"{prefix}/chip_{seed}.oas")
    plain = oasis(
        f"{prefix}/chip_{seed}_plain.oas",
        compression_level=0,
        detect_rectangles=False,
        detect_trapezoids=False,
        validation=None,
    )
    dense = oasis(f"{prefix}/chip_{seed}_z9.oas", compression_level=9, validation="checksum32")
    damaged: Sequence[SyntheticFile] = (
        truncated_layout(gds, seed),
        truncated_layout(oas, seed),
        corrupt_gdsii(gds, seed, damage="record_length"),
        corrupt_gdsii(gds, seed, damage="record_type"),
        corrupt_oasis(oas, seed, damage="checksum"),
        corrupt_oasis(oas, seed, damage="magic"),
        garbage(seed, key=f"{prefix}/garbage_{seed}.gds", kind="gdsii"),
        garbage(seed, key=f"{prefix}/garbage_{seed}.oas", kind="oasis", prefix=OASIS_MAGIC),
    )
    if include_name_table_truncation:
        damaged = (*damaged, truncated_layout(oas, seed, region="name_tables"))
    return [gds, oas, plain, dense, *damaged]
