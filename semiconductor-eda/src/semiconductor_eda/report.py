"""The run's summary report: counts and distributions from the records, rendered as Markdown and HTML.

:class:`RunSummary` consumes catalogue records one at a time (bounded state: counters and small
"top N" lists) and :meth:`RunSummary.to_dict` gives the JSON summary; :func:`render_markdown`
and :func:`render_html` turn it and the findings into the two human reports. HTML output escapes
every value taken from a file (cell names, library names, keys come from whoever wrote them).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final

from semiconductor_eda.layout import KINDS
from semiconductor_eda.review import SEVERITIES

SIZE_BUCKETS: Final = (
    ("< 1 MB", 1e6),
    ("1-10 MB", 1e7),
    ("10-100 MB", 1e8),
    ("100 MB-1 GB", 1e9),
    ("1-10 GB", 1e10),
    (">= 10 GB", float("inf")),
)
CELL_BUCKETS: Final = (
    ("1-10", 10),
    ("11-100", 100),
    ("101-1,000", 1000),
    ("1,001-10,000", 10_000),
    ("> 10,000", float("inf")),
)
TOP_N: Final = 20
FINDINGS_SHOWN: Final = 100


def _bucket(value: float, buckets: tuple[tuple[str, float], ...]) -> str:
    return next(label for label, limit in buckets if value < limit or limit == float("inf"))


class RunSummary:
    """Counts and distributions over one run's records."""

    def __init__(self, run_id: str, *, expected_files: int | None = None) -> None:
        self.run_id = run_id
        self.expected_files = expected_files
        self.files = 0
        self.valid = 0
        self.by_format: Counter[str] = Counter()
        self.bytes_total = 0
        self.cells = 0
        self.empty_cells = 0
        self.elements: Counter[str] = Counter()
        self.layer_files: Counter[str] = Counter()
        self.units: Counter[str] = Counter()
        self.sizes: Counter[str] = Counter()
        self.cell_counts: Counter[str] = Counter()
        self.largest: list[tuple[float, str, float, float]] = []  # (area, key, width, height), a min-heap
        self.invalid: list[dict[str, Any]] = []
        self.invalid_total = 0

    def add(self, record: Mapping[str, Any]) -> None:
        self.files += 1
        key = str(record.get("key", ""))
        if record.get("status") != "ok":
            self.invalid_total += 1
            if len(self.invalid) < FINDINGS_SHOWN:
                self.invalid.append(
                    {
                        "key": key,
                        "error": record.get("error"),
                        "offset": record.get("offset"),
                        "reason": record.get("reason"),
                        "message": record.get("message"),
                    }
                )
            return
        self.valid += 1
        self.by_format[str(record.get("format"))] += 1
        size = int(record.get("size") or 0)
        self.bytes_total += size
        self.sizes[_bucket(size, SIZE_BUCKETS)] += 1
        units = record.get("units")
        if units:
            self.units[f"{units['db_unit_m']:g} m / {units['user_unit_m']:g} m"] += 1
        if "cells" not in record:
            return  # header-only record
        cells = record["cells"]
        self.cells += len(cells)
        self.empty_cells += sum(1 for cell in cells if cell.get("empty"))
        self.cell_counts[_bucket(len(cells), CELL_BUCKETS)] += 1
        self.elements.update(record.get("element_counts", {}))
        for layer, datatype in record.get("layers", []):
            self.layer_files[f"{layer}/{datatype}"] += 1
        box = (record.get("bounding_box") or {}).get("um")
        if box:
            width, height = box[2] - box[0], box[3] - box[1]
            entry = (width * height, key, width, height)
            if len(self.largest) < TOP_N:
                heapq.heappush(self.largest, entry)
            else:
                heapq.heappushpop(self.largest, entry)

    def to_dict(self, findings_summary: Mapping[str, Any]) -> dict[str, Any]:
        missing = None if self.expected_files is None else max(0, self.expected_files - self.files)
        return {
            "run_id": self.run_id,
            "files": {
                "expected": self.expected_files,
                "catalogued": self.files,
                "valid": self.valid,
                "invalid": self.invalid_total,
                "missing": missing,
                "by_format": dict(sorted(self.by_format.items())),
            },
            "bytes": self.bytes_total,
            "cells": {"total": self.cells, "empty": self.empty_cells},
            "elements": {kind: self.elements.get(kind, 0) for kind in KINDS},
            "units": dict(sorted(self.units.items())),
            "distributions": {
                "file_size": {label: self.sizes.get(label, 0) for label, _ in SIZE_BUCKETS},
                "cells_per_file": {label: self.cell_counts.get(label, 0) for label, _ in CELL_BUCKETS},
                "layers_by_files": dict(
                    sorted(self.layer_files.items(), key=lambda item: (-item[1], _layer_key(item[0])))[:TOP_N]
                ),
                "distinct_layers": len(self.layer_files),
            },
            "largest_layouts": [
                {"key": key, "width_um": round(width, 3), "height_um": round(height, 3)}
                for _, key, width, height in sorted(self.largest, key=lambda item: (-item[0], item[1]))
            ],
            "invalid_files": self.invalid,
            "findings": dict(findings_summary),
        }


