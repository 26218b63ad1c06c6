"""shared.batch.error_record: an error's details never hide that the record is an error."""

from __future__ import annotations

from shared.batch import ERROR, BatchSummary, error_record
from shared.errors import OntapNotFoundError
from shared.s3ap import S3ObjectRef


def test_an_ontap_errors_http_status_does_not_replace_the_record_status() -> None:
    error = OntapNotFoundError(
        "entry doesn't exist", status=404, code="4", target="path", method="GET", path="/api/x"
    )

    record = error_record("a b.docx", error)

    assert record["status"] == ERROR
    assert record["key"] == "a b.docx"
    assert (record["error"], record["error_status"], record["code"], record["target"]) == (
        "OntapNotFoundError",
        404,
        "4",
        "path",
    )
    assert "entry doesn't exist" in record["message"]
    summary = BatchSummary(S3ObjectRef("b", "k"))
    summary.count(record)
    assert summary.errors == 1


def test_an_unexpected_exception_is_named() -> None:
    assert error_record("k", KeyError("acls")) == {
        "key": "k",
        "status": ERROR,
        "message": "'acls'",
        "error": "KeyError",
    }
