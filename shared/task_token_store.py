"""Step Functions task tokens parked in DynamoDB while an external job runs, and the callback.

A ``.waitForTaskToken`` task hands its token to a Lambda that starts a long job (a SageMaker
transform job) and returns; when the job ends, another Lambda must call SendTaskSuccess or
SendTaskFailure with that token. The token is a secret (whoever holds it can complete the task),
so it is never put in a job tag, a log line or a metric: the job carries a **correlation id**
instead, derived one-way from the token (:func:`correlation_id_for`), and the token waits here.

A record (:class:`TaskTokenRecord`) holds the token with ``execution_region`` and
``state_machine_arn``: tokens only work in the region of the execution that issued them, and a
replicated table (DynamoDB Global Tables, see shared/cfn) can be read in another region, so the
callback always calls Step Functions in ``execution_region`` (:func:`notify_execution`).

With a global table (shared/cfn/global-task-token-store.yaml, ``EnableMultiRegion``) every region
reads and writes its **own replica**: the store's client belongs to the region the code runs in
(``region``, by default ``AWS_REGION``), one cached client per region. The table is multi-region
eventually consistent (MREC) unless created STRONG (MRSC): a record written in one region reaches
the others typically within a second, and conditions are evaluated against the local replica. A
record is written once, by the start function of the execution's own region, so creation never
races across regions; a job's end handled in two regions within the replication window could call
Step Functions twice, and the second call finds the task closed (``TaskTimedOut``/``InvalidToken``:
nothing is resumed twice), which the record then shows as ``EXPIRED`` after last-writer-wins.

* creation is conditional (``attribute_not_exists``): a redelivered start never overwrites;
* status changes are conditional on the expected previous status, so a duplicated EventBridge
  event calls Step Functions once;
* every record has a ``ttl`` (epoch seconds, the table's TimeToLiveSpecification attribute): a
  token outlives its execution by no more than the store's TTL.

Clients are injected or created on first use, never at import time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import (
    InvalidInputError,
    TaskCallbackUnavailableError,
    TaskTokenError,
    TaskTokenStoreUnavailableError,
)
from shared.observability import logger
from shared.snapstart import after_restore

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "KEY_ATTRIBUTE",
    "TTL_ATTRIBUTE",
    "TaskTokenRecord",
    "TaskTokenStore",
    "TokenStatus",
    "correlation_id_for",
    "default_dynamodb_client",
    "default_sfn_client",
    "execution_region_of",
    "notify_execution",
]

DynamoDBClient = Any
StepFunctionsClient = Any

KEY_ATTRIBUTE: Final = "correlation_id"
"""The table's partition key (the templates declare the same name)."""

TTL_ATTRIBUTE: Final = "ttl"
"""The table's TimeToLiveSpecification attribute: expiry in epoch seconds."""

DEFAULT_TTL_SECONDS: Final = 2 * 24 * 3600
"""Longer than the longest transform task the templates allow (TimeoutSeconds 86,400)."""

MAX_TOKEN_LENGTH: Final = 2048
"""SendTaskSuccess/SendTaskFailure accept task tokens of 1-2048 characters."""

MAX_CAUSE_LENGTH: Final = 32768
"""SendTaskFailure's cause limit."""

_EXECUTION_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):\d{12}:execution:[^:]+:[^:]+"
)
_STATE_MACHINE_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:stateMachine:[^:]+")
_CORRELATION_ID = re.compile(r"[0-9a-f]{32}")
_TRANSIENT_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_GONE_CODES: Final = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})


class TokenStatus(StrEnum):
    """Where a parked token is in its life."""

    STARTING = "STARTING"
    """Record written, job not yet confirmed created."""
    STARTED = "STARTED"
    """The external job exists; waiting for its end."""
    CALLED_BACK = "CALLED_BACK"
    """SendTaskSuccess/SendTaskFailure delivered."""
    EXPIRED = "EXPIRED"
    """Step Functions no longer knows the token (execution ended, timed out or was stopped)."""


def correlation_id_for(task_token: str) -> str:
    """A 32-hex id derived one-way from the token: safe in job names, tags and logs."""
    return hashlib.sha256(task_token.encode("utf-8")).hexdigest()[:32]


def execution_region_of(execution_arn: str) -> str:
    """The region of a standard workflow execution ARN, the only region its tokens work in."""
    match = _EXECUTION_ARN.fullmatch(execution_arn) if isinstance(execution_arn, str) else None
    if match is None:
        raise InvalidInputError(
            "execution_arn",
            "expected arn:<partition>:states:<region>:<account>:execution:<machine>:<name>, "
            f"got {execution_arn!r}",
        )
    return match["region"]


