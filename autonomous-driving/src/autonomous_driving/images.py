"""Camera frames (PNG, JPEG): dimensions and format from the header, damage from the header and tail.

Reads, through a seekable reader (ranged GETs in Lambda):

* **PNG** — the 8-byte signature and the IHDR chunk (33 bytes in all; its CRC is checked), then
  the last 12 bytes, which must be the IEND chunk. A file cut anywhere in its image data has no
  IEND; bytes after IEND (some tools append metadata) are reported, not failed.
* **JPEG** — marker segments from SOI up to the first frame header (SOFn: precision, height,
  width, components), following segment lengths with seeks, so a large EXIF block costs one
  ranged read, not a download; the EXIF block itself is read (<= 64 KiB) for make, model and
  capture time. Then the tail, which must end with EOI (``FF D9``).

Verdict inputs, not verdicts: :func:`inspect_image` returns an :class:`ImageInfo`; a header that is
not PNG/JPEG or contradicts itself (bad IHDR CRC, a 0 x 0 frame, no frame header before the scan)
raises :class:`~shared.errors.FileFormatError`; a valid header whose file lacks its end marker
comes back with ``truncated=True``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Final

from autonomous_driving.sources import Seekable, read_at, read_exact
from shared.errors import FileFormatError

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
PNG_IEND: Final = b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG_SOI: Final = b"\xff\xd8"
JPEG_EOI: Final = b"\xff\xd9"
TAIL_WINDOW: Final = 4096
"""Bytes read at the end of a file when its last bytes are not the end marker (to tell trailing
bytes after the marker from a missing marker)."""

MAX_JPEG_SEGMENTS: Final = 512
MAX_DIMENSION: Final = 65535 * 16  # generous: JPEG caps at 65535, PNG at 2**31 - 1 (no camera does)

# PNG colour type → (mode, allowed bit depths), PNG spec 11.2.2
_PNG_COLOUR: Final = {
    0: ("L", (1, 2, 4, 8, 16)),
    2: ("RGB", (8, 16)),
    3: ("P", (1, 2, 4, 8)),
    4: ("LA", (8, 16)),
    6: ("RGBA", (8, 16)),
}
# SOFn markers (C0-CF except DHT C4, JPG C8, DAC CC) → coding process
_SOF_PROCESS: Final = {
    0xC0: "baseline",
    0xC1: "extended",
    0xC2: "progressive",
    0xC3: "lossless",
    0xC5: "differential-sequential",
    0xC6: "differential-progressive",
    0xC7: "differential-lossless",
    0xC9: "arithmetic-extended",
    0xCA: "arithmetic-progressive",
    0xCB: "arithmetic-lossless",
    0xCD: "arithmetic-differential-sequential",
    0xCE: "arithmetic-differential-progressive",
    0xCF: "arithmetic-differential-lossless",
}
_JPEG_MODES: Final = {1: "L", 3: "YCbCr", 4: "CMYK"}
_STANDALONE_MARKERS: Final = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length
_EXIF_TAGS: Final = {0x010F: "make", 0x0110: "model", 0x0132: "datetime"}
_EXIF_IFD_POINTER: Final = 0x8769
_DATETIME_ORIGINAL: Final = 0x9003


@dataclass
class ImageInfo:
    """What the header and tail say about one frame."""

    format: str  # "png" | "jpeg"
    width: int
    height: int
    mode: str
    bit_depth: int
    truncated: bool = False
    trailing_bytes: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "bit_depth": self.bit_depth,
            "truncated": self.truncated,
            "trailing_bytes": self.trailing_bytes,
            **self.details,
        }


def inspect_image(reader: Seekable, size: int) -> ImageInfo:
    """Identify a PNG or JPEG by its signature and read what QC needs; FileFormatError otherwise."""
    head = read_at(reader, 0, 8)
    if head.startswith(PNG_SIGNATURE):
        return inspect_png(reader, size)
    if head.startswith(JPEG_SOI):
        return inspect_jpeg(reader, size)
    raise FileFormatError("not a PNG or JPEG file (unknown signature)", offset=0, signature=head.hex())


# --- PNG ----------------------------------------------------------------------------------------


def inspect_png(reader: Seekable, size: int) -> ImageInfo:
    header = read_exact(reader, 0, 33, "PNG signature and IHDR")
    if header[:8] != PNG_SIGNATURE:
        raise FileFormatError("not a PNG file (bad signature)", offset=0)
    length, chunk_type = struct.unpack_from(">I4s", header, 8)
    if chunk_type != b"IHDR" or length != 13:
        raise FileFormatError(
            f"the first chunk is {chunk_type!r} of {length} bytes, not a 13-byte IHDR", offset=8
        )
    width, height, bit_depth, colour, compression, filtering, interlace = struct.unpack_from(
        ">IIBBBBB", header, 16
    )
    (crc,) = struct.unpack_from(">I", header, 29)
    if zlib.crc32(header[12:29]) != crc:
        raise FileFormatError("IHDR checksum mismatch (the header was altered)", offset=29, chunk="IHDR")
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise FileFormatError(f"invalid dimensions {width}x{height}", offset=16)
    mode_depths = _PNG_COLOUR.get(colour)
    if mode_depths is None or bit_depth not in mode_depths[1]:
        raise FileFormatError(f"colour type {colour} with bit depth {bit_depth} is not PNG", offset=24)
    if compression != 0 or filtering != 0 or interlace > 1:
        raise FileFormatError("unknown compression, filter or interlace method", offset=26)
    truncated, trailing = _check_tail(reader, size, PNG_IEND, minimum_end=33)
    return ImageInfo(
        format="png",
        width=width,
        height=height,
        mode=mode_depths[0],
        bit_depth=bit_depth,
        truncated=truncated,
        trailing_bytes=trailing,
        details={"interlaced": bool(interlace)},
    )


def _check_tail(reader: Seekable, size: int, marker: bytes, *, minimum_end: int) -> tuple[bool, int]:
    """(truncated, trailing bytes after the end marker) from the end of the file."""
    if size < minimum_end + len(marker):
        return True, 0
    tail = read_at(reader, size - len(marker), len(marker))
    if tail == marker:
        return False, 0
    window = read_at(reader, max(minimum_end, size - TAIL_WINDOW), min(TAIL_WINDOW, size - minimum_end))
    found = window.rfind(marker)
    if found < 0:
        return True, 0
    return False, len(window) - found - len(marker)


# --- JPEG ---------------------------------------------------------------------------------------


def inspect_jpeg(reader: Seekable, size: int) -> ImageInfo:
    if read_exact(reader, 0, 2, "JPEG start of image") != JPEG_SOI:
        raise FileFormatError("not a JPEG file (no SOI marker)", offset=0)
    offset = 2
    exif: dict[str, str] = {}
    segments: list[str] = []
    for _ in range(MAX_JPEG_SEGMENTS):
        marker_bytes = read_exact(reader, offset, 2, "JPEG marker")
        if marker_bytes[0] != 0xFF:
            raise FileFormatError(f"expected a marker, found 0x{marker_bytes.hex()}", offset=offset)
        marker = marker_bytes[1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _STANDALONE_MARKERS:
            offset += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA):
            name = {0xD8: "a second SOI", 0xD9: "EOI", 0xDA: "the scan (SOS)"}[marker]
            raise FileFormatError(f"{name} before any frame header (SOFn)", offset=offset)
        (length,) = struct.unpack(">H", read_exact(reader, offset + 2, 2, "JPEG segment length"))
        if length < 2:
            raise FileFormatError(f"segment 0x{marker:02X} has length {length}", offset=offset + 2)
        if offset + 2 + length > size:
            raise FileFormatError(
                f"segment 0x{marker:02X} of {length} bytes runs past the end of the file", offset=offset
            )
        if marker in _SOF_PROCESS:
            return _frame(
                reader, size=size, offset=offset, length=length, marker=marker, exif=exif, segments=segments
            )
        if marker == 0xE1 and not exif:
            exif = _exif(read_at(reader, offset + 4, length - 2))
        segments.append(f"{0xFF00 | marker:04X}")
        offset += 2 + length
    raise FileFormatError(f"no frame header within {MAX_JPEG_SEGMENTS} segments", offset=offset)


def _frame(
    reader: Seekable,
    *,
    size: int,
    offset: int,
    length: int,
    marker: int,
    exif: dict[str, str],
    segments: list[str],
) -> ImageInfo:
    if length < 8:
        raise FileFormatError(f"frame header of {length} bytes is too short", offset=offset + 2)
    precision, height, width, components = struct.unpack(
        ">BHHB", read_exact(reader, offset + 4, 6, "JPEG frame header")
    )
    if width == 0 or height == 0:
        raise FileFormatError(
            f"frame header claims a {width}x{height} image", offset=offset + 5, marker="SOF"
        )
    if components not in _JPEG_MODES or length != 8 + 3 * components:
        raise FileFormatError(
            f"frame header with {components} components and length {length} is inconsistent",
            offset=offset + 9,
        )
    if precision not in (8, 12, 16):
        raise FileFormatError(f"sample precision {precision} is not JPEG", offset=offset + 4)
    truncated, trailing = _check_tail(reader, size, JPEG_EOI, minimum_end=offset + 2 + length)
    details: dict[str, Any] = {"process": _SOF_PROCESS[marker], "segments_before_frame": len(segments)}
    if exif:
        details["exif"] = exif
    return ImageInfo(
        format="jpeg",
        width=width,
        height=height,
        mode=_JPEG_MODES[components],
        bit_depth=precision,
        truncated=truncated,
        trailing_bytes=trailing,
        details=details,
    )


def _exif(payload: bytes) -> dict[str, str]:
    """Make, model and capture times from an APP1 Exif payload; {} for anything unexpected.

    EXIF is informative: a damaged block never fails a frame, it is simply not reported.
    """
    if not payload.startswith(b"Exif\x00\x00") or len(payload) < 14:
        return {}
    tiff = payload[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return {}
    found: dict[str, str] = {}
    try:
        (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
        exif_ifd = _read_ifd(tiff, order, ifd0, _EXIF_TAGS, found)
        if exif_ifd:
            _read_ifd(tiff, order, exif_ifd, {_DATETIME_ORIGINAL: "datetime_original"}, found)
    except struct.error:
        return found
    return found


def _read_ifd(tiff: bytes, order: str, offset: int, wanted: dict[int, str], found: dict[str, str]) -> int:
    """Read ASCII tags of one IFD into ``found``; returns the Exif sub-IFD offset (0 if none)."""
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    exif_pointer = 0
    for index in range(min(count, 256)):
        tag, kind, values, value = struct.unpack_from(order + "HHI4s", tiff, offset + 2 + 12 * index)
        if tag == _EXIF_IFD_POINTER and kind == 4:
            (exif_pointer,) = struct.unpack(order + "I", value)
        elif tag in wanted and kind == 2 and values:  # ASCII
            start = struct.unpack(order + "I", value)[0] if values > 4 else None
            raw = value[:values] if start is None else tiff[start : start + values]
            text = raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
            if text:
                found[wanted[tag]] = text
    return exif_pointer
