"""Failover drills: the real decision on a simulated overlay of health, reported before acting.

A drill takes the recent health history as it is, adds ``checks`` simulated check rounds in which
the scenario's failure persists (every other member keeps behaving as its latest observation
shows), and runs :func:`~flexcache_dr.decision.decide` — the same function, the same policy,
hysteresis included — on that overlay. The report compares the decision on real health
(``baseline``) with the decision on the overlay (``drill``), and lists the live published routes.

Scenarios (execution input ``{"scenario": ..., ...}``):

``cache_down``          ``target`` (a cache) fails every check: its cluster does not answer.
``origin_unreachable``  the origin fails every check, and every cache's origin relationship and
                        cluster peer are down (what a cache reports when its origin is cut off).
``region_down``         every member in ``region`` fails every check.
``latency_spike``       ``target``'s probe takes ``latency_ms`` (default 4 x the threshold).

Options: ``checks`` (rounds simulated, default the drain threshold N), ``apply`` (default false),
``actor``. A dry run writes only the report. ``apply: true`` also commits the drill's decision
(routes and member states, audited with actor ``drill:<actor>``) exactly as a real failure would,
so traffic really moves and the normal hysteresis brings it back after M good checks; it is
refused when the stack's environment is ``production``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from flexcache_dr.cycle import Snapshot, Stores, read_snapshot
from flexcache_dr.decision import Decision, Policy, decide
from flexcache_dr.health import LINK_CHECKS, Observation, format_timestamp
from flexcache_dr.publication import PublicationPlan, check_actor, plan_publication
from flexcache_dr.topology import Member, Topology, check_member_id, check_region
from shared.errors import InvalidInputError
from shared.s3ap import OutputLocation, write_json, write_text

SCENARIOS: Final = ("cache_down", "origin_unreachable", "region_down", "latency_spike")
_DRILL_KEYS: Final = frozenset({"scenario", "target", "region", "latency_ms", "checks", "apply", "actor"})
_IGNORED_KEYS: Final = frozenset({"topology", "override"})
"""Other keys of the state machine's input, passed along untouched."""
_STEP: Final = timedelta(microseconds=1)


@dataclass(frozen=True)
class DrillRequest:
    scenario: str
    target: str | None = None
    region: str | None = None
    latency_ms: float | None = None
    checks: int = 1
    apply: bool = False
    actor: str = "drill"

    @classmethod
    def from_event(cls, raw: object, topology: Topology, policy: Policy) -> DrillRequest:
        if not isinstance(raw, Mapping):
            raise InvalidInputError("drill", f"must be an object, got {type(raw).__name__}")
        present = {k: v for k, v in raw.items() if v is not None and k not in _IGNORED_KEYS}
        unknown = sorted(set(present) - _DRILL_KEYS)
        if unknown:
            raise InvalidInputError(
                "drill", f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_DRILL_KEYS))}"
            )
        scenario = present.get("scenario")
        if scenario not in SCENARIOS:
            raise InvalidInputError("scenario", f"must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
        _refuse_unused(present, scenario)
        checks = present.get("checks", policy.drain_after)
        if isinstance(checks, bool) or not isinstance(checks, int) or not 1 <= checks <= 100:
            raise InvalidInputError("checks", f"must be an integer from 1 to 100, got {checks!r}")
        apply = present.get("apply", False)
        if not isinstance(apply, bool):
            raise InvalidInputError("apply", f"must be true or false, got {apply!r}")
        return cls(
            scenario=scenario,
            target=_target(present, scenario, topology),
            region=_region(present, topology) if scenario == "region_down" else None,
            latency_ms=_latency(present, policy) if scenario == "latency_spike" else None,
            checks=checks,
            apply=apply,
            actor=check_actor(present.get("actor", "drill"), "actor"),
        )

    def affected(self, topology: Topology) -> tuple[str, ...]:
        if self.scenario in ("cache_down", "latency_spike") and self.target is not None:
            return (self.target,)
        if self.scenario == "region_down":
            return tuple(m.member_id for m in topology.members if m.region == self.region)
        return tuple(m.member_id for m in topology.members)  # origin_unreachable touches everyone

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "target": self.target,
            "region": self.region,
            "latency_ms": self.latency_ms,
            "checks": self.checks,
            "apply": self.apply,
            "actor": self.actor,
        }


_USES: Final = {
    "cache_down": {"target"},
    "latency_spike": {"target", "latency_ms"},
    "region_down": {"region"},
    "origin_unreachable": set(),
}


def _refuse_unused(present: Mapping[str, Any], scenario: str) -> None:
    for key in ("target", "region", "latency_ms"):
        if key in present and key not in _USES[scenario]:
            raise InvalidInputError(key, f"scenario {scenario} takes no {key}")


def _target(present: Mapping[str, Any], scenario: str, topology: Topology) -> str | None:
    if "target" not in _USES[scenario]:
        return None
    target = check_member_id(present.get("target"), "target")
    if target not in topology.member_ids:
        raise InvalidInputError("target", f"{target!r} is not a member of the topology")
    if scenario == "cache_down" and topology.member(target).is_origin:
        raise InvalidInputError("target", f"{target!r} is the origin; use the origin_unreachable scenario")
    return target


