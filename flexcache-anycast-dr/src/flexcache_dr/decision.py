"""The route decision: a pure, deterministic function of topology, recent health and policy.

:func:`decide` reads no clock, no environment and no AWS: the same inputs give the same routes on
every machine (hashes are SHA-256, never Python's salted ``hash``; every tie has a stated
tie-break). It works in two steps.

**1. Members (hysteresis).** Each member is ``in_service`` or ``drained``. Only observations made
after the member's last transition (``since``) count:

* ``in_service`` → ``drained`` after ``drain_after`` (N) consecutive failed checks;
* ``drained`` → ``in_service`` after ``restore_after`` (M) consecutive passed checks;
* a member whose newest observation is older than ``stale_after_seconds`` (or that was never
  observed) is ``drained``: no evidence is not good evidence;
* a member seen for the first time takes the verdict of its newest observation.

A check *passes* when every ONTAP check passed, the canary probe answered, and its latency is at
most ``latency_threshold_ms``. With ``disconnected_caches="serve"`` a cache whose origin
relationship or cluster peer is down still passes (FlexCache disconnected mode serves what it has
cached, possibly stale); with ``"drain"`` (the default) it fails.

**2. Routes, per client region**, first rule that applies:

1. an active operator override, if its target is in service (a pin to a drained path is ignored,
   and says so, until the path is restored or the pin expires);
2. the client region hosts the origin and the origin is in service → the origin (nearest copy);
3. the strategy, over in-service caches:
   ``region_affinity`` a cache in the client's region (priority, then member id);
   ``priority``        lowest priority number, same-region first, then member id;
   ``latency``         lowest median probe latency + ``cross_region_penalty_ms`` when the cache is in
                       another region; the current cache is kept unless another is better by more
                       than ``latency_margin_ms`` (no flapping on jitter); ties by priority, member id;
   ``weighted``        weighted rendezvous hashing (highest random weight) of (client region, cache)
                       over caches with weight > 0: a client region keeps its cache when any *other*
                       cache is drained, restored or re-weighted, unless it is that cache that now wins;
4. the origin, if in service (the fallback);
5. last resort, the origin being drained: any in-service cache (priority, same-region first,
   member id) — e.g. a remote cache under ``region_affinity``, a weight-0 standby under ``weighted``;
6. no route: nothing is in service, the region is *critical*.

So a drained path is never chosen, whatever the strategy or override, and a region has no route
only when no path at all is in service.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from flexcache_dr.health import LINK_CHECKS, Observation, format_timestamp, parse_timestamp
from flexcache_dr.topology import Member, Topology
from shared.errors import InvalidInputError

STRATEGIES: Final = ("latency", "region_affinity", "weighted", "priority")
IN_SERVICE: Final = "in_service"
DRAINED: Final = "drained"
MEMBER_STATES: Final = (IN_SERVICE, DRAINED)
DISCONNECTED_POLICIES: Final = ("drain", "serve")
_EVIDENCE_OBSERVATIONS: Final = 5


def _positive_int(value: object, field: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInputError(field, f"must be an integer from 1 to {high}, got {value!r}")
    return value


def _non_negative(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInputError(field, f"must be a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Policy:
    """How health becomes routes; every field comes from a template parameter."""

    strategy: str = "region_affinity"
    drain_after: int = 3
    restore_after: int = 5
    latency_threshold_ms: float = 500.0
    stale_after_seconds: float = 900.0
    cross_region_penalty_ms: float = 50.0
    latency_margin_ms: float = 10.0
    disconnected_caches: str = "drain"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InvalidInputError(
                "strategy", f"must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
        _positive_int(self.drain_after, "drain_after", 100)
        _positive_int(self.restore_after, "restore_after", 100)
        if _non_negative(self.latency_threshold_ms, "latency_threshold_ms") == 0:
            raise InvalidInputError("latency_threshold_ms", "must be greater than 0")
        if _non_negative(self.stale_after_seconds, "stale_after_seconds") == 0:
            raise InvalidInputError("stale_after_seconds", "must be greater than 0")
        _non_negative(self.cross_region_penalty_ms, "cross_region_penalty_ms")
        _non_negative(self.latency_margin_ms, "latency_margin_ms")
        if self.disconnected_caches not in DISCONNECTED_POLICIES:
            raise InvalidInputError(
                "disconnected_caches", f"must be 'drain' or 'serve', got {self.disconnected_caches!r}"
            )

    @property
    def history_size(self) -> int:
        """Observations per member a decision needs: enough to see N or M in a row, and a median."""
        return max(self.drain_after, self.restore_after, _EVIDENCE_OBSERVATIONS)

    def passes(self, observation: Observation) -> bool:
        for name, passed in observation.checks.items():
            if not passed and not (name in LINK_CHECKS and self.disconnected_caches == "serve"):
                return False
        latency = observation.latency_ms
        return latency is not None and latency <= self.latency_threshold_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "drain_after": self.drain_after,
            "restore_after": self.restore_after,
            "latency_threshold_ms": self.latency_threshold_ms,
            "stale_after_seconds": self.stale_after_seconds,
            "cross_region_penalty_ms": self.cross_region_penalty_ms,
            "latency_margin_ms": self.latency_margin_ms,
            "disconnected_caches": self.disconnected_caches,
        }


@dataclass(frozen=True)
class MemberState:
    """A member's published hysteresis state and when it was entered."""

    state: str
    since: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        if self.state not in MEMBER_STATES:
            raise InvalidInputError("state", f"must be in_service or drained, got {self.state!r}")

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, where: str) -> MemberState:
        state = record.get("state")
        if state not in MEMBER_STATES:
            raise InvalidInputError(f"{where}.state", f"must be in_service or drained, got {state!r}")
        reason = record.get("reason", "")
        if not isinstance(reason, str):
            raise InvalidInputError(f"{where}.reason", "must be a string")
        return cls(str(state), parse_timestamp(record.get("since"), f"{where}.since"), reason)


