"""Property: for any seeded ACL tree, the rules find exactly the planted violations — each once.

The tree's records are ONTAP-shaped (what ``GET …/file-security/permissions`` returns); they go
through the same parsing and the same finding functions as in a run, without the network, so
Hypothesis can try many seeds and sizes.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from legal_compliance.findings import (
    FILE,
    FOLDER,
    Finding,
    audit_exports,
    audit_object,
    audit_shares,
    unreadable,
)
from legal_compliance.ontap_context import ExportPolicy, OntapContext, Share
from legal_compliance.permissions import parse_permissions
from legal_compliance.rules import RuleConfig, default_rules

from sandbox.datasets import AclTree, acl_tree


def findings_of(tree: AclTree) -> Counter[tuple[str, str]]:
    junction = tree.volume["junction_path"]
    rules = default_rules(
        RuleConfig(
            params={
                "sensitive_prefixes": [p.removeprefix(junction + "/") + "/" for p in tree.sensitive_prefixes]
            }
        )
    )
    context = OntapContext(
        tree.svm["uuid"],
        tree.svm["name"],
        tree.volume["uuid"],
        tree.volume["name"],
        junction,
        "ntfs",
        "svm",
        tuple(Share(s["name"], s["path"], tuple(s["acls"])) for s in tree.shares),
        tuple(ExportPolicy(None, p["name"], tuple(p["rules"])) for p in tree.export_policies),
    )
    found = [*audit_shares(rules, context), *audit_exports(rules, context)]
    for entry in tree.entries:
        key = entry.key + "/" if entry.is_directory else entry.key
        kind = FOLDER if entry.is_directory else FILE
        if entry.permissions is None:
            found.append(
                unreadable(rules, key=key, path=entry.path, object_type=kind, reason={"http_status": 404})
            )
            continue
        found += audit_object(rules, context, key, kind, parse_permissions(entry.path, entry.permissions))

    def target(finding: Finding) -> str:
        if finding.target_type == "share":
            return f"share:{finding.share}"
        if finding.target_type == "export_rule":
            return f"export-policy:{finding.export_policy}/rule:{finding.rule_index}"
        return str(finding.path)

    return Counter((f.rule, target(f)) for f in found)


@given(seed=st.integers(0, 2**32), files=st.integers(8, 60), depth=st.integers(2, 4))
def test_every_planted_violation_is_found_exactly_once_and_nothing_else(
    seed: int, files: int, depth: int
) -> None:
    tree = acl_tree(seed, files=files, depth=depth)
    assert findings_of(tree) == Counter((v.kind, v.target) for v in tree.violations)
