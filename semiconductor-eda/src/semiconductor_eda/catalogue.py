"""One layout file → one catalogue record: sniff the format, run its reader, shape the record.

The format is decided by the file's first bytes (OASIS magic, or a GDSII HEADER record), not by
its name: a ``.gds`` that is really OASIS is read as OASIS and its record says both. A file that
is neither raises :class:`~shared.errors.FileFormatError` at offset 0, like any other damage, so
the batch turns it into an INVALID entry instead of a crash or an empty record.
"""

from __future__ import annotations

from typing import Any, Final

from semiconductor_eda import gdsii, oasis
from semiconductor_eda.layout import LayoutMetadata, Mode
from semiconductor_eda.streams import ByteSource, ChunkBuffer, chain, iter_chunks, sniff
from shared.errors import FileFormatError

SUFFIXES: Final = {".gds": "gdsii", ".gds2": "gdsii", ".gdsii": "gdsii", ".oas": "oasis", ".oasis": "oasis"}
"""What discovery lists (FILE_SUFFIXES) and the format each name announces."""
HEADER_LIMIT: Final = max(gdsii.HEADER_LIMIT, oasis.HEADER_LIMIT)
_SNIFF_BYTES: Final = 16


def format_from_name(key: str) -> str | None:
    lowered = key.lower()
    return next((fmt for suffix, fmt in SUFFIXES.items() if lowered.endswith(suffix)), None)


def read_layout(source: ByteSource, *, mode: Mode = "full") -> LayoutMetadata:
    """Metadata of the GDSII or OASIS file in ``source`` (read once; header mode: ≤ 64 KiB)."""
    chunks = iter_chunks(source, limit=HEADER_LIMIT if mode == "header" else None)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _SNIFF_BYTES:
            break
    kind = sniff(head)
    if kind is None:
        if not head:
            raise FileFormatError("empty file", offset=0, reason="empty")
        raise FileFormatError(
            "neither an OASIS file (magic %SEMI-OASIS) nor a GDSII stream (HEADER record)",
            offset=0,
            reason="unknown_format",
        )
    if kind == "oasis":
        return oasis.scan(b"", mode=mode, chunks=chain(head, chunks))
    return gdsii.scan(b"", mode=mode, chunks=ChunkBuffer(chain(head, chunks)))


def catalogue_record(key: str, metadata: LayoutMetadata, *, size: int | None = None) -> dict[str, Any]:
    """The catalogue record of ``key``: identity, size, and everything the reader extracted."""
    named = format_from_name(key)
    record: dict[str, Any] = {"key": key, "size": size if size is not None else metadata.bytes_read}
    record |= metadata.to_record()
    record["format_from_name"] = named
    return record
