"""The run's QC report: ``report/qc-report.json`` for machines, ``report/qc-report.md`` for people.

Built from what the state machine carried (discovery counts, QC aggregates, the inference outcome,
the annotations' counts) plus the first :data:`FAILURE_SAMPLE` lines of the failure manifest. The
per-file records stay in ``parts/`` and the full list of failures in ``failures.jsonl``: the
report points at them rather than copying them, so its size does not grow with the run.

With ``BEDROCK_MODEL_ID`` set (the ``EnableBedrockSummary`` parameter), a short narrative written by
the model from the JSON report is added as ``report/summary.md``; a summary that cannot be
produced is noted in the report and never fails the run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from autonomous_driving.summary import FAILURES_NAME
from shared.errors import InvalidInputError
from shared.s3ap import OutputLocation, S3Client, iter_run_jsonl, write_json, write_text

JSON_NAME: Final = "report/qc-report.json"
MARKDOWN_NAME: Final = "report/qc-report.md"
SUMMARY_NAME: Final = "report/summary.md"
FAILURE_SAMPLE: Final = 50

Summarizer = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class ReportSettings:
    output: OutputLocation
    bedrock_model_id: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReportSettings:
        if not environ.get("OUTPUT_BUCKET"):
            raise InvalidInputError("OUTPUT_BUCKET", "is not set")
        return cls(
            output=OutputLocation(environ["OUTPUT_BUCKET"], environ.get("OUTPUT_PREFIX", "")),
            bedrock_model_id=environ.get("BEDROCK_MODEL_ID") or None,
        )


@dataclass(frozen=True)
class ReportRequest:
    """What Write Report receives: the run and every step's outcome from state."""

    run_id: str
    discovery: Mapping[str, Any]
    quality: Mapping[str, Any]
    inference: Mapping[str, Any]
    fallback: Mapping[str, Any]
    annotations: Mapping[str, Any]
    failure: Mapping[str, Any]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ReportRequest:
        if not isinstance(event, Mapping) or not isinstance(event.get("run_id"), str) or not event["run_id"]:
            raise InvalidInputError("run_id", "expected the execution name")
        parts = {}
        for name in ("discovery", "quality", "inference", "fallback", "annotations", "failure"):
            value = event.get(name) or {}
            if not isinstance(value, Mapping):
                raise InvalidInputError(name, f"expected an object, got {type(value).__name__}")
            parts[name] = value
        return cls(run_id=event["run_id"], **parts)


def _inference_section(request: ReportRequest) -> dict[str, Any]:
    inference = dict(request.inference)
    section: dict[str, Any] = {"status": inference.get("status", "completed"), "path": inference.get("path")}
    if request.failure.get("Error"):
        section["status"] = "failed"
        section["error"] = request.failure.get("Error")
    elif inference.get("path"):
        section["status"] = "completed"
    if request.fallback.get("Error"):
        section["fallback"] = {"from_error": request.fallback["Error"], "to": "batch_transform"}
    for key in ("reason", "job_name", "output_uri", "total"):
        if inference.get(key) is not None:
            section[key] = inference[key]
    return section


def build_report(
    request: ReportRequest, failures: list[dict[str, Any]], output: OutputLocation
) -> dict[str, Any]:
    qc = dict(request.quality.get("qc", {}))
    prefix = f"s3://{output.bucket}/{output.run_prefix(request.run_id)}"
    return {
        "run_id": request.run_id,
        "verdict": "PASS" if not qc.get("failed") and not qc.get("errors") else "FAIL",
        "discovery": dict(request.discovery),
        "quality": qc,
        "frames": dict(request.quality.get("frames", {})),
        "inference": _inference_section(request),
        "annotations": dict(request.annotations),
        "failures": {"count": qc.get("failures", {}).get("count", len(failures)), "sample": failures},
        "outputs": {
            "manifest": f"{prefix}manifest.json",
            "qc_records": f"{prefix}parts/",
            "failures": f"{prefix}{FAILURES_NAME}",
            "frames": f"{prefix}frames.json",
            "report_json": f"{prefix}{JSON_NAME}",
            "report_markdown": f"{prefix}{MARKDOWN_NAME}",
            **({"coco": f"{prefix}annotations/coco.json"} if request.annotations.get("coco") else {}),
        },
    }


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _counts(counter: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} ({count})" for name, count in counter.items()) or "none"


