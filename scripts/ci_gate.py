"""The gate and the deploy ordering: pure decisions, shared by the Makefile and GitHub Actions.

    python -m scripts.ci_gate lint unit guard security      # run the stages (make test)
    python -m scripts.ci_gate decide --needs-json "$NEEDS"   # the final `gate` job of ci.yml
    python -m scripts.ci_gate may-deploy-production --staging-deploy success --smoke success
    python -m scripts.ci_gate check-deploy-settings          # AWS_DEPLOY_ROLE_ARN, AWS_REGION set?
    python -m scripts.ci_gate use-cases                      # JSON list of */template.yaml folders
    python -m scripts.ci_gate deploy-config --use-case legal-compliance --env staging
    python -m scripts.ci_gate smoke --use-case legal-compliance --stack-name NAME --region REGION

Locally every stage runs even after an earlier one failed, so one run shows everything that is
wrong. GitHub Actions runs the same Makefile targets as separate jobs; its final ``gate`` job hands
the jobs' results to ``decide``, the same decision ``gate_passed`` applies to local stages.

Everything but ``smoke`` uses the standard library only, so the ``gate`` job needs no setup.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess  # nosec B404
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES: dict[str, str] = {
    "lint": "cfn-lint on every template, ruff, mypy, workflows, shellcheck",
    "unit": "pytest + Hypothesis, coverage >= 80 %",
    "guard": "cfn-guard rules on every template after the SAM transform",
    "security": "bandit, pip-audit",
}
PASSED, FAILED = "passed", "failed"
# GitHub Actions job results (needs.<job>.result); only "success" counts as passed.
SUCCESS = "success"
JOB_RESULTS = ("success", "failure", "cancelled", "skipped")
ENVIRONMENTS = ("staging", "production")
SMOKE_DIR = REPO_ROOT / "tests" / "ci" / "smoke"
SAMCONFIG = "samconfig.sample.toml"


@dataclass(frozen=True)
class StageResult:
    name: str
    status: str
    seconds: float


@dataclass(frozen=True)
class Decision:
    passed: bool
    reasons: tuple[str, ...]


def decide(results: Mapping[str, str], required: Iterable[str] = STAGES) -> Decision:
    """The pipeline passes only when every required stage reported ``success``.

    A stage that failed, was cancelled or skipped, or did not report at all fails the pipeline,
    and so does an empty list of required stages (a gate that checks nothing passes nothing).
    """
    wanted = list(required)
    reasons = [
        f"{stage}: {results.get(stage, 'missing')}" for stage in wanted if results.get(stage) != SUCCESS
    ]
    if not wanted:
        reasons.append("no stage to check")
    return Decision(passed=not reasons, reasons=tuple(reasons))


def gate_passed(results: Sequence[StageResult]) -> bool:
    """The local form of ``decide``: there were stages and every one of them passed."""
    job_results = {
        f"{index}:{result.name}": SUCCESS if result.status == PASSED else "failure"
        for index, result in enumerate(results)
    }
    return decide(job_results, job_results).passed


def results_from_needs(needs_json: str) -> dict[str, str]:
    """``{job: result}`` from the ``toJSON(needs)`` of a GitHub Actions job."""
    needs = json.loads(needs_json)
    if not isinstance(needs, dict):
        raise ValueError("needs must be a JSON object of jobs")
    return {
        job: str(value.get("result", "missing")) for job, value in needs.items() if isinstance(value, dict)
    }


def may_deploy_production(staging_deploy: str, smoke: str) -> bool:
    """Production only after the staging deploy and its smoke test both succeeded."""
    return staging_deploy == SUCCESS and smoke == SUCCESS


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


DEPLOY_SETTINGS = {
    "AWS_DEPLOY_ROLE_ARN": "the DeployRoleArn output of shared/cfn/github-oidc.yaml",
    "AWS_CFN_EXECUTION_ROLE_ARN": "the CloudFormationExecutionRoleArn output of shared/cfn/github-oidc.yaml",
    "AWS_REGION": "the region of staging and production, for example ap-northeast-1",
}


def deploy_settings_errors(env: Mapping[str, str]) -> list[str]:
    """What is wrong with the repository variables a deploy needs (empty list: all good)."""
    errors = []
    for name, what in DEPLOY_SETTINGS.items():
        value = env.get(name, "")
        pattern = _REGION if name == "AWS_REGION" else _ROLE_ARN
        if not value:
            errors.append(f"repository variable {name} is not set ({what}; see docs/ci-cd.md)")
        elif not pattern.match(value):
            errors.append(
                f"{name} is not {'a region name' if name == 'AWS_REGION' else 'an IAM role ARN'}: {value!r}"
            )
    return errors


def use_cases(root: Path = REPO_ROOT) -> list[str]:
    """The folders that hold a deployable SAM application (``*/template.yaml``)."""
    return sorted(
        path.parent.name for path in root.glob("*/template.yaml") if not path.parent.name.startswith(".")
    )


@dataclass(frozen=True)
class DeployConfig:
    config_file: Path
    stack_name: str


def deploy_config(use_case: str, env: str, root: Path = REPO_ROOT) -> DeployConfig:
    """Which samconfig file and stack name ``sam deploy --config-env ENV`` uses for a use case.

    A use case's own ``<use-case>/samconfig.sample.toml`` wins over the repository's; in either, the
    ``[ENV.deploy.parameters]`` table must exist. Its ``stack_name`` is used as is in a use case's
    own file; in the shared file it is a prefix, suffixed with the use case (one stack per use case).
    """
    if env not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    own, shared = root / use_case / SAMCONFIG, root / SAMCONFIG
    config_file = own if own.exists() else shared
    if not config_file.exists():
        raise ValueError(f"neither {own.relative_to(root)} nor {SAMCONFIG} exists (see docs/ci-cd.md)")
    with config_file.open("rb") as handle:
        config = tomllib.load(handle)
    parameters = config.get(env, {}).get("deploy", {}).get("parameters")
    if not isinstance(parameters, dict):
        raise ValueError(f"{config_file.relative_to(root)} has no [{env}.deploy.parameters] table")
    configured = str(parameters.get("stack_name", ""))
    if config_file == own and configured:
        return DeployConfig(config_file, configured)
    prefix = configured or "fsxn-s3ap"
    name = f"{prefix}-{use_case}" if configured else f"{prefix}-{use_case}-{env}"
    return DeployConfig(config_file, name)


# --- smoke test: start every state machine of a deployed stack and wait for SUCCEEDED -------------

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def smoke_passed(statuses: Mapping[str, str]) -> bool:
    """The smoke test passes when there was a state machine and every execution SUCCEEDED."""
    return bool(statuses) and all(status == "SUCCEEDED" for status in statuses.values())


def smoke_input(use_case: str, logical_id: str, smoke_dir: Path = SMOKE_DIR) -> str:
    """The input file of one state machine: ``tests/ci/smoke/<use-case>/<LogicalId>.json``."""
    path = smoke_dir / use_case / f"{logical_id}.json"
    if not path.exists():
        shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        raise FileNotFoundError(f"no smoke input for {use_case}/{logical_id}: add {shown}")
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a state machine input must be a JSON object")
    return json.dumps(document)


def state_machines(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """``{logical id: state machine ARN}`` of a deployed stack (nested stacks are not followed)."""
    machines: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::StepFunctions::StateMachine":
                machines[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    return machines


def run_smoke(
    stepfunctions: Any,
    machines: Mapping[str, str],
    inputs: Mapping[str, str],
    run_name: str,
    *,
    timeout_seconds: float = 900,
    poll_seconds: float = 10,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Start every state machine with its input, then wait for each execution to end."""
    executions = {
        logical_id: stepfunctions.start_execution(
            stateMachineArn=arn, name=f"{run_name}-{logical_id}"[:80], input=inputs[logical_id]
        )["executionArn"]
        for logical_id, arn in machines.items()
    }
    statuses = dict.fromkeys(executions, "RUNNING")
    deadline = clock() + timeout_seconds
    while True:
        for logical_id, execution_arn in executions.items():
            if statuses[logical_id] not in TERMINAL:
                statuses[logical_id] = stepfunctions.describe_execution(executionArn=execution_arn)["status"]
        if all(status in TERMINAL for status in statuses.values()) or clock() >= deadline:
            return {
                logical_id: status if status in TERMINAL else "TIMED_OUT_WAITING"
                for logical_id, status in statuses.items()
            }
        sleep(poll_seconds)


