"""Fixtures of the semiconductor-eda functional tests: a layout volume in moto, the environment.

The volume holds the keys the event files name (``events/semiconductor-eda/*.json``): one SoC in
GDSII and OASIS and an IO ring, so the handlers run against the same payloads ``sam local
invoke`` would send.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from sandbox.datasets import layouts

ALIAS = "eda-vol1-q7x2k9m4p1z8w3c5v6b0n2-ext-s3alias"
OUTPUT = "eda-outputs"
REGION = "ap-northeast-1"
SOC_GDS, SOC_OAS, IO_RING = (
    "tapeout/soc_a/soc_a_top.gds",
    "tapeout/soc_a/soc_a_top.oas",
    "tapeout/soc_a/io_ring.gds",
)


@dataclass
class Volume:
    s3: object

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=ALIAS, Key=key, Body=data)  # type: ignore[attr-defined]

    def output(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=OUTPUT, Key=key)["Body"].read()  # type: ignore[attr-defined]

    def output_keys(self, prefix: str = "") -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=OUTPUT, Prefix=prefix)  # type: ignore[attr-defined]
        return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.fixture
def eda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ACCESS_POINT": ALIAS,
        "OUTPUT_BUCKET": OUTPUT,
        "FILE_SUFFIXES": ".gds,.gds2,.gdsii,.oas,.oasis",
        "BATCH_SIZE": "2",
        "SCAN_MODE": "full",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def volume(eda_env: None) -> Iterator[Volume]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        # moto has no access point alias routing: a bucket named as the alias stands in for it.
        for bucket in (ALIAS, OUTPUT):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield Volume(s3)


@pytest.fixture
def soc(volume: Volume) -> Volume:
    """The event files' three layouts: the SoC twice (GDSII and OASIS) and a truncated IO ring."""
    gds = layouts.gdsii_file(11, cells=8, shapes_per_cell=12)
    volume.put(SOC_GDS, gds.data)
    volume.put(SOC_OAS, layouts.oasis_file(11, cells=8, shapes_per_cell=12).data)
    volume.put(IO_RING, layouts.truncated_layout(layouts.gdsii_file(12, cells=5, shapes_per_cell=8), 12).data)
    return volume
