"""scripts/enable-snapstart.sh against a fake `aws` on PATH: exact calls, idempotency, dry run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "enable-snapstart.sh"
FAKE_AWS = Path(__file__).with_name("fake_aws.py")
STACK = "legal-compliance-staging"
FUNCTIONS = ("legal-compliance-staging-DiscoveryFunction-AbC", "legal-compliance-staging-AuditFunction-DeF")
STATE_CHANGING = ("update-function-configuration", "publish-version", "create-alias", "update-alias")


class FakeAws:
    def __init__(self, tmp_path: Path, runtime: str = "python3.13") -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "aws").symlink_to(FAKE_AWS)
        self.state_path = tmp_path / "state.json"
        self.calls_path = tmp_path / "calls.log"
        functions = {
            name: {"runtime": runtime, "apply_on": "None", "dirty": False, "versions": {}, "aliases": {}}
            for name in FUNCTIONS
        }
        self.state_path.write_text(json.dumps({"stack": STACK, "functions": functions}))
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_AWS_STATE": str(self.state_path),
            "FAKE_AWS_CALLS": str(self.calls_path),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls_path.write_text("")
        return subprocess.run(
            ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=self.env, check=False
        )

    @property
    def calls(self) -> list[str]:
        return self.calls_path.read_text().splitlines()

    @property
    def state(self) -> dict:
        return json.loads(self.state_path.read_text())


@pytest.fixture
def aws(tmp_path: Path) -> FakeAws:
    return FakeAws(tmp_path)


def test_enables_publishes_waits_and_points_the_alias(aws: FakeAws) -> None:
    result = aws.run(STACK, "--region", "ap-northeast-1")

    assert result.returncode == 0, result.stderr
    for function in FUNCTIONS:
        fn = aws.state["functions"][function]
        assert fn["apply_on"] == "PublishedVersions"
        assert fn["versions"]["1"]["optimization"] == "On"
        assert fn["aliases"] == {"live": "1"}
        assert (
            f"--region ap-northeast-1 lambda update-function-configuration --function-name {function} "
            "--snap-start ApplyOn=PublishedVersions" in aws.calls
        )
        assert (
            f"--region ap-northeast-1 lambda wait published-version-active --function-name {function} "
            "--qualifier 1" in aws.calls
        )
    assert "alias created" in result.stdout
    assert "SnapStart is On for 2 function(s)" in result.stdout


def test_a_second_run_changes_nothing(aws: FakeAws) -> None:
    assert aws.run(STACK).returncode == 0

    again = aws.run(STACK)

    assert again.returncode == 0, again.stderr
    assert not [
        call
        for call in aws.calls
        if "update-function-configuration" in call or "-alias " in call.replace("get-alias", "")
    ]
    assert all(fn["aliases"] == {"live": "1"} for fn in aws.state["functions"].values())
    assert "0 alias(es) moved" in again.stdout


def test_dry_run_calls_nothing_that_changes_state(aws: FakeAws) -> None:
    result = aws.run(STACK, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert not [call for call in aws.calls if any(word in call for word in STATE_CHANGING)]
    assert "dry run: nothing was changed" in result.stdout
    assert all(fn["apply_on"] == "None" for fn in aws.state["functions"].values())


def test_a_missing_stack_is_a_clear_error(aws: FakeAws) -> None:
    result = aws.run("no-such-stack", "--region", "eu-west-1")

    assert result.returncode == 1
    assert "stack no-such-stack not found in eu-west-1" in result.stderr


def test_an_unsupported_runtime_stops_before_any_change(tmp_path: Path) -> None:
    aws = FakeAws(tmp_path, runtime="python3.11")

    result = aws.run(STACK)

    assert result.returncode == 1
    assert "runs python3.11, which SnapStart does not support" in result.stderr
    assert not [call for call in aws.calls if any(word in call for word in STATE_CHANGING)]


@pytest.mark.parametrize("args", [(), ("--bogus",), (STACK, "other-stack")])
def test_usage_errors(aws: FakeAws, args: tuple[str, ...]) -> None:
    result = aws.run(*args)
    assert result.returncode in (1, 2)
    assert result.stderr


def test_help(aws: FakeAws) -> None:
    result = aws.run("--help")
    assert result.returncode == 0
    assert "Usage: scripts/enable-snapstart.sh" in result.stdout
