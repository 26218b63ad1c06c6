"""Discovery, the first step of every use case: one listing of the access point → a manifest.

The state machine passes the execution name as ``run_id``; discovery lists the access point once
(lazily, page by page), writes the manifest of key batches under ``runs/<run_id>/`` in the output
location and returns only a summary. The Distributed Map that follows reads the manifest itself,
so no key list ever travels through Step Functions state, whatever the number of files.

With ``MULTI_REGION_ENABLED`` discovery first asks the region-role guard (:func:`region_role`); a
region on standby lists nothing and writes nothing (its volume may be a read-only replica), returns
:data:`NOTHING_DISCOVERED` with the decision under ``region``, and the state machine's
*Region Active?* choice ends the run there (docs/disaster-recovery.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInputError
from shared.observability import MetricUnit, logger, metrics
from shared.region_role import RegionRoleGuard, RoleDecision
from shared.s3ap import AccessPoint, ManifestSummary, OutputLocation, S3Client, list_objects, write_manifest
from shared.settings import required

DEFAULT_BATCH_SIZE = 100
NOTHING_DISCOVERED: Mapping[str, Any] = {"manifest": None, "count": 0, "bytes": 0, "batches": 0}
"""A standby region's manifest summary: no manifest is written, nothing is counted."""


@dataclass(frozen=True)
class DiscoverySettings:
    """What to list and where the manifest goes, from the function's environment.

    ``ACCESS_POINT`` (alias or ARN), ``OUTPUT_BUCKET`` and optional ``OUTPUT_PREFIX``,
    ``SCAN_PREFIX``, ``FILE_SUFFIXES`` (comma-separated, case-insensitive; empty for every file)
    and ``BATCH_SIZE`` (keys per Distributed Map item).
    """

    access_point: AccessPoint
    output: OutputLocation
    prefix: str = ""
    suffixes: tuple[str, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DiscoverySettings:
        batch_size = environ.get("BATCH_SIZE", str(DEFAULT_BATCH_SIZE))
        if not batch_size.isdigit():
            raise InvalidInputError("BATCH_SIZE", f"expected a whole number, got {batch_size!r}")
        suffixes = tuple(part.strip() for part in environ.get("FILE_SUFFIXES", "").split(",") if part.strip())
        return cls(
            access_point=AccessPoint.parse(required(environ, "ACCESS_POINT")),
            output=OutputLocation(required(environ, "OUTPUT_BUCKET"), environ.get("OUTPUT_PREFIX", "")),
            prefix=environ.get("SCAN_PREFIX", ""),
            suffixes=suffixes,
            batch_size=int(batch_size),
        )


@dataclass(frozen=True)
class DiscoveryRequest:
    """The event the state machine sends: ``{"run_id": <execution name>}``."""

    run_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> DiscoveryRequest:
        run_id = event.get("run_id") if isinstance(event, Mapping) else None
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run_id", f"expected the execution name as a string, got {run_id!r}")
        return cls(run_id)


def discover(settings: DiscoverySettings, run_id: str, *, s3: S3Client | None = None) -> ManifestSummary:
    """List the access point once and write the run's manifest; outputs are never listed as inputs."""
    objects = list_objects(
        settings.access_point,
        prefix=settings.prefix,
        suffixes=settings.suffixes,
        exclude_prefixes=settings.output.exclusions_for(settings.access_point),
        s3=s3,
    )
    return write_manifest(settings.output, run_id, objects, batch_size=settings.batch_size, s3=s3)


def region_role(environ: Mapping[str, str]) -> RoleDecision:
    """May this region process this run? Single-region deployments: yes, without any call.

    A standby run is counted in the ``RunsOnStandby`` metric, so a dashboard shows the passive
    region idling on schedule rather than silent.
    """
    decision = RegionRoleGuard.from_env(environ).check()
    if not decision.active:
        metrics.add_metric(name="RunsOnStandby", unit=MetricUnit.Count, value=1)
        logger.info(
            "region on standby: this run processes nothing",
            active_region=decision.active_region,
            reason=decision.reason,
        )
    return decision
