"""A streaming LZF decoder (liblzf's format, what PCL's ``binary_compressed`` uses).

Two token kinds follow each other: ``000LLLLL`` then L + 1 literal bytes, or ``LLLooooo
[extra] oooooooo``, a copy of ``L + 2`` bytes (``extra + 9`` when L is 7) from ``offset + 1`` bytes
back (at most 8,192). So only the last 8 KiB of output is ever needed: the decoder keeps that
window, decodes the compressed bytes as they arrive and yields output in blocks of at most
``block`` bytes, whatever the input's size or compression ratio (a 1 MB run of zeros, 88 MB once
decoded, still comes out 1 MB at a time).

Anything the format cannot produce — a copy reaching before the first byte, output beyond the
declared size, input ending inside a token or before the declared size is reached — raises
:class:`~shared.errors.FileFormatError` with the compressed byte's absolute offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from shared.errors import FileFormatError

WINDOW: Final = 8192
DEFAULT_BLOCK: Final = 1 << 20


def decompress(  # noqa: PLR0912, PLR0915 - one hot loop: a helper call per token would halve throughput
    chunks: Iterable[bytes], expected_size: int, *, base_offset: int = 0, block: int = DEFAULT_BLOCK
) -> Iterator[bytes]:
    """Decode the LZF stream in ``chunks`` to exactly ``expected_size`` bytes, ``block`` bytes at a time."""
    history = bytearray()
    out = bytearray()
    pending = b""
    consumed = 0  # compressed bytes fully decoded (absolute: base_offset + consumed)
    produced = 0
    for chunk in chunks:
        source = pending + bytes(chunk) if pending else bytes(chunk)
        index, size = 0, len(source)
        out = bytearray(history)
        start = len(out)
        while index < size:
            control = source[index]
            if control < 32:
                length = control + 1
                if index + 1 + length > size:
                    break
                out += source[index + 1 : index + 1 + length]
                index += 1 + length
            else:
                length = control >> 5
                cursor = index + 1
                if length == 7:
                    if cursor >= size:
                        break
                    length += source[cursor]
                    cursor += 1
                if cursor >= size:
                    break
                distance = ((control & 0x1F) << 8) + source[cursor] + 1
                cursor += 1
                length += 2
                reference = len(out) - distance
                if reference < 0:
                    raise FileFormatError(
                        f"LZF copy reaches {distance} bytes back, before the start of the data",
                        offset=base_offset + consumed + index,
                    )
                if distance >= length:
                    out += out[reference : reference + length]
                else:  # overlapping copy: the last `distance` bytes repeat
                    pattern = bytes(out[reference:])
                    out += (pattern * (length // distance + 1))[:length]
                index = cursor
            if len(out) - start >= block:
                produced = _emit_check(
                    produced, len(out) - start, expected_size, base_offset + consumed + index
                )
                yield bytes(out[start:])
                del out[: max(0, len(out) - WINDOW)]
                start = len(out)
        produced = _emit_check(produced, len(out) - start, expected_size, base_offset + consumed + index)
        if len(out) > start:
            yield bytes(out[start:])
        history = out[-WINDOW:]
        consumed += index
        pending = source[index:]
    if pending:
        raise FileFormatError("LZF data ends inside a token (truncated)", offset=base_offset + consumed)
    if produced != expected_size:
        raise FileFormatError(
            f"LZF data decodes to {produced} bytes, the header declares {expected_size} (truncated)",
            offset=base_offset + consumed,
        )


def _emit_check(produced: int, new: int, expected_size: int, offset: int) -> int:
    produced += new
    if produced > expected_size:
        raise FileFormatError(
            f"LZF data decodes to more than the declared {expected_size} bytes", offset=offset
        )
    return produced
