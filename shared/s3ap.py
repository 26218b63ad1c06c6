"""S3 Access Point adapter: references, one paginated listing, ranged reads, manifests, outputs.

Files on FSx for ONTAP are reached through an S3 Access Point (S3AP) attached to a volume. This
module is the only place that speaks S3 for the use cases, so that the rules below hold everywhere:

* **References are validated before any request.** An access point is given either by its alias
  (``<name>-<metadata>-ext-s3alias``, what the FSx console and ``S3AccessPoint.Alias`` return) or
  by its ARN (``arn:<partition>:s3:<region>:<account>:accesspoint/<name>``). boto3 accepts both as
  ``Bucket=``; a typo would otherwise surface as an opaque ``NoSuchBucket`` deep inside a run.
* **Discovery is one lazy, paginated listing.** :func:`list_objects` yields small frozen
  :class:`ObjectRecord` values page by page (1,000 keys per ListObjectsV2 call, the S3 maximum),
  so memory does not grow with the number of files and nothing is listed twice.
* **Reads never need the whole file.** :func:`read_range`, :func:`open_stream` and
  :class:`RangeReader` (a seekable file object over ranged GETs with a small block cache) let
  parsers jump to headers, tables and boxes of multi-gigabyte files.
* **State stays small.** :func:`write_manifest` streams the discovered keys to S3 as a JSON array
  of ``{"keys": [...]}`` batches, the shape a Step Functions Distributed Map ``ItemReader`` with
  ``"ReaderConfig": {"InputType": "JSON"}`` reads directly (no ``ItemBatcher``, and moto executes
  it too), and returns only a :class:`ManifestSummary`, never the key list.
* **Outputs are never overwritten.** Every output is run-scoped (``<prefix>runs/<run_id>/``) and
  created with ``If-None-Match: *`` (S3 conditional writes); an existing object raises
  :class:`~shared.errors.OutputExistsError`. FSx for ONTAP access points do not support
  conditional writes (FSx for ONTAP guide, "Access point compatibility"), so for targets known to
  be FSx access points (``-ext-s3alias``) and for any target that answers ``NotImplemented``, the
  write falls back to HeadObject-then-put: it still refuses to overwrite, but two writers racing
  on the same run-scoped key within milliseconds could both succeed. Run IDs are unique per
  execution, so that race needs two executions sharing one run ID.
* **Errors are typed.** Throttling and 5xx (after botocore's own standard-mode retries) become
  :class:`~shared.errors.S3TransientError` (retryable in ASL); access denied, missing keys,
  invalid ranges and other 4xx become :class:`~shared.errors.S3AccessError` (terminal). Both name
  the bucket and key and are raised ``from`` the botocore error.

Every function and class takes an optional ``s3`` client (tests inject moto's or a Stubber'd one);
without it, :func:`default_s3_client` creates one on first use, never at import time, which keeps
cold starts cheap and SnapStart snapshots free of connections.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Self

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from shared.errors import (
    InvalidInputError,
    OutputExistsError,
    PatternError,
    S3AccessError,
    S3TransientError,
)
from shared.observability import logger
from shared.snapstart import after_restore

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_CACHE_BLOCKS",
    "DEFAULT_PART_SIZE",
    "LIST_PAGE_SIZE",
    "MAX_BATCH_JSON_BYTES",
    "AccessPoint",
    "JsonlSummary",
    "ManifestSummary",
    "ObjectRecord",
    "ObjectStream",
    "OutputLocation",
    "RangeReader",
    "S3ObjectRef",
    "default_s3_client",
    "list_objects",
    "open_stream",
    "read_range",
    "read_run_json",
    "stat_object",
    "write_json",
    "write_jsonl",
    "write_manifest",
    "write_text",
]

S3Client = Any
"""A boto3 S3 client. boto3 ships no type information; the alias documents intent at call sites."""

LIST_PAGE_SIZE = 1000
"""Keys per ListObjectsV2 call: the S3 maximum, so 25,000 files cost 25 calls."""

DEFAULT_BLOCK_SIZE = 256 * 1024
"""RangeReader block: large enough that a parser's small header reads share one GET, small enough
that a seek-heavy parser does not download much it never reads."""

DEFAULT_CACHE_BLOCKS = 16
"""RangeReader keeps at most this many blocks (4 MiB at the default block size)."""

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's minimum size for every multipart part but the last."""

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Streaming writers buffer at most one part in memory; 8 MiB x 10,000 parts allows 80 GB."""

MAX_BATCH_JSON_BYTES = 128 * 1024
"""A manifest batch becomes a child execution's input, and Step Functions caps input and state at
256 KiB. Batches close at ``batch_size`` keys or at this many bytes of JSON, whichever comes first,
so even 1,024-byte keys cannot push a child over the limit (the rest leaves room for context)."""


@functools.cache
def default_s3_client() -> S3Client:
    """The process-wide S3 client, created on first use (never at import: SnapStart, cold start).

    Standard retry mode retries throttling and 5xx with jittered backoff; what still fails after
    five attempts surfaces as :class:`S3TransientError` so the state machine's ``Retry`` decides.
    """
    # A new dict each time: botocore rewrites a Config's retries dict in place when a client is made.
    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))


# A client made before a SnapStart snapshot would carry dead connections into every restore.
after_restore(default_s3_client.cache_clear)


def _client(s3: S3Client | None) -> S3Client:
    return s3 if s3 is not None else default_s3_client()


# --- references ----------------------------------------------------------------------------------

_AP_NAME = r"[a-z0-9](?:[a-z0-9-]{1,48})[a-z0-9]"
_FSX_ALIAS_RE = re.compile(r"(?P<prefix>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-(?P<meta>[a-z0-9]+)-ext-s3alias")
_ANY_AP_ALIAS_RE = re.compile(r"[a-z0-9][a-z0-9-]*-s3alias")
_ARN_RE = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):s3:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2}):"
    r"(?P<account>\d{12}):accesspoint/(?P<name>[^/]*)"
)
_AP_NAME_RE = re.compile(_AP_NAME)
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_KEY_BYTES = 1024

_ALIAS_FORM = "<name>-<metadata>-ext-s3alias"
_ARN_FORM = "arn:<partition>:s3:<region>:<12-digit account>:accesspoint/<name>"


def _invalid_access_point(value: object, reason: str) -> InvalidInputError:
    return InvalidInputError(
        "access_point",
        f"{reason}: {value!r} (expected an FSx for ONTAP access point alias {_ALIAS_FORM} "
        f"or an access point ARN {_ARN_FORM})",
        value=repr(value),
    )


def _access_point_name_problem(name: str) -> str | None:
    if not 3 <= len(name) <= 50:
        return f"access point name {name!r} must be 3-50 characters"
    if not _AP_NAME_RE.fullmatch(name):
        return (
            f"access point name {name!r} may contain only lowercase letters, digits and hyphens "
            "and must begin and end with a letter or digit"
        )
    if name.endswith("-s3alias"):
        return f"access point name {name!r} may not end with -s3alias (reserved for aliases)"
    return None


@dataclass(frozen=True, slots=True)
class AccessPoint:
    """A validated S3 Access Point reference: what to pass to boto3 as ``Bucket=``.

    ``value`` is kept exactly as given (``str(ap) == value``), because the alias and the ARN are
    both accepted by S3 and translating one into the other needs an API call and permissions.
    ``region``, ``account``, ``partition`` and ``name`` are known only for ARNs; an alias encodes
    a possibly truncated name and opaque metadata, so ``name_prefix`` is all it reveals.
    """

    value: str
    kind: Literal["alias", "arn"]
    name: str | None = None
    name_prefix: str | None = None
    region: str | None = None
    account: str | None = None
    partition: str | None = None

    @classmethod
    def parse(cls, value: object) -> AccessPoint:
        """Validate ``value`` as an FSx for ONTAP access point alias or an access point ARN.

        Raises :class:`InvalidInputError` (``field == "access_point"``) whose message quotes the
        value and says which rule it breaks; nothing is stripped or lowercased silently, so the
        value used in requests is exactly the value configured.
        """
        if not isinstance(value, str):
            raise _invalid_access_point(value, f"not a string but {type(value).__name__}")
        if value.startswith("arn:"):
            return cls._parse_arn(value)
        return cls._parse_alias(value)

    @classmethod
    def _parse_arn(cls, value: str) -> AccessPoint:
        match = _ARN_RE.fullmatch(value)
        if match is None:
            if ":s3-outposts:" in value or ":s3-object-lambda:" in value or ".mrap" in value:
                raise _invalid_access_point(value, "only regional S3 access point ARNs are supported")
            if "/object/" in value or value.count("/") > 1:
                raise _invalid_access_point(value, "an object ARN is not an access point ARN")
            raise _invalid_access_point(value, "malformed access point ARN")
        problem = _access_point_name_problem(match["name"])
        if problem is not None:
            raise _invalid_access_point(value, problem)
        return cls(
            value=value,
            kind="arn",
            name=match["name"],
            region=match["region"],
            account=match["account"],
            partition=match["partition"],
        )

    @classmethod
    def _parse_alias(cls, value: str) -> AccessPoint:
        if not 3 <= len(value) <= 63:
            raise _invalid_access_point(value, f"an alias is 3-63 characters, this one has {len(value)}")
        if not value.endswith("-ext-s3alias"):
            if value.endswith("-s3alias"):
                raise _invalid_access_point(
                    value, "this is the alias of an access point attached to an S3 bucket, not to FSx"
                )
            raise _invalid_access_point(value, "an FSx for ONTAP access point alias ends with -ext-s3alias")
        match = _FSX_ALIAS_RE.fullmatch(value)
        if match is None:
            raise _invalid_access_point(
                value,
                "an alias may contain only lowercase letters, digits and hyphens and starts with "
                "the access point name, then a hyphen and metadata",
            )
        return cls(value=value, kind="alias", name_prefix=match["prefix"])

    @property
    def bucket(self) -> str:
        """What boto3 takes as ``Bucket=``: the alias or ARN exactly as configured."""
        return self.value

    @property
    def is_fsx_alias(self) -> bool:
        """True when the reference itself proves the access point is attached to FSx."""
        return self.kind == "alias"

    def __str__(self) -> str:
        return self.value


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


_BUCKET_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda b: not 3 <= len(b) <= 63, "must be 3-63 characters"),
    (
        lambda b: not _BUCKET_RE.fullmatch(b),
        "may contain only lowercase letters, digits, dots and hyphens, "
        "and must begin and end with a letter or digit",
    ),
    (lambda b: ".." in b, "may not contain two adjacent dots"),
    (
        lambda b: b.endswith("-s3alias") and not _ANY_AP_ALIAS_RE.fullmatch(b),
        "is not a valid access point alias",
    ),
    (_is_ipv4, "may not be formatted as an IP address"),
    (lambda b: b.startswith(("xn--", "sthree-")), "may not start with xn-- or sthree-"),
)
"""General purpose bucket naming rules (S3 User Guide, "Bucket naming rules"); an access point
alias satisfies them too, which is why S3 accepts it wherever a bucket name goes."""


def _bucket_problem(bucket: str) -> str | None:
    if bucket.startswith("arn:"):
        try:
            AccessPoint.parse(bucket)
        except InvalidInputError as err:
            return err.message.removeprefix("access_point: ")
        return None
    return next((problem for broken, problem in _BUCKET_RULES if broken(bucket)), None)


def _check_path(value: object, field_name: str, *, prefix: bool) -> str:
    """Keys and prefixes map to file paths on FSx: refuse traversal and unrepresentable forms."""
    what = "prefix" if prefix else "key"
    if not isinstance(value, str):
        raise InvalidInputError(field_name, f"a {what} must be a string, got {value!r}")
    if not value:
        if prefix:
            return value
        raise InvalidInputError(field_name, f"a {what} may not be empty: {value!r}")
    if value.startswith("/"):
        raise InvalidInputError(field_name, f"a {what} may not start with '/': {value!r}")
    if len(value.encode("utf-8")) > _MAX_KEY_BYTES:
        raise InvalidInputError(field_name, f"a {what} may not exceed {_MAX_KEY_BYTES} bytes: {value!r}")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise InvalidInputError(field_name, f"a {what} may not contain control characters: {value!r}")
    segments = value.split("/")
    if prefix:
        segments = segments[:-1] if segments[-1] == "" else segments
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidInputError(
            field_name, f"a {what} may not contain empty, '.' or '..' path segments: {value!r}"
        )
    return value


def _check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidInputError(
            "run_id",
            f"a run ID is 1-128 letters, digits, '.', '_' or '-' starting with a letter or digit: {run_id!r}",
        )
    return run_id


@dataclass(frozen=True, slots=True)
class OutputLocation:
    """Where a use case writes its per-run outputs: a bucket (or alias, or ARN) and a prefix.

    The prefix is normalised to end with ``/``. Everything this module writes lives under
    :attr:`runs_prefix`; when the outputs share the access point that discovery lists, pass
    :meth:`exclusions_for` to :func:`list_objects` so a run never ingests its own outputs.
    """

    bucket: str
    prefix: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.bucket, str):
            raise InvalidInputError("output_bucket", f"a bucket must be a string, got {self.bucket!r}")
        problem = _bucket_problem(self.bucket)
        if problem is not None:
            raise InvalidInputError("output_bucket", f"invalid bucket {self.bucket!r}: {problem}")
        prefix = _check_path(self.prefix, "output_prefix", prefix=True)
        if prefix and not prefix.endswith("/"):
            object.__setattr__(self, "prefix", prefix + "/")

    @classmethod
    def parse(cls, uri: object) -> OutputLocation:
        """Parse ``s3://bucket/prefix``; the bucket may be an alias or an access point ARN.

        ARNs contain a ``/`` (``accesspoint/<name>``), so ``s3://arn:...:accesspoint/ap/out/`` is
        split after the access point name, as the AWS CLI does.
        """
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise InvalidInputError("output_location", f"expected s3://<bucket>/<prefix>, got {uri!r}")
        rest = uri.removeprefix("s3://")
        if rest.startswith("arn:"):
            head, _, tail = rest.partition(":accesspoint/")
            name, _, prefix = tail.partition("/")
            bucket = f"{head}:accesspoint/{name}"
        else:
            bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise InvalidInputError("output_location", f"no bucket in {uri!r}")
        try:
            return cls(bucket, prefix)
        except InvalidInputError as err:
            raise InvalidInputError("output_location", f"{uri!r}: {err.message}") from err

    @property
    def runs_prefix(self) -> str:
        """The prefix under which every run's outputs are written."""
        return f"{self.prefix}runs/"

    def run_prefix(self, run_id: str) -> str:
        """``<prefix>runs/<run_id>/``: one run's outputs, disjoint from every other run's."""
        return f"{self.runs_prefix}{_check_run_id(run_id)}/"

    def run_key(self, run_id: str, name: str) -> str:
        """The key of output ``name`` of run ``run_id`` (``name`` may contain ``/``)."""
        return self.run_prefix(run_id) + _check_path(name, "name", prefix=False)

    def exclusions_for(self, source: AccessPoint | str) -> tuple[str, ...]:
        """Prefixes discovery must skip so that outputs are never listed as inputs.

        Only the same reference string can be recognised: an alias and the ARN of the same access
        point look different without an API call, so configure both sides with the same form.
        """
        source_bucket = source.bucket if isinstance(source, AccessPoint) else source
        return (self.runs_prefix,) if source_bucket == self.bucket else ()

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class S3ObjectRef:
    """A pointer to one object: what goes into state instead of data."""

    bucket: str
    key: str

    def to_dict(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key}


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One listed object. Small and immutable so millions can stream through without surprises.

    ``etag`` is stored without the surrounding quotes S3 puts on the wire, so it compares equal
    across ListObjectsV2, HeadObject and GetObject and can key an incremental-discovery catalogue.
    """

    key: str
    size: int
    etag: str
    last_modified: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ManifestSummary:
    """What discovery returns into Step Functions state: a pointer and counts, never the keys."""

    manifest: S3ObjectRef
    count: int
    bytes: int
    batches: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest.to_dict(),
            "count": self.count,
            "bytes": self.bytes,
            "batches": self.batches,
        }


@dataclass(frozen=True, slots=True)
class JsonlSummary:
    """Where a JSON Lines output went, how many lines and bytes it has."""

    object: S3ObjectRef
    lines: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object.to_dict(), "lines": self.lines, "bytes": self.bytes}


# --- error mapping -------------------------------------------------------------------------------

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "PriorRequestNotComplete",
    }
)
_TRANSIENT_BOTOCORE = (
    BotoConnectionError,
    EndpointConnectionError,
    ReadTimeoutError,
    ConnectionClosedError,
    ResponseStreamingError,
    IncompleteReadError,
)


def _error_code(err: Any) -> tuple[str, int]:
    response = getattr(err, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _where(bucket: str, key: str | None) -> str:
    return f"s3://{bucket}/{key}" if key is not None else f"s3://{bucket}"


def _map_error(err: Exception, action: str, bucket: str, key: str | None = None) -> PatternError:
    """Translate a botocore failure into the retryable/terminal contract of shared.errors."""
    where = _where(bucket, key)
    details: dict[str, Any] = {"bucket": bucket, "key": key, "action": action}
    if isinstance(err, ClientError):
        code, status = _error_code(err)
        details |= {"code": code, "status": status}
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return S3TransientError(f"{action} {where} kept failing: {code or status} ({err})", **details)
        if code in ("NoSuchKey", "404", "NotFound"):
            return S3AccessError(f"{action} {where}: no such key ({code})", **details)
        if code == "NoSuchBucket":
            return S3AccessError(f"{action} {where}: no such bucket or access point ({code})", **details)
        return S3AccessError(f"{action} {where} refused: {code or status} ({err})", **details)
    if isinstance(err, _TRANSIENT_BOTOCORE):
        return S3TransientError(f"{action} {where} lost the connection: {err}", **details)
    return S3AccessError(f"{action} {where} failed: {err}", **details)


def _strip_etag(etag: object) -> str:
    return str(etag or "").strip('"')


# --- listing -------------------------------------------------------------------------------------


def _check_patterns(values: Iterable[str] | str, field_name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        # A bare ".gds" would otherwise iterate as ".", "g", "d", "s" and match almost everything.
        values = (values,)
    checked = tuple(values)
    for value in checked:
        if not isinstance(value, str) or not value:
            raise InvalidInputError(field_name, f"entries must be non-empty strings, got {value!r}")
    return checked


def list_objects(
    source: AccessPoint | str,
    *,
    prefix: str = "",
    suffixes: Iterable[str] | str = (),
    exclude_prefixes: Iterable[str] | str = (),
    s3: S3Client | None = None,
) -> Iterator[ObjectRecord]:
    """Lazily list the files under ``prefix`` whose key ends with one of ``suffixes``.

    One ListObjectsV2 paginator, 1,000 keys a page: a page is requested only when the previous
    one is consumed, and only the current page is held, so memory does not grow with the number
    of files. Suffixes match case-insensitively (Windows users write ``CHIP.GDS``); keys under
    ``exclude_prefixes`` (the run-output prefix when outputs share the access point) and directory
    placeholders (keys ending in ``/``, which S3AP on FSx lists for directories) are skipped.

    Arguments are validated now; the first request is sent on the first ``next()``. Listing
    failures raise :class:`S3AccessError` or :class:`S3TransientError` from the iterator.
    """
    access_point = source if isinstance(source, AccessPoint) else AccessPoint.parse(source)
    _check_path(prefix, "prefix", prefix=True)
    wanted = tuple(suffix.lower() for suffix in _check_patterns(suffixes, "suffixes"))
    excluded = _check_patterns(exclude_prefixes, "exclude_prefixes")
    return _iter_objects(_client(s3), access_point.bucket, prefix, wanted, excluded)


def _iter_objects(
    s3: S3Client, bucket: str, prefix: str, suffixes: tuple[str, ...], excluded: tuple[str, ...]
) -> Iterator[ObjectRecord]:
    pages = scanned = yielded = 0
    paginator = s3.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE}
        ):
            pages += 1
            for entry in page.get("Contents", ()):
                scanned += 1
                key: str = entry["Key"]
                if key.endswith("/") or (excluded and key.startswith(excluded)):
                    continue
                if suffixes and not key.lower().endswith(suffixes):
                    continue
                yielded += 1
                yield ObjectRecord(
                    key=key,
                    size=int(entry.get("Size", 0)),
                    etag=_strip_etag(entry.get("ETag")),
                    last_modified=entry["LastModified"],
                )
    except (ClientError, BotoCoreError) as err:
        raise _map_error(err, "ListObjectsV2", bucket, prefix or None) from err
    logger.info(
        "S3 access point listed", bucket=bucket, prefix=prefix, pages=pages, scanned=scanned, matched=yielded
    )


def iter_run_jsonl(
    location: OutputLocation, run_id: str, name_prefix: str, *, s3: S3Client | None = None
) -> Iterator[Any]:
    """Every record of the run's JSON Lines outputs whose names start with ``name_prefix``.

    Outputs are read back in key order, one object and one line at a time (bounded memory), e.g.
    the per-batch parts a Distributed Map wrote under ``runs/<run_id>/parts/`` for the report step.
    This lists the run's own output prefix, never the access point that discovery lists.
    """
    client = _client(s3)
    prefix = location.run_prefix(run_id) + _check_path(name_prefix, "name_prefix", prefix=True)
    for record in _iter_objects(client, location.bucket, prefix, (), ()):
        try:
            body = client.get_object(Bucket=location.bucket, Key=record.key)["Body"]
            for number, line in enumerate(body.iter_lines(), start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise InvalidInputError(
                        "jsonl", f"s3://{location.bucket}/{record.key} line {number}: {err.msg}"
                    ) from err
        except (ClientError, BotoCoreError) as err:
            raise _map_error(err, "GetObject", location.bucket, record.key) from err


def read_json(ref: S3ObjectRef, *, s3: S3Client | None = None) -> Any:
    """The JSON document stored at ``ref`` (a manifest, a context object, a run output).

    A missing object raises :class:`S3AccessError`, throttling or 5xx :class:`S3TransientError`,
    a body that is not JSON :class:`InvalidInputError` naming the object.
    """
    client = _client(s3)
    try:
        body = client.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
        try:
            data = body.read()
        finally:
            body.close()
    except (ClientError, BotoCoreError) as err:
        raise _map_error(err, "GetObject", ref.bucket, ref.key) from err
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidInputError("json", f"s3://{ref.bucket}/{ref.key} is not a JSON document: {err}") from err


def read_run_json(location: OutputLocation, run_id: str, name: str, *, s3: S3Client | None = None) -> Any:
    """The JSON document a run wrote as output ``name`` (``write_json``, ``write_manifest`` …).

    The counterpart of :func:`iter_run_jsonl` for whole documents: a later step of the same run
    reads what an earlier one stored (a manifest, a small context object) from the run's own
    output prefix, never from the access point.
    """
    return read_json(S3ObjectRef(location.bucket, location.run_key(run_id, name)), s3=s3)


# --- reads ---------------------------------------------------------------------------------------


def _bucket_of(source: AccessPoint | str) -> str:
    return (source if isinstance(source, AccessPoint) else AccessPoint.parse(source)).bucket


def stat_object(source: AccessPoint | str, key: str, *, s3: S3Client | None = None) -> ObjectRecord:
    """HeadObject as an :class:`ObjectRecord` (size and ETag for readers that were not given them)."""
    bucket = _bucket_of(source)
    _check_path(key, "key", prefix=False)
    try:
        head = _client(s3).head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as err:
        raise _map_error(err, "HeadObject", bucket, key) from err
    return ObjectRecord(
        key=key,
        size=int(head["ContentLength"]),
        etag=_strip_etag(head.get("ETag")),
        last_modified=head["LastModified"],
    )


def _get_range(
    s3: S3Client, bucket: str, key: str, start: int, length: int, *, expected_etag: str | None = None
) -> bytes:
    """One GetObject for ``[start, start + length)``; past EOF returns what exists (maybe b"")."""
    if length == 0:
        return b""  # HTTP cannot express an empty range; no request needed
    try:
        response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
    except ClientError as err:
        code, status = _error_code(err)
        if code == "InvalidRange" or status == 416:
            # The range we build is well formed, so "not satisfiable" can only mean start >= size.
            return b""
        raise _map_error(err, "GetObject", bucket, key) from err
    except BotoCoreError as err:
        raise _map_error(err, "GetObject", bucket, key) from err
    if expected_etag is not None:
        etag = _strip_etag(response.get("ETag"))
        if etag and etag != expected_etag:
            raise S3TransientError(
                f"{_where(bucket, key)} changed while being read (ETag {expected_etag} -> {etag}); "
                "a retry reads the new version consistently",
                bucket=bucket,
                key=key,
                expected_etag=expected_etag,
                etag=etag,
            )
    return data


def _check_range(start: object, length: object) -> tuple[int, int]:
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise InvalidInputError("start", f"a range start is an integer >= 0, got {start!r}")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise InvalidInputError("length", f"a range length is an integer >= 0, got {length!r}")
    return start, length


def read_range(
    source: AccessPoint | str, key: str, start: int, length: int, *, s3: S3Client | None = None
) -> bytes:
    """Read ``length`` bytes at ``start`` with one ranged GetObject (``Range: bytes=a-b``).

    Like ``file.read``, a range running past the end returns the bytes that exist, a range
    starting at or after the end returns ``b""``, and ``length == 0`` returns ``b""`` without a
    request, so parsers need no special case for short files.
    """
    bucket = _bucket_of(source)
    _check_path(key, "key", prefix=False)
    start, length = _check_range(start, length)
    return _get_range(_client(s3), bucket, key, start, length)


class ObjectStream:
    """A GetObject body that can be iterated in chunks and whose failures are typed.

    Wraps botocore's ``StreamingBody`` so a connection dropped mid-download raises
    :class:`S3TransientError` (retryable) instead of a botocore exception ASL cannot match.
    Use it as a context manager so the connection returns to the pool.
    """

    def __init__(self, body: Any, *, bucket: str, key: str, size: int, etag: str) -> None:
        self._body = body
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (ClientError, BotoCoreError) as err:
            raise _map_error(err, "GetObject", self.bucket, self.key) from err

    def read(self, amt: int | None = None) -> bytes:
        data: bytes = self._guard(lambda: self._body.read(amt))
        return data

    def iter_chunks(self, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        chunks = self._body.iter_chunks(chunk_size)
        while True:
            chunk: bytes | None = self._guard(lambda: next(chunks, None))
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_stream(source: AccessPoint | str, key: str, *, s3: S3Client | None = None) -> ObjectStream:
    """Start a GetObject of the whole object and return its body as an :class:`ObjectStream`."""
    bucket = _bucket_of(source)
    _check_path(key, "key", prefix=False)
    try:
        response = _client(s3).get_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as err:
        raise _map_error(err, "GetObject", bucket, key) from err
    return ObjectStream(
        response["Body"],
        bucket=bucket,
        key=key,
        size=int(response.get("ContentLength", 0)),
        etag=_strip_etag(response.get("ETag")),
    )


class RangeReader(io.RawIOBase):
    """A read-only, seekable file object over ranged GetObject calls, with a small LRU block cache.

    Parsers of GDSII, OASIS, LAS, MP4 … seek to headers, tables and boxes; downloading a 20 GB
    file to read 4 KiB of it would waste time, money and the Lambda's /tmp. Reads are served from
    ``block_size`` blocks (at most ``cache_blocks`` kept), so a parser's many small reads near one
    offset cost one request; reads of two blocks or more go straight to S3 uncached.

    The size comes from ``size`` (e.g. the listing's :class:`ObjectRecord`) or a HeadObject.
    When the ETag is known, every response is checked against it: a file rewritten during the
    parse raises :class:`S3TransientError` rather than handing the parser a torn mix of versions.
    Wrap in ``io.BufferedReader`` for ``readline``/``peek``.
    """

    def __init__(
        self,
        source: AccessPoint | str,
        key: str,
        *,
        size: int | None = None,
        etag: str | None = None,
        s3: S3Client | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_blocks: int = DEFAULT_CACHE_BLOCKS,
    ) -> None:
        super().__init__()
        self._cache: OrderedDict[int, bytes] = OrderedDict()  # first: close() runs even if __init__ fails
        access_point = source if isinstance(source, AccessPoint) else AccessPoint.parse(source)
        self._bucket = access_point.bucket
        self._key = _check_path(key, "key", prefix=False)
        if block_size < 1 or cache_blocks < 1:
            raise InvalidInputError(
                "block_size", f"block_size and cache_blocks must be >= 1: {block_size}, {cache_blocks}"
            )
        self._s3 = _client(s3)
        if size is None:
            record = stat_object(access_point, key, s3=self._s3)
            size, etag = record.size, etag or record.etag
        elif size < 0:
            raise InvalidInputError("size", f"an object size is >= 0, got {size!r}")
        self._size = size
        self._etag = _strip_etag(etag) or None
        self._block_size = block_size
        self._cache_blocks = cache_blocks
        self._pos = 0
        self.requests = 0
        """GetObject calls made so far: lets tests and benchmarks check what the cache saves."""

    @classmethod
    def from_record(
        cls,
        source: AccessPoint | str,
        record: ObjectRecord,
        *,
        s3: S3Client | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_blocks: int = DEFAULT_CACHE_BLOCKS,
    ) -> RangeReader:
        """A reader for a listed object: size and ETag come from the listing, no HeadObject."""
        return cls(
            source,
            record.key,
            size=record.size,
            etag=record.etag,
            s3=s3,
            block_size=block_size,
            cache_blocks=cache_blocks,
        )

    @property
    def size(self) -> int:
        return self._size

    @property
    def key(self) -> str:
        return self._key

    @property
    def bucket(self) -> str:
        return self._bucket

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed RangeReader")

    def readable(self) -> bool:
        self._check_open()
        return True

    def seekable(self) -> bool:
        self._check_open()
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target  # past EOF is allowed, as for files; reads there return b""
        return target

    def _fetch(self, start: int, length: int) -> bytes:
        self.requests += 1
        data = _get_range(self._s3, self._bucket, self._key, start, length, expected_etag=self._etag)
        if len(data) != length:
            raise S3TransientError(
                f"{_where(self._bucket, self._key)} returned {len(data)} bytes at offset {start} where "
                f"{length} were expected: the object changed size while being read",
                bucket=self._bucket,
                key=self._key,
                offset=start,
            )
        return data

    def _block(self, index: int) -> bytes:
        block = self._cache.get(index)
        if block is not None:
            self._cache.move_to_end(index)
            return block
        start = index * self._block_size
        block = self._fetch(start, min(self._block_size, self._size - start))
        self._cache[index] = block
        if len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)
        return block

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        self._check_open()
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), self._size - self._pos))
        if count == 0:
            return 0
        if count >= 2 * self._block_size:
            view[:count] = self._fetch(self._pos, count)
        else:
            done = 0
            while done < count:
                position = self._pos + done
                block = self._block(position // self._block_size)
                offset = position % self._block_size
                take = min(count - done, len(block) - offset)
                view[done : done + take] = block[offset : offset + take]
                done += take
        self._pos += count
        return count

    def readall(self) -> bytes:
        """The rest of the object in one request (``read()`` with no size)."""
        self._check_open()
        remaining = max(0, self._size - self._pos)
        data = self._fetch(self._pos, remaining) if remaining else b""
        self._pos += remaining
        return data

    def close(self) -> None:
        self._cache.clear()
        super().close()


# --- writes --------------------------------------------------------------------------------------


class _NewObjectWriter:
    """Creates one object that must not exist yet, holding at most one part in memory.

    Small objects go out as one PutObject; once the buffer reaches ``part_size`` a multipart
    upload starts and each full part is uploaded as soon as it is complete, so a manifest of
    millions of keys costs ``part_size`` of memory. ``If-None-Match: *`` is sent on PutObject or
    on CompleteMultipartUpload (``upload_fileobj`` cannot carry it: s3transfer rejects the
    argument), so an existing object is detected atomically by S3 even after the parts are up.
    """

    def __init__(self, s3: S3Client, bucket: str, key: str, *, content_type: str, part_size: int) -> None:
        if part_size < MIN_PART_SIZE:
            raise InvalidInputError(
                "part_size", f"S3 parts are at least {MIN_PART_SIZE} bytes, got {part_size}"
            )
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._content_type = content_type
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.bytes_written = 0
        # AWS documents no conditional writes on FSx for ONTAP access points: ask first instead.
        self._conditional = not bucket.endswith("-ext-s3alias")
        if not self._conditional:
            self._refuse_if_exists()

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= self._part_size:
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._upload_part(part)

    def _failure(self, err: Exception, action: str) -> PatternError:
        code, status = _error_code(err)
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
            # 409: another writer is creating the same run-scoped key right now; either way the
            # output is (about to be) someone else's, and overwriting it is what we refuse.
            return OutputExistsError(
                f"{_where(self.bucket, self.key)} already exists; outputs are never overwritten",
                bucket=self.bucket,
                key=self.key,
            )
        return _map_error(err, action, self.bucket, self.key)

    def _call(self, action: str, method: Callable[..., Any], **params: Any) -> Any:
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as err:
            raise self._failure(err, action) from err

    def _upload_part(self, part: bytes) -> None:
        if self._upload_id is None:
            created = self._call(
                "CreateMultipartUpload",
                self._s3.create_multipart_upload,
                Bucket=self.bucket,
                Key=self.key,
                ContentType=self._content_type,
            )
            self._upload_id = str(created["UploadId"])
        number = len(self._parts) + 1
        uploaded = self._call(
            "UploadPart",
            self._s3.upload_part,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
        )
        self._parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})

    def _refuse_if_exists(self) -> None:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=self.key)
        except (ClientError, BotoCoreError) as err:
            code, status = _error_code(err)
            if code in ("404", "NoSuchKey", "NotFound") or status == 404:
                return
            raise _map_error(err, "HeadObject", self.bucket, self.key) from err
        raise OutputExistsError(
            f"{_where(self.bucket, self.key)} already exists; outputs are never overwritten",
            bucket=self.bucket,
            key=self.key,
        )

    def _create(self, action: str, method: Callable[..., Any], **params: Any) -> None:
        """Send the creating request, conditionally when the target supports it."""
        if not self._conditional:
            self._call(action, method, **params)
            return
        try:
            method(IfNoneMatch="*", **params)
        except (ClientError, BotoCoreError) as err:
            code, status = _error_code(err)
            if code != "NotImplemented" and status != 501:
                raise self._failure(err, action) from err
            logger.warning(
                "conditional write not supported; checking existence before writing",
                bucket=self.bucket,
                key=self.key,
                code=code,
            )
            self._refuse_if_exists()
            self._call(action, method, **params)

    def close(self) -> S3ObjectRef:
        if self._upload_id is None:
            self._create(
                "PutObject",
                self._s3.put_object,
                Bucket=self.bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                ContentType=self._content_type,
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._create(
                "CompleteMultipartUpload",
                self._s3.complete_multipart_upload,
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            self._upload_id = None
        self._buffer.clear()
        return S3ObjectRef(self.bucket, self.key)

    def abort(self) -> None:
        """Drop uploaded parts: an incomplete upload is invisible but billed until aborted."""
        if self._upload_id is None:
            return
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
        except (ClientError, BotoCoreError) as err:
            logger.warning(
                "could not abort multipart upload", bucket=self.bucket, key=self.key, error=str(err)
            )
        self._upload_id = None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_dict() if callable(to_dict) else asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any, field_name: str, *, compact: bool = True) -> str:
    try:
        return json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,  # NaN is not JSON: Step Functions and most readers reject it
            default=_json_default,
            separators=(",", ":") if compact else None,
            indent=None if compact else 2,
        )
    except (TypeError, ValueError) as err:
        raise InvalidInputError(field_name, f"not JSON serialisable: {err}") from err


def _writer(
    location: OutputLocation,
    run_id: str,
    name: str,
    *,
    s3: S3Client | None,
    content_type: str,
    part_size: int = DEFAULT_PART_SIZE,
) -> _NewObjectWriter:
    if not isinstance(location, OutputLocation):
        raise InvalidInputError("location", f"expected an OutputLocation, got {location!r}")
    key = location.run_key(run_id, name)
    return _NewObjectWriter(_client(s3), location.bucket, key, content_type=content_type, part_size=part_size)


_BATCH_OVERHEAD = len('{"keys":[]}')


@dataclass
class _Batcher:
    """Groups keys into manifest batches of at most ``size`` keys and MAX_BATCH_JSON_BYTES."""

    size: int
    keys: list[str] = field(default_factory=list)
    json_bytes: int = _BATCH_OVERHEAD

    def add(self, key: str) -> list[str] | None:
        """Add ``key``; return the batch it closed, if any."""
        encoded = len(_dumps(key, "objects").encode("utf-8")) + 1  # the key and its comma
        closed = None
        if self.keys and (len(self.keys) >= self.size or self.json_bytes + encoded > MAX_BATCH_JSON_BYTES):
            closed, self.keys, self.json_bytes = self.keys, [], _BATCH_OVERHEAD
        self.keys.append(key)
        self.json_bytes += encoded
        return closed


def write_manifest(
    location: OutputLocation,
    run_id: str,
    objects: Iterable[ObjectRecord],
    *,
    batch_size: int,
    s3: S3Client | None = None,
    part_size: int = DEFAULT_PART_SIZE,
) -> ManifestSummary:
    """Stream ``objects`` to ``<prefix>runs/<run_id>/manifest.json`` as ``[{"keys": [...]}, ...]``.

    Each array element is one Distributed Map item, already a batch of at most ``batch_size``
    keys (and at most :data:`MAX_BATCH_JSON_BYTES` of JSON, so an item fits Step Functions' 256
    KiB input limit). ``objects`` is consumed once, lazily: pass :func:`list_objects` straight in
    and memory stays at one batch plus one upload part whatever the number of files.

    Returns counts and a pointer, never the keys. Raises :class:`OutputExistsError` if this run
    already has a manifest (a redriven discovery must not silently replace what Map is reading).
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= 10_000:
        raise InvalidInputError(
            "batch_size", f"a batch size is an integer from 1 to 10000, got {batch_size!r}"
        )
    writer = _writer(
        location, run_id, "manifest.json", s3=s3, content_type="application/json", part_size=part_size
    )
    batcher = _Batcher(batch_size)
    count = total_bytes = batches = 0

    def emit(keys: list[str]) -> None:
        nonlocal batches
        writer.write((("[\n" if batches == 0 else ",\n") + _dumps({"keys": keys}, "objects")).encode("utf-8"))
        batches += 1

    try:
        for record in objects:
            if not isinstance(record, ObjectRecord):
                raise InvalidInputError("objects", f"expected ObjectRecord items, got {record!r}")
            count += 1
            total_bytes += record.size
            closed = batcher.add(record.key)
            if closed is not None:
                emit(closed)
        if batcher.keys:
            emit(batcher.keys)
        writer.write(b"[]" if batches == 0 else b"\n]\n")
        ref = writer.close()
    except BaseException:
        writer.abort()
        raise
    summary = ManifestSummary(manifest=ref, count=count, bytes=total_bytes, batches=batches)
    logger.info(
        "manifest written",
        bucket=ref.bucket,
        key=ref.key,
        count=count,
        bytes=total_bytes,
        batches=batches,
        manifest_bytes=writer.bytes_written,
    )
    return summary


def write_json(
    location: OutputLocation, run_id: str, name: str, document: Any, *, s3: S3Client | None = None
) -> S3ObjectRef:
    """Create run output ``name`` holding ``document`` as indented JSON; never overwrites."""
    body = (_dumps(document, "document", compact=False) + "\n").encode("utf-8")
    writer = _writer(location, run_id, name, s3=s3, content_type="application/json")
    writer.write(body)
    return _finish(writer)


def write_text(
    location: OutputLocation,
    run_id: str,
    name: str,
    text: str,
    *,
    content_type: str = "text/plain; charset=utf-8",
    s3: S3Client | None = None,
) -> S3ObjectRef:
    """Create run output ``name`` holding ``text`` (UTF-8), e.g. a Markdown report; never overwrites."""
    if not isinstance(text, str):
        raise InvalidInputError("text", f"expected a str, got {type(text).__name__}")
    writer = _writer(location, run_id, name, s3=s3, content_type=content_type)
    writer.write(text.encode("utf-8"))
    return _finish(writer)


def write_jsonl(
    location: OutputLocation,
    run_id: str,
    name: str,
    records: Iterable[Any],
    *,
    s3: S3Client | None = None,
    part_size: int = DEFAULT_PART_SIZE,
) -> JsonlSummary:
    """Create run output ``name`` with one compact JSON document per line, streamed like a manifest.

    Records are serialised as they are consumed (datetimes as ISO 8601, dataclasses through their
    ``to_dict`` or fields), so a per-file result stream of any length uses bounded memory.
    """
    writer = _writer(location, run_id, name, s3=s3, content_type="application/x-ndjson", part_size=part_size)
    lines = 0
    try:
        for record in records:
            writer.write((_dumps(record, "records") + "\n").encode("utf-8"))
            lines += 1
        ref = writer.close()
    except BaseException:
        writer.abort()
        raise
    return JsonlSummary(object=ref, lines=lines, bytes=writer.bytes_written)


def _finish(writer: _NewObjectWriter) -> S3ObjectRef:
    try:
        return writer.close()
    except BaseException:
        writer.abort()
        raise