@dataclass(frozen=True)
class Override:
    """An operator's pin of a client region to one member until ``expires_at``."""

    client_region: str
    target: str
    expires_at: datetime
    reason: str
    actor: str
    created_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.expires_at > now

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_region": self.client_region,
            "target": self.target,
            "expires_at": format_timestamp(self.expires_at),
            "reason": self.reason,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class Assessment:
    """A member's state after this decision, with the counts and observations behind it."""

    member_id: str
    state: str
    since: datetime
    previous: str | None
    reason: str
    consecutive_failures: int
    consecutive_passes: int
    latency_ms: float | None
    evidence: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    @property
    def changed(self) -> bool:
        return self.previous != self.state

    @property
    def in_service(self) -> bool:
        return self.state == IN_SERVICE

    def to_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "state": self.state,
            "since": format_timestamp(self.since),
            "previous": self.previous,
            "reason": self.reason,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_passes": self.consecutive_passes,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
        }


@dataclass(frozen=True)
class Route:
    """The read path of one client region: a member id, or None when no path is usable."""

    target: str | None
    reason: str
    override: bool = False


@dataclass(frozen=True)
class Decision:
    members: Mapping[str, Assessment]
    routes: Mapping[str, Route]

    @property
    def critical_regions(self) -> tuple[str, ...]:
        return tuple(sorted(region for region, route in self.routes.items() if route.target is None))


# --- step 1: members ----------------------------------------------------------------------------


def _leading(observations: Sequence[Observation], policy: Policy, passed: bool) -> int:
    count = 0
    for observation in observations:
        if policy.passes(observation) != passed:
            break
        count += 1
    return count


def _describe_failures(observation: Observation) -> str:
    failed = list(observation.failed_checks)
    if observation.latency_ms is not None and not failed:
        return f"latency {observation.latency_ms:.0f} ms"
    parts = [
        f"{name} ({observation.details[name]})" if name in observation.details else name for name in failed
    ]
    return ", ".join(parts) or "probe"


