"""``python -m sandbox serve``: a sandbox world behind moto's HTTP server, for ``sam local invoke``.

The use cases are deployed in process exactly as for ``run`` (same scenarios, same data), then
moto's server exposes that very state over HTTP: it shares moto's in-process backends, so a
function running in a container sees the buckets, tables and state machines created here, and a
Lambda invoked through the server is dispatched to the in-process handler. The ONTAP simulator,
when a scenario starts one, listens on 127.0.0.1, so containers reach both with
``sam local invoke --docker-network host``.

One ``<env-dir>/<use-case>/env.json`` per use case (``sam local invoke --env-vars`` reads one SAM
app's functions by logical id, and several use cases have a ``DiscoveryFunction``) holds each
function's resolved variables plus ``AWS_ENDPOINT_URL`` pointing at the server; a ``ready`` file
beside them tells scripts that every use case is deployed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from moto.server import ThreadedMotoServer
from rich.console import Console
from rich.table import Table

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.scenarios import RunOptions, scenario_for


def function_environments(
    world: SandboxWorld, stack: UseCaseStack, endpoint_url: str
) -> dict[str, dict[str, str]]:
    """``{FunctionLogicalId: {VAR: value}}`` as ``sam local invoke --env-vars`` reads it."""
    lambda_client = world.client("lambda")
    sections = {}
    for logical_id, arn in stack.function_arns.items():
        configuration = lambda_client.get_function_configuration(FunctionName=arn)
        variables = dict(configuration.get("Environment", {}).get("Variables", {}))
        sections[logical_id] = {**variables, "AWS_ENDPOINT_URL": endpoint_url}
    return sections


def serve(
    targets: Sequence[str],
    options: RunOptions,
    *,
    host: str,
    port: int,
    env_dir: Path,
    console: Console,
    stop: threading.Event,
) -> int:
    """Deploy ``targets``, serve until ``stop`` is set (or Ctrl-C), then tear everything down."""
    with SandboxWorld() as world, ExitStack() as resources:
        table = Table(title="sandbox serve", title_justify="left")
        for column in ("use case", "state machine", "functions"):
            table.add_column(column)
        server = ThreadedMotoServer(ip_address=host, port=port)
        server.start()
        resources.callback(server.stop)
        bound_host, bound_port = server.get_host_and_port()
        endpoint_url = f"http://{bound_host}:{bound_port}"
        for use_case in targets:
            scenario = scenario_for(use_case)
            plan = scenario.prepare(
                world, resources, RunOptions(options.files, options.seed, scenario.names[0])
            )
            stack = world.deploy(use_case, parameters=plan.parameters, environment=plan.environment)
            env_file = env_dir / use_case / "env.json"
            env_file.parent.mkdir(parents=True, exist_ok=True)
            environments = function_environments(world, stack, endpoint_url)
            env_file.write_text(json.dumps(environments, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            table.add_row(use_case, stack.state_machine_arn(), ", ".join(stack.function_arns))
        (env_dir / "ready").write_text(endpoint_url + "\n", encoding="utf-8")
        console.print(table)
        console.print(f"moto server: {endpoint_url}   env vars: {env_dir}/<use-case>/env.json", markup=False)
        console.print(
            "e.g. (cd <use-case> && sam local invoke <FunctionLogicalId> "
            f"--event ../events/<use-case>/<function>.json --env-vars {env_dir}/<use-case>/env.json "
            "--docker-network host)",
            markup=False,
        )
        console.print("Ctrl-C stops the sandbox.")
        stop.wait()
    return 0
