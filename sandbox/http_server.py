"""A threaded HTTP(S) server on 127.0.0.1 with an ephemeral port.

The ONTAP REST simulator and the ONTAP client's tests both serve through this. TLS uses a
certificate authority generated at start (``trustme``), so clients verify the server for real
against ``ca_bundle`` instead of switching verification off.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class RunningServer:
    """Where a started server listens and, with TLS, the CA file that signed its certificate."""

    host: str
    port: int
    scheme: str
    ca_bundle: str | None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """``host:port``, the form a cluster management endpoint takes in settings."""
        return f"{self.host}:{self.port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], *, tls: bool = False) -> Iterator[RunningServer]:
    """Serve ``handler`` on 127.0.0.1:<ephemeral> in a background thread until the block exits."""
    server = _Server(("127.0.0.1", 0), handler)
    ca_bundle = _use_generated_certificate(server) if tls else None
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
    )
    thread.start()
    try:
        yield RunningServer("127.0.0.1", server.server_address[1], "https" if tls else "http", ca_bundle)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if ca_bundle:
            Path(ca_bundle).unlink()


def _use_generated_certificate(server: _Server) -> str:
    import trustme  # dev dependency: only the sandbox generates certificates

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fd, path = tempfile.mkstemp(prefix="sandbox-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as out:
        out.write(ca.cert_pem.bytes())
    return path
