"""One file's quality check through the S3 Access Point: the right reader for its format, then the rules.

* camera frames, video clips and LAZ headers: a :class:`shared.s3ap.RangeReader` (one HeadObject
  for size and ETag, then ranged GETs of :data:`HEADER_BLOCK` bytes, cached);
* PCD, LAS, PLY and KITTI: one GetObject streamed in :data:`STREAM_CHUNK` chunks, read once.

Every record says what it cost (``io.requests``, ``io.bytes_read``: the bytes S3 returned), so the
"headers only" promise is visible in each run's output. A file that is not what its extension
says raises :class:`~shared.errors.FileFormatError`; :func:`shared.batch.process_batch` turns that
into the file's error record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from autonomous_driving.catalogue import FileClass, Kind, classify
from autonomous_driving.images import inspect_image
from autonomous_driving.pointclouds import inspect_laz_header, scan_pointcloud
from autonomous_driving.qc import Assessment, Thresholds, assess_cloud, assess_image, assess_video
from autonomous_driving.video import inspect_video
from shared.errors import FileFormatError, InvalidInputError
from shared.s3ap import (
    AccessPoint,
    OutputLocation,
    RangeReader,
    S3Client,
    default_s3_client,
    open_stream,
    stat_object,
)

HEADER_BLOCK: Final = 64 * 1024
"""RangeReader block for header reads: one GET covers a PNG/JPEG header or an MP4 ``moov`` start."""

STREAM_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True)
class QualitySettings:
    """CheckQualityFunction's configuration: where the files are, where results go, the thresholds."""

    access_point: AccessPoint
    output: OutputLocation
    thresholds: Thresholds

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> QualitySettings:
        for required in ("ACCESS_POINT", "OUTPUT_BUCKET"):
            if not environ.get(required):
                raise InvalidInputError(required, "is not set")
        return cls(
            access_point=AccessPoint.parse(environ["ACCESS_POINT"]),
            output=OutputLocation(environ["OUTPUT_BUCKET"], environ.get("OUTPUT_PREFIX", "")),
            thresholds=Thresholds.from_env(environ),
        )


class CountingS3:
    """A boto3 S3 client that counts GetObject/HeadObject requests and the bytes GetObject returned."""

    def __init__(self, client: S3Client) -> None:
        self._client = client
        self.requests = 0
        self.bytes_read = 0

    def get_object(self, **kwargs: Any) -> Any:
        self.requests += 1
        response = self._client.get_object(**kwargs)
        self.bytes_read += int(response.get("ContentLength", 0))
        return response

    def head_object(self, **kwargs: Any) -> Any:
        self.requests += 1
        return self._client.head_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class FileInspector:
    """``inspector(key)`` → the file's QC record (a callable for :func:`shared.batch.process_batch`)."""

    def __init__(self, settings: QualitySettings, *, s3: S3Client | None = None) -> None:
        self.settings = settings
        self._s3 = s3

    def __call__(self, key: str) -> dict[str, Any]:
        file_class = classify(key)
        if file_class is None:
            raise FileFormatError(f"{key!r} has no drive-log extension", offset=0)
        s3 = CountingS3(self._s3 if self._s3 is not None else default_s3_client())
        size, etag, assessment = self._assess(key, file_class, s3)
        return {
            "kind": file_class.kind.value,
            "format": file_class.format,
            "content_type": file_class.content_type,
            "size": size,
            "etag": etag,
            **assessment.to_dict(),
            "io": {"requests": s3.requests, "bytes_read": s3.bytes_read},
        }

    def _assess(self, key: str, file_class: FileClass, s3: CountingS3) -> tuple[int, str, Assessment]:
        access_point = self.settings.access_point
        if file_class.kind is Kind.LIDAR and file_class.format != "laz":
            with open_stream(access_point, key, s3=s3) as stream:
                cloud = scan_pointcloud(file_class.format, stream.iter_chunks(STREAM_CHUNK))
                return stream.size, stream.etag, assess_cloud(cloud, self.settings.thresholds)
        listed = stat_object(access_point, key, s3=s3)
        size, etag = listed.size, listed.etag
        with RangeReader.from_record(access_point, listed, s3=s3, block_size=HEADER_BLOCK) as reader:
            if file_class.kind is Kind.CAMERA:
                return size, etag, assess_image(inspect_image(reader, size))
            if file_class.kind is Kind.VIDEO:
                return size, etag, assess_video(inspect_video(reader, size, container=file_class.format))
            return size, etag, assess_cloud(inspect_laz_header(reader, size), self.settings.thresholds)
