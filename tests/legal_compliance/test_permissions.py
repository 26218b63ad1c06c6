"""File security from ONTAP: request paths for hostile names, and parsing of ONTAP's fields."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import pytest
from legal_compliance.permissions import FIELDS, fetch_permissions, parse_permissions, rights_level
from netapp_ontap import HostConnection
from netapp_ontap.resources import FileDirectorySecurity

from sandbox.ontap import FileAce
from shared.errors import OntapNotFoundError, OntapResponseError
from shared.ontap_client import OntapClient
from tests.legal_compliance.conftest import SVM_UUID, LegalVolume, ace
from tests.shared.ontap_fakes import StaticCredentials

HOSTILE_NAMES = [
    "Matters/a b/c  d.docx",  # spaces, a double space
    "Matters/契約書/秘密保持契約 2024.pdf",  # Japanese
    "Matters/résumé/Müller & Söhne.msg",  # accents, ampersand
    "Matters/memo #3.docx",  # fragment delimiter
    "Matters/100% fund/50%25.xlsx",  # percent, and what looks like an escape
    "Matters/what?/a+b=c;d.txt",  # query delimiter, plus, equals, semicolon
    "Matters/[draft] {v2} 'x'.docx",
]


def client_for(volume: LegalVolume) -> OntapClient:
    return OntapClient(
        volume.endpoint.endpoint,
        StaticCredentials("fsxadmin", "Read-0nly-Passw0rd"),
        ca_bundle=volume.endpoint.ca_bundle,
        max_retries=0,
    )


@pytest.mark.network
@pytest.mark.parametrize("key", HOSTILE_NAMES)
def test_the_real_path_goes_to_ontap_as_one_encoded_segment(legal_volume: LegalVolume, key: str) -> None:
    # Given a file whose name URL parsers love to break
    path = legal_volume.put(
        key, [ace("CORP\\Legal-Readers"), ace("Everyone", "full_control", inherited=False)]
    )

    # When its security is read
    with client_for(legal_volume) as client:
        permissions = fetch_permissions(client, SVM_UUID, path)

    # Then ONTAP received the junction path + key as ONE segment: "/" as %2F, every byte escaped
    sent = legal_volume.file_security_paths()
    assert sent == [f"/api/protocols/file-security/permissions/{SVM_UUID}/{quote(path, safe='')}"]
    assert "#" not in sent[0] and "?" not in sent[0] and "+" not in sent[0] and " " not in sent[0]
    # And the record ONTAP holds for exactly that path was parsed
    assert permissions.path == path
    assert [(a.user, a.rights, a.inherited) for a in permissions.acls] == [
        ("CORP\\Legal-Readers", "read", True),
        ("Everyone", "full_control", False),
    ]


@pytest.mark.network
def test_only_the_fields_the_rules_need_are_requested(legal_volume: LegalVolume) -> None:
    path = legal_volume.put("Matters/a.docx", [ace("CORP\\Legal-Readers")])
    with client_for(legal_volume) as client:
        fetch_permissions(client, SVM_UUID, path)
    query = next(r.query for r in legal_volume.sim.requests if "file-security" in r.path)
    assert query == "fields=" + ",".join(FIELDS)


@pytest.mark.network
def test_a_missing_file_is_ontaps_404(legal_volume: LegalVolume) -> None:
    with client_for(legal_volume) as client, pytest.raises(OntapNotFoundError) as raised:
        fetch_permissions(client, SVM_UUID, "/legal/Matters/gone #1.docx")
    assert raised.value.status == 404
    assert raised.value.code == "4"


@pytest.mark.network
def test_netapp_sdk_reads_the_same_record_for_a_hostile_name(legal_volume: LegalVolume, monkeypatch) -> None:
    """NetApp's own client, against the same simulator, agrees on path and parsed fields."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    path = legal_volume.put("Matters/100% #1/契約 a+b.docx", [ace("Everyone", "modify", inherited=False)])
    with client_for(legal_volume) as client:
        ours = fetch_permissions(client, SVM_UUID, path)
    with HostConnection(
        legal_volume.endpoint.host,
        port=legal_volume.endpoint.port,
        username="fsxadmin",
        password="Read-0nly-Passw0rd",
        verify=legal_volume.endpoint.ca_bundle,
    ):
        sdk = FileDirectorySecurity(SVM_UUID, path)
        sdk.get()
    assert os.environ.get("REQUESTS_CA_BUNDLE") is None
    assert sdk.path == ours.path == path
    assert [(a.user, a.rights, a.inherited) for a in sdk.acls] == [
        (a.user, a.record["rights"], a.inherited) for a in ours.acls
    ]


