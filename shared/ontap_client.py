"""ONTAP REST client: Secrets Manager credentials, verified TLS, retries, pagination, async jobs.

One :class:`OntapClient` per Lambda process talks to a cluster (or SVM) management endpoint over a
single keep-alive urllib3 connection pool. Nothing connects, and no boto3 client is created, until
the first request: importing this module and building a client are free (and SnapStart-safe).

Behaviour in one place:

* **Credentials** come from a Secrets Manager secret ``{"username": ..., "password": ...}``, cached
  for a TTL. On HTTP 401 the secret is re-read once and the request replayed once, so a password
  rotation does not break warm Lambdas; if the re-read secret is unchanged (a replay could only
  count towards ONTAP's failed-login lockout) or is refused again, :class:`OntapAuthError`.
* **TLS** verification is on by default, against the system trust store or ``ca_bundle``.
  ``verify_tls=False`` must be passed explicitly and logs a warning. A certificate that does not
  verify is a configuration error, never retried: :class:`InvalidInputError` naming ``ca_bundle``.
* **Retries**: 429/502/503/504 and connection failures are retried ``max_retries`` times with
  exponential backoff and full jitter (``Retry-After`` is honoured but capped), then
  :class:`OntapUnavailableError`. A POST or PATCH whose connection failed after the request may have
  been sent is not replayed (ONTAP may already have acted on it): it fails at once, retryable.
* **Errors** carry ONTAP's ``error.message``/``code``/``target``: 401/403 → :class:`OntapAuthError`,
  404 → :class:`OntapNotFoundError`, any other 3xx/4xx/5xx → :class:`OntapApiError`.
* **Collections** are followed lazily through ``_links.next.href``; **jobs** (HTTP 202) are polled
  at ``/api/cluster/jobs/{uuid}`` until ``success``/``failure`` or the timeout.

Neither the password nor the ``Authorization`` header is ever logged or put in an exception.
"""

from __future__ import annotations

import base64
import email.utils
import json
import math
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, Self
from urllib.parse import quote

import boto3
import urllib3
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from shared.errors import (
    InvalidInputError,
    OntapApiError,
    OntapAuthError,
    OntapJobFailedError,
    OntapJobTimeoutError,
    OntapNotFoundError,
    OntapUnavailableError,
)
from shared.observability import logger
from shared.settings import required
from shared.snapstart import after_restore

__all__ = [
    "CredentialsProvider",
    "OntapClient",
    "OntapCredentials",
    "OntapSettings",
    "QueryValue",
    "SecretsManagerCredentials",
    "api_path",
]

USER_AGENT: Final = "fsxn-s3ap-serverless-patterns/0.1 (ontap-client; urllib3)"
RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})
# Methods that may be replayed when a connection broke after the request could have been sent
# (RFC 9110 §9.2.2). POST and PATCH are only retried when ONTAP refused them with a retryable status.
_REPLAYABLE_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_JOB_FIELDS: Final = "state,message,code,error"
_JOB_POLL_FIRST: Final = 0.25
_JOB_POLL_CAP: Final = 5.0
_SECRET_CONFIG_ERRORS: Final = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "DecryptionFailure",
        "InvalidParameterException",
        "InvalidRequestException",
    }
)

QueryValue = str | int | float | bool | Sequence[str]
"""An ONTAP query value: booleans become ``true``/``false``, sequences ``a,b,c``."""


# --- credentials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OntapCredentials:
    """A user name and password for HTTP Basic authentication (the password is kept out of repr)."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.username:
            raise InvalidInputError("username", "must not be empty")
        if ":" in self.username:
            raise InvalidInputError("username", "must not contain ':' (HTTP Basic authentication)")
        if not self.password:
            raise InvalidInputError("password", "must not be empty")

    def authorization(self) -> str:
        """The ``Authorization`` header value; UTF-8 so that non-ASCII passwords work."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


class CredentialsProvider(Protocol):
    """Where a client gets credentials: ``get`` may be cached, ``refresh`` must re-read."""

    def get(self) -> OntapCredentials: ...

    def refresh(self) -> OntapCredentials: ...


class _SecretsClient(Protocol):
    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


