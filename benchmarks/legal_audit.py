"""legal-compliance at scale in the sandbox: files/s, state size and ONTAP connections of one audit.

One full audit of a seeded ACL tree (``sandbox.datasets.acl_tree``) of ``--files`` files behind the
access point and in the ONTAP REST simulator (TLS, keep-alive), run through the deployed state
machine with the real handlers. Recorded: files and objects (files + folders) per second, the
largest Step Functions state payload (the budget is 16 KiB whatever the number of files), the
file-security GETs and the TCP connections that carried them, and whether the findings are
exactly the planted violations.

In the sandbox every handler runs in one process, one at a time, so the figure is a lower bound of
a deployment where ``MaxConcurrency`` batches run side by side.

    python -m benchmarks.legal_audit [--files 10000] [--batch-size 100] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from contextlib import ExitStack, redirect_stdout
from pathlib import Path
from typing import Any

from benchmarks._common import REPO_ROOT, write_result
from sandbox.aws import SandboxWorld
from sandbox.scenarios import RunOptions
from sandbox.scenarios.legal_compliance import prepare_audit

STATE_BUDGET_BYTES = 16 * 1024


def _findings(world: SandboxWorld, bucket: str, run_id: str) -> list[dict[str, Any]]:
    s3 = world.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/findings/")["Contents"]
    body = s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines()]


def _target(finding: dict[str, Any]) -> str:
    if finding["target_type"] == "share":
        return f"share:{finding['share']}"
    if finding["target_type"] == "export_rule":
        return f"export-policy:{finding['export_policy']}/rule:{finding['rule_index']}"
    return str(finding["path"])


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000, help="files in the audited volume")
    parser.add_argument("--batch-size", type=int, default=100, help="files and folders per Map item")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    run_id = "benchmark-legal-audit"
    with (
        Path(os.devnull).open("w", encoding="utf-8") as logs,
        redirect_stdout(logs),
        SandboxWorld() as world,
        ExitStack() as resources,
    ):
        started = time.monotonic()
        setup = prepare_audit(
            world,
            resources,
            RunOptions(files=args.files, seed=args.seed),
            parameters={"BatchSize": args.batch_size},
        )
        stack = world.deploy("legal-compliance", parameters=setup.plan.parameters)
        prepared = time.monotonic() - started
        result = stack.run(setup.plan.input, name=run_id, timeout_s=max(600.0, args.files * 0.25))
        found = _findings(world, stack.ref("OutputBucket"), run_id) if result.succeeded else []
        calls = setup.file_security_requests()
    output = result.output or {}
    per_connection = Counter(call.connection_id for call in calls)
    planted = Counter((v.kind, v.target) for v in setup.tree.violations)
    measured = {
        "status": result.status,
        "files": output.get("files", 0),
        "objects_audited": output.get("audited", 0),
        "batches": len(result.map_runs) and result.map_runs[0]["itemCounts"]["total"],
        "execution_seconds": round(result.duration_s, 2),
        "setup_seconds": round(prepared, 2),
        "files_per_second": round(output.get("files", 0) / result.duration_s, 1)
        if result.duration_s
        else 0.0,
        "objects_per_second": round(output.get("audited", 0) / result.duration_s, 1)
        if result.duration_s
        else 0.0,
        "largest_state_payload_bytes": result.largest_payload_bytes(),
        "state_payload_budget_bytes": STATE_BUDGET_BYTES,
        "state_within_budget": result.largest_payload_bytes() < STATE_BUDGET_BYTES,
        "ontap_file_security_requests": len(calls),
        "ontap_connections": len(per_connection),
        "ontap_requests_per_connection": sorted(per_connection.values(), reverse=True),
        "ms_per_ontap_request": round(result.duration_s * 1000 / len(calls), 2) if calls else None,
        "findings": len(found),
        "findings_exactly_the_planted_violations": Counter((f["rule"], _target(f)) for f in found) == planted,
    }
    path = write_result("legal_audit", {"parameters": vars(args), "result": measured})
    m = measured
    print(
        f"legal audit: {m['status']} {m['files']} files ({m['objects_audited']} objects, {m['batches']} "
        f"batches) in {m['execution_seconds']} s = {m['files_per_second']} files/s; largest state "
        f"{m['largest_state_payload_bytes']} B; {m['ontap_file_security_requests']} file-security GETs on "
        f"{m['ontap_connections']} connection(s); "
        f"exact findings: {m['findings_exactly_the_planted_violations']}"
    )
    print(f"-> {path.relative_to(REPO_ROOT)}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
