"""Format detection, the catalogue record, and reading through the S3 Access Point adapter."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from semiconductor_eda.catalogue import HEADER_LIMIT, catalogue_record, format_from_name, read_layout
from semiconductor_eda.extract import catalogue_object
from semiconductor_eda.settings import ExtractSettings

from sandbox.datasets import layouts
from shared.errors import FileFormatError
from shared.s3ap import AccessPoint, OutputLocation

ALIAS = "eda-vol1-q7x2k9m4p1z8w3c5v6b0n2-ext-s3alias"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a/b/TOP.GDS", "gdsii"),
        ("x.gds2", "gdsii"),
        ("x.gdsii", "gdsii"),
        ("y.oas", "oasis"),
        ("y.OASIS", "oasis"),
        ("z.txt", None),
    ],
)
def test_format_from_name(key, expected):
    assert format_from_name(key) == expected


def test_the_bytes_decide_the_format_not_the_name():
    oas = layouts.oasis_file(3, cells=4, shapes_per_cell=6)
    record = catalogue_record("mislabelled.gds", read_layout(oas.data))
    assert (record["format"], record["format_from_name"]) == ("oasis", "gdsii")
    assert record["size"] == len(oas.data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"PK\x03\x04 a zip", "unknown_format"), (b"\x00\x06", "unknown_format")],
)
def test_unrecognised_files(data, reason):
    with pytest.raises(FileFormatError) as raised:
        read_layout(data)
    assert (raised.value.offset, raised.value.details["reason"]) == (0, reason)


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3")
        # moto has no access point alias routing: a bucket named as the alias stands in for it.
        for bucket in (ALIAS, "eda-outputs"):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
            )
        yield client


class CountingS3:
    """Passes calls to moto's client and records every GetObject range."""

    def __init__(self, client):
        self.client = client
        self.ranges: list[str | None] = []

    def get_object(self, **kwargs):
        self.ranges.append(kwargs.get("Range"))
        return self.client.get_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.mark.parametrize("maker", [layouts.gdsii_file, layouts.oasis_file])
def test_header_mode_reads_one_range_of_at_most_64_kib(s3, maker):
    big = maker(5, cells=40, shapes_per_cell=600)
    assert big.size > HEADER_LIMIT
    s3.put_object(Bucket=ALIAS, Key="big.layout", Body=big.data)
    counting = CountingS3(s3)
    settings = ExtractSettings(AccessPoint.parse(ALIAS), OutputLocation("eda-outputs"), "header")

    record = catalogue_object(settings, "big.layout", s3=counting)

    assert record["mode"] == "header" and record["size"] == big.size
    assert counting.ranges == [f"bytes=0-{HEADER_LIMIT - 1}"]


def test_full_mode_streams_the_whole_object_once(s3):
    item = layouts.gdsii_file(6)
    s3.put_object(Bucket=ALIAS, Key="chip.gds", Body=item.data)
    counting = CountingS3(s3)
    settings = ExtractSettings(AccessPoint.parse(ALIAS), OutputLocation("eda-outputs"), "full")

    record = catalogue_object(settings, "chip.gds", s3=counting)

    assert counting.ranges == [None]
    assert record["top_cells"] == item.expected["top_cells"]
    assert record["bytes_read"] == record["size"] == item.size
