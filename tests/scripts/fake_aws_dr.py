#!/usr/bin/env python3
"""A fake `aws` CLI for the DR scripts: DynamoDB (global tables), Route 53, CloudWatch, SageMaker, Lambda.

Only the calls and ``--query`` expressions the scripts in scripts/dr-*.sh make are understood; any
other call fails loudly, so a script that starts calling something new fails its tests. State is
the JSON file named by FAKE_AWS_STATE; every call is appended to FAKE_AWS_CALLS (one line of
arguments each), so tests assert the exact commands a script ran.

State shape::

    {"tables": {"<name>": {"regions": ["r1", "r2"], "key": "key", "replicate": true,
                           "status": {"r1": "ACTIVE"}, "items": {"r1": {"<key>": item}}}},
     "health_checks": {"<id>": {"inverted": false, "observations": ["Success: ...", ...]}},
     "metrics": {"<health check id>": 1.0 | 0.0 | null},
     "jobs": {"<region>/<job name>": {<DescribeTransformJob output>}},
     "lambda": {"<region>/<function>": {<response payload>}}, "invocations": [...]}

A write to a table with ``replicate`` true reaches every region's replica at once (a global table
whose replication is instant); ``replicate`` false models a stalled replication.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

NOT_FOUND = 254


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def fail(message: str, code: int = NOT_FOUND) -> int:
    print(f"An error occurred ({message})", file=sys.stderr)
    return code


def text(value: Any) -> str:
    return "None" if value is None else str(value)


def main(argv: list[str]) -> int:
    with Path(os.environ["FAKE_AWS_CALLS"]).open("a", encoding="utf-8") as calls:
        calls.write(" ".join(argv) + "\n")
    state_file = Path(os.environ["FAKE_AWS_STATE"])
    state: dict[str, Any] = json.loads(state_file.read_text(encoding="utf-8"))
    region = option(argv, "--region")
    args = [a for i, a in enumerate(argv) if not (a == "--region" or (i and argv[i - 1] == "--region"))]
    service, command, rest = args[0], args[1], args[2:]
    query = option(rest, "--query")
    out: Any = None

    if service == "dynamodb":
        table = state["tables"].get(option(rest, "--table-name") or "")
        if table is None or region not in table["regions"]:
            return fail("ResourceNotFoundException) when calling the operation: Requested resource not found")
        items: dict[str, Any] = table["items"].setdefault(region, {})
        targets = table["regions"] if table.get("replicate", True) else [region]
        if command == "put-item":
            item = json.loads(option(rest, "--item") or "{}")
            for target in targets:
                table["items"].setdefault(target, {})[item[table["key"]]["S"]] = item
        elif command == "delete-item":
            key = json.loads(option(rest, "--key") or "{}")[table["key"]]["S"]
            for target in targets:
                table["items"].setdefault(target, {}).pop(key, None)
        elif command == "get-item":
            key = json.loads(option(rest, "--key") or "{}")[table["key"]]["S"]
            assert "--consistent-read" in rest
            assert query == "Item.active_region.S", query
            out = text(items.get(key, {}).get("active_region", {}).get("S"))
        elif command == "describe-table":
            assert query == "Table.TableStatus", query
            out = table["status"].get(region, "ACTIVE")
        elif command == "scan":
            started = [item for item in items.values() if item.get("status", {}).get("S") == "STARTED"]
            if query == "Count":
                out = len(started)
            else:
                assert query == "Items[].[job_name.S, execution_region.S]", query
                out = "\n".join(f"{i['job_name']['S']}\t{i['execution_region']['S']}" for i in started)
        else:
            return fail(f"unsupported dynamodb {command}", 2)
    elif service == "route53":
        check = state["health_checks"].get(option(rest, "--health-check-id") or "")
        if check is None:
            return fail("NoSuchHealthCheck) when calling the operation: no such health check")
        if command == "get-health-check-status":
            assert query == "HealthCheckObservations[].StatusReport.Status", query
            out = "\t".join(check["observations"])
        elif command == "get-health-check":
            assert query == "HealthCheck.HealthCheckConfig.Inverted", query
            out = "True" if check["inverted"] else "False"
        elif command == "update-health-check":
            check["inverted"] = "--inverted" in rest
            out = "True" if check["inverted"] else "False"
        else:
            return fail(f"unsupported route53 {command}", 2)
    elif (service, command) == ("cloudwatch", "get-metric-statistics"):
        assert region == "us-east-1" and option(rest, "--namespace") == "AWS/Route53"
        assert (
            option(rest, "--metric-name") == "HealthCheckStatus" and option(rest, "--statistics") == "Minimum"
        )
        health_check = (option(rest, "--dimensions") or "").removeprefix("Name=HealthCheckId,Value=")
        out = text(state["metrics"].get(health_check))
    elif (service, command) == ("sagemaker", "describe-transform-job"):
        job = state["jobs"].get(f"{region}/{option(rest, '--transform-job-name')}")
        if job is None:
            return fail("ValidationException) when calling the operation: Could not find job")
        out = job["TransformJobStatus"] if query == "TransformJobStatus" else json.dumps(job, indent=2)
    elif (service, command) == ("lambda", "invoke"):
        function = option(rest, "--function-name")
        assert option(rest, "--cli-binary-format") == "raw-in-base64-out"
        payload = json.loads(option(rest, "--payload") or "null")
        state.setdefault("invocations", []).append(
            {"region": region, "function": function, "payload": payload}
        )
        response = state["lambda"].get(f"{region}/{function}")
        if response is None:
            return fail("ResourceNotFoundException) when calling the Invoke operation: Function not found")
        Path(rest[-1]).write_text(json.dumps(response), encoding="utf-8")
        out = json.dumps({"StatusCode": 200})
    else:
        return fail(f"fake aws: unsupported call {argv}", 2)

    state_file.write_text(json.dumps(state), encoding="utf-8")
    if out is not None:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
