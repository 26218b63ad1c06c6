"""``python -m sandbox``: the use cases' real state machines, offline.

    python -m sandbox run <use-case> [--files N] [--seed S] [--scenario NAME]
    python -m sandbox demo [--files N] [--seed S]
    python -m sandbox invoke <use-case> <event-file> ... [--function LOGICAL_ID]
    python -m sandbox serve [<use-case> ...] [--port P] [--host H] [--env-dir DIR]

``run`` builds a moto world from the use case's template.yaml, prepares its scenario's data,
executes the deployed ASL with the real handlers in process, and prints the execution state by
state, the outputs written and a summary; it exits non-zero when the execution did not succeed.
``demo`` runs every use case with its default scenario and prints one table. ``invoke`` runs one
function with one event file (``events/<use-case>/<function>[-<scenario>].json``), as
``sam local invoke`` would, in a world prepared like ``run``'s. ``serve`` keeps a
world up behind moto's HTTP server and the ONTAP REST simulator, for ``sam local invoke``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from sandbox.aws import REPO_ROOT, SandboxWorld, UseCaseStack
from sandbox.runner import HistoryEvent
from sandbox.scenarios import RunOptions, RunPlan, scenario_for, use_cases

SUCCEEDED = "SUCCEEDED"
LOGS_DIR = REPO_ROOT / "sandbox" / "out" / "logs"


@dataclass
class RunReport:
    """One use case's sandbox run, as printed and as returned to callers (demo, benchmarks)."""

    use_case: str
    scenario: str
    status: str
    files: int
    seconds: float
    outputs: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None
    timeline: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0


def run_use_case(use_case: str, options: RunOptions, *, logs: TextIO | None = None) -> RunReport:
    """Prepare, deploy and execute one use case in a fresh world; nothing outlives the call.

    What the functions print (Powertools JSON logs, EMF metrics) goes to ``logs`` when given,
    as it would go to CloudWatch Logs, instead of the terminal.
    """
    scenario = scenario_for(use_case)
    name = options.scenario or scenario.names[0]
    if name not in scenario.names:
        raise SystemExit(f"{use_case} has no scenario {name!r}; scenarios: {', '.join(scenario.names)}")
    options = replace(options, scenario=name)
    with SandboxWorld() as world, ExitStack() as resources:
        if logs is not None:
            resources.enter_context(redirect_stdout(logs))
        plan = scenario.prepare(world, resources, options)
        stack = _deploy(world, use_case, plan)
        run_id = f"{use_case}-{name}-{options.seed}"
        result = stack.run(dict(plan.input), name=run_id, timeout_s=max(300.0, plan.files / 10))
        return RunReport(
            use_case=use_case,
            scenario=name,
            status=result.status,
            files=plan.files,
            seconds=result.duration_s,
            outputs=run_outputs(world, stack, run_id),
            summary=scenario.summarize(stack, result),
            error=result.error,
            cause=result.cause,
            timeline=state_timeline(result.history),
        )


def _deploy(world: SandboxWorld, use_case: str, plan: RunPlan) -> UseCaseStack:
    return world.deploy(use_case, parameters=plan.parameters, environment=plan.environment)


def function_for_event(event_file: Path) -> str:
    """``extract_metadata-corrupt.json`` → ``ExtractMetadataFunction``: one name everywhere."""
    stem = event_file.stem.split("-", 1)[0]
    return "".join(part.capitalize() for part in stem.split("_")) + "Function"


def pipeline_order(world: SandboxWorld, stack: UseCaseStack) -> dict[str, int]:
    """Function logical ids ranked by where their ARN first appears in the stack's state machines."""
    definitions = "".join(
        world.client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"]
        for arn in stack.state_machine_arns.values()
    )
    found = {lid: definitions.find(arn) for lid, arn in stack.function_arns.items() if arn in definitions}
    return {lid: rank for rank, lid in enumerate(sorted(found, key=found.__getitem__))}


@dataclass
class InvokeReport:
    event_file: Path
    function: str
    succeeded: bool
    payload: Any


