"""One routing cycle: read what is published, decide, commit the difference.

:func:`run_cycle` is what the ``Decide Routes`` and ``Apply Override`` states run: it reads the
topology, the routing state and each member's recent health, applies an operator override when
one is given (committed in the same transaction as the routes it changes), calls the pure
:func:`~flexcache_dr.decision.decide`, and commits the plan conditionally on the state version it
read. A concurrent commit makes this one fail with ``RouteVersionConflictError``; the state
machine retries the whole task, which re-reads and decides again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flexcache_dr.decision import Decision, Policy, decide
from flexcache_dr.dns import desired_records, sync_records
from flexcache_dr.publication import (
    OverrideChange,
    OverrideRequest,
    PublicationPlan,
    RoutingState,
    check_actor,
    plan_publication,
)
from flexcache_dr.store import HealthStore, RoutingStore, TopologyStore
from flexcache_dr.topology import Topology, parse_topology
from shared.errors import InvalidInputError


@dataclass(frozen=True)
class Stores:
    topology: TopologyStore
    health: HealthStore
    routing: RoutingStore


@dataclass(frozen=True)
class Snapshot:
    """Everything a decision reads, read once."""

    topology: Topology
    state: RoutingState
    history: Mapping[str, Any]


def require_topology(stores: Stores, *, secret_prefix: str, region: str | None) -> Topology:
    loaded = stores.topology.load(secret_prefix=secret_prefix, stack_region=region)
    if loaded is None:
        raise InvalidInputError(
            "topology",
            'no topology loaded yet: start the state machine with {"topology": {...}} '
            "or set the TopologyDocument parameter",
        )
    return loaded[0]


def read_snapshot(stores: Stores, policy: Policy, *, secret_prefix: str, region: str | None) -> Snapshot:
    topology = require_topology(stores, secret_prefix=secret_prefix, region=region)
    state = stores.routing.load()
    history = stores.health.recent(topology.member_ids, policy.history_size)
    return Snapshot(topology=topology, state=state, history=history)


@dataclass(frozen=True)
class CycleResult:
    topology: Topology
    decision: Decision
    plan: PublicationPlan

    def to_output(self) -> dict[str, Any]:
        return {
            "publication": self.plan.to_output(self.topology),
            "summary": {
                "state_version": self.plan.new_version if self.plan.changed else self.plan.expected_version,
                "routes": {region: route.target for region, route in sorted(self.decision.routes.items())},
                "drained": sorted(m for m, a in self.decision.members.items() if not a.in_service),
                "critical_regions": list(self.decision.critical_regions),
                "actor": self.plan.actor,
            },
        }


def run_cycle(
    stores: Stores,
    policy: Policy,
    *,
    run_id: str,
    actor: str,
    now: datetime,
    secret_prefix: str = "",
    region: str | None = None,
    override: object = None,
) -> CycleResult:
    """Decide and publish once; ``override`` is an operator's request (see :class:`OverrideRequest`)."""
    snapshot = read_snapshot(stores, policy, secret_prefix=secret_prefix, region=region)
    topology, state = snapshot.topology, snapshot.state
    overrides = dict(state.overrides)
    override_change = None
    if override is not None:
        request = OverrideRequest.from_event(override, topology)
        actor = f"operator:{request.actor}"
        previous = overrides.get(request.client_region)
        pinned = request.to_override(now)
        if pinned is not None:
            overrides[request.client_region] = pinned
        else:
            overrides.pop(request.client_region, None)
        if previous is not None or pinned is not None:
            override_change = OverrideChange(request.client_region, previous, pinned, request.reason)
    else:
        actor = check_actor(actor, "actor")
    decision = decide(
        topology,
        snapshot.history,
        previous=state.members,
        current_routes=state.route_targets(),
        overrides=overrides,
        policy=policy,
        now=now,
    )
    plan = plan_publication(
        topology,
        decision,
        state,
        actor=actor,
        run_id=run_id,
        now=now,
        strategy=policy.strategy,
        override_change=override_change,
    )
    stores.routing.commit(plan)
    return CycleResult(topology=topology, decision=decision, plan=plan)


def load_topology(
    store: TopologyStore,
    *,
    document: object,
    parameter: str,
    secret_prefix: str,
    region: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Store the given topology (input first, then the parameter) if it differs; return the members.

    An invalid document raises :class:`InvalidInputError` before anything is written, so a typo
    never replaces a working topology.
    """
    source, candidate = None, None
    if document is not None:
        source, candidate = "execution input", document
    elif parameter.strip():
        source, candidate = "TopologyDocument parameter", parameter
    stored = store.load(secret_prefix=secret_prefix, stack_region=region)
    written = False
    if candidate is not None:
        topology = parse_topology(candidate, secret_prefix=secret_prefix, stack_region=region)
        if stored is None or stored[1] != topology.fingerprint():
            store.replace(topology, source=str(source), now=now)
            written = True
    elif stored is None:
        raise InvalidInputError(
            "topology",
            'no topology loaded yet: start the state machine with {"topology": {...}} '
            "or set the TopologyDocument parameter",
        )
    else:
        topology = stored[0]
        source = "stored"
    return {
        "members": [member.to_dict() for member in topology.members],
        "client_regions": list(topology.client_regions),
        "fingerprint": topology.fingerprint(),
        "source": source,
        "written": written,
    }


def sync_dns(
    topology_store: TopologyStore,
    routing_store: RoutingStore,
    route53: Any,
    *,
    hosted_zone_id: str,
    domain: str,
    ttl: int,
    secret_prefix: str = "",
    region: str | None = None,
) -> dict[str, Any]:
    """Make the Route 53 weighted records match the published routes (all of them, every run)."""
    loaded = topology_store.load(secret_prefix=secret_prefix, stack_region=region)
    if loaded is None:
        raise InvalidInputError("topology", "no topology loaded yet")
    topology = loaded[0]
    state = routing_store.load()
    changes = desired_records(topology, state.route_targets(), domain, ttl)
    batches = sync_records(route53, hosted_zone_id, changes)
    return {"records": len(changes), "batches": batches, "state_version": state.version}
