"""semiconductor-eda end to end in the sandbox: the deployed ASL, the real handlers, moto's S3.

The volume holds a mixed tape-out set: two seeded libraries in every flavour the sandbox makes
(GDSII; OASIS with CBLOCKs and CRC32, plain, and maximally compressed with a checksum) with their
damaged copies (truncated GDSII and OASIS, an impossible record length, an unknown record type, a
failing checksum, a broken magic, garbage under both extensions); a legacy block in Ångström
database units; an OASIS file named ``.gds``; and a text file discovery must skip.

The expected catalogue and findings are derived from the datasets' ground truth (what gdstk says
each library contains), not from the code under test, and compared exactly.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import gdstk
import pytest

from sandbox.aws import UseCaseStack
from sandbox.datasets import SyntheticFile, layout_dataset, oasis_file, upload_files
from sandbox.scenarios import access_point_parameters
from tests.workflows.conftest import WorkflowHarness

pytestmark = [pytest.mark.slow]

SEEDS = (21, 22)
STATE_PAYLOAD_BUDGET = 16 * 1024
FULL_RUN = [
    "Start Run",
    "Discover Files",
    "Region Active?",
    "Any Layouts?",
    "Process Layouts",
    "Review And Report",
    "Notify?",
    "Done",
]
ALLOWED_LAYERS = ",".join(f"{layer}/*" for layer in range(48))
DIE_MAX_UM = 2600
# What the readers call the damage the datasets plant (a length past the end of the file is
# indistinguishable from a cut).
REASONS = {
    "truncated": {"truncated"},
    "bad_record_length": {"bad_record_length", "truncated"},
    "unknown_record_type": {"unknown_record_type"},
    "checksum_mismatch": {"checksum_mismatch"},
    "bad_magic": {"unknown_format"},
    "garbage": {"unknown_format", "not_oasis"},
}


def legacy_block() -> SyntheticFile:
    """A small library in 0.1 nm database units: the set's odd one out."""
    library = gdstk.Library("LEGACY", unit=1e-6, precision=1e-10)
    cell = library.new_cell("LEGACY_TOP")
    cell.add(gdstk.rectangle((0, 0), (10, 5), layer=1))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "legacy.gds"
        library.write_gds(str(path))
        data = path.read_bytes()
    expected = {"cells": ["LEGACY_TOP"], "top_cells": ["LEGACY_TOP"], "layers": [[1, 0]], "text_layers": [],
                "bounding_box": [[0, 0], [10, 5]], "cell_stats": {"LEGACY_TOP": {}}}  # fmt: skip
    return SyntheticFile("legacy/old_block.gds", data, "gdsii", expected)


def tapeout_set() -> list[SyntheticFile]:
    files = [
        item
        for seed in SEEDS
        for item in layout_dataset(seed, cells=10, shapes_per_cell=16, prefix=f"tapeout/s{seed}")
    ]
    misnamed = oasis_file(23, cells=4, shapes_per_cell=6, key="misc/block_oasis_inside.gds")
    return [*files, legacy_block(), misnamed]


def deploy(workflow: WorkflowHarness, **parameters: Any) -> tuple[UseCaseStack, str]:
    access_point = access_point_parameters(workflow.world, "eda-vol")
    stack = workflow.deploy("semiconductor-eda", parameters={**access_point, **parameters})
    return stack, access_point["AccessPointAlias"]


def outputs(stack: UseCaseStack, run_id: str) -> dict[str, bytes]:
    s3 = stack.world.client("s3")
    bucket = stack.ref("OutputBucket")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/").get("Contents", [])
    return {
        item["Key"].removeprefix(f"runs/{run_id}/"): s3.get_object(Bucket=bucket, Key=item["Key"])[
            "Body"
        ].read()
        for item in listing
    }


def jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def expected_findings(files: list[SyntheticFile]) -> list[tuple[str, str, str, str | None]]:
    """(severity, rule, key, cell) of every finding the review must make, from ground truth."""
    expected: list[tuple[str, str, str, str | None]] = []
    defined: dict[str, set[str]] = defaultdict(set)
    for item in files:
        truth = item.expected
        if item.corrupt:
            expected.append(("error", "invalid_file", item.key, None))
            continue
        for name in truth["cells"]:
            defined[name].add(item.key)
        if item.key.startswith("legacy/"):
            expected.append(("error", "units", item.key, None))
        if item.key.endswith(".gds") and item.kind == "oasis":
            expected.append(("info", "format_mismatch", item.key, None))
        used = {tuple(pair) for pair in truth["layers"] + truth["text_layers"]}
        if any(layer >= 48 for layer, _ in used):
            expected.append(("error", "layer_map", item.key, None))
        (x0, _), (x1, _) = truth["bounding_box"]
        if x1 - x0 > DIE_MAX_UM:
            expected.append(("error", "die_size", item.key, None))
        for top in truth["top_cells"]:
            if not top.startswith(("TOP_", "LEGACY_")):
                expected.append(("warning", "unreferenced_cells", item.key, top))
    for name, keys in defined.items():
        if len(keys) > 1:
            expected += [("warning", "duplicate_cells", key, name) for key in keys]
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(expected, key=lambda f: (rank[f[0]], f[1], f[2], f[3] or ""))


