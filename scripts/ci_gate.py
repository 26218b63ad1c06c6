"""The four-stage gate: run each stage's Makefile target, print a stage table, fail if any failed.

    python -m scripts.ci_gate lint unit guard security

Every stage runs even after an earlier one failed, so one run shows everything that is wrong.
GitHub Actions runs the same Makefile targets as separate jobs and its final ``gate`` job applies
the same decision (``gate_passed``) to the jobs' results.
"""

from __future__ import annotations

import subprocess  # nosec B404
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

STAGES: dict[str, str] = {
    "lint": "cfn-lint on every template, ruff, mypy",
    "unit": "pytest + Hypothesis, coverage >= 80 %",
    "guard": "cfn-guard rules on every template after the SAM transform",
    "security": "bandit, pip-audit",
}
PASSED, FAILED = "passed", "failed"


@dataclass(frozen=True)
class StageResult:
    name: str
    status: str
    seconds: float


def gate_passed(results: Sequence[StageResult]) -> bool:
    """The pipeline passes only when there were stages and every one of them passed."""
    return bool(results) and all(result.status == PASSED for result in results)


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


def main(argv: Sequence[str]) -> int:
    names = list(argv) or list(STAGES)
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        print(f"unknown stage(s): {', '.join(unknown)}; stages are {', '.join(STAGES)}", file=sys.stderr)
        return 2
    results = [run_stage(name) for name in names]
    passed = gate_passed(results)
    print("\n" + table(results))
    print(f"\ngate: {'PASSED' if passed else 'FAILED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
