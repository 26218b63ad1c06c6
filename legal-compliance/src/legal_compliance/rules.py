"""The declarative rules engine: rules are data (``rules.json``), this module only evaluates them.

A rule names a **subject** (what it looks at), a **condition** over that subject's **facts**, and
what an auditor needs to act: ``id``, ``title``, ``severity``, ``rationale``, ``remediation``.

=============  ==========================================================================
subject        one per …                       facts
=============  ==========================================================================
``ace``        ACE of a file or folder         object_type, key, path, principal, access,
                                               inherited, rights, access_control
``object``     file or folder                  object_type, key, path, effective_style,
                                               security_style, dacl_protected,
                                               other_writable, mode_bits, owner, group
``share_acl``  share ACL entry                 share, share_path, principals, permission, type
``export_rule`` export policy rule             policy, index, clients, protocols, rw_granted,
                                               superuser_granted
``unreadable`` file whose security can't be    (none: the rule has no condition, it always
               read                            applies and cannot be disabled)
=============  ==========================================================================

Conditions combine ``all`` / ``any`` / ``not`` over leaves ``{"fact": <name>, <op>: <value>}``
with the operators ``eq``, ``in``, ``at_least`` (ordinal facts: ``rights`` from no_access to
full_control, ``permission`` from no_access to full_control), ``matches_any`` (case-insensitive
globs; on a list fact, any element), ``regex`` (case-insensitive search) and ``below_any``
(a volume-relative key strictly below one of the given prefixes). A value is a literal or
``{"param": <name>}``, one of the catalogue's ``params``, which deployment parameters override
(sensitive prefixes, the minimum rights of a broad principal, the user-naming pattern …).

Adding a rule is adding an entry to ``rules.json`` (or to a document given to
:meth:`RuleSet.from_document`): the catalogue is validated when loaded (subjects, facts,
operators, parameter names, ordinal values, regular expressions), so a mistake fails the
first invocation with :class:`~shared.errors.InvalidInputError` instead of silently matching
nothing. No handler or engine change is needed.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final

from shared.errors import InvalidInputError

SEVERITIES: Final = ("low", "medium", "high", "critical")
RIGHTS_SCALE: Final = ("no_access", "read", "read_and_execute", "write", "modify", "full_control")
SHARE_PERMISSION_SCALE: Final = ("no_access", "read", "change", "full_control")
UNREADABLE: Final = "unreadable"

# Fact kinds: "str", "bool", "int", "list" (of str), "key" (volume-relative path) or an ordinal scale.
_SCALES: Final[Mapping[str, tuple[str, ...]]] = {
    "rights": RIGHTS_SCALE,
    "share_permission": SHARE_PERMISSION_SCALE,
}
FACTS: Final[Mapping[str, Mapping[str, str]]] = {
    "ace": {
        "object_type": "str",
        "key": "key",
        "path": "str",
        "principal": "str",
        "access": "str",
        "inherited": "bool",
        "rights": "rights",
        "access_control": "str",
    },
    "object": {
        "object_type": "str",
        "key": "key",
        "path": "str",
        "effective_style": "str",
        "security_style": "str",
        "dacl_protected": "bool",
        "other_writable": "bool",
        "mode_bits": "int",
        "owner": "str",
        "group": "str",
    },
    "share_acl": {
        "share": "str",
        "share_path": "str",
        "principals": "list",
        "permission": "share_permission",
        "type": "str",
    },
    "export_rule": {
        "policy": "str",
        "index": "int",
        "clients": "list",
        "protocols": "list",
        "rw_granted": "bool",
        "superuser_granted": "bool",
    },
    UNREADABLE: {},
}
SUBJECTS: Final = tuple(FACTS)
_OPERATORS: Final = ("eq", "in", "at_least", "matches_any", "regex", "below_any")
_RULE_ID_RE: Final = re.compile(r"[a-z][a-z0-9_]{1,62}")

Facts = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """One rule of the catalogue; ``when`` is its condition as written in the data."""

    id: str
    title: str
    severity: str
    subject: str
    rationale: str
    remediation: str
    when: Mapping[str, Any] | None = None
    enabled: bool = True
    locked: bool = False
    predicate: Callable[[Facts], bool] = field(default=lambda facts: True, compare=False, repr=False)


@dataclass(frozen=True)
class RuleConfig:
    """How a deployment tunes the catalogue, from its parameters.

    ``enabled``/``disabled`` name rules to switch on or off, ``minimum_severity`` drops rules
    below it (the ``unreadable`` rule is locked: always on, never dropped), ``params`` override
    the catalogue's parameters by name.
    """

    enabled: frozenset[str] = frozenset()
    disabled: frozenset[str] = frozenset()
    minimum_severity: str = SEVERITIES[0]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleSet:
    """The active rules with their resolved parameters, ready to evaluate subjects."""

    rules: tuple[Rule, ...]
    params: Mapping[str, Any]
    catalogue: tuple[Rule, ...] = ()
    _by_subject: Mapping[str, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped = {subject: tuple(r for r in self.rules if r.subject == subject) for subject in SUBJECTS}
        object.__setattr__(self, "_by_subject", grouped)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], config: RuleConfig | None = None) -> RuleSet:
        """Validate a catalogue document and apply ``config`` to it."""
        config = config or RuleConfig()
        if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
            raise InvalidInputError("rules", "a rule catalogue is an object with a 'rules' list")
        params = dict(document.get("params") or {})
        unknown_params = sorted(set(config.params) - set(params))
        if unknown_params:
            raise InvalidInputError("rule_params", f"no such rule parameter(s): {', '.join(unknown_params)}")
        params.update(config.params)
        catalogue = tuple(_parse_rule(raw, params) for raw in document["rules"])
        ids = [rule.id for rule in catalogue]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise InvalidInputError("rules", f"duplicate rule id(s): {', '.join(duplicates)}")
        if UNREADABLE not in ids:
            raise InvalidInputError("rules", f"the catalogue must define the {UNREADABLE!r} rule")
        for name, wanted in (("enabled_rules", config.enabled), ("disabled_rules", config.disabled)):
            unknown = sorted(wanted - set(ids))
            if unknown:
                raise InvalidInputError(
                    name, f"no such rule(s): {', '.join(unknown)}; known: {', '.join(ids)}"
                )
        both = sorted(config.enabled & config.disabled)
        if both:
            raise InvalidInputError("disabled_rules", f"rule(s) both enabled and disabled: {', '.join(both)}")
        if config.minimum_severity not in SEVERITIES:
            raise InvalidInputError("minimum_severity", f"one of {', '.join(SEVERITIES)}")
        floor = SEVERITIES.index(config.minimum_severity)
        active = []
        for rule in catalogue:
            if rule.locked:
                if rule.id in config.disabled:
                    raise InvalidInputError("disabled_rules", f"rule {rule.id!r} cannot be disabled")
                active.append(rule)
                continue
            on = (rule.enabled or rule.id in config.enabled) and rule.id not in config.disabled
            if on and SEVERITIES.index(rule.severity) >= floor:
                active.append(rule)
        return cls(tuple(active), params, catalogue)

    def rule(self, rule_id: str) -> Rule:
        """A rule of the catalogue by id, active or not."""
        for rule in self.catalogue or self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def for_subject(self, subject: str) -> tuple[Rule, ...]:
        return self._by_subject.get(subject, ())

    def matching(self, subject: str, facts: Facts) -> list[Rule]:
        """The active rules of ``subject`` whose condition holds for ``facts``."""
        return [rule for rule in self._by_subject.get(subject, ()) if rule.predicate(facts)]


@cache
def _shipped_document() -> Mapping[str, Any]:
    text = resources.files("legal_compliance").joinpath("rules.json").read_text(encoding="utf-8")
    document: Mapping[str, Any] = json.loads(text)
    return document


def default_rules(config: RuleConfig | None = None) -> RuleSet:
    """The shipped catalogue (``rules.json``) tuned by ``config``."""
    return RuleSet.from_document(_shipped_document(), config)


# --- parsing and validation ------------------------------------------------------------------------


def _parse_rule(raw: Any, params: Mapping[str, Any]) -> Rule:
    if not isinstance(raw, Mapping):
        raise InvalidInputError("rules", f"a rule is an object, got {raw!r}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID_RE.fullmatch(rule_id):
        raise InvalidInputError("rules", f"rule id {rule_id!r}: lowercase letters, digits and '_'")
    where = f"rule {rule_id}"
    for name in ("title", "rationale", "remediation"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise InvalidInputError("rules", f"{where}: {name} is required")
    severity, subject = raw.get("severity"), raw.get("subject")
    if not isinstance(severity, str) or severity not in SEVERITIES:
        raise InvalidInputError(
            "rules", f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}"
        )
    if not isinstance(subject, str) or subject not in FACTS:
        raise InvalidInputError("rules", f"{where}: subject {subject!r} is not one of {', '.join(SUBJECTS)}")
    when = raw.get("when")
    predicate: Callable[[Facts], bool] = _always
    if subject == UNREADABLE:
        if when is not None:
            raise InvalidInputError("rules", f"{where}: the {UNREADABLE} subject takes no condition")
    else:
        if not isinstance(when, Mapping):
            raise InvalidInputError("rules", f"{where}: 'when' (a condition) is required")
        predicate = _compile(when, FACTS[subject], params, where)
    enabled, locked = raw.get("enabled", True), raw.get("locked", False)
    if not isinstance(enabled, bool) or not isinstance(locked, bool):
        raise InvalidInputError("rules", f"{where}: enabled and locked are booleans")
    return Rule(
        id=rule_id,
        title=raw["title"],
        severity=severity,
        subject=subject,
        rationale=raw["rationale"],
        remediation=raw["remediation"],
        when=when,
        enabled=enabled,
        locked=locked,
        predicate=predicate,
    )


def _always(facts: Facts) -> bool:
    return True


def _compile(
    node: Mapping[str, Any], facts: Mapping[str, str], params: Mapping[str, Any], where: str
) -> Callable[[Facts], bool]:
    """Validate a condition and turn it into a predicate over a subject's facts."""
    if "all" in node or "any" in node:
        key = "all" if "all" in node else "any"
        children = node[key]
        if len(node) != 1 or not isinstance(children, list) or not children:
            raise InvalidInputError("rules", f"{where}: '{key}' takes a non-empty list and nothing else")
        for child in children:
            if not isinstance(child, Mapping):
                raise InvalidInputError("rules", f"{where}: conditions are objects, got {child!r}")
        parts = [_compile(child, facts, params, where) for child in children]
        if key == "all":
            return lambda values: all(part(values) for part in parts)
        return lambda values: any(part(values) for part in parts)
    if "not" in node:
        if len(node) != 1 or not isinstance(node["not"], Mapping):
            raise InvalidInputError("rules", f"{where}: 'not' takes one condition")
        inner = _compile(node["not"], facts, params, where)
        return lambda values: not inner(values)
    fact = node.get("fact")
    if not isinstance(fact, str) or fact not in facts:
        raise InvalidInputError("rules", f"{where}: unknown fact {fact!r} (known: {', '.join(facts)})")
    operators = [name for name in node if name != "fact"]
    if len(operators) != 1 or operators[0] not in _OPERATORS:
        raise InvalidInputError("rules", f"{where}: fact {fact} needs exactly one of {', '.join(_OPERATORS)}")
    operator = operators[0]
    value = _resolve(node[operator], params, where)
    test = _leaf(operator, facts[fact], value, f"{where}: {fact} {operator}")

    def leaf(values: Facts) -> bool:
        actual = values.get(fact)
        return actual is not None and test(actual)

    return leaf


