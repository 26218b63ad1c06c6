"""The run summary and its Markdown and HTML renderings."""

from __future__ import annotations

from semiconductor_eda.report import RunSummary, render_html, render_markdown
from semiconductor_eda.review import summarize

NM = {"db_unit_m": 1e-9, "user_unit_m": 1e-6, "db_per_user_unit": 1000}


def record(key, *, size=1000, cells=2, box=(0, 0, 100, 50), layers=((1, 0), (2, 0))):
    return {
        "key": key,
        "status": "ok",
        "format": "oasis" if key.endswith(".oas") else "gdsii",
        "size": size,
        "units": NM,
        "cells": [{"name": f"C{i}", "empty": i == 0} for i in range(cells)],
        "element_counts": {"boundary": 10, "path": 2, "box": 0, "node": 0, "text": 1, "sref": 1, "aref": 0},
        "layers": [list(p) for p in layers],
        "bounding_box": {"um": list(box)},
    }


def summary_of(records, findings=(), expected=None):
    summary = RunSummary("run-1", expected_files=expected)
    for item in records:
        summary.add(item)
    return summary.to_dict(summarize(findings))


def test_counts_and_distributions():
    bad = {
        "key": "x.gds",
        "status": "error",
        "error": "FileFormatError",
        "offset": 77,
        "reason": "truncated",
        "message": "m",
    }
    document = summary_of(
        [record("a/chip.gds", size=5_000_000, cells=3), record("b/chip.oas", size=500), bad,
         {"key": "h.gds", "status": "ok", "format": "gdsii", "size": 20_000_000_000, "units": NM}],
        expected=5,
    )  # fmt: skip
    assert document["files"] == {
        "expected": 5, "catalogued": 4, "valid": 3, "invalid": 1, "missing": 1,
        "by_format": {"gdsii": 2, "oasis": 1},
    }  # fmt: skip
    assert document["bytes"] == 20_005_000_500
    assert document["cells"] == {"total": 5, "empty": 2}
    assert document["elements"]["boundary"] == 20
    assert document["distributions"]["file_size"] == {
        "< 1 MB": 1, "1-10 MB": 1, "10-100 MB": 0, "100 MB-1 GB": 0, "1-10 GB": 0, ">= 10 GB": 1,
    }  # fmt: skip
    assert document["distributions"]["cells_per_file"]["1-10"] == 2
    assert document["distributions"]["layers_by_files"] == {"1/0": 2, "2/0": 2}
    assert document["units"] == {"1e-09 m / 1e-06 m": 3}
    assert document["invalid_files"] == [
        {"key": "x.gds", "error": "FileFormatError", "offset": 77, "reason": "truncated", "message": "m"}
    ]
    assert [item["key"] for item in document["largest_layouts"]] == ["a/chip.gds", "b/chip.oas"]


def test_markdown_and_html_show_counts_findings_and_escape_names():
    findings = [
        {
            "rule": "empty_cells",
            "severity": "warning",
            "key": "a|b.gds",
            "cell": "<script>",
            "message": "cell <script> has no elements",
        }
    ]
    document = summary_of([record("a|b.gds")], findings)
    markdown = render_markdown(document, findings)
    html = render_html(document, findings)
    assert "# Layout catalogue and design review — run run-1" in markdown
    assert "**No blocking finding.**" in markdown
    assert "| a\\|b.gds |" in markdown  # a pipe in a key does not break the table
    assert "## Findings by rule" in markdown and "| empty_cells | 1 |" in markdown
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<td class="warning">warning</td>' in html
    assert html.startswith("<!DOCTYPE html>")


def test_blocking_findings_are_called_out():
    findings = [{"rule": "invalid_file", "severity": "error", "key": "x.gds", "message": "INVALID"}]
    document = summary_of([], findings, expected=0)
    assert "**Blocking findings: 1.**" in render_markdown(document, findings)
