"""Byte sources for the layout readers: any stream becomes an iterator of chunks, read once.

The readers take what the S3 Access Point adapter gives (an :class:`~shared.s3ap.ObjectStream`
for a full scan, the bytes of one ranged GET or a :class:`~shared.s3ap.RangeReader` for a header),
a local file object, plain bytes, or any iterable of byte chunks (what tests and benchmarks
feed, down to one byte at a time). Nothing is ever read twice or held beyond one chunk and the
record being decoded, so memory does not depend on the file size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from shared.errors import FileFormatError

CHUNK_SIZE = 1024 * 1024
"""Bytes per read from a file-like source: one S3 GET body chunk, large enough to amortise calls."""


@runtime_checkable
class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


ByteSource = bytes | bytearray | memoryview | Readable | Iterable[bytes]


def iter_chunks(
    source: ByteSource, *, chunk_size: int = CHUNK_SIZE, limit: int | None = None
) -> Iterator[bytes]:
    """Chunks of ``source`` as ``bytes``, stopping after ``limit`` bytes when given.

    With a limit, a file-like source is never asked for more than ``limit`` bytes in total
    (a :class:`~shared.s3ap.RangeReader` then fetches exactly that range).
    """
    if limit is not None:
        chunk_size = max(1, min(chunk_size, limit))
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        raw: Iterator[bytes] = (data[i : i + chunk_size] for i in range(0, len(data), chunk_size))
    elif isinstance(source, Readable):
        reader = source
        raw = iter(lambda: reader.read(chunk_size), b"")
    else:
        raw = iter(source)
    return raw if limit is None else _limited(raw, limit)


def _limited(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    left = limit
    while left > 0:  # checked before asking for more: a ranged source is never read past the limit
        chunk = next(chunks, None)
        if chunk is None:
            return
        if len(chunk) > left:
            chunk = chunk[:left]
        left -= len(chunk)
        yield chunk


class ChunkBuffer:
    """A sliding window over a chunk iterator with absolute offsets.

    ``buf[pos:]`` holds the bytes not yet consumed; :meth:`fill` appends chunks until ``need``
    bytes are available or the source ends. Only the unconsumed tail is copied on refill, so
    a reader that consumes as it goes holds about one chunk.
    """

    __slots__ = ("base", "buf", "chunks", "exhausted", "pos")

    def __init__(self, chunks: Iterator[bytes], initial: bytes = b"", base: int = 0) -> None:
        self.chunks = chunks
        self.buf = initial
        self.pos = 0
        self.base = base
        self.exhausted = False

    @property
    def offset(self) -> int:
        """Absolute offset of the next unconsumed byte."""
        return self.base + self.pos

    def fill(self, need: int) -> bool:
        """Make ``need`` bytes available at ``pos``; False if the source ends first."""
        if len(self.buf) - self.pos >= need:
            return True
        if self.exhausted:
            return False
        parts = [self.buf[self.pos :]]
        have = len(parts[0])
        for chunk in self.chunks:
            if not chunk:
                continue
            parts.append(chunk)
            have += len(chunk)
            if have >= need:
                break
        else:
            self.exhausted = True
        self.base += self.pos
        self.pos = 0
        self.buf = b"".join(parts) if len(parts) > 1 else parts[0]
        return have >= need

    def at_end(self) -> bool:
        return not self.fill(1)

    def take(self, count: int, what: str) -> bytes:
        """The next ``count`` bytes, or a truncation error naming ``what``."""
        if not self.fill(count):
            raise truncated(self.offset, what, self.base + len(self.buf))
        data = self.buf[self.pos : self.pos + count]
        self.pos += count
        return data


def truncated(offset: int, what: str, size: int) -> FileFormatError:
    return FileFormatError(
        f"file ends inside {what} (it has {size} bytes): truncated", offset=offset, reason="truncated"
    )


def sniff(head: bytes) -> str | None:
    """``"oasis"``, ``"gdsii"`` or None from the first bytes of a file."""
    if head.startswith(b"%SEMI-OASIS\r\n"):
        return "oasis"
    # A GDSII stream starts with its HEADER record: length 6, type 0x00, data type INT2.
    if head[:4] == b"\x00\x06\x00\x02":
        return "gdsii"
    return None


def chain(first: bytes, rest: Iterable[bytes]) -> Iterator[bytes]:
    """Put back bytes read ahead (for sniffing) in front of the remaining chunks."""
    if first:
        yield first
    yield from rest