def _leaf(operator: str, kind: str, value: Any, where: str) -> Callable[[Any], bool]:
    """The test one leaf applies to a fact's value (never None: a missing fact does not match)."""
    if operator == "eq":
        return lambda actual: bool(actual == value)
    if operator == "at_least":
        scale = _SCALES.get(kind)
        if scale is None:
            raise InvalidInputError("rules", f"{where}: at_least needs an ordinal fact")
        if value not in scale:
            raise InvalidInputError("rules", f"{where}: {value!r} is not one of {', '.join(scale)}")
        floor = scale.index(value)
        return lambda actual: actual in scale and scale.index(actual) >= floor
    if operator == "regex":
        if not isinstance(value, str):
            raise InvalidInputError("rules", f"{where}: expects a regular expression string")
        try:
            pattern = _compiled(value)
        except re.error as err:
            raise InvalidInputError("rules", f"{where}: invalid regular expression {value!r}: {err}") from err
        return lambda actual: isinstance(actual, str) and pattern.search(actual) is not None
    if not isinstance(value, list) or not all(isinstance(item, str | bool | int) for item in value):
        raise InvalidInputError("rules", f"{where}: expects a list, got {value!r}")
    if operator == "in":
        allowed = tuple(value)
        return lambda actual: actual in allowed
    if operator == "below_any":
        if kind != "key":
            raise InvalidInputError("rules", f"{where}: below_any applies to the key fact")
        prefixes = tuple(str(item) for item in value)
        return lambda actual: isinstance(actual, str) and below_any(actual, prefixes)
    globs = tuple(str(item) for item in value)  # matches_any
    return lambda actual: matches_any_glob(actual if isinstance(actual, list | tuple) else [actual], globs)


def _resolve(value: Any, params: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, Mapping):
        name = value.get("param")
        if len(value) != 1 or not isinstance(name, str):
            raise InvalidInputError("rules", f'{where}: a value is a literal or {{"param": <name>}}')
        if name not in params:
            raise InvalidInputError("rules", f"{where}: unknown parameter {name!r}")
        return params[name]
    return value


# --- evaluation ----------------------------------------------------------------------------------


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.casefold()))


def matches_any_glob(values: Iterable[str], patterns: Sequence[str]) -> bool:
    """True when one of ``values`` matches one of the glob ``patterns``, ignoring case."""
    folded = [value.casefold() for value in values if isinstance(value, str) and value]
    return any(_glob(pattern).match(value) for pattern in patterns for value in folded)


def below_any(key: str, prefixes: Sequence[str]) -> bool:
    """True when the volume-relative ``key`` lies strictly below one of ``prefixes`` (folders)."""
    path = key.strip("/")
    for prefix in prefixes:
        folder = prefix.strip("/")
        if folder and path.startswith(folder + "/"):
            return True
    return False
