"""The design review: rules as data, each rule on records made for it, exact and ordered findings."""

from __future__ import annotations

import pytest
from semiconductor_eda.review import (
    DEFAULT_RULES,
    LayerSpec,
    Review,
    Rules,
    parse_layer_map,
    parse_layer_specs,
    spec_text,
    summarize,
)

from shared.errors import InvalidInputError

NM = {"db_unit_m": 1e-9, "user_unit_m": 1e-6, "db_per_user_unit": 1000}


def cell(name, *, children=(), box=(0, 0, 10, 10), empty=False):
    return {
        "name": name,
        "children": list(children),
        "bounding_box": None if empty else list(box),
        "empty": empty,
    }


def layout(
    key, cells, *, tops=None, units=NM, layers=((1, 0),), text_layers=(), box_um=(0, 0, 100, 100), **extra
):
    record = {
        "key": key,
        "status": "ok",
        "format": "gdsii",
        "format_from_name": "gdsii",
        "units": units,
        "cells": cells,
        "top_cells": tops if tops is not None else [c["name"] for c in cells],
        "undefined_cells": [],
        "layers": [list(p) for p in layers],
        "text_layers": [list(p) for p in text_layers],
        "bounding_box": {"um": list(box_um)} if box_um else None,
    }
    return record | extra


def findings(records, rules=None):
    review = Review(rules or Rules.from_document({}))
    for record in records:
        review.add(record)
    return review.findings()


def by_rule(items, rule):
    return [f for f in items if f["rule"] == rule]


def test_a_clean_set_has_no_findings():
    assert findings([layout("a.gds", [cell("TOP", children=["A"]), cell("A")], tops=["TOP"])]) == []


def test_invalid_files_carry_offset_and_reason():
    error = {
        "key": "bad.gds",
        "status": "error",
        "error": "FileFormatError",
        "message": "truncated",
        "offset": 812,
        "reason": "truncated",
    }
    gone = {"key": "gone.oas", "status": "error", "error": "S3AccessError", "message": "no such key"}
    result = findings([error, gone])
    assert result == [
        {
            "rule": "invalid_file",
            "severity": "error",
            "key": "bad.gds",
            "message": "INVALID: bad.gds is truncated or corrupt: truncated",
            "details": {"error": "FileFormatError", "offset": 812, "reason": "truncated"},
        },
        {
            "rule": "invalid_file",
            "severity": "error",
            "key": "gone.oas",
            "message": "INVALID: gone.oas could not be read: no such key",
            "details": {"error": "S3AccessError"},
        },
    ]


def test_units_follow_the_majority_or_the_expected_unit():
    angstrom = {"db_unit_m": 1e-10, "user_unit_m": 1e-6, "db_per_user_unit": 10000}
    records = [
        layout("a.gds", [cell("A")]),
        layout("b.gds", [cell("B")]),
        layout("c.gds", [cell("C")], units=angstrom),
    ]
    result = by_rule(findings(records), "units")
    assert [f["key"] for f in result] == ["c.gds"]
    assert result[0]["details"]["expected"] == {"db_unit_m": 1e-9, "user_unit_m": 1e-6}
    expected = Rules.from_document({"units": {"expected_db_unit_m": 1e-10}})
    assert [f["key"] for f in by_rule(findings(records, expected), "units")] == ["a.gds", "b.gds"]


def test_duplicate_cells_across_files_with_an_ignore_pattern():
    records = [
        layout(
            "a/chip.gds",
            [cell("TOP_A", children=["STD_INV", "RAM"]), cell("STD_INV"), cell("RAM")],
            tops=["TOP_A"],
        ),
        layout(
            "b/chip.oas",
            [cell("TOP_B", children=["STD_INV", "RAM"]), cell("STD_INV"), cell("RAM")],
            tops=["TOP_B"],
        ),
    ]
    result = by_rule(findings(records), "duplicate_cells")
    assert [(f["key"], f["cell"]) for f in result] == [
        ("a/chip.gds", "RAM"),
        ("a/chip.gds", "STD_INV"),
        ("b/chip.oas", "RAM"),
        ("b/chip.oas", "STD_INV"),
    ]
    assert result[0]["details"]["files"] == ["a/chip.gds", "b/chip.oas"]
    ignoring = Rules.from_document({"duplicate_cells": {"ignore": "^STD_"}})
    assert {f["cell"] for f in by_rule(findings(records, ignoring), "duplicate_cells")} == {"RAM"}


