"""State that must not outlive a SnapStart restore is dropped right after it.

With SnapStart, Lambda snapshots the initialised process once and resumes many execution
environments from that one snapshot. Whatever the snapshot holds is then shared by all of them:
open connections (dead after restore), cached credentials, and the random generator's state (every
environment would draw the same "random" jitter). Shared modules therefore keep such state in
lazily created caches and register here how to drop it; one dispatcher is registered with the
runtime's hook library (``snapshot_restore_py``, present in the managed Python runtimes), and is
simply not registered where that library is absent (tests, the sandbox, a runtime without
SnapStart). Nothing here opens a connection or reads configuration.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_after_restore: list[Callable[[], object]] = []


def after_restore(callback: Callable[[], object]) -> Callable[[], object]:
    """Register ``callback`` to run after every restore (in registration order); usable as a decorator."""
    _after_restore.append(callback)
    return callback


def run_after_restore_hooks() -> None:
    """What the runtime calls after a restore; tests call it to play a restore."""
    for callback in list(_after_restore):
        callback()


# Each resumed environment must draw its own jitter, not the snapshot's sequence.
after_restore(random.seed)

try:
    from snapshot_restore_py import register_after_restore
except ImportError:  # not a SnapStart-capable Lambda runtime
    pass
else:
    register_after_restore(run_after_restore_hooks)
