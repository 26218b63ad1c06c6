"""One AWS service in two regions: the primary first, the secondary only when the primary is down.

:class:`CrossRegionClient` ``(service, primary_region, secondary_region)`` sends every operation to
the primary region's client. It tries the secondary region only when the primary failed with a
**failover-class** error (:func:`failover_reason`):

* a timeout (connect or read) or a connection error (endpoint unreachable, connection closed, TLS);
* throttling or an HTTP 5xx that botocore's own retries could not get past.

A client error — AccessDenied, a validation error, NoSuchKey, ResourceNotFound, a failed
condition — is raised at once: the primary region answered, and the other region holds the same
data under the same policies, so asking it again would either fail the same way or, worse,
succeed against state the caller did not mean to touch.

**Each region addresses its own resources.** An operation's regional parameters (the access
point, the table, the state machine …) come from ``resources``, a map region → parameters, and
never from the call's keyword arguments: botocore routes a request that names an access point
ARN to the ARN's region whatever the client's region, so re-sending the primary's ARN to the
"secondary" client would go straight back to the failed primary. For the same reason every
parameter whose value is an ARN is checked against the region it is sent to, and a mismatch is
refused before any call.

Clients are created per region on first use and reused (none at import time; a SnapStart restore
drops them, :mod:`shared.snapstart`). Every call that reaches the secondary adds one
``CrossRegionFailoverCount`` EMF metric. With a :class:`CircuitBreaker`, a primary that failed
``failure_threshold`` calls in a row is skipped for ``cool_down_seconds`` (calls go straight to the
secondary and still count as failovers); then one trial call decides whether it is back.

When both regions fail with failover-class errors, :class:`~shared.errors.CrossRegionUnavailableError`
(retryable) is raised from the secondary's error; any other error of either region is raised as
botocore raised it, so the caller's own error mapping still applies.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from shared.errors import CrossRegionUnavailableError, InvalidInputError
from shared.observability import MetricUnit, logger, metrics
from shared.snapstart import after_restore

__all__ = [
    "FAILOVER_METRIC",
    "THROTTLING_CODES",
    "BreakerState",
    "CircuitBreaker",
    "CrossRegionClient",
    "default_client_factory",
    "failover_reason",
]

FAILOVER_METRIC: Final = "CrossRegionFailoverCount"

THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "BandwidthLimitExceeded",
        "LimitExceededException",
    }
)
"""Error codes that mean "the region is overloaded", whatever HTTP status the service uses (DynamoDB
answers throttling with 400). botocore's standard retry mode has already retried them."""

_REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_ARN_REGION: Final = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:(?P<region>[a-z0-9-]*):")

ClientFactory = Callable[[str, str], Any]


def default_client_factory(service: str, region: str) -> Any:
    """A boto3 client with short timeouts and 3 standard-mode attempts.

    Failing over is only useful if a dead primary fails fast: 5 s to connect and 3 attempts
    bound the time lost before the secondary is asked. (A new Config per client: botocore rewrites
    a Config's retries dict in place.)
    """
    config = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 3})
    return boto3.client(service, region_name=region, config=config)


def failover_reason(error: BaseException) -> str | None:
    """``timeout``, ``connection``, ``throttling`` or ``server`` when ``error`` justifies asking the
    other region; None for everything else (client errors, invalid parameters, missing credentials)."""
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        return "timeout"
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return "connection"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES or status == 429:
            return "throttling"
        if status >= 500:
            return "server"
    return None


class BreakerState(StrEnum):
    CLOSED = "closed"
    """The primary is asked first (normal operation)."""
    OPEN = "open"
    """The primary failed repeatedly: calls go to the secondary until the cool-down has passed."""
    HALF_OPEN = "half-open"
    """Cool-down over: one trial call asks the primary; its outcome closes or reopens the breaker."""


