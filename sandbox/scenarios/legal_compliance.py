"""legal-compliance in the sandbox: a volume of matter files behind an S3 Access Point."""

from __future__ import annotations

import random
from contextlib import ExitStack
from typing import Any

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.runner import ExecutionResult
from sandbox.scenarios import RunOptions, RunPlan, access_point_parameters

_CLIENTS = ("Acme Holdings", "Kaisha 株式会社", "Müller & Söhne", "O'Neil #2", "100% Fund")
_DOCUMENTS = (
    "engagement letter.docx",
    "契約書.pdf",
    "memo.docx",
    "billing 2026.xlsx",
    "privileged notes.txt",
)


class LegalComplianceScenario:
    use_case = "legal-compliance"
    names = ("baseline",)

    def prepare(self, world: SandboxWorld, resources: ExitStack, options: RunOptions) -> RunPlan:
        parameters = access_point_parameters(world, "legal-matters")
        rng = random.Random(options.seed)
        s3 = world.client("s3")
        for index in range(options.files):
            client, document = rng.choice(_CLIENTS), rng.choice(_DOCUMENTS)
            key = f"Matters/{2020 + index % 7}/{client}/{index:05d} {document}"
            s3.put_object(
                Bucket=parameters["AccessPointAlias"], Key=key, Body=rng.randbytes(rng.randint(16, 512))
            )
        return RunPlan(parameters=parameters, input={}, files=options.files)

    def summarize(self, stack: UseCaseStack, result: ExecutionResult) -> dict[str, Any]:
        discovery = result.state_output("Discover Files") if result.succeeded else {}
        return {"files discovered": discovery.get("discovery", {}).get("count", 0)}


SCENARIO = LegalComplianceScenario()
