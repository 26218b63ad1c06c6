"""The Process Layouts step: one Distributed Map item (a batch of keys) → catalogue records.

Each key is read straight from the S3 Access Point, never copied: a full scan streams the object
once in 1 MiB chunks (:func:`shared.s3ap.open_stream`); a header-only scan issues one HeadObject
and one ranged GET of the first 64 KiB (:class:`shared.s3ap.RangeReader`). Records (or error
records: INVALID files with their byte offset and reason) go to the run's ``parts/`` through
:func:`shared.batch.process_batch`, which never lets one bad file sink the batch.
"""

from __future__ import annotations

from typing import Any

from semiconductor_eda.catalogue import HEADER_LIMIT, catalogue_record, read_layout
from semiconductor_eda.settings import ExtractSettings
from semiconductor_eda.streams import CHUNK_SIZE
from shared.batch import BatchRequest, BatchSummary, process_batch
from shared.s3ap import RangeReader, S3Client, open_stream


def catalogue_object(settings: ExtractSettings, key: str, *, s3: S3Client | None = None) -> dict[str, Any]:
    """The catalogue record of one layout on the access point."""
    if settings.mode == "header":
        with RangeReader(
            settings.access_point, key, s3=s3, block_size=HEADER_LIMIT, cache_blocks=1
        ) as reader:
            metadata = read_layout(reader, mode="header")
            return catalogue_record(key, metadata, size=reader.size)
    with open_stream(settings.access_point, key, s3=s3) as stream:
        metadata = read_layout(stream.iter_chunks(CHUNK_SIZE), mode="full")
        return catalogue_record(key, metadata, size=stream.size)


def extract_batch(
    settings: ExtractSettings, request: BatchRequest, *, s3: S3Client | None = None
) -> BatchSummary:
    """Catalogue every file of the batch into ``runs/<run_id>/parts/batch-<n>.jsonl``."""
    return process_batch(request, lambda key: catalogue_object(settings, key, s3=s3), settings.output, s3=s3)
