"""semiconductor-eda in the sandbox: a tape-out volume of GDSII and OASIS layouts, some damaged."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.datasets import layouts, upload_files
from sandbox.runner import ExecutionResult
from sandbox.scenarios import RunOptions, RunPlan, access_point_parameters


class SemiconductorEdaScenario:
    use_case = "semiconductor-eda"
    names = ("baseline",)

    def prepare(self, world: SandboxWorld, resources: ExitStack, options: RunOptions) -> RunPlan:
        parameters = access_point_parameters(world, "eda-tapeout")
        alias = parameters["AccessPointAlias"]
        s3 = world.client("s3")
        # The layouts the event files name (events/semiconductor-eda/*.json) …
        named = {
            "tapeout/soc_a/soc_a_top.gds": layouts.gdsii_file(11, cells=8, shapes_per_cell=12).data,
            "tapeout/soc_a/soc_a_top.oas": layouts.oasis_file(11, cells=8, shapes_per_cell=12).data,
            "tapeout/soc_a/io_ring.gds": layouts.truncated_layout(
                layouts.gdsii_file(12, cells=5, shapes_per_cell=8), 12
            ).data,
        }
        for key, data in named.items():
            s3.put_object(Bucket=alias, Key=key, Body=data)
        # … and one seeded library per few requested files, in every flavour and damaged.
        dataset = []
        for seed in range(options.seed, options.seed + max(1, options.files // 12)):
            dataset += layouts.layout_dataset(seed, cells=6, shapes_per_cell=10, prefix=f"tapeout/lib{seed}")
        upload_files(s3, alias, dataset)
        return RunPlan(parameters=parameters, input={}, files=len(named) + len(dataset))

    def summarize(self, stack: UseCaseStack, result: ExecutionResult) -> dict[str, Any]:
        output = result.output if result.succeeded and isinstance(result.output, dict) else {}
        report = output.get("report", {})
        findings = report.get("findings", {})
        return {
            "layouts catalogued": report.get("valid", 0),
            "INVALID (truncated/corrupt)": report.get("invalid", 0),
            "findings": ", ".join(f"{severity} {count}" for severity, count in findings.items()),
        }


SCENARIO = SemiconductorEdaScenario()
