"""Short H.264 clips in MP4 and QuickTime MOV, written box by box, plus truncated copies.

No encoder is available offline, so the file is assembled by hand, and assembled to be real:

* the ISO-BMFF boxes are those ffprobe and any box reader need for duration, resolution, frame
  rate and codec: ``ftyp``; ``moov`` with ``mvhd`` (timescale, duration) and one video ``trak``
  (``tkhd`` with 16.16 width/height, ``mdia``/``mdhd``/``hdlr 'vide'``/``minf``/``vmhd``/``dinf``/
  ``stbl`` with ``stsd`` → ``avc1`` sample entry → ``avcC``, ``stts``, ``stss``, ``stsc``, ``stsz``,
  ``stco``); ``mdat``. Sizes add up and ``stco`` points at the samples.
* the ``avcC`` carries a genuine Baseline SPS/PPS (the SPS encodes the same width/height, with
  frame cropping when they are not multiples of 16), and the samples are decodable: the first is
  an IDR picture whose macroblocks are all I_PCM (raw samples, no entropy coding to get wrong)
  showing a camera scene, the others are P pictures whose macroblocks are all skipped. The clip
  is a still image for ``seconds`` seconds, which is all a metadata pipeline needs.

The MOV variant differs where QuickTime differs: ``ftyp`` brand ``qt  ``, ``hdlr`` component type
``mhlr`` with a counted-string name, and an ``alis`` data reference.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

import numpy as np

from sandbox.datasets.base import SyntheticFile
from sandbox.datasets.corrupt import truncate
from sandbox.datasets.images import road_scene

Container = Literal["mp4", "mov"]

MOVIE_TIMESCALE: Final = 1000
SAMPLE_DELTA: Final = 1000  # media timescale = fps * SAMPLE_DELTA, so any integer fps is exact
PROFILE_BASELINE: Final = 66
_MB: Final = 16
# (level_idc, max frame size in macroblocks, max macroblocks per second): H.264 Table A-1.
_LEVELS: Final = (
    (10, 99, 1485),
    (11, 396, 3000),
    (12, 396, 6000),
    (13, 396, 11880),
    (21, 792, 19800),
    (22, 1620, 20250),
    (30, 1620, 40500),
    (31, 3600, 108000),
    (32, 5120, 216000),
    (40, 8192, 245760),
    (42, 8704, 522240),
    (50, 22080, 589824),
    (51, 36864, 983040),
)
_UNITY_MATRIX: Final = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
_LANGUAGE_UND: Final = 0x55C4  # ISO-639-2 "und" packed as three 5-bit letters


# --- H.264 bitstream ----------------------------------------------------------------------------


class _BitWriter:
    """MSB-first bit writer with Exp-Golomb codes, as H.264 syntax (clause 7.2) writes them."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._bits = 0

    def u(self, bits: int, value: int) -> None:
        for shift in range(bits - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> shift) & 1)
            self._bits += 1
            if self._bits == 8:
                self._out.append(self._acc)
                self._acc = self._bits = 0

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while self._bits:
            self.u(1, 0)

    def raw(self, data: bytes) -> None:
        if self._bits:
            raise ValueError("raw bytes need byte alignment")
        self._out += data

    def trailing(self) -> bytes:
        """rbsp_trailing_bits: a stop bit, then zeros to the byte boundary."""
        self.u(1, 1)
        self.align_zero()
        return bytes(self._out)


def _nal(nal_ref_idc: int, nal_type: int, rbsp: bytes) -> bytes:
    """A NAL unit with emulation prevention (0x000003 wherever 0x0000 precedes a byte <= 3)."""
    out = bytearray([(nal_ref_idc << 5) | nal_type])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _level(mbs_per_frame: int, fps: int) -> int:
    for level, max_frame, max_rate in _LEVELS:
        if mbs_per_frame <= max_frame and mbs_per_frame * fps <= max_rate:
            return level
    raise ValueError("frame size and rate exceed H.264 level 5.1")


