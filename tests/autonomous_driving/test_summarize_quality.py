"""SummarizeQualityFunction: the run's records → aggregates, frames.json and the failure manifest."""

from __future__ import annotations

import json

import pytest
from autonomous_driving.handlers import check_quality, discovery, summarize_quality
from autonomous_driving.summary import SummarySettings

from shared.errors import InvalidInputError
from tests.autonomous_driving.helpers import RUN_ID


def _check_everything(drive_world, lambda_context) -> None:
    found = discovery.handler({"run_id": RUN_ID}, lambda_context)["discovery"]
    for index, batch in enumerate(json.loads(drive_world.output(found["manifest"]["key"]))):
        check_quality.handler({"run_id": RUN_ID, "batch": index, "keys": batch["keys"]}, lambda_context)


def test_handler_aggregates_and_writes_frames_and_failures(drive_world, lambda_context, event_loader) -> None:
    # Given every file of the drive log checked
    _check_everything(drive_world, lambda_context)
    # When the run is summarised
    result = summarize_quality.handler(event_loader("autonomous-driving/summarize_quality"), lambda_context)
    qc = result["qc"]
    # Then the counts add up by verdict, sensor and format
    corrupt = {key for key, item in drive_world.files.items() if item.corrupt}
    assert (qc["files"], qc["passed"], qc["failed"] + qc["errors"]) == (35, 35 - len(corrupt), len(corrupt))
    assert qc["by_kind"]["camera"] == {"files": 16, "passed": 12, "failed": 2, "errors": 2}
    assert qc["reasons"] == {"FileFormatError": 4, "truncated": 3, "point_count_mismatch": 2}
    assert qc["camera"]["resolutions"] == {"160x120": 14}
    assert qc["video"] == {"seconds": 4.0, "frames": 40, "codecs": {"avc1": 4}}
    assert qc["io"]["requests"] >= 35
    # And frames.json lists the frames that passed, as manifest batches, in key order
    frames = json.loads(drive_world.output(result["frames"]["manifest"]["key"]))
    keys = [key for batch in frames for key in batch["keys"]]
    good = sorted(
        key for key, item in drive_world.files.items() if item.kind in ("png", "jpeg") and not item.corrupt
    )
    assert keys == good and result["frames"]["count"] == 12
    # And the failure manifest has one line per damaged file, saying why
    lines = [json.loads(line) for line in drive_world.output(qc["failures"]["key"]).decode().splitlines()]
    assert {line["key"] for line in lines} == corrupt
    assert qc["failures"]["count"] == len(corrupt)
    for line in lines:
        assert (line["status"] == "error") == ("error" in line and line["error"] == "FileFormatError")
        assert line.get("reasons") or line.get("message")


def test_an_empty_run_still_writes_empty_outputs(drive_world, lambda_context) -> None:
    result = summarize_quality.handler({"run_id": "empty-run"}, lambda_context)
    assert (result["qc"]["files"], result["frames"]["count"], result["qc"]["failures"]["count"]) == (0, 0, 0)
    assert json.loads(drive_world.output("runs/empty-run/frames.json")) == []


@pytest.mark.parametrize(
    "environ", [{"OUTPUT_BUCKET": ""}, {"OUTPUT_BUCKET": "out-bucket", "BATCH_SIZE": "0"}]
)
def test_settings_are_validated(environ: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError):
        SummarySettings.from_env(environ)
