"""Synthetic datasets: reproducible to the byte, and every ``expected`` confirmed by an outside reader.

The oracles are the format libraries themselves (gdstk, Pillow, laspy, plyfile), the project's
ONTAP simulator read through NetApp's own SDK and, where the toolchain has no reader (PCD, LZF,
ISO-BMFF boxes, H.264 SPS), small readers written here from the format specifications,
deliberately independent of the writers under test.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import boto3
import gdstk
import laspy
import numpy as np
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from netapp_ontap import HostConnection
from netapp_ontap.resources import CifsShare, ExportPolicy, FileDirectorySecurity, Flexcache, FlexcacheOrigin
from PIL import Image
from plyfile import PlyData

import sandbox.datasets as datasets
from sandbox.datasets import (
    GDS_TIMESTAMP,
    VIOLATION_KINDS,
    AclTree,
    SyntheticFile,
    acl_tree,
    build_library,
    camera_image,
    flexcache_simulators,
    flexcache_topology,
    gdsii_file,
    image_dataset,
    kitti_scan,
    las_cloud,
    layout_dataset,
    layout_ground_truth,
    load_acl_tree,
    lzf_compress,
    oasis_file,
    pcd_cloud,
    pcd_points_mismatch,
    ply_cloud,
    pointcloud_dataset,
    upload_files,
    video_clip,
    video_dataset,
)
from sandbox.datasets.acl_trees import BROAD_PRINCIPALS, SE_DACL_PROTECTED
from sandbox.datasets.corrupt import garbage, patch, truncate, variant_key
from sandbox.ontap import OntapSimulator
from shared.s3ap import AccessPoint

REPO_ROOT = Path(__file__).resolve().parents[2]

# --- determinism ---------------------------------------------------------------------------------

GENERATORS: dict[str, Callable[[int], SyntheticFile]] = {
    "gdsii": lambda seed: gdsii_file(seed, cells=6, shapes_per_cell=10, depth=3),
    "oasis": lambda seed: oasis_file(seed, cells=6, shapes_per_cell=10, depth=3),
    "oasis-plain": lambda seed: oasis_file(
        seed,
        cells=6,
        shapes_per_cell=10,
        depth=3,
        compression_level=0,
        detect_rectangles=False,
        validation=None,
    ),
    "png": lambda seed: camera_image(seed, width=96, height=64),
    "jpeg": lambda seed: camera_image(seed, width=96, height=64, fmt="jpeg"),
    "pcd-ascii": lambda seed: pcd_cloud(seed, points=300, encoding="ascii"),
    "pcd-binary": lambda seed: pcd_cloud(seed, points=300, encoding="binary", fields="lidar"),
    "pcd-compressed": lambda seed: pcd_cloud(seed, points=300, encoding="binary_compressed"),
    "las-1.2-pf3": lambda seed: las_cloud(seed, points=300, version="1.2", point_format=3),
    "las-1.4-pf6": lambda seed: las_cloud(seed, points=300, version="1.4", point_format=6),
    "ply-ascii": lambda seed: ply_cloud(seed, points=300, encoding="ascii", nan_points=2),
    "ply-binary": lambda seed: ply_cloud(seed, points=300, faces=20),
    "kitti": lambda seed: kitti_scan(seed, points=300),
    "mp4": lambda seed: video_clip(seed, width=64, height=48, seconds=0.5),
    "mov": lambda seed: video_clip(seed, width=64, height=48, seconds=0.5, container="mov"),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_gives_identical_bytes_and_another_seed_differs(name: str) -> None:
    generate = GENERATORS[name]

    first, again, other = generate(7), generate(7), generate(8)

    assert first == again
    assert first.data == again.data
    assert other.data != first.data


CROSS_PROCESS_SAMPLE: list[tuple[str, dict[str, Any]]] = [
    ("layout_dataset", {"cells": 6, "shapes_per_cell": 10, "depth": 3}),
    ("image_dataset", {"count": 2, "width": 64, "height": 48}),
    ("pointcloud_dataset", {"points": 256}),
    ("video_dataset", {"width": 64, "height": 48, "seconds": 0.5}),
]
DIGEST_SCRIPT = """
import hashlib, json, sys
import sandbox.datasets as datasets
files = [f for name, options in json.loads(sys.argv[1]) for f in getattr(datasets, name)(3, **options)]
print(hashlib.sha256(b"".join(f.key.encode() + f.data for f in files)).hexdigest())
"""


def test_generators_are_reproducible_across_processes() -> None:
    """gdstk (C++), zlib, libjpeg and numpy give the same bytes in a fresh interpreter with another
    hash seed: nothing depends on the clock, PYTHONHASHSEED or the process."""
    environment = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    sample = json.dumps(CROSS_PROCESS_SAMPLE)

    result = subprocess.run(
        [sys.executable, "-c", DIGEST_SCRIPT, sample],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        cwd=REPO_ROOT,
    )

    files = [f for name, options in CROSS_PROCESS_SAMPLE for f in getattr(datasets, name)(3, **options)]
    local = hashlib.sha256(b"".join(f.key.encode() + f.data for f in files)).hexdigest()
    assert result.stdout.strip() == local


def test_dataset_keys_are_unique_and_relative() -> None:
    files = (
        layout_dataset(1)
        + image_dataset(1, count=2, width=64, height=48)
        + pointcloud_dataset(1, points=256)
        + video_dataset(1, width=64, height=48)
        + acl_tree(1).files()
    )

    keys = [f.key for f in files]

    assert len(keys) == len(set(keys))
    assert not any(key.startswith("/") for key in keys)
    assert all(json.dumps(f.expected) for f in files)  # ground truth is JSON-able


# --- layouts -------------------------------------------------------------------------------------


def _read_layout(item: SyntheticFile, tmp_path: Path) -> gdstk.Library:
    target = tmp_path / ("layout.gds" if item.kind == "gdsii" else "layout.oas")
    target.write_bytes(item.data)
    return gdstk.read_gds(str(target)) if item.kind == "gdsii" else gdstk.read_oas(str(target))


def _assert_layout_matches(found: dict[str, Any], expected: Mapping[str, Any]) -> None:
    """Everything gdstk reports on read-back, bounding boxes included, equals the ground truth."""
    assert found == {name: expected[name] for name in found}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression_level": 0, "detect_rectangles": False, "detect_trapezoids": False, "validation": None},
        {"compression_level": 9, "validation": "checksum32", "standard_properties": True},
    ],
    ids=["default", "plain", "dense"],
)
def test_gdstk_reads_back_our_oasis_as_expected(options: dict[str, Any], tmp_path: Path) -> None:
    item = oasis_file(11, **options)

    found = layout_ground_truth(_read_layout(item, tmp_path))

    _assert_layout_matches(found, item.expected)
    assert item.data.startswith(b"%SEMI-OASIS\r\n")
    validated, _ = gdstk.oas_validate(str(tmp_path / "layout.oas"))
    assert validated is (None if item.expected["validation"] is None else True)


def test_gdstk_reads_back_our_gdsii_as_expected(tmp_path: Path) -> None:
    item = gdsii_file(11)

    found = layout_ground_truth(_read_layout(item, tmp_path))
    info = gdstk.gds_info(str(tmp_path / "layout.gds"))

    _assert_layout_matches(found, item.expected)
    assert gdstk.gds_timestamp(str(tmp_path / "layout.gds")) == GDS_TIMESTAMP
    assert sorted(info["cell_names"]) == item.expected["cells"]
    assert sorted(map(list, info["layers_and_datatypes"])) == item.expected["layers"]
    assert sorted(map(list, info["layers_and_texttypes"])) == item.expected["text_layers"]
    assert info["num_polygons"] == item.expected["totals"]["polygons"]
    assert info["num_references"] == item.expected["totals"]["references"]


def test_layouts_exercise_the_hierarchy_features_parsers_get_wrong() -> None:
    library = build_library(5)

    cells = [cell for cell in library.cells if isinstance(cell, gdstk.Cell)]
    references = [ref for cell in cells for ref in cell.references]
    truth = layout_ground_truth(library)

    assert truth["depth"] == 4
    assert any(ref.repetition.size > 1 for ref in references)  # arrays (AREF / repetitions)
    assert any(ref.x_reflection for ref in references)
    assert any(ref.magnification != 1 for ref in references)
    assert any(ref.rotation != 0 for ref in references)
    assert all(math.isclose(ref.rotation % (math.pi / 2), 0, abs_tol=1e-12) for ref in references)
    assert len(truth["layers"]) > 20
    assert truth["totals"]["paths"] > 0 and truth["totals"]["labels"] > 0
    assert {type(path) for cell in cells for path in cell.paths} == {gdstk.FlexPath, gdstk.RobustPath}


def test_oasis_writer_options_change_the_bytes_not_the_content() -> None:
    compressed = oasis_file(3)
    plain = oasis_file(3, compression_level=0, detect_rectangles=False, detect_trapezoids=False)

    assert plain.data != compressed.data
    assert plain.size > compressed.size
    assert {k: v for k, v in plain.expected.items() if k.startswith(("cell", "top", "layers", "totals"))} == {
        k: v for k, v in compressed.expected.items() if k.startswith(("cell", "top", "layers", "totals"))
    }


def test_damaged_layouts_are_refused_or_detectably_different(tmp_path: Path) -> None:
    dataset = layout_dataset(2)
    by_key = {f.key: f for f in dataset}
    files = {f.expected["reason"] + ":" + f.kind: f for f in dataset if f.corrupt}
    valid_gds, valid_oas = by_key["layouts/chip_2.gds"], by_key["layouts/chip_2.oas"]
    refused = ["truncated:gdsii", "truncated:oasis", "bad_record_length:gdsii", "bad_magic:oasis"]
    refused += ["garbage:gdsii", "garbage:oasis"]

    for name in refused:
        with pytest.raises((OSError, RuntimeError)):
            _read_layout(files[name], tmp_path)

    # gdstk is lenient with an unknown record type: it warns, skips, and loses an element.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lossy = layout_ground_truth(_read_layout(files["unknown_record_type:gdsii"], tmp_path))
    assert caught
    assert lossy["totals"] != valid_gds.expected["totals"]
    # A renamed cell still parses; only the validation signature catches it.
    renamed = files["checksum_mismatch:oasis"]
    cells = set(layout_ground_truth(_read_layout(renamed, tmp_path))["cells"])
    assert cells == set(valid_oas.expected["cells"]) - {renamed.expected["cell"]} | {
        renamed.expected["renamed_to"]
    }
    assert gdstk.oas_validate(str(tmp_path / "layout.oas"))[0] is False

    assert len(files) == 8
    for item in files.values():
        if "valid_key" in item.expected:
            assert item.data != by_key[item.expected["valid_key"]].data
    assert files["truncated:gdsii"].size < valid_gds.size
    assert files["truncated:oasis"].size < valid_oas.size


READ_OASIS_SCRIPT = """
import sys, gdstk
try:
    gdstk.read_oas(sys.argv[1])
