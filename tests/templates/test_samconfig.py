"""samconfig.sample.toml of every use case: three environments that `sam build` and `sam deploy` accept.

Each environment must give a value to every parameter without a default and to no parameter the
template lacks, and every value must satisfy the template's constraints, checked by the sandbox's
CloudFormation parameter evaluation (AllowedValues, AllowedPattern, lengths, numeric bounds).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sandbox.template import Template
from scripts.cfn_templates import REPO_ROOT, load_template

USE_CASES = sorted(path.parent for path in REPO_ROOT.glob("*/template.yaml"))
ENVIRONMENTS = ("default", "staging", "production")


def config(use_case: Path) -> dict[str, Any]:
    with (use_case / "samconfig.sample.toml").open("rb") as handle:
        return tomllib.load(handle)


def overrides(text: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in shlex.split(text)]
    return {key: value for key, value in pairs}


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda p: p.name)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_builds_and_deploys(use_case: Path, environment: str) -> None:
    settings = config(use_case)[environment]
    assert settings["build"]["parameters"] == {"cached": True, "parallel": True}
    deploy = settings["deploy"]["parameters"]
    assert deploy["stack_name"].startswith("fsxn-s3ap-"), "the deploy role manages fsxn-s3ap-* stacks only"
    assert use_case.name in deploy["stack_name"]
    assert deploy["resolve_s3"] is True
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert isinstance(deploy["confirm_changeset"], bool)
    assert f'environment="{ {"default": "development"}.get(environment, environment) }"'.replace(
        " ", ""
    ) in deploy["tags"].replace(" ", "")


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda p: p.name)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_parameter_overrides_are_complete_known_and_valid(use_case: Path, environment: str) -> None:
    values = overrides(config(use_case)[environment]["deploy"]["parameters"]["parameter_overrides"])
    declared = load_template(use_case / "template.yaml")["Parameters"]
    required = {name for name, parameter in declared.items() if "Default" not in parameter}
    assert required <= values.keys(), f"missing: {sorted(required - values.keys())}"
    # Unknown names, missing values and constraint violations raise ParameterError here.
    Template.from_file(use_case / "template.yaml", parameter_overrides=values)


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda p: p.name)
@pytest.mark.parametrize("environment", ("staging", "production"))
def test_cost_parameter_orderings_hold_in_each_deployed_environment(use_case: Path, environment: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.check_cost_parameters",
            str(use_case / "template.yaml"),
            "--config-file",
            str(use_case / "samconfig.sample.toml"),
            "--config-env",
            environment,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
