"""`python -m sandbox`: run, demo and serve, as a user types them (no AWS account, no Docker)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from sandbox import cli, scenarios
from sandbox.aws import SandboxWorld
from sandbox.scenarios import RunOptions, RunPlan
from sandbox.scenarios.legal_compliance import LegalComplianceScenario
from sandbox.serve import serve


def test_run_prints_the_execution_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["run", "legal-compliance", "--files", "12", "--seed", "3"])

    printed = capsys.readouterr().out
    assert status == 0
    assert "Discover Files" in printed
    assert "runs/legal-compliance-baseline-3/manifest.json" in printed
    assert "files discovered: 12" in printed
    assert "SUCCEEDED" in printed
    # Function output went to the log file, not to the terminal.
    assert '"level":"INFO"' not in printed
    assert "discovery finished" in (cli.LOGS_DIR / "legal-compliance.log").read_text()


def test_demo_runs_every_use_case_and_prints_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["demo", "--files", "5"])

    printed = capsys.readouterr().out
    assert status == 0
    assert "make demo: every use case, offline" in printed
    for use_case in scenarios.use_cases():
        assert use_case in printed


class _MissingAccessPoint(LegalComplianceScenario):
    """The access point the template names does not exist (its bucket is never created)."""

    def prepare(self, world: SandboxWorld, resources: ExitStack, options: RunOptions) -> RunPlan:
        plan = super().prepare(world, resources, options)
        return RunPlan(
            parameters={**plan.parameters, "AccessPointAlias": "missing-sbx0a1b2c3d4e5f6g7h8-ext-s3alias"},
            files=plan.files,
        )


def test_a_failed_execution_exits_non_zero_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "scenario_for", lambda use_case: _MissingAccessPoint())

    status = cli.main(["run", "legal-compliance", "--files", "2"])

    printed = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in printed
    assert "S3AccessError" in printed


def test_serve_exposes_the_deployed_world_to_http_clients(tmp_path: Path) -> None:
    # Given `python -m sandbox serve legal-compliance` running
    env_dir = tmp_path / "out"
    stop = threading.Event()
    options = RunOptions(files=3, seed=1)
    thread = threading.Thread(
        target=serve,
        args=(["legal-compliance"], options),
        kwargs={"host": "127.0.0.1", "port": 0, "env_dir": env_dir, "console": Console(), "stop": stop},
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not (env_dir / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        sections = json.loads((env_dir / "legal-compliance" / "env.json").read_text())
        # When a function is invoked the way sam local invoke's container would reach AWS
        variables = sections["DiscoveryFunction"]
        endpoint = variables["AWS_ENDPOINT_URL"]
        s3 = boto3.client("s3", endpoint_url=endpoint)
        listed = s3.list_objects_v2(Bucket=variables["ACCESS_POINT"])
        lambda_client = boto3.client("lambda", endpoint_url=endpoint)
        functions = {f["FunctionName"] for f in lambda_client.list_functions()["Functions"]}
        # Then the env file carries the resolved environment and the server shows the world
        assert variables["OUTPUT_BUCKET"].startswith("legal-compliance-outputbucket-")
        assert listed["KeyCount"] == 3
        assert any("DiscoveryFunction" in name for name in functions)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
