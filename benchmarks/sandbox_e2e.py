"""End-to-end throughput of every use case in the sandbox: files per second and wall time.

Each use case runs its default scenario in a fresh moto world with the real handlers, as
``make demo`` does, on more files. Target on a 2-core machine: >= 200 files/s for header-only
processing. Function output goes to a log file so it does not distort the timing.

    python -m benchmarks.sandbox_e2e [--files 1000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from benchmarks._common import REPO_ROOT, write_result
from sandbox.cli import run_use_case
from sandbox.scenarios import RunOptions, use_cases

TARGET_FILES_PER_SECOND = 200.0


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000, help="synthetic files per use case")
    args = parser.parse_args(argv)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    results = {}
    with Path(os.devnull).open("w", encoding="utf-8") as logs:
        for use_case in use_cases():
            started = time.monotonic()
            report = run_use_case(use_case, RunOptions(files=args.files), logs=logs)
            results[use_case] = {
                "scenario": report.scenario,
                "status": report.status,
                "files": report.files,
                "execution_seconds": round(report.seconds, 2),
                "wall_seconds_with_setup": round(time.monotonic() - started, 2),
                "files_per_second": round(report.files_per_second, 1),
                "meets_target": report.succeeded and report.files_per_second >= TARGET_FILES_PER_SECOND,
            }
    path = write_result(
        "sandbox_e2e", {"target_files_per_second": TARGET_FILES_PER_SECOND, "use_cases": results}
    )
    for use_case, result in results.items():
        print(
            f"sandbox e2e: {use_case}: {result['status']} {result['files']} files in "
            f"{result['execution_seconds']} s = {result['files_per_second']} files/s"
        )
    print(f"-> {path.relative_to(REPO_ROOT)}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
