"""Point clouds: files written by laspy and plyfile, the dataset's PCD/KITTI, and hand-built damage.

Every streamed format is checked at several chunk sizes (down to 1 byte) so no result depends on
where the S3 stream happens to split.
"""

from __future__ import annotations

import io
import struct

import laspy
import numpy as np
import pytest
from autonomous_driving.pointclouds import inspect_laz_header, scan_pointcloud
from autonomous_driving.pointclouds.stats import AXES
from autonomous_driving.qc import Thresholds, assess_cloud
from plyfile import PlyData, PlyElement

from sandbox.datasets import kitti_scan, las_cloud, lzf_compress, pcd_cloud, pcd_points_mismatch, ply_cloud
from sandbox.datasets.pointclouds import lidar_sweep
from shared.errors import FileFormatError
from tests.autonomous_driving.helpers import CountingReader, chunked

CHUNK_SIZES = (1 << 20, 4093, 7)
TRUTH_KEYS = ("points", "nan_points", "inf_points", "finite_points", "bounds")


def _scan(fmt: str, data: bytes, chunk: int = 1 << 20):
    return scan_pointcloud(fmt, chunked(data, chunk))


def _truth(found: dict[str, object]) -> dict[str, object]:
    return {key: found[key] for key in TRUTH_KEYS}


# --- PCD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["ascii", "binary", "binary_compressed"])
@pytest.mark.parametrize("fields", ["xyzi", "lidar"])
@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_pcd_every_encoding_matches_ground_truth(encoding: str, fields: str, chunk: int) -> None:
    cloud = pcd_cloud(3, points=600 if chunk > 7 else 120, encoding=encoding, fields=fields, nan_points=7)
    found = _scan("pcd", cloud.data, chunk).to_dict()
    assert _truth(found) == {key: cloud.expected[key] for key in TRUTH_KEYS}
    for key in (
        "encoding",
        "fields",
        "sizes",
        "types",
        "counts",
        "width",
        "height",
        "viewpoint",
        "data_offset",
    ):
        assert found[key] == cloud.expected[key], key


def test_pcd_organized_cloud_keeps_width_and_height() -> None:
    cloud = pcd_cloud(9, points=640, organized=True)
    found = _scan("pcd", cloud.data).to_dict()
    assert (found["width"], found["height"], found["points"]) == (20, 32, 640)
    assert "dimension_mismatch" not in found


@pytest.mark.parametrize("encoding", ["ascii", "binary"])
def test_pcd_header_promising_more_points_fails_with_the_counts(encoding: str) -> None:
    cloud = pcd_points_mismatch(4, points=300, encoding=encoding, missing=10)
    info = _scan("pcd", cloud.data)
    assessment = assess_cloud(info, Thresholds())
    assert (info.header_points, info.points) == (310, 300)
    assert [reason.code for reason in assessment.reasons] == ["point_count_mismatch"]


def _pcd(fields: str, body: bytes, *, encoding: str = "binary", points: int = 2, extra: str = "") -> bytes:
    names, sizes, types, counts = zip(*(spec.split(":") for spec in fields.split()), strict=True)
    header = (
        f"# hand-built\nVERSION .7\nFIELDS {' '.join(names)}\nSIZE {' '.join(sizes)}\n"
        f"TYPE {' '.join(types)}\n"
        f"COUNT {' '.join(counts)}\nWIDTH {points}\nHEIGHT 1\n{extra}POINTS {points}\nDATA {encoding}\n"
    )
    return header.encode() + body


def test_pcd_multi_count_fields_and_integer_and_double_coordinates() -> None:
    # normal_x/y/z as one field of COUNT 3 before x; x, y int16; z float64
    records = [((0.1, 0.2, 0.3), -5, 7, 1.5), ((0.0, 0.0, 1.0), 12, -3, float("nan"))]
    body = b"".join(struct.pack("<3fhhd", *normal, x, y, z) for normal, x, y, z in records)
    data = _pcd("normal:4:F:3 x:2:I:1 y:2:I:1 z:8:F:1", body)
    info = _scan("pcd", data)
    assert (info.points, info.nan_points) == (2, 1)
    assert info.bounds == {"min": [-5.0, 7.0, 1.5], "max": [-5.0, 7.0, 1.5]}


