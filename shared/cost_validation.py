"""Cost-related configuration checks, pure and shared by handlers, tests and templates.

Each section validates one opt-in cost feature and holds the bounds the matching nested stack
enforces in its parameter constraints (tests/templates compares the two, so a bound changes in
one place only). Sections so far:

* **ServerlessConfig** of a SageMaker Serverless Inference endpoint (SageMaker API reference,
  ``ProductionVariantServerlessConfig``): ``MemorySizeInMB`` in 1 GB steps from 1024 to 6144,
  ``MaxConcurrency`` 1-200, ``ProvisionedConcurrency`` at most ``MaxConcurrency``. The API's own
  range for provisioned concurrency starts at 1; here 0 means "none" (the template's
  ``HasProvisionedConcurrency`` condition then leaves the property out), so the accepted range is
  ``[0, MaxConcurrency]``.

Scheduled scaling, billing thresholds and auto-stop decisions belong here too and follow the same
pattern: a frozen dataclass, a ``validate_*`` function raising
:class:`~shared.errors.InvalidInputError` that names the field, and module-level bound constants
the templates are checked against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from shared.errors import InvalidInputError

__all__ = [
    "SERVERLESS_MAX_CONCURRENCY_RANGE",
    "SERVERLESS_MEMORY_SIZES_MB",
    "SERVERLESS_PROVISIONED_CONCURRENCY_MAX",
    "ServerlessConfig",
    "validate_serverless_config",
]

# --- Serverless Inference ----------------------------------------------------------------------

SERVERLESS_MEMORY_SIZES_MB: Final = (1024, 2048, 3072, 4096, 5120, 6144)
"""The only MemorySizeInMB values SageMaker accepts (1 GB increments)."""

SERVERLESS_MAX_CONCURRENCY_RANGE: Final = (1, 200)
"""Inclusive bounds of MaxConcurrency."""

SERVERLESS_PROVISIONED_CONCURRENCY_MAX: Final = 200
"""Upper bound of the ProvisionedConcurrency parameter; the real bound is MaxConcurrency."""

_KEYS: Final = ("MemorySizeInMB", "MaxConcurrency", "ProvisionedConcurrency")


@dataclass(frozen=True)
class ServerlessConfig:
    """A validated ServerlessConfig; ``provisioned_concurrency == 0`` means none."""

    memory_size_mb: int
    max_concurrency: int
    provisioned_concurrency: int = 0

    def to_api(self) -> dict[str, int]:
        """The ``ServerlessConfig`` of a production variant, as CreateEndpointConfig takes it."""
        config = {"MemorySizeInMB": self.memory_size_mb, "MaxConcurrency": self.max_concurrency}
        if self.provisioned_concurrency:
            config["ProvisionedConcurrency"] = self.provisioned_concurrency
        return config


def _integer(field: str, value: object) -> int:
    # Template parameters and environment variables arrive as strings: accept decimal digits only.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidInputError(field, f"expected an integer, got {value!r}")


def validate_serverless_config(config: Mapping[str, Any]) -> ServerlessConfig:
    """Validate a ServerlessConfig given with the API's keys; raise naming the first bad field.

    ``{"MemorySizeInMB": 2048, "MaxConcurrency": 5}`` (values may be integer strings, as
    CloudFormation passes them); ``ProvisionedConcurrency`` is optional, 0 when absent.
    """
    if not isinstance(config, Mapping):
        raise InvalidInputError("ServerlessConfig", f"expected a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(_KEYS))
    if unknown:
        raise InvalidInputError("ServerlessConfig", f"unknown keys {unknown} (allowed: {', '.join(_KEYS)})")
    for required in _KEYS[:2]:
        if required not in config:
            raise InvalidInputError(required, "is required")
    memory = _integer("MemorySizeInMB", config["MemorySizeInMB"])
    if memory not in SERVERLESS_MEMORY_SIZES_MB:
        raise InvalidInputError(
            "MemorySizeInMB",
            f"must be one of {', '.join(map(str, SERVERLESS_MEMORY_SIZES_MB))}, got {memory}",
        )
    low, high = SERVERLESS_MAX_CONCURRENCY_RANGE
    concurrency = _integer("MaxConcurrency", config["MaxConcurrency"])
    if not low <= concurrency <= high:
        raise InvalidInputError("MaxConcurrency", f"must be between {low} and {high}, got {concurrency}")
    provisioned = _integer("ProvisionedConcurrency", config.get("ProvisionedConcurrency", 0))
    if not 0 <= provisioned <= concurrency:
        raise InvalidInputError(
            "ProvisionedConcurrency",
            f"must be between 0 (none) and MaxConcurrency ({concurrency}), got {provisioned}",
        )
    return ServerlessConfig(memory, concurrency, provisioned)