def test_mixed_tape_out_set(workflow):
    # Given a volume with valid, damaged and odd layouts (and one file that is not a layout)
    stack, alias = deploy(
        workflow,
        BatchSize=3,
        AllowedLayers=ALLOWED_LAYERS,
        DieMaxWidthUm=DIE_MAX_UM,
        TopCellPattern="^(TOP|LEGACY)_",
    )
    files = tapeout_set()
    s3 = workflow.world.client("s3")
    upload_files(s3, alias, files)
    s3.put_object(Bucket=alias, Key="tapeout/README.txt", Body=b"not a layout")

    # When a run catalogues and reviews the volume
    result = stack.run({}, name="tapeout-review-1", timeout_s=600)

    # Then the run succeeds through every step, with small state
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == FULL_RUN
    assert result.state_output("Discover Files")["discovery"]["count"] == len(files)
    assert result.largest_payload_bytes() < STATE_PAYLOAD_BUDGET

    # And every file has exactly one catalogue record: corrupt files are INVALID entries
    produced = outputs(stack, "tapeout-review-1")
    catalogue = {record["key"]: record for record in jsonl(produced["metadata/layouts.jsonl"])}
    assert sorted(catalogue) == sorted(item.key for item in files)
    for item in files:
        record = catalogue[item.key]
        if item.corrupt:
            assert (record["status"], record["error"]) == ("error", "FileFormatError"), item.key
            assert record["reason"] in REASONS[item.expected["reason"]], (item.key, record["reason"])
            assert 0 <= record["offset"] <= item.size, item.key
            if item.expected["reason"] == "truncated":
                assert record["offset"] <= item.expected["size"]
            continue
        truth = item.expected
        assert record["status"] == "ok", item.key
        assert record["format"] == item.kind, item.key
        assert [cell["name"] for cell in record["cells"]] == truth["cells"], item.key
        assert record["top_cells"] == truth["top_cells"], item.key
        assert (record["layers"], record["text_layers"]) == (truth["layers"], truth["text_layers"]), item.key
        (x0, y0), (x1, y1) = truth["bounding_box"]
        assert record["bounding_box"]["um"] == pytest.approx([x0, y0, x1, y1], abs=1e-6), item.key

    # And the review findings are exactly the ones the ground truth implies
    findings = jsonl(produced["findings/findings.jsonl"])
    assert [(f["severity"], f["rule"], f["key"], f.get("cell")) for f in findings] == expected_findings(files)
    legacy = next(f for f in findings if f["rule"] == "units")
    assert legacy["details"]["db_unit_m"] == 1e-10 and legacy["details"]["expected"]["db_unit_m"] == 1e-9

    # And the reports and the returned summary agree
    corrupt = sum(item.corrupt for item in files)
    report = result.state_output("Review And Report")["report"]
    assert (report["files"], report["valid"], report["invalid"], report["missing"]) == (
        len(files),
        len(files) - corrupt,
        corrupt,
        0,
    )
    summary = json.loads(produced["summary.json"])
    assert summary["findings"]["total"] == len(findings)
    assert summary["files"]["invalid"] == corrupt
    markdown = produced["report.md"].decode()
    assert "Blocking findings" in markdown and "tapeout/s21/chip_21.truncated.gds" in markdown
    assert produced["report.html"].startswith(b"<!DOCTYPE html>")
    assert (
        "manifest.json" in produced
        and sum(name.startswith("parts/") for name in produced)
        == result.state_output("Discover Files")["discovery"]["batches"]
    )


def test_an_empty_volume_goes_straight_to_the_report(workflow):
    stack, _ = deploy(workflow)

    result = stack.run({}, name="empty-volume", timeout_s=120)

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == [
        "Start Run",
        "Discover Files",
        "Region Active?",
        "Any Layouts?",
        "Review And Report",
        "Notify?",
        "Done",
    ]
    produced = outputs(stack, "empty-volume")
    assert produced["metadata/layouts.jsonl"] == b"" and produced["findings/findings.jsonl"] == b""
    assert json.loads(produced["summary.json"])["files"]["catalogued"] == 0


def test_header_mode_and_notification(workflow):
    # Given header-only scans and a subscribed e-mail address (the topic exists only then)
    stack, alias = deploy(workflow, ScanMode="header", NotificationEmail="tapeout-team@example.com")
    watch = stack.watch_topic("NotificationTopic")
    files = layout_dataset(31, cells=6, shapes_per_cell=8, prefix="quick")
    upload_files(workflow.world.client("s3"), alias, files)

    # When a run reads only the first 64 KiB of each file
    result = stack.run({}, name="units-check-1", timeout_s=300)

    # Then the catalogue holds headers (damage after the header goes unnoticed by design)…
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered()[-2:] == ["Publish Summary", "Done"]
    catalogue = {r["key"]: r for r in jsonl(outputs(stack, "units-check-1")["metadata/layouts.jsonl"])}
    good = catalogue["quick/chip_31.gds"]
    assert (good["mode"], good["library"], good["units"]["db_unit_m"]) == ("header", "SYNTH", 1e-9)
    assert "cells" not in good
    assert catalogue["quick/garbage_31.gds"]["reason"] == "unknown_format"

    # …and the run summary was published
    (message,) = watch.messages()
    published = json.loads(message["Message"])
    assert published["files"] == len(files)
    assert published["outputs"]["report.md"] == "runs/units-check-1/report.md"
