"""How each use case is set up for a sandbox run: its data, parameters, environment and input.

A use case's scenario module, named after its folder with underscores
(``sandbox/scenarios/flexcache_anycast_dr.py``), defines ``SCENARIO``, an object with:

* ``use_case``: the folder name (``"legal-compliance"``);
* ``names``: the scenarios it knows, the first being the default (``"baseline"``, ``"corrupt"``,
  ``"cache_down"`` …);
* ``prepare(world, resources, options) -> RunPlan``: create what lives outside the template
  (the bucket standing for the S3 Access Point, the ONTAP simulator entered into ``resources``),
  upload the synthetic dataset, and say which template parameters, environment and execution
  input the run needs;
* ``summarize(stack, result) -> dict``: the few numbers worth printing about a finished run.

The use case's code never knows any of this: it reads its settings from the environment the
template gives it, exactly as on AWS.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.aws import REPO_ROOT, SandboxWorld, UseCaseStack
from sandbox.runner import ExecutionResult

SANDBOX_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for: how many files, which seed, which scenario."""

    files: int = 50
    seed: int = 7
    scenario: str = ""


@dataclass(frozen=True)
class RunPlan:
    """What a prepared scenario needs from the deployment and the execution."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    input: Mapping[str, Any] = field(default_factory=dict)
    files: int = 0


class Scenario(Protocol):
    use_case: str
    names: tuple[str, ...]

    def prepare(self, world: SandboxWorld, resources: ExitStack, options: RunOptions) -> RunPlan: ...

    def summarize(self, stack: UseCaseStack, result: ExecutionResult) -> dict[str, Any]: ...


def use_cases() -> list[str]:
    """Every use case on this branch: a folder with a template.yaml and a scenario module."""
    return [
        path.parent.name
        for path in sorted(REPO_ROOT.glob("*/template.yaml"))
        if (REPO_ROOT / "sandbox" / "scenarios" / f"{_module_name(path.parent.name)}.py").exists()
    ]


def scenario_for(use_case: str) -> Scenario:
    if use_case not in use_cases():
        known = ", ".join(use_cases()) or "none"
        raise KeyError(f"no sandbox scenario for {use_case!r}; use cases: {known}")
    module = importlib.import_module(f"sandbox.scenarios.{_module_name(use_case)}")
    scenario: Scenario = module.SCENARIO
    return scenario


def access_point_parameters(world: SandboxWorld, name: str) -> dict[str, str]:
    """An S3 Access Point for the run: its alias (a bucket in moto) and the ARN IAM would name.

    moto does not route access point aliases, so a bucket named as the alias stands for the access
    point; boto3 sends the alias as the bucket name exactly as it does on AWS.
    """
    alias = f"{name}-sbx0a1b2c3d4e5f6g7h8i9j0k1l2-ext-s3alias"
    world.create_bucket(alias)
    return {
        "AccessPointAlias": alias,
        "AccessPointArn": f"arn:aws:s3:{world.region}:{SANDBOX_ACCOUNT}:accesspoint/{name}",
    }


def _module_name(use_case: str) -> str:
    return use_case.replace("-", "_")
