"""What every generator returns, the seeded randomness they share, and the upload to S3.

A generator is a pure function of ``(seed, size arguments)``: it never reads the clock, the
environment or a global random state, so the same call gives byte-identical files on every run
and every machine with the same library versions (which the tests pin in pyproject.toml).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import numpy as np

# S3 object metadata: what a discovery Lambda sees; the sandbox uses it to tell datasets apart.
CONTENT_TYPES: Final[Mapping[str, str]] = {
    "gdsii": "application/octet-stream",
    "oasis": "application/octet-stream",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "pcd": "application/octet-stream",
    "las": "application/vnd.las",
    "ply": "application/octet-stream",
    "kitti_bin": "application/octet-stream",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "document": "application/octet-stream",
}


@dataclass(frozen=True)
class SyntheticFile:
    """One generated file and the ground truth a parser or a workflow must find in it.

    ``key`` is relative (no leading ``/``): the sandbox prefixes it when uploading. ``kind`` names
    the format (``gdsii``, ``oasis``, ``png``, ``jpeg``, ``pcd``, ``las``, ``ply``, ``kitti_bin``,
    ``mp4``, ``mov``, ``document``), also for damaged files, whose ``expected`` then holds
    ``corrupt: True`` and a ``reason``. ``expected`` is JSON-able; treat it as read-only.
    """

    key: str
    data: bytes = field(repr=False)
    kind: str
    expected: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not self.key or self.key.startswith("/"):
            raise ValueError(f"a dataset key is relative and not empty: {self.key!r}")

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def corrupt(self) -> bool:
        return bool(self.expected.get("corrupt", False))

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.kind, "application/octet-stream")


def rng(seed: int, salt: str) -> random.Random:
    """A private stream per (generator, seed): two generators given the same seed stay independent.

    Seeding with a string is stable across Python versions (it is hashed with SHA-512), unlike
    ``hash()`` which PYTHONHASHSEED randomises.
    """
    return random.Random(f"{salt}:{seed}")


def np_rng(seed: int, salt: str) -> np.random.Generator:
    """The numpy counterpart of :func:`rng` (PCG64, stable across numpy releases by its policy)."""
    return np.random.default_rng([zlib.crc32(salt.encode("utf-8")), seed & 0xFFFFFFFF, seed >> 32])


class S3PutClient(Protocol):
    """The one call :func:`upload_files` makes; a boto3 S3 client satisfies it."""

    def put_object(self, **kwargs: Any) -> Mapping[str, Any]: ...


def upload_files(
    s3: S3PutClient, bucket: str, files: Iterable[SyntheticFile], *, prefix: str = ""
) -> list[str]:
    """Put every file under ``prefix`` in ``bucket``; returns the object keys in order.

    The client is injected (the sandbox passes its moto client); nothing here creates one. The
    file's kind travels as object metadata so a test can find the ground truth from a key.
    """
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    keys: list[str] = []
    for item in files:
        key = prefix + item.key
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=item.data,
            ContentType=item.content_type,
            Metadata={"dataset-kind": item.kind, "dataset-corrupt": str(item.corrupt).lower()},
        )
        keys.append(key)
    return keys
