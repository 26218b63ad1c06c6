"""DynamoDB adapters: the topology, the health history and the routing state with its audit trail.

Tables (all on-demand, encrypted, keys below):

``TopologyTable``  ``pk``: ``member#<member_id>`` (one item per member) and ``topology`` (client
                   regions, fingerprint, source, loaded_at). Replaced in one transaction.
``HealthTable``    ``member_id`` + ``observed_at`` (``<ISO UTC>#<run_id>``); ``expires_at`` is the TTL.
``RoutingTable``   ``pk`` + ``sk``: ``state/state`` (the state version), ``route/<client region>``,
                   ``member/<member_id>``, ``override/<client region>`` (``expires_at`` TTL).
``AuditTable``     ``subject`` (``route#<region>``, ``member#<id>``, ``override#<region>``) + ``at``
                   (``<ISO UTC>#<state version>``); written, never updated.

A commit is ONE ``TransactWriteItems``: the state version moves from the version read to the next
one (``ConditionExpression``), every changed route, member state and override is written, and
every audit record is put with ``attribute_not_exists`` — so the routes and their audit records
exist together or not at all, and a concurrent commit on the same version fails as
:class:`RouteVersionConflictError` (retryable: the caller re-reads and decides again).

boto3 clients are injected; numbers come back from DynamoDB as ``Decimal`` and are turned into
``int``/``float`` here, before any validation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NoReturn

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from flexcache_dr.decision import MemberState, Override
from flexcache_dr.health import Observation, format_timestamp, parse_timestamp
from flexcache_dr.publication import PublicationPlan, PublishedRoute, RoutingState
from flexcache_dr.topology import Topology, parse_topology
from shared.errors import InvalidInputError, RouteVersionConflictError, RoutingStoreUnavailableError

DynamoDBClient = Any
_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()
_UNAVAILABLE: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
_STATE_KEY: Final = {"pk": "state", "sk": "state"}


def to_dynamo(value: Any) -> Any:
    """JSON-able value → what TypeSerializer accepts (floats as Decimal, no NaN)."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError("value", f"cannot store non-finite number {value!r}")
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    raise InvalidInputError("value", f"cannot store {type(value).__name__}")


