"""Fault injection and the request log, both safe to drive from a test while the server runs.

A :class:`FaultRule` matches requests by method and path (a regular expression matched against
the whole raw path, without the query) and does, in order: wait ``latency`` seconds; then either
reset the connection (close the socket without a response), or answer ``status`` with an ONTAP
error body (and ``Retry-After`` when given). A rule fires for the next ``times`` matching requests,
or for every one when ``times`` is None; the first live rule that matches wins.

"Node down" models the node that hosts the cluster management LIF going away: every request, on
every endpoint, has its connection reset until :meth:`Faults.node_up` (or until ``requests``
requests have been refused, i.e. the LIF has failed over to the partner node). A remote cluster
going away is a model change instead: see ``OntapSimulator.cluster_peer_down``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field


@dataclass
class FaultRule:
    method: str = "*"
    path: str = ".*"
    status: int | None = None
    latency: float = 0.0
    reset: bool = False
    times: int | None = None
    retry_after: int | None = None
    message: str | None = None
    code: str | None = None
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("an injected status must be an error status (4xx or 5xx)")

    @property
    def live(self) -> bool:
        return self.times is None or self.fired < self.times

    def applies_to(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and self._pattern.fullmatch(path) is not None


@dataclass(frozen=True)
class JobFailure:
    message: str
    code: int


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it.

    ``path`` and ``query`` are raw (still percent-encoded); ``user`` is the authenticated user (None
    when authentication failed or a fault answered first); ``status`` is None for a reset. Requests
    made over one kept-alive TCP connection share a ``connection_id``.
    """

    connection_id: int
    method: str
    path: str
    query: str
    user: str | None
    status: int | None


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._node_down_remaining: int | None = None
        self._node_down = False
        self._job_failures: list[JobFailure] = []

    def add(
        self,
        *,
        method: str = "*",
        path: str = ".*",
        status: int | None = None,
        latency: float = 0.0,
        reset: bool = False,
        times: int | None = None,
        retry_after: int | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> FaultRule:
        """Inject a fault; e.g. ``add(path="/api/storage/volumes.*", status=503, times=2)``."""
        rule = FaultRule(
            method=method.upper(),
            path=path,
            status=status,
            latency=latency,
            reset=reset,
            times=times,
            retry_after=retry_after,
            message=message,
            code=code,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule, bring the node back and forget pending job failures."""
        with self._lock:
            self._rules.clear()
            self._node_down = False
            self._node_down_remaining = None
            self._job_failures.clear()

    def node_down(self, requests: int | None = None) -> None:
        """Reset every connection until :meth:`node_up`, or for the next ``requests`` requests."""
        with self._lock:
            self._node_down = True
            self._node_down_remaining = requests

    def node_up(self) -> None:
        with self._lock:
            self._node_down = False
            self._node_down_remaining = None

    def fail_jobs(self, times: int = 1, *, message: str = "Injected job failure.", code: int = 1) -> None:
        """The next ``times`` jobs end in ``failure`` with this message and code."""
        with self._lock:
            self._job_failures.extend(JobFailure(message, code) for _ in range(times))

    # --- used by the server ---------------------------------------------------------------------

    def take_job_failure(self) -> JobFailure | None:
        with self._lock:
            return self._job_failures.pop(0) if self._job_failures else None

    def node_is_down(self) -> bool:
        with self._lock:
            if not self._node_down:
                return False
            if self._node_down_remaining is not None:
                self._node_down_remaining -= 1
                if self._node_down_remaining <= 0:
                    self._node_down = False
                    self._node_down_remaining = None
            return True

    def fault_for(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, counted as fired; None when none applies."""
        with self._lock:
            for rule in self._rules:
                if rule.live and rule.applies_to(method, path):
                    rule.fired += 1
                    return rule
        return None


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
