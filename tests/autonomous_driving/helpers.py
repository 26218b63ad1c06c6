"""Helpers of the autonomous-driving tests (imported as ``tests.autonomous_driving.helpers``)."""

from __future__ import annotations

import io

ALIAS = "drive-logs-sbx0a1b2c3d4e5f6g7h8i9j0k1l2-ext-s3alias"
"""The access point alias the sandbox scenario and the event files use."""
OUTPUT = "autonomous-driving-outputbucket-30ebef5967e5"
"""The output bucket the sandbox gives the stack (and the event files name)."""
REGION = "ap-northeast-1"
RUN_ID = "drive-2025-04-01-run-0007"


class CountingReader(io.BytesIO):
    """BytesIO that records the byte ranges a parser reads."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.ranges: list[tuple[int, int]] = []

    def read(self, size: int | None = -1, /) -> bytes:
        start = self.tell()
        data = super().read(size)
        self.ranges.append((start, len(data)))
        return data

    @property
    def bytes_read(self) -> int:
        return sum(length for _, length in self.ranges)


def chunked(data: bytes, size: int) -> list[bytes]:
    """``data`` as chunks of ``size`` bytes (the last may be shorter)."""
    return [data[start : start + size] for start in range(0, len(data), size)]
