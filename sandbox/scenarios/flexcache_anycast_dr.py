"""flexcache-anycast-dr in the sandbox: an origin and FlexCaches on clusters in several regions.

Each FSx for ONTAP file system is its own cluster, so every site gets its own ONTAP simulator
(own endpoint, own ``fsxadmin`` password in its own Secrets Manager secret ``fsxn/<cluster>``),
loaded from the seeded topology of :mod:`sandbox.datasets.flexcache`. The simulators serve TLS
with their own generated CAs, concatenated into one bundle given to the functions as
``ONTAP_CA_BUNDLE``: verification stays on. A bucket named as each site's access point alias
holds the canary object the data-path probe reads.

Scenarios: ``baseline`` measures and decides once (the topology is loaded from the input, as a
JSON file would be); ``cache_down``, ``origin_unreachable``, ``region_down`` and ``latency_spike``
run that drill (dry run) on the freshly measured health.
"""

from __future__ import annotations

import json
import random
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.datasets.flexcache import (
    FlexCacheSite,
    FlexCacheTopology,
    flexcache_topology,
    load_flexcache_site,
)
from sandbox.ontap import OntapSimulator
from sandbox.runner import ExecutionResult
from sandbox.scenarios import RunOptions, RunPlan

CANARY_KEY: Final = "flexcache-dr/canary.bin"
CREDENTIALS_NAME_PREFIX: Final = "fsxn/"
SANDBOX_PARAMETERS: Final = {
    "SubnetIds": "subnet-0a1b2c3d4e5f60718",
    "SecurityGroupIds": "sg-0a1b2c3d4e5f60718",
    "LatencyThresholdMs": 5000,
}
"""The health check runs in a VPC on AWS; the sandbox has none, the values only satisfy the template.
A canary read through moto on a busy laptop can take far longer than through S3, so the latency
threshold is generous: a slow sandbox must not look like a failing cache."""


def member_id(site: FlexCacheSite) -> str:
    code = site.s3_access_point_alias.split("-")[1]  # fc-<region code>-... from the dataset
    return f"{site.role}-{code}"


@dataclass
class SandboxTopology:
    """Running simulators for a seeded topology, and what the stack needs to reach them."""

    dataset: FlexCacheTopology
    document: dict[str, Any]
    simulators: dict[str, OntapSimulator] = field(default_factory=dict)  # by member id
    environment: dict[str, str] = field(default_factory=dict)

    def site(self, member: str) -> FlexCacheSite:
        return next(s for s in self.dataset.sites if member_id(s) == member)

    @property
    def origin_id(self) -> str:
        return member_id(self.dataset.origin)

    @property
    def cache_ids(self) -> list[str]:
        return [member_id(site) for site in self.dataset.caches]


def cluster_simulator(dataset: FlexCacheTopology, site: FlexCacheSite, password: str) -> OntapSimulator:
    """The simulator of ``site``'s cluster, loaded with its part of ``dataset``."""
    sim = OntapSimulator(cluster_name=site.cluster_name, password=password)
    load_flexcache_site(sim, dataset, site.cluster_name)
    if site.role == "cache":
        # A FlexCache is also a volume (always a FlexGroup) in /api/storage/volumes; the dataset
        # loader registers only its /api/storage/flexcache/flexcaches record.
        svm = next(s for s in sim.svms if s.uuid == site.svm_uuid)
        sim.add_volume(
            site.volume,
            svm=svm,
            junction_path=site.junction_path,
            size=site.size,
            style="flexgroup",
            uuid=site.volume_uuid,
        )
    return sim


