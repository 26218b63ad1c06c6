"""The gate and deploy-ordering decisions of scripts/ci_gate.py, and its command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import ci_gate
from scripts.cfn_templates import REPO_ROOT, load_template
from scripts.ci_gate import (
    STAGES,
    DeployConfig,
    StageResult,
    decide,
    deploy_config,
    deploy_settings_errors,
    gate_passed,
    may_deploy_production,
    results_from_needs,
    run_smoke,
    smoke_input,
    smoke_passed,
    state_machines,
    use_cases,
)

ALL_SUCCESS = dict.fromkeys(STAGES, "success")


# --- decide / gate_passed -------------------------------------------------------------------------


def test_every_stage_succeeded_passes() -> None:
    assert decide(ALL_SUCCESS) == ci_gate.Decision(passed=True, reasons=())


@pytest.mark.parametrize("result", ["failure", "cancelled", "skipped"])
def test_one_unsuccessful_stage_fails_and_is_named(result: str) -> None:
    decision = decide({**ALL_SUCCESS, "guard": result})
    assert not decision.passed
    assert decision.reasons == (f"guard: {result}",)


def test_a_stage_that_did_not_report_fails() -> None:
    results = {stage: "success" for stage in STAGES if stage != "security"}
    assert decide(results).reasons == ("security: missing",)


def test_no_required_stage_is_not_a_pass() -> None:
    assert not decide({}, required=[]).passed


def test_extra_jobs_do_not_matter() -> None:
    assert decide({**ALL_SUCCESS, "docs": "failure"}).passed


def test_local_gate_uses_the_same_decision() -> None:
    assert gate_passed([StageResult(name, "passed", 1.0) for name in STAGES])
    assert not gate_passed([StageResult("lint", "passed", 1.0), StageResult("unit", "failed", 1.0)])
    assert not gate_passed([])
    # the same stage twice: both runs count
    assert not gate_passed([StageResult("lint", "passed", 1.0), StageResult("lint", "failed", 1.0)])


def test_results_from_the_needs_context() -> None:
    needs = {"lint": {"result": "success", "outputs": {}}, "unit": {"result": "failure", "outputs": {}}}
    assert results_from_needs(json.dumps(needs)) == {"lint": "success", "unit": "failure"}
    with pytest.raises(ValueError, match="JSON object"):
        results_from_needs("[]")


# --- deploy ordering ------------------------------------------------------------------------------


def test_production_needs_both_staging_deploy_and_smoke_success() -> None:
    assert may_deploy_production("success", "success")
    assert not may_deploy_production("success", "failure")
    assert not may_deploy_production("success", "skipped")
    assert not may_deploy_production("failure", "success")
    assert not may_deploy_production("cancelled", "cancelled")


def test_deploy_settings_are_checked() -> None:
    good = {
        "AWS_DEPLOY_ROLE_ARN": "arn:aws:iam::123456789012:role/github-oidc-DeployRole-ABC",
        "AWS_CFN_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/github-oidc-Exec-ABC",
        "AWS_REGION": "ap-northeast-1",
    }
    assert deploy_settings_errors(good) == []
    errors = deploy_settings_errors({})
    assert len(errors) == 3
    assert all("is not set" in error for error in errors)
    bad = {**good, "AWS_DEPLOY_ROLE_ARN": "admin", "AWS_REGION": "tokyo"}
    assert [error.split(" ")[0] for error in deploy_settings_errors(bad)] == [
        "AWS_DEPLOY_ROLE_ARN",
        "AWS_REGION",
    ]


def test_use_cases_are_the_template_folders(tmp_path: Path) -> None:
    for name in ("b-case", "a-case", ".hidden"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "template.yaml").write_text("Resources: {}\n")
    (tmp_path / "docs").mkdir()
    assert use_cases(tmp_path) == ["a-case", "b-case"]
    assert "legal-compliance" in use_cases()


def _samconfig(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


def test_deploy_config_prefers_the_use_cases_own_samconfig(tmp_path: Path) -> None:
    _samconfig(
        tmp_path / "samconfig.sample.toml", 'version = 0.1\n[staging.deploy.parameters]\nstack_name = "x"\n'
    )
    own = tmp_path / "uc" / "samconfig.sample.toml"
    _samconfig(own, 'version = 0.1\n[staging.deploy.parameters]\nstack_name = "uc-staging"\n')
    assert deploy_config("uc", "staging", tmp_path) == DeployConfig(own, "uc-staging")


def test_shared_samconfig_stack_name_is_a_prefix(tmp_path: Path) -> None:
    shared = tmp_path / "samconfig.sample.toml"
    _samconfig(
        shared,
        'version = 0.1\n[staging.deploy.parameters]\nstack_name = "fsxn-s3ap-staging"\n'
        "[production.deploy.parameters]\nregion = 'ap-northeast-1'\n",
    )
    assert deploy_config("uc", "staging", tmp_path) == DeployConfig(shared, "fsxn-s3ap-staging-uc")
    assert deploy_config("uc", "production", tmp_path) == DeployConfig(shared, "fsxn-s3ap-uc-production")


def test_deploy_config_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"neither uc/samconfig\.sample\.toml nor samconfig\.sample\.toml"):
        deploy_config("uc", "staging", tmp_path)
    _samconfig(tmp_path / "samconfig.sample.toml", "version = 0.1\n[default.deploy.parameters]\n")
    with pytest.raises(ValueError, match=r"no \[staging\.deploy\.parameters\] table"):
        deploy_config("uc", "staging", tmp_path)
    with pytest.raises(ValueError, match="environment must be one of"):
        deploy_config("uc", "dev", tmp_path)


# --- smoke test -----------------------------------------------------------------------------------


class FakeCloudFormation:
    def __init__(self, resources: list[dict[str, str]]) -> None:
        self.resources = resources

    def get_paginator(self, name: str) -> FakeCloudFormation:
        assert name == "list_stack_resources"
        return self

    def paginate(self, StackName: str) -> list[dict[str, Any]]:
        half = len(self.resources) // 2
        return [
            {"StackResourceSummaries": self.resources[:half]},
            {"StackResourceSummaries": self.resources[half:]},
        ]


class FakeStepFunctions:
    """Executions that report RUNNING a given number of times, then a final status."""

    def __init__(self, final: dict[str, str], polls_before_done: int = 1) -> None:
        self.final = final
        self.polls_before_done = polls_before_done
        self.started: list[dict[str, str]] = []
        self.polls: dict[str, int] = {}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        self.started.append({"stateMachineArn": stateMachineArn, "name": name, "input": input})
        return {"executionArn": f"{stateMachineArn}:exec:{name}"}

    def describe_execution(self, executionArn: str) -> dict[str, str]:
        self.polls[executionArn] = self.polls.get(executionArn, 0) + 1
        machine = executionArn.split(":exec:", maxsplit=1)[0]
        if self.polls[executionArn] <= self.polls_before_done:
            return {"status": "RUNNING"}
        return {"status": self.final[machine]}


def test_state_machines_of_a_stack() -> None:
    resources = [
        {"ResourceType": "AWS::Lambda::Function", "LogicalResourceId": "Fn", "PhysicalResourceId": "fn"},
        {
            "ResourceType": "AWS::StepFunctions::StateMachine",
            "LogicalResourceId": "A",
            "PhysicalResourceId": "arn:a",
        },
        {
            "ResourceType": "AWS::StepFunctions::StateMachine",
            "LogicalResourceId": "B",
            "PhysicalResourceId": "arn:b",
        },
    ]
    assert state_machines(FakeCloudFormation(resources), "stack") == {"A": "arn:a", "B": "arn:b"}


def test_smoke_starts_each_machine_with_its_input_and_waits() -> None:
    stepfunctions = FakeStepFunctions({"arn:a": "SUCCEEDED", "arn:b": "SUCCEEDED"}, polls_before_done=2)
    sleeps: list[float] = []
    statuses = run_smoke(
        stepfunctions,
        {"A": "arn:a", "B": "arn:b"},
        {"A": '{"a": 1}', "B": "{}"},
        "smoke-1",
        poll_seconds=5,
        sleep=sleeps.append,
    )
    assert statuses == {"A": "SUCCEEDED", "B": "SUCCEEDED"}
    assert stepfunctions.started == [
        {"stateMachineArn": "arn:a", "name": "smoke-1-A", "input": '{"a": 1}'},
        {"stateMachineArn": "arn:b", "name": "smoke-1-B", "input": "{}"},
    ]
    assert sleeps == [5, 5]
    assert smoke_passed(statuses)


def test_smoke_fails_on_a_failed_execution_or_a_timeout() -> None:
    failed = run_smoke(
        FakeStepFunctions({"arn:a": "FAILED"}, polls_before_done=0),
        {"A": "arn:a"},
        {"A": "{}"},
        "r",
        sleep=lambda _: None,
    )
    assert failed == {"A": "FAILED"}
    assert not smoke_passed(failed)
    ticks = iter(range(0, 10_000, 100))
    waiting = run_smoke(
        FakeStepFunctions({"arn:a": "SUCCEEDED"}, polls_before_done=10**6),
        {"A": "arn:a"},
        {"A": "{}"},
        "r",
        timeout_seconds=300,
        clock=lambda: next(ticks),
        sleep=lambda _: None,
    )
    assert waiting == {"A": "TIMED_OUT_WAITING"}
    assert not smoke_passed(waiting)
    assert not smoke_passed({})


def test_smoke_inputs_are_json_objects(tmp_path: Path) -> None:
    (tmp_path / "uc").mkdir()
    (tmp_path / "uc" / "Machine.json").write_text('{"k": "v"}')
    (tmp_path / "uc" / "List.json").write_text("[1]")
    assert json.loads(smoke_input("uc", "Machine", tmp_path)) == {"k": "v"}
    with pytest.raises(ValueError, match="JSON object"):
        smoke_input("uc", "List", tmp_path)
    with pytest.raises(FileNotFoundError, match="no smoke input for uc/Missing"):
        smoke_input("uc", "Missing", tmp_path)


@pytest.mark.parametrize("use_case", use_cases())
def test_every_state_machine_of_every_use_case_has_a_smoke_input(use_case: str) -> None:
    # The staging smoke test starts each deployed state machine with tests/ci/smoke/<use-case>/<id>.json.
    resources = load_template(REPO_ROOT / use_case / "template.yaml")["Resources"]
    machines = [
        name
        for name, resource in resources.items()
        if resource["Type"] in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
    ]
    assert machines, f"{use_case} has no state machine to smoke-test"
    for machine in machines:
        assert isinstance(json.loads(smoke_input(use_case, machine)), dict)


# --- command line (plain python3, as the gate job runs it) ----------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.ci_gate", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_cli_decide_reads_the_needs_context() -> None:
    needs = {stage: {"result": "success", "outputs": {}} for stage in STAGES}
    passed = _cli("decide", "--needs-json", json.dumps(needs))
    assert passed.returncode == 0 and "gate: PASSED" in passed.stdout
    needs["unit"]["result"] = "failure"
    failed = _cli("decide", "--needs-json", json.dumps(needs))
    assert failed.returncode == 1
    assert "unit: failure" in failed.stderr


def test_cli_may_deploy_production() -> None:
    assert _cli("may-deploy-production", "--staging-deploy", "success", "--smoke", "success").returncode == 0
    blocked = _cli("may-deploy-production", "--staging-deploy", "success", "--smoke", "failure")
    assert blocked.returncode == 1 and "blocked" in blocked.stdout


def test_cli_check_deploy_settings_fails_early_with_a_clear_message() -> None:
    result = _cli("check-deploy-settings", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "::error::repository variable AWS_DEPLOY_ROLE_ARN is not set" in result.stderr


def test_cli_use_cases_and_unknown_stage() -> None:
    assert json.loads(_cli("use-cases").stdout) == use_cases()
    assert _cli("lint", "nope").returncode == 2
