"""Seeded FlexCache topologies: one origin volume and caches of it on clusters in other regions.

Each site is an FSx for ONTAP file system (its own ONTAP cluster) with an SVM, a volume (the
origin, or a FlexCache of it), an S3 Access Point attached to that volume (alias in FSx's
``<name>-<metadata>-ext-s3alias`` form) and the routing attributes the anycast/DR use case
balances on: ``priority`` (1 = preferred, the origin) and ``weight``. Management endpoints are on
the loopback host ``127.0.0.1``: the sandbox starts one ONTAP simulator per cluster there and
supplies the ports.

:func:`flexcache_simulators` loads a topology into simulators with ONTAP's view of it: the origin
cluster lists a FlexCache origin with one relationship per cache and a cluster peer per cache
cluster; each cache cluster lists its FlexCache (pointing at the origin) and a peer to the origin.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from sandbox.datasets.base import rng
from sandbox.ontap import FlexCacheRelationship, OntapSimulator

REGIONS: Final = (
    "ap-northeast-1",
    "ap-northeast-3",
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
)
_REGION_CODES: Final = {
    "ap-northeast-1": "apne1",
    "ap-northeast-3": "apne3",
    "us-east-1": "use1",
    "us-west-2": "usw2",
    "eu-west-1": "euw1",
    "eu-central-1": "euc1",
    "ap-southeast-1": "apse1",
    "ap-southeast-2": "apse2",
}
LOOPBACK_HOST: Final = "127.0.0.1"
_ALIAS_SUFFIX: Final = "-ext-s3alias"
_ALIAS_MAX: Final = 63
_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
GIB: Final = 1024**3

Role = Literal["origin", "cache"]


@dataclass(frozen=True)
class FlexCacheSite:
    role: Role
    region: str
    cluster_name: str  # FSx for ONTAP names its cluster after the file system id
    cluster_uuid: str
    management_endpoint: str
    intercluster_ip: str
    svm: str
    svm_uuid: str
    volume: str
    volume_uuid: str
    junction_path: str
    size: int
    access_point_name: str
    s3_access_point_alias: str
    priority: int
    weight: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FlexCacheTopology:
    origin: FlexCacheSite
    caches: tuple[FlexCacheSite, ...]

    @property
    def sites(self) -> tuple[FlexCacheSite, ...]:
        return (self.origin, *self.caches)

    def site(self, cluster_name: str) -> FlexCacheSite:
        return next(s for s in self.sites if s.cluster_name == cluster_name)

    def regions(self) -> list[str]:
        return [site.region for site in self.sites]


def _token(r: Any, length: int) -> str:
    return "".join(r.choice(_ALPHABET) for _ in range(length))


def _alias(r: Any, access_point: str) -> str:
    """FSx's alias form: the (possibly shortened) access point name, a hyphen, opaque metadata,
    ``-ext-s3alias``; at most 63 characters like every S3 alias."""
    metadata = _token(r, 20) + _token(r, 4)
    room = _ALIAS_MAX - len(_ALIAS_SUFFIX) - len(metadata) - 1
    prefix = access_point[:room].rstrip("-")
    return f"{prefix}-{metadata}{_ALIAS_SUFFIX}"


def _uuid(r: Any) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def flexcache_topology(
    seed: int, *, caches: int = 3, origin_region: str | None = None, volume: str = "anycast_data"
) -> FlexCacheTopology:
    """An origin and ``caches`` caches, each cluster in a region of its own (so at most
    ``len(REGIONS) - 1`` caches); cache priorities 2, 3, … in seeded order, weights 10-100."""
    if not 1 <= caches < len(REGIONS):
        raise ValueError(f"caches must be between 1 and {len(REGIONS) - 1} (one region each)")
    r = rng(seed, "flexcache")
    pool = list(REGIONS)
    if origin_region is not None:
        if origin_region not in pool:
            raise ValueError(f"unknown region {origin_region!r}")
        pool.remove(origin_region)
        regions = [origin_region, *r.sample(pool, caches)]
    else:
        regions = r.sample(pool, caches + 1)
    priorities = list(range(2, caches + 2))
    r.shuffle(priorities)
    size = r.choice((256, 512, 1024)) * GIB
    sites = []
    for index, region in enumerate(regions):
        role: Role = "origin" if index == 0 else "cache"
        code = _REGION_CODES[region]
        name = volume if role == "origin" else f"{volume}_cache_{code}"
        access_point = f"fc-{code}-{'origin' if role == 'origin' else 'cache'}-{_token(r, 4)}"
        sites.append(
            FlexCacheSite(
                role=role,
                region=region,
                cluster_name=f"FsxId{r.getrandbits(68):017x}",
                cluster_uuid=_uuid(r),
                management_endpoint=LOOPBACK_HOST,
                intercluster_ip=f"10.{index + 10}.{r.randrange(1, 255)}.{r.randrange(4, 250)}",
                svm=f"svm_{code}",
                svm_uuid=_uuid(r),
                volume=name,
                volume_uuid=_uuid(r),
                junction_path=f"/{name}",
                size=size if role == "origin" else size // 4,
                access_point_name=access_point,
                s3_access_point_alias=_alias(r, access_point),
                priority=1 if role == "origin" else priorities[index - 1],
                weight=100 if role == "origin" else r.randrange(10, 101),
            )
        )
    return FlexCacheTopology(sites[0], tuple(sites[1:]))


def _relationship(site: FlexCacheSite) -> FlexCacheRelationship:
    """The far end as ONTAP describes it in ``origins[]`` / ``flexcaches[]``."""
    return FlexCacheRelationship(
        site.volume,
        site.svm,
        site.cluster_name,
        volume_uuid=site.volume_uuid,
        svm_uuid=site.svm_uuid,
        cluster_uuid=site.cluster_uuid,
        ip_address=site.intercluster_ip,
        size=site.size,
    )


def load_flexcache_site(sim: OntapSimulator, topology: FlexCacheTopology, cluster_name: str) -> None:
    """Give ``sim`` (the simulator standing for ``cluster_name``) its part of the topology."""
    site = topology.site(cluster_name)
    sim.cluster.name = site.cluster_name
    sim.cluster.uuid = site.cluster_uuid
    svm = next((s for s in sim.svms if s.uuid == site.svm_uuid), None) or sim.add_svm(
        site.svm, uuid=site.svm_uuid
    )
    origin = topology.origin
    if site.role == "origin":
        volume = sim.add_volume(
            site.volume, svm=svm, junction_path=site.junction_path, size=site.size, uuid=site.volume_uuid
        )
        sim.add_flexcache_origin(volume, flexcaches=[_relationship(cache) for cache in topology.caches])
        for cache in topology.caches:
            sim.add_cluster_peer(
                cache.cluster_name,
                remote_ip_addresses=[cache.intercluster_ip],
                peer_applications=["flexcache"],
            )
    else:
        flexcache = sim.add_flexcache(
            site.volume, svm=svm, origins=[_relationship(origin)], path=site.junction_path, size=site.size
        )
        flexcache.uuid = site.volume_uuid
        sim.add_cluster_peer(
            origin.cluster_name, remote_ip_addresses=[origin.intercluster_ip], peer_applications=["flexcache"]
        )


def flexcache_simulators(
    topology: FlexCacheTopology, *, password: str | None = None
) -> Mapping[str, OntapSimulator]:
    """One loaded simulator per cluster, keyed by cluster name (origin first)."""
    simulators: dict[str, OntapSimulator] = {}
    for site in topology.sites:
        sim = OntapSimulator(cluster_name=site.cluster_name, password=password)
        load_flexcache_site(sim, topology, site.cluster_name)
        simulators[site.cluster_name] = sim
    return simulators