def _sps(width: int, height: int, level: int) -> bytes:
    mbs_w, mbs_h = math.ceil(width / _MB), math.ceil(height / _MB)
    bits = _BitWriter()
    bits.u(8, PROFILE_BASELINE)
    bits.u(8, 0b11000000)  # constraint_set0/1: also conforms to Baseline and Main
    bits.u(8, level)
    bits.ue(0)  # seq_parameter_set_id
    bits.ue(0)  # log2_max_frame_num_minus4 → frame_num is 4 bits
    bits.ue(2)  # pic_order_cnt_type 2: output order = decoding order
    bits.ue(1)  # max_num_ref_frames
    bits.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    bits.ue(mbs_w - 1)
    bits.ue(mbs_h - 1)
    bits.u(1, 1)  # frame_mbs_only_flag
    bits.u(1, 1)  # direct_8x8_inference_flag
    crop_right, crop_bottom = mbs_w * _MB - width, mbs_h * _MB - height
    if crop_right or crop_bottom:
        bits.u(1, 1)  # frame_cropping_flag; 4:2:0 frame crop units are 2 luma samples
        for crop in (0, crop_right // 2, 0, crop_bottom // 2):
            bits.ue(crop)
    else:
        bits.u(1, 0)
    bits.u(1, 0)  # vui_parameters_present_flag
    return _nal(3, 7, bits.trailing())


def _pps() -> bytes:
    bits = _BitWriter()
    bits.ue(0)  # pic_parameter_set_id
    bits.ue(0)  # seq_parameter_set_id
    bits.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    bits.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    bits.ue(0)  # num_slice_groups_minus1
    bits.ue(0)  # num_ref_idx_l0_default_active_minus1
    bits.ue(0)  # num_ref_idx_l1_default_active_minus1
    bits.u(1, 0)  # weighted_pred_flag
    bits.u(2, 0)  # weighted_bipred_idc
    bits.se(0)  # pic_init_qp_minus26
    bits.se(0)  # pic_init_qs_minus26
    bits.se(0)  # chroma_qp_index_offset
    bits.u(1, 1)  # deblocking_filter_control_present_flag
    bits.u(1, 0)  # constrained_intra_pred_flag
    bits.u(1, 0)  # redundant_pic_cnt_present_flag
    return _nal(3, 8, bits.trailing())


def _yuv420(seed: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The picture in limited-range BT.601 Y'CbCr 4:2:0, padded to whole macroblocks."""
    padded_w, padded_h = math.ceil(width / _MB) * _MB, math.ceil(height / _MB) * _MB
    rgb, _ = road_scene(seed, padded_w, padded_h, objects=3)
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255

    def subsample(plane: np.ndarray) -> np.ndarray:
        averaged: np.ndarray = plane.reshape(padded_h // 2, 2, padded_w // 2, 2).mean(axis=(1, 3))
        return averaged

    def clip(plane: np.ndarray) -> np.ndarray:
        clipped: np.ndarray = np.clip(np.round(plane), 16, 240).astype(np.uint8)
        return clipped

    return clip(y), clip(subsample(cb)), clip(subsample(cr))


def _idr_slice(seed: int, width: int, height: int) -> bytes:
    """An IDR picture, one slice, every macroblock I_PCM (mb_type 25 in an I slice)."""
    y, cb, cr = _yuv420(seed, width, height)
    bits = _BitWriter()
    bits.ue(0)  # first_mb_in_slice
    bits.ue(7)  # slice_type: I (all slices of the picture)
    bits.ue(0)  # pic_parameter_set_id
    bits.u(4, 0)  # frame_num
    bits.ue(0)  # idr_pic_id
    bits.u(1, 0)  # dec_ref_pic_marking: no_output_of_prior_pics_flag
    bits.u(1, 0)  # long_term_reference_flag
    bits.se(0)  # slice_qp_delta
    bits.ue(1)  # disable_deblocking_filter_idc: off, PCM needs none
    for mb_y in range(y.shape[0] // _MB):
        for mb_x in range(y.shape[1] // _MB):
            bits.ue(25)  # mb_type I_PCM
            bits.align_zero()  # pcm_alignment_zero_bit
            bits.raw(y[mb_y * 16 : mb_y * 16 + 16, mb_x * 16 : mb_x * 16 + 16].tobytes())
            bits.raw(cb[mb_y * 8 : mb_y * 8 + 8, mb_x * 8 : mb_x * 8 + 8].tobytes())
            bits.raw(cr[mb_y * 8 : mb_y * 8 + 8, mb_x * 8 : mb_x * 8 + 8].tobytes())
    return _nal(3, 5, bits.trailing())


def _skip_slice(frame_num: int, macroblocks: int) -> bytes:
    """A P picture, one slice, every macroblock skipped: the previous picture again."""
    bits = _BitWriter()
    bits.ue(0)  # first_mb_in_slice
    bits.ue(5)  # slice_type: P (all slices)
    bits.ue(0)  # pic_parameter_set_id
    bits.u(4, frame_num % 16)
    bits.u(1, 0)  # num_ref_idx_active_override_flag
    bits.u(1, 0)  # ref_pic_list_modification_flag_l0
    bits.u(1, 0)  # adaptive_ref_pic_marking_mode_flag
    bits.se(0)  # slice_qp_delta
    bits.ue(1)  # disable_deblocking_filter_idc
    bits.ue(macroblocks)  # mb_skip_run covering the whole picture
    return _nal(2, 1, bits.trailing())


# --- ISO-BMFF boxes -----------------------------------------------------------------------------


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _matrix() -> bytes:
    return struct.pack(">9I", *_UNITY_MATRIX)


def _sample_entry(width: int, height: int, sps: bytes, pps: bytes) -> bytes:
    compressor = b"\x0bSandbox AVC".ljust(32, b"\x00")
    avcc = box(
        b"avcC",
        bytes(
            [1, sps[1], sps[2], sps[3], 0xFF, 0xE1]
        ),  # version, profile, compat, level, 4-byte lengths, 1 SPS
        struct.pack(">H", len(sps)),
        sps,
        bytes([1]),
        struct.pack(">H", len(pps)),
        pps,
    )
    return box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),  # pre_defined, reserved
        struct.pack(">HHIIIH", width, height, 0x00480000, 0x00480000, 0, 1),  # 72 dpi, 1 frame per sample
        compressor,
        struct.pack(">Hh", 0x0018, -1),
        avcc,
    )


def _handler(container: Container) -> bytes:
    if container == "mov":
        name = b"VideoHandler"
        return full_box(b"hdlr", 0, 0, b"mhlr", b"vide", bytes(12), bytes([len(name)]) + name)
    return full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")


def _moov(
    container: Container,
    *,
    width: int,
    height: int,
    fps: int,
    sample_sizes: Sequence[int],
    chunk_offset: int,
    sps: bytes,
    pps: bytes,
) -> bytes:
    frames = len(sample_sizes)
    media_timescale = fps * SAMPLE_DELTA
    media_duration = frames * SAMPLE_DELTA
    movie_duration = frames * MOVIE_TIMESCALE // fps
    mvhd = full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, MOVIE_TIMESCALE, movie_duration),
        struct.pack(">IH", 0x00010000, 0x0100),  # rate 1.0, volume 1.0
        bytes(10),
        _matrix(),
        bytes(24),  # pre_defined (QuickTime: preview/poster/selection/current times)
        struct.pack(">I", 2),  # next_track_ID
    )
    tkhd = full_box(
        b"tkhd",
        0,
        0x000003,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, 1, 0, movie_duration),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),  # layer, alternate group, volume (0 for video), reserved
        _matrix(),
        struct.pack(">II", width << 16, height << 16),
    )
    mdhd = full_box(
        b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, media_timescale, media_duration, _LANGUAGE_UND, 0)
    )
    reference = full_box(b"alis", 0, 1) if container == "mov" else full_box(b"url ", 0, 1)
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), reference))
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), _sample_entry(width, height, sps, pps)),
        full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, SAMPLE_DELTA)),
        full_box(b"stss", 0, 0, struct.pack(">II", 1, 1)),  # only the first sample is a keyframe
        full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, frames), struct.pack(f">{frames}I", *sample_sizes)),
        full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
    )
    minf = box(b"minf", full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    mdia = box(b"mdia", mdhd, _handler(container), minf)
    return box(b"moov", mvhd, box(b"trak", tkhd, mdia))


def walk_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterable[tuple[int, int, bytes]]:
    """(offset, size, type) of consecutive boxes in ``data[start:end]``; raises on a size that
    does not fit, which is how a truncated file shows."""
    end = len(data) if end is None else end
    offset = start
    while offset < end:
        if offset + 8 > end:
            raise ValueError(f"box header cut at {offset}")
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size < 8 or offset + size > end:
            raise ValueError(f"box {kind!r} at {offset} claims {size} bytes, {end - offset} remain")
        yield offset, size, kind
        offset += size


def video_clip(
    seed: int,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    seconds: float = 2.0,
    container: Container = "mp4",
    faststart: bool = True,
    key: str | None = None,
) -> SyntheticFile:
    """A clip of ``round(seconds * fps)`` frames; ``faststart`` puts ``moov`` before ``mdat``
    (streamable) rather than after it (what cameras write, and what truncation destroys).

    ``expected``: format, brand, codec "avc1", profile, level, width, height, fps, frames,
    duration_seconds (frames / fps, exact in the media timescale), timescale (of the media),
    movie_timescale, faststart, top_level_boxes.
    """
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError("width and height must be even and at least 16 (4:2:0 cropping works in pairs)")
    if fps < 1:
        raise ValueError("fps must be a positive integer")
    frames = max(1, round(seconds * fps))
    macroblocks = math.ceil(width / _MB) * math.ceil(height / _MB)
    level = _level(macroblocks, fps)
    sps, pps = _sps(width, height, level), _pps()
    samples = [_idr_slice(seed, width, height)] + [_skip_slice(n, macroblocks) for n in range(1, frames)]
    payload = b"".join(struct.pack(">I", len(nal)) + nal for nal in samples)
    sample_sizes = [4 + len(nal) for nal in samples]
    brand = b"qt  " if container == "mov" else b"isom"
    ftyp = (
        box(b"ftyp", b"qt  ", struct.pack(">I", 0x200), b"qt  ")
        if container == "mov"
        else box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"avc1", b"mp41")
    )
    mdat = box(b"mdat", payload)

    def moov(chunk_offset: int) -> bytes:
        return _moov(
            container,
            width=width,
            height=height,
            fps=fps,
            sample_sizes=sample_sizes,
            chunk_offset=chunk_offset,
            sps=sps,
            pps=pps,
        )

    if faststart:
        # moov's size does not depend on the offset it stores, so one dry run gives it.
        data = ftyp + moov(len(ftyp) + len(moov(0)) + 8) + mdat
    else:
        data = ftyp + mdat + moov(len(ftyp) + 8)
    expected: dict[str, Any] = {
        "format": container,
        "brand": brand.decode("ascii"),
        "codec": "avc1",
        "profile": "Constrained Baseline",  # constraint_set1: what ffprobe calls it
        "level": level / 10,
        "width": width,
        "height": height,
        "fps": fps,
        "frames": frames,
        "duration_seconds": frames / fps,
        "timescale": fps * SAMPLE_DELTA,
        "movie_timescale": MOVIE_TIMESCALE,
        "faststart": faststart,
        "top_level_boxes": [kind.decode("ascii") for _, _, kind in walk_boxes(data)],
    }
    extension = "mov" if container == "mov" else "mp4"
    return SyntheticFile(key or f"video/clip_{seed:06d}.{extension}", data, container, expected)