except Exception:
    sys.exit(3)
"""


def test_oasis_cut_in_its_name_tables_is_never_read_as_a_library(tmp_path: Path) -> None:
    """gdstk 1.0.2 dies with SIGSEGV on most such files, so the read runs in a child process: the
    file must not come back as a library, whether the reader raises or crashes."""
    dataset = layout_dataset(1, include_name_table_truncation=True)
    valid = next(f for f in dataset if f.key == "layouts/chip_1.oas")
    item = dataset[-1]
    target = tmp_path / "names.oas"
    target.write_bytes(item.data)

    result = subprocess.run(
        [sys.executable, "-c", READ_OASIS_SCRIPT, str(target)], capture_output=True, check=False
    )

    assert item.expected["region"] == "name_tables"
    assert item.data == valid.data[: item.size]
    assert item.size < valid.size - 256  # END record gone too
    assert result.returncode != 0


# --- images --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_pillow_reads_camera_images_with_the_expected_size(fmt: str) -> None:
    item = camera_image(4, width=320, height=200, fmt=fmt)  # type: ignore[arg-type]

    image = Image.open(io.BytesIO(item.data))
    image.load()

    assert (image.width, image.height, image.format, image.mode) == (320, 200, item.expected["format"], "RGB")
    for found in item.expected["objects"]:
        x0, y0, x1, y1 = found["box"]
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 200
    if fmt == "jpeg":
        exif = image.getexif()
        assert (exif[0x010F], exif[0x0110]) == (item.expected["exif"]["make"], item.expected["exif"]["model"])
        assert exif.get_ifd(0x8769)[0x9003] == item.expected["exif"]["datetime_original"]


def test_damaged_images_are_refused_by_pillow() -> None:
    files = image_dataset(9, count=2, width=128, height=96)
    damaged = [f for f in files if f.corrupt]

    assert sorted(f.expected["reason"] for f in damaged) == sorted(
        ["truncated", "truncated", "chunk_crc_mismatch", "bad_frame_header"]
    )
    for item in damaged:
        with pytest.raises(OSError):  # UnidentifiedImageError is an OSError
            Image.open(io.BytesIO(item.data)).load()
        original = next(f for f in files if f.key == item.expected["valid_key"])
        assert item.data != original.data


# --- LZF, PCD and the other point cloud formats -----------------------------------------------------


def lzf_decompress(data: bytes, expected_size: int) -> bytes:
    """liblzf's decoder, from the format description (not from the compressor under test)."""
    out = bytearray()
    position = 0
    while position < len(data):
        control = data[position]
        position += 1
        if control < 32:
            run = control + 1
            if position + run > len(data):
                raise ValueError("literal run past the end of the input")
            out += data[position : position + run]
            position += run
            continue
        length = control >> 5
        if length == 7:
            length += data[position]
            position += 1
        length += 2
        back = ((control & 0x1F) << 8) + data[position] + 1
        position += 1
        if back > len(out):
            raise ValueError("back reference before the start of the output")
        for _ in range(length):
            out.append(out[-back])
    if len(out) != expected_size:
        raise ValueError(f"decompressed {len(out)} bytes, expected {expected_size}")
    return bytes(out)