class SecretsManagerCredentials:
    """Credentials from a Secrets Manager secret ``{"username": ..., "password": ...}``.

    The secret is read on first use and cached for ``ttl_seconds`` (by ``clock``); ``refresh``
    re-reads it at once. The boto3 client is created on first read unless one is injected.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        client: _SecretsClient | None = None,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not secret_id:
            raise InvalidInputError("secret_id", "must not be empty")
        if not ttl_seconds >= 0:
            raise InvalidInputError("ttl_seconds", "must be zero or more")
        self.secret_id = secret_id
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cached: OntapCredentials | None = None
        self._read_at = 0.0

    def get(self) -> OntapCredentials:
        if self._cached is None or self._clock() - self._read_at >= self._ttl:
            return self.refresh()
        return self._cached

    def refresh(self) -> OntapCredentials:
        self._cached = self._read()
        self._read_at = self._clock()
        return self._cached

    def _read(self) -> OntapCredentials:
        if self._client is None:
            self._client = boto3.client("secretsmanager")
        try:
            response = self._client.get_secret_value(SecretId=self.secret_id)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _SECRET_CONFIG_ERRORS:
                raise InvalidInputError(
                    "secret_id", f"cannot read ONTAP secret {self.secret_id!r}: {code}"
                ) from exc
            raise OntapUnavailableError(
                f"Secrets Manager failed to return ONTAP secret {self.secret_id!r}: {code}",
                secret_id=self.secret_id,
                error_code=code,
            ) from exc
        except BotoCoreError as exc:
            raise OntapUnavailableError(
                f"Secrets Manager is unreachable for ONTAP secret {self.secret_id!r}: {type(exc).__name__}",
                secret_id=self.secret_id,
            ) from exc
        return _parse_secret(response.get("SecretString"), self.secret_id)


def _parse_secret(secret_string: object, secret_id: str) -> OntapCredentials:
    if not isinstance(secret_string, str):
        raise InvalidInputError("SecretString", f"secret {secret_id!r} has no SecretString")
    try:
        document = json.loads(secret_string)
    except ValueError:
        # `from None`: a JSONDecodeError keeps the whole document (the password) in its `doc`.
        raise InvalidInputError("SecretString", f"secret {secret_id!r} is not a JSON object") from None
    if not isinstance(document, dict):
        raise InvalidInputError("SecretString", f"secret {secret_id!r} is not a JSON object")
    for key in ("username", "password"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise InvalidInputError(key, f"missing or not a non-empty string in secret {secret_id!r}")
    return OntapCredentials(document["username"], document["password"])


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OntapSettings:
    """What a handler needs to build a client, read once from its environment."""

    endpoint: str
    secret_id: str
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OntapSettings:
        """Read ``ONTAP_MANAGEMENT_ENDPOINT`` (``host``, ``host:port`` or ``https://host:port``),
        ``ONTAP_SECRET_ID``, ``ONTAP_VERIFY_TLS`` (``true``/``false``, default ``true``),
        ``ONTAP_CA_BUNDLE`` (a PEM file) and ``ONTAP_TIMEOUT_SECONDS`` (default 30)."""
        endpoint = required(environ, "ONTAP_MANAGEMENT_ENDPOINT")
        _parse_endpoint(endpoint, "ONTAP_MANAGEMENT_ENDPOINT")
        secret_id = required(environ, "ONTAP_SECRET_ID")

        verify_raw = environ.get("ONTAP_VERIFY_TLS", "true").strip().lower()
        if verify_raw not in ("true", "false"):
            raise InvalidInputError("ONTAP_VERIFY_TLS", "must be 'true' or 'false'")

        ca_bundle = environ.get("ONTAP_CA_BUNDLE", "").strip() or None
        if ca_bundle is not None and not Path(ca_bundle).is_file():
            raise InvalidInputError("ONTAP_CA_BUNDLE", f"no such file: {ca_bundle}")

        timeout_raw = environ.get("ONTAP_TIMEOUT_SECONDS", "").strip()
        timeout = 30.0
        if timeout_raw:
            try:
                timeout = float(timeout_raw)
            except ValueError:
                raise InvalidInputError("ONTAP_TIMEOUT_SECONDS", "must be a number of seconds") from None
            if not (math.isfinite(timeout) and timeout > 0):
                raise InvalidInputError("ONTAP_TIMEOUT_SECONDS", "must be a positive number of seconds")

        return cls(endpoint, secret_id, verify_raw == "true", ca_bundle, timeout)


def _parse_endpoint(endpoint: str, field_name: str) -> tuple[str, str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``http(s)://host[:port]`` → (scheme, host, port)."""
    try:
        url = urllib3.util.parse_url(endpoint.strip())
    except urllib3.exceptions.LocationParseError:
        raise InvalidInputError(field_name, f"not a host or host:port: {endpoint!r}") from None
    scheme = url.scheme or "https"
    if scheme not in ("https", "http") or not url.host:
        raise InvalidInputError(field_name, f"not a host, host:port or https:// URL: {endpoint!r}")
    if url.auth or url.query or url.fragment or (url.path or "/") != "/":
        raise InvalidInputError(field_name, "must be only a host and optional port (no path or credentials)")
    return scheme, url.host, url.port or (443 if scheme == "https" else 80)


# --- paths and queries -------------------------------------------------------------------------


def api_path(*segments: str, field: str = "path") -> str:
    """Build ``/api/<segment>/<segment>…`` with every segment percent-encoded on its own.

    Everything but RFC 3986 unreserved characters (``A-Z a-z 0-9 - . _ ~``) is encoded as UTF-8
    ``%XX``: space → ``%20`` (never ``+``), ``#`` → ``%23``, ``%`` → ``%25``, ``?`` → ``%3F`` and
    ``/`` → ``%2F``, so a segment can never be read as two.

    **File paths are ONE segment.** ONTAP takes the ``{path}`` of
    ``/api/protocols/file-security/permissions/{svm.uuid}/{path}`` (and of
    ``…/effective-permissions/…`` and ``/api/storage/volumes/{volume.uuid}/files/{path}``) as a
    single path parameter whose slashes are sent as ``%2F``. NetApp's REST API reference says of
    the files endpoint "The path field requires using "%2E" to represent "." and "%2F" to represent
    "/"" and shows ``…/files/d1%2Fd2%2Fd3``; its effective-permissions example sends the root ``/``
    as ``%2F``; NetApp's own ``netapp-ontap`` SDK fills path keys with ``urllib.parse.quote_plus``,
    so ``FileDirectorySecurity(svm_uuid, "/parent")`` requests ``…/permissions/<uuid>/%2Fparent``.
    Hence::

        api_path("protocols", "file-security", "permissions", svm_uuid, "/vol1/契約書 2024.docx")
        # -> "/api/protocols/file-security/permissions/" + svm_uuid
        #    + "/%2Fvol1%2F%E5%A5%91%E7%B4%84%E6%9B%B8%202024.docx"

    Dots inside names stay literal (the SDK does the same); ONTAP's ``%2E`` note concerns the
    ``.``/``..`` directory entries, which this function refuses instead: an empty segment, a segment
    ``.`` or ``..``, a ``..`` component inside a file path (split on ``/`` and ``\\``) or a control
    character (U+0000 to U+001F, U+007F) raises :class:`InvalidInputError` naming ``field``.
    """
    if not segments:
        raise InvalidInputError(field, "at least one path segment is required")
    encoded = []
    for index, segment in enumerate(segments):
        if not isinstance(segment, str):
            raise InvalidInputError(field, f"segment {index} is not a string")
        if not segment:
            raise InvalidInputError(field, f"segment {index} is empty")
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in segment):
            raise InvalidInputError(field, f"segment {index} contains a control character: {segment!r}")
        if segment in (".", "..") or ".." in segment.replace("\\", "/").split("/"):
            raise InvalidInputError(field, f"segment {index} contains a '..' or '.' component: {segment!r}")
        encoded.append(quote(segment, safe=""))
    return "/api/" + "/".join(encoded)


