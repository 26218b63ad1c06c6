"""The route decision's rules, one at a time (pure: no AWS, no clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flexcache_dr.decision import (
    DRAINED,
    IN_SERVICE,
    STRATEGIES,
    MemberState,
    Override,
    Policy,
    decide,
    rendezvous_score,
)

from shared.errors import InvalidInputError
from tests.flexcache_dr.builders import T0, history_of, member, observation, states, topology


def run(top, history, *, previous=None, current=None, overrides=None, policy=None, now=T0):
    return decide(
        top,
        history,
        previous=states(top) if previous is None else previous,
        current_routes=current or {},
        overrides=overrides or {},
        policy=policy or Policy(),
        now=now,
    )


# --- hysteresis ----------------------------------------------------------------------------------


@pytest.mark.parametrize("failures", [1, 2])
def test_fewer_than_n_failures_keep_a_cache_in_service(failures: int) -> None:
    # Given N=3 and a cache whose latest `failures` checks failed after a long healthy run
    top = topology()
    history = history_of(top, rounds=5)
    for i in range(failures):
        history["cache-usw2"][i] = observation("cache-usw2", T0 - timedelta(minutes=i), passed=False)
    # When deciding
    decision = run(top, history, policy=Policy(drain_after=3))
    # Then the cache is still in service and still serves its region
    assert decision.members["cache-usw2"].state == IN_SERVICE
    assert decision.members["cache-usw2"].consecutive_failures == failures
    assert decision.routes["us-west-2"].target == "cache-usw2"


def test_n_consecutive_failures_drain_a_cache_and_its_region_falls_back_to_the_origin() -> None:
    top = topology()
    history = history_of(top, rounds=5, failing=["cache-usw2"])
    decision = run(top, history, policy=Policy(drain_after=3))
    assessment = decision.members["cache-usw2"]
    assert assessment.state == DRAINED and assessment.changed
    assert assessment.since == T0
    assert "3 consecutive failed checks" not in assessment.reason  # 5 in a row were observed
    assert "5 consecutive failed checks (drain after 3)" in assessment.reason
    assert decision.routes["us-west-2"].target == "origin-use1"
    assert decision.routes["us-west-2"].reason.startswith("origin fallback")


def test_a_drained_cache_is_restored_only_after_m_passes_since_it_was_drained() -> None:
    top = topology()
    drained_at = T0 - timedelta(minutes=10)
    previous = {**states(top), "cache-usw2": MemberState(DRAINED, drained_at, "drained earlier")}
    # 20 passes before the drain do not count; 2 after it are fewer than M=3
    history = history_of(top, rounds=20)
    history["cache-usw2"] = [
        observation("cache-usw2", drained_at - timedelta(minutes=i + 1)) for i in range(20)
    ]
    history["cache-usw2"] += [observation("cache-usw2", T0 - timedelta(minutes=i)) for i in range(2)]
    kept = run(top, history, previous=previous, policy=Policy(restore_after=3))
    assert kept.members["cache-usw2"].state == DRAINED
    assert kept.members["cache-usw2"].since == drained_at
    assert kept.routes["us-west-2"].target == "origin-use1"
    # a third pass restores it
    history["cache-usw2"].append(observation("cache-usw2", T0 + timedelta(minutes=1)))
    restored = run(
        top, history, previous=previous, policy=Policy(restore_after=3), now=T0 + timedelta(minutes=1)
    )
    assert restored.members["cache-usw2"].state == IN_SERVICE
    assert "3 consecutive passed checks (restore after 3)" in restored.members["cache-usw2"].reason
    assert restored.routes["us-west-2"].target == "cache-usw2"


def test_a_stale_member_is_drained_and_a_never_observed_one_too() -> None:
    top = topology()
    history = history_of(top, rounds=3)
    history["cache-euw1"] = [observation("cache-euw1", T0 - timedelta(hours=2))]
    del history["cache-apse1"]
    decision = run(top, history, policy=Policy(stale_after_seconds=900))
    assert decision.members["cache-euw1"].state == DRAINED
    assert "no observation since" in decision.members["cache-euw1"].reason
    assert decision.members["cache-apse1"].reason == "never observed"
    assert decision.routes["eu-west-1"].target == "origin-use1"


def test_first_assessment_takes_the_verdict_of_the_latest_check() -> None:
    top = topology()
    history = history_of(top, rounds=1, failing=["cache-euw1"])
    decision = run(top, history, previous={})
    assert decision.members["cache-usw2"].state == IN_SERVICE
    assert decision.members["cache-usw2"].previous is None and decision.members["cache-usw2"].changed
    assert decision.members["cache-euw1"].state == DRAINED


def test_a_slow_probe_fails_the_check() -> None:
    top = topology()
    history = history_of(top, rounds=3)
    history["cache-apse1"] = [
        observation("cache-apse1", T0 - timedelta(minutes=i), latency=900.0) for i in range(3)
    ]
    decision = run(top, history, policy=Policy(latency_threshold_ms=500, drain_after=3))
    assert decision.members["cache-apse1"].state == DRAINED
    assert "latency 900 ms" in decision.members["cache-apse1"].reason


@pytest.mark.parametrize(("policy", "expected"), [("drain", DRAINED), ("serve", IN_SERVICE)])
def test_a_cache_cut_off_from_its_origin_follows_the_disconnected_policy(policy: str, expected: str) -> None:
    top = topology()
    history = history_of(top, rounds=3)
    history["cache-usw2"] = [
        observation("cache-usw2", T0 - timedelta(minutes=i), failed=["origin_link", "cluster_peer"])
        for i in range(3)
    ]
    decision = run(top, history, policy=Policy(disconnected_caches=policy))
    assert decision.members["cache-usw2"].state == expected


# --- routes ---------------------------------------------------------------------------------------


def test_region_affinity_routes_each_region_to_its_cache_and_the_origin_region_to_the_origin() -> None:
    top = topology()
    decision = run(top, history_of(top))
    assert {r: route.target for r, route in decision.routes.items()} == {
        "ap-southeast-1": "cache-apse1",
        "eu-west-1": "cache-euw1",
        "us-east-1": "origin-use1",
        "us-west-2": "cache-usw2",
    }
    assert decision.routes["us-east-1"].reason == "client region hosts the origin"
    assert decision.critical_regions == ()


def test_region_affinity_prefers_lower_priority_then_member_id_among_local_caches() -> None:
    caches = [
        member("cache-b", region="eu-west-1", priority=5),
        member("cache-a", region="eu-west-1", priority=5),
        member("cache-c", region="eu-west-1", priority=2),
    ]
    top = topology(caches)
    assert run(top, history_of(top)).routes["eu-west-1"].target == "cache-c"
    history = history_of(top, failing=["cache-c"])
    assert run(top, history).routes["eu-west-1"].target == "cache-a"


def test_priority_ranks_caches_by_priority_then_same_region() -> None:
    caches = [
        member("cache-far", region="eu-west-1", priority=2),
        member("cache-near", region="us-west-2", priority=2),
    ]
    top = topology(caches, client_regions=["us-west-2", "ap-northeast-1"])
    decision = run(top, history_of(top), policy=Policy(strategy="priority"))
    assert decision.routes["us-west-2"].target == "cache-near"  # same priority, same region first
    assert decision.routes["ap-northeast-1"].target == "cache-far"  # neither local: member id


def test_latency_adds_the_cross_region_penalty_and_keeps_the_current_cache_within_the_margin() -> None:
    caches = [member("cache-local", region="eu-west-1"), member("cache-remote", region="eu-central-1")]
    top = topology(caches, client_regions=["eu-west-1"])
    history = history_of(top)
    history["cache-local"] = [
        observation("cache-local", T0 - timedelta(minutes=i), latency=60.0) for i in range(3)
    ]
    history["cache-remote"] = [
        observation("cache-remote", T0 - timedelta(minutes=i), latency=20.0) for i in range(3)
    ]
    policy = Policy(strategy="latency", cross_region_penalty_ms=50, latency_margin_ms=15)
    # 60 local vs 20 + 50 remote: local wins
    assert run(top, history, policy=policy).routes["eu-west-1"].target == "cache-local"
    # the remote cache gets faster (5 + 50 = 55 < 60) but not by more than the margin: no move
    history["cache-remote"] = [
        observation("cache-remote", T0 - timedelta(minutes=i), latency=5.0) for i in range(3)
    ]
    kept = run(top, history, policy=policy, current={"eu-west-1": "cache-local"})
    assert kept.routes["eu-west-1"].target == "cache-local"
    assert "kept" in kept.routes["eu-west-1"].reason
    # without a current route the best score wins
    assert run(top, history, policy=policy).routes["eu-west-1"].target == "cache-remote"


def test_weighted_uses_rendezvous_hashing_and_skips_weight_zero() -> None:
    caches = [
        member("cache-a", region="eu-west-1", weight=50),
        member("cache-b", region="us-west-2", weight=0),
    ]
    top = topology(caches, client_regions=["ap-northeast-1"])
    assert (
        run(top, history_of(top), policy=Policy(strategy="weighted")).routes["ap-northeast-1"].target
        == "cache-a"
    )
    scores = {m: rendezvous_score("ap-northeast-1", m, 50) for m in ("cache-a", "cache-b")}
    assert all(score > 0 for score in scores.values())
    assert rendezvous_score("ap-northeast-1", "cache-a", 50) == scores["cache-a"]  # no salted hash


def test_weight_zero_cache_is_a_last_resort_when_the_origin_is_drained_too() -> None:
    caches = [
        member("cache-a", region="eu-west-1", weight=50),
        member("cache-b", region="us-west-2", weight=0),
    ]
    top = topology(caches, client_regions=["ap-northeast-1"])
    history = history_of(top, failing=["cache-a", "origin-use1"])
    route = run(top, history, policy=Policy(strategy="weighted")).routes["ap-northeast-1"]
    assert route.target == "cache-b" and route.reason.startswith("last resort")


def test_region_affinity_uses_a_remote_cache_only_when_the_origin_is_drained() -> None:
    top = topology()
    history = history_of(top, failing=["cache-usw2"])
    assert run(top, history).routes["us-west-2"].target == "origin-use1"
    history = history_of(top, failing=["cache-usw2", "origin-use1"])
    route = run(top, history).routes["us-west-2"]
    assert route.target == "cache-euw1"  # priority 3 beats cache-apse1's 4
    assert route.reason.startswith("last resort")


def test_all_paths_down_leaves_no_route_and_every_region_critical() -> None:
    top = topology()
    history = history_of(top, failing=[m.member_id for m in top.members])
    decision = run(top, history)
    assert all(route.target is None for route in decision.routes.values())
    assert decision.critical_regions == top.client_regions


# --- operator overrides ---------------------------------------------------------------------------


def _pin(target: str, *, expires=T0 + timedelta(hours=1)) -> dict[str, Override]:
    return {"us-west-2": Override("us-west-2", target, expires, "maintenance of usw2", "alice")}


def test_an_active_override_to_an_in_service_path_wins() -> None:
    top = topology()
    route = run(top, history_of(top), overrides=_pin("cache-euw1")).routes["us-west-2"]
    assert route.target == "cache-euw1" and route.override
    assert "operator override by alice" in route.reason and "maintenance of usw2" in route.reason


def test_an_override_to_a_drained_path_is_ignored_and_says_so() -> None:
    top = topology()
    history = history_of(top, failing=["cache-euw1"])
    route = run(top, history, overrides=_pin("cache-euw1")).routes["us-west-2"]
    assert route.target == "cache-usw2" and not route.override
    assert route.reason.startswith("override to cache-euw1 ignored (not in service)")


def test_an_expired_override_is_ignored() -> None:
    top = topology()
    route = run(top, history_of(top), overrides=_pin("cache-euw1", expires=T0)).routes["us-west-2"]
    assert route.target == "cache-usw2"


# --- inputs --------------------------------------------------------------------------------------


def test_an_observation_filed_under_another_member_is_rejected() -> None:
    top = topology()
    history = history_of(top)
    history["cache-usw2"].append(observation("cache-euw1", T0))
    with pytest.raises(InvalidInputError, match=r"health\[cache-usw2\]\[3\].member_id"):
        run(top, history)


def test_something_that_is_not_an_observation_is_rejected() -> None:
    top = topology()
    history = history_of(top)
    history["cache-usw2"][0] = {"member_id": "cache-usw2", "checks": {"probe": "true"}}  # type: ignore[call-overload]
    with pytest.raises(InvalidInputError, match="is not an Observation"):
        run(top, history)


def test_a_naive_now_is_rejected() -> None:
    top = topology()
    with pytest.raises(InvalidInputError, match="now"):
        run(top, history_of(top), now=T0.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strategy", "nearest"),
        ("drain_after", 0),
        ("restore_after", True),
        ("latency_threshold_ms", 0),
        ("stale_after_seconds", float("nan")),
        ("cross_region_penalty_ms", -1),
        ("disconnected_caches", "stale"),
    ],
)
def test_policy_rejects_invalid_settings(field: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match=field):
        Policy(**{field: value})  # type: ignore[arg-type]


def test_every_strategy_is_accepted_and_history_size_covers_n_and_m() -> None:
    for strategy in STRATEGIES:
        assert Policy(strategy=strategy).strategy == strategy
    assert Policy(drain_after=7, restore_after=9).history_size == 9
    assert Policy(drain_after=1, restore_after=1).history_size == 5
