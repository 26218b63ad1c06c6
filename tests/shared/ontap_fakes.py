"""Test doubles for the ONTAP client: a scripted HTTP endpoint, static credentials, a fake clock.

``ScriptedOntap`` is served by ``sandbox.http_server.serve``: every request is recorded exactly as
it arrived (raw request-target, headers, body, client port) and answered with the next scripted
``Reply``, or by a ``responder`` callable when a test needs the answer to depend on the request.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.http_server import RunningServer
from shared.ontap_client import OntapCredentials


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``body``: dict/list → JSON, str/bytes → sent as is, None → empty."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def ok(cls, body: Any) -> Reply:
        return cls(200, body)

    @classmethod
    def error(cls, status: int, message: str, code: str, target: str | None = None) -> Reply:
        """ONTAP's error shape: ``{"error": {"message", "code", "target"}}``."""
        error = {"message": message, "code": code, **({"target": target} if target else {})}
        return cls(status, {"error": error})

    @classmethod
    def dropped(cls) -> Reply:
        """Close the connection without sending any response."""
        return cls(drop=True)


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    """The raw request-target from the request line: path and query, still percent-encoded."""
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes
    client_port: int

    @property
    def line(self) -> str:
        return f"{self.method} {self.target}"

    def json(self) -> Any:
        return json.loads(self.body)

    def basic_auth(self) -> tuple[str, str]:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        assert scheme == "Basic", f"not Basic auth: {scheme!r}"
        username, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        return username, password


Responder = Callable[[Request], Reply]


class ScriptedOntap:
    """Replies in order from a queue (or from ``responder``); records every request."""

    def __init__(self, *replies: Reply, responder: Responder | None = None) -> None:
        self._replies: deque[Reply] = deque(replies)
        self.responder = responder
        self.requests: list[Request] = []
        self.server: RunningServer | None = None
        """Set by whoever serves this script, so tests can reach it."""
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        assert self.server is not None, "the script is not being served"
        return self.server.base_url

    def reset(self) -> None:
        """Forget the script and the recorded requests, so one served instance can serve many tests."""
        with self._lock:
            self._replies.clear()
            self.responder = None
            self.requests.clear()

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def lines(self) -> list[str]:
        return [request.line for request in self.requests]

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Reply.error(599, f"unscripted request {request.line}", "test-script-exhausted")

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
            wbufsize = -1  # one write per response: no Nagle/delayed-ACK stall between head and body

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    target=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    client_port=self.client_address[1],
                )
                reply = script._answer(request)
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.body is None:
                    payload = b""
                elif isinstance(reply.body, bytes):
                    payload = reply.body
                elif isinstance(reply.body, str):
                    payload = reply.body.encode("utf-8")
                else:
                    payload = json.dumps(reply.body).encode("utf-8")
                self.send_response(reply.status)
                if isinstance(reply.body, dict | list):
                    self.send_header("Content-Type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the server quiet; the recorded requests are what tests look at."""

        return Handler


class StaticCredentials:
    """A credentials provider that never changes; counts refreshes."""

    def __init__(self, username: str = "fsxadmin", password: str = "Static-Passw0rd!") -> None:
        self.credentials = OntapCredentials(username, password)
        self.refreshes = 0

    def get(self) -> OntapCredentials:
        return self.credentials

    def refresh(self) -> OntapCredentials:
        self.refreshes += 1
        return self.credentials


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
