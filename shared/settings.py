"""Reading a function's settings from its environment: one rule for a missing value everywhere.

Each handler builds one settings object from ``os.environ``; a variable the template must set
and did not becomes an :class:`~shared.errors.InvalidInputError` naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import InvalidInputError


def required(environ: Mapping[str, str], name: str, *, when: str = "") -> str:
    """The non-blank value of ``name``; ``when`` says under which setting it becomes required."""
    value = environ.get(name, "").strip()
    if not value:
        raise InvalidInputError(name, f"is required when {when}" if when else "is required")
    return value
