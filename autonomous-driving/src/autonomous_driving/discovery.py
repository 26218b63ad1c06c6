"""Discovery of a drive log: one listing, every key classified, a manifest, and the routing inputs.

The access point is listed once (:func:`shared.s3ap.list_objects`, lazily, page by page); each key
is classified by :func:`autonomous_driving.catalogue.classify`; recognised files stream into the
run's manifest (:func:`shared.s3ap.write_manifest`, batches of ``BATCH_SIZE`` keys), the rest are
counted as skipped. Run outputs are never listed (the output prefix is excluded when the outputs
share the access point).

What comes back into Step Functions state is small whatever the volume: the manifest pointer,
counts per sensor and format, and the three inputs of the inference routing Choice, taken from the
stack's parameters: ``file_count`` (camera frames, the model's inputs), ``batch_threshold`` and
``inference_type``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from autonomous_driving.catalogue import Kind, classify
from shared.discovery import NOTHING_DISCOVERED, DiscoverySettings
from shared.errors import InvalidInputError
from shared.routing import INFERENCE_TYPES
from shared.s3ap import ObjectRecord, S3Client, list_objects, write_manifest


@dataclass(frozen=True)
class DriveLogSettings:
    """DiscoveryFunction's environment: shared discovery settings plus the inference switches."""

    discovery: DiscoverySettings
    enable_inference: bool
    inference_type: str
    batch_threshold: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DriveLogSettings:
        enable = environ.get("ENABLE_INFERENCE", "false").lower()
        if enable not in ("true", "false"):
            raise InvalidInputError("ENABLE_INFERENCE", f"expected true or false, got {enable!r}")
        inference_type = environ.get("INFERENCE_TYPE", "none")
        if inference_type not in INFERENCE_TYPES:
            raise InvalidInputError(
                "INFERENCE_TYPE", f"expected one of {', '.join(INFERENCE_TYPES)}, got {inference_type!r}"
            )
        threshold = environ.get("BATCH_THRESHOLD", "100")
        if not threshold.isdigit():
            raise InvalidInputError("BATCH_THRESHOLD", f"expected a whole number, got {threshold!r}")
        return cls(
            discovery=DiscoverySettings.from_env(environ),
            enable_inference=enable == "true",
            inference_type=inference_type,
            batch_threshold=int(threshold),
        )


@dataclass
class DriveLogDiscovery:
    manifest: dict[str, Any]
    by_kind: Counter[str]
    by_format: Counter[str]
    skipped_files: int
    skipped_bytes: int
    settings: DriveLogSettings

    @classmethod
    def nothing(cls, settings: DriveLogSettings) -> DriveLogDiscovery:
        """A standby region's discovery: nothing listed, no manifest written."""
        return cls(dict(NOTHING_DISCOVERED), Counter(), Counter(), 0, 0, settings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "discovery": {
                **self.manifest,
                "by_kind": {kind.value: self.by_kind.get(kind.value, 0) for kind in Kind},
                "by_format": dict(sorted(self.by_format.items())),
                "skipped": {"files": self.skipped_files, "bytes": self.skipped_bytes},
            },
            "routing": {
                "file_count": self.by_kind.get(Kind.CAMERA.value, 0),
                "batch_threshold": self.settings.batch_threshold,
                "inference_type": self.settings.inference_type,
            },
            "enable_inference": self.settings.enable_inference,
        }


def discover_drive_logs(
    settings: DriveLogSettings, run_id: str, *, s3: S3Client | None = None
) -> DriveLogDiscovery:
    base = settings.discovery
    by_kind: Counter[str] = Counter()
    by_format: Counter[str] = Counter()
    skipped = [0, 0]

    def recognised() -> Iterator[ObjectRecord]:
        listing = list_objects(
            base.access_point,
            prefix=base.prefix,
            exclude_prefixes=base.output.exclusions_for(base.access_point),
            s3=s3,
        )
        for record in listing:
            file_class = classify(record.key)
            if file_class is None:
                skipped[0] += 1
                skipped[1] += record.size
                continue
            by_kind[file_class.kind.value] += 1
            by_format[file_class.format] += 1
            yield record

    summary = write_manifest(base.output, run_id, recognised(), batch_size=base.batch_size, s3=s3)
    return DriveLogDiscovery(summary.to_dict(), by_kind, by_format, skipped[0], skipped[1], settings)