@dataclass
class CircuitBreaker:
    """Skips a primary that keeps failing, for ``cool_down_seconds``. Thread-safe.

    Only failover-class failures count; any answer from the primary (a success or a client error)
    closes the breaker, because it proves the region is reachable.
    """

    failure_threshold: int = 3
    cool_down_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = field(default=BreakerState.CLOSED, init=False)
    consecutive_failures: int = field(default=0, init=False)
    opened_at: float | None = field(default=None, init=False)
    _trial_in_flight: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.failure_threshold, int) or self.failure_threshold < 1:
            raise InvalidInputError(
                "failure_threshold", f"expected an integer >= 1, got {self.failure_threshold!r}"
            )
        if not isinstance(self.cool_down_seconds, int | float) or self.cool_down_seconds <= 0:
            raise InvalidInputError("cool_down_seconds", f"expected > 0, got {self.cool_down_seconds!r}")

    def allow_primary(self) -> bool:
        """Whether this call may ask the primary (claims the trial call when the cool-down is over)."""
        with self._lock:
            if self.state is BreakerState.CLOSED:
                return True
            if self.state is BreakerState.OPEN:
                opened_at = self.opened_at if self.opened_at is not None else self.clock()
                if self.clock() - opened_at < self.cool_down_seconds:
                    return False
                self.state = BreakerState.HALF_OPEN
                self._trial_in_flight = False
            if self._trial_in_flight:
                return False  # another call is already testing the primary
            self._trial_in_flight = True
            return True

    def record_success(self) -> None:
        """The primary answered (possibly with a client error): it is reachable."""
        with self._lock:
            self.state = BreakerState.CLOSED
            self.consecutive_failures = 0
            self.opened_at = None
            self._trial_in_flight = False

    def release(self) -> None:
        """The call that claimed the trial ended without a verdict on the primary."""
        with self._lock:
            self._trial_in_flight = False

    def record_failure(self) -> None:
        """The primary failed with a failover-class error."""
        with self._lock:
            self.consecutive_failures += 1
            if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.failure_threshold:
                self.state = BreakerState.OPEN
                self.opened_at = self.clock()
            self._trial_in_flight = False


_instances: weakref.WeakSet[CrossRegionClient] = weakref.WeakSet()


def _drop_all_clients() -> None:
    for instance in list(_instances):
        instance.reset_clients()


# Clients made before a SnapStart snapshot would carry dead connections into every restore.
after_restore(_drop_all_clients)


def _foreign_arn(parameters: Mapping[str, Any], region: str) -> str | None:
    """The first parameter value that is an ARN of a region other than ``region``.

    Only whole top-level values are checked: resource parameters (``Bucket``, ``TableName``,
    ``stateMachineArn`` …) are top-level, while an ARN inside a payload (an item, a message) is
    data and may name any region.
    """
    for value in parameters.values():
        if isinstance(value, str) and value.startswith("arn:"):
            match = _ARN_REGION.match(value)
            if match is not None and match["region"] and match["region"] != region:
                return value
    return None


