"""The ONTAP context of a run: volume, shares, export policies — fetched once, judged once, stored."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from legal_compliance.audit import ContextRequest, prepare_context
from legal_compliance.handlers import ontap_context
from legal_compliance.ontap_context import ROOT_KEY, OntapContext, fetch_context
from legal_compliance.rules import default_rules

from shared.errors import InvalidInputError, OntapAuthError
from shared.ontap_client import OntapClient
from shared.s3ap import OutputLocation
from tests.legal_compliance.conftest import OUTPUT, SVM_UUID, VOLUME_UUID, LegalVolume, read_json
from tests.shared.ontap_fakes import StaticCredentials


def client_for(volume: LegalVolume) -> OntapClient:
    return OntapClient(
        volume.endpoint.endpoint,
        StaticCredentials("fsxadmin", "Read-0nly-Passw0rd"),
        ca_bundle=volume.endpoint.ca_bundle,
        max_retries=0,
    )


@pytest.mark.network
def test_context_holds_the_volume_the_shares_that_reach_it_and_the_policies(
    legal_volume: LegalVolume,
) -> None:
    with client_for(legal_volume) as client:
        context = fetch_context(client, VOLUME_UUID)

    assert (context.svm_uuid, context.volume_name, context.junction_path) == (
        SVM_UUID,
        "legal_ntfs",
        "/legal",
    )
    assert context.security_style == "ntfs"
    # "other volume" (/finance) does not reach /legal; the others do
    assert [share.name for share in context.shares] == ["legal$", "matters"]
    assert context.shares[1].acls[0]["user_or_group"] == "Everyone"
    # The simulator's volume record names no export policy: every policy of the SVM is judged
    assert context.export_policy_scope == "svm"
    assert [p.name for p in context.export_policies] == ["legal_nfs"]
    assert len(context.export_policies[0].rules) == 2
    assert OntapContext.from_dict(context.to_dict()) == context


@pytest.mark.network
def test_context_costs_a_handful_of_requests_whatever_the_volume_size(legal_volume: LegalVolume) -> None:
    for index in range(200):
        legal_volume.put(f"Matters/bulk/{index}.docx", [])
    with client_for(legal_volume) as client:
        fetch_context(client, VOLUME_UUID)
    assert [r.path for r in legal_volume.sim.requests] == [
        f"/api/storage/volumes/{VOLUME_UUID}",
        "/api/protocols/cifs/shares",
        "/api/protocols/nfs/export-policies",
    ]
    assert "svm.uuid=" + SVM_UUID in legal_volume.sim.requests[1].query


def test_shares_above_the_junction_expose_the_volume() -> None:
    context = OntapContext(SVM_UUID, "svm", VOLUME_UUID, "vol", "/legal", "ntfs")
    assert context.path_for(ROOT_KEY) == "/legal"
    assert context.path_for("a b/") == "/legal/a b"
    assert context.path_for("a b/#1.docx") == "/legal/a b/#1.docx"
    root = OntapContext(SVM_UUID, "svm", VOLUME_UUID, "vol", "/", "ntfs")
    assert root.path_for("x/y") == "/x/y"
    assert root.path_for(ROOT_KEY) == "/"


class FakeOntap:
    """Answers the context's GETs from dictionaries, records what was asked."""

    def __init__(self, volume: Mapping[str, Any], collections: Mapping[str, list[dict[str, Any]]]) -> None:
        self.volume = volume
        self.collections = collections
        self.calls: list[tuple[str, Any]] = []

    def get(self, path: str, **options: Any) -> dict[str, Any]:
        self.calls.append((path, options.get("query")))
        return dict(self.volume)

    def get_collection(self, path: str, **options: Any) -> Iterator[dict[str, Any]]:
        self.calls.append((path, options.get("query")))
        return iter(self.collections[path])


