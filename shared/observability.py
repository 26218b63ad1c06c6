"""Powertools Logger, Metrics (EMF) and Tracer: one instance of each per Lambda process.

Service name and metrics namespace come from the standard Powertools variables the templates set
in ``Globals`` (``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``); nothing here reads
configuration of its own. Handlers decorate with ``logger.inject_lambda_context``,
``metrics.log_metrics`` and ``tracer.capture_lambda_handler``; shared modules only log and add
metrics. Never pass a secret, a password or a Step Functions task token to the logger.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
tracer = Tracer()

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
