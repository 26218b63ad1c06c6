"""QC rules: verdicts and reasons from measurements, thresholds from the stack's parameters."""

from __future__ import annotations

import pytest
from autonomous_driving.pointclouds import CloudInfo
from autonomous_driving.qc import Thresholds, assess_cloud

from shared.errors import InvalidInputError


def _cloud(**overrides: object) -> CloudInfo:
    values: dict[str, object] = {
        "format": "pcd",
        "header_points": 1000,
        "points": 1000,
        "nan_points": 10,
        "inf_points": 5,
        "bounds": {"min": [-50.0, -20.0, -2.0], "max": [50.0, 30.0, 5.0]},
    }
    values.update(overrides)
    return CloudInfo(**values)  # type: ignore[arg-type]


def _codes(info: CloudInfo, thresholds: Thresholds | None = None) -> list[str]:
    return [reason.code for reason in assess_cloud(info, thresholds or Thresholds()).reasons]


def test_a_clean_cloud_passes_with_its_measurements() -> None:
    assessment = assess_cloud(_cloud(), Thresholds())
    assert assessment.verdict == "PASS"
    metadata = assessment.to_dict()["metadata"]
    assert metadata["invalid_ratio"] == 0.015
    assert metadata["max_extent_m"] == 100.0
    assert metadata["density_per_m2"] == pytest.approx(985 / (100 * 50))


@pytest.mark.parametrize(
    ("info", "thresholds", "codes"),
    [
        (_cloud(), Thresholds(max_invalid_ratio=0.01), ["invalid_points"]),
        (_cloud(), Thresholds(min_points=986), ["too_few_points"]),
        (_cloud(), Thresholds(max_extent_m=99.0), ["extent_too_large"]),
        (_cloud(), Thresholds(min_density=0.2), ["density_too_low"]),
        (
            _cloud(bounds={"min": [0.0, 0.0, 0.0], "max": [5.0, 0.0, 1.0]}),
            Thresholds(min_density=0.1),
            ["density_too_low"],
        ),
        (_cloud(points=990, truncated=True), Thresholds(), ["point_count_mismatch"]),
        (_cloud(header_points=None, truncated=True), Thresholds(), ["truncated"]),
        (
            _cloud(nan_points=1000, inf_points=0, bounds=None),
            Thresholds(),
            ["too_few_points", "invalid_points"],
        ),
        (_cloud(details={"header_bounds_match": False}), Thresholds(), ["header_bounds_mismatch"]),
    ],
)
def test_each_rule_fails_with_its_reason(info: CloudInfo, thresholds: Thresholds, codes: list[str]) -> None:
    assert _codes(info, thresholds) == codes


def test_thresholds_come_from_the_environment() -> None:
    thresholds = Thresholds.from_env(
        {
            "POINTCLOUD_MIN_POINTS": "100",
            "POINTCLOUD_MAX_INVALID_RATIO": "0.2",
            "POINTCLOUD_MAX_EXTENT_METERS": "500",
            "POINTCLOUD_MIN_DENSITY": "0.5",
        }
    )
    assert thresholds.to_dict() == {
        "min_points": 100,
        "max_invalid_ratio": 0.2,
        "max_extent_m": 500.0,
        "min_density": 0.5,
    }
    assert Thresholds.from_env({}) == Thresholds()


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"POINTCLOUD_MIN_POINTS": "1.5"}, "POINTCLOUD_MIN_POINTS"),
        ({"POINTCLOUD_MIN_POINTS": "-1"}, "POINTCLOUD_MIN_POINTS"),
        ({"POINTCLOUD_MAX_INVALID_RATIO": "2"}, "POINTCLOUD_MAX_INVALID_RATIO"),
        ({"POINTCLOUD_MAX_EXTENT_METERS": "0"}, "POINTCLOUD_MAX_EXTENT_METERS"),
        ({"POINTCLOUD_MIN_DENSITY": "nan"}, "POINTCLOUD_MIN_DENSITY"),
        ({"POINTCLOUD_MIN_DENSITY": "lots"}, "POINTCLOUD_MIN_DENSITY"),
    ],
)
def test_invalid_thresholds_are_refused_by_name(environ: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Thresholds.from_env(environ)
    assert raised.value.field == field
