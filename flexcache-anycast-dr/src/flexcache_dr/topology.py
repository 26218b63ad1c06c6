"""The topology: one origin volume, its FlexCache volumes, and the client regions that read them.

A topology document is JSON (a template parameter, or a file passed to the state machine as
``{"topology": {...}}``)::

    {
      "client_regions": ["ap-northeast-1", "us-west-2"],      # optional: default = members' regions
      "members": [
        {"member_id": "origin-apne1", "role": "origin", "region": "ap-northeast-1",
         "management_endpoint": "10.0.1.10", "secret": "fsxn/origin-cluster",
         "svm": "svm_apne1", "volume": "anycast_data",
         "access_point_alias": "fc-apne1-origin-...-ext-s3alias", "priority": 1, "weight": 100},
        {"member_id": "cache-usw2", "role": "cache", ...}
      ]
    }

Validation is strict and names the offending field (``members[2].weight``): unknown keys, wrong
types (``"3"`` is not a number, ``true`` is not an integer), duplicates and a second origin are
errors, never coerced. Every member has its own cluster management endpoint and its own Secrets
Manager secret (name or ARN in the stack's region, under the configured name prefix), because each
FSx for ONTAP file system is its own cluster with its own ``fsxadmin``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import urllib3

from shared.errors import InvalidInputError
from shared.s3ap import AccessPoint

Role = Literal["origin", "cache"]

MAX_MEMBERS: Final = 24
MAX_CLIENT_REGIONS: Final = 24
"""Both bounded so that one routing decision commits in one DynamoDB transaction (100 actions)."""

_MEMBER_ID_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?")
_REGION_RE: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
# ONTAP: a volume name starts with a letter or '_' and holds letters, digits and '_' (203 max);
# an SVM name may also hold '-' and '.'.
_VOLUME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,202}")
_SVM_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,46}")
_SECRET_NAME_RE: Final = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_SECRET_ARN_RE: Final = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2}):\d{12}:secret:(?P<name>[A-Za-z0-9/_+=.@-]+)"
)
_MEMBER_KEYS: Final = frozenset(
    {
        "member_id",
        "role",
        "region",
        "management_endpoint",
        "secret",
        "svm",
        "volume",
        "access_point_alias",
        "priority",
        "weight",
    }
)
_DOCUMENT_KEYS: Final = frozenset({"client_regions", "members"})


def _fail(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(field, message)


def _string(value: object, field: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__} {value!r}")
    if pattern is not None and not pattern.fullmatch(value):
        raise _fail(field, f"{value!r} is not {what}")
    return value


def _integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an integer from {low} to {high}, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise _fail(field, f"must be from {low} to {high}, got {value}")
    return value


def check_region(value: object, field: str) -> str:
    return _string(value, field, _REGION_RE, "an AWS Region code such as eu-west-1")


def check_member_id(value: object, field: str) -> str:
    return _string(value, field, _MEMBER_ID_RE, "a member id (1-48 lowercase letters, digits and '-')")


def _endpoint(value: object, field: str) -> str:
    text = _string(value, field)
    try:
        url = urllib3.util.parse_url(text)
    except urllib3.exceptions.LocationParseError:
        raise _fail(field, f"not a host, host:port or https://host:port: {text!r}") from None
    if (url.scheme or "https") not in ("https", "http") or not url.host:
        raise _fail(field, f"not a host, host:port or https://host:port: {text!r}")
    if url.auth or url.query or url.fragment or (url.path or "/") != "/":
        raise _fail(field, f"only a host and optional port, no path or credentials: {text!r}")
    return text


def _secret(value: object, field: str, secret_prefix: str, stack_region: str | None) -> str:
    text = _string(value, field)
    arn = _SECRET_ARN_RE.fullmatch(text)
    if arn is not None:
        if stack_region is not None and arn["region"] != stack_region:
            raise _fail(
                field,
                f"secret {text!r} is in {arn['region']}; the checker reads secrets in {stack_region} "
                "(replicate the secret there)",
            )
        name = arn["name"]
    elif text.startswith("arn:"):
        raise _fail(field, f"not a Secrets Manager secret ARN: {text!r}")
    else:
        name = _string(text, field, _SECRET_NAME_RE, "a Secrets Manager secret name")
    if secret_prefix and not name.startswith(secret_prefix):
        raise _fail(
            field,
            f"secret {name!r} is not under the prefix {secret_prefix!r} that the checker may read "
            "(template parameter OntapSecretNamePrefix)",
        )
    return text


@dataclass(frozen=True)
class Member:
    """The origin or one cache: where its cluster is, which volume, and how clients reach it."""

    member_id: str
    role: Role
    region: str
    management_endpoint: str
    secret: str
    svm: str
    volume: str
    access_point_alias: str
    priority: int
    weight: int

    @property
    def is_origin(self) -> bool:
        return self.role == "origin"

    @classmethod
    def from_dict(
        cls,
        raw: object,
        *,
        field: str = "member",
        secret_prefix: str = "",
        stack_region: str | None = None,
    ) -> Member:
        if not isinstance(raw, Mapping):
            raise _fail(field, f"must be an object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - _MEMBER_KEYS)
        if unknown:
            raise _fail(
                field, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_MEMBER_KEYS))}"
            )
        missing = sorted(_MEMBER_KEYS - set(raw))
        if missing:
            raise _fail(field, f"missing key(s) {', '.join(missing)}")
        role = _string(raw["role"], f"{field}.role")
        if role not in ("origin", "cache"):
            raise _fail(f"{field}.role", f"must be 'origin' or 'cache', got {role!r}")
        alias = _string(raw["access_point_alias"], f"{field}.access_point_alias")
        try:
            AccessPoint.parse(alias)
        except InvalidInputError as err:
            raise _fail(f"{field}.access_point_alias", err.message) from None
        return cls(
            member_id=check_member_id(raw["member_id"], f"{field}.member_id"),
            role="origin" if role == "origin" else "cache",
            region=check_region(raw["region"], f"{field}.region"),
            management_endpoint=_endpoint(raw["management_endpoint"], f"{field}.management_endpoint"),
            secret=_secret(raw["secret"], f"{field}.secret", secret_prefix, stack_region),
            svm=_string(raw["svm"], f"{field}.svm", _SVM_RE, "an ONTAP SVM name"),
            volume=_string(raw["volume"], f"{field}.volume", _VOLUME_RE, "an ONTAP volume name"),
            access_point_alias=alias,
            priority=_integer(raw["priority"], f"{field}.priority", 1, 1000),
            weight=_integer(raw["weight"], f"{field}.weight", 0, 1000),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "role": self.role,
            "region": self.region,
            "management_endpoint": self.management_endpoint,
            "secret": self.secret,
            "svm": self.svm,
            "volume": self.volume,
            "access_point_alias": self.access_point_alias,
            "priority": self.priority,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Topology:
    """A validated topology: exactly one origin, at least one cache, client regions to route."""

    members: tuple[Member, ...]
    client_regions: tuple[str, ...]

    def __post_init__(self) -> None:
        origins = [m for m in self.members if m.is_origin]
        if len(origins) != 1:
            raise _fail("members", f"exactly one member has role 'origin', found {len(origins)}")
        if len(self.members) < 2:
            raise _fail("members", "at least one cache is needed besides the origin")
        if len(self.members) > MAX_MEMBERS:
            raise _fail("members", f"at most {MAX_MEMBERS} members, got {len(self.members)}")
        seen: dict[str, int] = {}
        volumes: dict[tuple[str, str, str], str] = {}
        for index, member in enumerate(self.members):
            if member.member_id in seen:
                raise _fail(
                    f"members[{index}].member_id",
                    f"duplicate member id {member.member_id!r} (also members[{seen[member.member_id]}])",
                )
            seen[member.member_id] = index
            volume_key = (member.management_endpoint, member.svm, member.volume)
            if volume_key in volumes:
                raise _fail(
                    f"members[{index}]",
                    f"same cluster, SVM and volume as member {volumes[volume_key]!r}",
                )
            volumes[volume_key] = member.member_id
        if not self.client_regions:
            raise _fail("client_regions", "at least one client region is needed")
        if len(self.client_regions) > MAX_CLIENT_REGIONS:
            raise _fail("client_regions", f"at most {MAX_CLIENT_REGIONS} client regions")
        if len(set(self.client_regions)) != len(self.client_regions):
            raise _fail("client_regions", "duplicate client region")

    @property
    def origin(self) -> Member:
        return next(m for m in self.members if m.is_origin)

    @property
    def caches(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if not m.is_origin)

    @property
    def member_ids(self) -> tuple[str, ...]:
        return tuple(m.member_id for m in self.members)

    def member(self, member_id: str) -> Member:
        for candidate in self.members:
            if candidate.member_id == member_id:
                return candidate
        raise KeyError(member_id)

    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({m.region for m in self.members}))

    def to_document(self) -> dict[str, Any]:
        return {"client_regions": list(self.client_regions), "members": [m.to_dict() for m in self.members]}

    def fingerprint(self) -> str:
        """SHA-256 of the canonical document: tells whether a parameter's topology is already loaded."""
        canonical = json.dumps(self.to_document(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_topology(document: object, *, secret_prefix: str = "", stack_region: str | None = None) -> Topology:
    """Validate a topology document (a dict, or its JSON text) into a :class:`Topology`."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as err:
            raise _fail("topology", f"not valid JSON: {err}") from None
    if not isinstance(document, Mapping):
        raise _fail("topology", f"must be a JSON object, got {type(document).__name__}")
    unknown = sorted(set(document) - _DOCUMENT_KEYS)
    if unknown:
        raise _fail("topology", f"unknown key(s) {', '.join(unknown)}; allowed: client_regions, members")
    raw_members = document.get("members")
    if not isinstance(raw_members, Sequence) or isinstance(raw_members, str):
        raise _fail("members", "must be a list of member objects")
    members = tuple(
        Member.from_dict(
            raw, field=f"members[{index}]", secret_prefix=secret_prefix, stack_region=stack_region
        )
        for index, raw in enumerate(raw_members)
    )
    raw_regions = document.get("client_regions")
    if raw_regions is None:
        client_regions = tuple(sorted({m.region for m in members}))
    else:
        if not isinstance(raw_regions, Sequence) or isinstance(raw_regions, str):
            raise _fail("client_regions", "must be a list of AWS Region codes")
        client_regions = tuple(
            check_region(region, f"client_regions[{index}]") for index, region in enumerate(raw_regions)
        )
    return Topology(members=members, client_regions=client_regions)