# --- parsing ---------------------------------------------------------------------------------------


def test_an_ntfs_record_is_parsed_with_its_control_flags_and_aces() -> None:
    record = FileAce("CORP\\Legal-Editors", rights="modify", inherited=True).record()
    parsed = parse_permissions(
        "/legal/a",
        {
            "owner": "BUILTIN\\Administrators",
            "group": "CORP\\Domain Users",
            "control_flags": "0x9404",
            "effective_style": "ntfs",
            "security_style": "ntfs",
            "mode_bits": 777,
            "text_mode_bits": "rwxrwxrwx",
            "acls": [record],
        },
    )
    assert parsed.dacl_protected is True
    assert parsed.control_flags == 0x9404
    assert parsed.acls[0].rights == "modify"
    assert parsed.object_evidence()["control_flags"] == "0x9404"
    assert parsed.acls[0].evidence()["user"] == "CORP\\Legal-Editors"


@pytest.mark.parametrize(
    ("mode_bits", "text", "writable"),
    [(664, "rw-rw-r--", False), (666, "rw-rw-rw-", True), (646, "rw-r--rw-", True), (1777, None, True)],
)
def test_the_other_write_bit_comes_from_mode_bits(mode_bits: int, text: str | None, writable: bool) -> None:
    parsed = parse_permissions(
        "/legal/u", {"effective_style": "unix", "mode_bits": mode_bits, "text_mode_bits": text}
    )
    assert parsed.other_writable is writable


def test_text_mode_bits_are_the_fallback_and_nothing_means_unknown() -> None:
    assert parse_permissions("/p", {"text_mode_bits": "rwxrwxrw-"}).other_writable is True
    assert parse_permissions("/p", {}).other_writable is None
    assert parse_permissions("/p", {}).dacl_protected is False


@pytest.mark.parametrize(
    ("advanced", "rights", "level"),
    [
        ({"read_data": True, "read_attr": True}, None, "read"),
        ({"read_data": True, "execute_file": True}, None, "read_and_execute"),
        ({"write_data": True}, None, "write"),
        ({"delete": True}, None, "write"),
        ({"write_data": True, "delete": True, "read_data": True}, None, "modify"),
        ({"write_perm": True}, None, "full_control"),  # can grant itself anything
        ({"write_owner": True}, None, "full_control"),
        ({"full_control": True}, None, "full_control"),
        ({"read_data": False}, None, "no_access"),
        ({"write_data": True, "delete": True}, "read", "modify"),  # the higher of the two counts
        (None, "modify", "modify"),
        (None, None, "no_access"),
    ],
)
def test_rights_level_from_rights_and_advanced_rights(
    advanced: dict[str, bool] | None, rights: str | None, level: str
) -> None:
    record: dict[str, Any] = {"user": "x", "access": "access_allow"}
    if advanced is not None:
        record["advanced_rights"] = advanced
    if rights is not None:
        record["rights"] = rights
    assert rights_level(record) == level


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"acls": {"user": "x"}}, "acls"),
        ({"acls": ["x"]}, "acls[]"),
        ({"acls": [{"access": "access_allow"}]}, "acls[].user/access"),
        ({"acls": [{"user": "x", "access": "access_allow", "inherited": "yes"}]}, "acls[].inherited"),
        ({"control_flags": "zz"}, "control_flags"),
        ({"mode_bits": 789}, "mode_bits"),
        ({"mode_bits": "755"}, "mode_bits"),
        ({"owner": ["x"]}, "owner"),
    ],
)
def test_an_undocumented_shape_is_refused(record: dict[str, Any], field: str) -> None:
    with pytest.raises(OntapResponseError) as raised:
        parse_permissions("/legal/x", record)
    assert raised.value.details["field"] == field


def test_numeric_ids_are_tolerated_as_strings() -> None:
    assert parse_permissions("/p", {"user_id": 1000, "group_id": "10"}).user_id == "1000"
