"""Design review of a tape-out set: rules as data, applied to the catalogue records of one run.

The rules are a JSON document (the ``ReviewRules`` parameter, or a rules file on the volume);
every rule has a ``severity`` (``error``, ``warning``, ``info``) and can be turned off with
``"enabled": false``. Defaults (:data:`DEFAULT_RULES`):

================  ====================================================================
rule              finds
================  ====================================================================
invalid_file      a file that is truncated or corrupt (byte offset and reason) or unreadable
units             a file whose database/user units differ from the set's (the majority, or
                  ``expected_db_unit_m``)
duplicate_cells   a cell name defined in more than one file (``ignore``: a regex of names to
                  skip, e.g. a standard-cell library prefix)
empty_cells       a cell with no element at all
unreferenced      a top cell besides the intended top (``top_cell_pattern``, or else the top
_cells            cell with the largest hierarchy)
undefined_cells   a cell placed but defined nowhere in its file
layer_map         shapes (and texts, ``include_text``) on layer/datatype pairs outside
                  ``allowed`` (``"1/0"``, ``"2/0-3"``, ``"10/*"``, or a layer-map file)
cell_names        a cell name not matching ``pattern`` or longer than ``max_length``
die_size          a bounding box wider than ``max_width_um`` or taller than ``max_height_um``
format_mismatch   a file whose name announces one format and whose bytes are the other
================  ====================================================================

:class:`Review` consumes records one at a time (per-file rules immediately, cross-file state
kept compact: units per file and which files define each cell name) and :meth:`Review.findings`
returns every finding, sorted, so that a run's findings are exact and reproducible.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from shared.errors import InvalidInputError

SEVERITIES: Final = ("error", "warning", "info")
DEFAULT_RULES: Final[dict[str, dict[str, Any]]] = {
    "invalid_file": {"severity": "error"},
    "units": {"severity": "error", "expected_db_unit_m": None},
    "duplicate_cells": {"severity": "warning", "ignore": None},
    "empty_cells": {"severity": "warning"},
    "unreferenced_cells": {"severity": "warning", "top_cell_pattern": None},
    "undefined_cells": {"severity": "error"},
    "layer_map": {"severity": "error", "allowed": None, "include_text": True},
    "cell_names": {"severity": "warning", "pattern": r"^[A-Za-z][A-Za-z0-9_$]*$", "max_length": 32},
    "die_size": {"severity": "error", "max_width_um": None, "max_height_um": None},
    "format_mismatch": {"severity": "info"},
}
_UNIT_DIGITS: Final = 12  # units compare equal when they agree to 12 significant digits


# --- layer specifications ------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class LayerSpec:
    """An allowed layer with a datatype range (``high`` None: any datatype from ``low``)."""

    layer: int
    low: int = 0
    high: int | None = None

    def allows(self, layer: int, datatype: int) -> bool:
        return layer == self.layer and datatype >= self.low and (self.high is None or datatype <= self.high)


_SPEC = re.compile(r"(\d+)\s*/\s*(\*|\d+)(?:\s*-\s*(\d+))?")


def parse_layer_specs(values: str | Iterable[Any], *, field: str = "allowed") -> tuple[LayerSpec, ...]:
    """``"1/0, 2/0-3, 10/*"`` or a list of such strings or ``[layer, datatype]`` pairs."""
    items: Iterable[Any] = (
        [v for v in re.split(r"[,\s]+", values) if v] if isinstance(values, str) else values
    )
    specs: list[LayerSpec] = []
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 2 and all(isinstance(v, int) for v in item):
            specs.append(LayerSpec(item[0], item[1], item[1]))
            continue
        match = _SPEC.fullmatch(str(item).strip())
        if match is None:
            raise InvalidInputError(field, f"{item!r} is not a layer like 1/0, 2/0-3 or 10/*")
        layer, low, high = match.groups()
        if low == "*":
            specs.append(LayerSpec(int(layer), 0, None))
        else:
            specs.append(LayerSpec(int(layer), int(low), int(high) if high else int(low)))
    return tuple(sorted(set(specs)))


def parse_layer_map(text: str, *, source: str = "layer map") -> tuple[LayerSpec, ...]:
    """The layers of a layer-map file.

    Accepted lines (``#`` and ``//`` start comments): KLayout style ``1/0``, ``2/0-3``,
    ``10/*`` (optionally followed by ``: NAME``), Cadence stream-map style
    ``METAL1 drawing 31 0`` (the last two integers), or a bare ``31 0``.
    """
    specs: list[LayerSpec] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"#|//", raw, maxsplit=1)[0].split(":", 1)[0].strip()
        if not line:
            continue
        if "/" in line:
            specs += parse_layer_specs(line, field=f"{source} line {number}")
            continue
        integers = [int(token) for token in line.split() if token.isdigit()]
        if len(integers) < 2:
            raise InvalidInputError("layer_map", f"{source} line {number}: no layer and datatype in {raw!r}")
        specs.append(LayerSpec(integers[-2], integers[-1], integers[-1]))
    if not specs:
        raise InvalidInputError("layer_map", f"{source} defines no layer")
    return tuple(sorted(set(specs)))


# --- rules ---------------------------------------------------------------------------------------


def _regex(value: Any, field: str) -> re.Pattern[str] | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidInputError(field, f"expected a regular expression, got {value!r}")
    try:
        return re.compile(value)
    except re.error as error:
        raise InvalidInputError(field, f"invalid regular expression {value!r}: {error}") from error


def _number(value: Any, field: str) -> float | None:
    if value in (None, 0, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidInputError(field, f"expected a positive number, got {value!r}")
    return float(value)


class Rules:
    """A validated rules document: the defaults merged with overrides, settings precompiled."""

    def __init__(self, document: Mapping[str, Mapping[str, Any]]) -> None:
        self.document = {name: dict(rule) for name, rule in document.items()}
        doc = self.document
        for name, rule in doc.items():
            rule.setdefault("enabled", True)
            if rule["severity"] not in SEVERITIES:
                raise InvalidInputError(f"rules.{name}.severity", f"expected one of {SEVERITIES}")
            if not isinstance(rule["enabled"], bool):
                raise InvalidInputError(f"rules.{name}.enabled", "expected true or false")
        self.duplicate_ignore = _regex(doc["duplicate_cells"]["ignore"], "rules.duplicate_cells.ignore")
        self.top_cell_pattern = _regex(
            doc["unreferenced_cells"]["top_cell_pattern"], "rules.unreferenced_cells.top_cell_pattern"
        )
        self.cell_name_pattern = _regex(doc["cell_names"]["pattern"], "rules.cell_names.pattern")
        max_length = doc["cell_names"]["max_length"]
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise InvalidInputError(
                "rules.cell_names.max_length", f"expected a positive integer, got {max_length!r}"
            )
        self.cell_name_max_length: int | None = max_length
        self.max_width_um = _number(doc["die_size"]["max_width_um"], "rules.die_size.max_width_um")
        self.max_height_um = _number(doc["die_size"]["max_height_um"], "rules.die_size.max_height_um")
        self.expected_db_unit_m = _number(
            doc["units"]["expected_db_unit_m"], "rules.units.expected_db_unit_m"
        )
        allowed = doc["layer_map"]["allowed"]
        self.allowed_layers = (
            None if allowed is None else parse_layer_specs(allowed, field="rules.layer_map.allowed")
        )
        self.include_text_layers = bool(doc["layer_map"]["include_text"])

    @classmethod
    def from_document(cls, overrides: Mapping[str, Any] | str | None = None) -> Rules:
        """The defaults with ``overrides`` (a mapping or its JSON text) applied and validated."""
        if isinstance(overrides, str):
            try:
                overrides = json.loads(overrides) if overrides.strip() else {}
            except json.JSONDecodeError as error:
                raise InvalidInputError("rules", f"not JSON: {error}") from error
        overrides = overrides or {}
        if not isinstance(overrides, Mapping):
            raise InvalidInputError("rules", "expected a JSON object of rules")
        merged: dict[str, dict[str, Any]] = {name: dict(rule) for name, rule in DEFAULT_RULES.items()}
        for name, rule in overrides.items():
            if name not in merged:
                raise InvalidInputError("rules", f"unknown rule {name!r} (known: {', '.join(DEFAULT_RULES)})")
            if not isinstance(rule, Mapping):
                raise InvalidInputError(f"rules.{name}", "expected an object")
            unknown = set(rule) - set(merged[name]) - {"enabled"}
            if unknown:
                raise InvalidInputError(f"rules.{name}", f"unknown settings {sorted(unknown)}")
            merged[name].update(rule)
        return cls(merged)

    def with_settings(self, settings: Mapping[tuple[str, str], Any]) -> Rules:
        """A copy with ``{(rule, setting): value}`` applied (None values are ignored)."""
        document = {name: dict(rule) for name, rule in self.document.items()}
        for (name, setting), value in settings.items():
            if value is not None:
                document[name][setting] = value
        return Rules(document)

    def on(self, rule: str) -> bool:
        return bool(self.document[rule]["enabled"])

    def severity(self, rule: str) -> str:
        return str(self.document[rule]["severity"])

    def to_dict(self) -> dict[str, Any]:
        """The effective rules (what a report shows), layer specs in their text form."""
        document = {name: dict(rule) for name, rule in self.document.items()}
        if self.allowed_layers is not None:
            document["layer_map"]["allowed"] = [spec_text(spec) for spec in self.allowed_layers]
        return document


def spec_text(spec: LayerSpec) -> str:
    """``1/0``, ``2/0-3`` or ``10/*``: the text form :func:`parse_layer_specs` reads back."""
    if spec.high is None:
        return f"{spec.layer}/*" if spec.low == 0 else f"{spec.layer}/{spec.low}-*"
    return f"{spec.layer}/{spec.low}" if spec.low == spec.high else f"{spec.layer}/{spec.low}-{spec.high}"


# --- the review ----------------------------------------------------------------------------------


def _unit_key(units: Mapping[str, Any]) -> tuple[float, float]:
    return (
        float(f"{units['db_unit_m']:.{_UNIT_DIGITS}g}"),
        float(f"{units['user_unit_m']:.{_UNIT_DIGITS}g}"),
    )


class Review:
    """Feed records with :meth:`add`; read the sorted findings with :meth:`findings`."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._findings: list[dict[str, Any]] = []
        self._units: list[tuple[str, tuple[float, float]]] = []
        self._defined: dict[str, list[str]] = defaultdict(list)

    def finding(self, rule: str, key: str, message: str, *, cell: str | None = None, **details: Any) -> None:
        finding: dict[str, Any] = {"rule": rule, "severity": self.rules.severity(rule), "key": key}
        if cell is not None:
            finding["cell"] = cell
        finding["message"] = message
        if details:
            finding["details"] = details
        self._findings.append(finding)

    def add(self, record: Mapping[str, Any]) -> None:
        key = str(record.get("key", ""))
        if record.get("status") != "ok":
            self.invalid(key, record)
            return
        rules = self.rules
        if record.get("units") and rules.on("units"):
            self._units.append((key, _unit_key(record["units"])))
        named = record.get("format_from_name")
        if rules.on("format_mismatch") and named and named != record.get("format"):
            self.finding(
                "format_mismatch",
                key,
                f"the name says {named} but the file is {record.get('format')}",
                named=named,
                detected=record.get("format"),
            )
        cells = record.get("cells")
        if cells is None:  # a header-only record: nothing below the library header was read
            return
        for cell in cells:
            self._defined[cell["name"]].append(key)
            self.cell_rules(key, cell)
        self.hierarchy_rules(key, record)
        self.layer_rules(key, record)
        self.die_rules(key, record)

    def invalid(self, key: str, record: Mapping[str, Any]) -> None:
        if not self.rules.on("invalid_file"):
            return
        error = str(record.get("error", "error"))
        details = {"error": error}
        if "offset" in record:
            details["offset"] = record["offset"]
        if "reason" in record:
            details["reason"] = record["reason"]
        what = "is truncated or corrupt" if error == "FileFormatError" else "could not be read"
        self.finding("invalid_file", key, f"INVALID: {key} {what}: {record.get('message', error)}", **details)

    def cell_rules(self, key: str, cell: Mapping[str, Any]) -> None:
        rules, name = self.rules, str(cell["name"])
        if rules.on("empty_cells") and cell.get("empty"):
            self.finding("empty_cells", key, f"cell {name} has no elements", cell=name)
        if rules.on("cell_names"):
            pattern, max_length = rules.cell_name_pattern, rules.cell_name_max_length
            problems = []
            if pattern is not None and not pattern.search(name):
                problems.append(f"does not match {pattern.pattern}")
            if max_length is not None and len(name) > max_length:
                problems.append(f"is longer than {max_length} characters")
            if problems:
                self.finding("cell_names", key, f"cell name {name!r} {' and '.join(problems)}", cell=name)

    def hierarchy_rules(self, key: str, record: Mapping[str, Any]) -> None:
        rules = self.rules
        if rules.on("undefined_cells"):
            for name in record.get("undefined_cells", []):
                self.finding(
                    "undefined_cells", key, f"cell {name} is placed but not defined in the file", cell=name
                )
        tops = list(record.get("top_cells", []))
        if not rules.on("unreferenced_cells") or not tops:
            return
        pattern = rules.top_cell_pattern
        if pattern is not None:
            intended = [top for top in tops if pattern.search(top)]
            if not intended:
                self.finding(
                    "unreferenced_cells",
                    key,
                    f"no top cell matches {pattern.pattern} (top cells: {', '.join(tops)})",
                    top_cells=tops,
                )
        else:
            intended = [_largest_hierarchy(tops, record["cells"])]
        for top in tops:
            if top not in intended:
                self.finding(
                    "unreferenced_cells",
                    key,
                    f"cell {top} is referenced by no cell and is not the intended top "
                    f"({', '.join(intended) or '-'})",
                    cell=top,
                    intended_top=intended,
                )

    def layer_rules(self, key: str, record: Mapping[str, Any]) -> None:
        allowed = self.rules.allowed_layers
        if allowed is None or not self.rules.on("layer_map"):
            return
        used = {tuple(pair) for pair in record.get("layers", [])}
        if self.rules.include_text_layers:
            used |= {tuple(pair) for pair in record.get("text_layers", [])}
        outside = sorted(pair for pair in used if not any(spec.allows(pair[0], pair[1]) for spec in allowed))
        if outside:
            shown = ", ".join(f"{layer}/{datatype}" for layer, datatype in outside)
            self.finding(
                "layer_map",
                key,
                f"{len(outside)} layer(s) outside the layer map: {shown}",
                layers=[list(pair) for pair in outside],
            )

    def die_rules(self, key: str, record: Mapping[str, Any]) -> None:
        rules = self.rules
        max_width, max_height = rules.max_width_um, rules.max_height_um
        box = (record.get("bounding_box") or {}).get("um")
        if not rules.on("die_size") or box is None or (max_width is None and max_height is None):
            return
        width, height = box[2] - box[0], box[3] - box[1]
        if (max_width is not None and width > max_width) or (max_height is not None and height > max_height):
            self.finding(
                "die_size",
                key,
                f"bounding box {_um(width)} x {_um(height)} um exceeds the die limit "
                f"{_um(max_width)} x {_um(max_height)} um",
                width_um=round(width, 6),
                height_um=round(height, 6),
                max_width_um=max_width,
                max_height_um=max_height,
            )

    def cross_file_rules(self) -> None:
        rules = self.rules
        if rules.on("units") and self._units:
            if rules.expected_db_unit_m is not None:
                expected = {"db_unit_m": float(f"{rules.expected_db_unit_m:.{_UNIT_DIGITS}g}")}
            else:
                counts = Counter(units for _, units in self._units)
                db_unit, user_unit = min(counts, key=lambda units: (-counts[units], units))
                expected = {"db_unit_m": db_unit, "user_unit_m": user_unit}
            for key, (db_unit, user_unit) in self._units:
                actual = {"db_unit_m": db_unit, "user_unit_m": user_unit}
                if any(actual[name] != value for name, value in expected.items()):
                    self.finding(
                        "units",
                        key,
                        f"database unit {db_unit:g} m, user unit {user_unit:g} m differ from the set's "
                        + ", ".join(
                            f"{name.split('_')[0]} unit {value:g} m" for name, value in expected.items()
                        ),
                        db_unit_m=db_unit,
                        user_unit_m=user_unit,
                        expected=expected,
                    )
        if rules.on("duplicate_cells"):
            ignore = rules.duplicate_ignore
            for name, keys in self._defined.items():
                files = sorted(set(keys))
                if len(files) > 1 and not (ignore is not None and ignore.search(name)):
                    for key in files:
                        self.finding(
                            "duplicate_cells",
                            key,
                            f"cell {name} is also defined in {len(files) - 1} other file(s)",
                            cell=name,
                            files=files,
                        )

    def findings(self) -> list[dict[str, Any]]:
        """Every finding, sorted by severity, rule, file and cell (computed once)."""
        self.cross_file_rules()
        self._units.clear()
        self._defined.clear()
        rank = {severity: index for index, severity in enumerate(SEVERITIES)}
        self._findings.sort(
            key=lambda f: (rank[f["severity"]], f["rule"], f["key"], f.get("cell") or "", f["message"])
        )
        return self._findings


def _um(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _largest_hierarchy(tops: list[str], cells: Iterable[Mapping[str, Any]]) -> str:
    """The top cell with the most distinct cells below it (ties: larger area, then name)."""
    children = {cell["name"]: cell.get("children", []) for cell in cells}
    boxes = {cell["name"]: cell.get("bounding_box") for cell in cells}

    def below(top: str) -> int:
        seen: set[str] = set()
        stack = [top]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return len(seen)

    def area(top: str) -> float:
        box = boxes.get(top)
        return 0.0 if not box else float((box[2] - box[0]) * (box[3] - box[1]))

    return min(tops, key=lambda top: (-below(top), -area(top), top))


def summarize(findings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts of findings by severity and by rule."""
    by_severity: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    for finding in findings:
        by_severity[finding["severity"]] += 1
        by_rule[finding["rule"]] += 1
    return {
        "total": sum(by_severity.values()),
        "by_severity": {severity: by_severity[severity] for severity in SEVERITIES},
        "by_rule": dict(sorted(by_rule.items())),
    }
