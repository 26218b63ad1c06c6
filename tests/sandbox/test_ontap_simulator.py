"""The ONTAP REST simulator: NetApp's own SDK reads and writes it, and raw HTTP checks the details.

The SDK half is the compatibility proof: ``netapp-ontap`` loads every record through its
marshmallow schemas (enum values, sizes, timestamps are validated), follows ``_links.next`` and
polls jobs exactly as it does against a real cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from netapp_ontap import HostConnection
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import (
    CifsShare,
    Cluster,
    ClusterPeer,
    ExportPolicy,
    FileDirectorySecurity,
    Flexcache,
    FlexcacheOrigin,
    Job,
    Snapshot,
    Svm,
    Volume,
)

from sandbox.ontap import (
    FULL_CONTROL_RIGHTS,
    ExportRule,
    FileAce,
    FlexCacheRelationship,
    OntapSimulator,
    ShareAcl,
    SimulatorEndpoint,
)
from sandbox.ontap import Volume as SimVolume

pytestmark = pytest.mark.network

PASSWORD = "Initial-Passw0rd"
ODD_PATHS = [
    "/legal/contracts 2026/nda final.docx",
    "/法務/契約書/ü-ß.pdf",
    "/tags/#urgent/a#b",
    "/pct/100%/50%25 done",
    "/plus/a+b c",
]


@pytest.fixture
def sim() -> OntapSimulator:
    """A small FSx for ONTAP: one SVM, NTFS and UNIX volumes, shares, a policy, a cache, a peer."""
    sim = OntapSimulator(cluster_name="FsxId0aa1bb2cc3dd4ee5f", password=PASSWORD)
    svm = sim.add_svm("svm_legal")
    sim.add_volume("legal_ntfs", svm=svm, junction_path="/legal", security_style="ntfs", size=500 * 1024**3)
    sim.add_volume("eda_unix", svm=svm, junction_path="/eda", security_style="unix")
    sim.add_volume("av_mixed", svm=svm, junction_path="/av", security_style="mixed", state="offline")
    sim.add_volume("legal_dp", svm=svm, type="dp")
    sim.add_volume("scratch", svm=svm, style="flexgroup", junction_path="/scratch")
    sim.add_cifs_share(
        "legal share",
        svm=svm,
        path="/legal/contracts",
        acls=[ShareAcl("CORP\\legal-team", "change"), ShareAcl("root", "no_access", "unix_user", "0")],
    )
    sim.add_cifs_share("eda$", svm=svm, path="/eda")
    sim.add_export_policy(
        "eda_clients",
        svm=svm,
        rules=[ExportRule(["10.0.0.0/16"], rw_rule=["sys"], ro_rule=["sys"], superuser=["none"])],
    )
    for path in ODD_PATHS:
        sim.set_file_security(
            svm,
            path,
            owner="BUILTIN\\Administrators",
            group="BUILTIN\\Users",
            security_style="ntfs",
            effective_style="ntfs",
            mode_bits=777,
            text_mode_bits="rwxrwxrwx",
            acls=[
                FileAce("CORP\\legal-team", advanced_rights=FULL_CONTROL_RIGHTS),
                FileAce("Everyone", "access_deny", rights="write", inherited=True),
            ],
        )
    peer = sim.add_cluster_peer("onprem-a700", remote_ip_addresses=["10.10.1.11", "10.10.1.12"])
    sim.add_flexcache(
        "legal_cache",
        svm=svm,
        path="/legal_cache",
        origins=[
            FlexCacheRelationship(
                "legal_origin", "svm_onprem", peer.cluster_name, ip_address="10.10.1.11", size=1024**4
            )
        ],
        dr_cache=True,
    )
    sim.add_flexcache_origin(
        _volume(sim, "legal_ntfs"),
        flexcaches=[FlexCacheRelationship("legal_dr_cache", "svm_dr", "dr-cluster")],
    )
    return sim


@pytest.fixture
def endpoint(sim: OntapSimulator) -> Iterator[SimulatorEndpoint]:
    with sim.running() as running:
        yield running


@pytest.fixture
def http(endpoint: SimulatorEndpoint) -> Iterator[requests.Session]:
    with _session(endpoint) as session:
        yield session


def _session(endpoint: SimulatorEndpoint, password: str | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=; proxies must not apply
    session.auth = (endpoint.username, password if password is not None else endpoint.password)
    session.verify = endpoint.ca_bundle or True
    return session


def _url(endpoint: SimulatorEndpoint, path: str) -> str:
    return endpoint.base_url + path


def _volume(sim: OntapSimulator, name: str) -> SimVolume:
    return next(v for v in sim.volumes if v.name == name)


# --- netapp-ontap SDK compatibility ----------------------------------------------------------------


@pytest.fixture
def sdk(sim: OntapSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostConnection]:
    """The SDK over TLS, verifying the simulator's certificate against its generated CA."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would win over verify=<ca path>
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with sim.running(tls=True) as running:
        assert running.ca_bundle is not None
        connection = HostConnection(
            running.host,
            port=running.port,
            username=running.username,
            password=running.password,
            verify=running.ca_bundle,  # type: ignore[arg-type]  # requests accepts a CA path
            poll_interval=0.01,  # type: ignore[arg-type]
            poll_timeout=10,
        )
        with connection:
            yield connection


