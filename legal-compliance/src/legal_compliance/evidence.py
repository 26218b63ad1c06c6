"""The report step: gather the run's findings once, write every output, summarise for state.

Outputs are created, never overwritten (``shared.s3ap``). The step is deterministic for a run
(same parts, same context, same execution start time → same bytes), so when Step Functions
retries it after some outputs were written, the outputs that exist are the ones this attempt
would write: they are kept and the step goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from legal_compliance.audit import CONTEXT
from legal_compliance.narrative import Narrator, prompt
from legal_compliance.report import AuditReport, build_report, csv_text, html_page, markdown, notification
from legal_compliance.rules import RuleSet
from legal_compliance.settings import ReportSettings
from shared.batch import iter_results
from shared.errors import InvalidInputError, OutputExistsError
from shared.observability import logger
from shared.s3ap import OutputLocation, S3Client, read_run_json, write_json, write_jsonl, write_text

HTML: Final = "text/html; charset=utf-8"


@dataclass(frozen=True)
class ReportRequest:
    """``{"run_id", "started_at": $$.Execution.StartTime, "discovery": <discovery summary>}``."""

    run_id: str
    started_at: str
    discovery: Mapping[str, Any]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ReportRequest:
        if not isinstance(event, Mapping):
            raise InvalidInputError("event", "expected an object")
        run_id, started_at, discovery = event.get("run_id"), event.get("started_at"), event.get("discovery")
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run_id", f"expected the execution name, got {run_id!r}")
        if not isinstance(started_at, str) or not started_at:
            raise InvalidInputError("started_at", "expected the execution start time (ISO 8601)")
        if not isinstance(discovery, Mapping) or not isinstance(discovery.get("count"), int):
            raise InvalidInputError("discovery", "expected the discovery summary with its count")
        return cls(run_id, started_at, discovery)


def _create(what: str, write: Callable[[], Any]) -> None:
    try:
        write()
    except OutputExistsError:
        logger.warning("output already written by an earlier attempt of this step", output=what)


def write_report(
    settings: ReportSettings,
    rules: RuleSet,
    request: ReportRequest,
    *,
    s3: S3Client | None = None,
    narrator: Narrator | None = None,
) -> tuple[AuditReport, dict[str, Any]]:
    """Build the run's report, write its outputs, return the report and the summary for state."""
    output = settings.output
    run_id = request.run_id
    context = read_run_json(output, run_id, CONTEXT, s3=s3)

    def manifest_keys() -> Iterable[str]:
        for batch in read_run_json(output, run_id, "manifest.json", s3=s3):
            yield from batch["keys"]

    report = build_report(
        iter_results(output, run_id, s3=s3),
        context,
        run_id=run_id,
        started_at=request.started_at,
        discovery=request.discovery,
        rules=rules,
        manifest_keys=manifest_keys,
    )
    names = {
        "findings_jsonl": f"findings/run_date={report.run_date}/findings.jsonl",
        "findings_csv": "findings.csv",
        "report_markdown": "report.md",
        "report_html": "report.html",
        "summary": "summary.json",
    }
    outputs = {label: output.run_key(run_id, name) for label, name in names.items()}
    _create(
        "findings.jsonl", lambda: write_jsonl(output, run_id, names["findings_jsonl"], report.findings, s3=s3)
    )
    _create(
        "findings.csv",
        lambda: write_text(
            output,
            run_id,
            names["findings_csv"],
            csv_text(report),
            content_type="text/csv; charset=utf-8",
            s3=s3,
        ),
    )
    _create(
        "report.md",
        lambda: write_text(
            output,
            run_id,
            names["report_markdown"],
            markdown(report, table_rows=settings.table_rows),
            content_type="text/markdown; charset=utf-8",
            s3=s3,
        ),
    )
    _create(
        "report.html",
        lambda: write_text(
            output,
            run_id,
            names["report_html"],
            html_page(report, table_rows=settings.table_rows),
            content_type=HTML,
            s3=s3,
        ),
    )
    summary = report.summary(outputs)
    if narrator is not None:
        summary["narrative"] = _narrate(
            narrator, report=report, summary=summary, output=output, run_id=run_id, s3=s3
        )
        if summary["narrative"] == "written":
            summary["outputs"]["narrative"] = output.run_key(run_id, "narrative.md")
    _create("summary.json", lambda: write_json(output, run_id, names["summary"], summary, s3=s3))
    subject, message = notification(summary, output.bucket)
    return report, {**_state_summary(summary), "subject": subject, "message": message}


def _narrate(
    narrator: Narrator,
    *,
    report: AuditReport,
    summary: Mapping[str, Any],
    output: OutputLocation,
    run_id: str,
    s3: S3Client | None,
) -> str:
    try:
        text = narrator(prompt(report, summary))
    except Exception as error:  # an optional model must never sink the audit
        logger.warning("Bedrock narrative failed; the deterministic report stands", error=str(error))
        return f"failed: {type(error).__name__}"
    header = "> Generated by a language model from the counts of report.md; the report is the evidence.\n\n"
    _create(
        "narrative.md",
        lambda: write_text(
            output,
            run_id,
            "narrative.md",
            header + text + "\n",
            content_type="text/markdown; charset=utf-8",
            s3=s3,
        ),
    )
    return "written"


def _state_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What state carries: counts and the report's key, not the per-rule breakdown."""
    return {
        "findings": summary["findings"],
        "critical": summary["critical"],
        "by_severity": summary["by_severity"],
        "unreadable": summary["unreadable"],
        "not_audited": summary["not_audited"],
        "report": summary["outputs"]["report_html"],
    }