def start_topology(
    world: SandboxWorld, resources: ExitStack, *, seed: int = 7, caches: int = 3
) -> SandboxTopology:
    """Start one TLS simulator per cluster, create secrets, access point buckets and canaries."""
    dataset = flexcache_topology(seed, caches=caches)
    rng = random.Random(seed)
    secrets = world.client("secretsmanager")
    s3 = world.client("s3")
    bundle_parts: list[str] = []
    members = []
    running = SandboxTopology(dataset=dataset, document={})
    for site in dataset.sites:
        password = "".join(
            rng.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(20)
        )
        sim = cluster_simulator(dataset, site, password)
        endpoint = resources.enter_context(sim.running(tls=True))
        if endpoint.ca_bundle:
            bundle_parts.append(Path(endpoint.ca_bundle).read_text(encoding="ascii"))
        secret_name = f"{CREDENTIALS_NAME_PREFIX}{site.cluster_name}"
        secrets.create_secret(
            Name=secret_name, SecretString=json.dumps({"username": endpoint.username, "password": password})
        )
        world.create_bucket(site.s3_access_point_alias)
        s3.put_object(Bucket=site.s3_access_point_alias, Key=CANARY_KEY, Body=rng.randbytes(8192))
        mid = member_id(site)
        running.simulators[mid] = sim
        members.append(
            {
                "member_id": mid,
                "role": site.role,
                "region": site.region,
                "management_endpoint": endpoint.endpoint,
                "secret": secret_name,
                "svm": site.svm,
                "volume": site.volume,
                "access_point_alias": site.s3_access_point_alias,
                "priority": site.priority,
                "weight": site.weight,
            }
        )
    bundle = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False, encoding="ascii")  # noqa: SIM115
    with bundle:
        bundle.write("".join(bundle_parts))
    resources.callback(Path(bundle.name).unlink, missing_ok=True)
    running.document = {"members": members}
    running.environment = {"ONTAP_CA_BUNDLE": bundle.name}
    return running


SANDBOX_RECORD_DOMAIN = "reads.sandbox.example.com"


class FlexCacheAnycastDrScenario:
    use_case = "flexcache-anycast-dr"
    names = ("baseline", "cache_down", "origin_unreachable", "region_down", "latency_spike")

    def prepare(self, world: SandboxWorld, resources: ExitStack, options: RunOptions) -> RunPlan:
        running = start_topology(world, resources, seed=options.seed)
        execution_input: dict[str, Any] = {"topology": running.document}
        scenario = options.scenario or self.names[0]
        caches = running.cache_ids
        if scenario == "cache_down":
            execution_input.update(scenario=scenario, target=caches[0])
        elif scenario == "region_down":
            execution_input.update(scenario=scenario, region=running.site(caches[1 % len(caches)]).region)
        elif scenario == "latency_spike":
            execution_input.update(scenario=scenario, target=caches[-1])
        elif scenario == "origin_unreachable":
            execution_input.update(scenario=scenario)
        # The sandbox also shows the opt-in Route 53 sync (off by default in the template).
        zone = world.client("route53").create_hosted_zone(
            Name=SANDBOX_RECORD_DOMAIN, CallerReference=f"sandbox-{options.seed}"
        )["HostedZone"]["Id"]
        return RunPlan(
            parameters={
                **SANDBOX_PARAMETERS,
                "Environment": "development",  # a laptop: drills may apply (tests cover production)
                "HostedZoneId": zone.rsplit("/", 1)[-1],
                "RecordDomain": SANDBOX_RECORD_DOMAIN,
            },
            environment=running.environment,
            input=execution_input,
            files=len(running.document["members"]),
        )

    def summarize(self, stack: UseCaseStack, result: ExecutionResult) -> dict[str, Any]:
        output = result.output if result.succeeded and isinstance(result.output, dict) else {}
        if "verdict" in output:
            return {"drill verdict": output["verdict"], "report": output.get("report", {}).get("key", "")}
        summary = output.get("summary", {})
        routes = summary.get("routes", {})
        return {
            "client regions routed": sum(1 for target in routes.values() if target),
            "regions without a route": len(summary.get("critical_regions", [])),
            "route changes published": output.get("publication", {}).get("route_changes", 0),
        }


SCENARIO = FlexCacheAnycastDrScenario()