@given(st.binary(max_size=3000))
def test_lzf_round_trips_arbitrary_bytes(data: bytes) -> None:
    compressed = lzf_compress(data)

    assert lzf_decompress(compressed, len(data)) == data
    assert len(compressed) <= len(data) + math.ceil(len(data) / 32)


@given(st.lists(st.sampled_from([b"\x00" * 7, b"abc", b"\x01\x02\x03\x04", b"x" * 300]), max_size=60))
def test_lzf_round_trips_and_shrinks_repetitive_bytes(chunks: list[bytes]) -> None:
    data = b"".join(chunks)

    compressed = lzf_compress(data)

    assert lzf_decompress(compressed, len(data)) == data
    if len(data) > 200:
        assert len(compressed) < len(data)


def test_lzf_handles_far_matches_long_runs_and_out_of_window_repeats() -> None:
    block = random.Random(0).randbytes(8100)
    data = block + block + b"\x00" * 5000 + block[:300]  # the last repeat is > 8 KiB back

    compressed = lzf_compress(data)

    assert lzf_decompress(compressed, len(data)) == data
    # Literals for the first block and the out-of-window tail (1 control byte per 32), matches
    # (3 bytes per 264) for the rest.
    assert len(compressed) < len(block) + 300 + 600 < len(data) / 2


_PCD_TYPES = {
    ("F", 4): "<f4",
    ("F", 8): "<f8",
    ("U", 1): "u1",
    ("U", 2): "<u2",
    ("U", 4): "<u4",
    ("I", 4): "<i4",
}


