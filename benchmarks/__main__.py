"""`make bench`: run every benchmark in turn; each writes benchmarks/results/<name>.json."""

from __future__ import annotations

from benchmarks import cold_start, eda_parse, legal_audit, pointcloud_qc, sandbox_e2e

BENCHMARKS = [cold_start.main, sandbox_e2e.main, legal_audit.main, pointcloud_qc.main, eda_parse.main]

if __name__ == "__main__":
    for run in BENCHMARKS:
        run([])
