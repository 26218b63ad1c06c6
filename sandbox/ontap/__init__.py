"""ONTAP REST API simulator for the offline sandbox and the ONTAP client's tests.

``OntapSimulator`` holds an in-memory cluster (``sandbox.ontap.model``), serves it over HTTP(S) on
127.0.0.1 with ONTAP's response shapes, and lets tests inject faults (``sandbox.ontap.faults``).
"""

from sandbox.ontap.faults import FaultRule, Faults, RequestRecord
from sandbox.ontap.model import (
    FULL_CONTROL_RIGHTS,
    CifsShare,
    Cluster,
    ClusterPeer,
    ExportPolicy,
    ExportRule,
    FileAce,
    FileSecurity,
    FlexCache,
    FlexCacheOrigin,
    FlexCacheRelationship,
    Job,
    ShareAcl,
    Snapshot,
    Svm,
    Volume,
)
from sandbox.ontap.simulator import ApiError, OntapSimulator, SimulatorEndpoint

__all__ = [
    "FULL_CONTROL_RIGHTS",
    "ApiError",
    "CifsShare",
    "Cluster",
    "ClusterPeer",
    "ExportPolicy",
    "ExportRule",
    "FaultRule",
    "Faults",
    "FileAce",
    "FileSecurity",
    "FlexCache",
    "FlexCacheOrigin",
    "FlexCacheRelationship",
    "Job",
    "OntapSimulator",
    "RequestRecord",
    "ShareAcl",
    "SimulatorEndpoint",
    "Snapshot",
    "Svm",
    "Volume",
]