def read_pcd(data: bytes) -> tuple[dict[str, list[str]], np.ndarray]:
    """A minimal PCD reader from PCL's file format description: header, then ascii rows, packed
    binary rows, or ``binary_compressed`` (sizes, LZF, one plane per field)."""
    header: dict[str, list[str]] = {}
    offset = 0
    while True:
        end = data.index(b"\n", offset)
        line = data[offset:end].decode("ascii").strip()
        offset = end + 1
        if line.startswith("#") or not line:
            continue
        name, *values = line.split()
        header[name] = values
        if name == "DATA":
            break
    points = int(header["POINTS"][0])
    dtype = np.dtype(
        [
            (f, _PCD_TYPES[(t, int(s))])
            for f, t, s in zip(header["FIELDS"], header["TYPE"], header["SIZE"], strict=True)
        ]
    )
    body = data[offset:]
    encoding = header["DATA"][0]
    if encoding == "ascii":
        rows = [line.split() for line in body.decode("ascii").splitlines() if line.strip()]
        cloud = np.empty(len(rows), dtype=dtype)
        for index, name in enumerate(dtype.names or ()):
            cloud[name] = [float(row[index]) for row in rows]
        return header, cloud
    if encoding == "binary":
        return header, np.frombuffer(body, dtype=dtype, count=len(body) // dtype.itemsize)
    compressed_size, raw_size = struct.unpack_from("<II", body)
    planar = lzf_decompress(body[8 : 8 + compressed_size], raw_size)
    cloud = np.empty(points, dtype=dtype)
    start = 0
    for name in dtype.names or ():
        field = dtype[name]
        cloud[name] = np.frombuffer(planar, dtype=field, count=points, offset=start)
        start += field.itemsize * points
    return header, cloud


def _cloud_truth(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> dict[str, Any]:
    xyz = np.stack([x, y, z], axis=1).astype(np.float64)
    nan = np.isnan(xyz).any(axis=1)
    inf = np.isinf(xyz).any(axis=1)
    finite = ~nan & ~inf
    return {
        "points": len(xyz),
        "nan_points": int(nan.sum()),
        "inf_points": int(inf.sum()),
        "finite_points": int(finite.sum()),
        "bounds": {"min": xyz[finite].min(axis=0).tolist(), "max": xyz[finite].max(axis=0).tolist()},
    }


@pytest.mark.parametrize("encoding", ["ascii", "binary", "binary_compressed"])
@pytest.mark.parametrize("fields", ["xyzi", "lidar"])
def test_pcd_header_and_points_match_expected(encoding: str, fields: str) -> None:
    item = pcd_cloud(21, points=2000, encoding=encoding, fields=fields)  # type: ignore[arg-type]

    header, cloud = read_pcd(item.data)

    expected = item.expected
    assert header["VERSION"] == ["0.7"]
    assert header["FIELDS"] == expected["fields"]
    assert header["SIZE"] == [str(s) for s in expected["sizes"]]
    assert header["TYPE"] == expected["types"]
    assert header["COUNT"] == [str(c) for c in expected["counts"]]
    assert (int(header["WIDTH"][0]), int(header["HEIGHT"][0])) == (expected["width"], expected["height"])
    assert header["VIEWPOINT"] == [str(v) for v in expected["viewpoint"]]
    assert header["DATA"] == [encoding]
    assert item.data[expected["data_offset"] - len("DATA " + encoding + "\n") :].startswith(b"DATA ")
    assert _cloud_truth(cloud["x"], cloud["y"], cloud["z"]) == {
        k: expected[k] for k in ("points", "nan_points", "inf_points", "finite_points", "bounds")
    }
    assert expected["nan_points"] > 0 and expected["inf_points"] > 0


def test_pcd_encodings_hold_the_same_points() -> None:
    clouds = [
        read_pcd(pcd_cloud(5, points=500, encoding=e).data)[1]
        for e in ("ascii", "binary", "binary_compressed")
    ]

    for other in clouds[1:]:
        for name in ("x", "y", "z", "intensity"):
            np.testing.assert_array_equal(clouds[0][name], other[name])


def test_organized_pcd_has_rows_of_rings() -> None:
    item = pcd_cloud(5, points=640, organized=True)

    header, cloud = read_pcd(item.data)

    assert (int(header["WIDTH"][0]), int(header["HEIGHT"][0]), len(cloud)) == (20, 32, 640)


def test_pcd_whose_points_header_lies_is_detectable() -> None:
    item = pcd_points_mismatch(3, points=400, missing=7)

    header, cloud = read_pcd(item.data)

    assert item.expected == {
        "corrupt": True,
        "reason": "points_mismatch",
        "format": "pcd",
        "encoding": "binary",
        "header_points": 407,
        "actual_points": 400,
    }
    assert int(header["POINTS"][0]) == 407
    assert len(cloud) == 400


@pytest.mark.parametrize(("version", "point_format"), [("1.2", 0), ("1.2", 1), ("1.2", 3), ("1.4", 6)])
def test_laspy_reads_las_with_the_expected_count_and_bounds(version: str, point_format: int) -> None:
    item = las_cloud(8, points=1500, version=version, point_format=point_format)

    las = laspy.read(io.BytesIO(item.data))

    assert las.header.point_count == item.expected["points"] == 1500
    assert str(las.header.version) == version
    assert las.header.point_format.id == point_format
    assert np.allclose(las.header.mins, item.expected["bounds"]["min"], atol=1e-6)
    assert np.allclose(las.header.maxs, item.expected["bounds"]["max"], atol=1e-6)
    assert np.allclose([las.x.min(), las.y.min(), las.z.min()], item.expected["bounds"]["min"], atol=1e-6)
    classes, counts = np.unique(np.asarray(las.classification), return_counts=True)
    assert {str(int(c)): int(n) for c, n in zip(classes, counts, strict=True)} == item.expected[
        "classification"
    ]
    assert las.header.creation_date.isoformat() == item.expected["creation_date"]
    dimensions = set(las.point_format.dimension_names)
    assert ("gps_time" in dimensions, "red" in dimensions) == (
        item.expected["has_gps_time"],
        item.expected["has_rgb"],
    )


def test_las_refuses_a_point_format_its_version_lacks() -> None:
    with pytest.raises(ValueError, match="point format 6"):
        las_cloud(1, version="1.2", point_format=6)


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian"])
def test_plyfile_reads_ply_with_the_expected_vertices(encoding: str) -> None:
    item = ply_cloud(6, points=800, encoding=encoding, faces=50, nan_points=3)  # type: ignore[arg-type]

    ply = PlyData.read(io.BytesIO(item.data))
    vertex = ply["vertex"].data

    assert ply.text is (encoding == "ascii")
    assert {e.name: e.count for e in ply.elements} == item.expected["elements"] == {"vertex": 800, "face": 50}
    assert [p.name for p in ply["vertex"].properties] == item.expected["vertex_properties"]
    assert _cloud_truth(vertex["x"], vertex["y"], vertex["z"]) == {
        k: item.expected[k] for k in ("points", "nan_points", "inf_points", "finite_points", "bounds")
    }


def test_kitti_scan_is_float32_records_with_the_expected_bounds() -> None:
    item = kitti_scan(2, points=700, nan_points=4)

    records = np.frombuffer(item.data, dtype="<f4").reshape(-1, 4)

    assert _cloud_truth(records[:, 0], records[:, 1], records[:, 2]) == {
        k: item.expected[k] for k in ("points", "nan_points", "inf_points", "finite_points", "bounds")
    }
    finite = np.isfinite(records[:, 3])
    assert ((records[finite, 3] >= 0) & (records[finite, 3] <= 1)).all()


def test_damaged_point_clouds_fail_their_readers() -> None:
    files = pointcloud_dataset(4, points=600)
    truncated_pcd = next(
        f for f in files if f.corrupt and f.kind == "pcd" and f.expected["reason"] == "truncated"
    )
    truncated_las = next(f for f in files if f.corrupt and f.kind == "las")

    with pytest.raises((ValueError, IndexError, struct.error)):
        read_pcd(truncated_pcd.data)
    with pytest.raises((laspy.errors.LaspyException, ValueError)):  # a partial last record
        laspy.read(io.BytesIO(truncated_las.data))
    assert truncated_las.size < truncated_las.expected["valid_size"]


# --- MP4 / MOV ---------------------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl"}


def read_boxes(
    data: bytes, start: int = 0, end: int | None = None, path: str = ""
) -> Iterator[tuple[str, bytes]]:
    """(path, payload) of every box, depth first, checking that sizes tile their parent exactly."""
    end = len(data) if end is None else end
    offset = start
    while offset < end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        assert size >= 8 and offset + size <= end, f"box {kind!r} at {offset} overflows its parent"
        name = f"{path}/{kind.decode('latin-1')}"
        payload = data[offset + 8 : offset + size]
        yield name, payload
        if kind in _CONTAINERS:
            yield from read_boxes(data, offset + 8, offset + size, name)
        elif kind == b"stsd":  # full box + entry count, then sample entries
            yield from read_boxes(data, offset + 16, offset + size, name)
        elif kind == b"avc1":  # 78 bytes of visual sample entry, then its boxes
            yield from read_boxes(data, offset + 8 + 78, offset + size, name)
        offset += size
    assert offset == end


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def u(self, bits: int) -> int:
        value = 0
        for _ in range(bits):
            byte = self.data[self.position // 8]
            value = (value << 1) | ((byte >> (7 - self.position % 8)) & 1)
            self.position += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)


def parse_sps(nal: bytes) -> dict[str, int]:
    """Width, height, profile and level from a Baseline SPS (H.264 7.3.2.1.1, 7.4.2.1.1)."""
    rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")
    bits = _Bits(rbsp)
    profile, _, level = bits.u(8), bits.u(8), bits.u(8)
    bits.ue()  # seq_parameter_set_id
    bits.ue()  # log2_max_frame_num_minus4
    assert bits.ue() == 2  # pic_order_cnt_type
    bits.ue()  # max_num_ref_frames
    bits.u(1)
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    assert bits.u(1) == 1  # frame_mbs_only_flag
    bits.u(1)
    crop = [bits.ue() for _ in range(4)] if bits.u(1) else [0, 0, 0, 0]
    return {
        "profile": profile,
        "level": level,
        "width": width_mbs * 16 - 2 * (crop[0] + crop[1]),
        "height": height_units * 16 - 2 * (crop[2] + crop[3]),
    }


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"width": 322, "height": 182, "fps": 30, "seconds": 0.5},
        {"container": "mov"},
        {"faststart": False, "fps": 25, "seconds": 1.2},
    ],
    ids=["mp4", "cropped-30fps", "mov", "moov-last"],
)
def test_mp4_boxes_walk_cleanly_and_carry_the_expected_metadata(options: dict[str, Any]) -> None:
    item = video_clip(12, **options)
    expected = item.expected

    boxes = dict(read_boxes(item.data))

    brand = boxes["/ftyp"][:4].decode("ascii")
    _, _, _, timescale, duration = struct.unpack_from(">IIIII", boxes["/moov/mvhd"])
    width, height = struct.unpack_from(">II", boxes["/moov/trak/tkhd"], 76)
    _, _, _, media_timescale, media_duration = struct.unpack_from(">IIIII", boxes["/moov/trak/mdia/mdhd"])
    handler = boxes["/moov/trak/mdia/hdlr"][8:12]
    stts_entries, frames, delta = struct.unpack_from(">III", boxes["/moov/trak/mdia/minf/stbl/stts"], 4)
    _, sample_count = struct.unpack_from(">II", boxes["/moov/trak/mdia/minf/stbl/stsz"], 4)
    sizes = struct.unpack_from(f">{sample_count}I", boxes["/moov/trak/mdia/minf/stbl/stsz"], 12)
    (chunk_offset,) = struct.unpack_from(">I", boxes["/moov/trak/mdia/minf/stbl/stco"], 8)
    entry = boxes["/moov/trak/mdia/minf/stbl/stsd/avc1"]
    avcc = boxes["/moov/trak/mdia/minf/stbl/stsd/avc1/avcC"]
    (sps_length,) = struct.unpack_from(">H", avcc, 6)
    sps = parse_sps(avcc[8 : 8 + sps_length])

    assert brand == expected["brand"]
    assert [name for name in boxes if name.count("/") == 1] == [f"/{b}" for b in expected["top_level_boxes"]]
    assert timescale == expected["movie_timescale"]
    assert duration / timescale == pytest.approx(expected["duration_seconds"], abs=1 / timescale)
    assert (width >> 16, height >> 16) == (expected["width"], expected["height"])
    assert struct.unpack_from(">HH", entry, 24) == (expected["width"], expected["height"])
    assert {k: sps[k] for k in ("width", "height")} == {
        "width": expected["width"],
        "height": expected["height"],
    }
    assert (sps["profile"], sps["level"] / 10) == (66, expected["level"])
    assert (media_timescale, media_duration / media_timescale) == (
        expected["timescale"],
        expected["duration_seconds"],
    )
    assert handler == b"vide"
    assert (stts_entries, frames, media_timescale / delta) == (1, expected["frames"], expected["fps"])
    assert sample_count == expected["frames"]
    # The samples are where stco says, inside mdat, each an AVC length-prefixed NAL unit; the first an IDR.
    mdat_start = item.data.index(b"mdat") + 4
    assert mdat_start <= chunk_offset and chunk_offset + sum(sizes) == mdat_start + len(boxes["/mdat"])
    first = item.data[chunk_offset : chunk_offset + sizes[0]]
    assert struct.unpack_from(">I", first)[0] == sizes[0] - 4
    assert first[4] & 0x1F == 5
    assert all(item.data[chunk_offset + sum(sizes[:i]) + 4] & 0x1F == 1 for i in range(1, len(sizes)))
    if expected["format"] == "mov":
        assert boxes["/moov/trak/mdia/hdlr"][4:8] == b"mhlr"


