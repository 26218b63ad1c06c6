"""shared.batch: a Map item becomes one run-scoped part with a record per file, errors included."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from shared.batch import BatchRequest, iter_results, process_batch
from shared.errors import FileFormatError, InvalidInputError, S3TransientError
from shared.s3ap import OutputLocation

OUTPUT = OutputLocation("run-outputs")


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(
            Bucket="run-outputs", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        yield client


def parse(key: str) -> dict:
    if key.endswith(".bad"):
        raise FileFormatError("record header is cut short", offset=42)
    if key.endswith(".bug"):
        raise KeyError("a bug in a parser")
    return {"size": len(key)}


def test_request_from_event() -> None:
    request = BatchRequest.from_event({"run_id": "r1", "batch": 3, "keys": ["a", "b"]})
    assert request == BatchRequest("r1", 3, ("a", "b"))
    assert request.part_name == "parts/batch-000003.jsonl"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"batch": 0, "keys": []}, "run_id"),
        ({"run_id": "r", "batch": -1, "keys": []}, "batch"),
        ({"run_id": "r", "batch": True, "keys": []}, "batch"),
        ({"run_id": "r", "batch": 0, "keys": "a"}, "keys"),
        ({"run_id": "r", "batch": 0, "keys": [""]}, "keys"),
    ],
)
def test_bad_events_name_the_field(event: dict, field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        BatchRequest.from_event(event)
    assert raised.value.field == field


def test_bad_files_become_error_records_and_the_batch_goes_on(s3) -> None:
    # Given a batch with a good file, a corrupt one, and one that trips an unexpected exception
    request = BatchRequest("run-1", 0, ("a.gds", "b.bad", "c.bug", "d.gds"))
    # When it is processed
    summary = process_batch(request, parse, OUTPUT, s3=s3)
    # Then every file has exactly one record, errors carry their class, message and offset
    assert (summary.files, summary.errors) == (4, 2)
    assert summary.to_dict()["part"] == {
        "bucket": "run-outputs",
        "key": "runs/run-1/parts/batch-000000.jsonl",
    }
    records = {record["key"]: record for record in iter_results(OUTPUT, "run-1", s3=s3)}
    assert records["a.gds"] == {"key": "a.gds", "status": "ok", "size": 5}
    assert records["b.bad"]["error"] == "FileFormatError"
    assert records["b.bad"]["offset"] == 42
    assert "record header is cut short" in records["b.bad"]["message"]
    assert records["c.bug"]["error"] == "KeyError"
    assert records["d.gds"]["status"] == "ok"


def test_a_retryable_error_fails_the_batch_and_leaves_no_part(s3) -> None:
    def flaky(key: str) -> dict:
        raise S3TransientError("SlowDown", bucket="ap", key=key)

    with pytest.raises(S3TransientError):
        process_batch(BatchRequest("run-1", 1, ("a",)), flaky, OUTPUT, s3=s3)
    assert list(iter_results(OUTPUT, "run-1", s3=s3)) == []


def test_a_replayed_batch_keeps_the_first_part_and_reports_its_counts(s3) -> None:
    request = BatchRequest("run-1", 2, ("a.gds", "b.bad"))
    first = process_batch(request, parse, OUTPUT, s3=s3)

    replay = process_batch(request, lambda key: {"size": -1}, OUTPUT, s3=s3)

    assert (replay.files, replay.errors) == (first.files, first.errors) == (2, 1)
    assert [r.get("size") for r in iter_results(OUTPUT, "run-1", s3=s3)] == [len("a.gds"), None]


def test_results_of_all_batches_are_read_back_in_order(s3) -> None:
    for index in (1, 0):
        process_batch(BatchRequest("run-9", index, (f"k{index}",)), parse, OUTPUT, s3=s3)
    process_batch(BatchRequest("other-run", 0, ("x",)), parse, OUTPUT, s3=s3)
    assert [r["key"] for r in iter_results(OUTPUT, "run-9", s3=s3)] == ["k0", "k1"]