def _region(present: Mapping[str, Any], topology: Topology) -> str:
    region = check_region(present.get("region"), "region")
    if region not in topology.regions():
        raise InvalidInputError("region", f"no member is in {region} ({', '.join(topology.regions())})")
    return region


def _latency(present: Mapping[str, Any], policy: Policy) -> float:
    latency = present.get("latency_ms", policy.latency_threshold_ms * 4)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not 0 < latency < 3.6e6:
        raise InvalidInputError("latency_ms", f"must be a number of milliseconds > 0, got {latency!r}")
    return float(latency)


_CACHE_CHECKS: Final = ("svm", "volume", "flexcache", "origin_link", "probe")
_ORIGIN_CHECKS: Final = ("svm", "volume", "probe")


def _down(member: Member, at: datetime, run_id: str, why: str) -> Observation:
    names = (
        ("svm", "volume", "probe")
        if member.is_origin
        else ("svm", "volume", "flexcache", "origin_link", "probe")
    )
    return Observation(
        member_id=member.member_id,
        observed_at=at,
        run_id=run_id,
        checks=dict.fromkeys(names, False),
        latency_ms=None,
        details=dict.fromkeys(names, why),
    )


def _healthy(member: Member, at: datetime, run_id: str, latency: float) -> Observation:
    names = (
        ("svm", "volume", "probe")
        if member.is_origin
        else ("svm", "volume", "flexcache", "origin_link", "probe")
    )
    return Observation(member.member_id, at, run_id, dict.fromkeys(names, True), latency)


def _simulated(
    member: Member,
    latest: Observation | None,
    request: DrillRequest,
    *,
    hit: bool,
    at: datetime,
    run_id: str,
    threshold: float,
) -> Observation | None:
    why = f"drill {request.scenario}"
    scenario = request.scenario
    if hit and (scenario in ("cache_down", "region_down") or member.is_origin):
        return _down(member, at, run_id, why)
    base = latest
    if hit and base is None:
        base = _healthy(member, at, run_id, threshold / 10)
    if base is None:
        return None
    if hit and scenario == "origin_unreachable":
        checks = {**base.checks, **dict.fromkeys(LINK_CHECKS, False)}
        details = {**base.details, **dict.fromkeys(LINK_CHECKS, why)}
        return replace(base, observed_at=at, run_id=run_id, checks=checks, details=details)
    if hit and scenario == "latency_spike":
        return replace(base, observed_at=at, run_id=run_id, latency_ms=request.latency_ms)
    return replace(base, observed_at=at, run_id=run_id)


def overlay(
    topology: Topology,
    history: Mapping[str, Sequence[Observation]],
    request: DrillRequest,
    policy: Policy,
    *,
    now: datetime,
    run_id: str,
) -> tuple[dict[str, list[Observation]], datetime]:
    """The history plus ``request.checks`` simulated rounds after ``now``; and the decision time."""
    simulated: dict[str, list[Observation]] = {m: list(history.get(m, ())) for m in topology.member_ids}
    affected = frozenset(request.affected(topology))
    for member in topology.members:
        past = simulated[member.member_id]
        latest = max(past, key=lambda o: o.observed_at) if past else None
        for round_number in range(1, request.checks + 1):
            observation = _simulated(
                member,
                latest,
                request,
                hit=member.member_id in affected,
                at=now + round_number * _STEP,
                run_id=f"{run_id}-drill-{round_number}",
                threshold=policy.latency_threshold_ms,
            )
            if observation is not None:
                past.append(observation)
    return simulated, now + (request.checks + 1) * _STEP


def _routes(topology: Topology, decision: Decision) -> dict[str, dict[str, Any]]:
    return {
        region: {"target": route.target, "reason": route.reason, "override": route.override}
        for region, route in sorted(decision.routes.items())
    }


@dataclass(frozen=True)
class DrillOutcome:
    request: DrillRequest
    baseline: Decision
    drilled: Decision
    plan: PublicationPlan | None
    report: dict[str, Any]


