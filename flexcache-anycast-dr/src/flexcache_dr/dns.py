"""Optional Route 53 publication of the routes as weighted TXT records.

For every client region ``R`` and every member ``P`` there is one weighted record
``R.<RecordDomain>`` TXT, ``SetIdentifier = P``, value ``"<P's access point alias>"``, plus one
``SetIdentifier = none`` record whose value is ``"none"``. Exactly one of them has weight 1 (the
published route, or ``none`` when the region has no read path); the others have weight 0, which
Route 53 never answers while a non-zero record exists. A client (or a mount helper) resolves
``TXT eu-west-1.reads.example.com`` and gets the one alias to use.

Records are UPSERTed on every run, so a failed sync heals on the next one. Requests are split to
stay under Route 53's limits (1,000 records and 32,000 value characters per change batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from flexcache_dr.topology import Topology
from shared.errors import RoutingStoreUnavailableError

NO_ROUTE: Final = "none"
_MAX_RECORDS: Final = 1000
_MAX_VALUE_CHARS: Final = 30_000


def desired_records(
    topology: Topology, routes: Mapping[str, str | None], domain: str, ttl: int
) -> list[dict[str, Any]]:
    """The UPSERT changes that make the zone match ``routes`` (client region → member id or None)."""
    changes = []
    for region in topology.client_regions:
        chosen = routes.get(region)
        name = f"{region}.{domain.rstrip('.')}."
        targets = [(m.member_id, m.access_point_alias) for m in topology.members] + [(NO_ROUTE, NO_ROUTE)]
        for identifier, value in targets:
            selected = identifier == (chosen if chosen is not None else NO_ROUTE)
            changes.append(
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "TXT",
                        "SetIdentifier": identifier,
                        "Weight": 1 if selected else 0,
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": f'"{value}"'}],
                    },
                }
            )
    return changes


def _batches(changes: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    chars = 0
    for change in changes:
        size = sum(len(r["Value"]) for r in change["ResourceRecordSet"]["ResourceRecords"])
        if current and (len(current) >= _MAX_RECORDS or chars + size > _MAX_VALUE_CHARS):
            batches.append(current)
            current, chars = [], 0
        current.append(change)
        chars += size
    if current:
        batches.append(current)
    return batches


def sync_records(route53: Any, hosted_zone_id: str, changes: list[dict[str, Any]]) -> int:
    """Apply ``changes``; returns how many change batches were sent."""
    batches = _batches(changes)
    for batch in batches:
        try:
            route53.change_resource_record_sets(
                HostedZoneId=hosted_zone_id,
                ChangeBatch={"Comment": "flexcache-anycast-dr routes", "Changes": batch},
            )
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in ("Throttling", "PriorRequestNotComplete", "ServiceUnavailable"):
                raise RoutingStoreUnavailableError(f"Route 53 kept refusing changes: {code}") from err
            raise
        except BotoCoreError as err:
            raise RoutingStoreUnavailableError(f"Route 53 is unreachable: {type(err).__name__}") from err
    return len(batches)
