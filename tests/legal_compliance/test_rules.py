"""The rules engine: the shipped catalogue, tuning by parameters, and rules added as data."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from legal_compliance.rules import (
    RIGHTS_SCALE,
    SEVERITIES,
    RuleConfig,
    RuleSet,
    below_any,
    default_rules,
    matches_any_glob,
)

from shared.errors import InvalidInputError

SHIPPED = json.loads(resources.files("legal_compliance").joinpath("rules.json").read_text(encoding="utf-8"))

ACE = {
    "object_type": "file",
    "key": "Matters/a.docx",
    "path": "/legal/Matters/a.docx",
    "access": "access_allow",
    "inherited": False,
    "rights": "read",
    "access_control": "file_directory",
}


def ids(rules: RuleSet, subject: str, facts: dict[str, Any]) -> list[str]:
    return [rule.id for rule in rules.matching(subject, facts)]


def test_the_shipped_catalogue_has_every_required_rule_with_its_guidance() -> None:
    rules = default_rules()

    assert [rule.id for rule in rules.rules] == [
        "broad_principal_write",
        "share_everyone_full_control",
        "export_open_to_world",
        "broken_inheritance",
        "orphaned_sid",
        "direct_user_ace",
        "world_writable_unix",
        "unreadable",
    ]
    assert [rule.id for rule in rules.catalogue if not rule.enabled] == ["broad_principal_read_sensitive"]
    for rule in rules.catalogue:
        assert rule.severity in SEVERITIES
        assert len(rule.rationale) > 40 and len(rule.remediation) > 20, rule.id


@pytest.mark.parametrize(
    ("principal", "rights", "expected"),
    [
        ("Everyone", "modify", ["broad_principal_write"]),
        ("S-1-1-0", "full_control", ["broad_principal_write"]),
        ("NT AUTHORITY\\Authenticated Users", "full_control", ["broad_principal_write"]),
        ("corp\\domain users", "modify", ["broad_principal_write"]),  # names compare without case
        ("S-1-5-21-1004336348-1177238915-682003330-513", "modify", ["broad_principal_write"]),
        ("BUILTIN\\Users", "modify", ["broad_principal_write"]),
        ("BUILTIN\\Users", "write", []),  # below the default threshold
        ("Everyone", "read", []),
        ("CORP\\Legal-Editors", "full_control", []),
        ("CORP\\Domain Admins", "full_control", []),
        ("CORP\\j.smith", "modify", ["direct_user_ace"]),
        ("CORP\\svc_backup", "read", ["direct_user_ace"]),
        ("S-1-5-21-1004336348-1177238915-682003330-7788", "read", ["orphaned_sid"]),
        ("S-1-5-32-544", "full_control", []),  # a well-known SID, not an orphan
    ],
)
def test_ace_rules(principal: str, rights: str, expected: list[str]) -> None:
    assert ids(default_rules(), "ace", {**ACE, "principal": principal, "rights": rights}) == expected


@pytest.mark.parametrize(
    "change",
    [
        {"inherited": True},  # reported on the folder where it is set
        {"access": "access_deny"},
        {"access": "audit_success"},
    ],
)
def test_inherited_deny_and_audit_aces_do_not_make_write_findings(change: dict[str, Any]) -> None:
    facts = {**ACE, "principal": "Everyone", "rights": "full_control", **change}
    assert ids(default_rules(), "ace", facts) == []


def test_an_orphaned_deny_ace_is_still_reported() -> None:
    facts = {**ACE, "principal": "S-1-5-21-1-2-3-9001", "access": "access_deny"}
    assert ids(default_rules(), "ace", facts) == ["orphaned_sid"]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"effective_style": "unix", "other_writable": True}, ["world_writable_unix"]),
        ({"effective_style": "unix", "other_writable": False}, []),
        ({"effective_style": "ntfs", "other_writable": True}, []),  # ONTAP's 777 on NTFS files
        ({"effective_style": "unix", "other_writable": None}, []),  # no mode bits reported
    ],
)
def test_world_writable_only_counts_for_unix_style(facts: dict[str, Any], expected: list[str]) -> None:
    base = {"object_type": "file", "key": "eng/a.c", "path": "/legal/eng/a.c", "dacl_protected": False}
    assert ids(default_rules(), "object", {**base, **facts}) == expected


@pytest.mark.parametrize(
    ("key", "object_type", "expected"),
    [
        ("HR/Reviews/", "folder", ["broken_inheritance"]),
        ("HR/Reviews/2025 #1/", "folder", ["broken_inheritance"]),
        ("HR/", "folder", []),  # the sensitive folder itself is not below itself
        ("HRX/Reviews/", "folder", []),
        ("Public/", "folder", []),
        ("HR/Reviews/a.docx", "file", []),
    ],
)
def test_broken_inheritance_is_judged_below_the_sensitive_prefixes(
    key: str, object_type: str, expected: list[str]
) -> None:
    rules = default_rules(RuleConfig(params={"sensitive_prefixes": ["HR/", "Litigation #42/"]}))
    facts = {"object_type": object_type, "key": key, "path": "/legal/" + key, "dacl_protected": True}
    assert ids(rules, "object", facts) == expected


def test_without_sensitive_prefixes_broken_inheritance_never_fires() -> None:
    facts = {
        "object_type": "folder",
        "key": "HR/Reviews/",
        "path": "/legal/HR/Reviews",
        "dacl_protected": True,
    }
    assert ids(default_rules(), "object", facts) == []


@pytest.mark.parametrize(
    ("principals", "permission", "expected"),
    [
        (["Everyone", "S-1-1-0"], "full_control", ["share_everyone_full_control"]),
        (["S-1-1-0"], "full_control", ["share_everyone_full_control"]),  # name not resolved
        (["Everyone"], "change", []),
        (["CORP\\Legal-Editors"], "full_control", []),
    ],
)
def test_share_rule(principals: list[str], permission: str, expected: list[str]) -> None:
    facts = {"share": "s", "share_path": "/legal", "principals": principals, "permission": permission}
    assert ids(default_rules(), "share_acl", facts) == expected


@pytest.mark.parametrize(
    ("clients", "rw", "root", "expected"),
    [
        (["0.0.0.0/0"], True, True, ["export_open_to_world"]),
        (["0.0.0.0/0"], True, False, ["export_open_to_world"]),
        (["10.0.0.0/8", "::/0"], False, True, ["export_open_to_world"]),
        (["0.0.0.0/0"], False, False, []),
        (["10.0.0.0/8"], True, True, []),
    ],
)
def test_export_rule(clients: list[str], rw: bool, root: bool, expected: list[str]) -> None:
    facts = {"policy": "p", "index": 1, "clients": clients, "rw_granted": rw, "superuser_granted": root}
    assert ids(default_rules(), "export_rule", facts) == expected


def test_rules_are_enabled_disabled_and_thresholded_by_configuration() -> None:
    config = RuleConfig(
        enabled=frozenset({"broad_principal_read_sensitive"}),
        disabled=frozenset({"direct_user_ace"}),
        minimum_severity="medium",
        params={"broad_min_rights": "write", "sensitive_prefixes": ["Matters/"]},
    )
    rules = default_rules(config)

    active = {rule.id for rule in rules.rules}
    assert "broad_principal_read_sensitive" in active
    assert "direct_user_ace" not in active
    assert "orphaned_sid" not in active  # low, below the minimum severity
    assert "unreadable" in active  # locked: always reported
    assert ids(rules, "ace", {**ACE, "principal": "BUILTIN\\Users", "rights": "write"}) == [
        "broad_principal_write",
        "broad_principal_read_sensitive",
    ]
    assert ids(rules, "ace", {**ACE, "principal": "Everyone", "inherited": True}) == [
        "broad_principal_read_sensitive"
    ]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (RuleConfig(disabled=frozenset({"unreadable"})), "disabled_rules"),
        (RuleConfig(disabled=frozenset({"no_such_rule"})), "disabled_rules"),
        (RuleConfig(enabled=frozenset({"no_such_rule"})), "enabled_rules"),
        (
            RuleConfig(enabled=frozenset({"orphaned_sid"}), disabled=frozenset({"orphaned_sid"})),
            "disabled_rules",
        ),
        (RuleConfig(minimum_severity="urgent"), "minimum_severity"),
        (RuleConfig(params={"no_such_param": 1}), "rule_params"),
        (RuleConfig(params={"broad_min_rights": "everything"}), "rules"),
        (RuleConfig(params={"user_account_pattern": "(unclosed"}), "rules"),
    ],
)
def test_a_bad_configuration_is_refused_by_name(config: RuleConfig, field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        default_rules(config)
    assert raised.value.field == field


def test_a_new_rule_is_added_as_data_with_no_code_change() -> None:
    # Given the shipped catalogue plus a rule written only as data: owners outside the admins group
    document = copy.deepcopy(SHIPPED)
    document["params"]["trusted_owners"] = ["BUILTIN\\Administrators", "*\\Domain Admins"]
    document["rules"].append(
        {
            "id": "untrusted_owner",
            "title": "Owner outside the administrators",
            "severity": "medium",
            "subject": "object",
            "when": {"not": {"fact": "owner", "matches_any": {"param": "trusted_owners"}}},
            "rationale": "The owner of a file can always change its DACL, whatever the DACL says.",
            "remediation": "Take ownership as BUILTIN\\Administrators.",
        }
    )
    rules = RuleSet.from_document(document)

    # Then it is evaluated like the shipped ones
    facts = {"object_type": "file", "key": "a", "path": "/legal/a", "effective_style": "ntfs"}
    assert ids(rules, "object", {**facts, "owner": "CORP\\j.smith"}) == ["untrusted_owner"]
    assert ids(rules, "object", {**facts, "owner": "CORP\\Domain Admins"}) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"][0]["when"]["all"].append({"fact": "colour", "eq": "red"}), "unknown fact"),
        (lambda d: d["rules"][0]["when"]["all"].append({"fact": "access", "like": "x"}), "exactly one of"),
        (lambda d: d["rules"][0].update(severity="urgent"), "severity"),
        (lambda d: d["rules"][0].update(subject="printer"), "subject"),
        (lambda d: d["rules"][0].pop("remediation"), "remediation is required"),
        (lambda d: d["rules"][1].update(id="broad_principal_write"), "duplicate"),
        (lambda d: d["rules"].pop(), "unreadable"),
        (
            lambda d: d["rules"][0]["when"]["all"].append({"fact": "rights", "at_least": "everything"}),
            "not one of",
        ),
        (lambda d: d["rules"][0]["when"]["all"].append({"fact": "access", "at_least": "read"}), "ordinal"),
        (lambda d: d["rules"][0]["when"]["all"].append({"fact": "path", "below_any": ["a"]}), "key fact"),
        (
            lambda d: d["rules"][0]["when"]["all"].append({"fact": "access", "in": {"param": "x"}}),
            "unknown parameter",
        ),
        (lambda d: d["rules"][0].update(when={"all": []}), "non-empty"),
    ],
)
def test_a_broken_catalogue_fails_when_loaded(mutate: Any, message: str) -> None:
    document = copy.deepcopy(SHIPPED)
    mutate(document)
    with pytest.raises(InvalidInputError, match=message):
        RuleSet.from_document(document)


@given(
    actual=st.sampled_from(RIGHTS_SCALE),
    threshold=st.sampled_from(RIGHTS_SCALE[1:]),
    principal=st.sampled_from(["Everyone", "BUILTIN\\Users", "CORP\\Domain Users", "S-1-5-11"]),
)
def test_broad_principal_threshold_is_monotonic(actual: str, threshold: str, principal: str) -> None:
    rules = default_rules(RuleConfig(params={"broad_min_rights": threshold}))
    fired = "broad_principal_write" in ids(rules, "ace", {**ACE, "principal": principal, "rights": actual})
    assert fired == (RIGHTS_SCALE.index(actual) >= RIGHTS_SCALE.index(threshold))


def test_glob_and_prefix_helpers() -> None:
    assert matches_any_glob(["CORP\\Domain Users"], ["*\\domain users"])
    assert not matches_any_glob(["CORP\\Domain Users Extra"], ["*\\Domain Users"])
    assert below_any("a b/#1/x", ["a b/"])
    assert not below_any("a b", ["a b/"])