def truncated_video(valid: SyntheticFile, seed: int) -> SyntheticFile:
    """Cut inside ``mdat``. With faststart the metadata survives and only samples are lost
    (``moov_intact``); otherwise ``moov`` is gone and nothing can be said about the clip."""
    boxes = {kind: (offset, size) for offset, size, kind in walk_boxes(valid.data)}
    offset, size = boxes[b"mdat"]
    moov_intact = boxes[b"moov"][0] < offset
    return truncate(valid, seed, low=offset + 16, high=offset + size, moov_intact=moov_intact)


def video_dataset(
    seed: int,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    seconds: float = 2.0,
    prefix: str = "video",
) -> list[SyntheticFile]:
    """An MP4 (faststart), a camera-style MP4 (moov last), a MOV, and two truncated copies."""

    def clip(clip_seed: int, key: str, **options: Any) -> SyntheticFile:
        return video_clip(clip_seed, width=width, height=height, fps=fps, seconds=seconds, key=key, **options)

    streamable = clip(seed, f"{prefix}/drive_{seed}.mp4")
    camera = clip(seed + 1, f"{prefix}/drive_{seed}_camera.mp4", faststart=False)
    quicktime = clip(seed + 2, f"{prefix}/drive_{seed}.mov", container="mov")
    return [streamable, camera, quicktime, truncated_video(streamable, seed), truncated_video(camera, seed)]
