"""Route decision invariants (Hypothesis), each checked against production code.

#1 the decision is deterministic, whatever the order of members and observations; #2 a drained
path is never chosen, and a region is left without a route only when nothing is in service;
#3 hysteresis: a member changes state only after N failures or M passes since its last change,
so alternating health never flaps; #4 weighted assignment is stable: draining, restoring or
re-weighting one cache never moves a client region that is not on (or moving to) that cache.
"""

from __future__ import annotations

import random
from datetime import timedelta

from flexcache_dr.decision import DRAINED, IN_SERVICE, STRATEGIES, MemberState, Policy, decide
from flexcache_dr.topology import Member, Topology
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.flexcache_dr.builders import T0, member, observation

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1")


@st.composite
def topologies(draw: st.DrawFn) -> Topology:
    count = draw(st.integers(min_value=1, max_value=6))
    caches = [
        member(
            f"cache-{index}",
            region=draw(st.sampled_from(REGIONS)),
            priority=draw(st.integers(min_value=1, max_value=5)),
            weight=draw(st.integers(min_value=0, max_value=100)),
        )
        for index in range(count)
    ]
    origin = member("origin-0", role="origin", region=draw(st.sampled_from(REGIONS)), priority=1, weight=100)
    clients = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=len(REGIONS), unique=True))
    return Topology(members=(origin, *caches), client_regions=tuple(clients))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Topology, dict, dict, Policy]:
    """A topology, a random recent history per member, random previous states and a policy."""
    top = draw(topologies())
    policy = Policy(
        strategy=draw(st.sampled_from(STRATEGIES)),
        drain_after=draw(st.integers(min_value=1, max_value=4)),
        restore_after=draw(st.integers(min_value=1, max_value=4)),
        disconnected_caches=draw(st.sampled_from(("drain", "serve"))),
    )
    history = {}
    previous = {}
    for m in top.members:
        outcomes = draw(st.lists(st.booleans(), max_size=6))
        latencies = draw(
            st.lists(st.floats(min_value=1, max_value=900), min_size=len(outcomes), max_size=len(outcomes))
        )
        history[m.member_id] = [
            observation(m.member_id, T0 - timedelta(minutes=i), passed=ok, latency=lat)
            for i, (ok, lat) in enumerate(zip(outcomes, latencies, strict=True))
        ]
        if draw(st.booleans()):
            previous[m.member_id] = MemberState(
                draw(st.sampled_from((IN_SERVICE, DRAINED))),
                T0 - timedelta(minutes=draw(st.integers(0, 8)) + 0.5),
            )
    return top, history, previous, policy


def _decide(top, history, previous, policy, *, current=None, now=T0):
    return decide(
        top, history, previous=previous, current_routes=current or {}, overrides={}, policy=policy, now=now
    )


def _routes(decision) -> dict[str, str | None]:
    return {region: route.target for region, route in decision.routes.items()}


# --- #1 determinism ------------------------------------------------------------------------------


@given(scenarios(), st.randoms(use_true_random=False))
def test_the_decision_is_deterministic_and_order_independent(scenario, rnd: random.Random) -> None:
    top, history, previous, policy = scenario
    first = _decide(top, history, previous, policy)
    assert _decide(top, history, previous, policy) == first
    # Same facts in another order: members, client regions and observations shuffled
    members = list(top.members)
    rnd.shuffle(members)
    regions = list(top.client_regions)
    rnd.shuffle(regions)
    shuffled = {m: rnd.sample(obs, len(obs)) for m, obs in history.items()}
    again = _decide(Topology(tuple(members), tuple(regions)), shuffled, previous, policy)
    assert _routes(again) == _routes(first)
    assert {m: a.state for m, a in again.members.items()} == {m: a.state for m, a in first.members.items()}


# --- #2 never an unhealthy path while a healthy one exists -----------------------------------------


@given(scenarios())
def test_a_drained_path_is_never_chosen_and_no_route_means_nothing_in_service(scenario) -> None:
    top, history, previous, policy = scenario
    decision = _decide(top, history, previous, policy)
    in_service = {m for m, a in decision.members.items() if a.state == IN_SERVICE}
    for region, route in decision.routes.items():
        if route.target is None:
            assert not in_service, f"{region} has no route while {sorted(in_service)} are in service"
        else:
            assert route.target in in_service, f"{region} routed to drained {route.target}"
    # and a member is in service only if its latest observation is fresh (here: all are) and exists
    for member_id in in_service:
        assert history[member_id], f"{member_id} in service without any observation"