def test_empty_and_undefined_cells():
    record = layout("a.gds", [cell("TOP", children=["HOLE", "IP"]), cell("HOLE", empty=True)], tops=["TOP"])
    record["undefined_cells"] = ["IP"]
    result = findings([record])
    assert [(f["rule"], f["cell"], f["severity"]) for f in result] == [
        ("undefined_cells", "IP", "error"),
        ("empty_cells", "HOLE", "warning"),
    ]


def test_unreferenced_cells_besides_the_largest_hierarchy():
    cells = [
        cell("CHIP", children=["A", "B"]),
        cell("A", children=["B"]),
        cell("B"),
        cell("SCRATCH", children=["B"]),
    ]
    result = by_rule(findings([layout("a.gds", cells, tops=["CHIP", "SCRATCH"])]), "unreferenced_cells")
    assert [(f["cell"], f["details"]["intended_top"]) for f in result] == [("SCRATCH", ["CHIP"])]


def test_unreferenced_cells_with_a_top_cell_pattern():
    cells = [cell("chip_top"), cell("test_struct"), cell("chip_top_old")]
    rules = Rules.from_document({"unreferenced_cells": {"top_cell_pattern": "^chip_top$"}})
    result = by_rule(findings([layout("a.gds", cells)], rules), "unreferenced_cells")
    assert sorted(f["cell"] for f in result) == ["chip_top_old", "test_struct"]
    none_match = Rules.from_document({"unreferenced_cells": {"top_cell_pattern": "^TOP$"}})
    messages = [
        f["message"] for f in by_rule(findings([layout("a.gds", cells)], none_match), "unreferenced_cells")
    ]
    assert any(m.startswith("no top cell matches ^TOP$") for m in messages)


def test_layer_map_with_datatype_ranges_wildcards_and_texts():
    rules = Rules.from_document({"layer_map": {"allowed": "1/0, 2/0-3, 10/*"}})
    record = layout(
        "a.gds", [cell("A")], layers=[(1, 0), (2, 3), (2, 4), (10, 77), (63, 0)], text_layers=[(1, 1)]
    )
    result = by_rule(findings([record], rules), "layer_map")
    assert result[0]["details"]["layers"] == [[1, 1], [2, 4], [63, 0]]
    shapes_only = Rules.from_document(
        {"layer_map": {"allowed": ["1/0", [2, 4], "2/0-3", "10/*", "63/0"], "include_text": False}}
    )
    assert by_rule(findings([record], shapes_only), "layer_map") == []


def test_cell_name_conventions():
    cells = [cell("GOOD_1"), cell("bad name"), cell("X" * 40), cell("9START")]
    result = by_rule(findings([layout("a.gds", cells, tops=["GOOD_1"])]), "cell_names")
    assert [f["cell"] for f in result] == ["9START", "X" * 40, "bad name"]
    assert "longer than 32" in result[1]["message"]


def test_die_size_limit():
    rules = Rules.from_document({"die_size": {"max_width_um": 5000, "max_height_um": 5000}})
    records = [
        layout("ok.gds", [cell("A")], box_um=(0, 0, 5000, 4000)),
        layout("big.gds", [cell("B")], box_um=(-100, 0, 5000, 100)),
    ]
    result = by_rule(findings(records, rules), "die_size")
    assert [(f["key"], f["details"]["width_um"]) for f in result] == [("big.gds", 5100)]


