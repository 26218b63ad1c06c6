"""Seeded LiDAR sweeps as PCD (ascii/binary/binary_compressed), LAS, PLY and KITTI ``.bin``.

The points come from one simulated spinning LiDAR (rings of beams hitting a ground plane,
obstacles and structures), so every format of one seed describes the same scene. Coordinates are
multiples of 1/64 m: exactly representable in float32 and short in decimal, so an ASCII file
parses to exactly the values of its binary sibling and the bounds in ``expected`` are exact.

Planted invalid points are what real sweeps contain and parsers forget: ``nan_points`` points
with x, y, z all NaN (PCL's "no return"), and ``inf_points`` points with one coordinate ±inf.
``expected`` for every cloud: ``points``, ``nan_points``, ``inf_points``, ``finite_points`` and
``bounds`` ``{"min": [x, y, z], "max": [x, y, z]}`` over the finite points.

PCD follows PCL's pcd_io: header lines VERSION .7, FIELDS, SIZE, TYPE, COUNT, WIDTH, HEIGHT,
VIEWPOINT, POINTS, DATA; ``binary`` is packed rows; ``binary_compressed`` is two little-endian
uint32 (compressed size, uncompressed size) then the LZF-compressed fields, each field's values
for all points stored contiguously (x…x y…y z…z …) as PCL reorders them before compressing.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

import laspy
import numpy as np
from plyfile import PlyData, PlyElement

from sandbox.datasets.base import SyntheticFile, np_rng
from sandbox.datasets.corrupt import corrupt_expected, truncate
from sandbox.datasets.lzf import lzf_compress

PcdEncoding = Literal["ascii", "binary", "binary_compressed"]
PlyEncoding = Literal["ascii", "binary_little_endian"]
FieldSet = Literal["xyzi", "lidar"]

GRID: Final = 1 / 64  # metres
SENSOR_HEIGHT: Final = 1.75
LAS_CREATION_DATE: Final = date(2025, 1, 1)
LAS_OFFSETS: Final = (500_000.0, 4_000_000.0, 0.0)  # a UTM-like origin, as survey LAS files have
LAS_SCALES: Final = (0.001, 0.001, 0.001)
TIMESTAMP_BASE: Final = 1_735_689_600.0  # 2025-01-01T00:00:00Z, per-point times follow the spin
_LAS_VERSIONS: Final = {"1.2": range(0, 6), "1.4": range(0, 11)}
CLASS_UNCLASSIFIED, CLASS_GROUND, CLASS_BUILDING = 1, 2, 6


@dataclass(frozen=True)
class PcdField:
    name: str
    size: int
    type: str  # PCD TYPE: F float, U unsigned, I signed
    dtype: str  # numpy, little-endian


_FIELD_SETS: Final[dict[str, tuple[PcdField, ...]]] = {
    "xyzi": (
        PcdField("x", 4, "F", "<f4"),
        PcdField("y", 4, "F", "<f4"),
        PcdField("z", 4, "F", "<f4"),
        PcdField("intensity", 4, "F", "<f4"),
    ),
    "lidar": (
        PcdField("x", 4, "F", "<f4"),
        PcdField("y", 4, "F", "<f4"),
        PcdField("z", 4, "F", "<f4"),
        PcdField("intensity", 4, "F", "<f4"),
        PcdField("ring", 2, "U", "<u2"),
        PcdField("timestamp", 8, "F", "<f8"),
    ),
}


@dataclass(frozen=True)
class Sweep:
    """One simulated LiDAR sweep; arrays of equal length, NaN/inf already planted."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    intensity: np.ndarray  # 0..255, whole numbers
    ring: np.ndarray
    timestamp: np.ndarray
    classification: np.ndarray
    nan_points: int
    inf_points: int

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def column(self, name: str) -> np.ndarray:
        return np.asarray(getattr(self, name))

    def ground_truth(self) -> dict[str, Any]:
        xyz = np.stack([self.x, self.y, self.z], axis=1).astype(np.float64)
        finite = np.isfinite(xyz).all(axis=1)
        bounds = (
            {
                "min": [float(v) for v in xyz[finite].min(axis=0)],
                "max": [float(v) for v in xyz[finite].max(axis=0)],
            }
            if finite.any()
            else None
        )
        return {
            "points": len(self),
            "nan_points": self.nan_points,
            "inf_points": self.inf_points,
            "finite_points": int(finite.sum()),
            "bounds": bounds,
        }


