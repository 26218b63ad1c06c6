"""scripts/deploy-hooks.sh against a stub `aws` on PATH: the exact CLI calls, and nothing under --dry-run."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from scripts.cfn_templates import REPO_ROOT, load_template

SCRIPT = REPO_ROOT / "scripts" / "deploy-hooks.sh"
TEMPLATE = REPO_ROOT / "shared" / "cfn" / "guard-hook.yaml"
KEY = "guard-rules/fsxn-s3ap-guard-rules.zip"

# Logs each call as a JSON argv line; answers describe-stacks and put-object like the real CLI.
STUB_AWS = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["AWS_STUB_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["cloudformation", "describe-stacks"]:
    state = os.environ["AWS_STUB_STATE"]
    exists = os.path.exists(state) or os.environ.get("AWS_STUB_BUCKET_FROM_START") == "1"
    if not exists:
        print("An error occurred (ValidationError): Stack with id x does not exist", file=sys.stderr)
        sys.exit(254)
    print("rules-bucket-123")
elif sys.argv[1:3] == ["cloudformation", "deploy"]:
    open(os.environ["AWS_STUB_STATE"], "w").close()
    print("Successfully created/updated stack")
elif sys.argv[1:3] == ["s3api", "put-object"]:
    print(os.environ.get("AWS_STUB_VERSION", "v-123"))
"""

DESCRIBE = [
    "cloudformation", "describe-stacks", "--stack-name", "fsxn-s3ap-guard-hook", "--region", "eu-west-1",
    "--query", "Stacks[0].Outputs[?OutputKey=='RulesBucketName'].OutputValue", "--output", "text",
]  # fmt: skip


def _deploy(version: str, failure_mode: str = "WARN") -> list[str]:
    return [
        "cloudformation", "deploy", "--template-file", str(TEMPLATE), "--stack-name", "fsxn-s3ap-guard-hook",
        "--region", "eu-west-1", "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset",
        "--parameter-overrides", f"FailureMode={failure_mode}", "HookAlias=Private::Guard::FsxnS3apRules",
        f"RulesObjectKey={KEY}", f"RulesObjectVersion={version}",
    ]  # fmt: skip


def _put_object(body: str) -> list[str]:
    return [
        "s3api", "put-object", "--bucket", "rules-bucket-123", "--key", KEY, "--body", body,
        "--region", "eu-west-1", "--query", "VersionId", "--output", "text",
    ]  # fmt: skip


@pytest.fixture
def stub(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(STUB_AWS, encoding="utf-8")
    aws.chmod(aws.stat().st_mode | stat.S_IEXEC)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        AWS_STUB_LOG=str(tmp_path / "calls.log"),
        AWS_STUB_STATE=str(tmp_path / "stack-exists"),
    )
    return env


