"""Layout parser throughput and peak memory: our streaming readers against gdstk on the same files.

Generates layouts of at least ``--size-mb`` (default 200 MB) with gdstk into a temporary
directory: a GDSII stream and an uncompressed OASIS file of the same size class, plus the
CBLOCK-compressed OASIS of the GDSII's library (smaller, reported as well). The library looks like
a placed block rather than a repeated rectangle: tiles of mixed geometry (rectangles of many sizes,
identical vias, L/T-shaped and larger polygons, Manhattan routing paths with flush and extended
ends, pin labels) copied into many cells, arrayed (AREF) and placed with rotations and
reflections under a top cell.

Every measurement runs in a fresh subprocess and reports that process's peak resident set
(``VmHWM`` from ``/proc/self/status``, which starts afresh at ``exec``: ``ru_maxrss`` would carry
the generating parent's peak into the child); throughput is the best of ``--repeat`` runs:

* ``ours_full``   — :func:`semiconductor_eda.catalogue.read_layout` full scan, reading the file
  in 1 MiB chunks as the Lambda does from an S3 Access Point stream;
* ``ours_header`` — header-only mode, with the bytes actually requested from the file counted;
* ``gdstk``       — ``gdstk.read_gds`` / ``gdstk.read_oas``.

Targets: our peak RSS below 64 MB whatever the file size, at least 25 % of gdstk's throughput
for a full scan, header-only reading at most 64 KiB per file.

    python -m benchmarks.eda_parse [--size-mb 200] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from benchmarks._common import REPO_ROOT, write_result

TARGET_PEAK_RSS_MB = 64.0
TARGET_THROUGHPUT_RATIO = 0.25
TARGET_HEADER_BYTES = 64 * 1024
UNIT, PRECISION = 1e-6, 1e-9
TILE_SHAPES = 6000

_PEAK_RSS = """
def peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

_MEASURE_OURS = (
    _PEAK_RSS
    + """
import json, os, sys, time
sys.path[:0] = [{root!r}, {src!r}]
from semiconductor_eda.catalogue import read_layout

class Counted:
    def __init__(self, handle):
        self.handle, self.bytes = handle, 0
    def read(self, size=-1):
        data = self.handle.read(size)
        self.bytes += len(data)
        return data

path, mode = sys.argv[1], sys.argv[2]
with open(path, "rb", buffering=0) as handle:
    source = Counted(handle)
    start = time.perf_counter()
    metadata = read_layout(source, mode=mode)
    seconds = time.perf_counter() - start
record = metadata.to_record()
print(json.dumps({{
    "seconds": seconds,
    "bytes_requested": source.bytes,
    "peak_rss_mb": peak_rss_mb(),
    "cells": record.get("cell_count"),
    "elements": record.get("element_counts"),
    "bounding_box": (record.get("bounding_box") or {{}}).get("db"),
}}))
"""
)

_MEASURE_GDSTK = (
    _PEAK_RSS
    + """
import json, sys, time
import gdstk
path = sys.argv[1]
start = time.perf_counter()
library = gdstk.read_gds(path) if path.endswith(".gds") else gdstk.read_oas(path)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "cells": len(library.cells)}))
"""
)