@dataclass(frozen=True)
class TaskTokenRecord:
    """One parked token. ``repr`` never shows the token."""

    correlation_id: str
    task_token: str = field(repr=False)
    execution_region: str
    state_machine_arn: str
    execution_arn: str
    job_name: str
    status: TokenStatus = TokenStatus.STARTING
    created_at: int = 0
    expires_at: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.task_token, str) or not 1 <= len(self.task_token) <= MAX_TOKEN_LENGTH:
            raise InvalidInputError("task_token", f"expected 1-{MAX_TOKEN_LENGTH} characters")
        if self.correlation_id != correlation_id_for(self.task_token):
            raise InvalidInputError("correlation_id", "does not belong to this task token")
        if execution_region_of(self.execution_arn) != self.execution_region:
            raise InvalidInputError(
                "execution_region", f"{self.execution_region!r} is not the region of {self.execution_arn}"
            )
        if not _STATE_MACHINE_ARN.fullmatch(self.state_machine_arn):
            raise InvalidInputError(
                "state_machine_arn", f"not a state machine ARN: {self.state_machine_arn!r}"
            )

    @classmethod
    def for_token(
        cls, task_token: str, *, execution_arn: str, state_machine_arn: str, job_name: str
    ) -> TaskTokenRecord:
        """A new record: correlation id and execution region derived from the token and the ARN."""
        if not isinstance(task_token, str) or not task_token:
            raise InvalidInputError("task_token", "is required")
        return cls(
            correlation_id=correlation_id_for(task_token),
            task_token=task_token,
            execution_region=execution_region_of(execution_arn),
            state_machine_arn=state_machine_arn,
            execution_arn=execution_arn,
            job_name=job_name,
        )

    def to_item(self) -> dict[str, dict[str, str]]:
        return {
            KEY_ATTRIBUTE: {"S": self.correlation_id},
            "task_token": {"S": self.task_token},
            "execution_region": {"S": self.execution_region},
            "state_machine_arn": {"S": self.state_machine_arn},
            "execution_arn": {"S": self.execution_arn},
            "job_name": {"S": self.job_name},
            "status": {"S": self.status.value},
            "created_at": {"N": str(self.created_at)},
            TTL_ATTRIBUTE: {"N": str(self.expires_at)},
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, str]]) -> TaskTokenRecord:
        try:
            return cls(
                correlation_id=item[KEY_ATTRIBUTE]["S"],
                task_token=item["task_token"]["S"],
                execution_region=item["execution_region"]["S"],
                state_machine_arn=item["state_machine_arn"]["S"],
                execution_arn=item["execution_arn"]["S"],
                job_name=item["job_name"]["S"],
                status=TokenStatus(item["status"]["S"]),
                created_at=int(item["created_at"]["N"]),
                expires_at=int(item[TTL_ATTRIBUTE]["N"]),
            )
        except (KeyError, ValueError, TypeError, InvalidInputError) as err:
            raise TaskTokenError(f"malformed task-token record: {err}") from err