def test_truncated_videos_break_the_box_walk() -> None:
    files = video_dataset(5, width=96, height=64)
    truncated = [f for f in files if f.corrupt]

    assert sorted(f.expected["moov_intact"] for f in truncated) == [False, True]
    for item in truncated:
        original = next(f for f in files if f.key == item.expected["valid_key"])
        assert item.size < original.size
        with pytest.raises(AssertionError, match="overflows"):
            list(read_boxes(item.data))
        if item.expected["moov_intact"]:
            moov = item.data.index(b"moov") - 4
            (size,) = struct.unpack_from(">I", item.data, moov)
            assert moov + size < item.size  # the metadata survived, the samples did not


# --- ACL trees -----------------------------------------------------------------------------------


def find_violations(tree: AclTree) -> dict[str, set[str]]:
    """Each kind's rule applied to the whole tree, straight from the kinds' definitions."""
    directory = {p.name: p for p in tree.principals}
    found: dict[str, set[str]] = {kind: set() for kind in VIOLATION_KINDS}
    for entry in tree.entries:
        record = entry.permissions
        if record is None:
            found["unreadable"].add(entry.path)
            continue
        for ace in record.get("acls", []):
            if ace["access"] != "access_allow":
                continue
            if (
                ace["user"] in BROAD_PRINCIPALS
                and ace["rights"] in ("modify", "full_control")
                and not entry.is_directory
            ):
                found["broad_principal_write"].add(entry.path)
            if ace["user"] not in directory:
                found["orphaned_sid"].add(entry.path)
            elif directory[ace["user"]].type == "user":
                found["direct_user_ace"].add(entry.path)
        flags = int(record.get("control_flags") or "0", 16)
        below_sensitive = any(entry.path.startswith(prefix + "/") for prefix in tree.sensitive_prefixes)
        if flags & SE_DACL_PROTECTED and entry.is_directory and below_sensitive:
            found["broken_inheritance"].add(entry.path)
        if record["effective_style"] == "unix" and int(str(record["mode_bits"])[-1]) & 2:
            found["world_writable_unix"].add(entry.path)
    for share in tree.shares:
        if any(a["user_or_group"] == "Everyone" and a["permission"] == "full_control" for a in share["acls"]):
            found["share_everyone_full_control"].add(f"share:{share['name']}")
    for policy in tree.export_policies:
        for rule in policy["rules"]:
            world = any(c["match"] == "0.0.0.0/0" for c in rule["clients"])
            if world and "any" in rule["rw_rule"] and "any" in rule["superuser"]:
                found["export_open_to_world"].add(f"export-policy:{policy['name']}/rule:{rule['index']}")
    return found