def render_markdown(report: Mapping[str, Any]) -> str:
    qc = report["quality"]
    discovery = report["discovery"]
    lines = [
        f"# Drive-log QC report — run `{report['run_id']}`",
        "",
        f"**Verdict: {report['verdict']}** — {qc.get('passed', 0)} passed, {qc.get('failed', 0)} failed, "
        f"{qc.get('errors', 0)} unreadable of {qc.get('files', 0)} files checked; "
        f"{discovery.get('skipped', {}).get('files', 0)} other files skipped.",
        "",
        "## By sensor",
        "",
    ]
    lines += _table(
        ["sensor", "files", "passed", "failed", "unreadable"],
        [
            [kind, t["files"], t["passed"], t["failed"], t["errors"]]
            for kind, t in sorted(qc.get("by_kind", {}).items())
        ],
    )
    lines += ["", "## By format", ""]
    lines += _table(
        ["format", "files", "passed", "failed", "unreadable"],
        [
            [fmt, t["files"], t["passed"], t["failed"], t["errors"]]
            for fmt, t in sorted(qc.get("by_format", {}).items())
        ],
    )
    video, lidar, camera, io = (qc.get(name, {}) for name in ("video", "lidar", "camera", "io"))
    lines += [
        "",
        "## What the sensors recorded",
        "",
        f"- camera resolutions: {_counts(camera.get('resolutions', {}))}",
        f"- video: {video.get('seconds', 0)} s, {video.get('frames', 0)} frames, "
        f"codecs {_counts(video.get('codecs', {}))}",
        f"- LiDAR: {lidar.get('points', 0)} points, {lidar.get('invalid_points', 0)} NaN/Inf",
        f"- bytes: {io.get('bytes', 0)} on the volume, {io.get('bytes_read', 0)} read "
        f"in {io.get('requests', 0)} requests",
    ]
    if qc.get("reasons"):
        lines += ["", "## Failure reasons", ""]
        lines += _table(["reason", "files"], [[code, count] for code, count in qc["reasons"].items()])
    inference = report["inference"]
    lines += ["", "## Inference", "", f"- status: **{inference.get('status')}**"]
    for key in ("path", "reason", "error", "job_name", "output_uri"):
        if inference.get(key):
            lines.append(f"- {key.replace('_', ' ')}: `{inference[key]}`")
    if inference.get("fallback"):
        lines.append(f"- fell back to Batch Transform after `{inference['fallback']['from_error']}`")
    annotations = report.get("annotations") or {}
    if annotations.get("coco"):
        lines.append(
            f"- COCO annotations: {annotations.get('images', 0)} images, "
            f"{annotations.get('annotations', 0)} annotations, "
            f"{annotations.get('categories', 0)} categories, "
            f"{annotations.get('errors', 0)} frames without a usable answer"
        )
    failures = report["failures"]
    lines += ["", f"## Failures ({failures['count']})", ""]
    if failures["sample"]:
        rows = []
        for line in failures["sample"]:
            if line.get("status") == "error":
                why = f"{line.get('error')}: {line.get('message')}"
            else:
                why = "; ".join(f"{r.get('code')}: {r.get('detail')}" for r in line.get("reasons", []))
            rows.append([f"`{line.get('key')}`", line.get("format"), why])
        lines += _table(["file", "format", "why"], rows)
        if failures["count"] > len(failures["sample"]):
            lines += ["", f"… and {failures['count'] - len(failures['sample'])} more in `failures.jsonl`."]
    else:
        lines.append("None.")
    lines += ["", "## Outputs", ""]
    lines += [f"- {name.replace('_', ' ')}: `{uri}`" for name, uri in report["outputs"].items()]
    return "\n".join(lines) + "\n"


def write_report(
    settings: ReportSettings,
    request: ReportRequest,
    *,
    summarizer: Summarizer | None = None,
    s3: S3Client | None = None,
) -> dict[str, Any]:
    sample = list(
        itertools.islice(
            iter_run_jsonl(settings.output, request.run_id, FAILURES_NAME, s3=s3), FAILURE_SAMPLE
        )
    )
    report = build_report(request, sample, settings.output)
    summary_ref = None
    if summarizer is not None:
        text = summarizer(report)
        report["summary"] = {"status": "written" if text else "unavailable"}
        if text:
            summary_ref = write_text(
                settings.output,
                request.run_id,
                SUMMARY_NAME,
                text,
                content_type="text/markdown; charset=utf-8",
                s3=s3,
            )
            report["outputs"]["summary"] = f"s3://{summary_ref.bucket}/{summary_ref.key}"
    json_ref = write_json(settings.output, request.run_id, JSON_NAME, report, s3=s3)
    markdown_ref = write_text(
        settings.output,
        request.run_id,
        MARKDOWN_NAME,
        render_markdown(report),
        content_type="text/markdown; charset=utf-8",
        s3=s3,
    )
    return {
        "verdict": report["verdict"],
        "json": json_ref.to_dict(),
        "markdown": markdown_ref.to_dict(),
        **({"summary": summary_ref.to_dict()} if summary_ref else {}),
    }
