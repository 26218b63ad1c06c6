"""scripts/dr-*.sh against a fake `aws` (tests/scripts/fake_aws_dr.py) and a fake `sam` on PATH.

Each runbook step is checked for the exact calls it makes, what it changes (and that --dry-run
changes nothing), its refusals, and its agreement with the Python it mirrors: the override item
dr-failover.sh writes is read by shared.region_role, dr-status.sh decides as decide_role does, the
event dr-redrive-callbacks.sh delivers is the one the callback expects, and dr-deploy-region.sh
names stacks with shared.naming.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.inference import TRANSFORM_EVENT_SOURCE, TRANSFORM_EVENT_TYPE
from shared.naming import ResourceKind, global_name, stack_name
from shared.region_role import STATUS_KEY_ATTRIBUTE, Health, RegionStatusTable, decide_role

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO_ROOT / "scripts").glob("dr-*.sh"))
FAKE_AWS = Path(__file__).with_name("fake_aws_dr.py")
PRIMARY = "ap-northeast-1"
SECONDARY = "us-east-1"
DEPLOYMENT = "legal-prod"
HEALTH_CHECK = "0b3f6c2e-8d4a-4e55-9a1b-2c3d4e5f6a7b"
STATUS_TABLE = global_name(DEPLOYMENT, ResourceKind.TABLE, "region-status")
TOKEN_TABLE = global_name(DEPLOYMENT, ResourceKind.TABLE, "task-tokens")
CALLBACK = "legal-prod-us-east-1-batch-SageMakerCallbackFunction-ABC"
HEALTHY = ["Success: HTTP Status Code 200, OK"] * 7 + ["Failure: Connection timed out"]
UNHEALTHY = ["Failure: Connection timed out"] * 8


def override_item(region: str) -> dict[str, Any]:
    return {
        "key": {"S": "override"},
        "active_region": {"S": region},
        "reason": {"S": "INC-1"},
        "actor": {"S": "oncall"},
        "set_at": {"N": "1800000000"},
    }


def token_item(job: str, execution_region: str, status: str) -> dict[str, Any]:
    return {
        "correlation_id": {"S": job.rsplit("-", maxsplit=1)[-1]},
        "job_name": {"S": job},
        "execution_region": {"S": execution_region},
        "status": {"S": status},
    }


class Fakes:
    def __init__(self, tmp_path: Path) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        # The interpreter itself, not a shim that resolves one on every call (dozens per test).
        aws = bin_dir / "aws"
        aws.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AWS}" "$@"\n')
        aws.chmod(0o755)
        self.sam_calls = tmp_path / "sam-calls.log"
        sam = bin_dir / "sam"
        sam.write_text(f'#!/usr/bin/env bash\necho "$PWD $*" >> {self.sam_calls}\n')
        sam.chmod(0o755)
        self.state_path = tmp_path / "state.json"
        self.calls_path = tmp_path / "calls.log"
        self.state_path.write_text(
            json.dumps(
                {
                    "tables": {
                        STATUS_TABLE: {
                            "regions": [PRIMARY, SECONDARY],
                            "key": "key",
                            "status": {},
                            "items": {},
                        },
                        TOKEN_TABLE: {
                            "regions": [PRIMARY, SECONDARY],
                            "key": "correlation_id",
                            "status": {},
                            "items": {},
                        },
                    },
                    "health_checks": {HEALTH_CHECK: {"inverted": False, "observations": HEALTHY}},
                    "metrics": {HEALTH_CHECK: 1.0},
                    "jobs": {},
                    "lambda": {f"{SECONDARY}/{CALLBACK}": {"action": "notified"}},
                }
            )
        )
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_AWS_STATE": str(self.state_path),
            "FAKE_AWS_CALLS": str(self.calls_path),
            "SAM": str(sam),
            "PYTHON": sys.executable,
            "DR_VERIFY_ATTEMPTS": "1",
            "USER": "oncall",
        }

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls_path.write_text("")
        return subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / script), *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )

    @property
    def calls(self) -> list[str]:
        return self.calls_path.read_text().splitlines()

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text())

    def update(self, change: Any) -> None:
        state = self.state
        change(state)
        self.state_path.write_text(json.dumps(state))

    def items(self, table: str, region: str) -> dict[str, Any]:
        return self.state["tables"][table]["items"].get(region, {})

    def changing_calls(self) -> list[str]:
        verbs = ("put-item", "delete-item", "update-health-check", "lambda invoke")
        return [call for call in self.calls if any(verb in call for verb in verbs)]


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path)


# --- every script ---------------------------------------------------------------------------------


def test_there_is_a_script_per_executable_runbook_step() -> None:
    assert [path.name for path in SCRIPTS] == [
        "dr-deploy-region.sh",
        "dr-failback.sh",
        "dr-failover.sh",
        "dr-redrive-callbacks.sh",
        "dr-status.sh",
    ]


def test_scripts_are_shellcheck_clean_strict_and_executable() -> None:
    shellcheck = REPO_ROOT / ".venv" / "bin" / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), "--external-sources", *map(str, SCRIPTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    for path in SCRIPTS:
        text = path.read_text()
        assert text.startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in text
        assert "--dry-run" in text
        assert os.access(path, os.X_OK), path


@pytest.mark.parametrize("script", [path.name for path in SCRIPTS])
def test_help_and_missing_arguments(fakes: Fakes, script: str) -> None:
    help_ = fakes.run(script, "--help")
    assert help_.returncode == 0
    assert help_.stdout.startswith("Usage: scripts/")
    assert "--dry-run" in help_.stdout

    missing = fakes.run(script)
    assert missing.returncode == 2
    assert "Usage:" in missing.stderr
    assert fakes.calls == []

    unknown = fakes.run(script, "--frobnicate")
    assert unknown.returncode != 0
    assert "--frobnicate" in unknown.stderr


# --- dr-failover.sh ---------------------------------------------------------------------------


def failover(fakes: Fakes, *extra: str) -> subprocess.CompletedProcess[str]:
    return fakes.run(
        "dr-failover.sh",
        "--deployment",
        DEPLOYMENT,
        "--to",
        SECONDARY,
        "--reason",
        "INC-1 primary down",
        *extra,
    )


def test_failover_writes_the_override_in_the_target_region_and_verifies_it(fakes: Fakes) -> None:
    result = failover(fakes)

    assert result.returncode == 0, result.stderr
    assert f"{SECONDARY} is the active region" in result.stdout
    item = fakes.items(STATUS_TABLE, SECONDARY)["override"]
    assert {key: value for key, value in item.items() if key != "set_at"} == {
        "key": {"S": "override"},
        "active_region": {"S": SECONDARY},
        "reason": {"S": "INC-1 primary down"},
        "actor": {"S": "oncall"},
    }
    assert int(item["set_at"]["N"]) > 1_700_000_000
    assert fakes.calls[0].startswith(f"dynamodb put-item --region {SECONDARY} --table-name {STATUS_TABLE} ")
    assert fakes.calls[1].startswith(f"dynamodb get-item --region {SECONDARY} --table-name {STATUS_TABLE} ")
    assert not fakes.state["health_checks"][HEALTH_CHECK]["inverted"]


def test_the_item_the_script_writes_is_the_one_the_guard_reads(fakes: Fakes) -> None:
    assert failover(fakes).returncode == 0
    written = fakes.items(STATUS_TABLE, SECONDARY)["override"]
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=SECONDARY)
        dynamodb.create_table(
            TableName=STATUS_TABLE,
            AttributeDefinitions=[{"AttributeName": STATUS_KEY_ATTRIBUTE, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": STATUS_KEY_ATTRIBUTE, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName=STATUS_TABLE, Item=written)
        assert RegionStatusTable(STATUS_TABLE, dynamodb=dynamodb).active_override() == SECONDARY
        # and the Python writer produces the same attributes
        RegionStatusTable(STATUS_TABLE, dynamodb=dynamodb).set_override(SECONDARY, reason="r", actor="a")
        python_item = dynamodb.get_item(TableName=STATUS_TABLE, Key={"key": {"S": "override"}})["Item"]
        assert set(python_item) == set(written)


def test_failover_can_fail_dns_over_too(fakes: Fakes) -> None:
    result = failover(fakes, "--invert-health-check", HEALTH_CHECK)
    assert result.returncode == 0, result.stderr
    assert fakes.state["health_checks"][HEALTH_CHECK]["inverted"]
    assert any(
        call.startswith(f"route53 update-health-check --health-check-id {HEALTH_CHECK} --inverted")
        for call in fakes.calls
    )


def test_failover_dry_run_changes_nothing(fakes: Fakes) -> None:
    result = failover(fakes, "--invert-health-check", HEALTH_CHECK, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert fakes.calls == []
    assert "[dry-run] aws dynamodb put-item" in result.stdout
    assert "[dry-run] aws route53 update-health-check" in result.stdout
    assert "dry run: nothing was changed" in result.stdout
    assert fakes.items(STATUS_TABLE, SECONDARY) == {}


def test_failover_fails_when_the_override_does_not_read_back(fakes: Fakes) -> None:
    fakes.update(lambda state: state["tables"].pop(STATUS_TABLE))
    result = failover(fakes)
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "tokyo", "--reason", "x"], "not an AWS region"),
        (["--to", SECONDARY, "--reason", 'x"; rm -rf /'], "--reason may use"),
        (["--to", SECONDARY, "--reason", "ok", "--actor", "$(whoami)"], "--actor may use"),
    ],
)
def test_failover_refuses_bad_input(fakes: Fakes, args: list[str], message: str) -> None:
    result = fakes.run("dr-failover.sh", "--deployment", DEPLOYMENT, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert fakes.calls == []


def test_failover_refuses_an_invalid_deployment(fakes: Fakes) -> None:
    result = fakes.run("dr-failover.sh", "--deployment", "Legal_Prod", "--to", SECONDARY, "--reason", "x")
    assert result.returncode == 1
    assert "invalid --deployment" in result.stderr


# --- dr-failback.sh ---------------------------------------------------------------------------


def failback(fakes: Fakes, *extra: str) -> subprocess.CompletedProcess[str]:
    return fakes.run(
        "dr-failback.sh",
        "--deployment",
        DEPLOYMENT,
        "--primary-region",
        PRIMARY,
        "--secondary-region",
        SECONDARY,
        "--health-check-id",
        HEALTH_CHECK,
        *extra,
    )


@pytest.fixture
def failed_over(fakes: Fakes) -> Fakes:
    assert failover(fakes, "--invert-health-check", HEALTH_CHECK).returncode == 0
    return fakes


def test_failback_uninverts_removes_the_override_everywhere_and_verifies(failed_over: Fakes) -> None:
    result = failback(failed_over)

    assert result.returncode == 0, result.stderr
    assert "7/8 Route 53 checkers" in result.stdout
    assert not failed_over.state["health_checks"][HEALTH_CHECK]["inverted"]
    assert failed_over.items(STATUS_TABLE, PRIMARY) == {}
    assert failed_over.items(STATUS_TABLE, SECONDARY) == {}
    assert f"dynamodb delete-item --region {PRIMARY} --table-name {STATUS_TABLE} --key" in " ".join(
        failed_over.calls
    )
    assert "no override left" in result.stdout


def test_failback_refuses_while_the_primary_is_unhealthy(failed_over: Fakes) -> None:
    failed_over.update(lambda state: state["health_checks"][HEALTH_CHECK].update(observations=UNHEALTHY))
    result = failback(failed_over)
    assert result.returncode == 1
    assert "not healthy yet" in result.stderr
    assert "refusing to fail back" in result.stderr
    assert failed_over.changing_calls() == []
    assert failed_over.items(STATUS_TABLE, SECONDARY)["override"]["active_region"] == {"S": SECONDARY}


def test_failback_refuses_while_the_primary_replica_is_not_active(failed_over: Fakes) -> None:
    failed_over.update(lambda state: state["tables"][TOKEN_TABLE]["status"].update({PRIMARY: "UPDATING"}))
    result = failback(failed_over)
    assert result.returncode == 1
    assert f"{TOKEN_TABLE} is UPDATING" in result.stderr


def test_failback_force_overrides_the_checks(failed_over: Fakes) -> None:
    failed_over.update(lambda state: state["health_checks"][HEALTH_CHECK].update(observations=UNHEALTHY))
    result = failback(failed_over, "--force")
    assert result.returncode == 0, result.stderr
    assert "--force given" in result.stdout
    assert failed_over.items(STATUS_TABLE, PRIMARY) == {}


def test_failback_dry_run_checks_but_changes_nothing(failed_over: Fakes) -> None:
    result = failback(failed_over, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert failed_over.changing_calls() == []
    assert "[dry-run] aws route53 update-health-check" in result.stdout
    assert "[dry-run] aws dynamodb delete-item" in result.stdout
    assert failed_over.state["health_checks"][HEALTH_CHECK]["inverted"]


def test_failback_detects_an_override_left_behind(failed_over: Fakes) -> None:
    failed_over.update(lambda state: state["tables"][STATUS_TABLE].update(replicate=False))
    result = failback(failed_over)
    assert result.returncode == 1
    assert f"{SECONDARY} still holds an override for {SECONDARY}" in result.stderr


# --- dr-status.sh -----------------------------------------------------------------------------


def status(fakes: Fakes, *extra: str) -> subprocess.CompletedProcess[str]:
    return fakes.run(
        "dr-status.sh",
        "--deployment",
        DEPLOYMENT,
        "--primary-region",
        PRIMARY,
        "--secondary-region",
        SECONDARY,
        "--health-check-id",
        HEALTH_CHECK,
        *extra,
    )


METRIC_HEALTH = {1.0: Health.HEALTHY, 0.0: Health.UNHEALTHY, None: Health.UNKNOWN}


@pytest.mark.parametrize("metric", [1.0, 0.0, None])
@pytest.mark.parametrize("override", [None, PRIMARY, SECONDARY])
def test_status_decides_as_the_guard_does(fakes: Fakes, metric: float | None, override: str | None) -> None:
    def arrange(state: dict[str, Any]) -> None:
        state["metrics"][HEALTH_CHECK] = metric
        if override:
            for region in (PRIMARY, SECONDARY):
                state["tables"][STATUS_TABLE]["items"][region] = {"override": override_item(override)}

    fakes.update(arrange)
    result = status(fakes)

    assert result.returncode == 0, result.stderr
    expected = decide_role(PRIMARY, PRIMARY, SECONDARY, METRIC_HEALTH[metric], override)
    assert f"active region: {expected.active_region}" in result.stdout
    rows = {
        line.split()[0]: line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("ap-", "us-"))
    }
    for region in (PRIMARY, SECONDARY):
        decision = decide_role(region, PRIMARY, SECONDARY, METRIC_HEALTH[metric], override)
        assert rows[region][1] == decision.role.value
        assert rows[region][3] == decision.reason


def test_status_counts_in_flight_tokens_and_reads_the_route53_metric(fakes: Fakes) -> None:
    fakes.update(
        lambda state: state["tables"][TOKEN_TABLE]["items"].update(
            {
                PRIMARY: {
                    "a": token_item("scoring-a", PRIMARY, "STARTED"),
                    "b": token_item("scoring-b", PRIMARY, "CALLED_BACK"),
                },
                SECONDARY: {},
            }
        )
    )
    result = status(fakes)
    rows = {
        line.split()[0]: line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("ap-", "us-"))
    }
    assert rows[PRIMARY][4:] == ["1", "ACTIVE"]
    assert rows[SECONDARY][4:] == ["0", "ACTIVE"]
    metric_call = next(call for call in fakes.calls if "get-metric-statistics" in call)
    assert "--region us-east-1 --namespace AWS/Route53 --metric-name HealthCheckStatus" in metric_call
    assert f"--dimensions Name=HealthCheckId,Value={HEALTH_CHECK}" in metric_call


def test_status_warns_when_the_regions_disagree(fakes: Fakes) -> None:
    fakes.update(
        lambda state: state["tables"][STATUS_TABLE]["items"].update(
            {SECONDARY: {"override": override_item(SECONDARY)}}
        )
    )
    result = status(fakes)
    assert result.returncode == 3
    assert "disagree" in result.stderr


def test_status_dry_run_reads_nothing(fakes: Fakes) -> None:
    result = status(fakes, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert fakes.calls == []
    assert "[dry-run] aws cloudwatch get-metric-statistics" in result.stderr
    assert "dry run: nothing was read" in result.stdout


# --- dr-redrive-callbacks.sh ------------------------------------------------------------------

JOB_DONE = "scoring-" + "a" * 32
JOB_RUNNING = "scoring-" + "b" * 32
JOB_CALLED_BACK = "scoring-" + "c" * 32


@pytest.fixture
def parked(fakes: Fakes) -> Iterator[Fakes]:
    def arrange(state: dict[str, Any]) -> None:
        state["tables"][TOKEN_TABLE]["items"][SECONDARY] = {
            "a": token_item(JOB_DONE, PRIMARY, "STARTED"),
            "b": token_item(JOB_RUNNING, PRIMARY, "STARTED"),
            "c": token_item(JOB_CALLED_BACK, PRIMARY, "CALLED_BACK"),
        }
        for job, job_status in (
            (JOB_DONE, "Completed"),
            (JOB_RUNNING, "InProgress"),
            (JOB_CALLED_BACK, "Completed"),
        ):
            state["jobs"][f"{PRIMARY}/{job}"] = {
                "TransformJobName": job,
                "TransformJobArn": f"arn:aws:sagemaker:{PRIMARY}:123456789012:transform-job/{job}",
                "TransformJobStatus": job_status,
                "TransformOutput": {"S3OutputPath": f"s3://runs/runs/{job}/batch-transform/output/"},
            }

    fakes.update(arrange)
    yield fakes


def redrive(fakes: Fakes, *extra: str) -> subprocess.CompletedProcess[str]:
    return fakes.run(
        "dr-redrive-callbacks.sh",
        "--deployment",
        DEPLOYMENT,
        "--region",
        SECONDARY,
        "--callback-function",
        CALLBACK,
        *extra,
    )


def test_redrive_delivers_each_ended_job_to_the_healthy_regions_callback(parked: Fakes) -> None:
    result = redrive(parked)

    assert result.returncode == 0, result.stderr
    assert "1 delivered, 1 still running" in result.stdout
    assert f"skip     {JOB_RUNNING} ({PRIMARY}): InProgress" in result.stdout
    (invocation,) = parked.state["invocations"]
    assert (invocation["region"], invocation["function"]) == (SECONDARY, CALLBACK)
    event = invocation["payload"]
    assert (event["detail-type"], event["source"], event["region"]) == (
        TRANSFORM_EVENT_TYPE,
        TRANSFORM_EVENT_SOURCE,
        PRIMARY,
    )
    assert event["detail"] == parked.state["jobs"][f"{PRIMARY}/{JOB_DONE}"]
    # SageMaker is asked in the execution's region, where the job runs
    assert any(
        call.startswith(f"sagemaker describe-transform-job --region {PRIMARY}") for call in parked.calls
    )


def test_redrive_dry_run_invokes_nothing(parked: Fakes) -> None:
    result = redrive(parked, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "invocations" not in parked.state
    assert (
        f"[dry-run] aws lambda invoke --region {SECONDARY} --function-name {CALLBACK} ({JOB_DONE}: Completed)"
        in (result.stdout)
    )


def test_redrive_stops_when_the_callback_fails(parked: Fakes) -> None:
    parked.update(
        lambda state: state["lambda"].update({f"{SECONDARY}/{CALLBACK}": {"errorType": "TaskTokenError"}})
    )
    result = redrive(parked)
    assert result.returncode == 1
    assert "the callback failed" in result.stderr


# --- dr-deploy-region.sh ----------------------------------------------------------------------


def sam_calls(fakes: Fakes) -> list[str]:
    return fakes.sam_calls.read_text().splitlines() if fakes.sam_calls.exists() else []


def test_deploy_region_uses_the_regional_stack_name(fakes: Fakes) -> None:
    result = fakes.run(
        "dr-deploy-region.sh",
        "legal-compliance",
        "--deployment",
        DEPLOYMENT,
        "--region",
        SECONDARY,
        "--parameter",
        "EnableMultiRegion=true",
    )

    assert result.returncode == 0, result.stderr
    build, deploy = sam_calls(fakes)
    assert build == f"{REPO_ROOT / 'legal-compliance'} build --region {SECONDARY}"
    assert (
        f"deploy --stack-name {stack_name(DEPLOYMENT, SECONDARY)} --region {SECONDARY} --resolve-s3" in deploy
    )
    assert deploy.endswith("--parameter-overrides EnableMultiRegion=true")
    assert stack_name(DEPLOYMENT, SECONDARY) == "legal-prod-us-east-1"


def test_deploy_region_dry_run_runs_nothing(fakes: Fakes) -> None:
    result = fakes.run(
        "dr-deploy-region.sh",
        "legal-compliance",
        "--deployment",
        DEPLOYMENT,
        "--region",
        PRIMARY,
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert sam_calls(fakes) == []
    assert f"--stack-name {stack_name(DEPLOYMENT, PRIMARY)}" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-use-case", "--deployment", DEPLOYMENT, "--region", PRIMARY], "no use case"),
        (["legal-compliance", "--deployment", DEPLOYMENT, "--region", "mars"], "not an AWS region"),
        (["legal-compliance", "--deployment", "X", "--region", PRIMARY], "invalid --deployment"),
        (
            ["legal-compliance", "--deployment", DEPLOYMENT, "--region", PRIMARY, "--parameter", "oops"],
            "KEY=VALUE",
        ),
    ],
)
def test_deploy_region_refuses_bad_input(fakes: Fakes, args: list[str], message: str) -> None:
    result = fakes.run("dr-deploy-region.sh", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert sam_calls(fakes) == []