def _assert_exactly_the_planted_violations(tree: AclTree) -> None:
    found = find_violations(tree)

    assert [v.kind for v in tree.violations] == list(VIOLATION_KINDS)
    assert len({v.target for v in tree.violations}) == len(VIOLATION_KINDS)
    for violation in tree.violations:
        assert found[violation.kind] == {violation.target}, violation.kind


def test_acl_tree_plants_exactly_one_violation_of_each_kind() -> None:
    tree = acl_tree(1)

    _assert_exactly_the_planted_violations(tree)
    assert tree.violation("orphaned_sid").detail["user"].startswith("S-1-5-21-")
    assert tree.violation("broken_inheritance").target.startswith(tree.sensitive_prefixes[0] + "/")
    assert tree.entry(tree.violation("unreadable").target).is_directory is False
    # The trap: NTFS-style records report 777, which is not a violation.
    ntfs = [
        e.permissions for e in tree.entries if e.permissions and e.permissions["effective_style"] == "ntfs"
    ]
    assert ntfs and all(record["mode_bits"] == 777 for record in ntfs)


@given(seed=st.integers(0, 2**32), files=st.integers(8, 60), depth=st.integers(2, 4))
def test_every_seed_and_size_plants_exactly_one_violation_of_each_kind(
    seed: int, files: int, depth: int
) -> None:
    tree = acl_tree(seed, files=files, depth=depth)

    _assert_exactly_the_planted_violations(tree)
    assert sum(not e.is_directory for e in tree.entries) == files