def lidar_sweep(
    seed: int, *, points: int = 5000, rings: int = 32, nan_points: int = 0, inf_points: int = 0
) -> Sweep:
    """Points ordered ring by ring, each ring one turn of azimuth (what an organized cloud needs)."""
    if points < 1 or rings < 1:
        raise ValueError("points and rings must be positive")
    if nan_points + inf_points > points:
        raise ValueError("more planted invalid points than points")
    g = np_rng(seed, "lidar")
    per_ring = math.ceil(points / rings)
    index = np.arange(points)
    ring = (index // per_ring).astype(np.uint16)
    column = index % per_ring
    elevation = np.radians(np.linspace(-25.0, 5.0, rings))[ring]
    azimuth = 2 * np.pi * column / per_ring + g.uniform(-0.002, 0.002, points)
    ground_range = np.where(elevation < 0, SENSOR_HEIGHT / np.tan(-np.minimum(elevation, -1e-3)), np.inf)
    obstacle = g.random(points) < 0.25
    # An obstacle is hit before the beam would reach the ground.
    reach = np.where(
        obstacle,
        np.minimum(g.uniform(3.0, 60.0, points), 0.95 * ground_range),
        np.minimum(ground_range, 90.0),
    )
    structure = ~np.isfinite(ground_range) | (reach > 89.0)
    reach = np.where(structure, g.uniform(20.0, 90.0, points), reach)
    hit_ground = ~obstacle & ~structure & (ground_range <= 90.0)
    classification = np.where(
        hit_ground, CLASS_GROUND, np.where(structure, CLASS_BUILDING, CLASS_UNCLASSIFIED)
    ).astype(np.uint8)

    def snap(values: np.ndarray) -> np.ndarray:
        return (np.round(values / GRID) * GRID).astype(np.float32)

    x = snap(reach * np.cos(elevation) * np.cos(azimuth))
    y = snap(reach * np.cos(elevation) * np.sin(azimuth))
    z = snap(np.where(hit_ground, -SENSOR_HEIGHT, reach * np.sin(elevation)))
    intensity = np.round(g.uniform(0, 255, points)).astype(np.float32)
    timestamp = TIMESTAMP_BASE + np.round(column / per_ring * 0.1, 6)
    chosen = g.choice(points, size=nan_points + inf_points, replace=False)
    for i in chosen[:nan_points]:
        x[i] = y[i] = z[i] = np.nan
    for i in chosen[nan_points:]:
        axis = (x, y, z)[int(g.integers(3))]
        axis[i] = np.inf if g.random() < 0.5 else -np.inf
    return Sweep(x, y, z, intensity, ring, timestamp, classification, nan_points, inf_points)


# --- PCD ---------------------------------------------------------------------------------------


def _pcd_header(fields: tuple[PcdField, ...], width: int, height: int, points: int, encoding: str) -> bytes:
    lines = [
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS " + " ".join(f.name for f in fields),
        "SIZE " + " ".join(str(f.size) for f in fields),
        "TYPE " + " ".join(f.type for f in fields),
        "COUNT " + " ".join("1" for _ in fields),
        f"WIDTH {width}",
        f"HEIGHT {height}",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {points}",
        f"DATA {encoding}",
    ]
    return ("\n".join(lines) + "\n").encode("ascii")


def _ascii_value(value: Any, field: PcdField) -> str:
    if field.type == "F":
        return repr(float(value))  # shortest round-trip form: "nan", "inf", "-1.25"
    return str(int(value))


def _pcd_body(
    sweep: Sweep, fields: tuple[PcdField, ...], encoding: PcdEncoding
) -> tuple[bytes, dict[str, Any]]:
    columns = [sweep.column(f.name).astype(f.dtype) for f in fields]
    if encoding == "ascii":
        rows = zip(*(column.tolist() for column in columns), strict=True)
        text = "".join(
            " ".join(_ascii_value(v, f) for v, f in zip(row, fields, strict=True)) + "\n" for row in rows
        )
        return text.encode("ascii"), {}
    if encoding == "binary":
        record = np.empty(len(sweep), dtype=[(f.name, f.dtype) for f in fields])
        for f, column in zip(fields, columns, strict=True):
            record[f.name] = column
        return record.tobytes(), {}
    if encoding == "binary_compressed":
        planar = b"".join(column.tobytes() for column in columns)
        compressed = lzf_compress(planar)
        sizes = {"compressed_size": len(compressed), "uncompressed_size": len(planar)}
        return struct.pack("<II", len(compressed), len(planar)) + compressed, sizes
    raise ValueError(f"unknown PCD encoding {encoding!r}")


def pcd_cloud(
    seed: int,
    *,
    points: int = 5000,
    encoding: PcdEncoding = "binary",
    fields: FieldSet = "xyzi",
    nan_points: int = 8,
    inf_points: int = 2,
    organized: bool = False,
    key: str | None = None,
) -> SyntheticFile:
    """A PCD file. ``organized`` makes HEIGHT the ring count (WIDTH * HEIGHT = POINTS, so
    ``points`` must be a multiple of 32); otherwise HEIGHT is 1.

    ``expected`` adds: version, encoding, fields, sizes, types, counts, width, height, viewpoint,
    data_offset (bytes before the data), and compressed/uncompressed sizes for binary_compressed.
    """
    rings = 32
    if organized and points % rings:
        raise ValueError(f"an organized cloud has {rings} rows: points must be a multiple of {rings}")
    sweep = lidar_sweep(seed, points=points, rings=rings, nan_points=nan_points, inf_points=inf_points)
    layout = _FIELD_SETS[fields]
    width, height = (points // rings, rings) if organized else (points, 1)
    header = _pcd_header(layout, width, height, points, encoding)
    body, sizes = _pcd_body(sweep, layout, encoding)
    expected = sweep.ground_truth() | {
        "format": "pcd",
        "version": "0.7",
        "encoding": encoding,
        "fields": [f.name for f in layout],
        "sizes": [f.size for f in layout],
        "types": [f.type for f in layout],
        "counts": [1 for _ in layout],
        "width": width,
        "height": height,
        "viewpoint": [0, 0, 0, 1, 0, 0, 0],
        "data_offset": len(header),
        **sizes,
    }
    name = key or f"lidar/pcd/{encoding}/sweep_{seed:06d}{'_organized' if organized else ''}.pcd"
    return SyntheticFile(name, header + body, "pcd", expected)


def pcd_points_mismatch(
    seed: int,
    *,
    points: int = 1000,
    encoding: PcdEncoding = "binary",
    missing: int = 10,
    key: str | None = None,
) -> SyntheticFile:
    """A PCD whose header (WIDTH and POINTS) promises ``missing`` more points than its data holds,
    as a writer killed mid-file or a hand-edited header leaves it."""
    sweep = lidar_sweep(seed, points=points, nan_points=0, inf_points=0)
    layout = _FIELD_SETS["xyzi"]
    claimed = points + missing
    body, _ = _pcd_body(sweep, layout, encoding)
    data = _pcd_header(layout, claimed, 1, claimed, encoding) + body
    expected = corrupt_expected(
        None, "points_mismatch", format="pcd", encoding=encoding, header_points=claimed, actual_points=points
    )
    return SyntheticFile(key or f"lidar/pcd/bad/sweep_{seed:06d}_points_mismatch.pcd", data, "pcd", expected)


# --- LAS, PLY, KITTI ---------------------------------------------------------------------------


def las_cloud(
    seed: int, *, points: int = 5000, version: str = "1.2", point_format: int = 3, key: str | None = None
) -> SyntheticFile:
    """A LAS file written by laspy (no NaN: LAS stores scaled integers).

    ``expected`` adds: version, point_format, scales, offsets, classification counts (by class
    code as a string), creation_date, and which optional dimensions exist (gps_time, rgb).
    Determinism: laspy stamps the header with today's date unless told, so we set
    :data:`LAS_CREATION_DATE`.
    """
    if point_format not in _LAS_VERSIONS.get(version, ()):
        raise ValueError(f"LAS {version} does not define point format {point_format}")
    sweep = lidar_sweep(seed, points=points)
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.offsets = np.array(LAS_OFFSETS)
    header.scales = np.array(LAS_SCALES)
    header.creation_date = LAS_CREATION_DATE
    header.system_identifier = "SANDBOX"
    header.generating_software = "sandbox.datasets"
    las = laspy.LasData(header)
    scaled = [
        np.round(sweep.column(axis).astype(np.float64) / scale).astype(np.int32)
        for axis, scale in zip("xyz", LAS_SCALES, strict=True)
    ]
    # Integer coordinates relative to the offsets; the real-world value is X * scale + offset.
    las.X, las.Y, las.Z = scaled
    las.intensity = (sweep.intensity.astype(np.uint16) * 257).astype(np.uint16)
    las.classification = sweep.classification
    las.return_number = np.ones(points, dtype=np.uint8)
    las.number_of_returns = np.ones(points, dtype=np.uint8)
    dimensions = set(las.point_format.dimension_names)
    if "gps_time" in dimensions:
        las.gps_time = sweep.timestamp - TIMESTAMP_BASE
    has_rgb = {"red", "green", "blue"} <= dimensions
    if has_rgb:
        shade = (sweep.intensity.astype(np.uint16) * 257).astype(np.uint16)
        las.red, las.green, las.blue = shade, shade, shade
    buffer = io.BytesIO()
    las.write(buffer)
    world = [
        values.astype(np.float64) * scale + offset
        for values, scale, offset in zip(scaled, LAS_SCALES, LAS_OFFSETS, strict=True)
    ]
    classes, counts = np.unique(sweep.classification, return_counts=True)
    expected = {
        "format": "las",
        "version": version,
        "point_format": point_format,
        "points": points,
        "nan_points": 0,
        "inf_points": 0,
        "finite_points": points,
        "bounds": {"min": [float(v.min()) for v in world], "max": [float(v.max()) for v in world]},
        "scales": list(LAS_SCALES),
        "offsets": list(LAS_OFFSETS),
        "classification": {str(int(c)): int(n) for c, n in zip(classes, counts, strict=True)},
        "creation_date": LAS_CREATION_DATE.isoformat(),
        "has_gps_time": "gps_time" in dimensions,
        "has_rgb": has_rgb,
    }
    name = key or f"lidar/las/v{version.replace('.', '')}/sweep_{seed:06d}_pf{point_format}.las"
    return SyntheticFile(name, buffer.getvalue(), "las", expected)


def ply_cloud(
    seed: int,
    *,
    points: int = 5000,
    encoding: PlyEncoding = "binary_little_endian",
    faces: int = 0,
    nan_points: int = 0,
    key: str | None = None,
) -> SyntheticFile:
    """A PLY file via plyfile: vertex (x, y, z float, intensity uchar) and optionally ``faces``
    triangles (``vertex_indices`` list). ``expected`` adds encoding, elements {name: count} and
    vertex_properties."""
    sweep = lidar_sweep(seed, points=points, nan_points=nan_points)
    vertex = np.empty(points, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "u1")])
    vertex["x"], vertex["y"], vertex["z"] = sweep.x, sweep.y, sweep.z
    vertex["intensity"] = sweep.intensity.astype(np.uint8)
    elements = [PlyElement.describe(vertex, "vertex")]
    if faces:
        triangles = np_rng(seed, "ply-faces").integers(0, points, size=(faces, 3), dtype=np.int32)
        face = np.empty(faces, dtype=[("vertex_indices", "<i4", (3,))])
        face["vertex_indices"] = triangles
        elements.append(
            PlyElement.describe(
                face, "face", len_types={"vertex_indices": "u1"}, val_types={"vertex_indices": "i4"}
            )
        )
    ply = PlyData(
        elements,
        text=encoding == "ascii",
        byte_order="<",
        comments=[f"sandbox.datasets lidar sweep seed={seed}"],
    )
    buffer = io.BytesIO()
    ply.write(buffer)
    expected = sweep.ground_truth() | {
        "format": "ply",
        "encoding": encoding,
        "elements": {"vertex": points, **({"face": faces} if faces else {})},
        "vertex_properties": ["x", "y", "z", "intensity"],
    }
    name = key or f"lidar/ply/{encoding}/sweep_{seed:06d}.ply"
    return SyntheticFile(name, buffer.getvalue(), "ply", expected)