def test_sdk_reads_the_cluster_and_svms(sim: OntapSimulator, sdk: HostConnection) -> None:
    cluster = Cluster()
    cluster.get()
    svms = list(Svm.get_collection(fields="state,subtype"))

    assert (cluster.name, cluster.uuid) == (sim.cluster.name, sim.cluster.uuid)
    assert (cluster.version.generation, cluster.version.major) == (9, 15)
    assert [(s.name, s.uuid, s.state) for s in svms] == [(s.name, s.uuid, s.state) for s in sim.svms]


def test_sdk_pages_through_volumes_with_fields(sim: OntapSimulator, sdk: HostConnection) -> None:
    fields = "name,svm.name,nas.path,nas.security_style,style,state,type,size"
    volumes = {v.uuid: v for v in Volume.get_collection(fields=fields, max_records=2)}

    assert set(volumes) == {v.uuid for v in sim.volumes}
    for expected in sim.volumes:
        got = volumes[expected.uuid]
        assert (got.name, got.svm.name, got.style, got.state, got.type, got.size) == (
            expected.name,
            expected.svm.name,
            expected.style,
            expected.state,
            expected.type,
            expected.size,
        )
        assert got.nas.security_style == expected.security_style
        assert getattr(got.nas, "path", None) == expected.junction_path
    pages = [r for r in sim.requests if r.path == "/api/storage/volumes"]
    assert len(pages) == 3 and all("start.key=" in r.query for r in pages[1:])


def test_sdk_reads_one_volume_by_uuid(sim: OntapSimulator, sdk: HostConnection) -> None:
    expected = _volume(sim, "legal_ntfs")
    volume = Volume(uuid=expected.uuid)
    volume.get()

    assert (volume.name, volume.nas.path, volume.svm.uuid) == ("legal_ntfs", "/legal", expected.svm.uuid)


def test_sdk_reads_cifs_shares_with_acls(sim: OntapSimulator, sdk: HostConnection) -> None:
    shares = {s.name: s for s in CifsShare.get_collection(fields="*")}
    single = CifsShare(svm={"uuid": sim.svms[0].uuid}, name="legal share")
    single.get()

    assert set(shares) == {"legal share", "eda$"}
    legal = shares["legal share"]
    assert [(a.user_or_group, a.type, a.permission) for a in legal.acls] == [
        ("CORP\\legal-team", "windows", "change"),
        ("root", "unix_user", "no_access"),
    ]
    assert (legal.path, legal.volume.name) == ("/legal/contracts", "legal_ntfs")
    assert [(a.user_or_group, a.permission) for a in shares["eda$"].acls] == [("Everyone", "full_control")]
    assert single.path == "/legal/contracts"