def test_acl_tree_is_reproducible_and_names_are_hostile() -> None:
    tree = acl_tree(3)

    names = "".join(e.path for e in tree.entries)

    assert acl_tree(3) == tree
    assert acl_tree(4) != tree
    assert all(char in names for char in (" ", "#", "%", "契", "é"))
    assert all(e.key == e.path.removeprefix(tree.volume["junction_path"] + "/") for e in tree.entries[1:])
    documents = tree.files()
    assert len(documents) == sum(not e.is_directory for e in tree.entries)
    planted = {d.expected["path"]: d.expected["violations"] for d in documents if d.expected["violations"]}
    assert planted == {
        v.target: [v.kind]
        for v in tree.violations
        if not v.target.startswith(("share:", "export-policy:")) and not tree.entry(v.target).is_directory
    }


def test_acl_tree_requires_room_for_its_violations() -> None:
    with pytest.raises(ValueError, match="at least 8 files"):
        acl_tree(1, files=7)
    with pytest.raises(ValueError, match="depth"):
        acl_tree(1, depth=1)


def test_loaded_acl_tree_is_what_the_simulator_holds() -> None:
    tree = acl_tree(2, files=20)
    sim = OntapSimulator(password="pw")

    loaded = load_acl_tree(sim, tree)

    assert (loaded.svm.uuid, loaded.volume.uuid) == (tree.svm["uuid"], tree.volume["uuid"])
    assert loaded.unreadable_fault is None
    for entry in tree.entries:
        held = sim.file_security.get((tree.svm["uuid"], entry.path))
        if entry.permissions is None:
            assert held is None
        else:
            assert held is not None and held.record() == entry.permissions
    assert [s.record()["acls"] for s in sim.cifs_shares] == [list(s["acls"]) for s in tree.shares]
    rules = [[r.record() for r in p.rules] for p in sim.export_policies]
    assert rules == [list(p["rules"]) for p in tree.export_policies]


@pytest.mark.network
def test_simulator_serves_the_tree_and_fails_the_unreadable_file() -> None:
    tree = acl_tree(6, files=16)
    sim = OntapSimulator(password="pw")
    load_acl_tree(sim, tree)
    base = f"/api/protocols/file-security/permissions/{tree.svm['uuid']}/"
    odd = next(e for e in tree.entries if e.permissions and "%" in e.path and not e.is_directory)
    unreadable = tree.violation("unreadable").target
    shared = tree.violation("share_everyone_full_control").target.removeprefix("share:")

    with sim.running() as endpoint, requests.Session() as http:
        http.trust_env = False
        http.auth = (endpoint.username, endpoint.password)
        record = http.get(endpoint.base_url + base + quote(odd.path, safe="")).json()
        missing = http.get(endpoint.base_url + base + quote(unreadable, safe=""))
        shares = http.get(f"{endpoint.base_url}/api/protocols/cifs/shares", params={"fields": "acls"}).json()

    assert record == odd.permissions
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "4"
    by_name = {s["name"]: s["acls"] for s in shares["records"]}
    assert {
        "user_or_group": "Everyone",
        "type": "windows",
        "permission": "full_control",
        "win_sid_unix_id": "S-1-1-0",
    } in by_name[shared]


@pytest.mark.network
def test_unreadable_status_fails_every_encoding_of_the_path() -> None:
    tree = acl_tree(6, files=16)
    sim = OntapSimulator(password="pw")
    loaded = load_acl_tree(sim, tree, unreadable_status=403)
    base = f"/api/protocols/file-security/permissions/{tree.svm['uuid']}/"
    unreadable = tree.violation("unreadable").target
    readable = next(e.path for e in tree.entries if e.permissions and not e.is_directory)

    with sim.running() as endpoint, requests.Session() as http:
        http.trust_env = False
        http.auth = (endpoint.username, endpoint.password)
        statuses = [
            http.get(endpoint.base_url + base + encoded).status_code
            for encoded in (quote(unreadable, safe=""), quote_plus(unreadable), quote(unreadable, safe="/"))
        ]
        fine = http.get(endpoint.base_url + base + quote(readable, safe="")).status_code

    assert statuses == [403, 403, 403]
    assert fine == 200
    assert loaded.unreadable_fault is not None and loaded.unreadable_fault.fired == 3


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _sdk(endpoint: Any) -> HostConnection:
    return HostConnection(
        endpoint.host,
        port=endpoint.port,
        username=endpoint.username,
        password=endpoint.password,
        scheme="http",
    )


@pytest.mark.network
@pytest.mark.usefixtures("no_proxy")
def test_netapp_sdk_accepts_every_record_of_the_tree() -> None:
    """NetApp's SDK validates enums and types when it loads a record: our data is ONTAP-shaped."""
    tree = acl_tree(8, files=12)
    sim = OntapSimulator(password="pw")
    load_acl_tree(sim, tree)
    readable = [e for e in tree.entries if e.permissions is not None]

    with sim.running() as endpoint, _sdk(endpoint):
        loaded = []
        for entry in readable:
            security = FileDirectorySecurity(tree.svm["uuid"], entry.path)
            security.get()
            loaded.append(security)
        shares = {s.name: s for s in CifsShare.get_collection(fields="acls,path")}
        policies = {p.name: p for p in ExportPolicy.get_collection(fields="rules")}

    for entry, security in zip(readable, loaded, strict=True):
        record = entry.permissions or {}
        assert (security.effective_style, security.mode_bits) == (
            record["effective_style"],
            record["mode_bits"],
        )
        assert [(a.user, a.access, a.rights, a.inherited) for a in getattr(security, "acls", [])] == [
            (a["user"], a["access"], a["rights"], a["inherited"]) for a in record["acls"]
        ]
    assert {name: s.path for name, s in shares.items()} == {s["name"]: s["path"] for s in tree.shares}
    open_rule = policies["eng_build"].rules[1]
    assert ([c.match for c in open_rule.clients], open_rule.rw_rule, open_rule.superuser) == (
        ["0.0.0.0/0"],
        ["any"],
        ["any"],
    )


