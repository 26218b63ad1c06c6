"""After the Distributed Map: one pass over the run's QC records → aggregates, frames, failures.

Reads ``runs/<run_id>/parts/*.jsonl`` once, in key order (:func:`shared.batch.iter_results`), and
writes two run outputs:

* ``frames.json`` — the camera frames that PASSED, as ``[{"keys": [...]}, ...]`` batches: the
  manifest the inference step and Batch Transform read (the shape of discovery's manifest);
* ``failures.jsonl`` — the manifest of failures: one line per file that FAILED a rule or could not
  be parsed, with its reasons or its error and byte offset (streamed: any number of failures).

Returns aggregates small enough for Step Functions state whatever the number of files (counters
are bounded: resolutions, codecs and reason codes keep their 20 most common values).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from autonomous_driving.catalogue import Kind, classify
from shared.batch import ERROR, iter_results
from shared.errors import InvalidInputError
from shared.s3ap import OutputLocation, S3Client, S3ObjectRef, write_json, write_jsonl

FRAMES_NAME: Final = "frames.json"
FAILURES_NAME: Final = "failures.jsonl"
TOP: Final = 20


@dataclass(frozen=True)
class SummarySettings:
    """SummarizeQualityFunction's environment: the run outputs and the frames manifest's batch size."""

    output: OutputLocation
    batch_size: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SummarySettings:
        if not environ.get("OUTPUT_BUCKET"):
            raise InvalidInputError("OUTPUT_BUCKET", "is not set")
        batch_size = environ.get("BATCH_SIZE", "100")
        if not batch_size.isdigit() or not 1 <= int(batch_size) <= 10_000:
            raise InvalidInputError("BATCH_SIZE", f"expected 1-10000, got {batch_size!r}")
        return cls(
            OutputLocation(environ["OUTPUT_BUCKET"], environ.get("OUTPUT_PREFIX", "")), int(batch_size)
        )


def is_error(record: Mapping[str, Any]) -> bool:
    """An error record of :func:`shared.batch.process_batch`.

    Its ``status`` is "error", unless the error's own details carried a ``status`` (an HTTP code
    of S3AccessError) that replaced it: a record with an ``error`` and no ``verdict`` is one too.
    """
    return record.get("status") == ERROR or ("verdict" not in record and "error" in record)


def _tally() -> dict[str, int]:
    return {"files": 0, "passed": 0, "failed": 0, "errors": 0}


@dataclass
class QualitySummary:
    """Counts by verdict, sensor and format; the reasons; what the sensors recorded in total."""

    totals: dict[str, int] = field(default_factory=_tally)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    by_format: dict[str, dict[str, int]] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    resolutions: Counter[str] = field(default_factory=Counter)
    codecs: Counter[str] = field(default_factory=Counter)
    video_seconds: float = 0.0
    video_frames: int = 0
    points: int = 0
    invalid_points: int = 0
    bytes: int = 0
    bytes_read: int = 0
    requests: int = 0

    def add(self, record: Mapping[str, Any]) -> str:
        """Count one record; returns "passed", "failed" or "errors"."""
        file_class = classify(str(record.get("key", "")))
        kind = str(record.get("kind") or (file_class.kind.value if file_class else "unknown"))
        fmt = str(record.get("format") or (file_class.format if file_class else "unknown"))
        if is_error(record):
            outcome = "errors"
            self.reasons[str(record.get("error", "Error"))] += 1
        elif record.get("verdict") == "PASS":
            outcome = "passed"
        else:
            outcome = "failed"
            for reason in record.get("reasons", ()):
                self.reasons[str(reason.get("code"))] += 1
        for tally in (
            self.totals,
            self.by_kind.setdefault(kind, _tally()),
            self.by_format.setdefault(fmt, _tally()),
        ):
            tally["files"] += 1
            tally[outcome] += 1
        self._measurements(kind, record)
        return outcome

    def _measurements(self, kind: str, record: Mapping[str, Any]) -> None:
        self.bytes += int(record.get("size") or 0)
        io = record.get("io") or {}
        self.bytes_read += int(io.get("bytes_read") or 0)
        self.requests += int(io.get("requests") or 0)
        metadata = record.get("metadata") or {}
        if kind == Kind.CAMERA and metadata.get("width"):
            self.resolutions[f"{metadata['width']}x{metadata['height']}"] += 1
        elif kind == Kind.VIDEO:
            self.video_seconds += float(metadata.get("duration_seconds") or 0)
            self.video_frames += int(metadata.get("frames") or 0)
            if metadata.get("codec"):
                self.codecs[str(metadata["codec"])] += 1
        elif kind == Kind.LIDAR:
            self.points += int(metadata.get("points") or 0)
            self.invalid_points += int(metadata.get("nan_points") or 0) + int(metadata.get("inf_points") or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.totals,
            "by_kind": self.by_kind,
            "by_format": dict(sorted(self.by_format.items())),
            "reasons": dict(self.reasons.most_common(TOP)),
            "camera": {"resolutions": dict(self.resolutions.most_common(TOP))},
            "video": {
                "seconds": round(self.video_seconds, 3),
                "frames": self.video_frames,
                "codecs": dict(self.codecs.most_common(TOP)),
            },
            "lidar": {"points": self.points, "invalid_points": self.invalid_points},
            "io": {"bytes": self.bytes, "bytes_read": self.bytes_read, "requests": self.requests},
        }


def failure_line(record: Mapping[str, Any]) -> dict[str, Any]:
    """The failure manifest's line for one record."""
    file_class = classify(str(record.get("key", "")))
    line: dict[str, Any] = {
        "key": record.get("key"),
        "kind": record.get("kind") or (file_class.kind.value if file_class else None),
        "format": record.get("format") or (file_class.format if file_class else None),
    }
    if is_error(record):
        line |= {
            "status": "error",
            "error": record.get("error"),
            "message": record.get("message"),
            "offset": record.get("offset"),
        }
    else:
        line |= {"status": "failed", "reasons": record.get("reasons", [])}
    return line


@dataclass(frozen=True)
class QualityResult:
    summary: QualitySummary
    frames: S3ObjectRef
    frame_count: int
    failures: S3ObjectRef
    failure_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "qc": {
                **self.summary.to_dict(),
                "failures": {**self.failures.to_dict(), "count": self.failure_count},
            },
            "frames": {"manifest": self.frames.to_dict(), "count": self.frame_count},
        }


def summarize_quality(
    output: OutputLocation, run_id: str, *, batch_size: int, s3: S3Client | None = None
) -> QualityResult:
    summary = QualitySummary()
    frames: list[str] = []

    def failures() -> Iterator[dict[str, Any]]:
        for record in iter_results(output, run_id, s3=s3):
            outcome = summary.add(record)
            if outcome == "passed" and record.get("kind") == Kind.CAMERA:
                frames.append(str(record["key"]))
            elif outcome != "passed":
                yield failure_line(record)

    written = write_jsonl(output, run_id, FAILURES_NAME, failures(), s3=s3)
    batches = [{"keys": frames[start : start + batch_size]} for start in range(0, len(frames), batch_size)]
    manifest = write_json(output, run_id, FRAMES_NAME, batches, s3=s3)
    return QualityResult(summary, manifest, len(frames), written.object, written.lines)