# --- #3 hysteresis -------------------------------------------------------------------------------


@given(
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=4),
    st.lists(st.booleans(), min_size=1, max_size=30),
)
def test_state_changes_only_after_n_failures_or_m_passes_since_the_last_change(n, m, outcomes) -> None:
    # Given one cache observed once per run with arbitrary outcomes
    top = Topology(
        (member("origin-0", role="origin", region="us-east-1"), member("cache-0", region="us-west-2")),
        ("us-west-2",),
    )
    policy = Policy(drain_after=n, restore_after=m)
    previous: dict[str, MemberState] = {}
    history: dict[str, list] = {"origin-0": [], "cache-0": []}
    streak = {True: 0, False: 0}
    transitions = 0
    for run_index, ok in enumerate(outcomes):
        now = T0 + timedelta(minutes=run_index)
        history["cache-0"].append(observation("cache-0", now - timedelta(seconds=1), passed=ok))
        history["origin-0"].append(observation("origin-0", now - timedelta(seconds=1)))
        decision = _decide(top, history, previous, policy, now=now)
        assessment = decision.members["cache-0"]
        streak[ok] += 1
        streak[not ok] = 0
        if previous.get("cache-0") is not None and assessment.changed:
            transitions += 1
            # Then every change is backed by enough consecutive evidence since the last change
            if assessment.state == DRAINED:
                assert streak[False] >= n
            else:
                assert streak[True] >= m
        if assessment.changed or previous.get("cache-0") is None:
            streak = {True: 0, False: 0}
        previous = {
            member_id: MemberState(a.state, a.since, a.reason) for member_id, a in decision.members.items()
        }
    # and there are never more changes than the evidence allows
    assert transitions <= len(outcomes) // min(n, m)


@given(st.integers(min_value=2, max_value=5), st.integers(min_value=2, max_value=5), st.integers(4, 30))
def test_alternating_health_never_flaps(n, m, runs) -> None:
    top = Topology(
        (member("origin-0", role="origin", region="us-east-1"), member("cache-0", region="us-west-2")),
        ("us-west-2",),
    )
    policy = Policy(drain_after=n, restore_after=m)
    previous: dict[str, MemberState] = {}
    history: dict[str, list] = {"origin-0": [], "cache-0": []}
    targets = []
    for run_index in range(runs):
        now = T0 + timedelta(minutes=run_index)
        history["cache-0"].append(
            observation("cache-0", now - timedelta(seconds=1), passed=run_index % 2 == 0)
        )
        history["origin-0"].append(observation("origin-0", now - timedelta(seconds=1)))
        decision = _decide(top, history, previous, policy, now=now)
        targets.append(decision.routes["us-west-2"].target)
        previous = {
            member_id: MemberState(a.state, a.since, a.reason) for member_id, a in decision.members.items()
        }
    assert set(targets) == {"cache-0"}


# --- #4 weighted stability -----------------------------------------------------------------------


@settings(max_examples=80)
@given(topologies(), st.data())
def test_weighted_assignment_is_stable_when_an_unrelated_cache_changes(top, data) -> None:
    policy = Policy(strategy="weighted")
    all_pass = {m.member_id: [observation(m.member_id, T0)] for m in top.members}
    before = _routes(_decide(top, all_pass, {}, policy))
    other = data.draw(st.sampled_from([c.member_id for c in top.caches]))

    # draining `other` moves only the regions that were on it
    drained = {**all_pass, other: [observation(other, T0, passed=False)]}
    after_drain = _routes(_decide(top, drained, {}, policy))
    for region, target in before.items():
        if target != other:
            assert after_drain[region] == target

    # re-weighting `other` moves a region only onto or off `other`
    new_weight = data.draw(st.integers(min_value=0, max_value=100))
    reweighted_members = tuple(
        Member(**{**c.to_dict(), "weight": new_weight}) if c.member_id == other else c for c in top.members
    )
    after_weight = _routes(_decide(Topology(reweighted_members, top.client_regions), all_pass, {}, policy))
    for region, target in before.items():
        if after_weight[region] != target:
            assert other in (target, after_weight[region])

    # restoring it (from drained) gives the original assignment back
    assert _routes(_decide(top, all_pass, {}, policy)) == before