def _layer_key(text: str) -> tuple[int, int]:
    layer, _, datatype = text.partition("/")
    return int(layer), int(datatype)


# --- rendering -----------------------------------------------------------------------------------


def _md(value: Any) -> str:
    """A table cell: pipes and newlines would break the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    headers = list(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _sections(
    summary: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]
) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, headers, rows) of every table, shared by both renderers."""
    files = summary["files"]
    counts = summary["findings"]
    overview = [
        ["files catalogued", files["catalogued"]],
        ["valid", files["valid"]],
        ["INVALID (truncated, corrupt or unreadable)", files["invalid"]],
        ["bytes (valid files)", f"{summary['bytes']:,}"],
        ["cells", summary["cells"]["total"]],
        ["empty cells", summary["cells"]["empty"]],
        ["findings", counts.get("total", 0)],
    ]
    if files.get("expected") is not None:
        overview.insert(0, ["files discovered", files["expected"]])
        overview.insert(2, ["missing (batch failed)", files["missing"]])
    sections = [
        ("Overview", ["", "count"], overview),
        (
            "Findings by severity",
            ["severity", "findings"],
            [[s, counts.get("by_severity", {}).get(s, 0)] for s in SEVERITIES],
        ),
        ("Findings by rule", ["rule", "findings"], [[r, n] for r, n in counts.get("by_rule", {}).items()]),
        ("Formats", ["format", "files"], [[f, n] for f, n in files["by_format"].items()]),
        ("Units (database / user)", ["units", "files"], [[u, n] for u, n in summary["units"].items()]),
        ("Elements", ["kind", "count"], [[k, f"{n:,}"] for k, n in summary["elements"].items()]),
        ("File sizes", ["size", "files"], [[b, n] for b, n in summary["distributions"]["file_size"].items()]),
        (
            "Cells per file",
            ["cells", "files"],
            [[b, n] for b, n in summary["distributions"]["cells_per_file"].items()],
        ),
        (
            f"Most used layers ({summary['distributions']['distinct_layers']} distinct)",
            ["layer/datatype", "files"],
            [[layer, n] for layer, n in summary["distributions"]["layers_by_files"].items()],
        ),
        (
            "Largest layouts",
            ["file", "width (µm)", "height (µm)"],
            [[item["key"], item["width_um"], item["height_um"]] for item in summary["largest_layouts"]],
        ),
        (
            "INVALID files",
            ["file", "error", "byte offset", "reason"],
            [[i["key"], i["error"], i["offset"], i["reason"]] for i in summary["invalid_files"]],
        ),
        (
            f"Findings (first {min(len(findings), FINDINGS_SHOWN)} of {len(findings)})",
            ["severity", "rule", "file", "cell", "message"],
            [
                [f["severity"], f["rule"], f["key"], f.get("cell", ""), f["message"]]
                for f in findings[:FINDINGS_SHOWN]
            ],
        ),
    ]
    return [(title, headers, rows) for title, headers, rows in sections if rows]


def render_markdown(summary: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> str:
    lines = [f"# Layout catalogue and design review — run {summary['run_id']}", ""]
    verdict = summary["findings"].get("by_severity", {}).get("error", 0)
    lines += [f"**{'Blocking findings: ' + str(verdict) if verdict else 'No blocking finding'}.**", ""]
    for title, headers, rows in _sections(summary, findings):
        lines += [f"## {title}", "", *_table(headers, rows), ""]
    return "\n".join(lines)


_CSS: Final = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:0 0 1.5rem}"
    "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}"
    "th{background:#f3f3f3}.error{color:#b00020;font-weight:600}.warning{color:#9a6700}"
)


def render_html(summary: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> str:
    title = f"Layout catalogue and design review — run {escape(str(summary['run_id']))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    for heading, headers, rows in _sections(summary, findings):
        parts.append(f"<h2>{escape(heading)}</h2><table><tr>")
        parts += [f"<th>{escape(h)}</th>" for h in headers]
        parts.append("</tr>")
        for row in rows:
            cells = []
            for cell in row:
                text = escape(str(cell))
                css = f' class="{text}"' if text in ("error", "warning") else ""
                cells.append(f"<td{css}>{text}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
