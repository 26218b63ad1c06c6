"""Workflow tests: a use case's real state machine executed in the sandbox's moto world.

A test asks for ``workflow`` and runs a use case by folder name (or a fixture app by path):

    def test_run(workflow):
        result = workflow.run("legal-compliance", {"...": "..."}, parameters={"...": "..."})
        assert result.status == "SUCCEEDED"
        assert workflow.states_entered(result.history)[:2] == ["Discover Files", "Process Files"]
        assert workflow.state_output(result.history, "Discover Files")["count"] == 3

``workflow.deploy`` returns the :class:`~sandbox.aws.UseCaseStack` when a test needs physical
names first (to seed a bucket, watch a topic, point a function at the ONTAP simulator …); every
test gets a fresh world, so nothing leaks between tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox import runner
from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.runner import ExecutionResult
from shared.snapstart import run_after_restore_hooks

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


@dataclass
class WorkflowHarness:
    """Deploy use cases into one sandbox world, run their state machines, read their histories."""

    world: SandboxWorld

    # History readers, also available from sandbox.runner (tests import whichever reads better).
    states_entered = staticmethod(runner.states_entered)
    state_output = staticmethod(runner.state_output)
    state_input = staticmethod(runner.state_input)
    task_failures = staticmethod(runner.task_failures)
    events_of_type = staticmethod(runner.events_of_type)
    largest_payload_bytes = staticmethod(runner.largest_payload_bytes)

    @staticmethod
    def fixture_app(name: str) -> Path:
        """A fixture SAM app of tests/workflows/fixtures/."""
        path = FIXTURES_DIR / name
        if not path.is_dir():
            raise FileNotFoundError(f"no fixture app {path}")
        return path

    def deploy(
        self,
        use_case: str | Path,
        *,
        stack_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        environment: Mapping[str, str] | None = None,
        function_environment: Mapping[str, Mapping[str, str]] | None = None,
    ) -> UseCaseStack:
        return self.world.deploy(
            use_case,
            stack_name=stack_name,
            parameters=parameters,
            environment=environment,
            function_environment=function_environment,
        )

    def run(
        self,
        use_case: str | Path | UseCaseStack,
        execution_input: Any,
        *,
        timeout_s: float = 120.0,
        state_machine: str | None = None,
        **deploy_options: Any,
    ) -> ExecutionResult:
        """Run ``use_case`` (deployed on first use with ``deploy_options``) and wait for its end."""
        if isinstance(use_case, UseCaseStack):
            stack = use_case
        else:
            name = deploy_options.get("stack_name") or Path(use_case).name
            stack = self.world.stacks.get(name) or self.deploy(use_case, **deploy_options)
        return stack.run(execution_input, state_machine=state_machine, timeout_s=timeout_s)


@pytest.fixture(autouse=True)
def _fresh_cached_clients() -> Iterator[None]:
    """Every test has a fresh moto world: the handlers' process-wide clients (shared.s3ap,
    shared.inference, the region-role guard's per-region clients …) are dropped before and after,
    as a SnapStart restore drops them, so none outlives the world it was made in."""
    run_after_restore_hooks()
    yield
    run_after_restore_hooks()


@pytest.fixture
def sandbox_world() -> Iterator[SandboxWorld]:
    """A fresh moto world with Step Functions execution and in-process Lambda dispatch."""
    with SandboxWorld() as world:
        yield world


@pytest.fixture
def workflow(sandbox_world: SandboxWorld) -> WorkflowHarness:
    return WorkflowHarness(sandbox_world)