def smoke(use_case: str, stack_name: str, region: str, run_name: str, timeout_seconds: float) -> int:
    import boto3  # noqa: PLC0415 - only the smoke test talks to AWS; the decisions stay stdlib-only

    session = boto3.session.Session(region_name=region)
    machines = state_machines(session.client("cloudformation"), stack_name)
    if not machines:
        print(f"smoke: stack {stack_name} has no state machine", file=sys.stderr)
        return 1
    inputs = {logical_id: smoke_input(use_case, logical_id) for logical_id in machines}
    statuses = run_smoke(
        session.client("stepfunctions"), machines, inputs, run_name, timeout_seconds=timeout_seconds
    )
    for logical_id, status in sorted(statuses.items()):
        print(f"smoke: {stack_name} {logical_id}: {status}")
    return 0 if smoke_passed(statuses) else 1


# --- local stage runner -------------------------------------------------------------------------


def run_stage(name: str) -> StageResult:
    started = time.monotonic()
    print(f"\n=== stage {name}: {STAGES[name]}", flush=True)
    # A fixed command naming one of STAGES: no user input reaches it.
    completed = subprocess.run(["make", "--no-print-directory", name], check=False)  # nosec B603 B607
    status = PASSED if completed.returncode == 0 else FAILED
    return StageResult(name, status, time.monotonic() - started)


