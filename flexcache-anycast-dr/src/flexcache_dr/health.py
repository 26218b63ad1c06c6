"""Health of one member (the origin or a cache): ONTAP's view of it and a timed data-path probe.

An :class:`Observation` records facts, not verdicts: which checks passed and how long the canary
read took. Whether that is good enough (latency threshold, whether a cache cut off from its
origin may still serve) is decided later by :mod:`flexcache_dr.decision`, so a policy change
re-reads history without re-measuring.

Checks, all through ONTAP's REST API on the member's own cluster (field names and values as in
ONTAP's REST reference):

``svm``           ``GET /api/svm/svms?name=<svm>&fields=state`` → ``state == "running"``.
``volume``        ``GET /api/storage/volumes?name=<vol>&svm.name=<svm>&fields=state,flexcache_endpoint_type``
                  → ``state == "online"``; when ONTAP reports ``flexcache_endpoint_type`` it must be
                  ``cache`` for a cache and ``origin`` for the origin (a FlexCache is always a FlexGroup;
                  no ``style`` is checked).
``flexcache``     cache only: ``GET /api/storage/flexcache/flexcaches?name=<vol>&svm.name=<svm>`` with
                  ``fields=origins.state,origins.cluster.name,origins.cluster.uuid,origins.volume.name``
                  → the FlexCache exists.
``origin_link``   cache only: every ``origins[].state`` is ``online`` (ONTAP's values: error, mixed,
                  offline, online; ``origins.state`` is an expensive property, so it is asked for).
``cluster_peer``  cache only, when the origin is on another cluster (``origins[].cluster.uuid`` differs
                  from ``GET /api/cluster``'s ``uuid``): the peer whose ``remote.name`` (or ``name``) is the
                  origin cluster has ``status.state == "available"`` (``GET /api/cluster/peers``).
``probe``         a ranged GET of the canary object through the member's S3 Access Point, timed.

An ONTAP or S3 failure is an observation (a failed check with its reason), never an exception:
one unreachable cluster must not stop the other members' checks or the routing decision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from flexcache_dr.topology import Member, check_member_id
from shared.errors import InvalidInputError, PatternError
from shared.s3ap import read_range

CHECK_NAMES: Final = ("svm", "volume", "flexcache", "origin_link", "cluster_peer", "probe")
LINK_CHECKS: Final = frozenset({"origin_link", "cluster_peer"})
"""Checks that fail when a cache is cut off from its origin (FlexCache disconnected mode)."""
_REQUIRED_CHECKS: Final = frozenset({"svm", "volume", "probe"})
_RECORD_KEYS: Final = frozenset({"member_id", "observed_at", "run_id", "checks", "latency_ms", "details"})
_MAX_DETAIL: Final = 300


class OntapReader(Protocol):
    """The part of :class:`shared.ontap_client.OntapClient` the checks use."""

    def get(self, path: str, *, fields: Any = None, query: Any = None) -> dict[str, Any]: ...

    def get_collection(self, path: str, *, fields: Any = None, query: Any = None) -> Any: ...


def parse_timestamp(value: object, field: str) -> datetime:
    """An ISO 8601 timestamp with a UTC offset; naive or malformed timestamps are rejected."""
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be an ISO 8601 timestamp string, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(field, f"not an ISO 8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        raise InvalidInputError(field, f"timestamp without a UTC offset: {value!r}")
    return moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """UTC, microseconds, fixed width: ISO strings then sort as the instants they name."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _checks_of(checks: object, where: str) -> dict[str, bool]:
    if not isinstance(checks, Mapping) or not checks:
        raise InvalidInputError(f"{where}.checks", "must be a non-empty object of check name -> boolean")
    for name, passed in checks.items():
        if name not in CHECK_NAMES:
            raise InvalidInputError(
                f"{where}.checks", f"unknown check {name!r}; known: {', '.join(CHECK_NAMES)}"
            )
        if not isinstance(passed, bool):
            raise InvalidInputError(
                f"{where}.checks.{name}", f"must be true or false, got {type(passed).__name__} {passed!r}"
            )
    missing = sorted(_REQUIRED_CHECKS - set(checks))
    if missing:
        raise InvalidInputError(f"{where}.checks", f"missing check(s) {', '.join(missing)}")
    return {str(name): bool(passed) for name, passed in checks.items()}


