"""What a run audits: the whole volume (schedule, on demand) or the paths an FPolicy event names.

A **full audit** lists the access point once (``shared.s3ap.list_objects``: outputs excluded,
directory placeholders skipped) and writes a manifest of every file plus every folder above a
listed file, each folder once and before its first file, so inherited ACEs are judged where they
are set and broken inheritance on folders is seen. Folders are keys ending with ``/``; the volume
root is :data:`~legal_compliance.ontap_context.ROOT_KEY`. A folder that holds no file is invisible
through an S3 Access Point (it lists files only) and is therefore not audited.

A **targeted audit** audits exactly the paths its input names — ``{"paths": [...]}`` from an
operator, or an FPolicy event on EventBridge whose ``detail.paths`` lists the changed files — and
nothing else: no ancestors, no shares, no export policies. Paths are volume-relative (``/`` or
``\\`` separators, as FPolicy reports them); a path ending with a separator names a folder. Each
path is validated (no ``..``, no control characters), must lie under the scan prefix and outside
the run outputs, and a file must still exist (HeadObject through the access point: a file deleted
since the event is skipped). An event for another volume (``detail.volume_uuid``) audits nothing.
The list itself never enters Step Functions state: it is written as the run's manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from legal_compliance.ontap_context import ROOT_KEY
from legal_compliance.settings import AuditDiscoverySettings
from shared.errors import InvalidInputError, OutputExistsError, S3AccessError
from shared.s3ap import (
    ObjectRecord,
    S3Client,
    list_objects,
    read_run_json,
    stat_object,
    write_manifest,
)

FULL, PATHS = "full", "paths"
SCHEDULE, ON_DEMAND, FPOLICY = "schedule", "on_demand", "fpolicy"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AuditRequest:
    """The discovery event: ``{"run_id": <execution name>, "input": <execution input>}``."""

    run_id: str
    trigger: str
    paths: tuple[str, ...] | None = None
    volume_uuid: str | None = None
    event_id: str | None = None

    @property
    def scope(self) -> str:
        return FULL if self.paths is None else PATHS

    @classmethod
    def from_event(cls, event: Mapping[str, Any], *, max_paths: int) -> AuditRequest:
        if not isinstance(event, Mapping):
            raise InvalidInputError("event", f"expected an object, got {type(event).__name__}")
        run_id = event.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run_id", f"expected the execution name as a string, got {run_id!r}")
        given = event.get("input", {})
        if not isinstance(given, Mapping):
            raise InvalidInputError("input", "the execution input must be a JSON object")
        if "detail" in given and "detail-type" in given:  # an EventBridge event (FPolicy)
            detail = given["detail"]
            if not isinstance(detail, Mapping):
                raise InvalidInputError("detail", "an FPolicy event's detail must be an object")
            volume = detail.get("volume_uuid")
            if volume is not None and not isinstance(volume, str):
                raise InvalidInputError("detail.volume_uuid", "must be a string")
            event_id = given.get("id")
            return cls(
                run_id,
                FPOLICY,
                _paths(detail.get("paths"), "detail.paths", max_paths, required=True),
                volume,
                event_id if isinstance(event_id, str) else None,
            )
        trigger = given.get("trigger", ON_DEMAND)
        if trigger not in (SCHEDULE, ON_DEMAND):
            raise InvalidInputError("trigger", f"{SCHEDULE!r} or {ON_DEMAND!r}, got {trigger!r}")
        return cls(run_id, trigger, _paths(given.get("paths"), "paths", max_paths, required=False))


def _paths(value: Any, name: str, max_paths: int, *, required: bool) -> tuple[str, ...] | None:
    if value is None and not required:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInputError(name, "expected a list of volume-relative paths")
    if len(value) > max_paths:
        raise InvalidInputError(
            name, f"{len(value)} paths exceed the limit of {max_paths} per run; send several events"
        )
    return tuple(value)


@dataclass
class DiscoverySummary:
    """What discovery returns into state: a pointer and counts, never the keys."""

    run_id: str
    trigger: str
    scope: str
    manifest: Mapping[str, str] | None = None
    """Where the manifest was written; None when nothing was (a standby region's run)."""
    files: int = 0
    folders: int = 0
    bytes: int = 0
    batches: int = 0
    requested: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.files + self.folders

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "scope": self.scope,
            "manifest": None if self.manifest is None else dict(self.manifest),
            "count": self.count,
            "files": self.files,
            "folders": self.folders,
            "bytes": self.bytes,
            "batches": self.batches,
            "requested": self.requested,
            "skipped": dict(self.skipped),
        }