def test_pcd_binary_compressed_with_multi_count_fields() -> None:
    xs, ys, zs = np.array([1, 2, 3], "<f4"), np.array([4, 5, 6], "<f4"), np.array([7, 8, np.inf], "<f4")
    rgb = np.zeros((3, 2), "<u4")
    planar = xs.tobytes() + ys.tobytes() + zs.tobytes() + rgb.tobytes()
    compressed = lzf_compress(planar)
    body = struct.pack("<II", len(compressed), len(planar)) + compressed + b"junk"
    info = _scan(
        "pcd", _pcd("x:4:F:1 y:4:F:1 z:4:F:1 rgb:4:U:2", body, encoding="binary_compressed", points=3)
    )
    assert (info.points, info.inf_points, info.trailing_bytes) == (3, 1, 4)
    assert info.bounds_basis == "finite_values"
    assert info.bounds == {"min": [1.0, 4.0, 7.0], "max": [3.0, 6.0, 8.0]}


def test_pcd_points_missing_falls_back_to_width_times_height_and_flags_dimensions() -> None:
    body = struct.pack("<3f", 1, 2, 3) * 4
    data = _pcd("x:4:F:1 y:4:F:1 z:4:F:1", body, points=4).replace(b"WIDTH 4\n", b"WIDTH 2\n")
    found = _scan("pcd", data).to_dict()
    assert found["dimension_mismatch"] is True
    no_points = data.replace(b"POINTS 4\n", b"")
    assert _scan("pcd", no_points).header_points == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ply\nformat ascii 1.0\n", "not a PCD file"),
        (b"VERSION .7\nFIELDS x y z\n", "ends before its DATA line"),
        (_pcd("x:4:F:1 y:4:F:1", b""), "no z field"),
        (_pcd("x:4:F:1 y:4:F:1 z:3:F:1", b""), "not a PCD type"),
        (_pcd("x:4:F:1 y:4:F:1 z:4:Q:1", b""), "not a PCD type"),
        (_pcd("x:4:F:1 y:4:F:1 z:4:F:1", b"", encoding="gzip"), "unknown PCD DATA"),
        (_pcd("x:4:F:1 y:4:F:1 z:4:F:1", b"", extra="VIEWPOINT a b\n"), "VIEWPOINT"),
        (_pcd("x:4:F:1 y:4:F:1 z:4:F:1", b"", extra="COLOR red\n"), "unknown PCD header line"),
        (_pcd("x:4:F:1 y:4:F:1 z:4:F:1", b"1 2\n", encoding="ascii"), "has 2 values"),
        (_pcd("x:4:F:1 y:4:F:1 z:4:F:1", b"1 2 x\n", encoding="ascii"), "not a number"),
        (
            _pcd("x:4:F:1 y:4:F:1 z:4:F:1", struct.pack("<II", 4, 99), encoding="binary_compressed"),
            "decodes to 99",
        ),
        (
            _pcd(
                "x:4:F:1 y:4:F:1 z:4:F:1",
                struct.pack("<II", 3, 24) + b"\x20\x00\x00",
                encoding="binary_compressed",
            ),
            "before the start",
        ),
        (b"VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nWIDTH -1\nDATA binary\n", "WIDTH"),
    ],
)
def test_pcd_malformed_headers_and_data_are_format_errors(data: bytes, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        _scan("pcd", data)


def test_pcd_binary_with_a_partial_last_record_is_truncated() -> None:
    body = struct.pack("<3f", 1, 2, 3) * 2 + b"\x00\x01"
    info = _scan("pcd", _pcd("x:4:F:1 y:4:F:1 z:4:F:1", body))
    assert (info.points, info.truncated, info.trailing_bytes) == (2, True, 2)
    assert [reason.code for reason in assess_cloud(info, Thresholds()).reasons] == ["truncated"]


# --- LAS / LAZ (laspy) ---------------------------------------------------------------------------


def _laspy(
    version: str, point_format: int, points: int = 400, *, vlr: bool = False
) -> tuple[bytes, laspy.LasData]:
    sweep = lidar_sweep(5, points=points)
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.offsets = np.array([300_000.0, 5_000_000.0, 10.0])
    header.scales = np.array([0.01, 0.01, 0.001])
    if vlr:
        header.vlrs.append(
            laspy.VLR(user_id="sandbox", record_id=7, description="calibration", record_data=bytes(300))
        )
    las = laspy.LasData(header)
    las.x = sweep.x.astype(np.float64) + 300_000.0
    las.y = sweep.y.astype(np.float64) + 5_000_000.0
    las.z = sweep.z.astype(np.float64) + 10.0
    las.classification = sweep.classification
    buffer = io.BytesIO()
    las.write(buffer)
    return buffer.getvalue(), laspy.read(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize(
    ("version", "point_format"),
    [
        ("1.2", 0),
        ("1.2", 1),
        ("1.2", 2),
        ("1.2", 3),
        ("1.3", 5),
        ("1.4", 6),
        ("1.4", 7),
        ("1.4", 8),
        ("1.4", 10),
    ],
)
def test_las_written_by_laspy_matches_laspy_reading_it(version: str, point_format: int) -> None:
    data, reference = _laspy(version, point_format, vlr=point_format == 3)
    for chunk in CHUNK_SIZES[:2]:
        info = _scan("las", data, chunk)
        found = info.to_dict()
        assert (found["version"], found["point_format"], found["points"]) == (version, point_format, 400)
        assert found["bounds"]["min"] == pytest.approx(
            [reference.x.min(), reference.y.min(), reference.z.min()]
        )
        assert found["bounds"]["max"] == pytest.approx(
            [reference.x.max(), reference.y.max(), reference.z.max()]
        )
        classes, counts = np.unique(np.asarray(reference.classification), return_counts=True)
        assert found["classification"] == {str(c): int(n) for c, n in zip(classes, counts, strict=True)}
        assert found["header_bounds_match"] is True
        assert assess_cloud(info, Thresholds()).verdict == "PASS"


def test_las_dataset_files_match_ground_truth() -> None:
    for version, point_format in (("1.2", 3), ("1.4", 6)):
        cloud = las_cloud(8, points=700, version=version, point_format=point_format)
        found = _scan("las", cloud.data).to_dict()
        assert _truth(found) == {key: cloud.expected[key] for key in TRUTH_KEYS}
        assert found["classification"] == cloud.expected["classification"]


def test_las_header_bounds_that_lie_fail_qc() -> None:
    data = bytearray(_laspy("1.2", 0)[0])
    struct.pack_into("<d", data, 179, 300_001.0)  # max x far below the points' max
    info = _scan("las", bytes(data))
    assert [reason.code for reason in assess_cloud(info, Thresholds()).reasons] == ["header_bounds_mismatch"]


def test_las_cut_inside_the_points_is_a_count_mismatch() -> None:
    data = _laspy("1.2", 1)[0]
    info = _scan("las", data[: len(data) - 100])
    assert (info.header_points, info.points, info.truncated) == (400, 396, True)


def test_laz_header_is_read_alone_and_says_points_are_not_decoded() -> None:
    # laspy has no LAZ backend here: a LASzip file is a LAS header with bit 7 of the format set.
    data = bytearray(_laspy("1.4", 6)[0])
    data[104] |= 0x80
    reader = CountingReader(bytes(data))
    info = inspect_laz_header(reader, len(data))
    found = info.to_dict()
    assert (found["format"], found["decoded"], found["points_decoded"]) == ("laz", False, False)
    assert found["compressed"] is True and found["points"] == 400
    assert found["bounds_basis"] == "header"
    assert reader.bytes_read == 375
    assert assess_cloud(info, Thresholds()).verdict == "PASS"
    with pytest.raises(FileFormatError, match=r"rename it \.laz"):
        _scan("las", bytes(data))


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({0: b"LASX"}, "no LASF signature"),
        ({24: b"\x02\x00"}, "is not 1.0-1.4"),
        ({94: struct.pack("<H", 100)}, "header size"),
        ({96: struct.pack("<I", 10)}, "inside the header"),
        ({104: b"\x0c"}, "is not LAS"),
        ({105: struct.pack("<H", 10)}, "is not LAS"),
        ({131: struct.pack("<d", 0.0)}, "non-zero"),
    ],
)
def test_las_malformed_headers_are_format_errors(patch: dict[int, bytes], message: str) -> None:
    data = bytearray(_laspy("1.2", 0)[0])
    for offset, value in patch.items():
        data[offset : offset + len(value)] = value
    with pytest.raises(FileFormatError, match=message):
        _scan("las", bytes(data))