def invoke_events(
    use_case: str, event_files: Sequence[Path], options: RunOptions, function: str | None = None
) -> list[InvokeReport]:
    """Invoke each event file's function through Lambda's API, in one world prepared like ``run``'s.

    Steps of a pipeline read what earlier steps wrote (a manifest, a context), so the events run
    in the order the state machine calls their functions; a function's plain event comes before
    its scenario variants (``load_topology.json`` before ``load_topology-stored.json``).
    """
    scenario = scenario_for(use_case)
    reports = []
    with SandboxWorld() as world, ExitStack() as resources:
        plan = scenario.prepare(
            world, resources, replace(options, scenario=options.scenario or scenario.names[0])
        )
        stack = _deploy(world, use_case, plan)
        order = pipeline_order(world, stack)
        ranked = sorted(
            event_files,
            key=lambda path: (
                order.get(function or function_for_event(path), len(order)),
                "-" in path.stem,
                path.name,
            ),
        )
        for event_file in ranked:
            logical_id = function or function_for_event(event_file)
            if logical_id not in stack.function_arns:
                known = ", ".join(stack.function_arns)
                raise SystemExit(f"{event_file}: {use_case} has no function {logical_id}; functions: {known}")
            response = world.client("lambda").invoke(
                FunctionName=stack.function_arns[logical_id], Payload=event_file.read_bytes()
            )
            payload = json.loads(response["Payload"].read() or b"null")
            reports.append(InvokeReport(event_file, logical_id, "FunctionError" not in response, payload))
    return reports


def run_outputs(world: SandboxWorld, stack: UseCaseStack, run_id: str) -> list[str]:
    """``s3://bucket/key`` of every object the run wrote under a ``runs/<run_id>/`` prefix."""
    s3 = world.client("s3")
    found = []
    for logical_id, resource in stack.template.active_resources.items():
        if resource.type != "AWS::S3::Bucket":
            continue
        bucket = stack.ref(logical_id)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found += [
                f"s3://{bucket}/{entry['Key']}"
                for entry in page.get("Contents", ())
                if f"runs/{run_id}/" in entry["Key"]
            ]
    return found


def state_timeline(history: Sequence[HistoryEvent]) -> list[tuple[str, str, float]]:
    """``(state, outcome, seconds)`` for each state the execution went through, in order."""
    timeline: list[tuple[str, str, float]] = []
    open_states: dict[str, datetime] = {}
    failed: set[str] = set()
    current = ""
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
            open_states[current] = event["timestamp"]
        elif kind.endswith("Failed") or kind.endswith("TimedOut"):
            failed.add(current)
        elif kind.endswith("StateExited"):
            state = event["stateExitedEventDetails"]["name"]
            started = open_states.pop(state, event["timestamp"])
            outcome = "caught" if state in failed else "ok"
            timeline.append((state, outcome, (event["timestamp"] - started).total_seconds()))
    timeline += [(state, "not finished", 0.0) for state in open_states]
    return timeline


# --- printing -----------------------------------------------------------------------------------


def print_report(console: Console, report: RunReport) -> None:
    table = Table(title=f"{report.use_case} · scenario {report.scenario}", title_justify="left")
    table.add_column("state")
    table.add_column("outcome")
    table.add_column("seconds", justify="right")
    for state, outcome, seconds in report.timeline:
        table.add_row(state, outcome, f"{seconds:.2f}")
    console.print(table)
    if report.outputs:
        console.print(f"outputs written ({len(report.outputs)}):")
        for uri in report.outputs:
            console.print(f"  {uri}", markup=False, soft_wrap=True)
    for label, value in report.summary.items():
        console.print(f"{label}: {value}", markup=False)
    verdict = "[green]SUCCEEDED[/green]" if report.succeeded else f"[red]{report.status}[/red]"
    console.print(
        f"{verdict} in {report.seconds:.1f} s, {report.files} files ({report.files_per_second:.0f} files/s)"
    )
    if not report.succeeded:
        console.print(f"error: {report.error}\ncause: {report.cause}", markup=False)


def print_demo(console: Console, reports: Sequence[RunReport]) -> None:
    table = Table(title="make demo: every use case, offline", title_justify="left")
    for column in ("use case", "scenario", "status", "files", "seconds", "files/s", "outputs", "summary"):
        table.add_column(
            column, justify="right" if column in {"files", "seconds", "files/s", "outputs"} else "left"
        )
    for report in reports:
        table.add_row(
            report.use_case,
            report.scenario,
            "[green]SUCCEEDED[/green]" if report.succeeded else f"[red]{report.status}[/red]",
            str(report.files),
            f"{report.seconds:.1f}",
            f"{report.files_per_second:.0f}",
            str(len(report.outputs)),
            ", ".join(f"{label} {value}" for label, value in report.summary.items()),
        )
    console.print(table)