def _assess(
    member: Member,
    observations: Sequence[Observation],
    previous: MemberState | None,
    policy: Policy,
    now: datetime,
) -> Assessment:
    newest_first = sorted(observations, key=lambda o: (o.observed_at, o.run_id), reverse=True)
    relevant = [o for o in newest_first if previous is None or o.observed_at > previous.since]
    failures = _leading(relevant, policy, passed=False)
    passes = _leading(relevant, policy, passed=True)
    latencies = [o.latency_ms for o in newest_first if o.latency_ms is not None and policy.passes(o)]
    latency = statistics.median(latencies) if latencies else None
    evidence = tuple(o.summary() for o in newest_first[:_EVIDENCE_OBSERVATIONS])
    prior = previous.state if previous is not None else None
    newest = newest_first[0] if newest_first else None

    if newest is None:
        state, reason = DRAINED, "never observed"
    elif (now - newest.observed_at).total_seconds() > policy.stale_after_seconds:
        state = DRAINED
        reason = (
            f"no observation since {format_timestamp(newest.observed_at)} "
            f"(stale after {policy.stale_after_seconds:g} s)"
        )
    elif previous is None:
        if policy.passes(newest):
            state, reason = IN_SERVICE, "first assessment: latest check passed"
        else:
            state, reason = DRAINED, f"first assessment: latest check failed: {_describe_failures(newest)}"
    elif previous.state == IN_SERVICE and failures >= policy.drain_after:
        state = DRAINED
        reason = (
            f"{failures} consecutive failed checks (drain after {policy.drain_after}): "
            f"{_describe_failures(newest)}"
        )
    elif previous.state == DRAINED and passes >= policy.restore_after:
        state = IN_SERVICE
        reason = f"{passes} consecutive passed checks (restore after {policy.restore_after})"
    else:
        state, reason = previous.state, previous.reason
    since = now if state != prior or previous is None else previous.since
    return Assessment(
        member_id=member.member_id,
        state=state,
        since=since,
        previous=prior,
        reason=reason,
        consecutive_failures=failures,
        consecutive_passes=passes,
        latency_ms=latency,
        evidence=evidence,
    )


# --- step 2: routes -----------------------------------------------------------------------------


def rendezvous_score(client_region: str, member_id: str, weight: int) -> float:
    """Weighted highest-random-weight score: ``weight / -ln(u)``, u uniform in (0, 1) from SHA-256."""
    digest = hashlib.sha256(f"{client_region}\x1f{member_id}".encode()).digest()
    unit = (int.from_bytes(digest[:8], "big") + 0.5) / 2.0**64
    return weight / -math.log(unit)


def _by_priority(region: str, caches: Sequence[Member]) -> list[Member]:
    return sorted(caches, key=lambda c: (c.priority, c.region != region, c.member_id))


Pick = tuple[Member, str] | None


@dataclass(frozen=True)
class _Choice:
    """What a strategy chooses from: one client region's in-service caches and their context."""

    region: str
    caches: Sequence[Member]
    assessments: Mapping[str, Assessment]
    current: str | None
    policy: Policy


def _pick_region_affinity(choice: _Choice) -> Pick:
    local = _by_priority(choice.region, [c for c in choice.caches if c.region == choice.region])
    return (local[0], f"region affinity: in-service cache in {choice.region}") if local else None


def _pick_priority(choice: _Choice) -> Pick:
    ranked = _by_priority(choice.region, choice.caches)
    return (ranked[0], f"priority {ranked[0].priority}: best in-service cache") if ranked else None


def _pick_weighted(choice: _Choice) -> Pick:
    weighted = [c for c in choice.caches if c.weight > 0]
    if not weighted:
        return None
    best = min(weighted, key=lambda c: (-rendezvous_score(choice.region, c.member_id, c.weight), c.member_id))
    total = sum(c.weight for c in weighted)
    return best, f"weighted rendezvous: weight {best.weight} of {total} in service"


