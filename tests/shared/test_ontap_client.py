"""ONTAP REST client against a real local HTTP(S) server (sandbox.http_server); urllib3 is not mocked.

Sleeps and clocks are injected (FakeClock), so no test really waits.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from sandbox.http_server import serve
from shared.errors import (
    InvalidInputError,
    OntapApiError,
    OntapAuthError,
    OntapJobFailedError,
    OntapJobTimeoutError,
    OntapNotFoundError,
    OntapUnavailableError,
)
from shared.observability import logger as powertools_logger
from shared.ontap_client import (
    OntapClient,
    OntapCredentials,
    OntapSettings,
    SecretsManagerCredentials,
    api_path,
)
from tests.shared.ontap_fakes import FakeClock, Reply, Request, ScriptedOntap, StaticCredentials

pytestmark = pytest.mark.network

SVM_UUID = "9479099d-5b9f-11eb-9c4e-0050568e8682"
JOB_UUID = "3015c294-5bbc-11eb-9c4e-0050568e8682"
JOB_TARGET = f"/api/cluster/jobs/{JOB_UUID}?fields=state,message,code,error"
SECRET_ID = "fsxn/ontap/fsxadmin"
OLD_PASSWORD = "Old-Rotated-Passw0rd#1"
NEW_PASSWORD = "New-Rotated-Passw0rd#2"


# --- fixtures ----------------------------------------------------------------------------------


def _served(tls: bool) -> Iterator[ScriptedOntap]:
    script = ScriptedOntap()
    with serve(script.handler_class(), tls=tls) as server:
        script.server = server
        yield script


# One server per module and scheme (stopping one costs up to its 0.5 s poll interval); each test
# gets it with an empty script and no recorded requests.
@pytest.fixture(scope="module")
def http_server() -> Iterator[ScriptedOntap]:
    yield from _served(tls=False)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[ScriptedOntap]:
    yield from _served(tls=True)


@pytest.fixture
def ontap(http_server: ScriptedOntap) -> ScriptedOntap:
    """The scripted ONTAP over plain HTTP."""
    http_server.reset()
    return http_server


@pytest.fixture
def tls_ontap(tls_server: ScriptedOntap) -> ScriptedOntap:
    """The scripted ONTAP over TLS; its certificate is signed by ``tls_ontap.server.ca_bundle``."""
    tls_server.reset()
    return tls_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(ontap: ScriptedOntap, clock: FakeClock, **overrides: Any) -> OntapClient:
    """A client of ``ontap`` with injected sleep/clock and rand fixed at 0.5 (half the ceiling)."""
    options: dict[str, Any] = {"sleep": clock.sleep, "clock": clock, "rand": lambda: 0.5}
    options.update(overrides)
    credentials = options.pop("credentials", StaticCredentials())
    return OntapClient(ontap.base_url, credentials, **options)


@pytest.fixture
def client(ontap: ScriptedOntap, clock: FakeClock) -> Iterator[OntapClient]:
    with make_client(ontap, clock) as ontap_client:
        yield ontap_client


@dataclass
class Secrets:
    """A moto Secrets Manager client holding the ONTAP secret; ``reads`` counts GetSecretValue."""

    client: Any
    reads: int = 0

    def rotate(self, password: str) -> None:
        secret = {"username": "fsxadmin", "password": password}
        self.client.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(secret))


@pytest.fixture
def secrets() -> Iterator[Secrets]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="ap-northeast-1")
        client.create_secret(
            Name=SECRET_ID, SecretString=json.dumps({"username": "fsxadmin", "password": OLD_PASSWORD})
        )
        holder = Secrets(client)

        def count(**_: Any) -> None:
            holder.reads += 1

        client.meta.events.register("before-call.secrets-manager.GetSecretValue", count)
        yield holder


def accepting(password: dict[str, str]) -> Any:
    """A responder that answers like ONTAP: 401 unless the Basic password is ``password["value"]``."""

    def respond(request: Request) -> Reply:
        if request.basic_auth()[1] != password["value"]:
            return Reply.error(401, "User is not authorized.", "6", target="uuid")
        return Reply.ok({"name": "fsx-cluster", "version": {"full": "NetApp Release 9.15.1"}})

    return respond


# --- requests, queries, headers ----------------------------------------------------------------


def test_get_sends_json_basic_auth_and_builds_the_ontap_query(
    ontap: ScriptedOntap, client: OntapClient
) -> None:
    # Given ONTAP answers one volume
    ontap.add(Reply.ok({"name": "vol1", "uuid": "f1"}))

    # When the client reads it with fields and filters
    volume = client.get(
        "/api/storage/volumes",
        fields=["name", "uuid"],
        query={"svm.name": "vs 1", "name": "vol*", "return_records": True},
    )

    # Then the answer is returned and the request line is ONTAP's query syntax, spaces as %20
    assert volume == {"name": "vol1", "uuid": "f1"}
    assert ontap.lines == [
        "GET /api/storage/volumes?fields=name,uuid&svm.name=vs%201&name=vol*&return_records=true"
    ]
    request = ontap.requests[0]
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("fsxn-s3ap-serverless-patterns/")
    assert request.basic_auth() == ("fsxadmin", "Static-Passw0rd!")


def test_requests_reuse_one_keep_alive_connection(ontap: ScriptedOntap, client: OntapClient) -> None:
    # Given three answers
    ontap.add(Reply.ok({"n": 1}), Reply.ok({"n": 2}), Reply.ok({"n": 3}))

    # When three requests are made
    results = [client.get("/api/cluster")["n"] for _ in range(3)]

    # Then they all travelled over the same TCP connection
    assert results == [1, 2, 3]
    assert len({request.client_port for request in ontap.requests}) == 1


def test_building_a_client_connects_to_nothing_and_a_refused_connection_is_retried_then_given_up(
    clock: FakeClock,
) -> None:
    # Given a port where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    # When a client is built for it, nothing happens (no connection, no error) ...
    client = OntapClient(f"http://127.0.0.1:{port}", StaticCredentials(), sleep=clock.sleep, rand=lambda: 1.0)

    # ... and the first request is retried with backoff, then fails as retryable
    with pytest.raises(OntapUnavailableError) as caught:
        client.get("/api/cluster")
    assert caught.value.details["attempts"] == 5
    assert "NewConnectionError" in caught.value.message
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


# --- pagination --------------------------------------------------------------------------------


def test_collection_follows_links_next_over_three_pages_lazily(
    ontap: ScriptedOntap, client: OntapClient
) -> None:
    # Given a collection of five volumes served two per page
    page2 = (
        "/api/storage/volumes?start.uuid=u3&start.path=%2Fvol%20a&fields=name,uuid&svm.name=vs1&max_records=2"
    )
    page3 = "/api/storage/volumes?start.uuid=u5&fields=name,uuid&svm.name=vs1&max_records=2"
    ontap.add(
        Reply.ok(
            {
                "records": [{"uuid": "u1"}, {"uuid": "u2"}],
                "num_records": 2,
                "_links": {"next": {"href": page2}},
            }
        ),
        Reply.ok(
            {
                "records": [{"uuid": "u3"}, {"uuid": "u4"}],
                "num_records": 2,
                "_links": {"next": {"href": page3}},
            }
        ),
        Reply.ok({"records": [{"uuid": "u5"}], "num_records": 1, "_links": {"self": {"href": page3}}}),
    )

    # When the records are iterated
    records = client.get_collection(
        "/api/storage/volumes", fields="name,uuid", query={"svm.name": "vs1"}, max_records=2
    )
    first = next(records)

    # Then only the first page has been fetched so far ...
    assert first == {"uuid": "u1"}
    assert len(ontap.requests) == 1

    # ... and the rest arrive in order, each next href requested verbatim, no page twice
    assert [first, *records] == [{"uuid": f"u{i}"} for i in range(1, 6)]
    assert ontap.lines == [
        "GET /api/storage/volumes?fields=name,uuid&svm.name=vs1&max_records=2",
        f"GET {page2}",
        f"GET {page3}",
    ]


def test_collection_refuses_a_next_link_to_another_host(ontap: ScriptedOntap, client: OntapClient) -> None:
    # Given a page whose next link names another server
    ontap.add(
        Reply.ok({"records": [{"uuid": "u1"}], "_links": {"next": {"href": "https://evil.example/api/x"}}})
    )

    # When the collection is read, Then the credentials are not sent there
    with pytest.raises(OntapApiError, match="not a path"):
        list(client.get_collection("/api/storage/volumes"))
    assert len(ontap.requests) == 1


def test_collection_stops_when_next_points_back_to_a_page_already_read(
    ontap: ScriptedOntap, client: OntapClient
) -> None:
    # Given a page whose next link is itself
    page = "/api/storage/volumes?max_records=1"
    ontap.add(Reply.ok({"records": [{"uuid": "u1"}], "_links": {"next": {"href": page}}}))

    # When the collection is read, Then it fails instead of looping forever
    with pytest.raises(OntapApiError, match="points back"):
        list(client.get_collection("/api/storage/volumes", max_records=1))
    assert ontap.lines == [f"GET {page}"]


def test_success_answer_that_is_not_a_json_object_is_an_api_error(
    ontap: ScriptedOntap, client: OntapClient
) -> None:
    # Given a 200 whose body is not JSON
    ontap.add(Reply(200, "<html>login page</html>"))

    # When it is read, Then the caller gets a typed error rather than a parsing crash
    with pytest.raises(OntapApiError, match="not a JSON object") as caught:
        client.get("/api/cluster")
    assert caught.value.status == 200


# --- asynchronous jobs -------------------------------------------------------------------------


def job_accepted() -> Reply:
    return Reply(
        202, {"job": {"uuid": JOB_UUID, "_links": {"self": {"href": f"/api/cluster/jobs/{JOB_UUID}"}}}}
    )


def test_job_202_is_polled_until_success(ontap: ScriptedOntap, client: OntapClient, clock: FakeClock) -> None:
    # Given ONTAP accepts a POST as a job that runs once and then succeeds
    ontap.add(
        job_accepted(),
        Reply.ok({"uuid": JOB_UUID, "state": "running", "message": "Creating volume"}),
        Reply.ok({"uuid": JOB_UUID, "state": "success", "message": "success", "code": 0}),
    )

    # When a volume is created
    body = {"name": "vol_契約", "svm": {"name": "vs1"}, "size": 1073741824}
    job = client.post("/api/storage/volumes", body)

    # Then the final job record is returned after polling the job endpoint twice
    assert job == {"uuid": JOB_UUID, "state": "success", "message": "success", "code": 0}
    assert ontap.lines == ["POST /api/storage/volumes", f"GET {JOB_TARGET}", f"GET {JOB_TARGET}"]
    assert ontap.requests[0].json() == body
    assert ontap.requests[0].headers["content-type"] == "application/json"
    assert clock.sleeps == [0.25]


@pytest.mark.parametrize(
    "failed_job",
    [
        {"uuid": JOB_UUID, "state": "failure", "message": "Duplicate volume name vol1.", "code": 917536},
        {
            "uuid": JOB_UUID,
            "state": "failure",
            "error": {"message": "Duplicate volume name vol1.", "code": "917536"},
        },
    ],
)
def test_job_failure_raises_with_ontaps_message_and_code(
    ontap: ScriptedOntap, client: OntapClient, failed_job: dict[str, Any]
) -> None:
    # Given a PATCH whose job fails (message and code at the top or in the job's error object)
    ontap.add(job_accepted(), Reply.ok(failed_job))

    # When it is applied, Then the job's message and code are in the error
    with pytest.raises(OntapJobFailedError) as caught:
        client.patch(api_path("storage", "volumes", "f1"), {"name": "vol1"})
    assert caught.value.details["ontap_message"] == "Duplicate volume name vol1."
    assert caught.value.details["code"] == "917536"
    assert caught.value.details["job_uuid"] == JOB_UUID
    assert "Duplicate volume name vol1." in str(caught.value)


def test_job_that_never_finishes_times_out_on_the_injected_clock(
    ontap: ScriptedOntap, client: OntapClient, clock: FakeClock
) -> None:
    # Given a DELETE whose job stays running forever
    ontap.add(job_accepted())
    ontap.responder = lambda _request: Reply.ok({"uuid": JOB_UUID, "state": "running"})

    # When it is waited for up to 3 s
    with pytest.raises(OntapJobTimeoutError) as caught:
        client.delete(api_path("storage", "volumes", "f1"), job_timeout=3.0)

    # Then polling backs off, never sleeps past the deadline, and the error says what was running
    assert clock.sleeps == [0.25, 0.5, 1.0, 1.25]
    assert ontap.lines == ["DELETE /api/storage/volumes/f1"] + [f"GET {JOB_TARGET}"] * 5
    assert caught.value.details == {"job_uuid": JOB_UUID, "state": "running", "timeout_seconds": 3.0}
    assert caught.value.retryable is True


def test_wait_false_returns_the_job_reference_without_polling(
    ontap: ScriptedOntap, client: OntapClient
) -> None:
    # Given a job-returning endpoint
    ontap.add(job_accepted())

    # When the caller chooses not to wait
    reply = client.post("/api/storage/volumes", {"name": "vol1"}, wait=False)

    # Then the 202 body comes back and nothing is polled
    assert reply["job"]["uuid"] == JOB_UUID
    assert len(ontap.requests) == 1


# --- typed errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "message", "code"),
    [
        (401, OntapAuthError, "User is not authorized.", "6"),
        (403, OntapAuthError, "not authorized for that command", "6691623"),
        (404, OntapNotFoundError, 'Volume "vol9" not found.', "917927"),
        (500, OntapApiError, "Internal error. Failed to get the aggregate.", "262145"),
    ],
)
def test_error_status_maps_to_a_typed_error_carrying_ontaps_message_and_code(
    ontap: ScriptedOntap,
    client: OntapClient,
    status: int,
    error_type: type[OntapApiError],
    message: str,
    code: str,
) -> None:
    # Given ONTAP answers with its error body
    ontap.add(Reply.error(status, message, code, target="name"))

    # When a request is made
    with pytest.raises(OntapApiError) as caught:
        client.get("/api/storage/volumes/f1")

    # Then the exact type carries ONTAP's message, code and target, and nothing is retried
    assert type(caught.value) is error_type
    assert (caught.value.status, caught.value.ontap_message, caught.value.code) == (status, message, code)
    assert caught.value.target == "name"
    assert message in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert len(ontap.requests) == 1


def test_401_with_an_unchanged_secret_is_not_replayed(ontap: ScriptedOntap, clock: FakeClock) -> None:
    # Given credentials whose re-read gives the same password
    credentials = StaticCredentials()
    ontap.add(Reply.error(401, "User is not authorized.", "6"))

    # When ONTAP refuses them
    with pytest.raises(OntapAuthError):
        make_client(ontap, clock, credentials=credentials).get("/api/cluster")

    # Then the secret was re-read once but the same password was not sent again (lockout counters)
    assert credentials.refreshes == 1
    assert len(ontap.requests) == 1


@pytest.mark.parametrize(
    ("reply", "expected_message"),
    [
        (
            Reply(500, "<html><body>Internal Server Error</body></html>"),
            "<html><body>Internal Server Error</body></html>",
        ),
        (Reply(400, None), "Bad Request"),
        (Reply(404, {"unexpected": "shape"}), '{"unexpected": "shape"}'),
    ],
)
def test_error_body_that_is_not_ontaps_json_still_gives_a_typed_error(
    ontap: ScriptedOntap, client: OntapClient, reply: Reply, expected_message: str
) -> None:
    # Given an error answer without ONTAP's error object
    ontap.add(reply)

    # When a request is made, Then the error keeps the status and whatever text there was
    with pytest.raises(OntapApiError) as caught:
        client.get("/api/cluster")
    assert caught.value.status == reply.status
    assert caught.value.ontap_message == expected_message
    assert caught.value.code is None


# --- retries -----------------------------------------------------------------------------------


def test_503_then_success_is_retried_after_a_jittered_backoff(
    ontap: ScriptedOntap, client: OntapClient, clock: FakeClock
) -> None:
    # Given ONTAP is briefly unavailable
    ontap.add(Reply.error(503, "Service unavailable", "1"), Reply.ok({"name": "fsx-cluster"}))

    # When a request is made
    cluster = client.get("/api/cluster")

    # Then it succeeds after one sleep of rand (0.5) x base (0.5 s)
    assert cluster == {"name": "fsx-cluster"}
    assert clock.sleeps == [0.25]
    assert ontap.lines == ["GET /api/cluster", "GET /api/cluster"]


@pytest.mark.parametrize(
    ("retry_after", "expected_sleep"),
    [
        ("3", 3.0),
        ("120", 8.0),
        ("soon", 0.25),
        ("Wed, 21 Oct 2099 07:28:00 GMT", 8.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_is_honoured_but_capped(
    ontap: ScriptedOntap, client: OntapClient, clock: FakeClock, retry_after: str, expected_sleep: float
) -> None:
    # Given a 429 with a Retry-After header (even on a POST, which ONTAP did not process)
    ontap.add(
        Reply(429, {"error": {"message": "Too many requests", "code": "4"}}, {"Retry-After": retry_after})
    )
    ontap.add(Reply(201, {}))

    # When a POST is made
    client.post("/api/storage/volumes", {"name": "vol1"})

    # Then the wait follows Retry-After up to the 8 s cap (an unparsable value falls back to backoff)
    assert clock.sleeps == [expected_sleep]
    assert ontap.lines == ["POST /api/storage/volumes", "POST /api/storage/volumes"]


def test_connection_closed_without_response_then_success_is_retried(
    ontap: ScriptedOntap, client: OntapClient, clock: FakeClock
) -> None:
    # Given the first connection is closed before any response
    ontap.add(Reply.dropped(), Reply.ok({"name": "fsx-cluster"}))

    # When a GET is made
    cluster = client.get("/api/cluster")

    # Then it is sent again on a new connection and succeeds
    assert cluster == {"name": "fsx-cluster"}
    assert clock.sleeps == [0.25]
    assert len(ontap.requests) == 2
    assert ontap.requests[0].client_port != ontap.requests[1].client_port


def test_post_whose_connection_dropped_is_not_replayed(
    ontap: ScriptedOntap, client: OntapClient, clock: FakeClock
) -> None:
    # Given ONTAP received a POST but the connection broke before the answer
    ontap.add(Reply.dropped(), Reply(201, {}))

    # When the POST is made
    with pytest.raises(OntapUnavailableError) as caught:
        client.post("/api/storage/volumes", {"name": "vol1"})

    # Then it is not sent twice (it may have been executed): a retryable error after one attempt
    assert caught.value.details["attempts"] == 1
    assert caught.value.retryable is True
    assert clock.sleeps == []
    assert len(ontap.requests) == 1


def test_gives_up_after_the_retry_bound_with_the_number_of_attempts(
    ontap: ScriptedOntap, client: OntapClient, clock: FakeClock
) -> None:
    # Given ONTAP keeps answering 503 and 502/504 from a gateway
    ontap.add(*[Reply.error(status, "busy", "1") for status in (503, 502, 504, 503, 503, 200)])

    # When a request is made
    with pytest.raises(OntapUnavailableError) as caught:
        client.get("/api/cluster")

    # Then max_retries=4 means five attempts, with doubling jittered sleeps between them
    assert caught.value.details == {"method": "GET", "path": "/api/cluster", "attempts": 5, "status": 503}
    assert "after 5 attempt(s)" in str(caught.value)
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0]
    assert len(ontap.requests) == 5


def test_backoff_ceiling_doubles_up_to_the_cap(ontap: ScriptedOntap, clock: FakeClock) -> None:
    # Given a rand that always returns its maximum and more retries than the cap allows doubling
    ontap.responder = lambda _request: Reply.error(503, "busy", "1")
    client = make_client(ontap, clock, rand=lambda: 1.0, max_retries=6)

    # When the request finally gives up
    with pytest.raises(OntapUnavailableError):
        client.get("/api/cluster")

    # Then the sleeps are base x 2^n, capped at 8 s
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_is_verified_by_default_and_the_ca_bundle_makes_it_pass(
    tls_ontap: ScriptedOntap, clock: FakeClock
) -> None:
    # Given a TLS server whose certificate is signed by a private CA
    server = tls_ontap.server
    assert server is not None and server.ca_bundle is not None
    tls_ontap.add(Reply.ok({"name": "fsx-cluster"}))

    # When a client without that CA calls it, Then it fails loudly, is not retried, sends nothing
    with pytest.raises(InvalidInputError) as caught:
        OntapClient(server.endpoint, StaticCredentials(), sleep=clock.sleep).get("/api/cluster")
    assert caught.value.field == "ca_bundle"
    assert "did not verify" in str(caught.value)
    assert clock.sleeps == []
    assert tls_ontap.requests == []

    # When the client is given the CA bundle, Then the same call succeeds over verified TLS
    with OntapClient(server.endpoint, StaticCredentials(), ca_bundle=server.ca_bundle) as verified:
        assert verified.get("/api/cluster") == {"name": "fsx-cluster"}
    assert tls_ontap.lines == ["GET /api/cluster"]


def test_turning_tls_verification_off_is_explicit_and_logged(
    tls_ontap: ScriptedOntap, caplog: pytest.LogCaptureFixture
) -> None:
    # Given verification is switched off on purpose
    assert tls_ontap.server is not None
    tls_ontap.add(Reply.ok({"name": "fsx-cluster"}))
    with caplog.at_level(logging.WARNING, logger=powertools_logger.name):
        client = OntapClient(tls_ontap.server.endpoint, StaticCredentials(), verify_tls=False)

    # Then a warning says so, and requests go through (urllib3 warns on each of them too)
    assert "verification of the ONTAP endpoint is turned off" in caplog.text
    with pytest.warns(Warning, match="Unverified HTTPS request"):
        assert client.get("/api/cluster") == {"name": "fsx-cluster"}
    client.close()


# --- Secrets Manager credentials ---------------------------------------------------------------


def test_secret_is_read_once_for_many_calls(ontap: ScriptedOntap, clock: FakeClock, secrets: Secrets) -> None:
    # Given ONTAP accepts the password stored in Secrets Manager
    ontap.responder = accepting({"value": OLD_PASSWORD})
    credentials = SecretsManagerCredentials(SECRET_ID, client=secrets.client, clock=clock)
    client = make_client(ontap, clock, credentials=credentials)

    # When five calls are made
    for _ in range(5):
        client.get("/api/cluster")

    # Then the secret was read once and every request carried it
    assert secrets.reads == 1
    assert {request.basic_auth() for request in ontap.requests} == {("fsxadmin", OLD_PASSWORD)}


def test_rotated_password_is_re_read_once_on_401(
    ontap: ScriptedOntap, clock: FakeClock, secrets: Secrets
) -> None:
    # Given a warm client that cached the old password
    password = {"value": OLD_PASSWORD}
    ontap.responder = accepting(password)
    credentials = SecretsManagerCredentials(SECRET_ID, client=secrets.client, clock=clock)
    client = make_client(ontap, clock, credentials=credentials)
    client.get("/api/cluster")

    # When the password is rotated in Secrets Manager and on ONTAP
    secrets.rotate(NEW_PASSWORD)
    password["value"] = NEW_PASSWORD
    cluster = client.get("/api/cluster")

    # Then the 401 made the client re-read the secret once and replay with the new password
    assert cluster["name"] == "fsx-cluster"
    assert secrets.reads == 2
    assert [request.basic_auth()[1] for request in ontap.requests] == [
        OLD_PASSWORD,
        OLD_PASSWORD,
        NEW_PASSWORD,
    ]
    assert clock.sleeps == []


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the Powertools logger really writes (its JSON lines, extra keys included), at DEBUG.

    Its handler holds the stdout of import time, which capsys/capfd cannot see: swap the stream.
    """
    handlers = [
        h for h in logging.getLogger(powertools_logger.name).handlers if isinstance(h, logging.StreamHandler)
    ]
    assert handlers, "the Powertools logger has no stream handler"
    output = io.StringIO()
    previous = [handler.setStream(output) for handler in handlers]
    level = powertools_logger.log_level
    powertools_logger.setLevel(logging.DEBUG)
    try:
        yield output
    finally:
        powertools_logger.setLevel(level)
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def test_re_read_secret_still_refused_is_an_auth_error_without_leaking_it(
    ontap: ScriptedOntap,
    clock: FakeClock,
    secrets: Secrets,
    caplog: pytest.LogCaptureFixture,
    log_output: io.StringIO,
) -> None:
    # Given a client that cached the old password, and a rotation ONTAP did not take either
    ontap.responder = accepting({"value": "what-ONTAP-really-has"})
    credentials = SecretsManagerCredentials(SECRET_ID, client=secrets.client, clock=clock)
    client = make_client(ontap, clock, credentials=credentials)
    credentials.get()
    secrets.rotate(NEW_PASSWORD)

    # When a call is made with every log level captured
    with (
        caplog.at_level(logging.DEBUG, logger=powertools_logger.name),
        pytest.raises(OntapAuthError) as caught,
    ):
        client.get("/api/cluster")

    # Then it fails as an auth error after exactly one re-read and one replay
    assert caught.value.status == 401
    assert caught.value.ontap_message == "User is not authorized."
    assert secrets.reads == 2
    assert [request.basic_auth()[1] for request in ontap.requests] == [OLD_PASSWORD, NEW_PASSWORD]

    # And neither password nor Authorization header value appears in logs or in the error
    assert "retrying with the re-read secret" in log_output.getvalue(), (
        "the capture must see the client's logs"
    )
    surfaces = [
        log_output.getvalue(),
        caplog.text,
        *(repr(vars(record)) for record in caplog.records),
        str(caught.value),
        repr(caught.value),
        json.dumps(caught.value.to_record()),
        repr(credentials.get()),
    ]
    for password in (OLD_PASSWORD, NEW_PASSWORD):
        header_token = base64.b64encode(f"fsxadmin:{password}".encode()).decode()
        for surface in surfaces:
            assert password not in surface
            assert header_token not in surface