@functools.cache
def default_dynamodb_client(region: str | None = None) -> DynamoDBClient:
    """The process's DynamoDB client for ``region`` (one per region), created on first use.

    With a global table the region decides which replica is read; ``None`` lets boto3 resolve it.
    """
    return boto3.client(
        "dynamodb", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


def _local_region() -> str | None:
    """The region this code runs in (Lambda sets ``AWS_REGION``)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


@functools.cache
def default_sfn_client(region: str) -> StepFunctionsClient:
    """A Step Functions client for ``region``, created on first use (one per region)."""
    return boto3.client(
        "stepfunctions", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


after_restore(default_dynamodb_client.cache_clear)
after_restore(default_sfn_client.cache_clear)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class TaskTokenStore:
    """Task-token records in one DynamoDB table (a Global Table replicates them across regions)."""

    def __init__(
        self,
        table_name: str,
        *,
        dynamodb: DynamoDBClient | None = None,
        clock: Callable[[], float] = time.time,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        region: str | None = None,
    ) -> None:
        """``region`` picks the replica of a global table (default: the region the code runs in)."""
        if not isinstance(table_name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", table_name):
            raise InvalidInputError("table_name", f"not a DynamoDB table name: {table_name!r}")
        if not isinstance(ttl_seconds, int) or ttl_seconds < 60:
            raise InvalidInputError("ttl_seconds", f"expected at least 60 seconds, got {ttl_seconds!r}")
        self.table_name = table_name
        self.region = region
        self._dynamodb = dynamodb
        self._clock = clock
        self.ttl_seconds = ttl_seconds

    @property
    def dynamodb(self) -> DynamoDBClient:
        if self._dynamodb is None:
            self._dynamodb = default_dynamodb_client(self.region or _local_region())
        return self._dynamodb

    def _failure(self, err: Exception, action: str, correlation_id: str) -> Exception:
        where = f"{action} on {self.table_name} ({correlation_id})"
        if isinstance(err, ClientError):
            code = _code(err)
            if code in _TRANSIENT_CODES or _status(err) >= 500:
                return TaskTokenStoreUnavailableError(
                    f"{where} kept failing: {code}", table=self.table_name, code=code
                )
            return TaskTokenError(f"{where} refused: {code}: {err}", table=self.table_name, code=code)
        return TaskTokenStoreUnavailableError(f"{where} failed: {err}", table=self.table_name)

    def create(self, record: TaskTokenRecord) -> tuple[TaskTokenRecord, bool]:
        """Write ``record`` unless its correlation id exists; return the stored record and ``created``.

        When the id exists (a redelivered start), nothing is written and the stored record is
        returned with ``created == False``, so the caller can finish what the first attempt began.
        """
        now = int(self._clock())
        stamped = replace(record, created_at=now, expires_at=now + self.ttl_seconds)
        try:
            self.dynamodb.put_item(
                TableName=self.table_name,
                Item=stamped.to_item(),
                ConditionExpression="attribute_not_exists(#key)",
                ExpressionAttributeNames={"#key": KEY_ATTRIBUTE},
            )
        except ClientError as err:
            if _code(err) != "ConditionalCheckFailedException":
                raise self._failure(err, "PutItem", record.correlation_id) from err
            existing = self.get(record.correlation_id)
            logger.info(
                "task token already parked", correlation_id=record.correlation_id, status=existing.status
            )
            return existing, False
        except BotoCoreError as err:
            raise self._failure(err, "PutItem", record.correlation_id) from err
        logger.info("task token parked", correlation_id=record.correlation_id, job_name=record.job_name)
        return stamped, True

    def get(self, correlation_id: str) -> TaskTokenRecord:
        """The record for ``correlation_id`` (strongly consistent); TaskTokenError when absent."""
        if not isinstance(correlation_id, str) or not _CORRELATION_ID.fullmatch(correlation_id):
            raise InvalidInputError("correlation_id", f"expected 32 hex characters, got {correlation_id!r}")
        try:
            response = self.dynamodb.get_item(
                TableName=self.table_name,
                Key={KEY_ATTRIBUTE: {"S": correlation_id}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as err:
            raise self._failure(err, "GetItem", correlation_id) from err
        item = response.get("Item")
        if not item:
            raise TaskTokenError(
                f"no task token for correlation id {correlation_id} in {self.table_name} "
                "(never parked, or expired by TTL)",
                correlation_id=correlation_id,
            )
        return TaskTokenRecord.from_item(item)

    def set_status(
        self, correlation_id: str, status: TokenStatus, *, expected: Iterable[TokenStatus]
    ) -> bool:
        """Move the record to ``status`` if it is in one of ``expected``; False if it was not."""
        expected_values = sorted({TokenStatus(value).value for value in expected})
        values: dict[str, dict[str, str]] = {":new": {"S": status.value}}
        placeholders = []
        for index, value in enumerate(expected_values):
            values[f":expected{index}"] = {"S": value}
            placeholders.append(f":expected{index}")
        try:
            self.dynamodb.update_item(
                TableName=self.table_name,
                Key={KEY_ATTRIBUTE: {"S": correlation_id}},
                UpdateExpression="SET #status = :new",
                ConditionExpression=f"attribute_exists(#key) AND #status IN ({', '.join(placeholders)})",
                ExpressionAttributeNames={"#status": "status", "#key": KEY_ATTRIBUTE},
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if _code(err) == "ConditionalCheckFailedException":
                return False
            raise self._failure(err, "UpdateItem", correlation_id) from err
        except BotoCoreError as err:
            raise self._failure(err, "UpdateItem", correlation_id) from err
        return True


def notify_execution(
    record: TaskTokenRecord,
    *,
    output: Mapping[str, Any] | None = None,
    error: str | None = None,
    cause: str = "",
    sfn_factory: Callable[[str], StepFunctionsClient] = default_sfn_client,
) -> bool:
    """SendTaskSuccess (``output``) or SendTaskFailure (``error``, ``cause``) in the execution's region.

    Returns False when Step Functions no longer knows the token (the execution ended, timed out
    or was stopped): nothing is waiting, so there is nobody to tell. Throttling and 5xx raise
    :class:`TaskCallbackUnavailableError` so the invoker's retries apply.
    """
    if (output is None) == (error is None):
        raise InvalidInputError("outcome", "give exactly one of output (success) or error (failure)")
    sfn = sfn_factory(record.execution_region)
    try:
        if output is not None:
            sfn.send_task_success(taskToken=record.task_token, output=json.dumps(output))
        else:
            sfn.send_task_failure(taskToken=record.task_token, error=error, cause=cause[:MAX_CAUSE_LENGTH])
    except ClientError as err:
        code = _code(err)
        if code in _GONE_CODES:
            logger.warning(
                "execution no longer waits for this token",
                correlation_id=record.correlation_id,
                execution_arn=record.execution_arn,
                code=code,
            )
            return False
        if code in _TRANSIENT_CODES or _status(err) >= 500:
            raise TaskCallbackUnavailableError(
                f"Step Functions in {record.execution_region} kept failing: {code}", code=code
            ) from err
        raise TaskTokenError(f"Step Functions refused the callback: {code}: {err}", code=code) from err
    except BotoCoreError as err:
        raise TaskCallbackUnavailableError(
            f"Step Functions in {record.execution_region} unreachable: {err}"
        ) from err
    logger.info(
        "execution notified",
        correlation_id=record.correlation_id,
        execution_arn=record.execution_arn,
        outcome="success" if output is not None else "failure",
    )
    return True