def _pick_latency(choice: _Choice) -> Pick:
    policy = choice.policy

    def score(cache: Member) -> float:
        latency = choice.assessments[cache.member_id].latency_ms
        penalty = 0.0 if cache.region == choice.region else policy.cross_region_penalty_ms
        return (math.inf if latency is None else latency) + penalty

    if not choice.caches:
        return None
    best = min(choice.caches, key=lambda c: (score(c), c.priority, c.member_id))
    kept = next((c for c in choice.caches if c.member_id == choice.current), None)
    if (
        kept is not None
        and kept is not best
        and math.isfinite(score(kept))
        and score(kept) - score(best) <= policy.latency_margin_ms
    ):
        return (
            kept,
            f"latency: kept at {score(kept):.0f} ms, within {policy.latency_margin_ms:g} ms of the best",
        )
    shown = "unknown" if not math.isfinite(score(best)) else f"{score(best):.0f} ms"
    return best, f"latency: lowest score {shown} (median probe + cross-region penalty)"


_PICKERS: Final = {
    "region_affinity": _pick_region_affinity,
    "priority": _pick_priority,
    "weighted": _pick_weighted,
    "latency": _pick_latency,
}


def _route(
    region: str,
    topology: Topology,
    *,
    assessments: Mapping[str, Assessment],
    current: str | None,
    override: Override | None,
    policy: Policy,
) -> Route:
    origin = topology.origin
    origin_ok = assessments[origin.member_id].in_service
    caches = [c for c in topology.caches if assessments[c.member_id].in_service]
    note = ""
    if override is not None:
        if override.target in assessments and assessments[override.target].in_service:
            return Route(
                override.target,
                f"operator override by {override.actor} until {format_timestamp(override.expires_at)}: "
                f"{override.reason}",
                override=True,
            )
        note = f"override to {override.target} ignored (not in service); "
    if origin_ok and origin.region == region:
        return Route(origin.member_id, note + "client region hosts the origin")
    picked = _PICKERS[policy.strategy](_Choice(region, caches, assessments, current, policy))
    if picked is not None:
        return Route(picked[0].member_id, note + picked[1])
    if origin_ok:
        return Route(origin.member_id, note + f"origin fallback: no in-service cache for {policy.strategy}")
    if caches:
        last = _by_priority(region, caches)[0]
        return Route(last.member_id, note + "last resort: origin drained, best in-service cache by priority")
    return Route(None, note + "no read path in service (origin and caches drained)")


def decide(
    topology: Topology,
    history: Mapping[str, Sequence[Observation]],
    *,
    previous: Mapping[str, MemberState],
    current_routes: Mapping[str, str | None],
    overrides: Mapping[str, Override],
    policy: Policy,
    now: datetime,
) -> Decision:
    """Member states and one route per client region; see the module docstring for the rules."""
    if now.tzinfo is None:
        raise InvalidInputError("now", "must carry a UTC offset")
    for member_id, observations in history.items():
        for index, observation in enumerate(observations):
            if not isinstance(observation, Observation):
                raise InvalidInputError(
                    f"health[{member_id}][{index}]", f"is not an Observation but {type(observation).__name__}"
                )
            if observation.member_id != member_id:
                raise InvalidInputError(
                    f"health[{member_id}][{index}].member_id",
                    f"observation of {observation.member_id!r} filed under {member_id!r}",
                )
    assessments = {
        member.member_id: _assess(
            member, history.get(member.member_id, ()), previous.get(member.member_id), policy, now
        )
        for member in topology.members
    }
    routes = {}
    for region in topology.client_regions:
        override = overrides.get(region)
        if override is not None and not override.active(now):
            override = None
        routes[region] = _route(
            region,
            topology,
            assessments=assessments,
            current=current_routes.get(region),
            override=override,
            policy=policy,
        )
    return Decision(members=assessments, routes=routes)
