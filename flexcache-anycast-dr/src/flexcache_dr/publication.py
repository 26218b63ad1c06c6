"""From a decision to what gets published: route changes, audit records, events and one alert.

:func:`plan_publication` compares a :class:`~flexcache_dr.decision.Decision` with the published
:class:`RoutingState` and returns a :class:`PublicationPlan`: pure data that
:class:`flexcache_dr.store.RoutingStore` commits in ONE DynamoDB transaction, conditional on the
state version read (optimistic concurrency: two concurrent decisions cannot both commit on the
same version, the loser re-reads and decides again, so no update is lost). The plan also carries
what the state machine announces after the commit: one EventBridge event per change
(``RouteChanged``, ``MemberStateChanged``, ``RouteOverrideChanged``) and one SNS alert per
committed change set, whose severity is ``critical`` when a client region is left without a read
path.

A change is a different *target* (member id, or no route) for a client region, a member entering
or leaving service, or an operator override set or cleared. A route whose reason alone changes is
not a change, so a steady state publishes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from flexcache_dr.decision import Assessment, Decision, MemberState, Override
from flexcache_dr.health import format_timestamp
from flexcache_dr.topology import Topology, check_member_id, check_region
from shared.errors import InvalidInputError

EVENT_SOURCE: Final = "fsxn.flexcache-anycast-dr"
ROUTE_CHANGED: Final = "RouteChanged"
MEMBER_STATE_CHANGED: Final = "MemberStateChanged"
OVERRIDE_CHANGED: Final = "RouteOverrideChanged"
MAX_OVERRIDE_MINUTES: Final = 7 * 24 * 60
_ACTOR_RE: Final = re.compile(r"[A-Za-z0-9._@+=:-]{1,128}")
_OVERRIDE_KEYS: Final = frozenset({"client_region", "target", "duration_minutes", "reason", "actor", "clear"})
_SUBJECT_MAX: Final = 100


@dataclass(frozen=True)
class PublishedRoute:
    """A client region's route as last committed."""

    client_region: str
    target: str | None
    version: int
    reason: str = ""
    override: bool = False
    updated_at: datetime | None = None


@dataclass(frozen=True)
class RoutingState:
    """Everything published: the state version, routes, member states and overrides."""

    version: int = 0
    routes: Mapping[str, PublishedRoute] = field(default_factory=dict)
    members: Mapping[str, MemberState] = field(default_factory=dict)
    overrides: Mapping[str, Override] = field(default_factory=dict)

    def route_targets(self) -> dict[str, str | None]:
        return {region: route.target for region, route in self.routes.items()}


# --- operator overrides -------------------------------------------------------------------------


def check_actor(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not _ACTOR_RE.fullmatch(value):
        raise InvalidInputError(
            field_name, f"must be 1-128 letters, digits or . _ @ + = : - (who is acting), got {value!r}"
        )
    return value


@dataclass(frozen=True)
class OverrideRequest:
    """``{"client_region", "target", "duration_minutes", "reason", "actor"}`` pins a route;
    ``{"client_region", "clear": true, "reason", "actor"}`` removes the pin."""

    client_region: str
    target: str | None
    duration_minutes: int | None
    reason: str
    actor: str

    @property
    def clear(self) -> bool:
        return self.target is None

    @classmethod
    def from_event(cls, raw: object, topology: Topology) -> OverrideRequest:
        where = "override"
        if not isinstance(raw, Mapping):
            raise InvalidInputError(where, f"must be an object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - _OVERRIDE_KEYS)
        if unknown:
            raise InvalidInputError(where, f"unknown key(s) {', '.join(unknown)}")
        region = check_region(raw.get("client_region"), f"{where}.client_region")
        if region not in topology.client_regions:
            raise InvalidInputError(
                f"{where}.client_region",
                f"{region} is not a client region of the topology ({', '.join(topology.client_regions)})",
            )
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            raise InvalidInputError(f"{where}.reason", "must be a non-empty text of at most 500 characters")
        actor = check_actor(raw.get("actor"), f"{where}.actor")
        clear = raw.get("clear", False)
        if not isinstance(clear, bool):
            raise InvalidInputError(f"{where}.clear", f"must be true or false, got {clear!r}")
        if clear:
            if "target" in raw or "duration_minutes" in raw:
                raise InvalidInputError(where, "clear takes no target or duration_minutes")
            return cls(region, None, None, reason.strip(), actor)
        target = check_member_id(raw.get("target"), f"{where}.target")
        if target not in topology.member_ids:
            raise InvalidInputError(f"{where}.target", f"{target!r} is not a member of the topology")
        duration = raw.get("duration_minutes")
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int)
            or not 1 <= duration <= MAX_OVERRIDE_MINUTES
        ):
            raise InvalidInputError(
                f"{where}.duration_minutes",
                f"must be an integer from 1 to {MAX_OVERRIDE_MINUTES}, got {duration!r}",
            )
        return cls(region, target, duration, reason.strip(), actor)

    def to_override(self, now: datetime) -> Override | None:
        if self.target is None or self.duration_minutes is None:
            return None
        return Override(
            client_region=self.client_region,
            target=self.target,
            expires_at=now + timedelta(minutes=self.duration_minutes),
            reason=self.reason,
            actor=self.actor,
            created_at=now,
        )


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteChange:
    client_region: str
    previous: str | None
    previously_published: bool
    new: str | None
    previous_version: int
    new_version: int
    reason: str
    override: bool
    evidence: dict[str, Any]


