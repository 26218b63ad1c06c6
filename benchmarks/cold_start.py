"""Import cost at cold start: each shared module, a handler-like module next to the baselines,
and the init time of every real handler of every template (what SnapStart would save per function).

Every measurement is a fresh interpreter (what a Lambda cold start pays), repeated and reported as
the median. The target is that the shared core adds at most 60 ms on top of boto3 + Powertools.

    python -m benchmarks.cold_start [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from benchmarks._common import REPO_ROOT, median_ms, write_result
from scripts.cfn_templates import load_template, template_paths

TARGET_ADDED_MS = 60.0
BOTO3 = "import boto3"
POWERTOOLS = "from aws_lambda_powertools import Logger, Metrics, Tracer\nLogger(); Metrics(); Tracer()"
SHARED_CORE = "import " + ", ".join(
    f"shared.{name}" for name in ("errors", "observability", "s3ap", "ontap_client")
)


def shared_modules() -> list[str]:
    return sorted(
        f"shared.{path.stem}" for path in (REPO_ROOT / "shared").glob("*.py") if path.stem != "__init__"
    )


def handler_modules() -> dict[str, tuple[Path, str]]:
    """``{"<template path>:<FunctionLogicalId>": (code folder, module)}`` for every function."""
    found = {}
    for template_path in template_paths():
        template = load_template(template_path)
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            properties = resource["Properties"]
            module = properties["Handler"].rpartition(".")[0]
            code_dir = (template_path.parent / properties["CodeUri"]).resolve()
            found[f"{template_path.relative_to(REPO_ROOT)}:{logical_id}"] = (code_dir, module)
    return found


def time_steps(steps: list[str], runs: int, pythonpath: tuple[Path, ...] = ()) -> list[list[float]]:
    """Seconds each of ``steps`` takes, in order, in one fresh interpreter per run.

    Timing consecutive steps inside the same interpreter makes "what the shared core adds on top
    of boto3 + Powertools" a difference within one process, free of process-to-process noise.
    """
    timed = "\n".join(
        f"_t = time.perf_counter()\n{step}\n_laps.append(time.perf_counter() - _t)" for step in steps
    )
    program = f"import time\n_laps = []\n{timed}\nprint(*_laps)"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(path) for path in (*pythonpath, REPO_ROOT)),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "benchmark",
        "POWERTOOLS_METRICS_NAMESPACE": "Benchmark",
    }
    samples: list[list[float]] = []
    for _ in range(runs + 1):  # the first run only warms the bytecode caches
        out = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=True
        )
        samples.append([float(value) for value in out.stdout.split()])
    return samples[1:]


def measure(runs: int) -> dict[str, object]:
    modules = {
        # Each module's own cost, with boto3 and Powertools already loaded as in any handler.
        module: median_ms([laps[2] for laps in time_steps([BOTO3, POWERTOOLS, f"import {module}"], runs)])
        for module in shared_modules()
    }
    handlers = {
        # The whole INIT of the function's module: runtime imports, layer, handler module.
        name: median_ms([laps[0] for laps in time_steps([f"import {module}"], runs, (code_dir,))])
        for name, (code_dir, module) in sorted(handler_modules().items())
    }
    handler_like = time_steps([BOTO3, POWERTOOLS, SHARED_CORE], runs)
    added = median_ms([laps[2] for laps in handler_like])
    return {
        "runs_per_measurement": runs,
        "unit": "ms (median over fresh interpreters)",
        "import_boto3": median_ms([laps[0] for laps in handler_like]),
        "powertools_logger_metrics_tracer_after_boto3": median_ms([laps[1] for laps in handler_like]),
        "shared_modules_after_boto3_and_powertools": modules,
        "handler_like_total": median_ms([sum(laps) for laps in handler_like]),
        "handler_init": handlers,
        "shared_core_added": added,
        "target_shared_core_added_max": TARGET_ADDED_MS,
        "meets_target": added <= TARGET_ADDED_MS,
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per measurement (>= 10)")
    args = parser.parse_args(argv)
    result = measure(max(args.runs, 10))
    path = write_result("cold_start", result)
    print(
        f"cold start: boto3 {result['import_boto3']} ms, "
        f"Powertools +{result['powertools_logger_metrics_tracer_after_boto3']} ms, "
        f"shared core +{result['shared_core_added']} ms (target <= {TARGET_ADDED_MS} ms), "
        f"handler-like total {result['handler_like_total']} ms -> {path.relative_to(REPO_ROOT)}"
    )
    for name, milliseconds in result["handler_init"].items():  # type: ignore[attr-defined]
        print(f"  init {name}: {milliseconds} ms")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