def _latency_of(latency: object, where: str) -> float | None:
    if latency is None:
        return None
    if isinstance(latency, bool) or not isinstance(latency, int | float):
        raise InvalidInputError(
            f"{where}.latency_ms", f"must be a number of milliseconds or null, got {latency!r}"
        )
    if not (math.isfinite(latency) and latency >= 0):
        raise InvalidInputError(f"{where}.latency_ms", f"must be finite and >= 0, got {latency!r}")
    return float(latency)


@dataclass(frozen=True)
class Observation:
    """One health check of one member."""

    member_id: str
    observed_at: datetime
    run_id: str
    checks: Mapping[str, bool]
    latency_ms: float | None
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.observed_at.tzinfo is None:
            raise InvalidInputError("observed_at", "must carry a UTC offset")

    @property
    def all_checks_passed(self) -> bool:
        return all(self.checks.values()) and self.latency_ms is not None

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(name for name in CHECK_NAMES if self.checks.get(name) is False)

    @classmethod
    def from_record(cls, record: object, *, where: str = "health record") -> Observation:
        """Validate a stored record. Anything malformed is refused with the field it concerns:
        ``"true"`` is not a boolean, ``"12"`` is not a latency, a timestamp needs its offset."""
        if not isinstance(record, Mapping):
            raise InvalidInputError(where, f"must be an object, got {type(record).__name__}")
        unknown = sorted(set(record) - _RECORD_KEYS)
        if unknown:
            raise InvalidInputError(where, f"unknown key(s) {', '.join(unknown)}")
        for key in ("member_id", "observed_at", "run_id", "checks", "latency_ms"):
            if key not in record:
                raise InvalidInputError(f"{where}.{key}", "is missing")
        member_id = check_member_id(record["member_id"], f"{where}.member_id")
        observed_at = parse_timestamp(record["observed_at"], f"{where}.observed_at")
        run_id = record["run_id"]
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"{where}.run_id", f"must be a non-empty string, got {run_id!r}")
        checks = _checks_of(record["checks"], where)
        latency = _latency_of(record["latency_ms"], where)
        if checks["probe"] and latency is None:
            raise InvalidInputError(f"{where}.latency_ms", "a passed probe must have a latency")
        details = record.get("details", {})
        if not isinstance(details, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in details.items()
        ):
            raise InvalidInputError(f"{where}.details", "must be an object of check name -> reason text")
        return cls(
            member_id=member_id,
            observed_at=observed_at,
            run_id=run_id,
            checks=checks,
            latency_ms=latency,
            details=dict(details),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "observed_at": format_timestamp(self.observed_at),
            "run_id": self.run_id,
            "checks": dict(self.checks),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "details": dict(self.details),
        }

    def summary(self) -> dict[str, Any]:
        """What an audit record keeps as evidence: when, what failed and why, how fast."""
        return {
            "observed_at": format_timestamp(self.observed_at),
            "failed": list(self.failed_checks),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "details": {k: v for k, v in self.details.items() if k in self.failed_checks},
        }


@dataclass(frozen=True)
class ProbeSettings:
    canary_key: str
    canary_bytes: int


def _short(error: BaseException) -> str:
    text = error.message if isinstance(error, PatternError) else f"{type(error).__name__}: {error}"
    return text[:_MAX_DETAIL]


def _first(records: Any) -> dict[str, Any] | None:
    for record in records:
        return dict(record)
    return None


class _Checks:
    """Accumulates check results and the reason of each failure."""

    def __init__(self) -> None:
        self.results: dict[str, bool] = {}
        self.details: dict[str, str] = {}

    def set(self, name: str, passed: bool, detail: str = "") -> None:
        self.results[name] = passed
        if detail:
            self.details[name] = detail[:_MAX_DETAIL]


def _check_svm(member: Member, ontap: OntapReader, checks: _Checks) -> None:
    svm = _first(ontap.get_collection("/api/svm/svms", fields="name,state", query={"name": member.svm}))
    if svm is None:
        checks.set("svm", False, f"no SVM named {member.svm}")
        return
    state = svm.get("state")
    checks.set("svm", state == "running", "" if state == "running" else f"SVM state is {state!r}")


