"""ExtractMetadataFunction: a Map item in, one catalogue record per layout (INVALID when damaged)."""

from __future__ import annotations

import json

import pytest
from semiconductor_eda.handlers import extract_metadata

from sandbox.datasets import layouts
from shared.errors import InvalidInputError
from tests.semiconductor_eda.conftest import ALIAS, IO_RING, SOC_GDS, SOC_OAS


def part(volume, event):
    key = f"runs/{event['run_id']}/parts/batch-{event['batch']:06d}.jsonl"
    return {r["key"]: r for r in map(json.loads, volume.output(key).decode().splitlines())}


def test_handler_catalogues_the_batch(soc, lambda_context, event_loader):
    event = event_loader("semiconductor-eda/extract_metadata")
    truth = layouts.gdsii_file(11, cells=8, shapes_per_cell=12).expected

    result = extract_metadata.handler(event, lambda_context)

    assert (result["files"], result["errors"]) == (3, 1)
    records = part(soc, event)
    for key in (SOC_GDS, SOC_OAS):
        record = records[key]
        assert record["status"] == "ok"
        assert record["top_cells"] == truth["top_cells"]
        assert record["layers"] == truth["layers"]
        assert record["cell_count"] == len(truth["cells"])
    assert (records[SOC_GDS]["format"], records[SOC_OAS]["format"]) == ("gdsii", "oasis")
    invalid = records[IO_RING]
    assert (invalid["status"], invalid["error"], invalid["reason"]) == (
        "error",
        "FileFormatError",
        "truncated",
    )
    assert 0 < invalid["offset"] < len(soc.s3.get_object(Bucket=ALIAS, Key=IO_RING)["Body"].read())


def test_header_mode_records_the_header_only(soc, lambda_context, event_loader, monkeypatch):
    monkeypatch.setenv("SCAN_MODE", "header")
    event = event_loader("semiconductor-eda/extract_metadata")

    extract_metadata.handler(event, lambda_context)

    record = part(soc, event)[SOC_GDS]
    assert record["mode"] == "header" and record["library"] == "SYNTH"
    assert "cells" not in record


def test_a_missing_file_is_an_error_record_not_a_failed_batch(volume, lambda_context):
    result = extract_metadata.handler({"run_id": "r1", "batch": 3, "keys": ["gone.gds"]}, lambda_context)
    assert (result["files"], result["errors"]) == (1, 1)
    assert part(volume, {"run_id": "r1", "batch": 3})["gone.gds"]["error"] == "S3AccessError"


@pytest.mark.parametrize(
    "event", [{"run_id": "r", "keys": ["a.gds"]}, {"run_id": "r", "batch": 0, "keys": "a.gds"}]
)
def test_malformed_map_items_are_rejected(volume, lambda_context, event):
    with pytest.raises(InvalidInputError):
        extract_metadata.handler(event, lambda_context)


def test_bad_scan_mode_is_rejected(volume, lambda_context, monkeypatch):
    monkeypatch.setenv("SCAN_MODE", "deep")
    with pytest.raises(InvalidInputError) as raised:
        extract_metadata.handler({"run_id": "r", "batch": 0, "keys": ["a.gds"]}, lambda_context)
    assert raised.value.field == "SCAN_MODE"