def _query_string(
    fields: Sequence[str] | str | None,
    query: Mapping[str, QueryValue] | None,
    max_records: int | None,
) -> str:
    """``fields``, then ``query`` in order, then ``max_records``; ``,`` and ``*`` stay literal
    because ONTAP reads them as list separator and wildcard (``fields=name,uuid``, ``name=vol*``)."""
    pairs: list[tuple[str, str]] = []
    if fields is not None:
        pairs.append(("fields", fields if isinstance(fields, str) else ",".join(fields)))
    for key, value in (query or {}).items():
        pairs.append((key, _query_value(value)))
    if max_records is not None:
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise InvalidInputError("max_records", "must be a positive integer")
        pairs.append(("max_records", str(max_records)))
    return "&".join(f"{quote(key, safe='')}={quote(value, safe=',*')}" for key, value in pairs)


def _query_value(value: QueryValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ",".join(value)


def _with_query(path: str, query_string: str) -> str:
    if not path.startswith("/") or path.startswith("//"):
        raise InvalidInputError("path", f"must be an absolute API path such as /api/cluster: {path!r}")
    if not query_string:
        return path
    return f"{path}{'&' if '?' in path else '?'}{query_string}"


# --- the client --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class _Failure:
    """An attempt that failed in a way a later attempt might not: transport error or 429/502/503/504."""

    description: str
    cause: BaseException | None
    replayable: bool
    status: int | None = None
    retry_after: float | None = None


class OntapClient:
    """A small, typed ONTAP REST client; see the module docstring for its behaviour."""

    def __init__(
        self,
        endpoint: str,
        credentials: CredentialsProvider,
        *,
        verify_tls: bool = True,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        maxsize: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scheme, self._host, self._port = _parse_endpoint(endpoint, "endpoint")
        if not (math.isfinite(timeout) and timeout > 0):
            raise InvalidInputError("timeout", "must be a positive number of seconds")
        if max_retries < 0:
            raise InvalidInputError("max_retries", "must be zero or more")
        if not (backoff_base >= 0 and backoff_cap >= 0):
            raise InvalidInputError("backoff_base", "backoff_base and backoff_cap must be zero or more")
        if maxsize < 1:
            raise InvalidInputError("maxsize", "must be at least 1")
        self._credentials = credentials
        self._verify_tls = verify_tls
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._maxsize = maxsize
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._pool: urllib3.HTTPConnectionPool | None = None
        if self._scheme == "http":
            logger.warning("ONTAP endpoint uses plain HTTP: credentials travel unencrypted", host=self._host)
        elif not verify_tls:
            logger.warning(
                "TLS certificate verification of the ONTAP endpoint is turned off", host=self._host
            )

    @classmethod
    def from_settings(cls, settings: OntapSettings, *, secrets_client: Any = None) -> OntapClient:
        """The production wiring: credentials from ``settings.secret_id`` in Secrets Manager."""
        return cls(
            settings.endpoint,
            SecretsManagerCredentials(settings.secret_id, client=secrets_client),
            verify_tls=settings.verify_tls,
            ca_bundle=settings.ca_bundle,
            timeout=settings.timeout_seconds,
        )

    # --- public API ---

    def get(
        self,
        path: str,
        *,
        fields: Sequence[str] | str | None = None,
        query: Mapping[str, QueryValue] | None = None,
    ) -> dict[str, Any]:
        """GET one resource; ``path`` is an ``/api/...`` path, best built with :func:`api_path`."""
        return self._send("GET", _with_query(path, _query_string(fields, query, None))).body

    def get_collection(
        self,
        path: str,
        *,
        fields: Sequence[str] | str | None = None,
        query: Mapping[str, QueryValue] | None = None,
        max_records: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a collection, fetching the next page only when it is needed.

        ``max_records`` is the page size. Pages are followed through ``_links.next.href``, which
        ONTAP gives as a path and query on the same host and which is requested as given.
        """
        return self._pages(_with_query(path, _query_string(fields, query, max_records)))

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        query: Mapping[str, QueryValue] | None = None,
        wait: bool = True,
        job_timeout: float = 300.0,
    ) -> dict[str, Any]:
        """POST; an HTTP 202 job is waited for (unless ``wait=False``) and its final record returned."""
        return self._modify("POST", path, body, query, wait=wait, job_timeout=job_timeout)

    def patch(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        query: Mapping[str, QueryValue] | None = None,
        wait: bool = True,
        job_timeout: float = 300.0,
    ) -> dict[str, Any]:
        """PATCH; an HTTP 202 job is waited for (unless ``wait=False``) and its final record returned."""
        return self._modify("PATCH", path, body, query, wait=wait, job_timeout=job_timeout)

    def delete(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, QueryValue] | None = None,
        wait: bool = True,
        job_timeout: float = 300.0,
    ) -> dict[str, Any]:
        """DELETE (some ONTAP endpoints take a body); a 202 job is waited for unless ``wait=False``."""
        return self._modify("DELETE", path, body, query, wait=wait, job_timeout=job_timeout)

    def wait_for_job(self, job_uuid: str, *, timeout: float = 300.0) -> dict[str, Any]:
        """Poll ``/api/cluster/jobs/{uuid}`` until ``success`` (the job record is returned),
        ``failure`` (:class:`OntapJobFailedError`) or ``timeout`` seconds (:class:`OntapJobTimeoutError`)."""
        target = _with_query(api_path("cluster", "jobs", job_uuid, field="job_uuid"), f"fields={_JOB_FIELDS}")
        started = self._clock()
        delay = _JOB_POLL_FIRST
        while True:
            job = self._send("GET", target).body
            state = job.get("state")
            if state == "success":
                return job
            if state == "failure":
                message, code = _job_outcome(job)
                raise OntapJobFailedError(
                    f"ONTAP job {job_uuid} failed: {message}" + (f" (code {code})" if code else ""),
                    job_uuid=job_uuid,
                    ontap_message=message,
                    code=code,
                )
            remaining = timeout - (self._clock() - started)
            if remaining <= 0:
                raise OntapJobTimeoutError(
                    f"ONTAP job {job_uuid} still {state or 'unknown'} after {timeout:g} s",
                    job_uuid=job_uuid,
                    state=state,
                    timeout_seconds=timeout,
                )
            self._sleep(min(delay, remaining))
            delay = min(delay * 2, _JOB_POLL_CAP)

    def close(self) -> None:
        """Close the pooled connections; the next request opens a new pool."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ---

    def _modify(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        query: Mapping[str, QueryValue] | None,
        *,
        wait: bool,
        job_timeout: float,
    ) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        reply = self._send(method, _with_query(path, _query_string(None, query, None)), payload)
        job = reply.body.get("job")
        if reply.status == 202 and wait and isinstance(job, dict) and isinstance(job.get("uuid"), str):
            logger.debug("waiting for ONTAP job", method=method, path=path, job_uuid=job["uuid"])
            return self.wait_for_job(job["uuid"], timeout=job_timeout)
        return reply.body

    def _pages(self, first: str) -> Iterator[dict[str, Any]]:
        target: str | None = first
        seen: set[str] = set()
        while target is not None:
            seen.add(target)
            body = self._send("GET", target).body
            records = body.get("records", [])
            if not isinstance(records, list):
                raise OntapApiError("'records' is not a list", status=200, method="GET", path=target)
            yield from records
            target = _next_href(body, target)
            if target is not None and target in seen:
                raise OntapApiError(
                    f"_links.next points back to {target}", status=200, method="GET", path=target
                )

    def _pool_for_requests(self) -> urllib3.HTTPConnectionPool:
        if self._pool is None:
            timeout = urllib3.Timeout(connect=self._timeout, read=self._timeout)
            if self._scheme == "https":
                self._pool = urllib3.HTTPSConnectionPool(
                    self._host,
                    self._port,
                    timeout=timeout,
                    maxsize=self._maxsize,
                    retries=False,
                    cert_reqs="CERT_REQUIRED" if self._verify_tls else "CERT_NONE",
                    ca_certs=self._ca_bundle if self._verify_tls else None,
                    assert_hostname=None if self._verify_tls else False,
                )
            else:
                self._pool = urllib3.HTTPConnectionPool(
                    self._host, self._port, timeout=timeout, maxsize=self._maxsize, retries=False
                )
        return self._pool

    def _send(self, method: str, target: str, payload: bytes | None = None) -> _Reply:
        """One logical request: transient retries, one credential refresh on 401, typed errors."""
        credentials = self._credentials.get()
        refreshed = False
        attempts = 0
        failures = 0
        while True:
            attempts += 1
            outcome = self._attempt(method, target, payload, credentials)
            if isinstance(outcome, _Failure):
                failure = outcome
            else:
                status = outcome.status
                if status == 401 and not refreshed:
                    refreshed = True
                    renewed = self._credentials.refresh()
                    if renewed != credentials:
                        logger.info("ONTAP refused the cached credentials; retrying with the re-read secret")
                        credentials = renewed
                        continue
                if status in RETRYABLE_STATUSES:
                    failure = _Failure(
                        f"HTTP {status}", None, True, status, _retry_after(outcome.headers.get("Retry-After"))
                    )
                elif status >= 300:
                    raise _api_error(method, target, outcome)
                else:
                    return _Reply(status, _json_object(method, target, outcome))

            failures += 1
            if not failure.replayable or failures > self._max_retries:
                details: dict[str, Any] = {"method": method, "path": target, "attempts": attempts}
                if failure.status is not None:
                    details["status"] = failure.status
                raise OntapUnavailableError(
                    f"ONTAP {method} {target} failed after {attempts} attempt(s): {failure.description}",
                    **details,
                ) from failure.cause
            if failure.retry_after is not None:
                delay = min(failure.retry_after, self._backoff_cap)
            else:
                delay = self._rand() * min(self._backoff_cap, self._backoff_base * 2 ** (failures - 1))
            logger.warning(
                "ONTAP request failed, retrying",
                method=method,
                path=target,
                failure=failure.description,
                attempt=attempts,
                delay_seconds=round(delay, 3),
            )
            self._sleep(delay)

    def _attempt(
        self, method: str, target: str, payload: bytes | None, credentials: OntapCredentials
    ) -> urllib3.BaseHTTPResponse | _Failure:
        """Send once; a transport failure comes back as a :class:`_Failure`, never raised."""
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Authorization": credentials.authorization(),
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._pool_for_requests().urlopen(
                method, target, body=payload, headers=headers, redirect=False, retries=False
            )
        except SSLError as exc:
            if _is_certificate_failure(exc):
                raise InvalidInputError(
                    "ca_bundle",
                    f"the TLS certificate of {self._host}:{self._port} did not verify "
                    f"({_reason(exc)}); give the CA that signed it as the CA bundle",
                ) from exc
            return _Failure(_reason(exc), exc, method in _REPLAYABLE_METHODS)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # The request never left this process: any method may be sent again.
            return _Failure(_reason(exc), exc, True)
        except (ProtocolError, ReadTimeoutError) as exc:
            return _Failure(_reason(exc), exc, method in _REPLAYABLE_METHODS)


# --- response helpers --------------------------------------------------------------------------


def _next_href(body: Mapping[str, Any], current: str) -> str | None:
    links = body.get("_links")
    nxt = links.get("next") if isinstance(links, dict) else None
    href = nxt.get("href") if isinstance(nxt, dict) else None
    if href is None:
        return None
    if not isinstance(href, str) or not href.startswith("/") or href.startswith("//"):
        # Only a path on this host: credentials must never follow a link to another server.
        raise OntapApiError(
            f"_links.next.href is not a path: {href!r}", status=200, method="GET", path=current
        )
    return href


def _json_object(method: str, target: str, response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    if not response.data:
        return {}
    try:
        document = json.loads(response.data)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise OntapApiError(
            "response body is not a JSON object", status=response.status, method=method, path=target
        )
    return document


def _api_error(method: str, target: str, response: urllib3.BaseHTTPResponse) -> OntapApiError:
    status = response.status
    message: str | None = None
    code: str | None = None
    error_target: str | None = None
    try:
        document = json.loads(response.data) if response.data else None
    except ValueError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        message = str(error["message"]) if error.get("message") is not None else None
        code = str(error["code"]) if error.get("code") is not None else None
        error_target = str(error["target"]) if error.get("target") is not None else None
    if message is None:
        text = response.data.decode("utf-8", "replace").strip() if response.data else ""
        text = "".join(char if char.isprintable() else " " for char in text)[:200]
        message = text or response.reason or "no error body"
    kind = OntapAuthError if status in (401, 403) else OntapNotFoundError if status == 404 else OntapApiError
    return kind(message, status=status, code=code, target=error_target, method=method, path=target)


def _job_outcome(job: Mapping[str, Any]) -> tuple[str, str | None]:
    error: Mapping[str, Any] = job["error"] if isinstance(job.get("error"), dict) else {}
    message = job.get("message") or error.get("message") or "no message"
    code = job.get("code")
    if code in (None, 0, "0"):
        code = error.get("code", code)
    return str(message), None if code is None else str(code)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None when absent/invalid."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _is_certificate_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        pending.extend([*current.args, current.__cause__, current.__context__])
    return False


def _reason(exc: HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}"


_clients: dict[OntapSettings, OntapClient] = {}


def client_for(settings: OntapSettings) -> OntapClient:
    """The process's client for ``settings``: warm invocations reuse its pool and credentials."""
    client = _clients.get(settings)
    if client is None:
        client = _clients[settings] = OntapClient.from_settings(settings)
    return client


@after_restore
def _drop_clients() -> None:
    """No connection or cached password may cross a SnapStart snapshot."""
    while _clients:
        _, client = _clients.popitem()
        client.close()