def test_secret_is_re_read_when_the_ttl_expires(
    ontap: ScriptedOntap, clock: FakeClock, secrets: Secrets
) -> None:
    # Given a 300 s cache
    ontap.responder = accepting({"value": OLD_PASSWORD})
    credentials = SecretsManagerCredentials(SECRET_ID, client=secrets.client, ttl_seconds=300.0, clock=clock)
    client = make_client(ontap, clock, credentials=credentials)
    client.get("/api/cluster")

    # When 299 s pass, Then the cache is still used
    clock.advance(299.0)
    client.get("/api/cluster")
    assert secrets.reads == 1

    # When the TTL is reached, Then the next call re-reads the secret
    clock.advance(1.0)
    client.get("/api/cluster")
    assert secrets.reads == 2


@pytest.mark.parametrize(
    ("secret", "field"),
    [
        ({"username": "fsxadmin"}, "password"),
        ({"password": OLD_PASSWORD}, "username"),
        ({"username": "fsxadmin", "password": ""}, "password"),
        (f"not json {OLD_PASSWORD}", "SecretString"),
        ([OLD_PASSWORD], "SecretString"),
    ],
)
def test_malformed_secret_names_the_problem_without_echoing_it(
    secrets: Secrets, secret: Any, field: str
) -> None:
    # Given a secret without the expected shape
    value = secret if isinstance(secret, str) else json.dumps(secret)
    secrets.client.put_secret_value(SecretId=SECRET_ID, SecretString=value)

    # When it is read, Then the error names the key and does not contain the secret
    with pytest.raises(InvalidInputError) as caught:
        SecretsManagerCredentials(SECRET_ID, client=secrets.client).get()
    assert caught.value.field == field
    assert OLD_PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None or OLD_PASSWORD not in repr(caught.value.__cause__)


