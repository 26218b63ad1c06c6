"""legal-compliance end to end in the sandbox: the deployed ASL, the real handlers, the ONTAP simulator.

The dataset (``sandbox.datasets.acl_tree``) plants exactly one violation of every kind the audit
knows, on hostile names (spaces, ``#``, ``%``, Japanese, accents); everything else is clean by
every rule. So a run must report each planted violation once, and nothing else.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from sandbox.aws import UseCaseStack
from sandbox.datasets import AclTree
from sandbox.datasets.acl_trees import BROAD_PRINCIPALS
from sandbox.scenarios import RunOptions
from sandbox.scenarios.legal_compliance import AuditSetup, fpolicy_event, prepare_audit
from tests.workflows.conftest import WorkflowHarness

pytestmark = [pytest.mark.network, pytest.mark.slow]

SEED = 7
STATE_PAYLOAD_BUDGET = 16 * 1024
FULL_RUN_STATES = [
    "Discover Files",
    "Region Active?",
    "Anything To Audit?",
    "Fetch ONTAP Context",
    "Any Files?",
    "Audit Files",
    "Write Report",
]


@pytest.fixture
def resources() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def deploy(
    workflow: WorkflowHarness, resources: ExitStack, *, files: int = 40, scenario: str = "", **parameters: Any
) -> tuple[AuditSetup, UseCaseStack]:
    setup = prepare_audit(
        workflow.world,
        resources,
        RunOptions(files=files, seed=SEED, scenario=scenario),
        parameters=parameters,
    )
    return setup, workflow.deploy("legal-compliance", parameters=setup.plan.parameters)


def outputs(stack: UseCaseStack, run_id: str) -> dict[str, Any]:
    s3 = stack.world.client("s3")
    bucket = stack.ref("OutputBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/").get("Contents", [])]
    return {
        key.removeprefix(f"runs/{run_id}/"): s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in keys
    }


def findings(stack: UseCaseStack, run_id: str) -> list[dict[str, Any]]:
    (name,) = [n for n in outputs(stack, run_id) if n.endswith("findings.jsonl")]
    return [json.loads(line) for line in outputs(stack, run_id)[name].decode().splitlines()]


def target(finding: dict[str, Any]) -> str:
    """A finding's target in the dataset's notation."""
    if finding["target_type"] == "share":
        return f"share:{finding['share']}"
    if finding["target_type"] == "export_rule":
        return f"export-policy:{finding['export_policy']}/rule:{finding['rule_index']}"
    return str(finding["path"])


def visible(tree: AclTree) -> list[str]:
    """Files, and folders that hold a file: an S3 Access Point lists files only."""
    files = [e.path for e in tree.entries if not e.is_directory]
    folders = [
        e.path for e in tree.entries if e.is_directory and any(f.startswith(e.path + "/") for f in files)
    ]
    return folders + files


def planted(tree: AclTree) -> Counter[tuple[str, str]]:
    return Counter((violation.kind, violation.target) for violation in tree.violations)


def test_a_full_audit_reports_each_planted_violation_exactly_once(
    workflow: WorkflowHarness, resources: ExitStack
) -> None:
    # Given the seeded tree (one violation of each kind) behind the access point and in ONTAP,
    # audited in batches of 10 so that several Map items run
    setup, stack = deploy(workflow, resources, BatchSize=10)
    protected = setup.tree.violation("broken_inheritance").target
    assert any(e.path.startswith(protected + "/") and not e.is_directory for e in setup.tree.entries), (
        "the dataset must hold a file below the protected folder: an access point lists files only"
    )
    topic = stack.watch_topic("FindingsTopic")

    # When the schedule starts a run
    result = stack.run(setup.plan.input, name="nightly-1")

    # Then it succeeds through every state, with small state
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states_entered()[: len(FULL_RUN_STATES)] == FULL_RUN_STATES
    assert result.states_entered()[-4:] == ["Write Report", "Notify?", "Notify", "Audit Complete"]
    assert result.largest_payload_bytes() < STATE_PAYLOAD_BUDGET
    (map_run,) = result.map_runs
    batches = result.state_output("Discover Files")["discovery"]["batches"]
    assert (
        batches > 1 and map_run["itemCounts"]["succeeded"] == batches and map_run["itemCounts"]["failed"] == 0
    )
    # And every planted violation is found exactly once; clean files and folders produce nothing
    found = findings(stack, "nightly-1")
    assert Counter((f["rule"], target(f)) for f in found) == planted(setup.tree)
    assert len(found) == len(setup.tree.violations) == 8
    # And the unreadable file is reported, with ONTAP's answer as evidence
    (unreadable,) = [f for f in found if f["rule"] == "unreadable"]
    assert unreadable["evidence"]["http_status"] == 404
    # And the execution's output and the notification carry the counts
    assert result.output["findings"] == 8
    assert result.output["by_severity"] == {"critical": 2, "high": 3, "medium": 1, "low": 2}
    assert result.output["audited"] == len(visible(setup.tree))  # every file and non-empty folder, once
    (message,) = topic.messages()
    assert message["Subject"] == "[legal-compliance] 8 findings (2 critical) on legal_ntfs"
    assert "report_html: s3://" in message["Message"]
    # And the evidence files are all there
    written = outputs(stack, "nightly-1")
    assert {
        "context.json",
        "manifest.json",
        "findings.csv",
        "report.md",
        "report.html",
        "summary.json",
    } <= set(written)
    assert b"<!DOCTYPE html>" in written["report.html"]
    # And the batches' ONTAP calls shared one keep-alive connection (the other one is the context step's)
    calls = setup.file_security_requests()
    assert len(calls) == len(visible(setup.tree)) + 1  # + the context step's probe of the volume root
    per_connection = Counter(call.connection_id for call in calls)
    assert sorted(per_connection.values()) == [1, len(visible(setup.tree))]


def test_a_second_run_neither_duplicates_nor_overwrites_the_first(
    workflow: WorkflowHarness, resources: ExitStack
) -> None:
    setup, stack = deploy(workflow, resources, files=16)
    first = stack.run(setup.plan.input, name="run-1")
    first_outputs = outputs(stack, "run-1")

    second = stack.run(setup.plan.input, name="run-2")

    assert first.status == second.status == "SUCCEEDED"
    # The first run's objects are untouched: one version each, same bytes
    s3, bucket = stack.world.client("s3"), stack.ref("OutputBucket")
    versions = Counter(
        v["Key"] for v in s3.list_object_versions(Bucket=bucket, Prefix="runs/run-1/")["Versions"]
    )
    assert set(versions.values()) == {1}
    assert outputs(stack, "run-1") == first_outputs
    # The second run found the same findings, once, under its own prefix
    assert sorted(f["finding_id"] for f in findings(stack, "run-2")) == sorted(
        f["finding_id"] for f in findings(stack, "run-1")
    )
    manifest = json.loads(outputs(stack, "run-2")["manifest.json"])
    assert not [key for batch in manifest for key in batch["keys"] if key.startswith("runs/")]


def test_an_fpolicy_event_audits_only_the_paths_it_names(
    workflow: WorkflowHarness, resources: ExitStack
) -> None:
    # Given an FPolicy event naming two files with planted violations, one clean file and a path
    # outside the volume
    setup, stack = deploy(workflow, resources, scenario="fpolicy", TriggerMode="HYBRID")
    junction = setup.tree.volume["junction_path"]
    named = [path for path in setup.plan.input["detail"]["paths"] if not path.startswith("..")]

    result = stack.run(setup.plan.input, name="fpolicy-1")

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    discovered = result.state_output("Discover Files")["discovery"]
    assert (discovered["trigger"], discovered["scope"], discovered["count"]) == ("fpolicy", "paths", 3)
    assert discovered["skipped"] == {"invalid": 1}
    # Only the named files were read from ONTAP (plus the context step's root probe) …
    asked = [call.path for call in setup.file_security_requests()]
    assert len(asked) == 4
    # … and only their violations are reported: no shares, no export rules
    found = findings(stack, "fpolicy-1")
    assert Counter((f["rule"], target(f)) for f in found) == Counter(
        (kind, setup.tree.violation(kind).target) for kind in ("broad_principal_write", "world_writable_unix")
    )
    assert {f["key"] for f in found} <= set(named)
    assert all(f["path"].startswith(junction + "/") for f in found)

    # When an event for another volume arrives, nothing is audited and nothing is asked of ONTAP
    before = len(setup.simulator.requests)
    other = stack.run(
        fpolicy_event(setup.tree, named, volume_uuid="00000000-0000-4000-8000-000000000000"), name="fpolicy-2"
    )
    assert other.status == "SUCCEEDED"
    assert other.states_entered() == [
        "Discover Files",
        "Region Active?",
        "Anything To Audit?",
        "Nothing To Audit",
    ]
    assert len(setup.simulator.requests) == before


def test_rules_are_turned_on_and_off_by_parameters(workflow: WorkflowHarness, resources: ExitStack) -> None:
    setup, stack = deploy(
        workflow,
        resources,
        files=16,
        DisabledRules="orphaned_sid,direct_user_ace",
        EnabledRules="broad_principal_read_sensitive",
    )

    result = stack.run({}, name="tuned-1")

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    rules = Counter(f["rule"] for f in findings(stack, "tuned-1"))
    assert "orphaned_sid" not in rules and "direct_user_ace" not in rules
    # Domain Users may read what inherits from the root: under the sensitive folders that is now
    # a finding per file and broad principal (none below the folder whose DACL is protected)
    expected = {
        (e.path, ace["user"])
        for e in setup.tree.entries
        if not e.is_directory
        and e.permissions is not None
        and any(e.path.startswith(prefix + "/") for prefix in setup.tree.sensitive_prefixes)
        for ace in e.permissions["acls"]
        if ace["user"] in BROAD_PRINCIPALS
    }
    read_findings = {
        (f["path"], f["principal"])
        for f in findings(stack, "tuned-1")
        if f["rule"] == "broad_principal_read_sensitive"
    }
    assert read_findings == expected and rules["broad_principal_read_sensitive"] == len(expected) > 0
    assert rules["broken_inheritance"] == rules["unreadable"] == 1


def test_ontap_refusing_the_credentials_fails_the_run_and_says_so(
    workflow: WorkflowHarness, resources: ExitStack
) -> None:
    setup, stack = deploy(workflow, resources, files=8)
    setup.simulator.set_password("rotated-and-not-updated")
    topic = stack.watch_topic("FindingsTopic")

    result = stack.run({}, name="denied-1")

    assert result.status == "FAILED"
    assert result.error == "OntapAuthError"
    assert result.states_entered()[-2:] == ["Notify Failure", "Audit Failed"]
    (message,) = topic.messages()
    assert message["Subject"] == "[legal-compliance] audit run failed"
    assert "denied-1" in message["Message"] and "OntapAuthError" in message["Message"]
    assert "rotated-and-not-updated" not in message["Message"]
