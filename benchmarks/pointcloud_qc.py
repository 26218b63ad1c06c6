"""Point-cloud QC of a 2 GiB cloud in bounded memory: peak RSS and throughput of the streaming pass.

The cloud is written to a temporary directory in chunks (never held in memory), with NaN and Inf
points planted at known positions. A fresh interpreter then QCs it through the very code the
CheckQualityFunction runs (``scan_pointcloud`` + ``assess_cloud``) fed from the file in 1 MiB
chunks, as ``ObjectStream.iter_chunks()`` feeds it from S3, and reports its peak resident set
size (``VmHWM``), which must stay below 256 MiB. The counts are checked against what was
planted, so a fast wrong answer cannot pass.

    python -m benchmarks.pointcloud_qc [--gib 2] [--formats pcd_binary,las,...] [--keep DIR]

Formats: ``pcd_binary`` (the 2 GiB target), ``pcd_ascii``, ``pcd_binary_compressed``, ``las``,
``ply``, ``kitti_bin``; all but the first are measured on a smaller file (``--small-mib``) for
their throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from benchmarks._common import REPO_ROOT, write_result

LIMIT_MIB = 256
CHUNK_POINTS = 1 << 18
NAN_EVERY, INF_EVERY = 997, 1499  # planted invalid points (a point divisible by both counts as NaN)

# Peak RSS from /proc/self/status VmHWM: ru_maxrss survives execve on Linux, so a child would
# report its parent's peak from before the exec (here: the generator's buffers).
_QC = """
import json, sys, time
def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
from autonomous_driving.pointclouds import scan_pointcloud
from autonomous_driving.qc import Thresholds, assess_cloud
from autonomous_driving.sources import iter_file_chunks
baseline = peak_kib()
started = time.perf_counter()
with open(sys.argv[2], "rb") as handle:
    cloud = scan_pointcloud(sys.argv[1], iter_file_chunks(handle, 1 << 20))