@dataclass(frozen=True)
class MemberChange:
    member_id: str
    previous: str | None
    new: str
    since: datetime
    reason: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class OverrideChange:
    client_region: str
    previous: Override | None
    new: Override | None
    reason: str


@dataclass(frozen=True)
class PublicationPlan:
    expected_version: int
    actor: str
    run_id: str
    at: datetime
    strategy: str
    route_changes: tuple[RouteChange, ...] = ()
    member_changes: tuple[MemberChange, ...] = ()
    override_changes: tuple[OverrideChange, ...] = ()
    critical_regions: tuple[str, ...] = ()
    member_states: Mapping[str, Assessment] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.route_changes or self.member_changes or self.override_changes)

    @property
    def new_version(self) -> int:
        return self.expected_version + 1

    @property
    def audit_sort_key(self) -> str:
        """Unique per commit: the time, then the state version that commit creates."""
        return f"{format_timestamp(self.at)}#{self.new_version:010d}"

    # -- what is written --

    def audit_records(self) -> list[dict[str, Any]]:
        common = {
            "at": self.audit_sort_key,
            "recorded_at": format_timestamp(self.at),
            "actor": self.actor,
            "run_id": self.run_id,
            "state_version": self.new_version,
            "strategy": self.strategy,
        }
        records: list[dict[str, Any]] = []
        for change in self.route_changes:
            records.append(
                {
                    **common,
                    "subject": f"route#{change.client_region}",
                    "kind": "route",
                    "previous": change.previous if change.previously_published else "(unpublished)",
                    "new": change.new,
                    "previous_version": change.previous_version,
                    "new_version": change.new_version,
                    "reason": change.reason,
                    "override": change.override,
                    "evidence": change.evidence,
                }
            )
        for member in self.member_changes:
            records.append(
                {
                    **common,
                    "subject": f"member#{member.member_id}",
                    "kind": "member",
                    "previous": member.previous or "(unassessed)",
                    "new": member.new,
                    "reason": member.reason,
                    "evidence": member.evidence,
                }
            )
        for override in self.override_changes:
            records.append(
                {
                    **common,
                    "subject": f"override#{override.client_region}",
                    "kind": "override",
                    "previous": override.previous.to_dict() if override.previous else None,
                    "new": override.new.to_dict() if override.new else None,
                    "reason": override.reason,
                    "evidence": {},
                }
            )
        return records

    # -- what is announced --

    def events(self, topology: Topology) -> list[dict[str, Any]]:
        """One ``{"detail_type", "detail"}`` per change, for EventBridge ``PutEvents``."""
        base = {
            "actor": self.actor,
            "run_id": self.run_id,
            "state_version": self.new_version,
            "changed_at": format_timestamp(self.at),
        }
        events = [
            {
                "detail_type": ROUTE_CHANGED,
                "detail": {
                    **base,
                    "client_region": change.client_region,
                    "previous": _path(topology, change.previous),
                    "new": _path(topology, change.new),
                    "route_version": change.new_version,
                    "reason": change.reason,
                    "override": change.override,
                    "critical": change.new is None,
                },
            }
            for change in self.route_changes
        ]
        events += [
            {
                "detail_type": MEMBER_STATE_CHANGED,
                "detail": {
                    **base,
                    "member_id": change.member_id,
                    "previous": change.previous,
                    "new": change.new,
                    "reason": change.reason,
                },
            }
            for change in self.member_changes
        ]
        events += [
            {
                "detail_type": OVERRIDE_CHANGED,
                "detail": {
                    **base,
                    "client_region": change.client_region,
                    "previous": change.previous.to_dict() if change.previous else None,
                    "new": change.new.to_dict() if change.new else None,
                    "reason": change.reason,
                },
            }
            for change in self.override_changes
        ]
        return events

    @property
    def severity(self) -> str:
        if any(change.new is None for change in self.route_changes) or self.critical_regions:
            return "critical"
        if any(change.new != "in_service" for change in self.member_changes if change.previous is not None):
            return "warning"
        return "info"

    def alert(self, topology: Topology) -> dict[str, str] | None:
        """One SNS message for the whole change set (``subject``, ``message``, ``severity``)."""
        if not self.changed:
            return None
        severity = self.severity
        lost = [c.client_region for c in self.route_changes if c.new is None]
        if lost:
            headline = f"no read path for {', '.join(lost)}"
        elif self.route_changes:
            headline = f"{len(self.route_changes)} route change(s)"
        elif self.member_changes:
            headline = f"{len(self.member_changes)} member state change(s)"
        else:
            headline = "operator override changed"
        subject = f"[{severity.upper()}] FlexCache routing: {headline}"
        if len(subject) > _SUBJECT_MAX:
            subject = subject[: _SUBJECT_MAX - 3] + "..."
        lines = [
            f"FlexCache read-path routing changed: state version {self.new_version}, actor {self.actor}, "
            f"strategy {self.strategy}, run {self.run_id}, at {format_timestamp(self.at)}.",
            "",
        ]
        if self.route_changes:
            lines.append("Routes:")
            for change in self.route_changes:
                before = (
                    _describe(topology, change.previous) if change.previously_published else "(unpublished)"
                )
                lines.append(f"  {change.client_region}: {before} -> {_describe(topology, change.new)}")
                lines.append(f"    reason: {change.reason}")
        if self.member_changes:
            lines.append("Members:")
            for member in self.member_changes:
                lines.append(f"  {member.member_id}: {member.previous or '(unassessed)'} -> {member.new}")
                lines.append(f"    reason: {member.reason}")
        if self.override_changes:
            lines.append("Operator overrides:")
            for override in self.override_changes:
                new = override.new
                pinned = (
                    f"pinned to {new.target} until {format_timestamp(new.expires_at)}" if new else "cleared"
                )
                lines.append(f"  {override.client_region}: {pinned}: {override.reason}")
        lines.append("")
        lines.append(
            "Regions without a read path: "
            + (", ".join(self.critical_regions) if self.critical_regions else "none")
        )
        return {"subject": subject, "message": "\n".join(lines), "severity": severity}

    def to_output(self, topology: Topology) -> dict[str, Any]:
        """The small result the state machine carries: what to announce, and counts."""
        return {
            "changed": self.changed,
            "state_version": self.new_version if self.changed else self.expected_version,
            "route_changes": len(self.route_changes),
            "member_changes": len(self.member_changes),
            "override_changes": len(self.override_changes),
            "critical_regions": list(self.critical_regions),
            "events": self.events(topology) if self.changed else [],
            "alert": self.alert(topology),
        }