def test_missing_secret_is_a_configuration_error(secrets: Secrets) -> None:
    # Given a secret id that does not exist, When it is read, Then the error names the setting
    with pytest.raises(InvalidInputError) as caught:
        SecretsManagerCredentials("no/such/secret", client=secrets.client).get()
    assert caught.value.field == "secret_id"
    assert "ResourceNotFoundException" in str(caught.value)


def test_secrets_manager_throttling_is_retryable_and_not_a_configuration_error() -> None:
    # Given Secrets Manager throttles the read (botocore Stubber: no AWS, exact operation)
    client = boto3.client("secretsmanager", region_name="ap-northeast-1")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_secret_value", service_error_code="ThrottlingException", http_status_code=400
        )

        # When the credentials are read, Then the error is the retryable ONTAP-unavailable one
        with pytest.raises(OntapUnavailableError) as caught:
            SecretsManagerCredentials(SECRET_ID, client=client).get()
    assert caught.value.details == {"secret_id": SECRET_ID, "error_code": "ThrottlingException"}


def test_credentials_repr_hides_the_password() -> None:
    credentials = OntapCredentials("fsxadmin", OLD_PASSWORD)
    assert OLD_PASSWORD not in repr(credentials) and OLD_PASSWORD not in str(credentials)


# --- settings ----------------------------------------------------------------------------------


