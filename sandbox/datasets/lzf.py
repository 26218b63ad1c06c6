"""An LZF compressor (Marc Lehmann's liblzf format), for PCD ``DATA binary_compressed``.

PCL compresses with liblzf and no LZF wheel is part of the toolchain, so the generator carries
its own. The output is what liblzf's ``lzf_decompress`` (and so PCL) reads:

* ``000LLLLL`` + L+1 literal bytes (runs of 1..32);
* ``LLLooooo [len] oooooooo``: copy from ``offset + 1`` bytes back (offset < 8192), length
  ``L + 2`` for L in 1..6, or ``len + 9`` when L is 7 (lengths 3..264).

Matching is greedy over a dictionary of 3-byte prefixes; the ratio is not liblzf's, the format is.
"""

from __future__ import annotations

from typing import Final

MAX_LITERAL: Final = 32
MAX_OFFSET: Final = 1 << 13
MAX_MATCH: Final = 264
MIN_MATCH: Final = 3


def _literals(out: bytearray, chunk: bytes) -> None:
    for start in range(0, len(chunk), MAX_LITERAL):
        run = chunk[start : start + MAX_LITERAL]
        out.append(len(run) - 1)
        out += run


def lzf_compress(data: bytes) -> bytes:
    """Compress ``data``; incompressible input grows by at most 1/32 (one control byte per run)."""
    out = bytearray()
    last_seen: dict[bytes, int] = {}
    size = len(data)
    literal_start = 0
    position = 0
    while position + MIN_MATCH <= size:
        prefix = data[position : position + MIN_MATCH]
        candidate = last_seen.get(prefix)
        last_seen[prefix] = position
        if candidate is None or position - candidate > MAX_OFFSET:
            position += 1
            continue
        limit = min(MAX_MATCH, size - position)
        length = MIN_MATCH
        while length < limit and data[candidate + length] == data[position + length]:
            length += 1
        _literals(out, data[literal_start:position])
        offset = position - candidate - 1
        code = length - 2
        if code < 7:
            out.append((code << 5) | (offset >> 8))
        else:
            out.append((7 << 5) | (offset >> 8))
            out.append(code - 7)
        out.append(offset & 0xFF)
        # Index the positions the match covered, so later repeats of them are found too.
        for inside in range(position + 1, min(position + length, size - MIN_MATCH + 1)):
            last_seen[data[inside : inside + MIN_MATCH]] = inside
        position += length
        literal_start = position
    _literals(out, data[literal_start:])
    return bytes(out)
