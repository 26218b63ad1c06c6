"""Format-neutral layout metadata: what the GDSII and the OASIS readers both produce.

A reader fills one :class:`CellStats` per cell while it streams (element counts, the bounding box
of the cell's own shapes, and its placements of other cells folded into a bounded summary) and
hands a :class:`LayoutMetadata` to :meth:`LayoutMetadata.finish`, which resolves the hierarchy:
top cells (cells no other cell places), undefined cells (placed but never defined), hierarchy
depth and every cell's hierarchical bounding box.

Bounded memory whatever the file size: a cell's placements are not kept one by one. Placements
of the same child with the same orientation (reflection, angle, magnification) differ only by a
translation, so the union of their boxes is the child's transformed box widened by the range of
their origins: one ``[placements, instances, x0, y0, x1, y1]`` entry per (child, orientation),
however many thousand instances an array or a placed netlist has. Arrays (GDSII AREF, OASIS
repetitions) contribute the origins of their corner instances, which bound every other one.

Bounding boxes are in database units, ``[xmin, ymin, xmax, ymax]``. They are exact for rotations
by multiples of 90° (the only ones tape-out flows use); another angle gives the box of the rotated
child box, which contains the true box, and ``bounding_box_exact`` says so. Boxes follow gdstk's
geometry so the two can be compared: a path's box is the box of its outline (ends extended, joins
mitred as gdstk's "natural" joins, round ends as exact semicircles), a text is a point, a node is
not geometry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any, Final, Literal

from shared.errors import FileFormatError

KINDS: Final = ("boundary", "path", "box", "node", "text", "sref", "aref")
"""Element kinds counted per cell. OASIS records map onto them: RECTANGLE, POLYGON, TRAPEZOID,
CTRAPEZOID and CIRCLE are boundaries, a PLACEMENT with a repetition is an aref, without one an
sref. A record with a repetition counts once, as a GDSII AREF does; ``shapes`` and
``instances`` count what the repetitions expand to."""
BOUNDARY, PATH, BOX, NODE, TEXT, SREF, AREF = range(len(KINDS))

Box = list[float]
"""``[xmin, ymin, xmax, ymax]`` in database units (ints when exact, floats otherwise)."""

Format = Literal["gdsii", "oasis"]
Mode = Literal["full", "header"]

_PARALLEL_EPS: Final = 1e-8  # gdstk's threshold for "these two directions are parallel"
_RIGHT_ANGLES: Final = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}


# --- cells ---------------------------------------------------------------------------------------


class CellStats:
    """One cell as a reader sees it: counts, own-shape box, folded placements.

    ``placements`` maps ``(child, reflected, angle°, magnification)`` to
    ``[placements, instances, ox0, oy0, ox1, oy1]`` (the range of the instances' origins).
    """

    __slots__ = ("box", "counts", "instances", "name", "offset", "other", "placements", "shapes")

    def __init__(self, name: str, offset: int) -> None:
        self.name = name
        self.offset = offset
        self.counts = [0] * len(KINDS)
        self.shapes = 0  # shapes after expanding repetitions (OASIS); equals the shape elements in GDSII
        self.instances = 0  # cell instances after expanding arrays and repetitions
        self.other = 0  # records with no GDSII counterpart (OASIS XGEOMETRY)
        self.box: Box | None = None
        self.placements: dict[tuple[str, bool, float, float], list[Any]] = {}

    def add_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        box = self.box
        if box is None:
            self.box = [x0, y0, x1, y1]
            return
        box[0] = min(box[0], x0)
        box[1] = min(box[1], y0)
        box[2] = max(box[2], x1)
        box[3] = max(box[3], y1)

    def add_placement(
        self,
        child: str,
        *,
        reflected: bool,
        angle: float,
        magnification: float,
        origins: tuple[float, float, float, float],
        instances: int,
    ) -> None:
        """Fold one placement (or array) whose instance origins span ``origins``."""
        key = (child, reflected, _normal_angle(angle), float(magnification))
        entry = self.placements.get(key)
        ox0, oy0, ox1, oy1 = origins
        if entry is None:
            self.placements[key] = [1, instances, ox0, oy0, ox1, oy1]
            return
        entry[0] += 1
        entry[1] += instances
        entry[2] = min(entry[2], ox0)
        entry[3] = min(entry[3], oy0)
        entry[4] = max(entry[4], ox1)
        entry[5] = max(entry[5], oy1)

    @property
    def children(self) -> list[str]:
        return sorted({key[0] for key in self.placements})

    @property
    def empty(self) -> bool:
        """No element of any kind: a cell that draws nothing and places nothing."""
        return not any(self.counts) and not self.other


def _normal_angle(angle: float) -> float:
    normal = float(angle) % 360.0
    return 0.0 if normal == 360.0 else normal  # -1e-17 % 360 == 360.0


# --- geometry ------------------------------------------------------------------------------------


def transform_box(
    box: Sequence[float], reflected: bool, angle: float, magnification: float
) -> tuple[tuple[float, float, float, float], bool]:
    """The box of ``box`` reflected about x, magnified and rotated by ``angle``° (then at origin 0).

    Returns the box and whether it is exact (true for multiples of 90°, where the image of a box
    is a box; otherwise the box of the rotated corners, which contains the true extent).
    """
    x0, y0, x1, y1 = box
    if reflected:
        y0, y1 = -y1, -y0
    if magnification != 1.0:
        x0, y0, x1, y1 = x0 * magnification, y0 * magnification, x1 * magnification, y1 * magnification
        if magnification < 0:  # a negative magnification is a rotation by 180° more
            x0, x1, y0, y1 = x1, x0, y1, y0
    quarter = _normal_angle(angle)
    right = _RIGHT_ANGLES.get(int(quarter)) if quarter.is_integer() else None
    cos: float
    sin: float
    if right is not None:
        cos, sin = right
        exact = True
    else:
        radians = math.radians(quarter)
        cos, sin = math.cos(radians), math.sin(radians)
        exact = False
    xs = (cos * x0 - sin * y0, cos * x1 - sin * y0, cos * x0 - sin * y1, cos * x1 - sin * y1)
    ys = (sin * x0 + cos * y0, sin * x1 + cos * y0, sin * x0 + cos * y1, sin * x1 + cos * y1)
    return (min(xs), min(ys), max(xs), max(ys)), exact


def _unit(dx: float, dy: float) -> tuple[float, float]:
    length = math.hypot(dx, dy)
    return dx / length, dy / length


def _intersection(
    p: tuple[float, float], t: tuple[float, float], q: tuple[float, float], s: tuple[float, float]
) -> tuple[float, float]:
    """Parameters (u, v) with p + u·t == q + v·s (both 0 for parallel lines, as gdstk)."""
    den = t[0] * s[1] - t[1] * s[0]
    if -_PARALLEL_EPS < den < _PARALLEL_EPS:
        return 0.0, 0.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    return (dx * s[1] - dy * s[0]) / den, (dx * t[1] - dy * t[0]) / den


def _semicircle(
    cx: float, cy: float, radius: float, outward: tuple[float, float]
) -> list[tuple[float, float]]:
    """The points that bound a round path end: the half circle on the ``outward`` side."""
    nx, ny = -outward[1], outward[0]
    points = [(cx + nx * radius, cy + ny * radius), (cx - nx * radius, cy - ny * radius)]
    for ex, ey in ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)):
        if ex * outward[0] + ey * outward[1] >= 0:
            points.append((cx + ex * radius, cy + ey * radius))
    return points


def _cap(
    point: tuple[float, float],
    tangent: tuple[float, float],
    half_width: float,
    extension: float,
    round_end: bool,
) -> list[tuple[float, float]]:
    """Outline points of one path end; ``tangent`` points out of the path."""
    nx, ny = -tangent[1], tangent[0]
    x, y = point
    if round_end:
        return _semicircle(x, y, half_width, tangent)
    left, right = (x + nx * half_width, y + ny * half_width), (x - nx * half_width, y - ny * half_width)
    tx, ty = tangent[0] * extension, tangent[1] * extension
    points = [(left[0] + tx, left[1] + ty), (right[0] + tx, right[1] + ty)]
    if extension > 0:
        points += [left, right]
    return points


def _outer_join(
    r1: tuple[float, float],
    t0: tuple[float, float],
    r2: tuple[float, float],
    t1: tuple[float, float],
    half_width: float,
) -> list[tuple[float, float]]:
    """gdstk's natural join on the outer side: a mitre, cut at half a width from the corner."""
    u0, u1 = _intersection(r1, t0, r2, t1)
    u1 = -u1
    if u0 <= half_width and u1 <= half_width:
        return [
            (
                0.5 * (r1[0] + u0 * t0[0] + r2[0] - u1 * t1[0]),
                0.5 * (r1[1] + u0 * t0[1] + r2[1] - u1 * t1[1]),
            )
        ]
    a, b = min(u0, half_width), min(u1, half_width)
    return [(r1[0] + a * t0[0], r1[1] + a * t0[1]), (r2[0] - b * t1[0], r2[1] - b * t1[1])]


def _inner_join(
    r1: tuple[float, float], t0: tuple[float, float], r2: tuple[float, float], t1: tuple[float, float]
) -> tuple[float, float]:
    u0, u1 = _intersection(r1, t0, r2, t1)
    return (
        0.5 * (r1[0] + u0 * t0[0] + r2[0] + u1 * t1[0]),
        0.5 * (r1[1] + u0 * t0[1] + r2[1] + u1 * t1[1]),
    )


def straight_path_box(
    coords: Sequence[float], hw: float, start_extension: float, end_extension: float
) -> tuple[float, float, float, float] | None:
    """The outline box of a one-segment axis-parallel path ``(x0, y0, x1, y1)``; None otherwise.

    The commonest path of all (a routing segment), without building any point list; the same
    result as :func:`path_box`.
    """
    x0, y0, x1, y1 = coords
    if y0 == y1 and x0 != x1:
        sign = 1 if x1 > x0 else -1
        xs = [x0 - sign * start_extension, x1 + sign * end_extension]
        if start_extension > 0:
            xs.append(x0)
        if end_extension > 0:
            xs.append(x1)
        return min(xs), y0 - hw, max(xs), y0 + hw
    if x0 == x1 and y0 != y1:
        sign = 1 if y1 > y0 else -1
        ys = [y0 - sign * start_extension, y1 + sign * end_extension]
        if start_extension > 0:
            ys.append(y0)
        if end_extension > 0:
            ys.append(y1)
        return x0 - hw, min(ys), x0 + hw, max(ys)
    return None


def manhattan_path_box(  # noqa: PLR0912 - caps unrolled, comparisons not calls (PLR1730): once per path
    coords: Sequence[float], hw: float, start_extension: float, end_extension: float
) -> tuple[float, float, float, float] | None:
    """The outline box of an axis-parallel path turning by right angles, from flat coordinates.

    At a right-angle joint the natural join is the full mitre, the corner of the square of half a
    width around the vertex; so the outline's box is the box of those squares at the inner
    vertices and of the two end caps (pushed out along their segment by the extension, which may
    be negative) — the same result as :func:`path_box`. None when the spine is not of that kind
    (a diagonal, a repeated point, a straight continuation, a reversal), which the general
    construction handles.
    """
    size = len(coords)
    if size < 4:
        return None
    previous = None
    for index in range(0, size - 2, 2):
        along_x = coords[index + 1] == coords[index + 3]
        if along_x == (coords[index] == coords[index + 2]) or along_x == previous:
            return None
        previous = along_x
    if size > 4:
        inner_x, inner_y = coords[2 : size - 2 : 2], coords[3 : size - 2 : 2]
        x0, y0, x1, y1 = min(inner_x) - hw, min(inner_y) - hw, max(inner_x) + hw, max(inner_y) + hw
    else:
        x0 = y0 = math.inf
        x1 = y1 = -math.inf
    ends = (
        (coords[0], coords[1], coords[2], coords[3], start_extension, coords[1] == coords[3]),
        (coords[-2], coords[-1], coords[-4], coords[-3], end_extension, bool(previous)),
    )
    for x, y, nx, ny, extension, along_x in ends:
        # Along the end segment the cap reaches `out`, and the end point itself when extended.
        point, neighbour = (x, nx) if along_x else (y, ny)
        out = point + extension if point > neighbour else point - extension
        low = high = out
        if extension > 0:
            if point < low:
                low = point
            else:
                high = point
        if along_x:
            across_low, across_high = y - hw, y + hw
            if low < x0:  # noqa: PLR1730
                x0 = low
            if high > x1:  # noqa: PLR1730
                x1 = high
            if across_low < y0:  # noqa: PLR1730
                y0 = across_low
            if across_high > y1:  # noqa: PLR1730
                y1 = across_high
        else:
            across_low, across_high = x - hw, x + hw
            if low < y0:  # noqa: PLR1730
                y0 = low
            if high > y1:  # noqa: PLR1730
                y1 = high
            if across_low < x0:  # noqa: PLR1730
                x0 = across_low
            if across_high > x1:  # noqa: PLR1730
                x1 = across_high
    return x0, y0, x1, y1


def outline_box(
    coords: Sequence[float],
    half_width: float,
    start_extension: float,
    end_extension: float,
    *,
    round_ends: bool = False,
) -> tuple[float, float, float, float] | None:
    """:func:`path_box` of a spine given as flat coordinates ``x0, y0, x1, y1, …``.

    Single axis-parallel segments and right-angle Manhattan spines (nearly every path of a real
    layout) take the direct formulas; the general construction handles the rest.
    """
    if not round_ends:
        hw = abs(half_width)
        direct = (straight_path_box if len(coords) == 4 else manhattan_path_box)(
            coords, hw, start_extension, end_extension
        )
        if direct is not None:
            return direct
    points = list(zip(coords[0::2], coords[1::2], strict=True))
    return path_box(points, half_width, start_extension, end_extension, round_ends=round_ends)


def path_box(
    points: Sequence[tuple[float, float]],
    half_width: float,
    start_extension: float,
    end_extension: float,
    *,
    round_ends: bool = False,
) -> tuple[float, float, float, float] | None:
    """Bounding box of a path's outline, or None for a path without extent (fewer than 2 points).

    The outline is what gdstk draws for a simple path: ends flush or extended along the end
    segments (extensions may be negative), joins mitred on the outer side up to half a width
    from the corner and cut there beyond (right angles are full mitres), round ends as half
    circles. Consecutive repeated points are dropped first.
    """
    spine: list[tuple[float, float]] = []
    for point in points:
        if not spine or point != spine[-1]:
            spine.append(point)
    if len(spine) < 2:
        return None
    hw = abs(half_width)
    if not round_ends:
        manhattan = manhattan_path_box(
            [v for point in spine for v in point], hw, start_extension, end_extension
        )
        if manhattan is not None:
            return manhattan
    tangents = [_unit(b[0] - a[0], b[1] - a[1]) for a, b in pairwise(spine)]
    t_first, t_last = tangents[0], tangents[-1]
    outline = _cap(spine[0], (-t_first[0], -t_first[1]), hw, start_extension, round_ends)
    outline += _cap(spine[-1], t_last, hw, end_extension, round_ends)
    for index in range(1, len(spine) - 1):
        x, y = spine[index]
        t0, t1 = tangents[index - 1], tangents[index]
        n0, n1 = (-t0[1], t0[0]), (-t1[1], t1[0])
        cross = t0[0] * t1[1] - t0[1] * t1[0]
        right_a, right_b = (x - n0[0] * hw, y - n0[1] * hw), (x - n1[0] * hw, y - n1[1] * hw)
        left_a, left_b = (x + n0[0] * hw, y + n0[1] * hw), (x + n1[0] * hw, y + n1[1] * hw)
        if cross < 0:
            outline.append(_inner_join(right_a, t0, right_b, t1))
        else:
            outline += _outer_join(right_a, t0, right_b, t1, hw)
        if cross > 0:
            outline.append(_inner_join(left_a, t0, left_b, t1))
        else:
            outline += _outer_join(left_a, t0, left_b, t1, hw)
    xs = [p[0] for p in outline]
    ys = [p[1] for p in outline]
    return min(xs), min(ys), max(xs), max(ys)


# --- the library ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Units:
    """Database and user units in metres (GDSII UNITS; OASIS: user unit 1 µm, grid = 1 µm / unit)."""

    db_unit_m: float
    user_unit_m: float

    @property
    def db_per_user_unit(self) -> float:
        return self.user_unit_m / self.db_unit_m

    def to_dict(self) -> dict[str, float]:
        return {
            "db_unit_m": self.db_unit_m,
            "user_unit_m": self.user_unit_m,
            "db_per_user_unit": _clean(self.db_per_user_unit),
        }


@dataclass
class Hierarchy:
    """What :func:`resolve_hierarchy` derives from the cells' placements."""

    top_cells: list[str]
    undefined_cells: list[str]
    boxes: dict[str, Box | None]
    depth: int
    exact: bool


def _children_of(cell: CellStats) -> list[str]:
    return sorted({key[0] for key in cell.placements})


def _topological(cells: dict[str, CellStats]) -> list[str]:
    """Cells with every defined child before its parents; a cycle is a format error."""
    order: list[str] = []
    done: set[str] = set()
    for root in sorted(cells):
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack: list[Iterator[str]] = [iter(_children_of(cells[root]))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                order.append(finished)
                continue
            if child not in cells or child in done:
                continue
            if child in on_path:
                cycle = [*path[path.index(child) :], child]
                raise FileFormatError(
                    f"cell {child!r} places itself: {' -> '.join(cycle)}",
                    offset=cells[child].offset,
                    reason="cyclic_reference",
                )
            path.append(child)
            on_path.add(child)
            stack.append(iter(_children_of(cells[child])))
    return order


def resolve_hierarchy(cells: dict[str, CellStats]) -> Hierarchy:
    """Top cells, undefined references, depth and hierarchical boxes of a library's cells."""
    referenced: set[str] = set()
    undefined: set[str] = set()
    for cell in cells.values():
        for key in cell.placements:
            (referenced if key[0] in cells else undefined).add(key[0])
    boxes: dict[str, Box | None] = {}
    heights: dict[str, int] = {}
    exact = True
    for name in _topological(cells):
        cell = cells[name]
        box = list(cell.box) if cell.box is not None else None
        height = 0
        for (child, reflected, angle, magnification), entry in cell.placements.items():
            if child not in cells:
                continue
            height = max(height, heights[child])
            child_box = boxes[child]
            if child_box is None:
                continue
            (tx0, ty0, tx1, ty1), is_exact = transform_box(child_box, reflected, angle, magnification)
            exact = exact and is_exact
            placed = (entry[2] + tx0, entry[3] + ty0, entry[4] + tx1, entry[5] + ty1)
            if box is None:
                box = list(placed)
            else:
                box = [
                    min(box[0], placed[0]),
                    min(box[1], placed[1]),
                    max(box[2], placed[2]),
                    max(box[3], placed[3]),
                ]
        boxes[name] = box
        heights[name] = height + 1
    tops = sorted(name for name in cells if name not in referenced)
    return Hierarchy(
        top_cells=tops,
        undefined_cells=sorted(undefined),
        boxes=boxes,
        depth=max((heights[name] for name in tops), default=0),
        exact=exact,
    )


def _clean(value: float) -> float:
    """Integral floats as ints, others rounded below any layout grid (JSON-friendly, stable)."""
    if isinstance(value, int):
        return value
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return round(value, 6)


def _clean_box(box: Iterable[float] | None) -> list[float] | None:
    return None if box is None else [_clean(v) for v in box]


def _iso(stamp: datetime | None) -> str | None:
    return stamp.isoformat() if stamp is not None else None


@dataclass
class LayoutMetadata:
    """Everything a reader extracts from one file; :meth:`to_record` is the catalogue record."""

    format: Format
    mode: Mode
    version: str | None = None
    library: str | None = None
    units: Units | None = None
    modified: datetime | None = None
    accessed: datetime | None = None
    bytes_read: int = 0
    cells: dict[str, CellStats] = field(default_factory=dict)
    layers: set[tuple[int, int]] = field(default_factory=set)
    text_layers: set[tuple[int, int]] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)
    """Format-specific facts (OASIS offset flag, tables, validation, layer names …)."""
    hierarchy: Hierarchy | None = None

    def finish(self) -> LayoutMetadata:
        """Resolve the hierarchy once every cell has been read (full mode only)."""
        if self.mode == "full":
            self.hierarchy = resolve_hierarchy(self.cells)
        return self

    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys(KINDS, 0)
        for cell in self.cells.values():
            for kind, count in zip(KINDS, cell.counts, strict=True):
                totals[kind] += count
        return totals

    def bounding_box(self) -> Box | None:
        """The union of the top cells' boxes (database units)."""
        if self.hierarchy is None:
            return None
        boxes = [self.hierarchy.boxes[name] for name in self.hierarchy.top_cells]
        present = [box for box in boxes if box is not None]
        if not present:
            return None
        return [
            min(b[0] for b in present),
            min(b[1] for b in present),
            max(b[2] for b in present),
            max(b[3] for b in present),
        ]

    def to_record(self) -> dict[str, Any]:
        """The JSON-able catalogue record of the file (without its key and status)."""
        record: dict[str, Any] = {
            "format": self.format,
            "mode": self.mode,
            "version": self.version,
            "library": self.library,
            "units": self.units.to_dict() if self.units else None,
            "bytes_read": self.bytes_read,
        }
        if self.format == "gdsii":
            record["modified"] = _iso(self.modified)
            record["accessed"] = _iso(self.accessed)
        if self.extra:
            record[self.format] = self.extra
        if self.hierarchy is None:
            return record
        box = self.bounding_box()
        scale = self.units.db_unit_m * 1e6 if self.units else None
        record |= {
            "cell_count": len(self.cells),
            "top_cells": self.hierarchy.top_cells,
            "undefined_cells": self.hierarchy.undefined_cells,
            "depth": self.hierarchy.depth,
            "layers": [list(pair) for pair in sorted(self.layers)],
            "text_layers": [list(pair) for pair in sorted(self.text_layers)],
            "element_counts": self.totals(),
            "bounding_box": None
            if box is None
            else {
                "db": _clean_box(box),
                "um": _clean_box(v * scale for v in box) if scale else None,
                "exact": self.hierarchy.exact,
            },
            "cells": [self._cell_record(self.cells[name]) for name in sorted(self.cells)],
        }
        return record

    def _cell_record(self, cell: CellStats) -> dict[str, Any]:
        if self.hierarchy is None:
            raise RuntimeError("cell records are built only after the hierarchy is resolved")
        record: dict[str, Any] = {
            "name": cell.name,
            "counts": dict(zip(KINDS, cell.counts, strict=True)),
            "shapes": cell.shapes,
            "instances": cell.instances,
            "children": cell.children,
            "bounding_box": _clean_box(self.hierarchy.boxes.get(cell.name)),
            "empty": cell.empty,
        }
        if cell.other:
            record["other"] = cell.other
        return record