def test_format_mismatch_and_header_only_records():
    record = layout("chip.gds", [cell("A")], format="oasis")
    assert [(f["rule"], f["severity"]) for f in findings([record])] == [("format_mismatch", "info")]
    header = {"key": "h.gds", "status": "ok", "format": "gdsii", "format_from_name": "gdsii", "units": NM}
    assert findings([header]) == []


def test_rules_can_be_turned_off_and_reweighted():
    rules = Rules.from_document({"empty_cells": {"enabled": False}, "cell_names": {"severity": "error"}})
    result = findings([layout("a.gds", [cell("TOP"), cell("bad name", empty=True)], tops=["TOP"])], rules)
    assert [(f["rule"], f["severity"]) for f in result] == [("cell_names", "error")]


def test_findings_are_sorted_by_severity_rule_file_cell():
    records = [
        layout("b.gds", [cell("B", empty=True)]),
        {
            "key": "z.gds",
            "status": "error",
            "error": "FileFormatError",
            "message": "x",
            "offset": 0,
            "reason": "truncated",
        },
        layout("a.gds", [cell("A", empty=True)]),
    ]
    result = findings(records)
    assert [(f["severity"], f["rule"], f["key"]) for f in result] == [
        ("error", "invalid_file", "z.gds"),
        ("warning", "empty_cells", "a.gds"),
        ("warning", "empty_cells", "b.gds"),
    ]
    assert summarize(result) == {
        "total": 3,
        "by_severity": {"error": 1, "warning": 2, "info": 0},
        "by_rule": {"empty_cells": 2, "invalid_file": 1},
    }


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('{"no_such_rule": {}}', "rules"),
        ('{"empty_cells": {"colour": 1}}', "rules.empty_cells"),
        ('{"empty_cells": {"severity": "fatal"}}', "rules.empty_cells.severity"),
        ('{"empty_cells": {"enabled": "yes"}}', "rules.empty_cells.enabled"),
        ('{"cell_names": {"pattern": "("}}', "rules.cell_names.pattern"),
        ('{"cell_names": {"max_length": 0}}', "rules.cell_names.max_length"),
        ('{"die_size": {"max_width_um": -1}}', "rules.die_size.max_width_um"),
        ('{"layer_map": {"allowed": "1:0"}}', "rules.layer_map.allowed"),
        ("[1]", "rules"),
        ("{not json", "rules"),
        ('{"empty_cells": 3}', "rules.empty_cells"),
    ],
)
def test_bad_rules_documents_name_the_setting(document, field):
    with pytest.raises(InvalidInputError) as raised:
        Rules.from_document(document)
    assert raised.value.field == field


def test_rules_round_trip_and_defaults():
    rules = Rules.from_document("").with_settings(
        {("layer_map", "allowed"): "7/*,1/2-3", ("die_size", "max_width_um"): None}
    )
    document = rules.to_dict()
    assert document["layer_map"]["allowed"] == ["1/2-3", "7/*"]
    assert set(document) == set(DEFAULT_RULES)
    assert all(rule["enabled"] for rule in document.values())


def test_layer_map_files_in_both_styles():
    text = """
    # KLayout style
    1/0 : METAL1
    2/0-3
    10/*     // any purpose
    METAL2 drawing 31 0
    METAL2 pin 31 2
    """
    specs = parse_layer_map(text, source="tech/layers.map")
    assert [spec_text(s) for s in specs] == ["1/0", "2/0-3", "10/*", "31/0", "31/2"]
    assert LayerSpec(10).allows(10, 999) and not LayerSpec(2, 0, 3).allows(2, 4)
    with pytest.raises(InvalidInputError, match="line 2"):
        parse_layer_map("1/0\nMETAL1 drawing\n")
    with pytest.raises(InvalidInputError, match="defines no layer"):
        parse_layer_map("# nothing\n")
    assert parse_layer_specs([[5, 6]]) == (LayerSpec(5, 6, 6),)