# --- commands -----------------------------------------------------------------------------------


def _options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(files=args.files, seed=args.seed, scenario=getattr(args, "scenario", "") or "")


def run_with_log_file(use_case: str, options: RunOptions, console: Console) -> RunReport:
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOGS_DIR / f"{use_case}.log"
    with console.status(f"running {use_case} in the sandbox …"), log_path.open("w", encoding="utf-8") as logs:
        report = run_use_case(use_case, options, logs=logs)
    print_report(console, report)
    console.print(f"function logs: {log_path.relative_to(REPO_ROOT)}\n", markup=False)
    return report


def command_run(args: argparse.Namespace, console: Console) -> int:
    report = run_with_log_file(args.use_case, _options(args), console)
    return 0 if report.succeeded else 1


def command_demo(args: argparse.Namespace, console: Console) -> int:
    reports = [run_with_log_file(use_case, _options(args), console) for use_case in use_cases()]
    print_demo(console, reports)
    return 0 if reports and all(report.succeeded for report in reports) else 1


def command_invoke(args: argparse.Namespace, console: Console) -> int:
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    with (LOGS_DIR / f"{args.use_case}.log").open("w", encoding="utf-8") as logs, redirect_stdout(logs):
        reports = invoke_events(args.use_case, args.events, _options(args), args.function)
    for report in reports:
        verdict = "[green]ok[/green]" if report.succeeded else "[red]FunctionError[/red]"
        console.print(f"{args.use_case} {report.function} <- {report.event_file}: {verdict}")
        console.print_json(json.dumps(report.payload))
    failed = sum(not report.succeeded for report in reports)
    console.print(f"{len(reports) - failed} passed, {failed} failed")
    return 1 if failed else 0


def command_serve(args: argparse.Namespace, console: Console) -> int:
    from sandbox.serve import serve  # moto's server (Flask) is only loaded for `serve`

    stop = threading.Event()
    try:
        return serve(
            args.use_cases or use_cases(),
            _options(args),
            host=args.host,
            port=args.port,
            env_dir=args.env_dir,
            console=console,
            stop=stop,
        )
    except KeyboardInterrupt:
        return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one use case's state machine end to end")
    run.add_argument("use_case", choices=use_cases())
    run.add_argument("--scenario", default="", help="a scenario of the use case (default: its first)")
    demo = commands.add_parser("demo", help="run every use case and print one summary table")
    for sub in (run, demo):
        sub.add_argument("--files", type=int, default=50, help="number of synthetic input files")
        sub.add_argument("--seed", type=int, default=7, help="seed of the synthetic dataset")
    invoke = commands.add_parser(
        "invoke", help="run one function with one event file, as sam local invoke would"
    )
    invoke.add_argument("use_case", choices=use_cases())
    invoke.add_argument(
        "events", type=Path, nargs="+", help="events/<use-case>/<function>[-<scenario>].json …"
    )
    invoke.add_argument("--function", help="logical id (default: from each event file's name)")
    invoke.add_argument("--files", type=int, default=20)
    invoke.add_argument("--seed", type=int, default=7)
    serve = commands.add_parser("serve", help="moto's HTTP server + the ONTAP simulator for sam local invoke")
    serve.add_argument("use_cases", nargs="*", choices=[[], *use_cases()], metavar="use-case")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000, help="moto server port (default 5000)")
    serve.add_argument(
        "--env-dir",
        type=Path,
        default=REPO_ROOT / "sandbox" / "out",
        help="where <use-case>/env.json files are written",
    )
    serve.add_argument("--files", type=int, default=20)
    serve.add_argument("--seed", type=int, default=7)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # moto logs every failed task attempt at ERROR; the timeline shows them where they matter.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    # Bound to the real stdout now: function output is redirected to log files during runs.
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    commands = {"run": command_run, "demo": command_demo, "invoke": command_invoke, "serve": command_serve}
    return commands[args.command](args, console)
