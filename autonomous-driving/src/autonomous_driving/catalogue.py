"""What a drive-log file is, from its name: the content type, the format and the sensor it comes from.

Discovery lists the access point once and needs an answer for every key without reading a byte,
so classification is by extension (case-insensitive: cameras write ``FRAME.JPG``). Every format
maps to one IANA or de-facto content type; anything not listed is *skipped*, counted but neither
checked nor sent to a model.

=============  ===========  =========================  =============================================
extension      kind         content type               what QC reads
=============  ===========  =========================  =============================================
.png           camera       image/png                  header + IHDR (ranged), the 12-byte tail
.jpg / .jpeg   camera       image/jpeg                 segments up to the frame header, the tail
.mp4           video        video/mp4                  box headers, then moov's needed boxes
.mov           video        video/quicktime            same (QuickTime flavour of ISO-BMFF)
.pcd           lidar        application/x-pcd          header, then one streaming pass
.las           lidar        application/vnd.las        public header block, then the point records
.laz           lidar        application/vnd.laszip     header only: LASzip points are not decoded
.ply           lidar        application/x-ply          header, then one streaming pass
.bin           lidar        application/x-kitti-bin    one streaming pass (KITTI Velodyne records)
=============  ===========  =========================  =============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """The sensor a file comes from; camera frames are what the model runs over."""

    CAMERA = "camera"
    VIDEO = "video"
    LIDAR = "lidar"


@dataclass(frozen=True, slots=True)
class FileClass:
    """A recognised drive-log file: its sensor, its format and its content type."""

    kind: Kind
    format: str
    content_type: str


_BY_EXTENSION: Final[dict[str, FileClass]] = {
    ".png": FileClass(Kind.CAMERA, "png", "image/png"),
    ".jpg": FileClass(Kind.CAMERA, "jpeg", "image/jpeg"),
    ".jpeg": FileClass(Kind.CAMERA, "jpeg", "image/jpeg"),
    ".mp4": FileClass(Kind.VIDEO, "mp4", "video/mp4"),
    ".mov": FileClass(Kind.VIDEO, "mov", "video/quicktime"),
    ".pcd": FileClass(Kind.LIDAR, "pcd", "application/x-pcd"),
    ".las": FileClass(Kind.LIDAR, "las", "application/vnd.las"),
    ".laz": FileClass(Kind.LIDAR, "laz", "application/vnd.laszip"),
    ".ply": FileClass(Kind.LIDAR, "ply", "application/x-ply"),
    ".bin": FileClass(Kind.LIDAR, "kitti_bin", "application/x-kitti-bin"),
}

EXTENSIONS: Final = tuple(sorted(_BY_EXTENSION))
"""Every extension discovery puts in the manifest."""

FORMATS: Final = tuple(sorted({entry.format for entry in _BY_EXTENSION.values()}))


def classify(key: str) -> FileClass | None:
    """The class of ``key`` from its extension, or None for a file this use case skips."""
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0:  # no extension, or a dot file such as ".bin"
        return None
    return _BY_EXTENSION.get(name[dot:].lower())
