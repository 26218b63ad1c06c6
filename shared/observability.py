"""Powertools Logger, Metrics (EMF) and Tracer: one instance of each per Lambda process.

Service name and metrics namespace come from the standard Powertools variables the templates set
in ``Globals`` (``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``); nothing here reads
configuration of its own. Handlers decorate with ``logger.inject_lambda_context``,
``metrics.log_metrics`` and ``tracer.capture_lambda_handler``; shared modules only log and add
metrics. Never pass a secret, a password or a Step Functions task token to the logger.
"""

from __future__ import annotations

import sys
from typing import IO, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit


class _CurrentStdout:
    """``sys.stdout`` as it is at each write, where Powertools would keep the one of the first
    ``Logger()`` of a service for the life of the process.

    On Lambda the two are the same. Where something swaps ``sys.stdout`` around an invocation (a
    test capturing output, a local runner sending function logs to a file), log lines then follow
    it as EMF metrics (printed) already do, instead of going to a stream closed long ago.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(stream=cast(IO[str], _CurrentStdout()))  # all a StreamHandler calls: write, flush
metrics = Metrics()
tracer = Tracer()

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
