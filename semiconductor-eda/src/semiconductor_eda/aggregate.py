"""The Review And Report step: every record of a run → catalogue, findings and reports.

Reads the records the Distributed Map wrote under ``runs/<run_id>/parts/`` once, in order, and
streams them to the catalogue while the design review and the summary consume them, so memory
holds one record plus the review's compact cross-file state. Outputs, all under
``runs/<run_id>/`` and never overwritten:

================================  ==============================================================
``metadata/layouts.jsonl``        one catalogue record per file, INVALID files included
                                  (the Athena ``layouts`` table's location)
``findings/findings.jsonl``       one design-review finding per line (the ``findings`` table)
``summary.json``                  counts, distributions, effective rules, findings by rule
``report.md`` / ``report.html``   the human report
``narrative.md``                  the optional Bedrock narrative
================================  ==============================================================

A retried invocation (after a transient failure) finds some outputs already written: those are
complete (S3 writes are all-or-nothing) and are kept; the rest is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from semiconductor_eda.narrative import write_narrative
from semiconductor_eda.report import RunSummary, render_html, render_markdown
from semiconductor_eda.review import Review, Rules, parse_layer_map, spec_text, summarize
from semiconductor_eda.settings import ReportSettings
from shared.batch import iter_results
from shared.errors import InvalidInputError, OutputExistsError
from shared.observability import logger
from shared.s3ap import S3Client, open_stream, write_json, write_jsonl, write_text

METADATA: Final = "metadata/layouts.jsonl"
FINDINGS: Final = "findings/findings.jsonl"
SUMMARY: Final = "summary.json"
REPORT_MD: Final = "report.md"
REPORT_HTML: Final = "report.html"
NARRATIVE: Final = "narrative.md"
MAX_CONFIG_BYTES: Final = 1024 * 1024
_MARKDOWN: Final = "text/markdown; charset=utf-8"
_HTML: Final = "text/html; charset=utf-8"


@dataclass(frozen=True)
class ReportRequest:
    """``{"run_id": <execution name>, "expected_files": <discovered count>}``."""

    run_id: str
    expected_files: int | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ReportRequest:
        if not isinstance(event, Mapping):
            raise InvalidInputError("event", f"expected an object, got {type(event).__name__}")
        run_id, expected = event.get("run_id"), event.get("expected_files")
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run_id", f"expected the execution name, got {run_id!r}")
        if expected is not None and (
            isinstance(expected, bool) or not isinstance(expected, int) or expected < 0
        ):
            raise InvalidInputError("expected_files", f"expected a count >= 0, got {expected!r}")
        return cls(run_id, expected)


def read_config(settings: ReportSettings, key: str, *, s3: S3Client | None = None) -> str:
    """A small configuration file (rules, layer map) from the volume, as text."""
    with open_stream(settings.access_point, key, s3=s3) as stream:
        if stream.size > MAX_CONFIG_BYTES:
            raise InvalidInputError(key, f"a configuration file is at most {MAX_CONFIG_BYTES} bytes")
        data = stream.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputError(key, f"not UTF-8 text: {error}") from error


def load_rules(settings: ReportSettings, *, s3: S3Client | None = None) -> Rules:
    """The rules document (parameter, or file on the volume) with the explicit settings applied."""
    document: str | Mapping[str, Any] = settings.rules
    if settings.rules_key:
        text = read_config(settings, settings.rules_key, s3=s3)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(settings.rules_key, f"rules file is not JSON: {error}") from error
    rules = Rules.from_document(document)
    allowed: Any = None
    if settings.layer_map_key:
        text = read_config(settings, settings.layer_map_key, s3=s3)
        allowed = [spec_text(spec) for spec in parse_layer_map(text, source=settings.layer_map_key)]
    elif settings.allowed_layers:
        allowed = settings.allowed_layers
    return rules.with_settings(
        {
            ("layer_map", "allowed"): allowed,
            ("unreferenced_cells", "top_cell_pattern"): settings.top_cell_pattern or None,
            ("die_size", "max_width_um"): settings.die_max_width_um,
            ("die_size", "max_height_um"): settings.die_max_height_um,
        }
    )


def _once(name: str, write: Callable[[], Any]) -> None:
    try:
        write()
    except OutputExistsError:
        logger.warning("output already written by an earlier attempt; kept", output=name)


def review_and_report(
    settings: ReportSettings,
    request: ReportRequest,
    *,
    s3: S3Client | None = None,
    bedrock: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Write the run's catalogue, findings and reports; return counts and where they are.

    ``bedrock`` makes the Bedrock runtime client, called only when a narrative is configured.
    """
    output, run_id = settings.output, request.run_id
    rules = load_rules(settings, s3=s3)
    review = Review(rules)
    summary = RunSummary(run_id, expected_files=request.expected_files)

    def records() -> Any:
        for record in iter_results(output, run_id, s3=s3):
            review.add(record)
            summary.add(record)
            yield record

    stream = records()
    _once(METADATA, lambda: write_jsonl(output, run_id, METADATA, stream, s3=s3))
    for _ in stream:  # the catalogue was already written: the review still needs every record
        pass
    findings = review.findings()
    _once(FINDINGS, lambda: write_jsonl(output, run_id, FINDINGS, findings, s3=s3))
    document = summary.to_dict(summarize(findings)) | {"rules": rules.to_dict()}
    outputs = {
        name: output.run_key(run_id, name) for name in (METADATA, FINDINGS, SUMMARY, REPORT_MD, REPORT_HTML)
    }
    if settings.narrative_model_id and bedrock is not None:
        text, status = write_narrative(bedrock(), settings.narrative_model_id, document, findings)
        document["narrative"] = status
        if text is not None:
            _once(
                NARRATIVE,
                lambda: write_text(output, run_id, NARRATIVE, text + "\n", content_type=_MARKDOWN, s3=s3),
            )
            outputs[NARRATIVE] = output.run_key(run_id, NARRATIVE)
    _once(SUMMARY, lambda: write_json(output, run_id, SUMMARY, document, s3=s3))
    markdown, html = render_markdown(document, findings), render_html(document, findings)
    _once(REPORT_MD, lambda: write_text(output, run_id, REPORT_MD, markdown, content_type=_MARKDOWN, s3=s3))
    _once(REPORT_HTML, lambda: write_text(output, run_id, REPORT_HTML, html, content_type=_HTML, s3=s3))
    files = document["files"]
    return {
        "run_id": run_id,
        "bucket": output.bucket,
        "files": files["catalogued"],
        "valid": files["valid"],
        "invalid": files["invalid"],
        "missing": files["missing"],
        "findings": document["findings"]["by_severity"],
        "outputs": outputs,
    }
