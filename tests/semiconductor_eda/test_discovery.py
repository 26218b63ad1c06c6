"""DiscoveryFunction of semiconductor-eda: only layout files reach the manifest."""

from __future__ import annotations

import json

from semiconductor_eda.handlers import discovery

from tests.semiconductor_eda.conftest import OUTPUT


def test_handler_lists_layouts_only(volume, lambda_context, event_loader):
    for key in (
        "a/TOP.GDS",
        "a/top.oas",
        "b/chip.gdsii",
        "b/chip.gds2",
        "b/chip.OASIS",
        "b/notes.txt",
        "b/chip.gds.bak",
    ):
        volume.put(key, b"x")
    event = event_loader("semiconductor-eda/discovery")

    result = discovery.handler(event, lambda_context)

    assert (result["count"], result["batches"]) == (5, 3)
    assert result["manifest"] == {"bucket": OUTPUT, "key": f"runs/{event['run_id']}/manifest.json"}
    manifest = json.loads(volume.output(result["manifest"]["key"]))
    assert sorted(key for batch in manifest for key in batch["keys"]) == [
        "a/TOP.GDS", "a/top.oas", "b/chip.OASIS", "b/chip.gds2", "b/chip.gdsii",
    ]  # fmt: skip
