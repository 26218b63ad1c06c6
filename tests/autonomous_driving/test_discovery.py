"""DiscoveryFunction: one listing, every key classified, the manifest, and the routing inputs."""

from __future__ import annotations

import json

import pytest
from autonomous_driving.catalogue import EXTENSIONS, Kind, classify
from autonomous_driving.discovery import DriveLogSettings
from autonomous_driving.handlers import discovery

from shared.errors import InvalidInputError
from tests.autonomous_driving.helpers import OUTPUT


@pytest.mark.parametrize(
    ("key", "kind", "fmt"),
    [
        ("cam/FRAME_0001.JPG", Kind.CAMERA, "jpeg"),
        ("cam/f.jpeg", Kind.CAMERA, "jpeg"),
        ("cam/f.png", Kind.CAMERA, "png"),
        ("v/clip.MOV", Kind.VIDEO, "mov"),
        ("v/clip.mp4", Kind.VIDEO, "mp4"),
        ("l/s.pcd", Kind.LIDAR, "pcd"),
        ("l/s.las", Kind.LIDAR, "las"),
        ("l/s.laz", Kind.LIDAR, "laz"),
        ("l/s.ply", Kind.LIDAR, "ply"),
        ("velodyne/000001.bin", Kind.LIDAR, "kitti_bin"),
    ],
)
def test_classification_by_extension(key: str, kind: Kind, fmt: str) -> None:
    found = classify(key)
    assert found is not None
    assert (found.kind, found.format) == (kind, fmt)


@pytest.mark.parametrize("key", ["notes.txt", "calib/.bin", "README", "a.pcd/", "x.json", "archive.tar.gz"])
def test_everything_else_is_skipped(key: str) -> None:
    assert classify(key) is None


def test_every_extension_is_known() -> None:
    assert EXTENSIONS == (".bin", ".jpeg", ".jpg", ".las", ".laz", ".mov", ".mp4", ".pcd", ".ply", ".png")


def test_handler_writes_the_manifest_and_returns_counts_and_routing(
    drive_world, lambda_context, event_loader
) -> None:
    # Given the scenario's drive log: 35 drive-log files, 3 other files and a frames list
    event = event_loader("autonomous-driving/discovery")
    # When discovery runs
    result = discovery.handler(event, lambda_context)
    # Then the manifest holds every drive-log file in batches of BATCH_SIZE, nothing else
    summary = result["discovery"]
    assert (summary["count"], summary["batches"]) == (35, 4)
    assert summary["by_kind"] == {"camera": 16, "video": 5, "lidar": 14}
    assert summary["by_format"] == {
        "jpeg": 8,
        "kitti_bin": 1,
        "las": 5,
        "mov": 1,
        "mp4": 4,
        "pcd": 6,
        "ply": 2,
        "png": 8,
    }
    assert summary["skipped"]["files"] == 4
    manifest = json.loads(drive_world.output(summary["manifest"]["key"]))
    keys = [key for batch in manifest for key in batch["keys"]]
    assert len(keys) == 35 and keys == sorted(keys)
    assert all(len(batch["keys"]) <= 10 for batch in manifest)
    # And the routing inputs are the stack's parameters, with the camera frames as file_count
    assert result["routing"] == {"file_count": 16, "batch_threshold": 100, "inference_type": "none"}
    assert result["enable_inference"] is False
    assert summary["manifest"]["bucket"] == OUTPUT


@pytest.mark.parametrize(
    ("name", "value"),
    [("ENABLE_INFERENCE", "yes"), ("INFERENCE_TYPE", "gpu"), ("BATCH_THRESHOLD", "-1"), ("ACCESS_POINT", "")],
)
def test_settings_refuse_bad_parameters(name: str, value: str) -> None:
    environ = {"ACCESS_POINT": "ap-x-sbx0a1b2c3-ext-s3alias", "OUTPUT_BUCKET": "out-bucket", name: value}
    with pytest.raises(InvalidInputError) as raised:
        DriveLogSettings.from_env(environ)
    assert raised.value.field == name


def test_a_run_without_a_run_id_is_refused(drive_world, lambda_context) -> None:
    with pytest.raises(InvalidInputError):
        discovery.handler({}, lambda_context)
