"""MP4 / MOV (ISO-BMFF, QuickTime) container metadata from the boxes that hold it, by ranged reads.

Never the samples. What is read (ISO/IEC 14496-12, QuickTime File Format):

1. the header (8 or 16 bytes) of every top-level box, seeking over the others' payloads — so a
   camera file whose ``moov`` follows gigabytes of ``mdat`` costs two small reads, not a download;
2. inside ``moov``, only box headers while descending ``trak/mdia/minf/stbl``, and the payloads of
   ``mvhd`` (movie duration), ``tkhd`` (presentation width/height), ``mdhd`` (media timescale and
   duration), ``hdlr`` (track type), ``stsd`` (codec four-cc, coded width/height, ``avcC``/``hvcC``
   profile and level), ``stts`` (sample durations: frame rate) and the 20-byte head of ``stsz``
   (sample count). Tables are never read whole: ``stts`` is read only when it has <= 4,096
   entries (a variable-frame-rate clip then reports the mean rate).

A top-level box that claims more bytes than the file has means the file was cut: when ``moov``
was read before the cut (faststart), the metadata is reported with ``truncated=True``; when the
cut took ``moov`` with it, nothing can be said about the clip and FileFormatError is raised.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from autonomous_driving.sources import Seekable, read_exact
from shared.errors import FileFormatError

TOP_LEVEL_TYPES: Final = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"meta", b"moof", b"mfra",
     b"styp", b"sidx", b"pdin", b"prft", b"emsg", b"junk", b"PICT"}
)  # fmt: skip
"""Box types a file may start with (QuickTime files may have no ftyp)."""

MAX_BOXES: Final = 100_000
MAX_DEPTH: Final = 8
MAX_STTS_ENTRIES: Final = 4096
MAX_SMALL_BOX: Final = 1 << 20
"""Largest leaf payload read whole (mvhd, tkhd, mdhd, hdlr, stsd): real ones are < 1 KiB."""

_CONTAINERS: Final = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex"})
_TRACK_TYPES: Final = {b"vide": "video", b"soun": "audio", b"hint": "hint", b"text": "text",
                       b"sbtl": "subtitle", b"meta": "metadata", b"tmcd": "timecode"}  # fmt: skip
_AVC_PROFILES: Final = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10",
                        122: "High 4:2:2", 244: "High 4:4:4 Predictive"}  # fmt: skip
_VISUAL_CODECS: Final = frozenset(
    {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"av01", b"vp09", b"jpeg", b"mjpa", b"mjpb",
     b"apcn", b"apch", b"apcs", b"apco", b"ap4h", b"dvh1", b"dvhe", b"s263", b"encv"}
)  # fmt: skip


@dataclass(frozen=True)
class Box:
    type: bytes
    offset: int
    size: int
    header: int

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header

    @property
    def payload_size(self) -> int:
        return self.size - self.header

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def name(self) -> str:
        return self.type.decode("latin-1")


@dataclass
class Track:
    track_id: int = 0
    type: str = "unknown"
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    timescale: int | None = None
    duration: int | None = None
    samples: int | None = None
    sample_delta: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float | None:
        if not self.timescale or self.duration is None:
            return None
        return self.duration / self.timescale

    @property
    def frame_rate(self) -> float | None:
        if self.timescale and self.sample_delta:
            return self.timescale / self.sample_delta
        seconds = self.duration_seconds
        if self.samples and seconds:
            return self.samples / seconds
        return None

    def to_dict(self) -> dict[str, Any]:
        rate = self.frame_rate
        seconds = self.duration_seconds
        return {
            "track_id": self.track_id,
            "type": self.type,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "timescale": self.timescale,
            "duration_seconds": None if seconds is None else round(seconds, 6),
            "samples": self.samples,
            "frame_rate": None if rate is None else round(rate, 3),
            **self.details,
        }


@dataclass
class VideoInfo:
    format: str  # "mp4" | "mov"
    brand: str | None
    duration_seconds: float | None
    tracks: list[Track]
    top_level_boxes: list[str]
    faststart: bool
    truncated: bool = False
    truncated_box: str | None = None
    fragmented: bool = False

    @property
    def video(self) -> Track | None:
        return next((track for track in self.tracks if track.type == "video"), None)

    def to_dict(self) -> dict[str, Any]:
        video = self.video
        return {
            "format": self.format,
            "brand": self.brand,
            "duration_seconds": None if self.duration_seconds is None else round(self.duration_seconds, 6),
            "width": video.width if video else None,
            "height": video.height if video else None,
            "frame_rate": None if video is None or video.frame_rate is None else round(video.frame_rate, 3),
            "frames": video.samples if video else None,
            "codec": video.codec if video else None,
            **({"profile": video.details["profile"]} if video and "profile" in video.details else {}),
            **({"level": video.details["level"]} if video and "level" in video.details else {}),
            "tracks": [track.to_dict() for track in self.tracks],
            "top_level_boxes": self.top_level_boxes,
            "faststart": self.faststart,
            "fragmented": self.fragmented,
            "truncated": self.truncated,
            **({"truncated_box": self.truncated_box} if self.truncated_box else {}),
        }


def _read_box_header(reader: Seekable, offset: int, limit: int) -> Box:
    """The box at ``offset``; ``limit`` is the end of the enclosing space (the file or the parent).

    A box running past ``limit`` is returned as is (the caller decides whether that is a cut).
    """
    head = read_exact(reader, offset, 8, "box header")
    size, kind = struct.unpack(">I4s", head)
    header = 8
    if size == 1:
        (size,) = struct.unpack(">Q", read_exact(reader, offset + 8, 8, f"{kind!r} 64-bit size"))
        header = 16
    elif size == 0:  # to the end of the enclosing space (only valid for the last box)
        size = limit - offset
    if size < header:
        raise FileFormatError(f"box {kind!r} claims {size} bytes, less than its header", offset=offset)
    return Box(kind, offset, size, header)


def iter_top_level(reader: Seekable, size: int) -> Iterator[Box]:
    offset = 0
    for _ in range(MAX_BOXES):
        if offset >= size:
            return
        if size - offset < 8:
            raise FileFormatError(f"{size - offset} stray bytes after the last box", offset=offset)
        box = _read_box_header(reader, offset, size)
        yield box
        offset = box.end
    raise FileFormatError(f"more than {MAX_BOXES} top-level boxes", offset=offset)


def _children(reader: Seekable, parent: Box, start: int | None = None) -> Iterator[Box]:
    offset = parent.payload_offset if start is None else start
    for _ in range(MAX_BOXES):
        if offset + 8 > parent.end:
            return
        box = _read_box_header(reader, offset, parent.end)
        if box.end > parent.end:
            raise FileFormatError(
                f"box {box.name} ({box.size} bytes) overflows its parent {parent.name}", offset=box.offset
            )
        yield box
        offset = box.end
    raise FileFormatError(f"more than {MAX_BOXES} boxes in {parent.name}", offset=offset)


def _payload(reader: Seekable, box: Box, limit: int = MAX_SMALL_BOX) -> bytes:
    if box.payload_size > limit:
        raise FileFormatError(f"box {box.name} of {box.size} bytes is implausibly large", offset=box.offset)
    return read_exact(reader, box.payload_offset, box.payload_size, f"{box.name} box")


def _unpack(fmt: str, data: bytes, offset: int, box: Box) -> tuple[Any, ...]:
    try:
        return struct.unpack_from(fmt, data, offset)
    except struct.error:
        raise FileFormatError(f"box {box.name} is too short", offset=box.offset) from None


def inspect_video(reader: Seekable, size: int, *, container: str | None = None) -> VideoInfo:
    """Container metadata of an MP4/MOV of ``size`` bytes; ``container`` is the extension's guess."""
    boxes: list[str] = []
    brand: str | None = None
    moov: Box | None = None
    mdat_seen_before_moov = False
    truncated_box: str | None = None
    fragmented = False
    for index, box in enumerate(iter_top_level(reader, size)):
        if index == 0 and box.type not in TOP_LEVEL_TYPES:
            raise FileFormatError(f"not an ISO-BMFF/QuickTime file (first box {box.type!r})", offset=0)
        boxes.append(box.name)
        if box.type == b"ftyp" and brand is None:
            brand = _unpack("4s", _payload(reader, box, 4096), 0, box)[0].decode("latin-1")
        elif box.type == b"mdat" and moov is None:
            mdat_seen_before_moov = True
        elif box.type == b"moof":
            fragmented = True
        if box.end > size:
            truncated_box = box.name
            if box.type == b"moov":
                raise FileFormatError("the moov box is cut short: the file is truncated", offset=box.offset)
            break
        if box.type == b"moov" and moov is None:
            moov = box
    if moov is None:
        what = f"cut inside {truncated_box}" if truncated_box else "no moov box"
        raise FileFormatError(
            f"no movie metadata ({what}): the file is truncated or not a movie", offset=size
        )
    duration, tracks, has_mvex = _parse_moov(reader, moov)
    kind = "mov" if brand == "qt  " else (container or "mp4")
    return VideoInfo(
        format=kind,
        brand=brand,
        duration_seconds=duration,
        tracks=tracks,
        top_level_boxes=boxes,
        faststart=not mdat_seen_before_moov,
        truncated=truncated_box is not None,
        truncated_box=truncated_box,
        fragmented=fragmented or has_mvex,
    )


