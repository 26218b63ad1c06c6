"""ONTAP's collection query language, applied to records held in memory.

* ``fields=a,b.c`` selects members; ``*`` and ``**`` select everything. Without ``fields`` a
  collection returns only each record's identity (e.g. ``uuid`` and ``name``) and ``_links``;
  identity members and the members a query filters on are always returned.
* Any other parameter filters on a dotted field: ``svm.name=vs1``, ``name=vol*`` (``*`` is a
  wildcard), ``state=online|offline`` (alternatives), ``!offline`` (negation), ``<``/``>``/``<=``/
  ``>=`` on numbers, ``null``/``!null``. A filter on a member inside an array matches when any
  element matches (``acls.user_or_group=Everyone``). Matching is case-sensitive.
* ``order_by=name desc,size`` sorts; ``max_records`` pages; ``return_records=false`` counts only.

Paging is keyset-based: records are ordered by (``order_by`` members…, identity) and the
``_links.next`` href carries ``start.key``, an opaque token naming the first record of the next page,
so following it returns the remaining records even if records were added meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import copy
import fnmatch
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

JsonDict = dict[str, Any]

# Parameters that control the response rather than filter records.
CONTROL_PARAMETERS = frozenset(
    {"fields", "max_records", "return_records", "return_timeout", "order_by", "start.key"}
)
_MISSING = object()


class QueryError(ValueError):
    """A malformed query parameter: ONTAP answers 400 with code 2 and the parameter as target."""

    def __init__(self, message: str, target: str) -> None:
        super().__init__(message)
        self.message = message
        self.target = target


@dataclass
class Query:
    fields: list[str] | None = None
    filters: list[tuple[str, str]] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    max_records: int | None = None
    return_records: bool = True
    start_key: list[Any] | None = None
    passthrough: list[tuple[str, str]] = field(default_factory=list)  # echoed into _links.next

    @property
    def wants_everything(self) -> bool:
        return self.fields is not None and bool({"*", "**"} & set(self.fields))

    @classmethod
    def parse(cls, pairs: Sequence[tuple[str, str]]) -> Query:
        query = cls()
        for name, value in pairs:
            if name != "start.key":
                query.passthrough.append((name, value))
            if name == "fields":
                query.fields = (query.fields or []) + [
                    part.strip() for part in value.split(",") if part.strip()
                ]
            elif name == "max_records":
                query.max_records = _positive_int(value, name)
            elif name == "return_records":
                query.return_records = _boolean(value, name)
            elif name == "order_by":
                query.order_by += [_order_term(term) for term in value.split(",") if term.strip()]
            elif name == "start.key":
                query.start_key = _decode_key(value)
            elif name not in CONTROL_PARAMETERS:
                query.filters.append((name, value))
        return query


def _positive_int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise QueryError(f'"{value}" is an invalid value for field "{name}"', name)
    return number


def _boolean(value: str, name: str) -> bool:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise QueryError(f'"{value}" is an invalid value for field "{name}"', name)


def _order_term(term: str) -> tuple[str, bool]:
    parts = term.split()
    descending = len(parts) > 1 and parts[1].lower() == "desc"
    return parts[0], descending


# --- reading dotted paths ----------------------------------------------------------------------


def values_at(record: Any, dotted: str) -> list[Any]:
    """Every value at ``dotted`` in ``record``, descending into arrays (empty when absent)."""
    current = [record]
    for part in dotted.split("."):
        following: list[Any] = []
        for value in current:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and part in item:
                    following.append(item[part])
        current = following
    flattened: list[Any] = []
    for value in current:
        flattened.extend(value if isinstance(value, list) else [value])
    return flattened


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _matches_one(value: Any, pattern: str) -> bool:
    for operator in ("<=", ">=", "<", ">"):
        if pattern.startswith(operator) and isinstance(value, int | float) and not isinstance(value, bool):
            try:
                bound = float(pattern[len(operator) :])
            except ValueError:
                return False
            return {
                "<=": value <= bound,
                ">=": value >= bound,
                "<": value < bound,
                ">": value > bound,
            }[operator]
    if "*" in pattern:
        return fnmatch.fnmatchcase(_text(value), pattern.replace("[", "[[]").replace("?", "[?]"))
    return _text(value) == pattern


def matches(record: JsonDict, dotted: str, expression: str) -> bool:
    """ONTAP filter semantics for one ``field=expression`` pair."""
    found = values_at(record, dotted)
    for alternative in expression.split("|"):
        negated = alternative.startswith("!")
        pattern = alternative[1:] if negated else alternative
        hit = not found if pattern == "null" else any(_matches_one(value, pattern) for value in found)
        if hit != negated:
            return True
    return False


# --- field projection --------------------------------------------------------------------------


def _project(value: Any, parts: list[str]) -> Any:
    if not parts:
        return copy.deepcopy(value)
    if isinstance(value, list):
        return [_project(item, parts) for item in value]
    if isinstance(value, dict):
        if parts[0] not in value:
            return {}
        return {parts[0]: _project(value[parts[0]], parts[1:])}
    return _MISSING


def _merge(left: Any, right: Any) -> Any:
    if isinstance(left, dict) and isinstance(right, dict):
        merged = dict(left)
        for key, value in right.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [_merge(a, b) for a, b in zip(left, right, strict=True)]
    return right


def project(record: JsonDict, paths: Iterable[str]) -> JsonDict:
    """Only the members at ``paths`` (plus ``_links``), keeping their nesting."""
    selected: JsonDict = {}
    for dotted in paths:
        part = _project(record, dotted.split("."))
        if isinstance(part, dict):
            selected = _merge(selected, part)
    if "_links" in record:
        selected["_links"] = copy.deepcopy(record["_links"])
    return selected


def select(record: JsonDict, query: Query, identity: Sequence[str], *, full_by_default: bool) -> JsonDict:
    """Apply ``fields`` to one record: a collection member or a single GET."""
    if query.wants_everything or (query.fields is None and full_by_default):
        return copy.deepcopy(record)
    asked = [*identity, *(query.fields or []), *(name for name, _ in query.filters)]
    return project(record, asked)


# --- ordering and paging -----------------------------------------------------------------------


def _sortable(value: Any) -> list[Any]:
    if value is None:
        return [0, ""]
    if isinstance(value, bool | int | float):
        return [1, float(value)]
    return [2, json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)]


def _encode_key(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_key(token: str) -> list[Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as error:
        raise QueryError(f'"{token}" is an invalid value for field "start.key"', "start.key") from error
    if not isinstance(decoded, list):
        raise QueryError(f'"{token}" is an invalid value for field "start.key"', "start.key")
    return decoded


@dataclass
class Page:
    records: list[JsonDict]
    total: int
    next_href: str | None


def paginate(
    records: list[JsonDict],
    query: Query,
    identity: Sequence[str],
    base_href: str,
) -> Page:
    """Filter, order and cut one page of ``records`` (full records; projection happens later)."""
    kept = [r for r in records if all(matches(r, name, value) for name, value in query.filters)]
    terms = [*query.order_by, *((name, False) for name in identity)]

    def key_of(record: JsonDict) -> list[Any]:
        return [_sortable(next(iter(values_at(record, name)), None)) for name, _ in terms]

    ordered = sorted(kept, key=lambda record: _SortKey(key_of(record), terms))
    start = 0
    if query.start_key is not None:
        resume = _SortKey(query.start_key, terms)
        try:
            start = next(
                (i for i, r in enumerate(ordered) if not _SortKey(key_of(r), terms) < resume), len(ordered)
            )
        except (TypeError, ValueError) as error:  # a token from another query or hand-made
            raise QueryError("the start.key token does not belong to this query", "start.key") from error
    end = len(ordered) if query.max_records is None else start + query.max_records
    next_href = None
    if end < len(ordered):
        pairs = [*query.passthrough, ("start.key", _encode_key(key_of(ordered[end])))]
        next_href = f"{base_href}?{urlencode(pairs)}"
    return Page(ordered[start:end], len(kept), next_href)


class _SortKey:
    """A sort key honouring per-term direction (``sorted(reverse=…)`` cannot mix directions)."""

    def __init__(self, key: list[Any], terms: list[tuple[str, bool]]) -> None:
        self.key = key
        self.terms = terms

    def __lt__(self, other: _SortKey) -> bool:
        for (_, descending), a, b in zip(self.terms, self.key, other.key, strict=True):
            if a != b:
                return bool((a > b) if descending else (a < b))
        return False
