"""MP4/MOV container metadata: the dataset's real H.264 clips, hand-built boxes, and what is read."""

from __future__ import annotations

import io
import struct

import pytest
from autonomous_driving.qc import assess_video
from autonomous_driving.video import inspect_video

from sandbox.datasets import truncated_video, video_clip
from sandbox.datasets.video import box, full_box, walk_boxes
from shared.errors import FileFormatError
from tests.autonomous_driving.helpers import CountingReader


def _inspect(data: bytes, container: str = "mp4"):
    reader = CountingReader(data)
    return inspect_video(reader, len(data), container=container), reader


@pytest.mark.parametrize(
    ("container", "faststart", "width", "height", "fps", "seconds"),
    [("mp4", True, 320, 240, 10, 2.0), ("mp4", False, 200, 120, 25, 1.0), ("mov", True, 96, 64, 30, 0.5)],
)
def test_metadata_matches_the_clip_ground_truth(
    container: str, faststart: bool, width: int, height: int, fps: int, seconds: float
) -> None:
    clip = video_clip(
        4, width=width, height=height, fps=fps, seconds=seconds, container=container, faststart=faststart
    )
    info, _ = _inspect(clip.data, container)
    found = info.to_dict()
    truth = clip.expected
    assert found["format"] == truth["format"]
    assert found["brand"] == truth["brand"]
    assert (found["width"], found["height"]) == (truth["width"], truth["height"])
    assert found["frame_rate"] == truth["fps"]
    assert found["frames"] == truth["frames"]
    assert found["duration_seconds"] == truth["duration_seconds"]
    assert (found["codec"], found["profile"], found["level"]) == (
        truth["codec"],
        truth["profile"],
        truth["level"],
    )
    assert found["faststart"] == truth["faststart"]
    assert found["top_level_boxes"] == truth["top_level_boxes"]
    assert assess_video(info).verdict == "PASS"


def test_a_camera_file_with_moov_after_a_large_mdat_costs_a_few_small_reads() -> None:
    # Given a camera-style clip (moov last) whose mdat is followed by 32 MiB of padding before moov
    clip = video_clip(8, faststart=False)
    boxes = {kind: (offset, size) for offset, size, kind in walk_boxes(clip.data)}
    moov_at = boxes[b"moov"][0]
    padding = box(b"free", bytes(32 << 20))
    data = clip.data[:moov_at] + padding + clip.data[moov_at:]
    # When it is inspected
    info, reader = _inspect(data)
    # Then box headers and moov's needed boxes were read: about 1 KiB of a 32 MiB file
    assert info.to_dict()["frames"] == clip.expected["frames"]
    assert info.top_level_boxes == ["ftyp", "mdat", "free", "moov"]
    assert reader.bytes_read < 2048


def test_truncated_after_moov_reports_the_metadata_and_fails_qc() -> None:
    damaged = truncated_video(video_clip(2), 2)
    assert damaged.expected["moov_intact"]
    info, _ = _inspect(damaged.data)
    assessment = assess_video(info)
    assert info.truncated
    assert info.truncated_box == "mdat"
    assert info.to_dict()["frames"] == 20
    assert [reason.code for reason in assessment.reasons] == ["truncated"]


def test_truncated_before_moov_is_a_format_error() -> None:
    damaged = truncated_video(video_clip(2, faststart=False), 2)
    with pytest.raises(FileFormatError, match="truncated"):
        _inspect(damaged.data)


ONE_ENTRY = struct.pack(">I", 1)


def _mvhd_v1(timescale: int, duration: int) -> bytes:
    return full_box(b"mvhd", 1, 0, struct.pack(">QQIQ", 0, 0, timescale, duration), bytes(80))


def _tkhd_v1(width: int, height: int) -> bytes:
    return full_box(
        b"tkhd",
        1,
        3,
        struct.pack(">QQIIQ", 0, 0, 1, 0, 0),
        bytes(52),
        struct.pack(">II", width << 16, height << 16),
    )