def test_sdk_reads_flexcaches_origins_and_peers(sim: OntapSimulator, sdk: HostConnection) -> None:
    caches = list(Flexcache.get_collection(fields="*"))
    origins = list(FlexcacheOrigin.get_collection(fields="*"))
    peers = list(ClusterPeer.get_collection(fields="*"))

    assert [(c.name, c.path, c.dr_cache, c.guarantee.type) for c in caches] == [
        ("legal_cache", "/legal_cache", True, "none")
    ]
    origin = caches[0].origins[0]
    assert (origin.volume.name, origin.cluster.name, origin.state, origin.ip_address) == (
        "legal_origin",
        "onprem-a700",
        "online",
        "10.10.1.11",
    )
    assert [(o.name, o.flexcaches[0].volume.name) for o in origins] == [("legal_ntfs", "legal_dr_cache")]
    assert [(p.name, p.status.state, p.remote.ip_addresses) for p in peers] == [
        ("onprem-a700", "available", ["10.10.1.11", "10.10.1.12"])
    ]


def test_sdk_reads_export_policies_with_rules(sim: OntapSimulator, sdk: HostConnection) -> None:
    policies = list(ExportPolicy.get_collection(fields="rules,svm.name"))

    assert [p.name for p in policies] == ["eda_clients"]
    rule = policies[0].rules[0]
    assert ([c.match for c in rule.clients], rule.rw_rule, rule.superuser, rule.index) == (
        ["10.0.0.0/16"],
        ["sys"],
        ["none"],
        1,
    )


@pytest.mark.parametrize("path", ODD_PATHS)
def test_sdk_reads_file_security_of_odd_paths(sim: OntapSimulator, sdk: HostConnection, path: str) -> None:
    security = FileDirectorySecurity(sim.svms[0].uuid, path)
    security.get()

    assert (security.owner, security.group, security.effective_style, security.mode_bits) == (
        "BUILTIN\\Administrators",
        "BUILTIN\\Users",
        "ntfs",
        777,
    )
    assert [(a.user, a.access) for a in security.acls] == [
        ("CORP\\legal-team", "access_allow"),
        ("Everyone", "access_deny"),
    ]
    assert security.acls[0].advanced_rights.full_control is True
    assert (security.acls[1].rights, security.acls[1].inherited) == ("write", True)


def test_sdk_creates_a_snapshot_through_a_polled_job(sim: OntapSimulator, sdk: HostConnection) -> None:
    volume = _volume(sim, "legal_ntfs")
    snapshot = Snapshot(volume.uuid, name="before-review")
    snapshot.post(hydrate=True)

    assert [s.name for s in volume.snapshots] == ["before-review"]
    assert snapshot.uuid == volume.snapshots[0].uuid
    job_polls = [r for r in sim.requests if r.path.startswith("/api/cluster/jobs/")]
    assert len(job_polls) >= 3  # queued, running, success
    assert [j.state for j in sim.jobs] == ["success"]


def test_sdk_creates_a_flexclone(sim: OntapSimulator, sdk: HostConnection) -> None:
    parent = _volume(sim, "legal_ntfs")
    sim.add_snapshot(parent, "base")
    clone = Volume(
        name="legal_clone",
        svm={"name": "svm_legal"},
        clone={
            "parent_volume": {"name": parent.name},
            "parent_snapshot": {"name": "base"},
            "is_flexclone": True,
        },
        nas={"path": "/legal_clone"},
    )
    clone.post(hydrate=True)

    created = next(v for v in sim.volumes if v.name == "legal_clone")
    assert clone.uuid == created.uuid
    assert (clone.clone.is_flexclone, clone.clone.parent_volume.name, clone.clone.parent_snapshot.name) == (
        True,
        parent.name,
        "base",
    )
    assert (created.security_style, created.size, created.junction_path) == (
        "ntfs",
        parent.size,
        "/legal_clone",
    )


