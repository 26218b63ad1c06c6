"""Hypothesis strategies for layout libraries, shared by the oracle and the property tests.

A drawn library is plain data (:class:`CellSpec` per cell, cells placing only later cells, so the
hierarchy is a DAG) that :func:`build` turns into a gdstk library; shrunk failures print as data.
Coordinates are integers in database units (1 nm) so writing and reading back is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import gdstk
from hypothesis import strategies as st

UNIT, PRECISION = 1e-6, 1e-9  # user unit 1 µm, database unit 1 nm
SCALE = UNIT / PRECISION


@dataclass
class CellSpec:
    name: str
    rectangles: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    polygons: list[tuple[int, int, list[tuple[int, int]]]] = field(default_factory=list)
    paths: list[tuple[int, int, list[tuple[int, int]], int, Any]] = field(default_factory=list)
    labels: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    references: list[tuple[int, int, int, int, bool, float, int, int, int, int]] = field(default_factory=list)


coordinate = st.integers(-20_000, 20_000)
layer_pair = st.tuples(st.integers(0, 255), st.integers(0, 255))


@st.composite
def manhattan_spine(draw: Any) -> list[tuple[int, int]]:
    x, y = draw(coordinate), draw(coordinate)
    points = [(x, y)]
    horizontal = draw(st.booleans())
    for _ in range(draw(st.integers(1, 3))):
        step = draw(st.integers(200, 5000)) * draw(st.sampled_from((1, -1)))
        x, y = (x + step, y) if horizontal else (x, y + step)
        points.append((x, y))
        horizontal = not horizontal
    return points


@st.composite
def library_specs(draw: Any) -> list[CellSpec]:
    count = draw(st.integers(1, 5))
    specs = [
        CellSpec(f"C{index}_{draw(st.sampled_from(('INV', 'RAM', 'PAD', 'TOP')))}") for index in range(count)
    ]
    for index, spec in enumerate(specs):
        for _ in range(draw(st.integers(0, 4))):
            layer, datatype = draw(layer_pair)
            x, y = draw(coordinate), draw(coordinate)
            rectangle = (
                layer,
                datatype,
                x,
                y,
                x + draw(st.integers(1, 4000)),
                y + draw(st.integers(1, 4000)),
            )
            if rectangle not in spec.rectangles:
                spec.rectangles.append(rectangle)
        for _ in range(draw(st.integers(0, 2))):
            layer, datatype = draw(layer_pair)
            points = draw(st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=7, unique=True))
            if (layer, datatype, points) not in spec.polygons:
                spec.polygons.append((layer, datatype, points))
        for _ in range(draw(st.integers(0, 2))):
            layer, datatype = draw(layer_pair)
            ends = draw(
                st.one_of(
                    st.sampled_from(("flush", "extended")),
                    st.tuples(st.integers(0, 300), st.integers(0, 300)),
                )
            )
            drawn = (layer, datatype, draw(manhattan_spine()), 2 * draw(st.integers(1, 200)), ends)
            if drawn not in spec.paths:
                spec.paths.append(drawn)
        for _ in range(draw(st.integers(0, 2))):
            text = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=8))
            label = (text, *draw(layer_pair), draw(coordinate), draw(coordinate))
            if label not in spec.labels:
                spec.labels.append(label)
        deeper = list(range(index + 1, count))
        for _ in range(draw(st.integers(0, 3)) if deeper else 0):
            target = draw(st.sampled_from(deeper))
            columns, rows = draw(st.sampled_from(((1, 1), (1, 1), (2, 1), (1, 3), (3, 2))))
            spacing = (2 * draw(st.integers(1, 3000)), 2 * draw(st.integers(1, 3000)))
            reference = (
                target,
                2 * draw(coordinate),
                2 * draw(coordinate),
                draw(st.integers(0, 3)),
                draw(st.booleans()),
                draw(st.sampled_from((1.0, 1.0, 2.0, 0.5))),
                columns,
                rows,
                *spacing,
            )
            if reference not in spec.references:
                spec.references.append(reference)
    return specs


def build(specs: list[CellSpec]) -> gdstk.Library:
    library = gdstk.Library("ORACLE", unit=UNIT, precision=PRECISION)
    cells = [gdstk.Cell(spec.name) for spec in specs]
    for spec, cell in zip(specs, cells, strict=True):
        for layer, datatype, x0, y0, x1, y1 in spec.rectangles:
            cell.add(gdstk.rectangle((x0 / SCALE, y0 / SCALE), (x1 / SCALE, y1 / SCALE), layer, datatype))
        for layer, datatype, points in spec.polygons:
            cell.add(gdstk.Polygon([(x / SCALE, y / SCALE) for x, y in points], layer, datatype))
        for layer, datatype, spine, width, drawn_ends in spec.paths:
            ends = (
                (drawn_ends[0] / SCALE, drawn_ends[1] / SCALE)
                if isinstance(drawn_ends, tuple)
                else drawn_ends
            )
            cell.add(
                gdstk.FlexPath(
                    [(x / SCALE, y / SCALE) for x, y in spine],
                    width / SCALE,
                    ends=ends,
                    simple_path=True,
                    layer=layer,
                    datatype=datatype,
                )
            )
        for text, layer, texttype, x, y in spec.labels:
            cell.add(gdstk.Label(text, (x / SCALE, y / SCALE), layer=layer, texttype=texttype))
        for target, x, y, quarter, reflect, magnification, columns, rows, sx, sy in spec.references:
            # A 1 x 1 "array" is a plain placement (gdstk would write a degenerate AREF).
            array = (
                {"columns": columns, "rows": rows, "spacing": (sx / SCALE, sy / SCALE)}
                if columns * rows > 1
                else {}
            )
            cell.add(
                gdstk.Reference(
                    cells[target],
                    (x / SCALE, y / SCALE),
                    rotation=quarter * math.pi / 2,
                    magnification=magnification,
                    x_reflection=reflect,
                    **array,
                )
            )
    library.add(*cells)
    return library
