"""Settings of the handlers, read once per invocation from the environment the template sets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from flexcache_dr.decision import Policy
from flexcache_dr.health import ProbeSettings
from shared.errors import InvalidInputError
from shared.settings import required

ENVIRONMENTS: Final = ("development", "staging", "production")


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(name, f"must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise InvalidInputError(name, f"must be finite, got {raw!r}")
    return value


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(name, f"must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise InvalidInputError(name, f"must be from {low} to {high}, got {value}")
    return value


@dataclass(frozen=True)
class Tables:
    topology: str
    health: str
    routing: str
    audit: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Tables:
        return cls(
            topology=required(environ, "TOPOLOGY_TABLE"),
            health=required(environ, "HEALTH_TABLE"),
            routing=required(environ, "ROUTING_TABLE"),
            audit=required(environ, "AUDIT_TABLE"),
        )


def policy_from_env(environ: Mapping[str, str]) -> Policy:
    return Policy(
        strategy=environ.get("ROUTING_STRATEGY", "region_affinity").strip(),
        drain_after=_integer(environ, "DRAIN_AFTER_FAILURES", 3, 1, 100),
        restore_after=_integer(environ, "RESTORE_AFTER_SUCCESSES", 5, 1, 100),
        latency_threshold_ms=_number(environ, "LATENCY_THRESHOLD_MS", 500.0),
        stale_after_seconds=_number(environ, "STALE_AFTER_SECONDS", 900.0),
        cross_region_penalty_ms=_number(environ, "CROSS_REGION_PENALTY_MS", 50.0),
        latency_margin_ms=_number(environ, "LATENCY_MARGIN_MS", 10.0),
        disconnected_caches=environ.get("DISCONNECTED_CACHES", "drain").strip(),
    )


@dataclass(frozen=True)
class RoutingSettings:
    """What the topology loader, the decision and the drill share."""

    tables: Tables
    policy: Policy
    secret_prefix: str
    region: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RoutingSettings:
        return cls(
            tables=Tables.from_env(environ),
            policy=policy_from_env(environ),
            secret_prefix=environ.get("ONTAP_SECRET_PREFIX", "").strip(),
            region=environ.get("AWS_REGION") or None,
        )


@dataclass(frozen=True)
class HealthSettings:
    health_table: str
    retention: timedelta
    probe: ProbeSettings
    secret_prefix: str
    region: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HealthSettings:
        return cls(
            health_table=required(environ, "HEALTH_TABLE"),
            retention=timedelta(hours=_integer(environ, "HEALTH_RETENTION_HOURS", 48, 1, 24 * 90)),
            probe=ProbeSettings(
                canary_key=required(environ, "CANARY_KEY"),
                canary_bytes=_integer(environ, "CANARY_BYTES", 4096, 1, 1024 * 1024),
            ),
            secret_prefix=environ.get("ONTAP_SECRET_PREFIX", "").strip(),
            region=environ.get("AWS_REGION") or None,
        )


@dataclass(frozen=True)
class DrillSettings:
    routing: RoutingSettings
    environment: str
    output_bucket: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DrillSettings:
        environment = required(environ, "DEPLOYMENT_ENVIRONMENT")
        if environment not in ENVIRONMENTS:
            raise InvalidInputError("DEPLOYMENT_ENVIRONMENT", f"must be one of {', '.join(ENVIRONMENTS)}")
        return cls(
            routing=RoutingSettings.from_env(environ),
            environment=environment,
            output_bucket=required(environ, "OUTPUT_BUCKET"),
        )


@dataclass(frozen=True)
class DnsSettings:
    tables: Tables
    hosted_zone_id: str
    record_domain: str
    ttl: int
    secret_prefix: str
    region: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DnsSettings:
        return cls(
            tables=Tables.from_env(environ),
            hosted_zone_id=required(environ, "HOSTED_ZONE_ID"),
            record_domain=required(environ, "RECORD_DOMAIN").rstrip("."),
            ttl=_integer(environ, "RECORD_TTL", 60, 10, 86400),
            secret_prefix=environ.get("ONTAP_SECRET_PREFIX", "").strip(),
            region=environ.get("AWS_REGION") or None,
        )
