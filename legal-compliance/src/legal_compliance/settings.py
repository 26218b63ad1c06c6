"""Each function's settings, read once from the environment its template gives it.

Handlers call ``<Settings>.from_env(os.environ)`` and pass the result to one domain function;
nothing else in the package reads the environment. Every value is validated here, so a
misconfigured stack fails its first invocation with an :class:`InvalidInputError` that names
the variable, not with a wrong audit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from legal_compliance.rules import RIGHTS_SCALE, SEVERITIES, RuleConfig
from shared.discovery import DiscoverySettings
from shared.errors import InvalidInputError
from shared.ontap_client import OntapSettings
from shared.s3ap import OutputLocation

_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RULE_LIST_RE: Final = re.compile(r"[a-z0-9_]+(?:,[a-z0-9_]+)*")
DEFAULT_MAX_EVENT_PATHS: Final = 1000


def _rule_ids(environ: Mapping[str, str], name: str) -> frozenset[str]:
    raw = environ.get(name, "").replace(" ", "")
    if raw and not _RULE_LIST_RE.fullmatch(raw):
        raise InvalidInputError(name, f"a comma-separated list of rule ids, got {raw!r}")
    return frozenset(part for part in raw.split(",") if part)


def _sensitive_prefixes(raw: str) -> list[str]:
    prefixes = []
    for part in raw.split(","):
        folder = part.strip().strip("/")
        if not folder:
            continue
        if any(ord(char) < 0x20 for char in folder) or ".." in folder.split("/"):
            raise InvalidInputError("SENSITIVE_PREFIXES", f"not a folder path: {part!r}")
        prefixes.append(folder + "/")
    return prefixes


def rule_config_from_env(environ: Mapping[str, str]) -> RuleConfig:
    """``ENABLED_RULES``/``DISABLED_RULES`` (rule ids), ``MINIMUM_SEVERITY``, and the rule
    parameters ``SENSITIVE_PREFIXES`` (comma-separated folders of the volume),
    ``BROAD_PRINCIPAL_MIN_RIGHTS`` and ``USER_ACCOUNT_PATTERN`` (a regular expression)."""
    minimum = environ.get("MINIMUM_SEVERITY", "").strip() or SEVERITIES[0]
    if minimum not in SEVERITIES:
        raise InvalidInputError("MINIMUM_SEVERITY", f"one of {', '.join(SEVERITIES)}, got {minimum!r}")
    params: dict[str, Any] = {}
    if environ.get("SENSITIVE_PREFIXES", "").strip():
        params["sensitive_prefixes"] = _sensitive_prefixes(environ["SENSITIVE_PREFIXES"])
    rights = environ.get("BROAD_PRINCIPAL_MIN_RIGHTS", "").strip()
    if rights:
        if rights not in RIGHTS_SCALE[1:]:
            raise InvalidInputError("BROAD_PRINCIPAL_MIN_RIGHTS", f"one of {', '.join(RIGHTS_SCALE[1:])}")
        params["broad_min_rights"] = rights
    pattern = environ.get("USER_ACCOUNT_PATTERN", "")
    if pattern.strip():
        try:
            re.compile(pattern)
        except re.error as err:
            raise InvalidInputError("USER_ACCOUNT_PATTERN", f"not a regular expression: {err}") from err
        params["user_account_pattern"] = pattern
    return RuleConfig(
        enabled=_rule_ids(environ, "ENABLED_RULES"),
        disabled=_rule_ids(environ, "DISABLED_RULES"),
        minimum_severity=minimum,
        params=params,
    )


def _output(environ: Mapping[str, str]) -> OutputLocation:
    bucket = environ.get("OUTPUT_BUCKET", "").strip()
    if not bucket:
        raise InvalidInputError("OUTPUT_BUCKET", "is not set")
    return OutputLocation(bucket, environ.get("OUTPUT_PREFIX", ""))


def _volume_uuid(environ: Mapping[str, str]) -> str:
    value = environ.get("VOLUME_UUID", "").strip()
    if not _UUID_RE.fullmatch(value):
        raise InvalidInputError("VOLUME_UUID", f"the volume's UUID, got {value!r}")
    return value


@dataclass(frozen=True)
class AuditDiscoverySettings:
    """Discovery: the shared listing settings, plus how FPolicy events are scoped."""

    listing: DiscoverySettings
    volume_uuid: str
    max_event_paths: int = DEFAULT_MAX_EVENT_PATHS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AuditDiscoverySettings:
        raw = environ.get("MAX_EVENT_PATHS", str(DEFAULT_MAX_EVENT_PATHS)).strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
            raise InvalidInputError("MAX_EVENT_PATHS", f"a whole number from 1 to 10000, got {raw!r}")
        return cls(DiscoverySettings.from_env(environ), _volume_uuid(environ), int(raw))


@dataclass(frozen=True)
class ContextSettings:
    ontap: OntapSettings
    volume_uuid: str
    output: OutputLocation
    rules: RuleConfig = field(default_factory=RuleConfig)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ContextSettings:
        return cls(
            OntapSettings.from_env(environ),
            _volume_uuid(environ),
            _output(environ),
            rule_config_from_env(environ),
        )


@dataclass(frozen=True)
class BatchSettings:
    ontap: OntapSettings
    output: OutputLocation
    rules: RuleConfig = field(default_factory=RuleConfig)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BatchSettings:
        return cls(OntapSettings.from_env(environ), _output(environ), rule_config_from_env(environ))


@dataclass(frozen=True)
class ReportSettings:
    output: OutputLocation
    rules: RuleConfig = field(default_factory=RuleConfig)
    bedrock_model_id: str | None = None
    table_rows: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReportSettings:
        model = environ.get("BEDROCK_MODEL_ID", "").strip() or None
        return cls(_output(environ), rule_config_from_env(environ), model)
