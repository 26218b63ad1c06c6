"""Run a state machine in the moto world and hand back what a test or the CLI asserts on.

:func:`run_execution` starts an execution, waits for it to stop (bounded: a stuck workflow fails
the caller instead of hanging it), and collects the full event history (paginated), the
Distributed Map runs and the parsed output. The history helpers read state names, inputs and
outputs from the events exactly as the Step Functions console shows them.

moto does not enforce ``ToleratedFailurePercentage`` (5.2.5 logs "declarations currently have no
effect"): a Map run succeeds whatever its failed items. :attr:`ExecutionResult.map_runs` carries
moto's ``itemCounts`` so tests assert on failed items themselves.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

HistoryEvent = dict[str, Any]
STATE_PAYLOAD_LIMIT_BYTES: Final = 256 * 1024
"""Step Functions' limit for a state's input or output."""

_PAYLOAD_FIELDS: Final = ("input", "output", "parameters")


class ExecutionTimeoutError(TimeoutError):
    """The execution was still running when the caller's time ran out (it has been stopped)."""

    def __init__(self, execution_arn: str, timeout_s: float, history: list[HistoryEvent]) -> None:
        entered = states_entered(history)
        super().__init__(
            f"{execution_arn} still RUNNING after {timeout_s:.0f}s; states entered: {entered[-10:]}"
        )
        self.execution_arn = execution_arn
        self.history = history


@dataclass(frozen=True)
class ExecutionResult:
    """How an execution ended, with its history and Map runs."""

    execution_arn: str
    status: str
    input: Any
    output: Any
    error: str | None
    cause: str | None
    history: list[HistoryEvent]
    map_runs: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def states_entered(self) -> list[str]:
        return states_entered(self.history)

    def state_output(self, name: str, occurrence: int = -1) -> Any:
        return state_output(self.history, name, occurrence)

    def state_input(self, name: str, occurrence: int = -1) -> Any:
        return state_input(self.history, name, occurrence)

    def events(self, *types: str) -> list[HistoryEvent]:
        return events_of_type(self.history, *types)

    def task_failures(self) -> list[dict[str, Any]]:
        return task_failures(self.history)

    def largest_payload_bytes(self) -> int:
        return largest_payload_bytes(self.history)


def run_execution(
    sfn: Any,
    state_machine_arn: str,
    execution_input: Any,
    *,
    timeout_s: float = 120.0,
    name: str | None = None,
) -> ExecutionResult:
    """Start ``state_machine_arn`` with ``execution_input``, wait at most ``timeout_s``, collect.

    moto's interpreter runs in background threads, so polling ``DescribeExecution`` is how a
    caller waits, exactly as against AWS.
    """
    name = name or f"sandbox-{uuid.uuid4().hex}"
    started = time.monotonic()
    arn = str(
        sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))[
            "executionArn"
        ]
    )
    description = _wait(sfn, arn, timeout_s)
    duration = time.monotonic() - started
    history = execution_history(sfn, arn)
    return ExecutionResult(
        execution_arn=arn,
        status=str(description["status"]),
        input=execution_input,
        output=json.loads(description["output"]) if description.get("output") else None,
        error=description.get("error"),
        cause=description.get("cause"),
        history=history,
        map_runs=map_runs(sfn, arn),
        duration_s=duration,
    )


def _wait(sfn: Any, arn: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    interval = 0.02
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() >= deadline:
            history = execution_history(sfn, arn)
            sfn.stop_execution(executionArn=arn, error="Sandbox.Timeout", cause=f"no end after {timeout_s}s")
            _wait_stopped(sfn, arn)
            raise ExecutionTimeoutError(arn, timeout_s, history)
        time.sleep(interval)
        interval = min(interval * 2, 0.25)


def _wait_stopped(sfn: Any, arn: str, grace_s: float = 5.0) -> None:
    # moto aborts asynchronously; give its interpreter a moment so no thread outlives the world.
    deadline = time.monotonic() + grace_s
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)


def execution_history(sfn: Any, arn: str) -> list[HistoryEvent]:
    """Every event of the execution, oldest first, across pages."""
    events: list[HistoryEvent] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def map_runs(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """``DescribeMapRun`` of each Distributed Map run of the execution (item counts, status)."""
    runs = []
    for page in sfn.get_paginator("list_map_runs").paginate(executionArn=arn):
        for run in page["mapRuns"]:
            described = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
            described.pop("ResponseMetadata", None)
            runs.append(described)
    return runs


# --- reading a history ------------------------------------------------------------------------


def _details(event: HistoryEvent) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def events_of_type(history: Iterable[HistoryEvent], *types: str) -> list[HistoryEvent]:
    return [event for event in history if event["type"] in types]


def states_entered(history: Iterable[HistoryEvent]) -> list[str]:
    """Names of the states entered, in order (a retried state appears once per entry)."""
    return [
        str(event["stateEnteredEventDetails"]["name"])
        for event in history
        if event["type"].endswith("StateEntered")
    ]


def _state_payload(history: Sequence[HistoryEvent], name: str, occurrence: int, suffix: str, key: str) -> Any:
    details_key = "stateEnteredEventDetails" if suffix == "StateEntered" else "stateExitedEventDetails"
    matches = [
        event[details_key]
        for event in history
        if event["type"].endswith(suffix) and event.get(details_key, {}).get("name") == name
    ]
    if not matches:
        raise KeyError(f"no {suffix} event for state {name!r}; states entered: {states_entered(history)}")
    payload = matches[occurrence].get(key)
    return json.loads(payload) if payload else None


def state_output(history: Sequence[HistoryEvent], name: str, occurrence: int = -1) -> Any:
    """The parsed output of state ``name`` (its last exit by default)."""
    return _state_payload(history, name, occurrence, "StateExited", "output")


def state_input(history: Sequence[HistoryEvent], name: str, occurrence: int = -1) -> Any:
    """The parsed input of state ``name`` (its last entry by default)."""
    return _state_payload(history, name, occurrence, "StateEntered", "input")


def task_failures(history: Iterable[HistoryEvent]) -> list[dict[str, Any]]:
    """``{"state", "error", "cause"}`` of every failed task attempt, in order."""
    failures = []
    current_state = None
    for event in history:
        if event["type"].endswith("StateEntered"):
            current_state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in (
            "TaskFailed",
            "LambdaFunctionFailed",
            "TaskTimedOut",
            "LambdaFunctionTimedOut",
        ):
            details = _details(event)
            failures.append(
                {"state": current_state, "error": details.get("error"), "cause": details.get("cause")}
            )
    return failures


def largest_payload_bytes(history: Iterable[HistoryEvent]) -> int:
    """The size of the largest input, output or task parameters in the history (UTF-8 bytes)."""
    sizes = [
        len(str(details[key]).encode())
        for details in map(_details, history)
        for key in _PAYLOAD_FIELDS
        if details.get(key) is not None
    ]
    return max(sizes, default=0)


# --- notifications ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicWatch:
    """An SQS queue subscribed to a topic, so a test reads what the workflow published."""

    sqs: Any
    queue_url: str
    topic_arn: str

    @classmethod
    def subscribe(cls, sns: Any, sqs: Any, topic_arn: str) -> TopicWatch:
        digest = hashlib.sha256(topic_arn.encode()).hexdigest()[:16]
        queue_url = str(sqs.create_queue(QueueName=f"sandbox-watch-{digest}")["QueueUrl"])
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return cls(sqs=sqs, queue_url=queue_url, topic_arn=topic_arn)

    def messages(self) -> list[dict[str, Any]]:
        """Notifications received so far (``Subject``, ``Message`` …), each read once."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return received
            for message in batch:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