def from_dynamo(value: Any) -> Any:
    """Deserialized DynamoDB value → plain JSON types (Decimal → int when integral, else float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [from_dynamo(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(to_dynamo(v)) for k, v in item.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_dynamo(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _reraise(err: ClientError | BotoCoreError, action: str, table: str) -> NoReturn:
    """Raise the typed error for ``err`` (from it); an unexpected error propagates unchanged."""
    mapped = _store_error(err, action, table)
    if mapped is err:
        raise err
    raise mapped from err


def _store_error(err: ClientError | BotoCoreError, action: str, table: str) -> Exception:
    if isinstance(err, BotoCoreError):
        return RoutingStoreUnavailableError(
            f"DynamoDB {action} on {table} failed: {type(err).__name__}", table=table
        )
    code = str(err.response.get("Error", {}).get("Code", ""))
    if code in _UNAVAILABLE:
        return RoutingStoreUnavailableError(f"DynamoDB {action} on {table} kept failing: {code}", table=table)
    if code == "ResourceNotFoundException":
        return InvalidInputError("table", f"DynamoDB table {table} does not exist")
    unexpected: Exception = err
    return unexpected


def _paginate(client: DynamoDBClient, operation: str, table: str, **params: Any) -> Iterable[dict[str, Any]]:
    method = getattr(client, operation)
    key: Mapping[str, Any] | None = None
    while True:
        try:
            page = method(TableName=table, **params, **({"ExclusiveStartKey": key} if key else {}))
        except (ClientError, BotoCoreError) as err:
            _reraise(err, operation, table)
        for raw in page.get("Items", []):
            yield deserialize(raw)
        key = page.get("LastEvaluatedKey")
        if not key:
            return


# --- topology -----------------------------------------------------------------------------------


class TopologyStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def load(
        self, *, secret_prefix: str = "", stack_region: str | None = None
    ) -> tuple[Topology, str] | None:
        """The stored topology and its fingerprint, or None when nothing was ever loaded."""
        items = list(_paginate(self._client, "scan", self._table, ConsistentRead=True))
        meta = next((i for i in items if i.get("pk") == "topology"), None)
        if meta is None:
            return None
        members = sorted(
            (i for i in items if str(i.get("pk", "")).startswith("member#")),
            key=lambda i: int(i.get("position", 0)),
        )
        document = {
            "client_regions": meta.get("client_regions"),
            "members": [{k: v for k, v in m.items() if k not in ("pk", "position")} for m in members],
        }
        topology = parse_topology(document, secret_prefix=secret_prefix, stack_region=stack_region)
        return topology, str(meta.get("fingerprint", ""))

    def replace(self, topology: Topology, *, source: str, now: datetime) -> None:
        """Write ``topology`` and remove members it no longer lists, atomically."""
        existing = {
            str(i["pk"])
            for i in _paginate(
                self._client, "scan", self._table, ConsistentRead=True, ProjectionExpression="pk"
            )
        }
        wanted = {f"member#{m.member_id}" for m in topology.members}
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize({"pk": f"member#{m.member_id}", "position": i, **m.to_dict()}),
                }
            }
            for i, m in enumerate(topology.members)
        ]
        actions += [
            {"Delete": {"TableName": self._table, "Key": serialize({"pk": pk})}}
            for pk in sorted(existing - wanted - {"topology"})
        ]
        actions.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": "topology",
                            "client_regions": list(topology.client_regions),
                            "fingerprint": topology.fingerprint(),
                            "source": source,
                            "loaded_at": format_timestamp(now),
                            "members": len(topology.members),
                        }
                    ),
                }
            }
        )
        try:
            self._client.transact_write_items(TransactItems=actions)
        except (ClientError, BotoCoreError) as err:
            _reraise(err, "TransactWriteItems", self._table)


# --- health -------------------------------------------------------------------------------------


class HealthStore:
    def __init__(self, client: DynamoDBClient, table: str, *, retention: timedelta) -> None:
        self._client = client
        self._table = table
        self._retention = retention

    def put(self, observation: Observation) -> None:
        record = observation.to_record()
        item = {
            **record,
            "observed_at": f"{record['observed_at']}#{observation.run_id}",
            "expires_at": int((observation.observed_at + self._retention).timestamp()),
        }
        try:
            self._client.put_item(TableName=self._table, Item=serialize(item))
        except (ClientError, BotoCoreError) as err:
            _reraise(err, "PutItem", self._table)

    def recent(self, member_ids: Sequence[str], limit: int) -> dict[str, list[Observation]]:
        """The newest ``limit`` observations of each member, validated (malformed ones raise)."""
        history: dict[str, list[Observation]] = {}
        for member_id in member_ids:
            try:
                page = self._client.query(
                    TableName=self._table,
                    KeyConditionExpression="member_id = :m",
                    ExpressionAttributeValues={":m": {"S": member_id}},
                    ScanIndexForward=False,
                    Limit=limit,
                    ConsistentRead=True,
                )
            except (ClientError, BotoCoreError) as err:
                _reraise(err, "Query", self._table)
            observations = []
            for raw in page.get("Items", []):
                item = deserialize(raw)
                key = str(item.get("observed_at", ""))
                item.pop("expires_at", None)
                item["observed_at"] = key.split("#", 1)[0]
                observations.append(Observation.from_record(item, where=f"health record {member_id}/{key}"))
            history[member_id] = observations
        return history


# --- routing state ------------------------------------------------------------------------------


def _override_from(item: Mapping[str, Any], where: str) -> Override:
    for key in ("target", "reason", "actor"):
        if not isinstance(item.get(key), str):
            raise InvalidInputError(f"{where}.{key}", "must be a string")
    return Override(
        client_region=str(item["sk"]),
        target=str(item["target"]),
        expires_at=parse_timestamp(item.get("expires_at_iso"), f"{where}.expires_at_iso"),
        reason=str(item["reason"]),
        actor=str(item["actor"]),
        created_at=parse_timestamp(item["created_at"], f"{where}.created_at")
        if "created_at" in item
        else None,
    )


class RoutingStore:
    def __init__(self, client: DynamoDBClient, routing_table: str, audit_table: str) -> None:
        self._client = client
        self._table = routing_table
        self._audit = audit_table

    def load(self) -> RoutingState:
        version = 0
        routes: dict[str, PublishedRoute] = {}
        members: dict[str, MemberState] = {}
        overrides: dict[str, Override] = {}
        for item in _paginate(self._client, "scan", self._table, ConsistentRead=True):
            pk, sk = item.get("pk"), str(item.get("sk"))
            where = f"routing item {pk}/{sk}"
            if pk == "state":
                version = _int(item.get("version"), f"{where}.version")
            elif pk == "route":
                target = item.get("target")
                if target is not None and not isinstance(target, str):
                    raise InvalidInputError(f"{where}.target", "must be a member id or null")
                routes[sk] = PublishedRoute(
                    client_region=sk,
                    target=target,
                    version=_int(item.get("version"), f"{where}.version"),
                    reason=str(item.get("reason", "")),
                    override=bool(item.get("override", False)),
                    updated_at=parse_timestamp(item["updated_at"], f"{where}.updated_at")
                    if "updated_at" in item
                    else None,
                )
            elif pk == "member":
                members[sk] = MemberState.from_record(item, where=where)
            elif pk == "override":
                overrides[sk] = _override_from(item, where)
        return RoutingState(version=version, routes=routes, members=members, overrides=overrides)

    def _actions(self, plan: PublicationPlan) -> list[dict[str, Any]]:
        at = format_timestamp(plan.at)
        actions: list[dict[str, Any]] = []
        state_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": serialize(_STATE_KEY),
            "UpdateExpression": "SET version = :new, updated_at = :at, run_id = :run, actor = :actor",
            "ExpressionAttributeValues": serialize(
                {":new": plan.new_version, ":at": at, ":run": plan.run_id, ":actor": plan.actor}
            ),
        }
        if plan.expected_version == 0:
            state_update["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            state_update["ConditionExpression"] = "version = :expected"
            state_update["ExpressionAttributeValues"][":expected"] = {"N": str(plan.expected_version)}
        actions.append({"Update": state_update})
        for change in plan.route_changes:
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": "route",
                                "sk": change.client_region,
                                "target": change.new,
                                "version": change.new_version,
                                "reason": change.reason,
                                "override": change.override,
                                "updated_at": at,
                                "actor": plan.actor,
                                "run_id": plan.run_id,
                                "state_version": plan.new_version,
                            }
                        ),
                    }
                }
            )
        for member in plan.member_changes:
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "pk": "member",
                                "sk": member.member_id,
                                "state": member.new,
                                "since": format_timestamp(member.since),
                                "reason": member.reason,
                                "state_version": plan.new_version,
                            }
                        ),
                    }
                }
            )
        for override in plan.override_changes:
            key = {"pk": "override", "sk": override.client_region}
            if override.new is None:
                actions.append({"Delete": {"TableName": self._table, "Key": serialize(key)}})
            else:
                new = override.new
                actions.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": serialize(
                                {
                                    **key,
                                    "target": new.target,
                                    "reason": new.reason,
                                    "actor": new.actor,
                                    "expires_at_iso": format_timestamp(new.expires_at),
                                    "expires_at": int(new.expires_at.timestamp()),
                                    "created_at": format_timestamp(new.created_at or plan.at),
                                }
                            ),
                        }
                    }
                )
        for record in plan.audit_records():
            actions.append(
                {
                    "Put": {
                        "TableName": self._audit,
                        "Item": serialize(record),
                        "ConditionExpression": "attribute_not_exists(subject)",
                    }
                }
            )
        return actions

    def commit(self, plan: PublicationPlan) -> None:
        """Write ``plan`` if the state version is still ``plan.expected_version``."""
        if not plan.changed:
            return
        try:
            self._client.transact_write_items(TransactItems=self._actions(plan))
        except ClientError as err:
            error = err.response.get("Error", {})
            reasons = [str(r.get("Code")) for r in err.response.get("CancellationReasons", []) or []]
            if error.get("Code") == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                raise RouteVersionConflictError(
                    f"routing state moved past version {plan.expected_version} while deciding; decide again",
                    expected_version=plan.expected_version,
                ) from err
            if error.get("Code") == "TransactionCanceledException":
                raise RoutingStoreUnavailableError(
                    f"routing transaction cancelled: {', '.join(r for r in reasons if r != 'None')}",
                    table=self._table,
                ) from err
            _reraise(err, "TransactWriteItems", self._table)
        except BotoCoreError as err:
            _reraise(err, "TransactWriteItems", self._table)

    def audit_trail(self, subject: str) -> list[dict[str, Any]]:
        """Every audit record of ``subject`` (``route#eu-west-1`` …), oldest first."""
        return list(
            _paginate(
                self._client,
                "query",
                self._audit,
                KeyConditionExpression="subject = :s",
                ExpressionAttributeValues={":s": {"S": subject}},
                ConsistentRead=True,
            )
        )


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(field, f"must be a non-negative integer, got {value!r}")
    return value
