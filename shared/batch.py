"""One Distributed Map item: a batch of files processed one by one into a run-scoped results part.

The manifest's items are batches of keys; the Map's ``ItemSelector`` adds the run and the item's
index, so a batch handler receives ``{"run_id": ..., "batch": <index>, "keys": [...]}``. Each file
is processed on its own: a file that cannot be processed becomes an error record (its error class,
message and, for format errors, the byte offset) and the batch goes on — a bad file never sinks a
run. Only a retryable error (throttling, a dropped connection) fails the batch, so that the ASL
``Retry`` replays it. Records go to ``runs/<run_id>/parts/batch-<index>.jsonl``; state receives a
pointer and counts, never the records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInputError, OutputExistsError, RetryableError
from shared.observability import logger
from shared.s3ap import OutputLocation, S3Client, S3ObjectRef, iter_run_jsonl, write_jsonl

PARTS = "parts/"
OK, ERROR = "ok", "error"


@dataclass(frozen=True)
class BatchRequest:
    """A Map item: which run, which batch, which keys."""

    run_id: str
    batch: int
    keys: tuple[str, ...]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> BatchRequest:
        if not isinstance(event, Mapping):
            raise InvalidInputError("event", f"expected an object, got {type(event).__name__}")
        run_id, batch, keys = event.get("run_id"), event.get("batch"), event.get("keys")
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run_id", f"expected the execution name, got {run_id!r}")
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 0:
            raise InvalidInputError("batch", f"expected the Map item index (an integer >= 0), got {batch!r}")
        if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
            raise InvalidInputError("keys", "expected a list of object keys")
        return cls(run_id, batch, tuple(keys))

    @property
    def part_name(self) -> str:
        return f"{PARTS}batch-{self.batch:06d}.jsonl"


@dataclass
class BatchSummary:
    """What the batch returns into state: where its records are and how many failed."""

    part: S3ObjectRef
    files: int = 0
    errors: int = 0

    def count(self, record: Mapping[str, Any]) -> None:
        self.files += 1
        self.errors += record.get("status") == ERROR

    def to_dict(self) -> dict[str, Any]:
        return {"part": self.part.to_dict(), "files": self.files, "errors": self.errors}


_RECORD_FIELDS = frozenset({"key", "status", "message"})


def error_record(key: str, error: Exception) -> dict[str, Any]:
    """The record that stands for a file that could not be processed.

    The error's details never replace the record's own ``key``/``status``/``message``: a detail
    with one of those names (an ONTAP error's HTTP ``status``) is kept as ``error_<name>``, so
    the record still reads as an error and is counted as one.
    """
    details = error.to_record() if hasattr(error, "to_record") else {"error": type(error).__name__}
    record: dict[str, Any] = {"key": key, "status": ERROR, "message": str(error)}
    for name, value in details.items():
        if name == "message":
            continue  # str(error) already says it
        record[f"error_{name}" if name in _RECORD_FIELDS else name] = value
    return record


def process_batch(
    request: BatchRequest,
    process: Callable[[str], Mapping[str, Any]],
    output: OutputLocation,
    *,
    s3: S3Client | None = None,
) -> BatchSummary:
    """Run ``process(key)`` for every key of the batch and write one record per file.

    ``process`` returns the file's record (``key`` and ``status`` are added when absent). Any
    exception but a :class:`RetryableError` becomes an error record; unexpected ones are logged
    with their traceback, since they point at a bug rather than at a bad file.
    """
    part = S3ObjectRef(output.bucket, output.run_key(request.run_id, request.part_name))
    summary = BatchSummary(part)

    def records() -> Iterator[dict[str, Any]]:
        for key in request.keys:
            try:
                record = {"key": key, "status": OK, **process(key)}
            except RetryableError:
                raise
            except Exception as error:  # a bad file must never sink the run
                if not hasattr(error, "to_record"):
                    logger.exception("unexpected error while processing a file", key=key)
                record = error_record(key, error)
            summary.count(record)
            yield record

    try:
        write_jsonl(output, request.run_id, request.part_name, records(), s3=s3)
    except OutputExistsError:
        # A replayed batch (Lambda retried after the part was completed): parts are written whole
        # or not at all, so the earlier attempt's part stands and is what this batch reports.
        logger.warning("batch part already written by an earlier attempt", part=part.key)
        summary = BatchSummary(part)
        for record in iter_run_jsonl(output, request.run_id, request.part_name, s3=s3):
            summary.count(record)
    logger.info("batch processed", batch=request.batch, files=summary.files, errors=summary.errors)
    return summary


def iter_results(output: OutputLocation, run_id: str, *, s3: S3Client | None = None) -> Iterator[Any]:
    """Every file record of a run, batch by batch, for the aggregation step."""
    return iter_run_jsonl(output, run_id, PARTS, s3=s3)