def test_the_volume_and_qtree_policies_are_the_ones_that_apply() -> None:
    # Given a volume that names its export policy and a qtree with its own policy
    fake = FakeOntap(
        {
            "uuid": VOLUME_UUID,
            "name": "legal",
            "svm": {"uuid": SVM_UUID, "name": "svm1"},
            "nas": {
                "path": "/legal",
                "security_style": "mixed",
                "export_policy": {"name": "vol_policy", "id": 1},
            },
        },
        {
            "/api/protocols/cifs/shares": [{"name": "root", "path": "/", "acls": []}],
            "/api/storage/qtrees": [
                {"name": "", "path": "/legal"},
                {"name": "eng", "export_policy": {"name": "qtree_policy"}},
            ],
            "/api/protocols/nfs/export-policies": [
                {"id": 1, "name": "vol_policy", "rules": []},
                {"id": 2, "name": "qtree_policy", "rules": []},
                {"id": 3, "name": "other_volumes_policy", "rules": []},
            ],
        },
    )

    context = fetch_context(fake, VOLUME_UUID)  # type: ignore[arg-type]

    assert context.export_policy_scope == "volume"
    assert [p.name for p in context.export_policies] == ["qtree_policy", "vol_policy"]
    assert [s.name for s in context.shares] == ["root"]  # a share of "/" reaches every volume
    assert ("/api/storage/qtrees", {"volume.uuid": VOLUME_UUID}) in fake.calls


def test_an_unmounted_volume_is_a_configuration_error() -> None:
    fake = FakeOntap({"uuid": VOLUME_UUID, "name": "legal", "svm": {"uuid": SVM_UUID}, "nas": {}}, {})
    with pytest.raises(InvalidInputError) as raised:
        fetch_context(fake, VOLUME_UUID)  # type: ignore[arg-type]
    assert raised.value.field == "VolumeUuid"


# --- the step and its handler ----------------------------------------------------------------------


@pytest.mark.network
def test_handler_stores_the_context_with_share_and_export_findings(aws, lambda_context, event_loader) -> None:
    event = event_loader("legal-compliance/ontap_context")

    summary = ontap_context.handler(event, lambda_context)

    key = f"runs/{event['run_id']}/context.json"
    assert summary == {
        "context": {"bucket": OUTPUT, "key": key},
        "svm": "svm_legal",
        "volume": "legal_ntfs",
        "shares": 2,
        "export_policies": 1,
        "findings": 2,
    }
    stored = read_json(aws, key)
    assert stored["volume"]["junction_path"] == "/legal"
    assert sorted((f["rule"], f.get("share") or f.get("export_policy")) for f in stored["findings"]) == [
        ("export_open_to_world", "legal_nfs"),
        ("share_everyone_full_control", "matters"),
    ]
    rule = next(f for f in stored["findings"] if f["rule"] == "export_open_to_world")
    assert (rule["rule_index"], rule["rights"]) == (2, "rw=sys superuser=none")


@pytest.mark.network
def test_a_targeted_run_judges_no_shares_or_exports(aws, lambda_context) -> None:
    summary = ontap_context.handler({"run_id": "fpolicy-1", "scope": "paths"}, lambda_context)
    assert summary["findings"] == 0
    assert read_json(aws, "runs/fpolicy-1/context.json")["findings"] == []


@pytest.mark.network
def test_a_retried_step_keeps_the_first_context(aws, legal_volume: LegalVolume, lambda_context) -> None:
    first = ontap_context.handler({"run_id": "run-7"}, lambda_context)
    legal_volume.sim.add_cifs_share("added later", svm=legal_volume.svm, path="/legal/x")

    again = ontap_context.handler({"run_id": "run-7"}, lambda_context)

    assert again == first
    assert [s["name"] for s in read_json(aws, "runs/run-7/context.json")["shares"]] == ["legal$", "matters"]


@pytest.mark.network
def test_a_role_without_file_security_access_fails_the_run_at_once(aws, legal_volume: LegalVolume) -> None:
    legal_volume.sim.faults.add(method="GET", path=r"/api/protocols/file-security/.*", status=403)
    with client_for(legal_volume) as client, pytest.raises(OntapAuthError):
        prepare_context(client, default_rules(), VOLUME_UUID, OutputLocation(OUTPUT), ContextRequest("run-8"))


@pytest.mark.parametrize("event", [{}, {"run_id": ""}, {"run_id": "r", "scope": "some"}])
def test_bad_context_events_are_refused(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        ContextRequest.from_event(event)