def test_sdk_creates_a_cifs_share(sim: OntapSimulator, sdk: HostConnection) -> None:
    share = CifsShare(name="eda results", path="/eda/results", svm={"name": "svm_legal"})
    share.post()

    created = next(s for s in sim.cifs_shares if s.name == "eda results")
    assert share.svm.uuid == sim.svms[0].uuid
    assert created.volume is not None and created.volume.name == "eda_unix"
    assert [(a.user_or_group, a.permission) for a in created.acls] == [("Everyone", "full_control")]


def test_sdk_reads_jobs(sim: OntapSimulator, sdk: HostConnection) -> None:
    Snapshot(_volume(sim, "eda_unix").uuid, name="s1").post()
    jobs = list(Job.get_collection(fields="*"))
    job = Job(uuid=jobs[0].uuid)
    job.get()

    assert (job.state, job.message, job.code) == ("success", "success", 0)
    assert job.description == f"POST /api/storage/volumes/{_volume(sim, 'eda_unix').uuid}/snapshots/?name=s1"
    assert job.start_time is not None and job.end_time is not None


def test_sdk_raises_when_a_job_fails(sim: OntapSimulator, sdk: HostConnection) -> None:
    sim.faults.fail_jobs(message="Volume is offline.", code=917505)

    with pytest.raises(NetAppRestError, match="Volume is offline"):
        Snapshot(_volume(sim, "legal_ntfs").uuid, name="doomed").post()
    assert _volume(sim, "legal_ntfs").snapshots == []


# --- collections: paging, fields, filters ----------------------------------------------------------


