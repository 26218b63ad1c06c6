"""Handler settings from the environment the template sets; clients dropped after a SnapStart restore."""

from __future__ import annotations

import pytest
from flexcache_dr import clients
from flexcache_dr.settings import DnsSettings, DrillSettings, HealthSettings, RoutingSettings, policy_from_env

from shared.errors import InvalidInputError
from shared.snapstart import run_after_restore_hooks
from tests.flexcache_dr.builders import member

BASE = {
    "TOPOLOGY_TABLE": "t",
    "HEALTH_TABLE": "h",
    "ROUTING_TABLE": "r",
    "AUDIT_TABLE": "a",
    "CANARY_KEY": "flexcache-dr/canary.bin",
    "DEPLOYMENT_ENVIRONMENT": "staging",
    "OUTPUT_BUCKET": "out",
    "HOSTED_ZONE_ID": "Z1",
    "RECORD_DOMAIN": "reads.example.com.",
}


def test_the_templates_values_become_settings() -> None:
    policy = policy_from_env(
        {"ROUTING_STRATEGY": "weighted", "DRAIN_AFTER_FAILURES": "4", "LATENCY_THRESHOLD_MS": "250.5"}
    )
    assert (policy.strategy, policy.drain_after, policy.restore_after) == ("weighted", 4, 5)
    assert policy.latency_threshold_ms == 250.5
    assert RoutingSettings.from_env({**BASE, "AWS_REGION": "eu-west-1"}).region == "eu-west-1"
    assert HealthSettings.from_env(BASE).probe.canary_bytes == 4096
    assert DrillSettings.from_env(BASE).environment == "staging"
    assert DnsSettings.from_env(BASE).record_domain == "reads.example.com"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ROUTING_TABLE": ""}, "ROUTING_TABLE"),
        ({"DRAIN_AFTER_FAILURES": "three"}, "DRAIN_AFTER_FAILURES"),
        ({"RESTORE_AFTER_SUCCESSES": "0"}, "RESTORE_AFTER_SUCCESSES"),
        ({"LATENCY_THRESHOLD_MS": "fast"}, "LATENCY_THRESHOLD_MS"),
        ({"STALE_AFTER_SECONDS": "inf"}, "STALE_AFTER_SECONDS"),
        ({"ROUTING_STRATEGY": "anycast"}, "strategy"),
        ({"DEPLOYMENT_ENVIRONMENT": "prod"}, "DEPLOYMENT_ENVIRONMENT"),
    ],
)
def test_invalid_settings_name_the_variable(changes: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        DrillSettings.from_env({**BASE, **changes})
    assert raised.value.field == field


def test_ontap_clients_are_per_cluster_and_dropped_after_a_restore() -> None:
    # Building clients connects nowhere: the first request would.
    first = clients.ontap_client(member("cache-a"), {"ONTAP_TIMEOUT_SECONDS": "3"})
    assert clients.ontap_client(member("cache-a"), {"ONTAP_TIMEOUT_SECONDS": "3"}) is first
    assert clients.ontap_client(member("cache-b"), {"ONTAP_TIMEOUT_SECONDS": "3"}) is not first
    with pytest.raises(InvalidInputError, match="ONTAP_VERIFY_TLS"):
        clients.ontap_client(member("cache-a"), {"ONTAP_VERIFY_TLS": "maybe"})
    run_after_restore_hooks()
    assert clients.ontap_client(member("cache-a"), {"ONTAP_TIMEOUT_SECONDS": "3"}) is not first
