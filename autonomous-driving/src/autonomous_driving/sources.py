"""The two ways parsers see a file, and nothing else: a seekable reader or a stream of chunks.

* Header parsers (images, video, the LAZ header) take a :class:`Seekable` and its size: in Lambda
  a :class:`shared.s3ap.RangeReader` (each read is a ranged GET, small reads share a cached block),
  in tests and benchmarks ``io.BytesIO`` or an open file. They read only what they need.
* The point-cloud pass takes an iterator of byte chunks (``ObjectStream.iter_chunks()``, a local
  file read in chunks, or chunks of any size a test chooses, down to one byte) through
  :class:`ChunkReader`, which holds at most one chunk plus the record being decoded.

Both turn "the file ended here" into :class:`~shared.errors.FileFormatError` with the byte offset,
the one error a parser raises.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Protocol

from shared.errors import FileFormatError


class Seekable(Protocol):
    """What a header parser needs from a file: positioned reads."""

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int: ...

    def read(self, size: int = -1, /) -> bytes: ...


def read_at(reader: Seekable, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes at ``offset`` (fewer at the end of the file)."""
    if length <= 0:
        return b""
    reader.seek(offset)
    data = reader.read(length)
    return bytes(data or b"")


def read_exact(reader: Seekable, offset: int, length: int, what: str) -> bytes:
    """Exactly ``length`` bytes at ``offset``, or FileFormatError naming ``what`` was cut short."""
    data = read_at(reader, offset, length)
    if len(data) != length:
        raise FileFormatError(
            f"{what}: the file ends {len(data)} bytes into a {length}-byte structure",
            offset=offset + len(data),
        )
    return data


def iter_file_chunks(stream: io.RawIOBase | io.BufferedIOBase, chunk_size: int) -> Iterator[bytes]:
    """A local file object as chunks (benchmarks and tests stand a file in for the S3 stream)."""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        yield bytes(chunk)


class ChunkReader:
    """Sequential reads over an iterator of chunks, with the absolute offset of the next byte.

    ``read(n)`` returns exactly ``n`` bytes or fewer only at the end of the data; ``take(limit)``
    returns whatever is buffered (refilling once when empty) so that bulk consumers work chunk by
    chunk without copying them together. Memory: the unconsumed rest of one chunk plus what a
    caller asks for at once.
    """

    __slots__ = ("_buffer", "_chunks", "_pos", "offset")

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self._pos = 0
        self.offset = 0
        """Absolute offset of the next byte to be returned."""

    def _refill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buffer = bytes(chunk)
                self._pos = 0
                return True
        self._buffer, self._pos = b"", 0
        return False

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes, fewer only when the data ends."""
        if size <= 0:
            return b""
        available = len(self._buffer) - self._pos
        if available >= size:
            data = self._buffer[self._pos : self._pos + size]
            self._pos += size
            self.offset += size
            return data
        parts = [self._buffer[self._pos :]] if available else []
        needed = size - available
        self.offset += available
        self._buffer, self._pos = b"", 0
        while needed > 0 and self._refill():
            take = min(needed, len(self._buffer))
            parts.append(self._buffer[:take])
            self._pos = take
            needed -= take
            self.offset += take
        return b"".join(parts)

    def read_exact(self, size: int, what: str) -> bytes:
        start = self.offset
        data = self.read(size)
        if len(data) != size:
            raise FileFormatError(
                f"{what}: the file ends {len(data)} bytes into a {size}-byte structure",
                offset=start + len(data),
            )
        return data

    def take(self, limit: int) -> bytes:
        """Between 1 and ``limit`` bytes (``b""`` only at the end): what is buffered, no copying of chunks."""
        if limit <= 0:
            return b""
        if self._pos >= len(self._buffer) and not self._refill():
            return b""
        end = min(len(self._buffer), self._pos + limit)
        data = self._buffer[self._pos : end] if (self._pos or end != len(self._buffer)) else self._buffer
        self.offset += end - self._pos
        self._pos = end
        return data

    def readline(self, limit: int, what: str) -> bytes:
        """One line including its ``\\n`` (or the rest of the data); FileFormatError past ``limit`` bytes."""
        parts: list[bytes] = []
        length = 0
        while True:
            if self._pos >= len(self._buffer) and not self._refill():
                return b"".join(parts)
            newline = self._buffer.find(b"\n", self._pos)
            end = len(self._buffer) if newline < 0 else newline + 1
            length += end - self._pos
            if length > limit:
                raise FileFormatError(
                    f"{what}: a header line is longer than {limit} bytes", offset=self.offset
                )
            parts.append(self._buffer[self._pos : end])
            self.offset += end - self._pos
            self._pos = end
            if newline >= 0:
                return b"".join(parts)

    def skip(self, size: int) -> int:
        """Skip up to ``size`` bytes; returns how many were skipped (fewer at the end)."""
        skipped = 0
        while skipped < size:
            data = self.take(min(size - skipped, 1 << 20))
            if not data:
                break
            skipped += len(data)
        return skipped

    def drain(self) -> int:
        """Consume the rest of the data; returns its length."""
        total = 0
        while True:
            data = self.take(1 << 24)
            if not data:
                return total
            total += len(data)