def _run(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    result = subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    log = Path(env["AWS_STUB_LOG"])
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def _bundle_path(calls: list[list[str]]) -> str:
    put = next(call for call in calls if call[:2] == ["s3api", "put-object"])
    return put[put.index("--body") + 1]


def test_first_run_creates_the_buckets_uploads_then_activates_the_hook(stub: dict[str, str]) -> None:
    # Given no stack yet
    result, calls = _run(stub, "--region", "eu-west-1")
    # Then: buckets first, upload, hook on the uploaded version
    assert result.returncode == 0, result.stderr
    body = _bundle_path(calls)
    assert body.endswith("/fsxn-s3ap-guard-rules.zip")
    assert calls == [DESCRIBE, _deploy(""), DESCRIBE, _put_object(body), _deploy("v-123")]
    assert "rules version v-123" in result.stdout
    assert not Path(body).exists(), "the temporary bundle is removed"


def test_later_runs_upload_and_deploy_once(stub: dict[str, str]) -> None:
    stub["AWS_STUB_BUCKET_FROM_START"] = "1"
    result, calls = _run(stub, "--failure-mode", "FAIL", "--region", "eu-west-1")
    assert result.returncode == 0, result.stderr
    assert calls == [DESCRIBE, _put_object(_bundle_path(calls)), _deploy("v-123", "FAIL")]


@pytest.mark.parametrize("exists", ["0", "1"])
def test_dry_run_changes_nothing(stub: dict[str, str], exists: str) -> None:
    stub["AWS_STUB_BUCKET_FROM_START"] = exists
    result, calls = _run(stub, "--dry-run", "--region", "eu-west-1", "--failure-mode", "FAIL")
    assert result.returncode == 0, result.stderr
    # Only read-only calls reached the CLI
    assert calls and all(call[:2] == ["cloudformation", "describe-stacks"] for call in calls)
    # and every state-changing call was printed instead
    printed = [line for line in result.stdout.splitlines() if line.startswith("[dry-run] aws ")]
    assert [line.split()[2:4] for line in printed][-2:] == [
        ["s3api", "put-object"],
        ["cloudformation", "deploy"],
    ]
    assert "FailureMode=FAIL" in printed[-1]
    assert "dry run: nothing was changed" in result.stdout


def test_a_bucket_without_versioning_is_a_clear_error(stub: dict[str, str]) -> None:
    stub["AWS_STUB_BUCKET_FROM_START"] = "1"
    stub["AWS_STUB_VERSION"] = "None"
    result, calls = _run(stub, "--region", "eu-west-1")
    assert result.returncode == 1
    assert "has no version id: is versioning enabled" in result.stderr
    assert not [call for call in calls if call[:2] == ["cloudformation", "deploy"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--failure-mode", "BLOCK", "--region", "eu-west-1"], "--failure-mode must be WARN or FAIL"),
        (["--failure-mode"], "--failure-mode needs a value"),
        ([], "no region: pass --region or set AWS_REGION"),
        (["--region", "Tokyo"], "not a region name"),
        (["--region", "eu-west-1", "--alias", "AwsCorp::Guard::Hook"], "must not start with AWS"),
        (["--region", "eu-west-1", "--alias", "Private::Guard"], "three parts of 2-64 letters or digits"),
        (
            ["--region", "eu-west-1", "--alias", "Private::Guard::My-Hook"],
            "three parts of 2-64 letters or digits",
        ),
        (["--region", "eu-west-1", "--bogus"], "unknown argument: --bogus"),
    ],
)
def test_bad_arguments_fail_before_any_aws_call(stub: dict[str, str], args: list[str], message: str) -> None:
    result, calls = _run(stub, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert calls == []


def test_region_from_the_environment(stub: dict[str, str]) -> None:
    stub["AWS_REGION"] = "eu-west-1"
    stub["AWS_STUB_BUCKET_FROM_START"] = "1"
    result, calls = _run(stub)
    assert result.returncode == 0, result.stderr
    assert calls[0] == DESCRIBE


def test_missing_aws_cli_is_a_clear_error(stub: dict[str, str]) -> None:
    stub["PATH"] = "/usr/bin:/bin"
    result, _ = _run(stub, "--region", "eu-west-1")
    if Path("/usr/bin/aws").exists() or Path("/bin/aws").exists():
        pytest.skip("a real aws CLI is installed system-wide")
    assert result.returncode == 1
    assert "the AWS CLI (aws) is not on PATH" in result.stderr


def test_help_lists_every_option(stub: dict[str, str]) -> None:
    result, calls = _run(stub, "--help")
    assert result.returncode == 0
    for option in ("--failure-mode", "--region", "--stack-name", "--alias", "--dry-run", "--help"):
        assert option in result.stdout
    assert calls == []


def test_script_defaults_are_the_templates_defaults() -> None:
    # Given the template's parameters and the script's variables
    parameters = load_template(TEMPLATE)["Parameters"]
    script = SCRIPT.read_text(encoding="utf-8")

    def default(variable: str) -> str:
        match = re.search(rf'^{variable}="([^"]*)"$', script, re.MULTILINE)
        assert match, f"{variable} not set in the script"
        return match.group(1)

    # Then a stack deployed by the script and one deployed by hand are configured alike
    assert default("failure_mode") == parameters["FailureMode"]["Default"]
    assert default("alias_name") == parameters["HookAlias"]["Default"]
    assert re.search(
        rf'^readonly RULES_KEY="{re.escape(parameters["RulesObjectKey"]["Default"])}"$', script, re.M
    )


def test_script_is_strict_bash() -> None:
    lines = SCRIPT.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert os.access(SCRIPT, os.X_OK)
