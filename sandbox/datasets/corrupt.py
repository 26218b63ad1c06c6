"""Damaged copies of valid files: truncated, bytes overwritten, or garbage under a real extension.

Real estates hold such files (an interrupted copy, a half-written export, a renamed binary); a
pipeline must turn each into an error record instead of crashing or, worse, reporting nonsense.
Format-specific damage (a GDSII record header, a PNG chunk checksum …) lives with its format;
these helpers only cut, patch and describe, so every damaged file says what was done to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.datasets.base import SyntheticFile, rng


def variant_key(key: str, tag: str) -> str:
    """``dir/name.ext`` → ``dir/name.<tag>.ext``: the extension stays, as it does on a real share,
    so extension-based routing still sends the file to the parser that must reject it."""
    head, slash, name = key.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    renamed = f"{stem}.{tag}.{ext}" if dot and stem else f"{name}.{tag}"
    return f"{head}{slash}{renamed}"


def corrupt_expected(valid: SyntheticFile | None, reason: str, **detail: Any) -> dict[str, Any]:
    expected: dict[str, Any] = {"corrupt": True, "reason": reason}
    if valid is not None:
        expected["valid_key"] = valid.key
        expected["valid_size"] = valid.size
    expected.update(detail)
    return expected


def truncate(
    valid: SyntheticFile,
    seed: int,
    *,
    low: int = 1,
    high: int | None = None,
    tag: str = "truncated",
    **detail: Any,
) -> SyntheticFile:
    """Cut ``valid`` at a seeded offset in ``[low, high)`` (default: anywhere but the full file).

    Callers pick the window so the cut lands where it hurts (inside the data, not in trailing
    padding a lenient reader would not miss).
    """
    end = valid.size if high is None else high
    if not 0 < low < end <= valid.size:
        raise ValueError(f"cannot cut a {valid.size}-byte file in [{low}, {end})")
    cut = rng(seed, f"truncate:{valid.key}").randrange(low, end)
    return SyntheticFile(
        key=variant_key(valid.key, tag),
        data=valid.data[:cut],
        kind=valid.kind,
        expected=corrupt_expected(valid, "truncated", size=cut, **detail),
    )


def patch(
    valid: SyntheticFile,
    changes: Mapping[int, bytes],
    *,
    reason: str,
    tag: str = "corrupt",
    **detail: Any,
) -> SyntheticFile:
    """Overwrite bytes at the given offsets; the result has the valid file's size."""
    data = bytearray(valid.data)
    for offset, replacement in changes.items():
        if offset < 0 or offset + len(replacement) > len(data):
            raise ValueError(f"patch at {offset} (+{len(replacement)}) outside a {len(data)}-byte file")
        data[offset : offset + len(replacement)] = replacement
    if bytes(data) == valid.data:
        raise ValueError("the patch leaves the file unchanged")
    offsets = sorted(changes)
    return SyntheticFile(
        key=variant_key(valid.key, tag),
        data=bytes(data),
        kind=valid.kind,
        expected=corrupt_expected(valid, reason, offsets=offsets, **detail),
    )


def garbage(seed: int, *, key: str, kind: str, size: int = 4096, prefix: bytes = b"") -> SyntheticFile:
    """Seeded random bytes under a real extension, optionally after a genuine magic number
    (``prefix``) so that sniffing the first bytes is not enough to reject it."""
    if size < len(prefix):
        raise ValueError("size must cover the prefix")
    noise = rng(seed, f"garbage:{key}").randbytes(size - len(prefix))
    return SyntheticFile(
        key=key,
        data=prefix + noise,
        kind=kind,
        expected=corrupt_expected(None, "garbage", magic_prefix=prefix.hex() or None),
    )