def test_settings_from_env_and_from_settings_end_to_end_over_verified_tls(
    tls_ontap: ScriptedOntap, secrets: Secrets
) -> None:
    # Given a handler's environment pointing at the cluster, the secret and the CA
    server = tls_ontap.server
    assert server is not None and server.ca_bundle is not None
    tls_ontap.responder = accepting({"value": OLD_PASSWORD})
    settings = OntapSettings.from_env(
        {
            "ONTAP_MANAGEMENT_ENDPOINT": server.endpoint,
            "ONTAP_SECRET_ID": SECRET_ID,
            "ONTAP_CA_BUNDLE": server.ca_bundle,
            "ONTAP_TIMEOUT_SECONDS": "12.5",
        }
    )
    assert settings == OntapSettings(server.endpoint, SECRET_ID, True, server.ca_bundle, 12.5)

    # When the production wiring is used, Then it authenticates with the secret over verified TLS
    with OntapClient.from_settings(settings, secrets_client=secrets.client) as client:
        assert client.get("/api/cluster")["name"] == "fsx-cluster"
    assert tls_ontap.requests[0].basic_auth() == ("fsxadmin", OLD_PASSWORD)
    assert secrets.reads == 1


def test_settings_defaults_and_explicit_tls_off() -> None:
    base = {
        "ONTAP_MANAGEMENT_ENDPOINT": "management.fs-0123.fsx.ap-northeast-1.amazonaws.com",
        "ONTAP_SECRET_ID": "s",
    }
    assert OntapSettings.from_env(base) == OntapSettings(
        base["ONTAP_MANAGEMENT_ENDPOINT"], "s", True, None, 30.0
    )
    assert OntapSettings.from_env({**base, "ONTAP_VERIFY_TLS": "FALSE"}).verify_tls is False


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"ONTAP_MANAGEMENT_ENDPOINT": ""}, "ONTAP_MANAGEMENT_ENDPOINT"),
        ({"ONTAP_MANAGEMENT_ENDPOINT": "ftp://cluster"}, "ONTAP_MANAGEMENT_ENDPOINT"),
        ({"ONTAP_MANAGEMENT_ENDPOINT": "https://cluster/api"}, "ONTAP_MANAGEMENT_ENDPOINT"),
        ({"ONTAP_MANAGEMENT_ENDPOINT": "https://admin:pw@cluster"}, "ONTAP_MANAGEMENT_ENDPOINT"),
        ({"ONTAP_MANAGEMENT_ENDPOINT": "cluster:99999"}, "ONTAP_MANAGEMENT_ENDPOINT"),
        ({"ONTAP_SECRET_ID": " "}, "ONTAP_SECRET_ID"),
        ({"ONTAP_VERIFY_TLS": "no"}, "ONTAP_VERIFY_TLS"),
        ({"ONTAP_CA_BUNDLE": "/nonexistent/ca.pem"}, "ONTAP_CA_BUNDLE"),
        ({"ONTAP_TIMEOUT_SECONDS": "soon"}, "ONTAP_TIMEOUT_SECONDS"),
        ({"ONTAP_TIMEOUT_SECONDS": "0"}, "ONTAP_TIMEOUT_SECONDS"),
        ({"ONTAP_TIMEOUT_SECONDS": "nan"}, "ONTAP_TIMEOUT_SECONDS"),
    ],
)
def test_invalid_settings_name_the_variable(override: dict[str, str], field: str) -> None:
    environ = {"ONTAP_MANAGEMENT_ENDPOINT": "10.0.0.5", "ONTAP_SECRET_ID": "s", **override}
    with pytest.raises(InvalidInputError) as caught:
        OntapSettings.from_env(environ)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_base": -0.5}, "backoff_base"),
        ({"maxsize": 0}, "maxsize"),
    ],
)
def test_invalid_client_options_are_rejected_at_construction(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        OntapClient("cluster.example", StaticCredentials(), **options)
    assert caught.value.field == field


def test_request_path_must_be_an_absolute_api_path(client: OntapClient, ontap: ScriptedOntap) -> None:
    with pytest.raises(InvalidInputError) as caught:
        client.get("api/cluster")
    assert caught.value.field == "path"
    assert ontap.requests == []


# --- path encoding -----------------------------------------------------------------------------


def test_file_path_is_one_percent_encoded_segment_on_the_wire(
    ontap: ScriptedOntap, client: OntapClient
) -> None:
    # Given a file whose path has Japanese, spaces, '#', '%' and '?'
    ontap.add(Reply.ok({"path": "/legal/契約書 2024.docx"}), Reply.ok({}))

    # When its permissions and a tricky name are requested
    client.get(api_path("protocols", "file-security", "permissions", SVM_UUID, "/legal/契約書 2024.docx"))
    client.get(api_path("storage", "volumes", "f1", "files", "Q1 #1 100%?.txt"))

    # Then the server received UTF-8 percent-encoding, slashes inside the file path as %2F
    assert ontap.lines == [
        f"GET /api/protocols/file-security/permissions/{SVM_UUID}/"
        "%2Flegal%2F%E5%A5%91%E7%B4%84%E6%9B%B8%202024.docx",
        "GET /api/storage/volumes/f1/files/Q1%20%231%20100%25%3F.txt",
    ]


@pytest.mark.parametrize(
    "segment",
    [
        "..",
        ".",
        "",
        "/legal/../etc/passwd",
        "..\\windows",
        "a\x00b",
        "line\nbreak",
        "tab\there",
        "del\x7f",
        "\x1f",
    ],
)
def test_traversal_and_control_characters_are_rejected_naming_the_field(segment: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        api_path("protocols", "file-security", "permissions", SVM_UUID, segment, field="file_path")
    assert caught.value.field == "file_path"


def test_names_that_merely_contain_dots_are_allowed() -> None:
    assert api_path("storage", "volumes", "f1", "files", "a..b/.hidden/v1.2") == (
        "/api/storage/volumes/f1/files/a..b%2F.hidden%2Fv1.2"
    )