assessment = assess_cloud(cloud, Thresholds())
elapsed = time.perf_counter() - started
print(json.dumps({
    "seconds": elapsed,
    "peak_rss_kib": peak_kib(),
    "baseline_rss_kib": baseline,
    "points": cloud.points, "nan_points": cloud.nan_points, "inf_points": cloud.inf_points,
    "bounds": cloud.bounds, "verdict": assessment.verdict.value,
}))
"""


def _xyz(start: int, count: int) -> np.ndarray:
    """x, y, z, intensity for points ``start`` .. ``start + count``: a ring, NaN/Inf planted."""
    index = np.arange(start, start + count, dtype=np.int64)
    angle = (index % 3600) * (2 * np.pi / 3600)
    reach = 5.0 + (index % 97)
    points = np.empty((count, 4), dtype="<f4")
    points[:, 0] = reach * np.cos(angle)
    points[:, 1] = reach * np.sin(angle)
    points[:, 2] = (index % 50) / 10.0 - 2.0
    points[:, 3] = index % 256
    points[index % INF_EVERY == 0, 1] = np.inf
    points[index % NAN_EVERY == 0, :3] = np.nan
    return points


def expected_invalid(points: int) -> tuple[int, int]:
    nan = (points - 1) // NAN_EVERY + 1
    both = (points - 1) // (NAN_EVERY * INF_EVERY) + 1
    inf = (points - 1) // INF_EVERY + 1 - both
    return nan, inf


def _pcd_header(points: int, encoding: str) -> bytes:
    return (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\n"
        f"TYPE F F F F\nCOUNT 1 1 1 1\nWIDTH {points}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
        f"POINTS {points}\nDATA {encoding}\n"
    ).encode()


def _write_chunks(out: BinaryIO, points: int, encode: Callable[[np.ndarray], bytes]) -> None:
    for start in range(0, points, CHUNK_POINTS):
        out.write(encode(_xyz(start, min(CHUNK_POINTS, points - start))))


def write_cloud(path: Path, fmt: str, points: int) -> None:
    with path.open("wb") as out:
        if fmt == "pcd_binary":
            out.write(_pcd_header(points, "binary"))
            _write_chunks(out, points, lambda block: block.tobytes())
        elif fmt == "pcd_ascii":
            out.write(_pcd_header(points, "ascii"))
            _write_chunks(
                out,
                points,
                lambda block: "".join(f"{x!r} {y!r} {z!r} {i!r}\n" for x, y, z, i in block.tolist()).encode(),
            )
        elif fmt == "kitti_bin":
            _write_chunks(out, points, lambda block: block.tobytes())
        elif fmt == "ply":
            header = f"ply\nformat binary_little_endian 1.0\nelement vertex {points}\n"
            header += (
                "property float x\nproperty float y\nproperty float z\nproperty float intensity\nend_header\n"
            )
            out.write(header.encode())
            _write_chunks(out, points, lambda block: block.tobytes())
        elif fmt == "las":
            _write_las(out, points)
        elif fmt == "pcd_binary_compressed":
            _write_lzf_pcd(out, points)
        else:
            raise SystemExit(f"unknown format {fmt}")


def _write_las(out: BinaryIO, points: int) -> None:
    """LAS 1.2, point format 0 (20-byte records); NaN cannot exist in LAS, Inf neither."""
    header = bytearray(227)
    header[0:4] = b"LASF"
    header[24:26] = bytes([1, 2])
    struct.pack_into("<HHHIIBHI", header, 90, 1, 2025, 227, 227, 0, 0, 20, points)
    struct.pack_into("<12d", header, 131, 0.001, 0.001, 0.001, 0, 0, 0, 102, -102, 102, -102, 3, -3)
    out.write(header)

    def encode(block: np.ndarray) -> bytes:
        finite = np.nan_to_num(block[:, :3], nan=0.0, posinf=0.0)
        records = np.zeros(len(block), dtype=[("xyz", "<i4", 3), ("rest", "V8")])
        records["xyz"] = np.round(finite / 0.001).astype(np.int32)
        return records.tobytes()

    _write_chunks(out, points, encode)


def _write_lzf_pcd(out: BinaryIO, points: int) -> None:
    """binary_compressed with literal-only LZF runs (the decoder's worst case), field after field."""
    out.write(_pcd_header(points, "binary_compressed"))
    size = points * 16
    compressed = size + (size + 31) // 32
    out.write(struct.pack("<II", compressed, size))
    for column in range(4):
        pending = b""
        for start in range(0, points, CHUNK_POINTS):
            data = (
                pending
                + np.ascontiguousarray(_xyz(start, min(CHUNK_POINTS, points - start))[:, column]).tobytes()
            )
            whole = len(data) // 32 * 32
            view = np.frombuffer(data[:whole], dtype=np.uint8).reshape(-1, 32)
            framed = np.concatenate([np.full((len(view), 1), 31, dtype=np.uint8), view], axis=1)
            out.write(framed.tobytes())
            pending = data[whole:]
        if pending:
            out.write(bytes([len(pending) - 1]) + pending)


def qc_in_subprocess(fmt: str, path: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "autonomous-driving" / "src")]),
    }
    name = "pcd" if fmt.startswith("pcd") else fmt
    out = subprocess.run(
        [sys.executable, "-c", _QC, name, str(path)], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measure(fmt: str, size_bytes: int, directory: Path) -> dict[str, Any]:
    bytes_per_point = {"pcd_ascii": 40, "las": 20}.get(fmt, 16)
    points = max(1, size_bytes // bytes_per_point)
    path = directory / f"cloud.{fmt}"
    started = time.perf_counter()
    write_cloud(path, fmt, points)
    written = time.perf_counter() - started
    result = qc_in_subprocess(fmt, path)
    file_bytes = path.stat().st_size
    path.unlink()
    nan, inf = expected_invalid(points) if fmt != "las" else (0, 0)
    peak_mib = result["peak_rss_kib"] / 1024
    correct = (result["points"], result["nan_points"], result["inf_points"]) == (points, nan, inf)
    return {
        "format": fmt,
        "file_bytes": file_bytes,
        "points": points,
        "generate_seconds": round(written, 2),
        "qc_seconds": round(result["seconds"], 2),
        "throughput_mib_s": round(file_bytes / 2**20 / result["seconds"], 1),
        "peak_rss_mib": round(peak_mib, 1),
        "interpreter_rss_mib": round(result["baseline_rss_kib"] / 1024, 1),
        "counts_correct": correct,
        "verdict": result["verdict"],
        "within_limit": peak_mib < LIMIT_MIB,
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gib", type=float, default=2.0, help="size of the pcd_binary cloud (default 2 GiB)")
    parser.add_argument("--formats", default="pcd_binary,pcd_binary_compressed,las,ply,kitti_bin,pcd_ascii")
    parser.add_argument("--small-mib", type=int, default=128, help="size of the other formats' clouds")
    parser.add_argument("--keep", type=Path, help="write the clouds here instead of a temporary directory")
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="pointcloud-qc-", dir=args.keep) as directory:
        for fmt in [f for f in args.formats.split(",") if f]:
            size = int(args.gib * 2**30) if fmt == "pcd_binary" else args.small_mib * 2**20
            run = measure(fmt, size, Path(directory))
            runs.append(run)
            print(
                f"{fmt:>22}: {run['file_bytes'] / 2**20:8.0f} MiB, {run['points']:>11,} points in "
                f"{run['qc_seconds']:6.1f} s ({run['throughput_mib_s']} MiB/s), "
                f"peak RSS {run['peak_rss_mib']} MiB (limit {LIMIT_MIB}), "
                f"counts {'ok' if run['counts_correct'] else 'WRONG'}"
            )
    result = {
        "limit_peak_rss_mib": LIMIT_MIB,
        "chunk_bytes": 1 << 20,
        "runs": runs,
        "meets_target": all(run["within_limit"] and run["counts_correct"] for run in runs),
    }
    path = write_result("pointcloud_qc", result)
    print(
        f"pointcloud QC: {'meets' if result['meets_target'] else 'MISSES'} the target "
        f"-> {path.relative_to(REPO_ROOT)}"
    )
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