def _tile(name: str, rng: random.Random) -> Any:
    """One tile of mixed geometry on a 5 nm grid in a 100 µm square, in stream-out order.

    Layout tools write a cell's shapes layer by layer (KLayout: boxes, then polygons, paths and
    texts of each layer; Virtuoso and Calibre likewise per layer-purpose pair), so the tile's
    shapes are added in that order rather than shuffled.
    """
    import gdstk

    def grid(low: float, high: float) -> float:
        return round(rng.uniform(low, high) / 0.005) * 0.005

    shapes: list[tuple[int, int, int, Any]] = []
    shape: Any
    via = 0.07
    for _ in range(TILE_SHAPES):
        x, y = grid(0, 100), grid(0, 100)
        layer, datatype = rng.randrange(1, 40), rng.choice((0, 0, 0, 1, 2))
        pick = rng.random()
        if pick < 0.45:
            shape = gdstk.rectangle((x, y), (x + grid(0.05, 4), y + grid(0.05, 1)), layer, datatype)
            order = 0
        elif pick < 0.70:
            layer, datatype = 50 + layer % 8, 0
            shape = gdstk.rectangle((x, y), (x + via, y + via), layer, datatype)
            order = 0
        elif pick < 0.82:
            w, h, t = grid(0.5, 3), grid(0.5, 3), grid(0.1, 0.4)
            outline = [(x, y), (x + w, y), (x + w, y + t), (x + t, y + t), (x + t, y + h), (x, y + h)]
            shape, order = gdstk.Polygon(outline, layer, datatype), 1
        elif pick < 0.85:
            angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(20))
            outline = [(round(x + 2 * math.cos(a), 3), round(y + 2 * math.sin(a), 3)) for a in angles]
            shape, order = gdstk.Polygon(outline, layer, datatype), 1
        elif pick < 0.97:
            spine = [(x, y)]
            for step in range(rng.randrange(1, 5)):
                d = grid(0.5, 10)
                spine.append(
                    (spine[-1][0] + d, spine[-1][1]) if step % 2 == 0 else (spine[-1][0], spine[-1][1] + d)
                )
            ends: Literal["flush", "extended"] = "flush" if rng.random() < 0.5 else "extended"
            width = grid(0.05, 0.2) * 2
            shape = gdstk.FlexPath(spine, width, ends=ends, simple_path=True, layer=layer, datatype=datatype)
            order = 2
        else:
            shape = gdstk.Label(f"PIN_{rng.randrange(100_000)}", (x, y), layer=layer, texttype=1)
            order = 3
        shapes.append((layer, datatype, order, shape))
    cell = gdstk.Cell(name)
    cell.add(*(shape for *_, shape in sorted(shapes, key=lambda item: item[:3])))
    return cell


def build_library(target_bytes: int, *, fmt: str, seed: int = 7, copies: int | None = None) -> Any:
    """A library whose file in ``fmt`` ("gds", "oas", "oas0") is about ``target_bytes``.

    The size is estimated from one tile; :func:`write_at_least` checks the real size.
    """
    import gdstk

    rng = random.Random(seed)  # noqa: S311 - benchmark geometry, reproducible by design
    base = _tile("TILE_0000", rng)
    if copies is None:
        probe = gdstk.Library("PROBE", unit=UNIT, precision=PRECISION)
        probe.add(base)
        with tempfile.TemporaryDirectory() as directory:
            target = Path(directory) / "probe"
            _write(probe, target, fmt)
            per_tile = target.stat().st_size
        copies = max(1, math.ceil(target_bytes * 1.02 / per_tile))
    library = gdstk.Library("BENCH", unit=UNIT, precision=PRECISION)
    tiles = [base] + [base.copy(f"TILE_{index:04d}") for index in range(1, copies)]  # copied in C++
    library.add(*tiles)
    blocks = []
    for index in range(0, len(tiles), 16):
        block = gdstk.Cell(f"BLOCK_{index // 16:03d}")
        for offset, tile in enumerate(tiles[index : index + 16]):
            if offset % 4 == 0:
                block.add(gdstk.Reference(tile, (offset * 120, 0), columns=2, rows=3, spacing=(100, 100)))
            else:
                block.add(
                    gdstk.Reference(
                        tile,
                        (offset * 120, 400),
                        rotation=math.pi / 2 * (offset % 4),
                        x_reflection=offset % 3 == 0,
                    )
                )
        blocks.append(block)
    top = gdstk.Cell("TOP")
    for index, block in enumerate(blocks):
        top.add(gdstk.Reference(block, (0, index * 1000), rotation=math.pi * (index % 2)))
    library.add(*blocks, top)
    return library


def write_at_least(target_bytes: int, path: Path, fmt: str) -> Any:
    """Build and write a library of at least ``target_bytes`` in ``fmt``; returns the library."""
    library = build_library(target_bytes, fmt=fmt)
    _write(library, path, fmt)
    while path.stat().st_size < target_bytes:
        tiles = sum(1 for cell in library.cells if cell.name.startswith("TILE_"))
        copies = math.ceil(tiles * target_bytes / path.stat().st_size * 1.01) + 1
        library = build_library(target_bytes, fmt=fmt, copies=copies)
        _write(library, path, fmt)
    return library


