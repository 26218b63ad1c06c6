"""The optional Bedrock narrative: a short plain-language reading of a run's deterministic summary.

Only when the stack enables it (``EnableBedrockNarrative``), and always in addition to the
deterministic report, never instead of it. The model sees the counts, the rules that fired and
the top offenders — not file contents, not the ACL evidence — and its answer is stored as
``narrative.md`` with a header saying it was generated. A failure of the model never fails the
audit: the report step records it and goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import boto3

from legal_compliance.report import AuditReport

Narrator = Callable[[str], str]
MAX_TOKENS: Final = 700


def prompt(report: AuditReport, summary: Mapping[str, Any]) -> str:
    facts = {
        "volume": summary.get("volume"),
        "svm": summary.get("svm"),
        "scope": summary.get("scope"),
        "files_audited": summary.get("files"),
        "folders_audited": summary.get("folders"),
        "unreadable": summary.get("unreadable"),
        "findings_by_severity": summary.get("by_severity"),
        "rules": [
            {"id": rule_id, "title": report.rules.rule(rule_id).title, "findings": count}
            for rule_id, count in report.by_rule()
        ],
        "top_principals": report.top_principals()[:5],
        "top_paths": report.top_paths()[:5],
    }
    return (
        "You are helping a legal operations team read a file-permission audit of a document volume. "
        "Write at most 200 words in plain English for a non-technical reader: what is most urgent, "
        "why it matters for privileged documents, and what to do first. Use only the facts below; "
        "do not invent numbers, names or paths.\n\n" + json.dumps(facts, ensure_ascii=False, indent=1)
    )


class BedrockNarrator:
    """Calls the Bedrock Converse API of ``model_id``; the client is created on first use."""

    def __init__(self, model_id: str, *, client: Any = None) -> None:
        self.model_id = model_id
        self._client = client

    def __call__(self, text: str) -> str:
        if self._client is None:
            self._client = boto3.client("bedrock-runtime")
        response = self._client.converse(
            modelId=self.model_id,
            messages=[{"role": "user", "content": [{"text": text}]}],
            inferenceConfig={"maxTokens": MAX_TOKENS, "temperature": 0.0},
        )
        parts = response["output"]["message"]["content"]
        return "".join(part.get("text", "") for part in parts).strip()
