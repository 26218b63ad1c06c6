"""CheckQualityFunction: a batch of files → one QC record each, and what each format cost to read."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from autonomous_driving.handlers import check_quality
from autonomous_driving.inspection import HEADER_BLOCK, FileInspector, QualitySettings
from PIL import Image

from sandbox.datasets import las_cloud, video_clip
from sandbox.datasets.video import box, walk_boxes
from shared.batch import BatchRequest
from shared.errors import InvalidInputError
from tests.autonomous_driving.helpers import RUN_ID


def _records(drive_world, batch: int = 0) -> dict[str, dict]:
    part = drive_world.output(f"runs/{RUN_ID}/parts/batch-{batch:06d}.jsonl").decode()
    return {record["key"]: record for record in map(json.loads, part.splitlines())}


def test_handler_checks_the_event_batch(drive_world, lambda_context, event_loader) -> None:
    # Given the event's eleven files: good and damaged frames, clips and clouds
    event = event_loader("autonomous-driving/check_quality")
    # When the batch is checked
    summary = check_quality.handler(event, lambda_context)
    records = _records(drive_world)
    # Then every file has its record, in the event's order, and only parse failures are errors
    assert (summary["files"], summary["errors"]) == (11, 1)
    assert list(records) == event["keys"]
    verdicts = {
        key.rsplit("/", 1)[1]: record.get("verdict", record["status"]) for key, record in records.items()
    }
    assert verdicts == {
        "frame_0000.png": "PASS",
        "frame_0001.jpg": "PASS",
        "frame_0000.truncated.png": "FAIL",
        "frame_0001.corrupt.jpg": "error",
        "drive_7_camera.mp4": "PASS",
        "drive_7.truncated.mp4": "FAIL",
        "sweep_7_lzf.pcd": "PASS",
        "sweep_7_v14_pf6.las": "PASS",
        "sweep_7_binary.ply": "PASS",
        "0000000007.bin": "PASS",
        "sweep_7_points_mismatch.pcd": "FAIL",
    }
    # And each record carries the ground truth's measurements
    for key, record in records.items():
        truth = drive_world.files[key].expected
        if record.get("verdict") == "PASS" and record["kind"] == "lidar":
            for name in ("points", "nan_points", "inf_points", "bounds"):
                assert record["metadata"][name] == truth[name], (key, name)
        elif record.get("verdict") == "PASS":
            assert (record["metadata"]["width"], record["metadata"]["height"]) == (
                truth["width"],
                truth["height"],
            )
    corrupt = records[event["keys"][3]]
    assert (corrupt["error"], corrupt["offset"]) == ("FileFormatError", corrupt["offset"])
    assert corrupt["offset"] > 0


def test_headers_are_read_by_range_not_downloaded(drive_world) -> None:
    # Given a 12 MB camera frame, a 48 MB camera-style clip (moov last) and a LAZ file
    rng = np.random.default_rng(0)
    frame = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8)).save(
        frame, "PNG", compress_level=0
    )
    clip = video_clip(3, faststart=False)
    moov_at = next(offset for offset, _, kind in walk_boxes(clip.data) if kind == b"moov")
    movie = clip.data[:moov_at] + box(b"free", bytes(48 << 20)) + clip.data[moov_at:]
    laz = bytearray(las_cloud(3, points=200_000).data)
    laz[104] |= 0x80
    keys = [
        drive_world.put("big/frame.png", frame.getvalue()),
        drive_world.put("big/camera.mp4", movie),
        drive_world.put("big/sweep.laz", bytes(laz)),
    ]
    inspector = FileInspector(QualitySettings.from_env(__import__("os").environ))
    # When each is checked
    records = [inspector(key) for key in keys]
    # Then a few header blocks were read per file, never the file
    sizes = [len(frame.getvalue()), len(movie), len(laz)]
    for record, size in zip(records, sizes, strict=True):
        assert record["verdict"] == "PASS", record
        assert record["size"] == size
        # HeadObject, then one block per region read: PNG head + tail; each top-level box header
        # of the clip (ftyp+mdat, free, moov); the LAZ header.
        assert record["io"]["bytes_read"] <= 3 * HEADER_BLOCK < size / 20
        assert record["io"]["requests"] <= 4
    assert records[1]["metadata"]["frames"] == 20
    assert records[2]["metadata"]["points_decoded"] is False


def test_point_clouds_are_streamed_once(drive_world) -> None:
    key = next(key for key in drive_world.files if key.endswith("_v12_pf0.las"))
    record = FileInspector(QualitySettings.from_env(__import__("os").environ))(key)
    assert record["io"] == {"requests": 1, "bytes_read": record["size"]}


def test_a_key_without_a_drive_log_extension_is_an_error_record(drive_world, lambda_context) -> None:
    key = drive_world.put("misc/notes.txt", b"hello")
    summary = check_quality.handler({"run_id": RUN_ID, "batch": 3, "keys": [key]}, lambda_context)
    assert (summary["files"], summary["errors"]) == (1, 1)
    assert _records(drive_world, 3)[key]["error"] == "FileFormatError"


def test_a_garbage_file_under_a_real_extension_never_sinks_the_batch(drive_world, lambda_context) -> None:
    keys = [
        drive_world.put(f"junk/x{ext}", struct.pack("<8d", *range(8)) * 3)
        for ext in (".png", ".mp4", ".pcd", ".ply", ".las", ".laz")
    ]
    summary = check_quality.handler({"run_id": RUN_ID, "batch": 4, "keys": keys}, lambda_context)
    assert (summary["files"], summary["errors"]) == (6, 6)


def test_bad_events_and_settings_are_refused(drive_world, lambda_context, monkeypatch) -> None:
    with pytest.raises(InvalidInputError):
        BatchRequest.from_event({"run_id": RUN_ID, "keys": []})
    monkeypatch.setenv("POINTCLOUD_MAX_INVALID_RATIO", "7")
    with pytest.raises(InvalidInputError):
        check_quality.handler({"run_id": RUN_ID, "batch": 0, "keys": []}, lambda_context)
    monkeypatch.delenv("OUTPUT_BUCKET")
    with pytest.raises(InvalidInputError):
        QualitySettings.from_env(__import__("os").environ)
