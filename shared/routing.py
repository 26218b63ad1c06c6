"""Deterministic four-way inference routing: which SageMaker path serves a run.

The decision is made twice, once here and once as the ASL ``Choice`` state in
``shared/asl/inference-routing.asl.json`` that every use case embeds unchanged; a test executes
that fragment in moto's Step Functions interpreter for every input class and compares it with
:func:`determine_inference_path`, so the two cannot drift apart.

Rules, in order:

1. every input is validated first: ``file_count`` and ``batch_threshold`` are non-negative
   integers, ``inference_type`` one of :data:`INFERENCE_TYPES` (case-sensitive);
2. ``"none"`` → Batch Transform (no endpoint is deployed);
3. ``"serverless"`` → Serverless Inference;
4. ``"components"`` → Inference Components;
5. ``"provisioned"``: ``file_count >= batch_threshold`` → Batch Transform, otherwise the
   real-time endpoint.

A rejected input raises :class:`~shared.errors.InvalidInputError`; the ASL fragment ends in a
``Fail`` state whose error is the same class name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from shared.errors import InvalidInputError

__all__ = [
    "INFERENCE_TYPES",
    "REJECTED_STATE",
    "ROUTING_STATE",
    "InferencePath",
    "determine_inference_path",
]

INFERENCE_TYPES: Final = ("none", "provisioned", "serverless", "components")
"""The values of a use case's ``InferenceType`` parameter (its AllowedValues)."""

ROUTING_STATE: Final = "Route Inference"
"""Name of the ASL Choice state; the fragment's input is ``$.routing``."""

REJECTED_STATE: Final = "Inference Routing Rejected"
"""Name of the ASL Fail state the Choice goes to when an input is invalid."""


class InferencePath(StrEnum):
    """The four ways a run can reach a model. Values are what the handlers and ASL exchange."""

    BATCH_TRANSFORM = "batch_transform"
    REALTIME_ENDPOINT = "realtime_endpoint"
    SERVERLESS_INFERENCE = "serverless_inference"
    INFERENCE_COMPONENTS = "inference_components"

    @property
    def state_name(self) -> str:
        """The ASL state the routing Choice sends this path to (Title Case, one name everywhere)."""
        return _STATE_NAMES[self]


_STATE_NAMES: Final = {
    InferencePath.BATCH_TRANSFORM: "Batch Transform",
    InferencePath.REALTIME_ENDPOINT: "Realtime Endpoint",
    InferencePath.SERVERLESS_INFERENCE: "Serverless Inference",
    InferencePath.INFERENCE_COMPONENTS: "Inference Components",
}

_FIXED_PATHS: Final = {
    "none": InferencePath.BATCH_TRANSFORM,
    "serverless": InferencePath.SERVERLESS_INFERENCE,
    "components": InferencePath.INFERENCE_COMPONENTS,
}


def _count(field: str, value: object) -> int:
    # bool is an int in Python but not a count; ASL's IsNumeric is false for booleans too.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(field, f"expected a non-negative integer, got {value!r}")
    if value < 0:
        raise InvalidInputError(field, f"may not be negative, got {value}")
    return value


def determine_inference_path(file_count: int, batch_threshold: int, inference_type: str) -> InferencePath:
    """The one path for these inputs; the same inputs always give the same path.

    Raises :class:`InvalidInputError` naming the field for a negative or non-integer count or
    threshold and for an inference type outside :data:`INFERENCE_TYPES`.
    """
    count = _count("file_count", file_count)
    threshold = _count("batch_threshold", batch_threshold)
    if not isinstance(inference_type, str) or inference_type not in INFERENCE_TYPES:
        raise InvalidInputError(
            "inference_type", f"expected one of {', '.join(INFERENCE_TYPES)}, got {inference_type!r}"
        )
    fixed = _FIXED_PATHS.get(inference_type)
    if fixed is not None:
        return fixed
    return InferencePath.BATCH_TRANSFORM if count >= threshold else InferencePath.REALTIME_ENDPOINT
