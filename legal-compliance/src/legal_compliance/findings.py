"""Findings: what the rules say about one file, folder, share or export rule, with its evidence.

Each finding is one JSON Lines record of the run's output: ``rule``, ``severity``, ``path``,
``principal``, ``rights``, ``evidence`` (what ONTAP returned that triggered the rule),
``rationale`` and ``remediation``, plus a ``finding_id`` that is stable across runs (the same
ACE on the same file has the same id every night, so runs can be compared).

Exactness is a property of the subjects: share and export findings are produced once per run
from the context (never per file), a file's ACE findings come from the ACEs set on that file
(``inherited: false``; an inherited ACE is reported on the folder where it is set, which the audit
also reads), and one subject yields at most one finding per rule and principal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from legal_compliance.ontap_context import OntapContext
from legal_compliance.permissions import FilePermissions
from legal_compliance.rules import UNREADABLE, Rule, RuleSet

FILE, FOLDER, SHARE, EXPORT_RULE = "file", "folder", "share", "export_rule"
_NEVER: Final = frozenset({"never"})
_NO_ROOT: Final = frozenset({"none", "never"})


@dataclass(frozen=True)
class Finding:
    rule: str
    title: str
    severity: str
    target_type: str
    path: str | None
    principal: str | None
    rights: str | None
    rationale: str
    remediation: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None
    share: str | None = None
    export_policy: str | None = None
    rule_index: int | None = None

    @property
    def finding_id(self) -> str:
        identity = "\x1f".join(
            str(part)
            for part in (
                self.rule,
                self.target_type,
                self.path,
                self.share,
                self.export_policy,
                self.rule_index,
                self.principal,
            )
        )
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding_id": self.finding_id,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "target_type": self.target_type,
            "path": self.path,
            "key": self.key,
            "share": self.share,
            "export_policy": self.export_policy,
            "rule_index": self.rule_index,
            "principal": self.principal,
            "rights": self.rights,
            "evidence": dict(self.evidence),
            "rationale": self.rationale,
            "remediation": self.remediation,
        }


def _finding(rule: Rule, target_type: str, **values: Any) -> Finding:
    return Finding(
        rule=rule.id,
        title=rule.title,
        severity=rule.severity,
        target_type=target_type,
        rationale=rule.rationale,
        remediation=rule.remediation,
        **values,
    )


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.finding_id, finding)
    return list(seen.values())


def audit_object(
    rules: RuleSet, context: OntapContext, key: str, object_type: str, permissions: FilePermissions
) -> list[Finding]:
    """The findings of one file or folder: its own facts, then each of its ACEs."""
    path = permissions.path
    exposed = context.shares_exposing(path)
    base = permissions.object_evidence()
    if exposed:
        base["exposed_via_shares"] = exposed
    found: list[Finding] = []
    object_facts = {
        "object_type": object_type,
        "key": key,
        "path": path,
        "effective_style": permissions.effective_style,
        "security_style": permissions.security_style,
        "dacl_protected": permissions.dacl_protected,
        "other_writable": permissions.other_writable,
        "mode_bits": permissions.mode_bits,
        "owner": permissions.owner,
        "group": permissions.group,
    }
    for rule in rules.matching("object", object_facts):
        found.append(
            _finding(
                rule,
                object_type,
                path=path,
                key=key,
                principal=None,
                rights=permissions.text_mode_bits if rule.id == "world_writable_unix" else None,
                evidence=base,
            )
        )
    for ace in permissions.acls:
        ace_facts = {
            "object_type": object_type,
            "key": key,
            "path": path,
            "principal": ace.user,
            "access": ace.access,
            "inherited": ace.inherited,
            "rights": ace.rights,
            "access_control": ace.access_control,
        }
        for rule in rules.matching("ace", ace_facts):
            found.append(
                _finding(
                    rule,
                    object_type,
                    path=path,
                    key=key,
                    principal=ace.user,
                    rights=ace.rights,
                    evidence={**base, "ace": ace.evidence()},
                )
            )
    return _unique(found)


def unreadable(
    rules: RuleSet, *, key: str, path: str | None, object_type: str, reason: Mapping[str, Any]
) -> Finding:
    """The finding that stands for a file or folder whose security could not be read."""
    rule = rules.rule(UNREADABLE)
    return _finding(rule, object_type, path=path, key=key, principal=None, rights=None, evidence=dict(reason))


def audit_shares(rules: RuleSet, context: OntapContext) -> list[Finding]:
    """Share ACL findings: once per share and principal, from the run's context."""
    found = []
    for share in context.shares:
        for acl in share.acls:
            principals = [str(acl[name]) for name in ("user_or_group", "win_sid_unix_id") if acl.get(name)]
            facts = {
                "share": share.name,
                "share_path": share.path,
                "principals": principals,
                "permission": acl.get("permission"),
                "type": acl.get("type"),
            }
            for rule in rules.matching("share_acl", facts):
                found.append(
                    _finding(
                        rule,
                        SHARE,
                        path=share.path,
                        share=share.name,
                        principal=str(acl.get("user_or_group") or acl.get("win_sid_unix_id")),
                        rights=acl.get("permission"),
                        evidence={"share": share.name, "share_path": share.path, "acl": dict(acl)},
                    )
                )
    return _unique(found)


def audit_exports(rules: RuleSet, context: OntapContext) -> list[Finding]:
    """Export rule findings: once per policy rule, from the run's context."""
    found = []
    for policy in context.export_policies:
        for rule_record in policy.rules:
            clients = [
                str(client.get("match"))
                for client in rule_record.get("clients") or ()
                if isinstance(client, Mapping) and client.get("match")
            ]
            rw, superuser = _flavours(rule_record.get("rw_rule")), _flavours(rule_record.get("superuser"))
            facts = {
                "policy": policy.name,
                "index": rule_record.get("index"),
                "clients": clients,
                "protocols": list(rule_record.get("protocols") or ()),
                # "none" still grants write, as the anonymous user; only "never" refuses it.
                "rw_granted": bool(rw - _NEVER),
                # "none" maps root to the anonymous user; anything else keeps root.
                "superuser_granted": bool(superuser - _NO_ROOT),
            }
            for rule in rules.matching("export_rule", facts):
                found.append(
                    _finding(
                        rule,
                        EXPORT_RULE,
                        path=context.junction_path,
                        export_policy=policy.name,
                        rule_index=rule_record.get("index"),
                        principal=",".join(clients),
                        rights=f"rw={_joined(rw)} superuser={_joined(superuser)}",
                        evidence={
                            "policy": policy.name,
                            "policy_id": policy.id,
                            "scope": context.export_policy_scope,
                            "rule": dict(rule_record),
                        },
                    )
                )
    return _unique(found)


def _flavours(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    return {str(item) for item in value or ()}


def _joined(flavours: set[str]) -> str:
    return ",".join(sorted(flavours)) or "-"