def kitti_scan(
    seed: int, *, points: int = 5000, nan_points: int = 0, key: str | None = None
) -> SyntheticFile:
    """A KITTI Velodyne ``.bin``: float32 little-endian (x, y, z, reflectance) records, no header,
    reflectance in [0, 1]. ``expected`` adds record_bytes (16)."""
    sweep = lidar_sweep(seed, points=points, nan_points=nan_points)
    records = np.stack([sweep.x, sweep.y, sweep.z, sweep.intensity / np.float32(256)], axis=1).astype("<f4")
    expected = sweep.ground_truth() | {"format": "kitti_bin", "record_bytes": 16}
    return SyntheticFile(key or f"lidar/kitti/{seed:010d}.bin", records.tobytes(), "kitti_bin", expected)


def pointcloud_dataset(seed: int, *, points: int = 5000, prefix: str = "lidar") -> list[SyntheticFile]:
    """One sweep in every format and encoding, plus the damaged files a LiDAR bucket collects.

    PCD ascii, binary (LiDAR fields: + ring, timestamp), binary_compressed, an organized binary;
    LAS 1.2 formats 0/1/3 and 1.4 format 6; PLY ascii and binary with faces; KITTI; then a PCD whose
    POINTS disagrees with its data, a truncated binary_compressed PCD, and a truncated LAS.
    """
    organized_points = max(32, points - points % 32)
    clouds = [
        pcd_cloud(seed, points=points, encoding="ascii", key=f"{prefix}/pcd/sweep_{seed}_ascii.pcd"),
        pcd_cloud(
            seed,
            points=points,
            encoding="binary",
            fields="lidar",
            key=f"{prefix}/pcd/sweep_{seed}_binary.pcd",
        ),
        pcd_cloud(
            seed, points=points, encoding="binary_compressed", key=f"{prefix}/pcd/sweep_{seed}_lzf.pcd"
        ),
        pcd_cloud(
            seed, points=organized_points, organized=True, key=f"{prefix}/pcd/sweep_{seed}_organized.pcd"
        ),
        *(
            las_cloud(
                seed,
                points=points,
                version=version,
                point_format=fmt,
                key=f"{prefix}/las/sweep_{seed}_{tag}.las",
            )
            for version, fmt, tag in (
                ("1.2", 0, "v12_pf0"),
                ("1.2", 1, "v12_pf1"),
                ("1.2", 3, "v12_pf3"),
                ("1.4", 6, "v14_pf6"),
            )
        ),
        ply_cloud(seed, points=points, encoding="ascii", key=f"{prefix}/ply/sweep_{seed}_ascii.ply"),
        ply_cloud(seed, points=points, faces=points // 4, key=f"{prefix}/ply/sweep_{seed}_binary.ply"),
        kitti_scan(seed, points=points, key=f"{prefix}/kitti/{seed:010d}.bin"),
    ]
    compressed, las = clouds[2], clouds[6]
    damaged = [
        pcd_points_mismatch(
            seed, points=min(points, 1000), key=f"{prefix}/pcd/sweep_{seed}_points_mismatch.pcd"
        ),
        truncate(compressed, seed, low=int(compressed.expected["data_offset"]) + 8, high=compressed.size),
        truncate(las, seed, low=las.size // 3, high=las.size),
    ]
    return clouds + damaged