def _get(http: requests.Session, endpoint: SimulatorEndpoint, path: str, **params: Any) -> Any:
    response = http.get(_url(endpoint, path), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _pages(http: requests.Session, endpoint: SimulatorEndpoint, path: str, **params: Any) -> list[Any]:
    """Every page of a collection, following ``_links.next`` as a client does."""
    pages = [_get(http, endpoint, path, **params)]
    while "next" in pages[-1]["_links"]:
        pages.append(_get(http, endpoint, pages[-1]["_links"]["next"]["href"]))
        assert len(pages) < 20
    return pages


def test_next_links_chain_through_every_record(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    for index in range(6):
        sim.add_volume(f"bulk{index}", svm=sim.svms[0])

    pages = _pages(http, endpoint, "/api/storage/volumes", max_records=4, fields="size")

    assert [page["num_records"] for page in pages] == [4, 4, 3]
    records = [record for page in pages for record in page["records"]]
    assert all(set(r) == {"uuid", "name", "size", "_links"} for r in records)
    assert sorted(r["uuid"] for r in records) == sorted(v.uuid for v in sim.volumes)


def test_paging_survives_records_added_between_pages(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    first = _get(http, endpoint, "/api/storage/volumes", max_records=2, order_by="name")
    sim.add_volume("zz_late", svm=sim.svms[0])
    sim.add_volume("a_early", svm=sim.svms[0])  # sorts before the cursor: not this listing's business
    rest = _pages(http, endpoint, first["_links"]["next"]["href"])

    names = [r["name"] for page in [first, *rest] for r in page["records"]]
    assert names == sorted(v.name for v in sim.volumes if v.name != "a_early")


def test_return_records_false_counts_only(endpoint: SimulatorEndpoint, http: requests.Session) -> None:
    body = _get(http, endpoint, "/api/storage/volumes", return_records="false", state="online")

    assert body == {"num_records": 4, "_links": {"self": {"href": body["_links"]["self"]["href"]}}}


def test_fields_absent_returns_identity_only(endpoint: SimulatorEndpoint, http: requests.Session) -> None:
    volumes = _get(http, endpoint, "/api/storage/volumes")["records"]
    shares = _get(http, endpoint, "/api/protocols/cifs/shares")["records"]

    assert all(set(v) == {"uuid", "name", "_links"} for v in volumes)
    assert all(set(s) == {"svm", "name", "_links"} and set(s["svm"]) == {"uuid", "name"} for s in shares)


@pytest.mark.parametrize("star", ["*", "**"])
def test_fields_star_returns_everything(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session, star: str
) -> None:
    records = _get(http, endpoint, "/api/storage/volumes", fields=star)["records"]

    assert sorted(records, key=lambda r: r["uuid"]) == sorted(
        (v.record() for v in sim.volumes), key=lambda r: r["uuid"]
    )


def test_dotted_fields_keep_their_nesting(endpoint: SimulatorEndpoint, http: requests.Session) -> None:
    records = _get(http, endpoint, "/api/protocols/cifs/shares", fields="acls.permission,volume.name")[
        "records"
    ]
    legal = next(r for r in records if r["name"] == "legal share")

    assert legal["acls"] == [{"permission": "change"}, {"permission": "no_access"}]
    assert legal["volume"] == {"name": "legal_ntfs"}


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/api/storage/volumes", {"name": "legal*"}, {"legal_ntfs", "legal_dp"}),
        ("/api/storage/volumes", {"state": "offline|restricted"}, {"av_mixed"}),
        ("/api/storage/volumes", {"state": "!online"}, {"av_mixed"}),
        ("/api/storage/volumes", {"svm.name": "svm_legal", "type": "dp"}, {"legal_dp"}),
        ("/api/storage/volumes", {"nas.security_style": "ntfs|mixed"}, {"legal_ntfs", "av_mixed"}),
        ("/api/storage/volumes", {"size": ">200000000000"}, {"legal_ntfs"}),
        ("/api/storage/volumes", {"nas.path": "null"}, {"legal_dp"}),
        ("/api/storage/volumes", {"style": "flexgroup"}, {"scratch"}),
        ("/api/storage/volumes", {"svm.name": "nope"}, set()),
        ("/api/protocols/cifs/shares", {"acls.user_or_group": "Everyone"}, {"eda$"}),
        ("/api/protocols/cifs/shares", {"name": "legal share"}, {"legal share"}),
    ],
)
def test_filters(
    endpoint: SimulatorEndpoint, http: requests.Session, path: str, params: dict[str, str], expected: set[str]
) -> None:
    records = _get(http, endpoint, path, **params)["records"]

    assert {r["name"] for r in records} == expected


def test_filtered_fields_are_returned(endpoint: SimulatorEndpoint, http: requests.Session) -> None:
    records = _get(http, endpoint, "/api/cluster/peers", **{"status.state": "!unavailable"})["records"]

    assert [r["status"] for r in records] == [{"state": "available"}]


# --- errors and authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/api/storage/volumes/00000000-0000-0000-0000-000000000000", "uuid"),
        ("/api/storage/flexcache/flexcaches/missing", "uuid"),
        ("/api/cluster/jobs/missing", "uuid"),
        ("/api/storage/volumes/missing/snapshots", "volume.uuid"),
        ("/api/protocols/file-security/permissions/missing/%2Fa", "svm.uuid"),
    ],
)
def test_unknown_keys_answer_ontaps_404(
    endpoint: SimulatorEndpoint, http: requests.Session, path: str, target: str
) -> None:
    response = http.get(_url(endpoint, path))

    assert response.status_code == 404
    assert response.json() == {"error": {"message": "entry doesn't exist", "code": "4", "target": target}}
    assert response.headers["Content-Type"] == "application/hal+json"


def test_unknown_endpoint_and_method(endpoint: SimulatorEndpoint, http: requests.Session) -> None:
    assert http.get(_url(endpoint, "/api/storage/luns")).status_code == 404
    wrong_method = http.delete(_url(endpoint, "/api/storage/volumes"))
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()["error"]) == {"message", "code"}


