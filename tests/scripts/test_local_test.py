"""scripts/local-test.sh without a container engine: the events run in the sandbox instead."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sandbox.scenarios import use_cases

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "local-test.sh"


@pytest.fixture
def no_engine_env(tmp_path: Path) -> dict[str, str]:
    """A PATH whose docker and finch are clients with no engine behind them, as on this machine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for client in ("docker", "finch"):
        stub = bin_dir / client
        stub.write_text("#!/bin/sh\necho 'Cannot connect to the container engine' >&2\nexit 1\n")
        stub.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, check=False)


def test_all_use_cases_run_their_events_in_the_sandbox(no_engine_env: dict[str, str]) -> None:
    result = run(no_engine_env, "all")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "running the same events in the offline sandbox instead" in result.stdout
    assert "0 failed" in result.stdout
    for use_case in use_cases():
        assert use_case in result.stdout


def test_a_failing_event_makes_it_exit_non_zero(no_engine_env: dict[str, str], tmp_path: Path) -> None:
    events = tmp_path / "events" / "legal-compliance"
    events.mkdir(parents=True)
    (events / "discovery.json").write_text(json.dumps({"run_id": "ok-run"}))
    (events / "discovery-missing-run-id.json").write_text(json.dumps({}))

    result = run(no_engine_env, "legal-compliance", "--events", str(tmp_path / "events"))

    assert result.returncode == 1
    assert "1 failed" in result.stdout
    assert "InvalidInputError" in result.stderr


def test_an_unknown_use_case_is_a_usage_error(no_engine_env: dict[str, str]) -> None:
    result = run(no_engine_env, "no-such-use-case")
    assert result.returncode == 2
    assert "no use case no-such-use-case" in result.stderr


def test_help(no_engine_env: dict[str, str]) -> None:
    result = run(no_engine_env, "--help")
    assert result.returncode == 0
    assert "Usage: scripts/local-test.sh" in result.stdout
