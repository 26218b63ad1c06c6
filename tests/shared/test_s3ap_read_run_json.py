"""shared.s3ap.read_run_json: a later step of a run reads a JSON document an earlier step wrote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.errors import InvalidInputError, S3AccessError
from shared.s3ap import OutputLocation, read_run_json, write_json, write_text

OUTPUT = OutputLocation("run-outputs", "audits")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="ap-northeast-1")
        client.create_bucket(
            Bucket="run-outputs", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        yield client


def test_what_write_json_stored_is_read_back(s3) -> None:
    document = {"volume": "契約書", "paths": ["a b#1", "100%"], "n": 3}
    write_json(OUTPUT, "run-1", "context.json", document, s3=s3)
    assert read_run_json(OUTPUT, "run-1", "context.json", s3=s3) == document


def test_a_missing_document_is_an_access_error_naming_the_key(s3) -> None:
    with pytest.raises(S3AccessError, match=r"audits/runs/run-1/nothing\.json"):
        read_run_json(OUTPUT, "run-1", "nothing.json", s3=s3)


def test_a_document_that_is_not_json_is_refused(s3) -> None:
    write_text(OUTPUT, "run-1", "report.html", "<html>", s3=s3)
    with pytest.raises(InvalidInputError) as raised:
        read_run_json(OUTPUT, "run-1", "report.html", s3=s3)
    assert raised.value.field == "json"


def test_run_ids_and_names_are_validated(s3) -> None:
    with pytest.raises(InvalidInputError):
        read_run_json(OUTPUT, "../other", "context.json", s3=s3)