def _parse_moov(reader: Seekable, moov: Box) -> tuple[float | None, list[Track], bool]:
    duration: float | None = None
    tracks: list[Track] = []
    has_mvex = False
    for child in _children(reader, moov):
        if child.type == b"mvhd":
            data = _payload(reader, child)
            version = data[0] if data else 0
            if version == 1:
                timescale, length = _unpack(">IQ", data, 20, child)
            else:
                timescale, length = _unpack(">II", data, 12, child)
            if timescale:
                duration = length / timescale
        elif child.type == b"trak":
            tracks.append(_parse_trak(reader, child))
        elif child.type == b"mvex":
            has_mvex = True
    if not tracks:
        raise FileFormatError("the movie has no track", offset=moov.offset)
    return duration, tracks, has_mvex


def _parse_trak(reader: Seekable, trak: Box) -> Track:
    track = Track()
    for box, depth in _walk(reader, trak, 0):
        if box.type == b"tkhd":
            data = _payload(reader, box)
            version = data[0] if data else 0
            track.track_id = _unpack(">I", data, 20 if version == 1 else 12, box)[0]
            width, height = _unpack(">II", data, 88 if version == 1 else 76, box)
            track.width, track.height = width >> 16, height >> 16
        elif box.type == b"mdhd":
            data = _payload(reader, box)
            if data and data[0] == 1:
                track.timescale, track.duration = _unpack(">IQ", data, 20, box)
            else:
                track.timescale, track.duration = _unpack(">II", data, 12, box)
        elif box.type == b"hdlr":
            handler = _unpack("4s", _payload(reader, box), 8, box)[0]
            track.type = _TRACK_TYPES.get(handler, handler.decode("latin-1"))
        elif box.type == b"stsd":
            _parse_stsd(reader, box, track)
        elif box.type == b"stts":
            _parse_stts(reader, box, track)
        elif box.type == b"stsz":
            head = read_exact(reader, box.payload_offset, 12, "stsz box")
            track.samples = _unpack(">I", head, 8, box)[0]
        elif box.type == b"stz2":
            head = read_exact(reader, box.payload_offset, 12, "stz2 box")
            track.samples = _unpack(">I", head, 8, box)[0]
        del depth
    return track


