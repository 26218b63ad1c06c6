"""Quality rules: a PASS/FAIL verdict with reasons for each camera frame, video clip and point cloud.

Pure functions over what the parsers found. Integrity rules apply to every file (a frame without
its end marker, a clip cut inside its boxes, a cloud whose data disagrees with its header); the
point-cloud thresholds come from the stack's parameters (:class:`Thresholds`):

==========================  =====================================================  ==========
rule (reason code)          FAIL when                                              parameter
==========================  =====================================================  ==========
``point_count_mismatch``    complete records != the header's point count           —
``truncated``               the data ends inside a record or element                —
``too_few_points``          finite points < minimum                                PointCloudMinPoints
``invalid_points``          (NaN + Inf points) / points > maximum ratio            PointCloudMaxInvalidRatio
``extent_too_large``        largest bounding-box side > maximum, in metres         PointCloudMaxExtentMeters
``density_too_low``         finite points per m² of the x-y bounding box < minimum  PointCloudMinDensity
``header_bounds_mismatch``  LAS points outside the header's min/max                —
==========================  =====================================================  ==========
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from autonomous_driving.images import ImageInfo
from autonomous_driving.pointclouds import CloudInfo
from autonomous_driving.video import VideoInfo
from shared.errors import InvalidInputError


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105  # nosec B105 - a verdict, not a password
    FAIL = "FAIL"


@dataclass(frozen=True)
class Reason:
    code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Thresholds:
    """Point-cloud limits (the template's PointCloud* parameters)."""

    min_points: int = 1
    max_invalid_ratio: float = 0.05
    max_extent_m: float = 2000.0
    min_density: float = 0.0

    def __post_init__(self) -> None:
        if self.min_points < 0:
            raise InvalidInputError("POINTCLOUD_MIN_POINTS", f"must be >= 0, got {self.min_points}")
        if not 0.0 <= self.max_invalid_ratio <= 1.0:
            raise InvalidInputError(
                "POINTCLOUD_MAX_INVALID_RATIO", f"must be between 0 and 1, got {self.max_invalid_ratio}"
            )
        if not self.max_extent_m > 0 or not math.isfinite(self.max_extent_m):
            raise InvalidInputError("POINTCLOUD_MAX_EXTENT_METERS", f"must be > 0, got {self.max_extent_m}")
        if not self.min_density >= 0 or not math.isfinite(self.min_density):
            raise InvalidInputError("POINTCLOUD_MIN_DENSITY", f"must be >= 0, got {self.min_density}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Thresholds:
        def number(name: str, default: float) -> float:
            raw = environ.get(name, "")
            if raw == "":
                return default
            try:
                return float(raw)
            except ValueError:
                raise InvalidInputError(name, f"expected a number, got {raw!r}") from None

        minimum = number("POINTCLOUD_MIN_POINTS", 1)
        if minimum != int(minimum):
            raise InvalidInputError("POINTCLOUD_MIN_POINTS", f"expected a whole number, got {minimum}")
        return cls(
            min_points=int(minimum),
            max_invalid_ratio=number("POINTCLOUD_MAX_INVALID_RATIO", 0.05),
            max_extent_m=number("POINTCLOUD_MAX_EXTENT_METERS", 2000.0),
            min_density=number("POINTCLOUD_MIN_DENSITY", 0.0),
        )

    def to_dict(self) -> dict[str, float]:
        return {
            "min_points": self.min_points,
            "max_invalid_ratio": self.max_invalid_ratio,
            "max_extent_m": self.max_extent_m,
            "min_density": self.min_density,
        }


@dataclass
class Assessment:
    """A verdict, why, and the measurements it was made from."""

    metadata: dict[str, Any]
    reasons: list[Reason] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return Verdict.FAIL if self.reasons else Verdict.PASS

    def fail(self, code: str, detail: str) -> None:
        self.reasons.append(Reason(code, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "metadata": self.metadata,
        }


def assess_image(info: ImageInfo) -> Assessment:
    result = Assessment(info.to_dict())
    if info.truncated:
        marker = "IEND chunk" if info.format == "png" else "EOI marker"
        result.fail("truncated", f"no {marker} at the end: the image data is cut short")
    return result


def assess_video(info: VideoInfo) -> Assessment:
    result = Assessment(info.to_dict())
    if info.truncated:
        result.fail("truncated", f"the {info.truncated_box} box runs past the end of the file")
    video = info.video
    if video is None:
        result.fail("no_video_track", "the movie has no video track")
    elif not video.samples and not info.fragmented:
        result.fail("no_frames", "the video track has no samples")
    if not info.duration_seconds and not info.fragmented:
        result.fail("no_duration", "the movie declares no duration")
    return result


def assess_cloud(info: CloudInfo, thresholds: Thresholds) -> Assessment:
    metadata = info.to_dict()
    density, extent = _geometry(info)
    metadata["density_per_m2"] = density
    metadata["max_extent_m"] = extent
    metadata["invalid_ratio"] = (
        round((info.nan_points + info.inf_points) / info.points, 6) if info.points else None
    )
    result = Assessment(metadata)
    if not info.points_match_header:
        result.fail(
            "point_count_mismatch",
            f"the header declares {info.header_points} points, the data holds {info.points}",
        )
    if info.truncated and info.points_match_header:
        result.fail("truncated", "the data ends inside a record or element")
    if info.finite_points < thresholds.min_points:
        result.fail("too_few_points", f"{info.finite_points} finite points < {thresholds.min_points}")
    ratio = metadata["invalid_ratio"]
    if ratio is not None and ratio > thresholds.max_invalid_ratio:
        result.fail(
            "invalid_points",
            f"{info.nan_points} NaN + {info.inf_points} Inf of {info.points} points = {ratio:.4f} "
            f"> {thresholds.max_invalid_ratio}",
        )
    if extent is not None and extent > thresholds.max_extent_m:
        result.fail("extent_too_large", f"bounding box side {extent:.1f} m > {thresholds.max_extent_m} m")
    if thresholds.min_density > 0 and (density is None or density < thresholds.min_density):
        shown = "undefined (flat or empty x-y extent)" if density is None else f"{density:.4f}"
        result.fail("density_too_low", f"density {shown} points/m² < {thresholds.min_density}")
    if info.details.get("header_bounds_match") is False:
        result.fail("header_bounds_mismatch", "points lie outside the bounds the LAS header declares")
    return result


def _geometry(info: CloudInfo) -> tuple[float | None, float | None]:
    """(finite points per m² of the x-y bounding box, largest side of the bounding box in metres)."""
    if info.bounds is None:
        return None, None
    sides = [high - low for low, high in zip(info.bounds["min"], info.bounds["max"], strict=True)]
    extent = round(max(sides), 6)
    area = sides[0] * sides[1]
    density = round(info.finite_points / area, 6) if area > 0 else None
    return density, extent