def test_las_cut_inside_its_header_or_records_list() -> None:
    data = _laspy("1.4", 6, vlr=True)[0]
    with pytest.raises(FileFormatError):
        _scan("las", data[:300])
    with pytest.raises(FileFormatError, match="variable length records"):
        _scan("las", data[:400])
    with pytest.raises(FileFormatError, match="past the end"):
        inspect_laz_header(io.BytesIO(data[:380]), 380)


# --- PLY (plyfile) -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "byte_order"), [(True, "<"), (False, "<"), (False, ">")])
@pytest.mark.parametrize("coordinate", ["f4", "f8", "i4"])
def test_ply_written_by_plyfile_matches_numpy(text: bool, byte_order: str, coordinate: str) -> None:
    rng = np.random.default_rng(2)
    vertex = np.empty(300, dtype=[("x", coordinate), ("y", coordinate), ("z", coordinate), ("red", "u1")])
    for axis in AXES:
        vertex[axis] = rng.integers(-500, 500, 300) if coordinate == "i4" else rng.normal(0, 40, 300)
    if coordinate != "i4":
        vertex["x"][::37] = np.nan
        vertex["z"][5::41] = -np.inf
    face = np.empty(50, dtype=[("vertex_indices", "i4", (3,))])
    face["vertex_indices"] = rng.integers(0, 300, (50, 3))
    ply = PlyData(
        [PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")],
        text=text,
        byte_order=byte_order,
    )
    buffer = io.BytesIO()
    ply.write(buffer)
    xyz = np.stack([vertex[axis].astype(np.float64) for axis in AXES], axis=1)
    finite = np.isfinite(xyz).all(axis=1)
    for chunk in CHUNK_SIZES[:2]:
        found = _scan("ply", buffer.getvalue(), chunk).to_dict()
        assert found["points"] == 300
        assert found["nan_points"] == int(np.isnan(xyz).any(axis=1).sum())
        assert found["finite_points"] == int(finite.sum())
        assert found["bounds"] == {"min": list(xyz[finite].min(axis=0)), "max": list(xyz[finite].max(axis=0))}
        assert found["elements_found"] == {"vertex": 300, "face": 50}
        assert found["truncated"] is False


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian"])
def test_ply_dataset_files_match_ground_truth(encoding: str) -> None:
    cloud = ply_cloud(6, points=500, encoding=encoding, faces=40, nan_points=3)
    found = _scan("ply", cloud.data).to_dict()
    assert _truth(found) == {key: cloud.expected[key] for key in TRUTH_KEYS}
    assert found["elements"] == cloud.expected["elements"]


@pytest.mark.parametrize("text", [True, False])
def test_ply_vertices_with_a_list_property(text: bool) -> None:
    header = "ply\nformat {} 1.0\nelement vertex 2\nproperty list uchar int tags\nproperty float x\n"
    header += "property float y\nproperty float z\nend_header\n"
    if text:
        data = header.format("ascii").encode() + b"2 7 8 1 2 3\n0 4 5 6\n"
    else:
        data = header.format("binary_little_endian").encode()
        data += b"\x02" + struct.pack("<2i3f", 7, 8, 1, 2, 3) + b"\x00" + struct.pack("<3f", 4, 5, 6)
    info = _scan("ply", data)
    assert info.points == 2
    assert info.bounds == {"min": [1.0, 2.0, 3.0], "max": [4.0, 5.0, 6.0]}


def test_ply_cut_inside_the_faces_is_truncated() -> None:
    cloud = ply_cloud(6, points=200, faces=100)
    info = _scan("ply", cloud.data[:-300])
    assert (info.points, info.truncated) == (200, True)
    assert info.details["elements_found"]["face"] < 100
    assert [reason.code for reason in assess_cloud(info, Thresholds()).reasons] == ["truncated"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PLY\n", "no 'ply' magic"),
        (b"ply\nformat binary 1.0\nend_header\n", "unsupported PLY format"),
        (b"ply\nformat ascii 1.0\nelement face 1\nproperty list float int i\nend_header\n", "integer type"),
        (
            b"ply\nformat ascii 1.0\nelement face 1\nproperty uint128 i\nend_header\n",
            "unknown PLY property type",
        ),
        (b"ply\nformat ascii 1.0\nproperty float x\nend_header\n", "before any element"),
        (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x y\nend_header\n", "malformed property"),
        (b"ply\nformat ascii 1.0\nelement face 1\nproperty float x\nend_header\n", "no vertex element"),
        (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n", "no scalar y, z"),
        (b"ply\nelement vertex 1\nproperty float x\nend_header\n", "no format line"),
        (b"ply\nformat ascii 1.0\n", "no end_header"),
        (b"ply\nformat ascii 1.0\nfoo\nend_header\n", "unknown PLY header line"),
    ],
)
def test_ply_malformed_headers_are_format_errors(data: bytes, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        _scan("ply", data)


# --- KITTI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_kitti_scan_matches_ground_truth(chunk: int) -> None:
    scan = kitti_scan(4, points=300, nan_points=6)
    found = _scan("kitti_bin", scan.data, chunk).to_dict()
    assert _truth(found) == {key: scan.expected[key] for key in TRUTH_KEYS}
    assert found["header_points"] is None


def test_kitti_scan_with_a_partial_record_fails_as_truncated() -> None:
    scan = kitti_scan(4, points=50)
    info = _scan("kitti_bin", scan.data + b"\x00" * 5)
    assert (info.points, info.trailing_bytes, info.truncated) == (50, 5, True)
    assert [reason.code for reason in assess_cloud(info, Thresholds()).reasons] == ["truncated"]


def test_unknown_streamed_format_is_refused() -> None:
    with pytest.raises(FileFormatError, match="not a streamed"):
        _scan("laz", b"LASF")
