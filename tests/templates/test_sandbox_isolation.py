"""Nothing shipped to Lambda knows the sandbox exists: no import of it, no switch on it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted({*REPO_ROOT.glob("shared/**/*.py"), *REPO_ROOT.glob("*/src/**/*.py")})
SANDBOX_AWARE = re.compile(r"^\s*(from|import)\s+(sandbox|moto)\b|\bSANDBOX\b", re.MULTILINE)


def test_there_is_shipped_code() -> None:
    assert len(SHIPPED) > 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shipped_code_has_no_sandbox_branch(path: Path) -> None:
    assert not SANDBOX_AWARE.search(path.read_text(encoding="utf-8")), path
