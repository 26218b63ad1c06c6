"""shared.observability: log lines go where sys.stdout points when they are written."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from shared.observability import logger


def test_log_lines_follow_the_current_stdout() -> None:
    # Powertools binds a logger's stream once per service name for the process; a stream swapped
    # later (a test's capture, the sandbox's per-run log file) must still receive the lines.
    first, second = io.StringIO(), io.StringIO()
    with redirect_stdout(first):
        logger.warning("first destination")
    with redirect_stdout(second):
        logger.warning("second destination")
    assert [json.loads(line)["message"] for line in first.getvalue().splitlines()] == ["first destination"]
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["second destination"]