def run_drill(
    snapshot: Snapshot,
    request: DrillRequest,
    policy: Policy,
    *,
    environment: str,
    run_id: str,
    now: datetime,
) -> DrillOutcome:
    """Decide on real health and on the overlay; plan a commit only when ``apply`` is set."""
    if request.apply and environment == "production":
        raise InvalidInputError(
            "apply",
            "drills may not change live routes in production; run it dry (apply: false) or in staging",
        )
    topology, state = snapshot.topology, snapshot.state
    live = state.route_targets()
    overrides = dict(state.overrides)
    baseline = decide(
        topology,
        snapshot.history,
        previous=state.members,
        current_routes=live,
        overrides=overrides,
        policy=policy,
        now=now,
    )
    drill_history, drill_now = overlay(topology, snapshot.history, request, policy, now=now, run_id=run_id)
    drilled = decide(
        topology,
        drill_history,
        previous=state.members,
        current_routes=live,
        overrides=overrides,
        policy=policy,
        now=drill_now,
    )
    plan = None
    if request.apply:
        plan = plan_publication(
            topology,
            drilled,
            state,
            actor=f"drill:{request.actor}",
            run_id=run_id,
            now=drill_now,
            strategy=policy.strategy,
        )
    changes = [
        {
            "client_region": region,
            "from": baseline.routes[region].target,
            "to": drilled.routes[region].target,
            "reason": drilled.routes[region].reason,
        }
        for region in topology.client_regions
        if baseline.routes[region].target != drilled.routes[region].target
    ]
    member_changes = [
        {
            "member_id": member_id,
            "from": baseline.members[member_id].state,
            "to": drilled.members[member_id].state,
            "reason": drilled.members[member_id].reason,
        }
        for member_id in topology.member_ids
        if baseline.members[member_id].state != drilled.members[member_id].state
    ]
    critical = list(drilled.critical_regions)
    if critical:
        verdict = f"CRITICAL: no read path for {', '.join(critical)}"
    elif changes:
        verdict = f"{len(changes)} client region(s) would move: " + ", ".join(
            f"{c['client_region']} {c['from']} -> {c['to']}" for c in changes
        )
    else:
        verdict = "no route would change"
    report = {
        "scenario": request.scenario,
        "request": request.to_dict(),
        "run_id": run_id,
        "generated_at": format_timestamp(now),
        "environment": environment,
        "applied": request.apply,
        "policy": policy.to_dict(),
        "checks_simulated": request.checks,
        "affected_members": list(request.affected(topology)),
        "verdict": verdict,
        "live_routes": {region: live.get(region) for region in topology.client_regions},
        "baseline": {
            "routes": _routes(topology, baseline),
            "members": {m: a.to_dict() for m, a in sorted(baseline.members.items())},
        },
        "drill": {
            "routes": _routes(topology, drilled),
            "members": {m: a.to_dict() for m, a in sorted(drilled.members.items())},
        },
        "changes": changes,
        "member_changes": member_changes,
        "critical_regions": critical,
    }
    return DrillOutcome(request, baseline, drilled, plan, report)


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report for people: the verdict, then what moves and why."""
    lines = [
        f"# Failover drill: {report['scenario']}",
        "",
        f"- run: `{report['run_id']}` at {report['generated_at']} ({report['environment']})",
        f"- applied to live routes: {'yes' if report['applied'] else 'no (dry run)'}",
        f"- simulated check rounds: {report['checks_simulated']}",
        f"- affected members: {', '.join(report['affected_members'])}",
        f"- strategy: {report['policy']['strategy']}, drain after {report['policy']['drain_after']}, "
        f"restore after {report['policy']['restore_after']}",
        "",
        f"**Verdict:** {report['verdict']}",
        "",
        "| client region | live | baseline | drill | reason |",
        "|---|---|---|---|---|",
    ]
    for region, drilled in report["drill"]["routes"].items():
        baseline = report["baseline"]["routes"][region]
        lines.append(
            f"| {region} | {report['live_routes'].get(region) or '—'} | {baseline['target'] or 'NONE'} | "
            f"{drilled['target'] or 'NONE'} | {drilled['reason']} |"
        )
    if report["member_changes"]:
        lines += ["", "| member | baseline | drill | reason |", "|---|---|---|---|"]
        for change in report["member_changes"]:
            lines.append(
                f"| {change['member_id']} | {change['from']} | {change['to']} | {change['reason']} |"
            )
    return "\n".join(lines) + "\n"


def execute_drill(
    stores: Stores,
    policy: Policy,
    raw: object,
    *,
    environment: str,
    output: OutputLocation,
    s3: Any,
    run_id: str,
    now: datetime,
    secret_prefix: str = "",
    region: str | None = None,
) -> dict[str, Any]:
    """Read, drill, commit when applied, write ``report.json`` and ``report.md``; a small summary back."""
    snapshot = read_snapshot(stores, policy, secret_prefix=secret_prefix, region=region)
    request = DrillRequest.from_event(raw, snapshot.topology, policy)
    outcome = run_drill(snapshot, request, policy, environment=environment, run_id=run_id, now=now)
    plan = outcome.plan or PublicationPlan(
        expected_version=snapshot.state.version,
        actor=f"drill:{request.actor}",
        run_id=run_id,
        at=now,
        strategy=policy.strategy,
    )
    stores.routing.commit(plan)
    report = write_json(output, run_id, "report.json", outcome.report, s3=s3)
    markdown = write_text(
        output,
        run_id,
        "report.md",
        report_markdown(outcome.report),
        content_type="text/markdown; charset=utf-8",
        s3=s3,
    )
    return {
        "scenario": request.scenario,
        "verdict": outcome.report["verdict"],
        "applied": request.apply,
        "changes": len(outcome.report["changes"]),
        "critical_regions": outcome.report["critical_regions"],
        "report": {"bucket": report.bucket, "key": report.key, "markdown_key": markdown.key},
        "publication": plan.to_output(snapshot.topology),
    }