def test_wrong_or_missing_credentials_get_401(endpoint: SimulatorEndpoint) -> None:
    with _session(endpoint, password="wrong") as wrong, _session(endpoint) as anonymous_session:
        response = wrong.get(_url(endpoint, "/api/cluster"))
        anonymous_session.auth = None
        anonymous = anonymous_session.get(_url(endpoint, "/api/cluster"))

    assert response.status_code == anonymous.status_code == 401
    assert set(response.json()["error"]) == {"message", "code"}
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_password_rotation_takes_effect_at_once(sim: OntapSimulator, endpoint: SimulatorEndpoint) -> None:
    sim.set_password("Rotated-Passw0rd")

    with _session(endpoint) as old, _session(endpoint, password="Rotated-Passw0rd") as new:
        assert old.get(_url(endpoint, "/api/cluster")).status_code == 401
        assert new.get(_url(endpoint, "/api/cluster")).status_code == 200
    assert sim.requests[-1].user == sim.username


def test_bad_query_values_answer_400(endpoint: SimulatorEndpoint, http: requests.Session) -> None:
    response = http.get(_url(endpoint, "/api/storage/volumes"), params={"max_records": "0"})

    assert response.status_code == 400
    assert response.json()["error"]["target"] == "max_records"


# --- file security paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ODD_PATHS)
@pytest.mark.parametrize("slashes", ["encoded", "raw"])
def test_file_security_paths_are_decoded_exactly_once(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session, path: str, slashes: str
) -> None:
    segment = quote(path, safe="") if slashes == "encoded" else quote(path.lstrip("/"), safe="/")
    body = _get(http, endpoint, f"/api/protocols/file-security/permissions/{sim.svms[0].uuid}/{segment}")

    assert body["path"] == path
    assert body["svm"] == {"uuid": sim.svms[0].uuid, "name": "svm_legal"}
    assert body["acls"][0]["advanced_rights"] == FULL_CONTROL_RIGHTS


