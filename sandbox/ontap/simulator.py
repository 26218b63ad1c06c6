"""An ONTAP REST API simulator: the endpoints our use cases call, with ONTAP's response shapes.

Usage::

    sim = OntapSimulator(password="s3cret")
    svm = sim.add_svm("svm1")
    vol = sim.add_volume("vol1", svm=svm, junction_path="/vol1", security_style="ntfs")
    with sim.running(tls=True) as endpoint:          # 127.0.0.1:<ephemeral>, CA in endpoint.ca_bundle
        requests.get(f"{endpoint.base_url}/api/storage/volumes",
                     auth=(endpoint.username, endpoint.password), verify=endpoint.ca_bundle)

Behaviour (sources and decisions: sandbox/ontap/README.md):

* Collections answer ``{"records": [...], "num_records": n, "_links": {"self", "next"?}}``;
  see :mod:`sandbox.ontap.query` for ``fields``, filters, ``order_by``, ``max_records`` and
  ``return_records``. ``GET <collection>/<key>`` and the singletons (``/api/cluster``, file
  security) return every field unless ``fields`` narrows them.
* Errors answer ``{"error": {"message", "code", "target"?}}``: an unknown key is 404 with
  ``"entry doesn't exist"``, code ``"4"`` and the key as target; a missing field is 400 with
  ``"\\"name\\" is a required field"``, code ``"2"``; a duplicate is code ``"1"`` ("duplicate entry").
  Statuses ONTAP does not document a body for (401, unknown endpoint, 405, injected faults)
  carry the reason phrase as message and the status as code.
* POST /api/storage/volumes (plain or FlexClone via ``clone.parent_volume``) and POST
  /api/storage/volumes/{uuid}/snapshots answer 202 Accepted, ``Location: …/?name=<name>`` and
  ``{"job": {"uuid", "_links": {"self": {"href": "/api/cluster/jobs/<uuid>"}}}}``; the object is
  created when the job succeeds. With ``return_timeout`` > 0 the job runs to completion first and
  the answer is 201 (or the job's error). POST /api/protocols/cifs/shares is synchronous in ONTAP
  (its only parameter is ``return_records``): 201 Created with a ``Location``.
* A job is observed ``queued`` on its first GET, ``running`` on the next ``job_polls - 1`` GETs,
  and terminal (``success``/``failure``) from then on, once ``job_seconds`` have also elapsed.
  Creating a duplicate fails in the job, as does any job after ``faults.fail_jobs()``.
* File paths in ``/api/protocols/file-security/permissions/{svm.uuid}/{path}`` are one
  percent-encoded segment (``/`` as ``%2F``, as ONTAP's examples and the SDK send them); raw slashes
  are accepted too. The path is decoded exactly once, with ``+`` read as a space because the
  ``netapp-ontap`` SDK encodes keys with ``quote_plus`` (a literal ``+`` must be sent as ``%2B``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote_plus

from sandbox.http_server import RunningServer, serve
from sandbox.ontap.faults import FaultRule, Faults, RequestLog, RequestRecord
from sandbox.ontap.model import (
    GIB,
    SECURITY_STYLES,
    SHARE_ACL_TYPES,
    SHARE_PERMISSIONS,
    CifsShare,
    Cluster,
    ClusterPeer,
    ExportPolicy,
    ExportRule,
    FileSecurity,
    FlexCache,
    FlexCacheOrigin,
    FlexCacheRelationship,
    Job,
    JsonDict,
    ShareAcl,
    Snapshot,
    Svm,
    Volume,
    ontap_time,
)
from sandbox.ontap.query import Page, Query, QueryError, paginate, select

DEFAULT_USERNAME = "fsxadmin"  # the administrator FSx for ONTAP creates

# Identity members: what a collection returns for each record when ``fields`` is absent.
IDENTITY: dict[str, tuple[str, ...]] = {
    "svm": ("uuid", "name"),
    "volume": ("uuid", "name"),
    "snapshot": ("uuid", "name"),
    "cifs_share": ("svm.uuid", "svm.name", "name"),
    "export_policy": ("id", "name"),
    "flexcache": ("uuid", "name"),
    "flexcache_origin": ("uuid", "name"),
    "cluster_peer": ("uuid", "name"),
    "job": ("uuid",),
    "cluster": ("name", "uuid"),
    "file_security": ("svm.uuid", "svm.name", "path"),
}
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": GIB, "T": 1024**4, "P": 1024**5}


class ApiError(Exception):
    """An ONTAP error answer: ``{"error": {"message", "code", "target"?}}`` with an HTTP status."""

    def __init__(self, status: int, message: str, code: str, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.target = target

    @classmethod
    def not_found(cls, target: str) -> ApiError:
        return cls(404, "entry doesn't exist", "4", target)

    @classmethod
    def required(cls, target: str) -> ApiError:
        return cls(400, f'"{target}" is a required field', "2", target)

    @classmethod
    def invalid(cls, target: str, value: Any) -> ApiError:
        return cls(400, f'"{value}" is an invalid value for field "{target}"', "2", target)

    @classmethod
    def duplicate(cls, target: str) -> ApiError:
        return cls(409, "duplicate entry", "1", target)

    @classmethod
    def undocumented(cls, status: int) -> ApiError:
        return cls(status, HTTPStatus(status).phrase, str(status))

    def body(self) -> JsonDict:
        error: JsonDict = {"message": self.message, "code": self.code}
        if self.target is not None:
            error["target"] = self.target
        return {"error": error}


@dataclass
class Request:
    method: str
    path: str  # raw, still percent-encoded, without the query
    query: list[tuple[str, str]]
    body: bytes
    user: str | None = None
    raw_query: str = ""

    def json(self) -> JsonDict:
        if not self.body:
            return {}
        try:
            decoded = json.loads(self.body)
        except ValueError as error:
            raise ApiError(400, "The request body is not valid JSON", "2") from error
        if not isinstance(decoded, dict):
            raise ApiError(400, "The request body must be a JSON object", "2")
        return _unflatten(decoded)

    def parameter(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)


@dataclass
class Response:
    status: int
    body: JsonDict | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    action: Callable[..., Response]


@dataclass
class _JobRun:
    job: Job
    create: Callable[[], None]
    started: float = field(default_factory=time.monotonic)
    polls: int = 0
    error_status: int = 400


@dataclass(frozen=True)
class SimulatorEndpoint:
    """Where a running simulator listens and how to log in (the password current at start)."""

    server: RunningServer
    username: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def scheme(self) -> str:
        return self.server.scheme

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def ca_bundle(self) -> str | None:
        return self.server.ca_bundle


class OntapSimulator:
    """In-memory ONTAP cluster served over HTTP(S); every method is safe to call while it runs."""

    def __init__(
        self,
        *,
        cluster_name: str = "FsxId0123456789abcdef0",
        username: str = DEFAULT_USERNAME,
        password: str | None = None,
        job_polls: int = 2,
        job_seconds: float = 0.0,
    ) -> None:
        self._lock = threading.RLock()
        self.cluster = Cluster(name=cluster_name)
        self.svms: list[Svm] = []
        self.volumes: list[Volume] = []
        self.file_security: dict[tuple[str, str], FileSecurity] = {}
        self.cifs_shares: list[CifsShare] = []
        self.export_policies: list[ExportPolicy] = []
        self.flexcaches: list[FlexCache] = []
        self.flexcache_origins: list[FlexCacheOrigin] = []
        self.cluster_peers: list[ClusterPeer] = []
        self.username = username
        self._users: dict[str, str] = {
            username: password if password is not None else secrets.token_urlsafe(16)
        }
        self.job_polls = job_polls
        self.job_seconds = job_seconds
        self._jobs: dict[str, _JobRun] = {}
        self._export_policy_ids = itertools.count(8589934593)
        self._connection_ids = itertools.count(1)
        self.faults = Faults()
        self.request_log = RequestLog()
        self._routes = self._route_table()

    # --- credentials -----------------------------------------------------------------------------

    @property
    def password(self) -> str:
        with self._lock:
            return self._users[self.username]

    def set_password(self, password: str, *, username: str | None = None) -> None:
        """Rotate a password (the primary user's by default); old credentials get 401 at once."""
        with self._lock:
            self._users[username or self.username] = password

    def add_user(self, username: str, password: str) -> None:
        with self._lock:
            self._users[username] = password

    def _authenticate(self, header: str | None) -> str | None:
        """The user named by a valid ``Authorization: Basic`` header, else None."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self._lock:
            expected = self._users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return user

    # --- populating the model --------------------------------------------------------------------

    def add_svm(self, name: str, *, uuid: str | None = None, state: str = "running") -> Svm:
        svm = Svm(name, state=state) if uuid is None else Svm(name, uuid=uuid, state=state)
        with self._lock:
            self.svms.append(svm)
        return svm

    def add_volume(
        self,
        name: str,
        *,
        svm: Svm,
        junction_path: str | None = None,
        security_style: str = "unix",
        size: int = 100 * GIB,
        state: str = "online",
        style: str = "flexvol",
        type: str = "rw",
        uuid: str | None = None,
        comment: str | None = None,
    ) -> Volume:
        volume = Volume(
            name,
            svm,
            state=state,
            style=style,
            type=type,
            size=size,
            junction_path=junction_path,
            security_style=security_style,
            comment=comment,
        )
        if uuid is not None:
            volume.uuid = uuid
        with self._lock:
            self.volumes.append(volume)
        return volume

    def add_snapshot(self, volume: Volume, name: str, *, comment: str | None = None) -> Snapshot:
        snapshot = Snapshot(name, volume, comment=comment)
        with self._lock:
            volume.snapshots.append(snapshot)
        return snapshot

    def set_file_security(self, svm: Svm, path: str, **attributes: Any) -> FileSecurity:
        """Set the security descriptor of ``path``; ``attributes`` are :class:`FileSecurity` fields."""
        security = FileSecurity(svm, path, **attributes)
        with self._lock:
            self.file_security[(svm.uuid, _normal_path(security.path))] = security
        return security

    def add_cifs_share(
        self,
        name: str,
        *,
        svm: Svm,
        path: str,
        acls: Sequence[ShareAcl] | None = None,
        comment: str | None = None,
    ) -> CifsShare:
        with self._lock:
            share = CifsShare(name, svm, path, volume=self._volume_under(svm, path), comment=comment)
            if acls is not None:
                share.acls = list(acls)
            self.cifs_shares.append(share)
        return share

    def add_export_policy(self, name: str, *, svm: Svm, rules: Sequence[ExportRule] = ()) -> ExportPolicy:
        with self._lock:
            policy = ExportPolicy(name, svm, next(self._export_policy_ids), list(rules))
            self.export_policies.append(policy)
        return policy

    def add_cluster_peer(
        self,
        name: str,
        *,
        remote_ip_addresses: Sequence[str],
        state: str = "available",
        remote_name: str | None = None,
        remote_serial_number: str | None = None,
        peer_applications: Sequence[str] | None = None,
    ) -> ClusterPeer:
        peer = ClusterPeer(
            name,
            list(remote_ip_addresses),
            state=state,
            remote_name=remote_name,
            remote_serial_number=remote_serial_number,
            peer_applications=list(peer_applications) if peer_applications is not None else None,
        )
        with self._lock:
            self.cluster_peers.append(peer)
        return peer

    def add_flexcache(
        self,
        name: str,
        *,
        svm: Svm,
        origins: Sequence[FlexCacheRelationship],
        path: str | None = None,
        size: int = 10 * GIB,
        **attributes: Any,
    ) -> FlexCache:
        """A FlexCache volume of this cluster; ``attributes`` are further :class:`FlexCache` fields."""
        cache = FlexCache(name, svm, list(origins), path=path, size=size, **attributes)
        with self._lock:
            self.flexcaches.append(cache)
        return cache

    def add_flexcache_origin(
        self, volume: Volume, *, flexcaches: Sequence[FlexCacheRelationship], **attributes: Any
    ) -> FlexCacheOrigin:
        """Declare ``volume`` (of this cluster) the origin of FlexCaches on other clusters."""
        origin = FlexCacheOrigin(volume, list(flexcaches), **attributes)
        with self._lock:
            self.flexcache_origins.append(origin)
        return origin

    # --- changing the world while it runs --------------------------------------------------------

    def cluster_peer_down(self, name: str) -> None:
        """The peer cluster ``name`` is unreachable: its ``status.state`` becomes ``unavailable`` and
        every FlexCache relationship whose far end is on that cluster reports ``state: offline``."""
        self._set_peer(name, "unavailable", "offline")

    def cluster_peer_up(self, name: str) -> None:
        self._set_peer(name, "available", "online")

    def _set_peer(self, name: str, peer_state: str, relationship_state: str) -> None:
        with self._lock:
            peer = next((p for p in self.cluster_peers if p.name == name), None)
            if peer is None:
                raise KeyError(f"no cluster peer named {name!r}")
            peer.state = peer_state
            peer.update_time = ontap_time()
            relationships = [r for cache in self.flexcaches for r in cache.origins]
            relationships += [r for origin in self.flexcache_origins for r in origin.flexcaches]
            for relationship in relationships:
                if relationship.cluster_name == peer.cluster_name:
                    relationship.state = relationship_state

    @property
    def jobs(self) -> list[Job]:
        with self._lock:
            return [run.job for run in self._jobs.values()]

    def finish_jobs(self) -> None:
        """Run every pending job to its end now, as if it had been polled to completion."""
        with self._lock:
            for run in self._jobs.values():
                if not run.job.terminal:
                    self._finish(run)

    @property
    def requests(self) -> list[RequestRecord]:
        return self.request_log.snapshot()

    # --- serving ---------------------------------------------------------------------------------

    @contextmanager
    def running(self, *, tls: bool = False) -> Iterator[SimulatorEndpoint]:
        """Serve on 127.0.0.1:<ephemeral> until the block exits (TLS with a CA generated now)."""
        handler = type("OntapRequestHandler", (_Handler,), {"simulator": self})
        with serve(handler, tls=tls) as server:
            yield SimulatorEndpoint(server, self.username, self.password)

    def next_connection_id(self) -> int:
        with self._lock:
            return next(self._connection_ids)

    def handle(self, request: Request, connection_id: int, authorization: str | None) -> Response | None:
        """Answer one request; None means: reset the connection without answering."""
        status: int | None = None
        try:
            response = self._answer(request, authorization)
            status = response.status if response is not None else None
            return response
        finally:
            self.request_log.append(
                RequestRecord(
                    connection_id,
                    request.method,
                    request.path,
                    request.raw_query,
                    request.user,
                    status,
                )
            )

    def _answer(self, request: Request, authorization: str | None) -> Response | None:
        if self.faults.node_is_down():
            return None
        rule = self.faults.fault_for(request.method, request.path)
        if rule is not None:
            if rule.latency:
                time.sleep(rule.latency)
            if rule.reset or rule.status is not None:
                return _injected(rule)
        request.user = self._authenticate(authorization)
        if request.user is None:
            return _error(ApiError.undocumented(401), {"WWW-Authenticate": 'Basic realm="ONTAP"'})
        try:
            return self._dispatch(request)
        except ApiError as error:
            return _error(error)
        except QueryError as error:
            return _error(ApiError(400, error.message, "2", error.target))

    def _dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        allowed = False
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == request.method:
                return route.action(request, **found.groupdict())
            allowed = True
        raise ApiError.undocumented(405 if allowed else 404)

    def _route_table(self) -> list[_Route]:
        uuid = r"(?P<uuid>[^/]+)"
        table: list[tuple[str, str, Callable[..., Response]]] = [
            ("GET", r"/api/cluster", self._get_cluster),
            ("GET", r"/api/cluster/jobs", self._get_jobs),
            ("GET", rf"/api/cluster/jobs/{uuid}", self._get_job),
            ("GET", r"/api/cluster/peers", self._get_peers),
            ("GET", rf"/api/cluster/peers/{uuid}", self._get_peer),
            ("GET", r"/api/svm/svms", self._get_svms),
            ("GET", rf"/api/svm/svms/{uuid}", self._get_svm),
            ("GET", r"/api/storage/volumes", self._get_volumes),
            ("POST", r"/api/storage/volumes", self._post_volume),
            ("GET", rf"/api/storage/volumes/{uuid}", self._get_volume),
            ("GET", rf"/api/storage/volumes/{uuid}/snapshots", self._get_snapshots),
            ("POST", rf"/api/storage/volumes/{uuid}/snapshots", self._post_snapshot),
            ("GET", rf"/api/storage/volumes/{uuid}/snapshots/(?P<snapshot>[^/]+)", self._get_snapshot),
            ("GET", r"/api/storage/flexcache/flexcaches", self._get_flexcaches),
            ("GET", rf"/api/storage/flexcache/flexcaches/{uuid}", self._get_flexcache),
            ("GET", r"/api/storage/flexcache/origins", self._get_origins),
            ("GET", rf"/api/storage/flexcache/origins/{uuid}", self._get_origin),
            ("GET", r"/api/protocols/cifs/shares", self._get_shares),
            ("POST", r"/api/protocols/cifs/shares", self._post_share),
            ("GET", r"/api/protocols/cifs/shares/(?P<svm>[^/]+)/(?P<name>[^/]+)", self._get_share),
            ("GET", r"/api/protocols/nfs/export-policies", self._get_export_policies),
            ("GET", r"/api/protocols/nfs/export-policies/(?P<id>[^/]+)", self._get_export_policy),
            (
                "GET",
                r"/api/protocols/file-security/permissions/(?P<svm>[^/]+)/(?P<path>.+)",
                self._get_file_security,
            ),
        ]
        return [_Route(method, re.compile(pattern), action) for method, pattern, action in table]

    # --- GET handlers ----------------------------------------------------------------------------

    def _collection(self, request: Request, records: list[JsonDict], kind: str) -> Response:
        query = Query.parse(request.query)
        identity = IDENTITY[kind]
        base = request.path.rstrip("/")
        page: Page = paginate(records, query, identity, base)
        self_href = f"{base}?{request.raw_query}" if request.raw_query else base
        body: JsonDict = {}
        if query.return_records:
            body["records"] = [select(r, query, identity, full_by_default=False) for r in page.records]
            body["num_records"] = len(page.records)
        else:
            body["num_records"] = page.total
        body["_links"] = {"self": {"href": self_href}}
        if page.next_href and query.return_records:
            body["_links"]["next"] = {"href": page.next_href}
        return Response(200, body)

    def _instance(self, request: Request, record: JsonDict, kind: str) -> Response:
        query = Query.parse(request.query)
        return Response(200, select(record, query, IDENTITY[kind], full_by_default=True))

    def _get_cluster(self, request: Request) -> Response:
        with self._lock:
            return self._instance(request, self.cluster.record(), "cluster")

    def _get_svms(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [svm.record() for svm in self.svms], "svm")

    def _get_svm(self, request: Request, uuid: str) -> Response:
        with self._lock:
            return self._instance(request, self._svm_by_uuid(unquote_plus(uuid)).record(), "svm")

    def _get_volumes(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [v.record() for v in self.volumes], "volume")

    def _get_volume(self, request: Request, uuid: str) -> Response:
        with self._lock:
            return self._instance(request, self._volume_by_uuid(unquote_plus(uuid)).record(), "volume")

    def _get_snapshots(self, request: Request, uuid: str) -> Response:
        with self._lock:
            volume = self._volume_by_uuid(unquote_plus(uuid), target="volume.uuid")
            return self._collection(request, [s.record() for s in volume.snapshots], "snapshot")

    def _get_snapshot(self, request: Request, uuid: str, snapshot: str) -> Response:
        with self._lock:
            volume = self._volume_by_uuid(unquote_plus(uuid), target="volume.uuid")
            found = next((s for s in volume.snapshots if s.uuid == unquote_plus(snapshot)), None)
            if found is None:
                raise ApiError.not_found("uuid")
            return self._instance(request, found.record(), "snapshot")

    def _get_flexcaches(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [c.record() for c in self.flexcaches], "flexcache")

    def _get_flexcache(self, request: Request, uuid: str) -> Response:
        with self._lock:
            cache = _by_uuid(self.flexcaches, unquote_plus(uuid))
            return self._instance(request, cache.record(), "flexcache")

    def _get_origins(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [o.record() for o in self.flexcache_origins], "flexcache_origin")

    def _get_origin(self, request: Request, uuid: str) -> Response:
        with self._lock:
            origin = _by_uuid(self.flexcache_origins, unquote_plus(uuid))
            return self._instance(request, origin.record(), "flexcache_origin")

    def _get_peers(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [p.record() for p in self.cluster_peers], "cluster_peer")

    def _get_peer(self, request: Request, uuid: str) -> Response:
        with self._lock:
            peer = _by_uuid(self.cluster_peers, unquote_plus(uuid))
            return self._instance(request, peer.record(), "cluster_peer")

    def _get_shares(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [s.record() for s in self.cifs_shares], "cifs_share")

    def _get_share(self, request: Request, svm: str, name: str) -> Response:
        with self._lock:
            owner = self._svm_by_uuid(unquote_plus(svm), target="svm.uuid")
            share = next(
                (s for s in self.cifs_shares if s.svm is owner and s.name == unquote_plus(name)), None
            )
            if share is None:
                raise ApiError.not_found("name")
            return self._instance(request, share.record(), "cifs_share")

    def _get_export_policies(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [p.record() for p in self.export_policies], "export_policy")

    def _get_export_policy(self, request: Request, id: str) -> Response:
        with self._lock:
            policy = next((p for p in self.export_policies if str(p.id) == unquote_plus(id)), None)
            if policy is None:
                raise ApiError.not_found("id")
            return self._instance(request, policy.record(), "export_policy")

    def _get_file_security(self, request: Request, svm: str, path: str) -> Response:
        with self._lock:
            owner = self._svm_by_uuid(unquote_plus(svm), target="svm.uuid")
            # One decoding for the whole remainder: "%2F" and raw "/" separators both work, and an
            # encoded "%25" stays a literal "%".
            security = self.file_security.get((owner.uuid, _normal_path(unquote_plus(path))))
            if security is None:
                raise ApiError.not_found("path")
            return self._instance(request, security.record(), "file_security")

    def _get_jobs(self, request: Request) -> Response:
        with self._lock:
            return self._collection(request, [run.job.record() for run in self._jobs.values()], "job")

    def _get_job(self, request: Request, uuid: str) -> Response:
        with self._lock:
            run = self._jobs.get(unquote_plus(uuid))
            if run is None:
                raise ApiError.not_found("uuid")
            self._advance(run)
            return self._instance(request, run.job.record(), "job")

    # --- POST handlers ---------------------------------------------------------------------------

    def _post_volume(self, request: Request) -> Response:
        body = request.json()
        name = _required_text(body, "name")
        with self._lock:
            svm = self._svm_from(body.get("svm"), "svm")
            nas: JsonDict = body["nas"] if isinstance(body.get("nas"), dict) else {}
            security_style = nas.get("security_style")
            if security_style is not None and security_style not in SECURITY_STYLES:
                raise ApiError.invalid("nas.security_style", security_style)
            clone: JsonDict | None = body["clone"] if isinstance(body.get("clone"), dict) else None
            parent: Volume | None = None
            parent_snapshot: Snapshot | None = None
            if clone is not None:
                parent_svm = (
                    self._svm_from(clone["parent_svm"], "clone.parent_svm") if "parent_svm" in clone else svm
                )
                parent = self._volume_from(clone.get("parent_volume"), parent_svm, "clone.parent_volume")
                if "parent_snapshot" in clone:
                    parent_snapshot = self._snapshot_from(clone["parent_snapshot"], parent)
            size = _size(body["size"]) if "size" in body else (parent.size if parent else 100 * GIB)

            def create() -> None:
                if any(v.svm is svm and v.name == name for v in self.volumes):
                    raise ApiError.duplicate("name")
                volume = Volume(
                    name,
                    svm,
                    size=size,
                    junction_path=nas.get("path"),
                    security_style=security_style or (parent.security_style if parent else "unix"),
                    comment=body.get("comment"),
                    clone_parent=parent,
                    clone_parent_snapshot=parent_snapshot,
                )
                self.volumes.append(volume)

        return self._accept(request, f"/api/storage/volumes/?name={quote(name, safe='')}", svm, create)

    def _post_snapshot(self, request: Request, uuid: str) -> Response:
        body = request.json()
        with self._lock:
            volume = self._volume_by_uuid(unquote_plus(uuid), target="volume.uuid")
            name = _required_text(body, "name")

            def create() -> None:
                if any(s.name == name for s in volume.snapshots):
                    raise ApiError.duplicate("name")
                volume.snapshots.append(Snapshot(name, volume, comment=body.get("comment")))

        location = f"/api/storage/volumes/{volume.uuid}/snapshots/?name={quote(name, safe='')}"
        return self._accept(request, location, volume.svm, create)

    def _post_share(self, request: Request) -> Response:
        body = request.json()
        name = _required_text(body, "name")
        path = _required_text(body, "path")
        with self._lock:
            svm = self._svm_from(body.get("svm"), "svm")
            acls = None
            if "acls" in body:
                if not isinstance(body["acls"], list):
                    raise ApiError.invalid("acls", body["acls"])
                acls = [_share_acl(entry) for entry in body["acls"]]
            if any(s.svm is svm and s.name.lower() == name.lower() for s in self.cifs_shares):
                raise ApiError.duplicate("name")
            share = self.add_cifs_share(name, svm=svm, path=path, acls=acls, comment=body.get("comment"))
            answer: JsonDict = {}
            if request.parameter("return_records") == "true":
                answer = {"num_records": 1, "records": [share.record()]}
            return Response(201, answer, {"Location": share.href})

    # --- jobs ------------------------------------------------------------------------------------

    def _accept(self, request: Request, location: str, svm: Svm, create: Callable[[], None]) -> Response:
        """Start a job for ``create``: 202 at once, or 201 once it ran when ``return_timeout`` allows."""
        timeout = _return_timeout(request)
        run = _JobRun(Job(f"{request.method} {location}", svm=svm), create)
        with self._lock:
            self._jobs[run.job.uuid] = run
        if timeout <= 0 or self.job_seconds > timeout:
            return Response(202, run.job.link(), {"Location": location})
        time.sleep(self.job_seconds)  # without the lock: other clients keep being served
        with self._lock:
            self._finish(run)
        if run.job.state == "failure" and run.job.error is not None:
            raise ApiError(run.error_status, run.job.error["message"], run.job.error["code"])
        return Response(201, run.job.link(), {"Location": location})

    def _advance(self, run: _JobRun) -> None:
        """One poll of a job: queued, then running, then its end (see the module docstring)."""
        run.polls += 1
        job = run.job
        if job.terminal:
            return
        due = run.polls > self.job_polls and time.monotonic() - run.started >= self.job_seconds
        if due:
            self._finish(run)
        elif run.polls > 1 or self.job_polls < 1:
            job.state = "running"
            job.start_time = job.start_time or ontap_time()

    def _finish(self, run: _JobRun) -> None:
        job = run.job
        job.start_time = job.start_time or ontap_time()
        failure = self.faults.take_job_failure()
        try:
            if failure is not None:
                raise ApiError(500, failure.message, str(failure.code))
            run.create()
        except ApiError as error:
            run.error_status = error.status
            job.state, job.message = "failure", error.message
            job.code = int(error.code) if error.code.isdigit() else 0
            job.error = {"message": error.message, "code": error.code}
        else:
            job.state, job.message, job.code = "success", "success", 0
        job.end_time = ontap_time()

    # --- lookups ---------------------------------------------------------------------------------

    def _svm_by_uuid(self, uuid: str, target: str = "uuid") -> Svm:
        svm = next((s for s in self.svms if s.uuid == uuid), None)
        if svm is None:
            raise ApiError.not_found(target)
        return svm

    def _volume_by_uuid(self, uuid: str, target: str = "uuid") -> Volume:
        volume = next((v for v in self.volumes if v.uuid == uuid), None)
        if volume is None:
            raise ApiError.not_found(target)
        return volume

    def _svm_from(self, reference: Any, target: str) -> Svm:
        """An SVM named in a request body by ``{"uuid": …}`` or ``{"name": …}``."""
        if not isinstance(reference, dict) or not ({"uuid", "name"} & set(reference)):
            raise ApiError.required(f"{target}.name")
        for svm in self.svms:
            if svm.uuid == reference.get("uuid", svm.uuid) and svm.name == reference.get("name", svm.name):
                return svm
        raise ApiError.not_found(f"{target}.{'uuid' if 'uuid' in reference else 'name'}")

    def _volume_from(self, reference: Any, svm: Svm, target: str) -> Volume:
        if not isinstance(reference, dict) or not ({"uuid", "name"} & set(reference)):
            raise ApiError.required(f"{target}.name")
        for volume in self.volumes:
            by_uuid = "uuid" in reference and volume.uuid == reference["uuid"]
            by_name = "uuid" not in reference and volume.svm is svm and volume.name == reference["name"]
            if by_uuid or by_name:
                return volume
        raise ApiError.not_found(f"{target}.{'uuid' if 'uuid' in reference else 'name'}")

    def _snapshot_from(self, reference: Any, volume: Volume) -> Snapshot:
        if not isinstance(reference, dict) or not ({"uuid", "name"} & set(reference)):
            raise ApiError.required("clone.parent_snapshot.name")
        for snapshot in volume.snapshots:
            if snapshot.uuid == reference.get("uuid", snapshot.uuid) and snapshot.name == reference.get(
                "name", snapshot.name
            ):
                return snapshot
        raise ApiError.not_found("clone.parent_snapshot.name")

    def _volume_under(self, svm: Svm, path: str) -> Volume | None:
        """The volume whose junction path is the longest prefix of ``path`` in ``svm``'s namespace."""
        best: Volume | None = None
        for volume in self.volumes:
            junction = volume.junction_path
            if volume.svm is not svm or junction is None:
                continue
            inside = path == junction or path.startswith(junction.rstrip("/") + "/")
            if inside and (best is None or len(junction) > len(best.junction_path or "")):
                best = volume
        return best


# --- the HTTP side ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP/1.1 adapter: keep-alive, exact Content-Length, resets on demand."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms per request on a keep-alive connection).
    disable_nagle_algorithm = True
    server_version = "libzapid-httpd"  # the Server header ONTAP's examples show
    simulator: ClassVar[OntapSimulator]
    connection_id: int

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.simulator.next_connection_id()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator keeps its own request log."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = parse_qsl(raw_query, keep_blank_values=True)
        request = Request(method, raw_path, query, body, raw_query=raw_query)
        response = self.simulator.handle(request, self.connection_id, self.headers.get("Authorization"))
        if response is None:
            self._reset()
            return
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        self.send_response(response.status)
        self.send_header("Content-Type", "application/hal+json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache,no-store,must-revalidate")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Close the TCP connection with an RST and no response, as a crashed or failed-over node."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


# --- helpers ---------------------------------------------------------------------------------------


def _error(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    return Response(error.status, error.body(), headers or {})


def _injected(rule: FaultRule) -> Response | None:
    """The answer an injected fault gives: none (reset) or its error status."""
    if rule.reset or rule.status is None:
        return None
    error = ApiError.undocumented(rule.status)
    error.message = rule.message or error.message
    error.code = rule.code or error.code
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
    return _error(error, headers)


def _unflatten(body: JsonDict) -> JsonDict:
    """``{"svm.name": "vs1"}`` → ``{"svm": {"name": "vs1"}}``: ONTAP accepts both spellings."""
    result: JsonDict = {}
    for key, value in body.items():
        target = result
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        if isinstance(value, dict) and isinstance(target.get(leaf), dict):
            target[leaf].update(_unflatten(value))
        else:
            target[leaf] = _unflatten(value) if isinstance(value, dict) else value
    return result


def _required_text(body: JsonDict, name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise ApiError.required(name)
    if not isinstance(value, str):
        raise ApiError.invalid(name, value)
    return value


def _size(value: Any) -> int:
    """ONTAP sizes: an integer of bytes or a string such as ``"240MB"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    found = re.fullmatch(r"(\d+)\s*([KMGTP]?)B?", str(value).strip().upper())
    if found is None or int(found.group(1)) == 0:
        raise ApiError.invalid("size", value)
    return int(found.group(1)) * _SIZE_UNITS[found.group(2)]


def _share_acl(entry: Any) -> ShareAcl:
    if not isinstance(entry, dict) or not entry.get("user_or_group"):
        raise ApiError.required("acls.user_or_group")
    permission = entry.get("permission", "full_control")
    acl_type = entry.get("type", "windows")
    if permission not in SHARE_PERMISSIONS:
        raise ApiError.invalid("acls.permission", permission)
    if acl_type not in SHARE_ACL_TYPES:
        raise ApiError.invalid("acls.type", acl_type)
    return ShareAcl(str(entry["user_or_group"]), permission, acl_type)


def _return_timeout(request: Request) -> float:
    value = request.parameter("return_timeout")
    if value is None:
        return 0.0
    try:
        seconds = float(value)
    except ValueError as error:
        raise ApiError.invalid("return_timeout", value) from error
    if not 0 <= seconds <= 120:
        raise ApiError.invalid("return_timeout", value)
    return seconds


def _normal_path(path: str) -> str:
    path = "/" + path.lstrip("/")
    return path.rstrip("/") or "/"


def _by_uuid(items: Sequence[Any], uuid: str) -> Any:
    found = next((item for item in items if item.uuid == uuid), None)
    if found is None:
        raise ApiError.not_found("uuid")
    return found
