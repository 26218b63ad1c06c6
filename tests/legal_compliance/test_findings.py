"""Findings from subjects: exactness (inherited ACEs, duplicates), evidence, stable ids."""

from __future__ import annotations

from typing import Any

from legal_compliance.findings import audit_exports, audit_object, audit_shares
from legal_compliance.ontap_context import ExportPolicy, OntapContext, Share
from legal_compliance.permissions import parse_permissions
from legal_compliance.rules import RuleConfig, default_rules

CONTEXT = OntapContext(
    "svm-uuid",
    "svm1",
    "vol-uuid",
    "legal",
    "/legal",
    "ntfs",
    shares=(
        Share(
            "legal$", "/legal", ({"user_or_group": "BUILTIN\\Administrators", "permission": "full_control"},)
        ),
        Share(
            "matters",
            "/legal/Matters",
            (
                {"user_or_group": "Everyone", "permission": "full_control", "win_sid_unix_id": "S-1-1-0"},
                {"user_or_group": "Everyone", "permission": "full_control", "win_sid_unix_id": "S-1-1-0"},
            ),
        ),
    ),
)


def ace(user: str, rights: str, *, inherited: bool) -> dict[str, Any]:
    return {"user": user, "access": "access_allow", "rights": rights, "inherited": inherited}


def test_only_the_aces_set_on_the_object_make_findings_and_each_once() -> None:
    permissions = parse_permissions(
        "/legal/Matters/a.docx",
        {
            "effective_style": "ntfs",
            "mode_bits": 777,
            "control_flags": "0x8404",
            "acls": [
                ace("Everyone", "full_control", inherited=True),  # set on a parent: reported there
                ace("Everyone", "modify", inherited=False),
                ace("Everyone", "modify", inherited=False),  # a duplicate ACE
                ace("CORP\\a.user", "read", inherited=False),
            ],
        },
    )

    findings = audit_object(default_rules(), CONTEXT, "Matters/a.docx", "file", permissions)

    assert [(f.rule, f.principal) for f in findings] == [
        ("broad_principal_write", "Everyone"),
        ("direct_user_ace", "CORP\\a.user"),
    ]
    assert findings[0].evidence["exposed_via_shares"] == ["legal$", "matters"]
    assert findings[0].evidence["mode_bits"] == 777  # evidence, but not a UNIX finding
    assert findings[0].to_dict()["target_type"] == "file"


def test_finding_ids_are_stable_and_distinct() -> None:
    permissions = parse_permissions("/legal/x", {"acls": [ace("Everyone", "modify", inherited=False)]})
    first = audit_object(default_rules(), CONTEXT, "x", "file", permissions)
    again = audit_object(default_rules(), CONTEXT, "x", "file", permissions)
    other = audit_object(
        default_rules(),
        CONTEXT,
        "y",
        "file",
        parse_permissions(
            "/legal/y", {"acls": permissions.acls and [ace("Everyone", "modify", inherited=False)]}
        ),
    )
    assert first[0].finding_id == again[0].finding_id != other[0].finding_id


def test_a_share_finding_is_made_once_per_share_and_principal() -> None:
    findings = audit_shares(default_rules(), CONTEXT)
    assert [(f.rule, f.share, f.path, f.principal, f.rights) for f in findings] == [
        ("share_everyone_full_control", "matters", "/legal/Matters", "Everyone", "full_control")
    ]


def export_context(*rules: dict[str, Any]) -> OntapContext:
    return OntapContext(
        "svm-uuid",
        "svm1",
        "vol-uuid",
        "legal",
        "/legal",
        "ntfs",
        "svm",
        (),
        (ExportPolicy(7, "p", tuple(rules)),),
    )


def rule(index: int, clients: list[str], rw: list[str], superuser: list[str]) -> dict[str, Any]:
    return {"index": index, "clients": [{"match": c} for c in clients], "rw_rule": rw, "superuser": superuser}


def test_export_rules_grant_write_unless_never_and_root_unless_none() -> None:
    context = export_context(
        rule(1, ["0.0.0.0/0"], ["never"], ["none"]),  # read-only, root squashed: fine
        rule(2, ["0.0.0.0/0"], ["none"], ["none"]),  # "none" still writes, as anonymous
        rule(3, ["0.0.0.0/0"], ["never"], ["sys"]),  # root kept
        rule(4, ["10.1.0.0/16"], ["any"], ["any"]),  # not the world
    )
    findings = audit_exports(default_rules(), context)
    assert [(f.rule_index, f.rights) for f in findings] == [
        (2, "rw=none superuser=none"),
        (3, "rw=never superuser=sys"),
    ]
    assert findings[0].evidence["scope"] == "svm"
    assert findings[0].evidence["policy_id"] == 7


def test_disabled_rules_make_no_findings() -> None:
    rules = default_rules(
        RuleConfig(disabled=frozenset({"export_open_to_world", "share_everyone_full_control"}))
    )
    assert audit_exports(rules, export_context(rule(1, ["0.0.0.0/0"], ["any"], ["any"]))) == []
    assert audit_shares(rules, CONTEXT) == []


def test_world_writable_unix_file_reports_its_mode_bits() -> None:
    permissions = parse_permissions(
        "/legal/eng/build.sh",
        {"effective_style": "unix", "mode_bits": 646, "text_mode_bits": "rw-r--rw-", "acls": []},
    )
    (finding,) = audit_object(default_rules(), CONTEXT, "eng/build.sh", "file", permissions)
    assert (finding.rule, finding.rights, finding.evidence["mode_bits"]) == (
        "world_writable_unix",
        "rw-r--rw-",
        646,
    )