def _check_volume(member: Member, ontap: OntapReader, checks: _Checks) -> None:
    volume = _first(
        ontap.get_collection(
            "/api/storage/volumes",
            fields="name,state,flexcache_endpoint_type",
            query={"name": member.volume, "svm.name": member.svm},
        )
    )
    if volume is None:
        checks.set("volume", False, f"no volume {member.svm}:{member.volume}")
        return
    state = volume.get("state")
    endpoint_type = volume.get("flexcache_endpoint_type")
    if state != "online":
        checks.set("volume", False, f"volume state is {state!r}")
    elif endpoint_type is not None and endpoint_type != member.role:
        checks.set("volume", False, f"flexcache_endpoint_type is {endpoint_type!r}, expected {member.role!r}")
    else:
        checks.set("volume", True)


def _check_flexcache(member: Member, ontap: OntapReader, checks: _Checks) -> list[dict[str, Any]]:
    """The FlexCache and its origin relationships; returns ``origins[]`` for the peer check."""
    flexcache = _first(
        ontap.get_collection(
            "/api/storage/flexcache/flexcaches",
            fields="name,origins.state,origins.cluster.name,origins.cluster.uuid,origins.volume.name",
            query={"name": member.volume, "svm.name": member.svm},
        )
    )
    if flexcache is None:
        checks.set("flexcache", False, f"no FlexCache {member.svm}:{member.volume}")
        checks.set("origin_link", False, "no FlexCache, so no origin relationship")
        return []
    checks.set("flexcache", True)
    origins: list[dict[str, Any]] = list(flexcache.get("origins") or [])
    if not origins:
        checks.set("origin_link", False, "the FlexCache lists no origin")
        return []
    offline = [o.get("state") for o in origins if o.get("state") != "online"]
    checks.set("origin_link", not offline, "" if not offline else f"origin relationship state {offline[0]!r}")
    return origins


def _check_peers(origins: list[dict[str, Any]], ontap: OntapReader, checks: _Checks) -> None:
    local = ontap.get("/api/cluster", fields="name,uuid")
    remote = {
        str((o.get("cluster") or {}).get("name"))
        for o in origins
        if (o.get("cluster") or {}).get("uuid") not in (None, local.get("uuid"))
        and (o.get("cluster") or {}).get("name") not in (None, local.get("name"))
    }
    if not remote:
        return  # the origin is on this cluster: no peering involved
    peers = list(ontap.get_collection("/api/cluster/peers", fields="name,status.state,remote.name"))
    for cluster_name in sorted(remote):
        peer = next(
            (p for p in peers if cluster_name in ((p.get("remote") or {}).get("name"), p.get("name"))),
            None,
        )
        state = ((peer or {}).get("status") or {}).get("state")
        if state != "available":
            found = "no cluster peer" if peer is None else f"status.state is {state!r}"
            checks.set("cluster_peer", False, f"peer of origin cluster {cluster_name}: {found}")
            return
    checks.set("cluster_peer", True)


def _check_ontap(member: Member, ontap: OntapReader, checks: _Checks) -> None:
    _check_svm(member, ontap, checks)
    _check_volume(member, ontap, checks)
    if not member.is_origin:
        origins = _check_flexcache(member, ontap, checks)
        if origins:
            _check_peers(origins, ontap, checks)


def check_member(
    member: Member,
    *,
    ontap: Callable[[Member], OntapReader],
    s3: Callable[[Member], Any],
    probe: ProbeSettings,
    run_id: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    timer: Callable[[], float] = time.perf_counter,
) -> Observation:
    """Check ``member`` once; every failure becomes a failed check with its reason."""
    observed_at = now()
    checks = _Checks()
    try:
        _check_ontap(member, ontap(member), checks)
    except PatternError as err:
        reason = f"ONTAP REST failed: {_short(err)}"
        names = ("svm", "volume") if member.is_origin else ("svm", "volume", "flexcache", "origin_link")
        for name in names:
            if name not in checks.results:
                checks.set(name, False, reason)

    latency: float | None = None
    started = timer()
    try:
        data = read_range(member.access_point_alias, probe.canary_key, 0, probe.canary_bytes, s3=s3(member))
    except PatternError as err:
        checks.set("probe", False, f"canary read failed: {_short(err)}")
    else:
        elapsed = (timer() - started) * 1000.0
        if data:
            latency = elapsed
            checks.set("probe", True)
        else:
            checks.set("probe", False, f"canary object {probe.canary_key} is empty")
    return Observation(
        member_id=member.member_id,
        observed_at=observed_at,
        run_id=run_id,
        checks=checks.results,
        latency_ms=latency,
        details=checks.details,
    )