class CrossRegionClient:
    """``service`` in ``primary_region`` first, in ``secondary_region`` after a failover-class error.

    ``resources`` maps each of the two regions to the parameters that address that region's own
    resources, e.g. ``{"ap-northeast-1": {"Bucket": "<primary alias>"}, "us-east-1": {"Bucket":
    "<secondary alias>"}}``; both regions must name the same parameters, and a call may not pass
    them itself.
    """

    def __init__(
        self,
        service: str,
        primary_region: str,
        secondary_region: str,
        *,
        resources: Mapping[str, Mapping[str, Any]] | None = None,
        client_factory: ClientFactory = default_client_factory,
        circuit_breaker: CircuitBreaker | None = None,
    ) -> None:
        if not isinstance(service, str) or not re.fullmatch(r"[a-z0-9-]+", service):
            raise InvalidInputError("service", f"not a boto3 service name: {service!r}")
        for name, region in (("primary_region", primary_region), ("secondary_region", secondary_region)):
            if not isinstance(region, str) or not _REGION.fullmatch(region):
                raise InvalidInputError(name, f"not an AWS region: {region!r}")
        if primary_region == secondary_region:
            raise InvalidInputError("secondary_region", f"must differ from the primary ({primary_region})")
        self.service = service
        self.primary_region = primary_region
        self.secondary_region = secondary_region
        self.resources = self._checked_resources(resources or {})
        self.circuit_breaker = circuit_breaker
        self._client_factory = client_factory
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        _instances.add(self)

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary_region, self.secondary_region)

    def _checked_resources(self, resources: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        if not resources:
            return {}
        if set(resources) != set(self.regions):
            raise InvalidInputError(
                "resources", f"expected parameters for exactly {list(self.regions)}, got {sorted(resources)}"
            )
        names = {region: set(params) for region, params in resources.items()}
        if names[self.primary_region] != names[self.secondary_region]:
            raise InvalidInputError(
                "resources",
                f"both regions must name the same parameters: {sorted(names[self.primary_region])} "
                f"vs {sorted(names[self.secondary_region])}",
            )
        checked = {region: dict(params) for region, params in resources.items()}
        for region, params in checked.items():
            foreign = _foreign_arn(params, region)
            if foreign is not None:
                raise InvalidInputError("resources", f"{foreign} is not a resource of {region}")
        return checked

    def client(self, region: str) -> Any:
        """The client for ``region`` (one of the two), created on first use and then reused."""
        if region not in self.regions:
            raise InvalidInputError(
                "region", f"{region!r} is neither {self.primary_region} nor {self.secondary_region}"
            )
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._client_factory(self.service, region)
            return self._clients[region]

    def reset_clients(self) -> None:
        """Forget every client (the next call creates new ones)."""
        with self._lock:
            self._clients.clear()

    def _request(self, region: str, operation: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        regional = self.resources.get(region, {})
        passed = sorted(set(kwargs) & set(regional))
        if passed:
            raise InvalidInputError(
                "kwargs",
                f"{', '.join(passed)} address a regional resource: give them in resources, per region",
            )
        request = {**kwargs, **regional}
        foreign = _foreign_arn(request, region)
        if foreign is not None:
            # botocore would send this to the ARN's region, whatever the client's region.
            raise InvalidInputError("kwargs", f"{foreign} belongs to another region than {region}")
        return request

    def _execute(self, region: str, operation: str, request: Mapping[str, Any]) -> Any:
        method = getattr(self.client(region), operation, None)
        if not callable(method) or operation.startswith("_"):
            raise InvalidInputError("operation", f"{self.service} has no operation {operation!r}")
        return method(**request)

    def _emit_metric(self, reason: str, operation: str, error: BaseException | None) -> None:
        metrics.add_metric(name=FAILOVER_METRIC, unit=MetricUnit.Count, value=1)
        logger.warning(
            "cross-region failover",
            service=self.service,
            operation=operation,
            primary_region=self.primary_region,
            secondary_region=self.secondary_region,
            reason=reason,
            error=type(error).__name__ if error is not None else None,
        )

    def access_with_failover(self, operation: str, **kwargs: Any) -> Any:
        """Call ``operation`` (a boto3 method name) in the primary region, failing over if it is down."""
        primary_request = self._request(self.primary_region, operation, kwargs)
        secondary_request = self._request(self.secondary_region, operation, kwargs)
        breaker = self.circuit_breaker
        primary_error: BaseException | None = None
        if breaker is None or breaker.allow_primary():
            try:
                result = self._execute(self.primary_region, operation, primary_request)
            except (BotoCoreError, ClientError) as error:
                reason = failover_reason(error)
                if reason is None:
                    if breaker is not None:
                        breaker.record_success()
                    raise
                if breaker is not None:
                    breaker.record_failure()
                primary_error = error
            except BaseException:
                if breaker is not None:
                    breaker.release()  # no verdict on the primary (e.g. an unknown operation)
                raise
            else:
                if breaker is not None:
                    breaker.record_success()
                return result
        else:
            reason = "circuit-open"
        self._emit_metric(reason, operation, primary_error)
        try:
            return self._execute(self.secondary_region, operation, secondary_request)
        except (BotoCoreError, ClientError) as error:
            secondary_reason = failover_reason(error)
            if secondary_reason is None:
                raise
            raise CrossRegionUnavailableError(
                f"{self.service}.{operation} failed in both regions: {self.primary_region} ({reason}), "
                f"{self.secondary_region} ({secondary_reason})",
                service=self.service,
                operation=operation,
                primary_region=self.primary_region,
                secondary_region=self.secondary_region,
                primary_reason=reason,
                secondary_reason=secondary_reason,
            ) from error