def _walk(reader: Seekable, parent: Box, depth: int) -> Iterator[tuple[Box, int]]:
    if depth > MAX_DEPTH:
        raise FileFormatError("boxes nested too deeply", offset=parent.offset)
    for child in _children(reader, parent):
        yield child, depth
        if child.type in _CONTAINERS:
            yield from _walk(reader, child, depth + 1)


def _parse_stsd(reader: Seekable, stsd: Box, track: Track) -> None:
    data = _payload(reader, stsd)
    (entries,) = _unpack(">I", data, 4, stsd)
    if entries == 0 or len(data) < 16:
        return
    entry_size, codec = _unpack(">I4s", data, 8, stsd)
    track.codec = codec.decode("latin-1")
    if codec not in _VISUAL_CODECS or track.type not in ("video", "unknown"):
        return
    # VisualSampleEntry: 8 header, 6 reserved, 2 data_reference_index, 16 pre_defined/reserved,
    # then width, height (16 bits each).
    width, height = _unpack(">HH", data, 8 + 32, stsd)
    track.details["coded_width"], track.details["coded_height"] = width, height
    if track.width in (None, 0):
        track.width, track.height = width, height
    start = 8 + 86  # the sample entry's boxes (avcC, hvcC, pasp, btrt …) follow the 78-byte fields
    end = min(len(data), 8 + entry_size)
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size < 8 or offset + size > end:
            break
        if kind == b"avcC" and size >= 12:
            profile, _, level = data[offset + 9], data[offset + 10], data[offset + 11]
            track.details["profile"] = _AVC_PROFILES.get(profile, str(profile))
            if profile == 66 and data[offset + 10] & 0x40:
                track.details["profile"] = "Constrained Baseline"
            track.details["level"] = level / 10
        elif kind == b"hvcC" and size >= 21:
            track.details["profile"] = {1: "Main", 2: "Main 10", 3: "Main Still Picture"}.get(
                data[offset + 9] & 0x1F, str(data[offset + 9] & 0x1F)
            )
            track.details["level"] = data[offset + 20] / 30
        offset += size


def _parse_stts(reader: Seekable, stts: Box, track: Track) -> None:
    head = read_exact(reader, stts.payload_offset, 8, "stts box")
    (entries,) = _unpack(">I", head, 4, stts)
    if entries == 0 or entries > MAX_STTS_ENTRIES:
        return
    if 8 + 8 * entries > stts.payload_size:
        raise FileFormatError(f"stts claims {entries} entries, more than its box holds", offset=stts.offset)
    table = read_exact(reader, stts.payload_offset + 8, 8 * entries, "stts table")
    total_samples = total_delta = 0
    deltas = set()
    for index in range(entries):
        count, delta = struct.unpack_from(">II", table, 8 * index)
        total_samples += count
        total_delta += count * delta
        if count:
            deltas.add(delta)
    if not total_samples:
        return
    if len(deltas) == 1:
        track.sample_delta = deltas.pop()
    elif track.timescale and total_delta:
        # Variable frame rate: no single delta; the rate reported is the mean.
        track.details["variable_frame_rate"] = True
        track.details["mean_frame_rate"] = round(track.timescale * total_samples / total_delta, 3)