def is_folder(key: str) -> bool:
    return key.endswith("/")


def with_folders(objects: Iterable[ObjectRecord]) -> Iterator[ObjectRecord]:
    """Each file, preceded by the folders above it that were not yielded yet (the root first)."""
    seen: set[str] = set()
    for record in objects:
        parts = record.key.split("/")[:-1]
        folders = [ROOT_KEY, *("/".join(parts[: depth + 1]) + "/" for depth in range(len(parts)))]
        for folder in folders:
            if folder not in seen:
                seen.add(folder)
                yield ObjectRecord(folder, 0, "", record.last_modified)
        yield record


def normalise_path(raw: str) -> str | None:
    """A volume-relative key from an event path; None when it cannot name a file or folder."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in raw):
        return None
    folder = raw.endswith(("/", "\\"))
    parts = [part for part in raw.replace("\\", "/").split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        return ROOT_KEY if not parts and raw.strip() in ("/", "\\") else None
    key = "/".join(parts) + ("/" if folder else "")
    return key if len(key.encode("utf-8")) <= 1024 else None


def _requested(
    request: AuditRequest,
    settings: AuditDiscoverySettings,
    exists: Callable[[str], ObjectRecord | None],
    skipped: dict[str, int],
) -> Iterator[ObjectRecord]:
    listing = settings.listing
    exclusions = listing.output.exclusions_for(listing.access_point)
    if request.volume_uuid is not None and request.volume_uuid.lower() != settings.volume_uuid.lower():
        skipped["other_volume"] = len(request.paths or ())
        return
    seen: set[str] = set()
    for raw in request.paths or ():
        key = normalise_path(raw)
        if key is None:
            skipped["invalid"] = skipped.get("invalid", 0) + 1
            continue
        if key in seen:
            skipped["duplicate"] = skipped.get("duplicate", 0) + 1
            continue
        seen.add(key)
        if not key.startswith(listing.prefix) or (exclusions and key.startswith(exclusions)):
            skipped["out_of_scope"] = skipped.get("out_of_scope", 0) + 1
            continue
        if is_folder(key):
            yield ObjectRecord(key, 0, "", _EPOCH)
            continue
        found = exists(key)
        if found is None:
            skipped["missing"] = skipped.get("missing", 0) + 1
            continue
        yield found


def discover(
    settings: AuditDiscoverySettings, request: AuditRequest, *, s3: S3Client | None = None
) -> DiscoverySummary:
    """Write the run's manifest (files and folders to audit) and return its summary."""
    listing = settings.listing
    summary = DiscoverySummary(request.run_id, request.trigger, request.scope)
    if request.paths is None:
        targets: Iterable[ObjectRecord] = with_folders(
            list_objects(
                listing.access_point,
                prefix=listing.prefix,
                suffixes=listing.suffixes,
                exclude_prefixes=listing.output.exclusions_for(listing.access_point),
                s3=s3,
            )
        )
    else:
        summary.requested = len(request.paths)

        def exists(key: str) -> ObjectRecord | None:
            try:
                return stat_object(listing.access_point, key, s3=s3)
            except S3AccessError as err:
                if (
                    err.details.get("code") in ("404", "NoSuchKey", "NotFound")
                    or err.details.get("status") == 404
                ):
                    return None
                raise

        targets = _requested(request, settings, exists, summary.skipped)

    def counted(records: Iterable[ObjectRecord]) -> Iterator[ObjectRecord]:
        for record in records:
            if is_folder(record.key):
                summary.folders += 1
            else:
                summary.files += 1
                summary.bytes += record.size
            yield record

    try:
        manifest = write_manifest(
            listing.output, request.run_id, counted(targets), batch_size=listing.batch_size, s3=s3
        )
    except OutputExistsError:
        # A retried discovery whose first attempt completed: that manifest is what the run audits.
        return _existing(settings, request, summary, s3)
    summary.manifest = manifest.manifest.to_dict()
    summary.batches = manifest.batches
    return summary


def _existing(
    settings: AuditDiscoverySettings, request: AuditRequest, summary: DiscoverySummary, s3: S3Client | None
) -> DiscoverySummary:
    output = settings.listing.output
    batches = read_run_json(output, request.run_id, "manifest.json", s3=s3)
    keys = [key for batch in batches for key in batch["keys"]]
    summary.folders = sum(map(is_folder, keys))
    summary.files = len(keys) - summary.folders
    summary.bytes = 0  # not recorded in the manifest; sizes are not audited
    summary.batches = len(batches)
    summary.manifest = {"bucket": output.bucket, "key": output.run_key(request.run_id, "manifest.json")}
    return summary