def _hevc_entry(width: int, height: int) -> bytes:
    hvcc = box(b"hvcC", bytes([1, 0x01]) + bytes(10) + bytes([93]) + bytes(10))
    fields = bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HH", width, height) + bytes(50)
    return box(b"hvc1", fields, hvcc)


def _movie(
    *, stts: list[tuple[int, int]], samples: int, large_mdat: bool = False, audio: bool = False
) -> bytes:
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), _hevc_entry(1920, 1080)),
        full_box(b"stts", 0, 0, struct.pack(">I", len(stts)), b"".join(struct.pack(">II", *e) for e in stts)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, samples), bytes(4 * samples)),
    )
    mdia = box(
        b"mdia",
        full_box(b"mdhd", 1, 0, struct.pack(">QQIQ", 0, 0, 90000, sum(c * d for c, d in stts)), bytes(4)),
        full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"video\x00"),
        box(b"minf", box(b"dinf"), stbl),
    )
    tracks = [box(b"trak", _tkhd_v1(1920, 1080), mdia)]
    if audio:
        sound = box(
            b"mdia",
            full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, 48000, 48000), bytes(4)),
            full_box(b"hdlr", 0, 0, bytes(4), b"soun", bytes(12), b"sound\x00"),
            box(
                b"minf", box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), box(b"mp4a", bytes(28))))
            ),
        )
        tracks.append(box(b"trak", full_box(b"tkhd", 0, 3, bytes(80)), sound))
    moov = box(b"moov", _mvhd_v1(1000, 2000), *tracks)
    payload = bytes(64)
    mdat = (
        (struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload)
        if large_mdat
        else box(b"mdat", payload)
    )
    return box(b"ftyp", b"isom", bytes(4), b"isom") + moov + mdat


def test_version_1_boxes_hevc_and_a_64_bit_mdat() -> None:
    info, _ = _inspect(_movie(stts=[(60, 3000)], samples=60, large_mdat=True, audio=True))
    found = info.to_dict()
    assert (found["codec"], found["width"], found["height"]) == ("hvc1", 1920, 1080)
    assert found["frame_rate"] == 30.0
    assert found["duration_seconds"] == 2.0
    assert found["profile"] == "Main"
    assert [track["type"] for track in found["tracks"]] == ["video", "audio"]
    assert found["tracks"][1]["codec"] == "mp4a"


def test_variable_frame_rate_reports_the_mean_rate() -> None:
    info, _ = _inspect(_movie(stts=[(30, 3000), (30, 1500)], samples=60))
    video = info.to_dict()["tracks"][0]
    assert video["variable_frame_rate"] is True
    assert video["mean_frame_rate"] == 40.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00\x00\x10oops" + bytes(8), "not an ISO-BMFF"),
        (b"\x00\x00\x00\x04ftyp" + bytes(8), "less than its header"),
        (box(b"ftyp", b"isom", bytes(4)) + box(b"mdat", bytes(8)), "no moov box"),
        (box(b"ftyp", b"isom", bytes(4)) + box(b"moov", box(b"mvhd", bytes(4))), "too short"),
        (box(b"ftyp", b"isom", bytes(4)) + box(b"moov", _mvhd_v1(1000, 1)), "no track"),
        (box(b"ftyp", b"isom", bytes(4)) + b"\x00\x00\x00\x30moov" + bytes(8), "cut short"),
        (box(b"ftyp", b"isom", bytes(4)) + b"\x00\x00\x00", "stray bytes"),
        (box(b"moov", b"\x00\x00\x00\x40trak" + bytes(8)), "overflows its parent"),
    ],
)
def test_malformed_containers_are_format_errors(data: bytes, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        _inspect(data)


def test_a_movie_without_video_fails_qc() -> None:
    data = _movie(stts=[(1, 1)], samples=1).replace(b"vide", b"soun")
    info, _ = _inspect(data)
    assert [reason.code for reason in assess_video(info).reasons] == ["no_video_track"]


def test_readers_can_be_files_too() -> None:
    clip = video_clip(1)
    assert inspect_video(io.BytesIO(clip.data), clip.size).to_dict()["frames"] == clip.expected["frames"]