# --- FlexCache -----------------------------------------------------------------------------------


def test_flexcache_topology_spans_regions_with_valid_aliases() -> None:
    topology = flexcache_topology(4, caches=4)

    assert flexcache_topology(4, caches=4) == topology
    assert flexcache_topology(5, caches=4) != topology
    assert len(set(topology.regions())) == 5
    assert topology.origin.role == "origin" and topology.origin.priority == 1
    assert sorted(c.priority for c in topology.caches) == [2, 3, 4, 5]
    for site in topology.sites:
        alias = AccessPoint.parse(site.s3_access_point_alias)  # the project's own validator
        assert alias.kind == "alias" and site.s3_access_point_alias.endswith("-ext-s3alias")
        assert site.access_point_name.startswith(alias.name_prefix or "")
        assert site.management_endpoint == "127.0.0.1"
        assert 10 <= site.weight <= 100
    assert len({s.cluster_name for s in topology.sites}) == 5
    assert flexcache_topology(1, caches=2, origin_region="eu-west-1").origin.region == "eu-west-1"
    with pytest.raises(ValueError, match="caches"):
        flexcache_topology(1, caches=8)


@pytest.mark.network
@pytest.mark.usefixtures("no_proxy")
def test_netapp_sdk_reads_the_flexcache_topology() -> None:
    topology = flexcache_topology(2, caches=2)
    simulators = flexcache_simulators(topology, password="pw")
    cache = topology.caches[0]

    with simulators[topology.origin.cluster_name].running() as endpoint, _sdk(endpoint):
        (origin,) = list(FlexcacheOrigin.get_collection(fields="flexcaches"))
    with simulators[cache.cluster_name].running() as endpoint, _sdk(endpoint):
        (flexcache,) = list(Flexcache.get_collection(fields="origins,path"))

    assert sorted(c.cluster.name for c in origin.flexcaches) == sorted(
        c.cluster_name for c in topology.caches
    )
    assert (flexcache.name, flexcache.path) == (cache.volume, cache.junction_path)
    assert flexcache.origins[0].cluster.name == topology.origin.cluster_name


def test_flexcache_simulators_describe_both_ends_of_each_relationship() -> None:
    topology = flexcache_topology(9, caches=3)

    simulators = flexcache_simulators(topology, password="pw")

    origin_sim = simulators[topology.origin.cluster_name]
    (origin,) = [o.record() for o in origin_sim.flexcache_origins]
    assert origin["uuid"] == topology.origin.volume_uuid
    assert sorted(c["cluster"]["name"] for c in origin["flexcaches"]) == sorted(
        c.cluster_name for c in topology.caches
    )
    assert sorted(p.name for p in origin_sim.cluster_peers) == sorted(c.cluster_name for c in topology.caches)
    for cache in topology.caches:
        sim = simulators[cache.cluster_name]
        (record,) = [c.record() for c in sim.flexcaches]
        assert (record["uuid"], record["name"], record["path"]) == (
            cache.volume_uuid,
            cache.volume,
            cache.junction_path,
        )
        assert record["origins"][0]["volume"] == {
            "uuid": topology.origin.volume_uuid,
            "name": topology.origin.volume,
        }
        assert [p.name for p in sim.cluster_peers] == [topology.origin.cluster_name]
        assert sim.cluster.record()["name"] == cache.cluster_name


# --- damage helpers and upload ---------------------------------------------------------------------


def test_damage_helpers_name_and_describe_what_they_did() -> None:
    valid = SyntheticFile("a/b.c.gds", bytes(range(100)), "gdsii", {})

    cut = truncate(valid, 1, low=10, high=20)
    patched = patch(valid, {5: b"\xff"}, reason="flip")
    noise = garbage(1, key="x/y.oas", kind="oasis", size=64, prefix=b"MAGIC")

    assert variant_key("a/b.c.gds", "t") == "a/b.c.t.gds"
    assert variant_key("noext", "t") == "noext.t"
    assert 10 <= cut.size < 20 and cut.data == valid.data[: cut.size]
    assert cut.expected == {
        "corrupt": True,
        "reason": "truncated",
        "valid_key": "a/b.c.gds",
        "valid_size": 100,
        "size": cut.size,
    }
    assert patched.expected["offsets"] == [5] and patched.data[5] == 0xFF
    assert noise.data.startswith(b"MAGIC") and noise.size == 64 and noise.corrupt
    with pytest.raises(ValueError, match="unchanged"):
        patch(valid, {5: b"\x05"}, reason="noop")
    with pytest.raises(ValueError, match="cannot cut"):
        truncate(valid, 1, low=50, high=20)
    with pytest.raises(ValueError, match="relative"):
        SyntheticFile("/abs", b"", "gdsii", {})


def test_upload_files_puts_every_file_with_its_kind() -> None:
    files = [
        *acl_tree(1, files=8).files()[:4],
        camera_image(1, width=32, height=32),
        pcd_points_mismatch(1, points=10),
    ]

    with mock_aws():
        s3 = boto3.client("s3", region_name="ap-northeast-1")
        s3.create_bucket(Bucket="data", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
        keys = upload_files(s3, "data", files, prefix="seed-1")
        stored = {key: s3.get_object(Bucket="data", Key=key) for key in keys}

        assert keys == [f"seed-1/{f.key}" for f in files]
        for item, key in zip(files, keys, strict=True):
            assert stored[key]["Body"].read() == item.data
            assert stored[key]["ContentType"] == item.content_type
            assert stored[key]["Metadata"] == {
                "dataset-kind": item.kind,
                "dataset-corrupt": str(item.corrupt).lower(),
            }
