"""Exception hierarchy shared by every Lambda.

The class name of an exception is the contract with the state machines: Lambda reports it as
``errorType`` and ASL ``Retry``/``Catch`` blocks match it by exact name (Step Functions knows
nothing of Python inheritance). So:

* every ASL ``ErrorEquals`` entry that is not a ``States.*`` name must be a class defined here
  (``tests/templates`` checks it), and
* a class is either *retryable* (a later attempt may succeed) or *terminal* (retrying cannot help),
  never both; ``RETRYABLE_ERRORS`` lists the names an ASL ``Retry`` may use.
"""

from __future__ import annotations

from typing import Any


class PatternError(Exception):
    """Base class of every error this project raises on purpose."""

    retryable = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_record(self) -> dict[str, Any]:
        """A JSON-able description, used when an error becomes a record in a run's report."""
        return {"error": type(self).__name__, "message": self.message, **self.details}


class RetryableError(PatternError):
    """Transient failure: the same request may succeed later."""

    retryable = True


class TerminalError(PatternError):
    """Permanent failure: retrying the same request cannot succeed."""


# --- input and configuration -------------------------------------------------------------------


class InvalidInputError(TerminalError, ValueError):
    """An event, parameter or setting is malformed. ``field`` names what is wrong."""

    def __init__(self, field: str, message: str, **details: Any) -> None:
        super().__init__(f"{field}: {message}", field=field, **details)
        self.field = field


class FileFormatError(TerminalError, ValueError):
    """A file's bytes do not follow its format. ``offset`` is the byte where reading failed."""

    def __init__(self, message: str, *, offset: int, **details: Any) -> None:
        super().__init__(f"{message} (at byte offset {offset})", offset=offset, **details)
        self.offset = offset


class OutputExistsError(TerminalError):
    """An output object already exists; outputs are never overwritten."""


# --- S3 Access Point ---------------------------------------------------------------------------


class S3AccessError(TerminalError):
    """S3 refused the request for good (access denied, no such key, invalid range …)."""


class S3TransientError(RetryableError):
    """S3 kept failing with throttling or server errors after botocore's own retries."""


# --- ONTAP REST --------------------------------------------------------------------------------


class OntapApiError(TerminalError):
    """ONTAP answered with an error body ``{"error": {"message", "code", "target"}}``."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        target: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(
            f"ONTAP {method} {path} -> HTTP {status}: {message}" + (f" (code {code})" if code else ""),
            status=status,
            code=code,
            target=target,
            method=method,
            path=path,
        )
        self.status = status
        self.code = code
        self.target = target
        self.ontap_message = message


class OntapAuthError(OntapApiError):
    """HTTP 401/403: wrong credentials or a role without the needed privilege."""


class OntapNotFoundError(OntapApiError):
    """HTTP 404: the SVM, volume, path or job does not exist."""


class OntapResponseError(TerminalError):
    """ONTAP answered 2xx with a body that lacks the documented shape (a field of the wrong type)."""


class OntapUnavailableError(RetryableError):
    """ONTAP kept answering 429/5xx or dropping connections after the client's bounded retries."""


class OntapJobFailedError(TerminalError):
    """An asynchronous ONTAP job ended in state ``failure``."""


class OntapJobTimeoutError(RetryableError):
    """An asynchronous ONTAP job did not finish within the allowed time."""


# --- SageMaker inference ------------------------------------------------------------------------


class PayloadTooLargeError(TerminalError):
    """A request body exceeds what the chosen inference path accepts; refused before any call."""


class ModelInvocationError(TerminalError):
    """SageMaker or the model container rejected the request (ValidationError, ModelError 424 …)."""


class EndpointUnavailableError(RetryableError):
    """An endpoint kept answering throttling or 5xx, or could not be reached, after bounded retries."""


class ServerlessColdStartTimeoutError(RetryableError):
    """A serverless endpoint was still cold when the retry budget ran out; ASL falls back to Batch."""


class ComponentsColdStartTimeoutError(RetryableError):
    """An inference component had no copy running when the scale-from-zero budget ran out."""


class SageMakerUnavailableError(RetryableError):
    """The SageMaker API kept throttling or failing with 5xx (e.g. CreateTransformJob)."""


class BatchTransformStartError(TerminalError):
    """SageMaker refused to start a transform job (unknown model, invalid configuration …)."""


class BatchTransformFailedError(TerminalError):
    """A transform job ended Failed or Stopped; sent to the waiting execution with SendTaskFailure."""


# --- Step Functions task tokens ----------------------------------------------------------------


class TaskTokenError(TerminalError):
    """A task-token record is missing, malformed or in a state that forbids the operation."""


class TaskTokenStoreUnavailableError(RetryableError):
    """The task-token table kept throttling or failing with 5xx after botocore's retries."""


class TaskCallbackUnavailableError(RetryableError):
    """Step Functions kept throttling or failing SendTaskSuccess/SendTaskFailure."""


# --- FlexCache read-path routing ---------------------------------------------------------------


class RouteVersionConflictError(RetryableError):
    """Another writer changed the routing state since it was read (optimistic concurrency): a new
    attempt re-reads the state and decides again, so no update is lost."""


class RoutingStoreUnavailableError(RetryableError):
    """The routing, health or topology table kept throttling or failing with 5xx after botocore's retries."""


# --- multi-region ------------------------------------------------------------------------------


class CrossRegionUnavailableError(RetryableError):
    """Every region of a cross-region call failed with a failover-class error (timeout, connection
    error, throttling or 5xx after botocore's retries); client errors are never turned into this."""


class RegionStatusUnavailableError(RetryableError):
    """The region-status table (the decision owner's failover override) kept throttling or failing
    with 5xx: a region cannot tell whether it may process, so it processes nothing this time."""


def _defined_here(cls: type[PatternError]) -> list[type[PatternError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        if sub.__module__ == __name__:
            found += _defined_here(sub)
    return found


ERROR_NAMES: frozenset[str] = frozenset(cls.__name__ for cls in _defined_here(PatternError))
"""Every exception class name defined here: what an ASL ``ErrorEquals`` may name."""

RETRYABLE_ERRORS: frozenset[str] = frozenset(
    cls.__name__ for cls in _defined_here(RetryableError) if cls is not RetryableError
)
"""The concrete retryable names an ASL ``Retry`` lists besides ``States.*`` and ``Lambda.*``."""