def table(results: Sequence[StageResult]) -> str:
    lines = [f"{'stage':<10} {'result':<8} {'time':>8}  what", "-" * 78]
    lines += [
        f"{result.name:<10} {result.status:<8} {result.seconds:>7.1f}s  {STAGES[result.name]}"
        for result in results
    ]
    return "\n".join(lines)


def run_stages(names: Sequence[str]) -> int:
    names = list(names) or list(STAGES)
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        print(f"unknown stage(s): {', '.join(unknown)}; stages are {', '.join(STAGES)}", file=sys.stderr)
        return 2
    results = [run_stage(name) for name in names]
    passed = gate_passed(results)
    print("\n" + table(results))
    print(f"\ngate: {'PASSED' if passed else 'FAILED'}")
    return 0 if passed else 1


# --- command line ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.ci_gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    decide_cmd = commands.add_parser("decide", help="pass/fail from the stage jobs' results")
    decide_cmd.add_argument("--needs-json", required=True, help="toJSON(needs) of the gate job")
    decide_cmd.add_argument("--stages", nargs="+", default=list(STAGES), help="jobs that must succeed")
    production = commands.add_parser("may-deploy-production", help="staging deploy and smoke test succeeded?")
    production.add_argument("--staging-deploy", required=True, choices=JOB_RESULTS)
    production.add_argument("--smoke", required=True, choices=JOB_RESULTS)
    commands.add_parser(
        "check-deploy-settings", help="AWS_DEPLOY_ROLE_ARN and AWS_REGION from the environment"
    )
    commands.add_parser("use-cases", help="JSON list of the deployable use cases")
    config = commands.add_parser("deploy-config", help="samconfig file and stack name, as KEY=VALUE lines")
    config.add_argument("--use-case", required=True)
    config.add_argument("--env", required=True, choices=ENVIRONMENTS)
    smoke_cmd = commands.add_parser("smoke", help="start each state machine of a stack, wait for SUCCEEDED")
    smoke_cmd.add_argument("--use-case", required=True)
    smoke_cmd.add_argument("--stack-name", required=True)
    smoke_cmd.add_argument("--region", required=True)
    smoke_cmd.add_argument("--run-name", default=f"smoke-{int(time.time())}")
    smoke_cmd.add_argument("--timeout", type=float, default=900, help="seconds to wait for the executions")
    return parser


def _decide(args: argparse.Namespace) -> int:
    decision = decide(results_from_needs(args.needs_json), args.stages)
    for reason in decision.reasons:
        print(f"gate: stage not successful: {reason}", file=sys.stderr)
    print(f"gate: {'PASSED' if decision.passed else 'FAILED'}")
    return 0 if decision.passed else 1


def _may_deploy_production(args: argparse.Namespace) -> int:
    allowed = may_deploy_production(args.staging_deploy, args.smoke)
    verdict = "allowed" if allowed else "blocked"
    print(f"production: {verdict} (staging deploy {args.staging_deploy}, smoke test {args.smoke})")
    return 0 if allowed else 1


def _check_deploy_settings(_: argparse.Namespace) -> int:
    errors = deploy_settings_errors(os.environ)
    for error in errors:
        print(f"::error::{error}", file=sys.stderr)
    return 1 if errors else 0


def _use_cases(_: argparse.Namespace) -> int:
    print(json.dumps(use_cases()))
    return 0


def _deploy_config(args: argparse.Namespace) -> int:
    try:
        chosen = deploy_config(args.use_case, args.env)
    except ValueError as error:
        print(f"::error::{error}", file=sys.stderr)
        return 1
    print(f"config_file={chosen.config_file}\nstack_name={chosen.stack_name}")
    return 0


def _smoke(args: argparse.Namespace) -> int:
    return smoke(args.use_case, args.stack_name, args.region, args.run_name, args.timeout)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "decide": _decide,
    "may-deploy-production": _may_deploy_production,
    "check-deploy-settings": _check_deploy_settings,
    "use-cases": _use_cases,
    "deploy-config": _deploy_config,
    "smoke": _smoke,
}


def main(argv: Sequence[str]) -> int:
    """Stage names run the local gate (``make test``); anything else is a subcommand."""
    if not argv or argv[0] in STAGES:
        return run_stages(argv)
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
