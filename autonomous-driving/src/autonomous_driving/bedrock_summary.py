"""Optional: a short narrative of the QC report written by a Bedrock model (``EnableBedrockSummary``).

One Converse call with the report's JSON (already bounded: aggregates and a failure sample) and a
fixed instruction. Bedrock being unavailable, throttled or refusing never fails a run: the report
records the summary as unavailable and the reason goes to the log.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.observability import logger
from shared.snapstart import after_restore

MAX_TOKENS: Final = 600
INSTRUCTION: Final = (
    "You are a perception data engineer. Summarise this quality-control report of one drive-log run "
    "for the team in at most 8 Markdown bullet points: overall verdict, what failed and why, anything "
    "unusual in the sensors' data, and whether the inference step ran. Use only facts from the report."
)


@functools.cache
def default_bedrock_client() -> Any:
    return boto3.client("bedrock-runtime", config=Config(retries={"mode": "standard", "max_attempts": 3}))


after_restore(default_bedrock_client.cache_clear)


class BedrockSummarizer:
    def __init__(self, model_id: str, *, client: Any | None = None) -> None:
        self.model_id = model_id
        self._client = client

    def __call__(self, report: Mapping[str, Any]) -> str | None:
        client = self._client if self._client is not None else default_bedrock_client()
        try:
            response = client.converse(
                modelId=self.model_id,
                messages=[{"role": "user", "content": [{"text": INSTRUCTION + "\n\n" + json.dumps(report)}]}],
                inferenceConfig={"maxTokens": MAX_TOKENS, "temperature": 0.2},
            )
            parts = response["output"]["message"]["content"]
            text = "".join(part.get("text", "") for part in parts).strip()
        except (ClientError, BotoCoreError, KeyError, TypeError) as error:
            logger.warning("Bedrock summary unavailable", model_id=self.model_id, error=str(error))
            return None
        return f"# Summary of run {report.get('run_id')}\n\n{text}\n" if text else None