def _path(topology: Topology, member_id: str | None) -> dict[str, Any] | None:
    if member_id is None or member_id not in topology.member_ids:
        return None if member_id is None else {"member_id": member_id}
    member = topology.member(member_id)
    return {
        "member_id": member.member_id,
        "role": member.role,
        "region": member.region,
        "access_point_alias": member.access_point_alias,
    }


def _describe(topology: Topology, member_id: str | None) -> str:
    if member_id is None:
        return "NO ROUTE"
    if member_id not in topology.member_ids:
        return member_id
    member = topology.member(member_id)
    return f"{member.member_id} ({member.role}, {member.region})"


def _member_evidence(assessment: Assessment | None) -> dict[str, Any]:
    if assessment is None:
        return {}
    return {**assessment.to_dict(), "observations": list(assessment.evidence)}


def plan_publication(
    topology: Topology,
    decision: Decision,
    state: RoutingState,
    *,
    actor: str,
    run_id: str,
    now: datetime,
    strategy: str,
    override_change: OverrideChange | None = None,
) -> PublicationPlan:
    """What must be written so that the published state matches ``decision``."""
    route_changes = []
    for region in topology.client_regions:
        route = decision.routes[region]
        published = state.routes.get(region)
        if published is not None and published.target == route.target:
            continue
        evidence: dict[str, Any] = {"critical": route.target is None}
        if published is not None and published.target is not None:
            evidence["previous_target"] = _member_evidence(decision.members.get(published.target))
        if route.target is not None:
            evidence["new_target"] = _member_evidence(decision.members.get(route.target))
        route_changes.append(
            RouteChange(
                client_region=region,
                previous=published.target if published else None,
                previously_published=published is not None,
                new=route.target,
                previous_version=published.version if published else 0,
                new_version=(published.version if published else 0) + 1,
                reason=route.reason,
                override=route.override,
                evidence=evidence,
            )
        )
    member_changes = []
    for member_id in topology.member_ids:
        assessment = decision.members[member_id]
        stored = state.members.get(member_id)
        if stored is not None and stored.state == assessment.state:
            continue
        member_changes.append(
            MemberChange(
                member_id=member_id,
                previous=stored.state if stored else None,
                new=assessment.state,
                since=assessment.since,
                reason=assessment.reason,
                evidence=_member_evidence(assessment),
            )
        )
    return PublicationPlan(
        expected_version=state.version,
        actor=actor,
        run_id=run_id,
        at=now,
        strategy=strategy,
        route_changes=tuple(route_changes),
        member_changes=tuple(member_changes),
        override_changes=(override_change,) if override_change is not None else (),
        critical_regions=decision.critical_regions,
        member_states=decision.members,
    )