def test_file_security_does_not_decode_twice(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    # Encoded twice, the path decodes once to "%2Flegal%2F…", which is no file: a server that
    # decoded twice would find "/legal/contracts 2026/nda final.docx".
    twice = quote(quote(ODD_PATHS[0], safe=""), safe="")
    response = http.get(
        _url(endpoint, f"/api/protocols/file-security/permissions/{sim.svms[0].uuid}/{twice}")
    )

    assert response.status_code == 404
    assert response.json()["error"]["target"] == "path"


def test_file_security_fields_narrow_the_answer(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    path = quote(ODD_PATHS[0], safe="")
    body = _get(
        http, endpoint, f"/api/protocols/file-security/permissions/{sim.svms[0].uuid}/{path}", fields="owner"
    )

    assert body == {
        "svm": {"uuid": sim.svms[0].uuid, "name": "svm_legal"},
        "path": ODD_PATHS[0],
        "owner": "BUILTIN\\Administrators",
    }


# --- jobs ------------------------------------------------------------------------------------------


def _post(
    http: requests.Session, endpoint: SimulatorEndpoint, path: str, body: dict[str, Any], **params: Any
) -> requests.Response:
    return http.post(_url(endpoint, path), json=body, params=params)


def _poll_states(http: requests.Session, endpoint: SimulatorEndpoint, href: str) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = []
    while not states or states[-1]["state"] not in ("success", "failure"):
        states.append(_get(http, endpoint, href))
        assert len(states) < 10
    return states


def test_snapshot_job_goes_queued_running_success(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    volume = _volume(sim, "eda_unix")
    response = _post(http, endpoint, f"/api/storage/volumes/{volume.uuid}/snapshots", {"name": "nightly"})

    assert response.status_code == 202
    assert response.headers["Location"] == f"/api/storage/volumes/{volume.uuid}/snapshots/?name=nightly"
    job = response.json()["job"]
    assert job["_links"]["self"]["href"] == f"/api/cluster/jobs/{job['uuid']}"
    assert volume.snapshots == []  # not before the job has run
    states = _poll_states(http, endpoint, job["_links"]["self"]["href"])
    assert [s["state"] for s in states] == ["queued", "running", "success"]
    assert "start_time" not in states[0] and "start_time" in states[1] and "end_time" in states[2]
    assert (states[2]["message"], states[2]["code"]) == ("success", 0)
    listed = _get(http, endpoint, f"/api/storage/volumes/{volume.uuid}/snapshots", name="nightly")["records"]
    assert [r["uuid"] for r in listed] == [volume.snapshots[0].uuid]


def test_duplicate_snapshot_fails_in_the_job(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    volume = _volume(sim, "eda_unix")
    sim.add_snapshot(volume, "nightly")
    response = _post(http, endpoint, f"/api/storage/volumes/{volume.uuid}/snapshots", {"name": "nightly"})
    final = _poll_states(http, endpoint, response.json()["job"]["_links"]["self"]["href"])[-1]

    assert final["state"] == "failure"
    assert final["error"] == {"message": "duplicate entry", "code": "1"} and final["code"] == 1
    assert len(volume.snapshots) == 1


def test_injected_job_failure_and_job_timing(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.job_polls, sim.job_seconds = 0, 0.2
    sim.faults.fail_jobs(message="Aggregate is full.", code=917810)
    body = {"name": "clone1", "svm": {"name": "svm_legal"}, "clone": {"parent_volume": {"name": "eda_unix"}}}
    href = _post(http, endpoint, "/api/storage/volumes", body).json()["job"]["_links"]["self"]["href"]

    early = _get(http, endpoint, href)
    time.sleep(0.25)
    final = _get(http, endpoint, href)

    assert early["state"] == "running"
    assert (final["state"], final["message"], final["code"]) == ("failure", "Aggregate is full.", 917810)
    assert "clone1" not in [v.name for v in sim.volumes]


def test_return_timeout_completes_the_job_before_answering(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    body = {"name": "vol_new", "svm.name": "svm_legal", "size": "20GB", "nas.path": "/vol_new"}
    response = _post(http, endpoint, "/api/storage/volumes", body, return_timeout=15)
    duplicate = _post(http, endpoint, "/api/storage/volumes", body, return_timeout=15)

    assert (
        response.status_code == 201 and response.headers["Location"] == "/api/storage/volumes/?name=vol_new"
    )
    created = next(v for v in sim.volumes if v.name == "vol_new")
    assert (created.size, created.junction_path) == (20 * 1024**3, "/vol_new")
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "1"


def test_post_validation_errors(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    missing = _post(http, endpoint, f"/api/storage/volumes/{_volume(sim, 'legal_ntfs').uuid}/snapshots", {})
    unknown_parent = _post(
        http,
        endpoint,
        "/api/storage/volumes",
        {"name": "c", "svm": {"name": "svm_legal"}, "clone": {"parent_volume": {"name": "ghost"}}},
    )

    assert missing.status_code == 400
    assert missing.json() == {
        "error": {"message": '"name" is a required field', "code": "2", "target": "name"}
    }
    assert unknown_parent.status_code == 404
    assert unknown_parent.json()["error"]["target"] == "clone.parent_volume.name"


def test_cifs_share_creation_is_synchronous(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    body = {
        "name": "av data",
        "path": "/av/data",
        "svm": {"uuid": sim.svms[0].uuid},
        "acls": [{"user_or_group": "CORP\\av", "permission": "read"}],
    }
    created = _post(http, endpoint, "/api/protocols/cifs/shares", body, return_records="true")
    again = _post(http, endpoint, "/api/protocols/cifs/shares", body)

    assert created.status_code == 201
    assert created.headers["Location"] == f"/api/protocols/cifs/shares/{sim.svms[0].uuid}/av%20data"
    assert created.json()["records"][0]["acls"] == [
        {"user_or_group": "CORP\\av", "type": "windows", "permission": "read"}
    ]
    assert again.status_code == 409
    fetched = _get(http, endpoint, created.headers["Location"])
    assert (fetched["volume"]["name"], fetched["path"]) == ("av_mixed", "/av/data")


# --- fault injection -------------------------------------------------------------------------------


def test_status_fault_for_n_requests_then_success(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.faults.add(method="GET", path="/api/storage/volumes", status=503, times=2, retry_after=1)

    statuses = [http.get(_url(endpoint, "/api/storage/volumes")) for _ in range(3)]
    other = http.get(_url(endpoint, "/api/svm/svms"))

    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["Retry-After"] == "1"
    assert statuses[0].json() == {"error": {"message": "Service Unavailable", "code": "503"}}
    assert other.status_code == 200


def test_throttling_fault_always(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.faults.add(
        path="/api/protocols/.*", status=429, retry_after=3, message="Too many requests.", code="7"
    )

    responses = [http.get(_url(endpoint, "/api/protocols/cifs/shares")) for _ in range(3)]

    assert {r.status_code for r in responses} == {429}
    assert responses[0].json()["error"] == {"message": "Too many requests.", "code": "7"}


def test_reset_fault_closes_without_a_response(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.faults.add(path="/api/cluster", reset=True, times=1)

    with pytest.raises(requests.ConnectionError):
        http.get(_url(endpoint, "/api/cluster"))
    assert http.get(_url(endpoint, "/api/cluster")).status_code == 200
    assert [r.status for r in sim.requests] == [None, 200]


def test_latency_fault_delays_the_answer(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.faults.add(path="/api/svm/svms", latency=0.3)

    started = time.monotonic()
    slow = http.get(_url(endpoint, "/api/svm/svms"))
    slow_elapsed = time.monotonic() - started
    started = time.monotonic()
    http.get(_url(endpoint, "/api/cluster"))
    fast_elapsed = time.monotonic() - started

    assert slow.status_code == 200 and slow_elapsed >= 0.3 > fast_elapsed


def test_node_down_resets_every_endpoint_until_it_is_back(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.faults.node_down()
    for path in ("/api/cluster", "/api/storage/volumes", "/api/cluster/jobs"):
        with pytest.raises(requests.ConnectionError):
            http.get(_url(endpoint, path))
    sim.faults.node_up()

    assert http.get(_url(endpoint, "/api/cluster")).status_code == 200


def test_node_down_for_a_failover_window(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.faults.node_down(requests=2)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(http.get(_url(endpoint, "/api/cluster")).status_code)
        except requests.ConnectionError:
            outcomes.append(None)

    assert outcomes == [None, None, 200]


def test_cluster_peer_down_takes_its_flexcache_origins_offline(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    sim.cluster_peer_down("onprem-a700")
    peers = _get(http, endpoint, "/api/cluster/peers", fields="status")["records"]
    caches = _get(http, endpoint, "/api/storage/flexcache/flexcaches", fields="origins.state")["records"]
    sim.cluster_peer_up("onprem-a700")
    back = _get(http, endpoint, "/api/storage/flexcache/flexcaches", fields="origins.state")["records"]

    assert peers[0]["status"]["state"] == "unavailable"
    assert caches[0]["origins"] == [{"state": "offline"}]
    assert back[0]["origins"] == [{"state": "online"}]


def test_keep_alive_reuses_one_connection(
    sim: OntapSimulator, endpoint: SimulatorEndpoint, http: requests.Session
) -> None:
    for path in ("/api/cluster", "/api/svm/svms", "/api/storage/volumes"):
        http.get(_url(endpoint, path))
    with _session(endpoint) as other:
        other.get(_url(endpoint, "/api/cluster"))

    ids = [r.connection_id for r in sim.requests]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert [r.user for r in sim.requests] == [sim.username] * 4
