"""Optional Bedrock narrative of a run: a short prose summary for the tape-out review meeting.

Only enabled when the template's ``EnableNarrative`` condition sets ``NARRATIVE_MODEL_ID``. The
model sees the run summary and at most :data:`MAX_FINDINGS` findings (keys, cell names, counts),
never layout contents. A narrative is a convenience: when Bedrock refuses or fails, the run still
succeeds and its summary records why there is no narrative.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from shared.observability import logger

MAX_FINDINGS: Final = 50
MAX_TOKENS: Final = 800
_INSTRUCTION: Final = (
    "You are a physical-design lead preparing a tape-out review. From the JSON summary of a layout "
    "catalogue run and its design-review findings, write a short report (at most 250 words, Markdown): "
    "what was checked, whether anything blocks tape-out (errors) and what to look at first. Quote file "
    "keys and cell names exactly. Do not invent facts that are not in the data."
)


def narrative_prompt(summary: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> str:
    shown = [
        {k: finding[k] for k in ("severity", "rule", "key", "cell", "message") if k in finding}
        for finding in findings[:MAX_FINDINGS]
    ]
    data = {"summary": summary, "findings_shown": shown, "findings_total": len(findings)}
    return f"{_INSTRUCTION}\n\n```json\n{json.dumps(data, indent=1, default=str)}\n```"


def write_narrative(
    client: Any, model_id: str, summary: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]
) -> tuple[str | None, dict[str, Any]]:
    """(narrative text or None, status) from Bedrock's Converse API."""
    try:
        response = client.converse(
            modelId=model_id,
            messages=[{"role": "user", "content": [{"text": narrative_prompt(summary, findings)}]}],
            inferenceConfig={"maxTokens": MAX_TOKENS, "temperature": 0.2},
        )
        blocks = response["output"]["message"]["content"]
        text = "\n".join(block["text"] for block in blocks if "text" in block).strip()
    except (ClientError, BotoCoreError, KeyError, TypeError) as error:
        code = (
            getattr(error, "response", {}).get("Error", {}).get("Code")
            if isinstance(error, ClientError)
            else None
        )
        logger.warning(
            "no narrative: Bedrock call failed", model_id=model_id, error=type(error).__name__, code=code
        )
        return None, {"status": "failed", "model_id": model_id, "error": code or type(error).__name__}
    usage = response.get("usage", {})
    return text or None, {"status": "written" if text else "empty", "model_id": model_id, "usage": usage}