def _write(library: Any, path: Path, fmt: str) -> None:
    if fmt == "gds":
        library.write_gds(str(path))
    elif fmt == "oas":
        library.write_oas(str(path), compression_level=6)
    else:
        library.write_oas(str(path), compression_level=0)


def _run(program: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [sys.executable, "-c", program, *args], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _best(program: str, *args: str, repeat: int) -> dict[str, Any]:
    """The fastest of ``repeat`` runs, with the highest peak memory seen over all of them."""
    runs = [_run(program, *args) for _ in range(repeat)]
    best = min(runs, key=lambda run: float(run["seconds"]))
    return best | {"peak_rss_mb": round(max(float(run["peak_rss_mb"]) for run in runs), 1), "runs": len(runs)}


def measure_file(path: Path, *, repeat: int) -> dict[str, Any]:
    size = path.stat().st_size
    ours_program = _MEASURE_OURS.format(root=str(REPO_ROOT), src=str(REPO_ROOT / "semiconductor-eda" / "src"))
    ours = _best(ours_program, str(path), "full", repeat=repeat)
    header = _run(ours_program, str(path), "header")
    reference = _best(_MEASURE_GDSTK, str(path), repeat=repeat)
    mb = size / 1e6
    ours["mb_per_s"] = round(mb / ours["seconds"], 2)
    reference["mb_per_s"] = round(mb / reference["seconds"], 2)
    ratio = ours["mb_per_s"] / reference["mb_per_s"]
    return {
        "bytes": size,
        "ours_full": ours,
        "ours_header": {k: header[k] for k in ("seconds", "bytes_requested", "peak_rss_mb")},
        "gdstk": reference,
        "throughput_ratio": round(ratio, 3),
        "meets_memory_target": ours["peak_rss_mb"] < TARGET_PEAK_RSS_MB,
        "meets_throughput_target": ratio >= TARGET_THROUGHPUT_RATIO,
        "meets_header_target": header["bytes_requested"] <= TARGET_HEADER_BYTES,
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=float, default=200.0, help="minimum size of the generated files")
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this directory")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per reader and file (best is kept)")
    args = parser.parse_args(argv)
    target = int(args.size_mb * 1e6)
    with tempfile.TemporaryDirectory(prefix="eda-bench-") as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        timings: dict[str, float] = {}
        for name, fmt, suffix in (("gdsii", "gds", ".gds"), ("oasis_uncompressed", "oas0", ".oas")):
            start = time.perf_counter()
            files[name] = directory / f"bench_{name}{suffix}"
            library = write_at_least(target, files[name], fmt)
            if name == "gdsii":
                files["oasis_cblock"] = directory / "bench_oasis_cblock.oas"
                _write(library, files["oasis_cblock"], "oas")
            del library
            timings[name] = round(time.perf_counter() - start, 1)
        results = {name: measure_file(path, repeat=max(1, args.repeat)) for name, path in files.items()}
    summary = {
        "size_target_mb": args.size_mb,
        "generation_seconds": timings,
        "files": results,
        "targets": {
            "peak_rss_mb_below": TARGET_PEAK_RSS_MB,
            "throughput_ratio_at_least": TARGET_THROUGHPUT_RATIO,
            "header_bytes_at_most": TARGET_HEADER_BYTES,
        },
    }
    path = write_result("eda_parse", summary)
    for name, result in results.items():
        ours, reference = result["ours_full"], result["gdstk"]
        print(
            f"{name}: {result['bytes'] / 1e6:.0f} MB  "
            f"ours {ours['mb_per_s']} MB/s peak {ours['peak_rss_mb']:.0f} MB  "
            f"gdstk {reference['mb_per_s']} MB/s peak {reference['peak_rss_mb']:.0f} MB  "
            f"ratio {result['throughput_ratio']:.0%}  header {result['ours_header']['bytes_requested']} B"
        )
    print(f"-> {path.relative_to(REPO_ROOT)}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
