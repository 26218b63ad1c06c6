"""`make bench`: run every benchmark in turn; each writes benchmarks/results/<name>.json."""

from __future__ import annotations

from benchmarks import cold_start

BENCHMARKS = [cold_start.main]

if __name__ == "__main__":
    for run in BENCHMARKS:
        run([])
