"""The run's evidence: findings as JSON Lines and CSV, and a human report in Markdown and HTML.

:func:`build_report` gathers, once, everything a run found: the per-file records the batches
wrote (``shared.batch.iter_results``), the share and export findings stored with the context,
and — so that nothing is silently skipped — an ``unreadable`` finding for every file a batch
could not record (an error record) and for every manifest entry no batch recorded at all (a
batch that failed after its retries). The renderers below are pure functions of that report, so
the same run always renders the same bytes (timestamps come from the execution's start time).

Outputs, under ``runs/<run_id>/``:

* ``findings/run_date=<YYYY-MM-DD>/findings.jsonl`` — one finding per line; its own folder so that
  the optional Athena table (partition projection on ``run_id`` and ``run_date``) reads exactly
  one run and nothing else;
* ``findings.csv`` — the same rows for spreadsheets (cells that a spreadsheet would run as a
  formula are prefixed with ``'``);
* ``report.md`` and ``report.html`` — counts by severity and by rule, top offenders, the findings
  table (first ``table_rows``), and each triggered rule's rationale and remediation; the HTML is
  one self-contained page (inline CSS, no script, no external resource), every value escaped;
* ``summary.json`` — the counts and the output keys (what the notification says).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from legal_compliance.findings import FILE, FOLDER, unreadable
from legal_compliance.ontap_context import OntapContext
from legal_compliance.rules import SEVERITIES, RuleSet

SEVERITY_ORDER: Final = tuple(reversed(SEVERITIES))  # critical first
CSV_COLUMNS: Final = (
    "run_id",
    "finding_id",
    "severity",
    "rule",
    "title",
    "target_type",
    "path",
    "share",
    "export_policy",
    "rule_index",
    "principal",
    "rights",
    "evidence",
    "remediation",
)
TOP: Final = 10
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class AuditReport:
    run_id: str
    started_at: str
    trigger: str
    scope: str
    context: Mapping[str, Any]
    rules: RuleSet
    findings: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    folders: int = 0
    unreadable: int = 0
    not_audited: int = 0

    @property
    def run_date(self) -> str:
        return _started(self.started_at).date().isoformat()

    def by_severity(self) -> dict[str, int]:
        counts = Counter(finding["severity"] for finding in self.findings)
        return {severity: counts.get(severity, 0) for severity in SEVERITY_ORDER}

    def by_rule(self) -> list[tuple[str, int]]:
        counts = Counter(finding["rule"] for finding in self.findings)
        order = {rule.id: index for index, rule in enumerate(self.rules.catalogue)}
        return sorted(counts.items(), key=lambda item: (-item[1], order.get(item[0], 99)))

    def top_principals(self) -> list[tuple[str, int]]:
        counts = Counter(
            f["principal"] for f in self.findings if f.get("principal") and f["target_type"] != "export_rule"
        )
        return counts.most_common(TOP)

    def top_paths(self) -> list[tuple[str, int]]:
        counts = Counter(f["path"] for f in self.findings if f.get("path"))
        return counts.most_common(TOP)

    def summary(self, outputs: Mapping[str, str]) -> dict[str, Any]:
        severities = self.by_severity()
        return {
            "run_id": self.run_id,
            "run_date": self.run_date,
            "trigger": self.trigger,
            "scope": self.scope,
            "volume": self.context.get("volume", {}).get("name"),
            "svm": self.context.get("svm", {}).get("name"),
            "files": self.files,
            "folders": self.folders,
            "unreadable": self.unreadable,
            "not_audited": self.not_audited,
            "findings": len(self.findings),
            "by_severity": severities,
            "by_rule": dict(self.by_rule()),
            "critical": severities["critical"],
            "outputs": dict(outputs),
        }


def _started(started_at: str) -> datetime:
    try:
        moment = datetime.fromisoformat(started_at)
    except ValueError:
        moment = datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sort_key(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        SEVERITY_ORDER.index(finding["severity"]),
        finding["rule"],
        finding.get("path") or "",
        finding.get("share") or "",
        finding.get("export_policy") or "",
        finding.get("rule_index") or 0,
        finding.get("principal") or "",
    )


def build_report(
    records: Iterable[Mapping[str, Any]],
    context_document: Mapping[str, Any],
    *,
    run_id: str,
    started_at: str,
    discovery: Mapping[str, Any],
    rules: RuleSet,
    manifest_keys: Callable[[], Iterable[str]],
) -> AuditReport:
    """Every finding of the run, each exactly once, sorted by severity."""
    context = OntapContext.from_dict(context_document)
    report = AuditReport(
        run_id=run_id,
        started_at=started_at,
        trigger=str(discovery.get("trigger", "on_demand")),
        scope=str(discovery.get("scope", context_document.get("scope", "full"))),
        context=context_document,
        rules=rules,
    )
    seen: set[str] = set()
    for record in records:
        key = str(record.get("key"))
        seen.add(key)
        object_type = FOLDER if key.endswith("/") else FILE
        report.folders += object_type == FOLDER
        report.files += object_type == FILE
        if record.get("status") == "error":
            reason = {
                name: record[name]
                for name in ("error", "message", "error_status", "code", "offset")
                if record.get(name) is not None
            }
            finding = unreadable(
                rules, key=key, path=_safe_path(context, key), object_type=object_type, reason=reason
            )
            report.findings.append(finding.to_dict())
            report.unreadable += 1
            continue
        if record.get("readable") is False:
            report.unreadable += 1
        report.findings.extend(record.get("findings", ()))
    expected = int(discovery.get("count", len(seen)))
    if len(seen) < expected:
        for key in manifest_keys():
            if key in seen:
                continue
            seen.add(key)
            object_type = FOLDER if key.endswith("/") else FILE
            reason = {
                "error": "NotAudited",
                "message": "the batch holding this path failed after its retries",
            }
            finding = unreadable(
                rules, key=key, path=_safe_path(context, key), object_type=object_type, reason=reason
            )
            report.findings.append(finding.to_dict())
            report.not_audited += 1
    report.findings.extend(context_document.get("findings", ()))
    stamp = {"run_id": run_id, "run_date": report.run_date, "detected_at": started_at}
    report.findings = [{**stamp, **finding} for finding in sorted(report.findings, key=_sort_key)]
    return report


def _safe_path(context: OntapContext, key: str) -> str | None:
    try:
        return context.path_for(key)
    except (TypeError, ValueError):
        return None


# --- renderers ------------------------------------------------------------------------------------


def csv_text(report: AuditReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for finding in report.findings:
        row = []
        for column in CSV_COLUMNS:
            value = finding.get(column)
            if column == "evidence":
                value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            row.append(_cell(value))
        writer.writerow(row)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A file may be named "=HYPERLINK(...)": never let a spreadsheet evaluate evidence.
    return "'" + text if text.startswith(_FORMULA_START) else text


_MD_SPECIAL: Final = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _md(value: Any) -> str:
    text = "" if value is None else str(value)
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\r", " ").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _target(finding: Mapping[str, Any]) -> str:
    if finding["target_type"] == "share":
        return f"share {finding.get('share')} ({finding.get('path')})"
    if finding["target_type"] == "export_rule":
        return f"export policy {finding.get('export_policy')} rule {finding.get('rule_index')}"
    return str(finding.get("path") or finding.get("key"))


def markdown(report: AuditReport, *, table_rows: int = 1000) -> str:
    volume, svm = report.context.get("volume", {}), report.context.get("svm", {})
    severities = report.by_severity()
    lines = [
        f"# Permission audit — {_md(volume.get('name'))} ({_md(svm.get('name'))})",
        "",
        f"Run `{report.run_id}` started {_md(report.started_at)} ({report.trigger}, {report.scope} audit). "
        f"Volume junction {_md(volume.get('junction_path'))}, "
        f"security style {_md(volume.get('security_style'))}.",
        "",
        f"**{len(report.findings)} findings**: "
        + ", ".join(f"{count} {severity}" for severity, count in severities.items())
        + f". Audited {report.files} files and {report.folders} folders; {report.unreadable} unreadable, "
        f"{report.not_audited} not audited.",
        "",
        "## Findings by severity",
        "",
        *_md_table(("severity", "findings"), severities.items()),
        "",
        "## Findings by rule",
        "",
        *_md_table(
            ("rule", "title", "severity", "findings"),
            (
                (rule_id, report.rules.rule(rule_id).title, report.rules.rule(rule_id).severity, count)
                for rule_id, count in report.by_rule()
            ),
        ),
        "",
        "## Top offenders",
        "",
        *_md_table(("principal", "findings"), report.top_principals()),
        "",
        *_md_table(("path", "findings"), report.top_paths()),
        "",
        f"## Findings (first {min(table_rows, len(report.findings))} of {len(report.findings)})",
        "",
        *_md_table(
            ("severity", "rule", "target", "principal", "rights"),
            (
                (f["severity"], f["rule"], _target(f), f.get("principal"), f.get("rights"))
                for f in report.findings[:table_rows]
            ),
        ),
        "",
        "## Rules that fired",
        "",
    ]
    for rule_id, _ in report.by_rule():
        rule = report.rules.rule(rule_id)
        lines += [
            f"### {_md(rule.id)} — {_md(rule.title)} ({rule.severity})",
            "",
            f"*Why*: {_md(rule.rationale)}",
            "",
            f"*Fix*: {_md(rule.remediation)}",
            "",
        ]
    lines += ["The complete list is in findings.csv and in the findings JSON Lines of this run.", ""]
    return "\n".join(lines)


_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1f2328;max-width:80rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;width:6rem}
.sev{display:inline-block;padding:.1rem .5rem;border-radius:.7rem;color:#fff;font-weight:600}
.critical{background:#a40e26}.high{background:#d1242f}.medium{background:#bf8700}.low{background:#57606a}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #d0d7de;border-radius:.5rem;padding:.6rem 1rem}
.card b{font-size:1.4rem;display:block}code{word-break:break-all}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for name in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(severity: str) -> str:
    return f'<span class="sev {_e(severity)}">{_e(severity)}</span>'


def html_page(report: AuditReport, *, table_rows: int = 1000) -> str:
    volume, svm = report.context.get("volume", {}), report.context.get("svm", {})
    severities = report.by_severity()
    cards = "".join(
        f'<div class="card">{_badge(severity)}<b>{count}</b></div>' for severity, count in severities.items()
    )
    stats = "".join(
        f'<div class="card">{_e(label)}<b>{value}</b></div>'
        for label, value in (
            ("files audited", report.files),
            ("folders audited", report.folders),
            ("unreadable", report.unreadable),
            ("not audited", report.not_audited),
        )
    )
    by_rule = _html_table(
        ("rule", "title", "severity", "findings"),
        (
            (
                f"<code>{_e(rule_id)}</code>",
                _e(report.rules.rule(rule_id).title),
                _badge(report.rules.rule(rule_id).severity),
                str(count),
            )
            for rule_id, count in report.by_rule()
        ),
        numeric=(3,),
    )
    principals = _html_table(
        ("principal", "findings"),
        ((f"<code>{_e(p)}</code>", str(n)) for p, n in report.top_principals()),
        (1,),
    )
    paths = _html_table(
        ("path", "findings"), ((f"<code>{_e(p)}</code>", str(n)) for p, n in report.top_paths()), (1,)
    )
    shown = report.findings[:table_rows]
    findings = _html_table(
        ("severity", "rule", "target", "principal", "rights", "remediation"),
        (
            (
                _badge(f["severity"]),
                f"<code>{_e(f['rule'])}</code>",
                f"<code>{_e(_target(f))}</code>",
                f"<code>{_e(f.get('principal'))}</code>" if f.get("principal") else "",
                _e(f.get("rights")),
                _e(f.get("remediation")),
            )
            for f in shown
        ),
    )
    reference = "".join(
        f"<h3><code>{_e(rule.id)}</code> {_e(rule.title)} {_badge(rule.severity)}</h3>"
        f"<p><b>Why.</b> {_e(rule.rationale)}</p><p><b>Fix.</b> {_e(rule.remediation)}</p>"
        for rule in (report.rules.rule(rule_id) for rule_id, _ in report.by_rule())
    )
    title = f"Permission audit — {volume.get('name')} ({svm.get('name')})"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f"<p>Run <code>{_e(report.run_id)}</code> started {_e(report.started_at)} "
        f"({_e(report.trigger)}, {_e(report.scope)} audit). "
        f"Junction <code>{_e(volume.get('junction_path'))}</code>, "
        f"security style {_e(volume.get('security_style'))}, export policies judged at "
        f"{_e(report.context.get('export_policy_scope'))} scope.</p>"
        f"<h2>{len(report.findings)} findings</h2><div class=cards>{cards}</div>"
        f"<h2>Coverage</h2><div class=cards>{stats}</div>"
        f"<h2>Findings by rule</h2>{by_rule}"
        f"<h2>Top offenders</h2>{principals}{paths}"
        f"<h2>Findings (first {len(shown)} of {len(report.findings)})</h2>{findings}"
        f"<h2>Rules that fired</h2>{reference}"
        "<p>The complete list is in findings.csv and in the findings JSON Lines of this run.</p>"
        "</body></html>\n"
    )


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii").replace("\n", " ")


def notification(summary: Mapping[str, Any], bucket: str) -> tuple[str, str]:
    """SNS subject (ASCII, at most 100 characters) and message text."""
    counts = summary["by_severity"]
    subject = _ascii(
        f"[legal-compliance] {summary['findings']} findings ({counts['critical']} critical) "
        f"on {summary.get('volume')}"
    )[:100]
    lines = [
        f"Permission audit {summary['run_id']} ({summary['trigger']}, {summary['scope']} audit) "
        f"of volume {summary.get('volume')} on {summary.get('svm')}:",
        "",
        f"{summary['findings']} findings: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
        f"Audited {summary['files']} files and {summary['folders']} folders; "
        f"{summary['unreadable']} unreadable, {summary['not_audited']} not audited.",
    ]
    if summary["by_rule"]:
        lines += ["", "By rule:"] + [f"  {rule}: {count}" for rule, count in summary["by_rule"].items()]
    lines += ["", "Evidence:"] + [
        f"  {name}: s3://{bucket}/{key}" for name, key in summary["outputs"].items()
    ]
    return subject, "\n".join(lines)
