"""The simulated cluster's state: plain dataclasses, each able to render its ONTAP REST record.

Tests and dataset generators build these through :class:`sandbox.ontap.simulator.OntapSimulator`
(``add_svm``, ``add_volume`` …) or directly, and read them back to compare with what a client
received. ``record()`` returns the full JSON object ONTAP returns for ``GET <collection>/<key>``
(optional fields that are unset are omitted, as ONTAP omits them); collections project it down
to the fields asked for (see :mod:`sandbox.ontap.query`).

Field names and enum values follow the ONTAP REST reference as mirrored by the ``netapp-ontap``
SDK schemas (``netapp_ontap/resources/*.py``): the SDK validates enums when it loads a record,
so its compatibility test catches a value ONTAP would never send.
"""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

JsonDict = dict[str, Any]

# Enum values ONTAP documents (netapp_ontap schemas: Volume.state/style/type, VolumeNas.security_style,
# Svm.state, Job.state, ClusterPeerStatus.state, FlexcacheRelationship.state, CifsShareAcls.*).
VOLUME_STATES = frozenset({"error", "mixed", "offline", "online", "restricted"})
VOLUME_STYLES = frozenset({"flexvol", "flexgroup", "flexgroup_constituent"})
VOLUME_TYPES = frozenset({"rw", "dp", "ls"})
SECURITY_STYLES = frozenset({"mixed", "ntfs", "unified", "unix"})
SVM_STATES = frozenset({"starting", "running", "stopping", "stopped", "deleting", "initializing"})
JOB_STATES = frozenset({"queued", "running", "paused", "success", "failure"})
PEER_STATES = frozenset({"available", "partial", "unavailable", "pending", "unidentified"})
RELATIONSHIP_STATES = frozenset({"error", "mixed", "offline", "online"})
SHARE_PERMISSIONS = frozenset({"no_access", "read", "change", "full_control"})
SHARE_ACL_TYPES = frozenset({"windows", "unix_user", "unix_group"})
ACE_ACCESS = frozenset(
    {
        "access_allow",
        "access_deny",
        "access_allowed_callback",
        "access_denied_callback",
        "access_allowed_callback_object",
        "access_denied_callback_object",
        "system_audit_callback",
        "system_audit_callback_object",
        "system_resource_attribute",
        "system_scoped_policy_id",
        "audit_failure",
        "audit_success",
        "audit_success_and_failure",
    }
)

GIB = 1024**3

# The ``advanced_rights`` flags of an ONTAP file-security ACE, in the order ONTAP lists them.
ADVANCED_RIGHTS: tuple[str, ...] = (
    "append_data",
    "delete",
    "delete_child",
    "execute_file",
    "full_control",
    "read_attr",
    "read_data",
    "read_ea",
    "read_perm",
    "write_attr",
    "write_data",
    "write_ea",
    "write_owner",
    "synchronize",
    "write_perm",
)

# ``advanced_rights`` of an ACE that grants everything, as ONTAP's examples show it.
FULL_CONTROL_RIGHTS: dict[str, bool] = dict.fromkeys(ADVANCED_RIGHTS, True)


def new_uuid() -> str:
    return str(uuid_module.uuid4())


def ontap_time(moment: datetime | None = None) -> str:
    """ONTAP's timestamp form: ISO 8601 with an offset and no fraction (2019-03-13T13:05:00-04:00)."""
    return (moment or datetime.now(UTC)).isoformat(timespec="seconds")


def _check(value: str, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one ONTAP documents: {sorted(allowed)}")
    return value


def _link(href: str) -> JsonDict:
    return {"self": {"href": href}}


def _compact(record: JsonDict) -> JsonDict:
    """Drop unset (None) members: ONTAP omits fields that have no value."""
    return {key: value for key, value in record.items() if value is not None}


@dataclass
class Cluster:
    name: str = "FsxId0123456789abcdef0"
    uuid: str = field(default_factory=new_uuid)
    generation: int = 9
    major: int = 15
    minor: int = 1
    # ONTAP's "full" string also carries the build date ("NetApp Release 9.10.1: Mon May 24 08:07:35
    # UTC 2021"); the simulator has no build, so by default it states the release only.
    full: str | None = None

    href: ClassVar[str] = "/api/cluster"

    def version(self) -> JsonDict:
        return {
            "full": self.full or f"NetApp Release {self.generation}.{self.major}.{self.minor}",
            "generation": self.generation,
            "major": self.major,
            "minor": self.minor,
        }

    def record(self) -> JsonDict:
        return {"name": self.name, "uuid": self.uuid, "version": self.version(), "_links": _link(self.href)}


@dataclass
class Svm:
    name: str
    uuid: str = field(default_factory=new_uuid)
    state: str = "running"
    subtype: str = "default"

    def __post_init__(self) -> None:
        _check(self.state, SVM_STATES, "SVM state")

    @property
    def href(self) -> str:
        return f"/api/svm/svms/{self.uuid}"

    def reference(self) -> JsonDict:
        """The ``svm`` member other records embed."""
        return {"uuid": self.uuid, "name": self.name, "_links": _link(self.href)}

    def record(self) -> JsonDict:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "state": self.state,
            "subtype": self.subtype,
            "_links": _link(self.href),
        }


@dataclass
class Snapshot:
    name: str
    volume: Volume
    uuid: str = field(default_factory=new_uuid)
    comment: str | None = None
    create_time: str = field(default_factory=ontap_time)
    state: str = "valid"

    @property
    def href(self) -> str:
        return f"/api/storage/volumes/{self.volume.uuid}/snapshots/{self.uuid}"

    def reference(self) -> JsonDict:
        return {"uuid": self.uuid, "name": self.name, "_links": _link(self.href)}

    def record(self) -> JsonDict:
        return _compact(
            {
                "uuid": self.uuid,
                "name": self.name,
                "create_time": self.create_time,
                "comment": self.comment,
                "state": self.state,
                "svm": self.volume.svm.reference(),
                "volume": self.volume.reference(),
                "_links": _link(self.href),
            }
        )


@dataclass
class Volume:
    name: str
    svm: Svm
    uuid: str = field(default_factory=new_uuid)
    state: str = "online"
    style: str = "flexvol"
    type: str = "rw"
    size: int = 100 * GIB
    junction_path: str | None = None
    security_style: str = "unix"
    comment: str | None = None
    create_time: str = field(default_factory=ontap_time)
    clone_parent: Volume | None = None
    clone_parent_snapshot: Snapshot | None = None
    snapshots: list[Snapshot] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check(self.state, VOLUME_STATES, "volume state")
        _check(self.style, VOLUME_STYLES, "volume style")
        _check(self.type, VOLUME_TYPES, "volume type")
        _check(self.security_style, SECURITY_STYLES, "security style")

    @property
    def href(self) -> str:
        return f"/api/storage/volumes/{self.uuid}"

    def reference(self) -> JsonDict:
        return {"uuid": self.uuid, "name": self.name, "_links": _link(self.href)}

    def record(self) -> JsonDict:
        nas = _compact({"path": self.junction_path, "security_style": self.security_style})
        clone: JsonDict | None = None
        if self.clone_parent is not None:
            clone = {
                "is_flexclone": True,
                "parent_volume": self.clone_parent.reference(),
                "parent_svm": self.clone_parent.svm.reference(),
            }
            if self.clone_parent_snapshot is not None:
                clone["parent_snapshot"] = self.clone_parent_snapshot.reference()
        return _compact(
            {
                "uuid": self.uuid,
                "name": self.name,
                "state": self.state,
                "style": self.style,
                "type": self.type,
                "size": self.size,
                "comment": self.comment,
                "create_time": self.create_time,
                "nas": nas,
                "clone": clone,
                "svm": self.svm.reference(),
                "_links": _link(self.href),
            }
        )


@dataclass
class FileAce:
    """One ACE of ``acls[]`` in GET /api/protocols/file-security/permissions/{svm.uuid}/{path}."""

    user: str
    access: str = "access_allow"
    apply_to: dict[str, bool] = field(
        default_factory=lambda: {"files": True, "sub_folders": True, "this_folder": True}
    )
    advanced_rights: dict[str, bool] | None = None
    rights: str | None = None
    inherited: bool | None = None
    access_control: str = "file_directory"

    def __post_init__(self) -> None:
        _check(self.access, ACE_ACCESS, "ACE access")

    def record(self) -> JsonDict:
        return _compact(
            {
                "user": self.user,
                "access": self.access,
                "rights": self.rights,
                "advanced_rights": dict(self.advanced_rights) if self.advanced_rights else None,
                "apply_to": dict(self.apply_to),
                "inherited": self.inherited,
                "access_control": self.access_control,
            }
        )


@dataclass
class FileSecurity:
    """The security descriptor of one file or directory, keyed by (SVM, absolute path)."""

    svm: Svm
    path: str
    owner: str | None = None
    group: str | None = None
    control_flags: str | None = "0x8014"
    acls: list[FileAce] = field(default_factory=list)
    security_style: str | None = None
    effective_style: str | None = None
    mode_bits: int | None = None
    text_mode_bits: str | None = None
    user_id: str | None = None
    group_id: str | None = None
    inode: int | None = None
    dos_attributes: str | None = None
    text_dos_attr: str | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            self.path = "/" + self.path
        for style in (self.security_style, self.effective_style):
            if style is not None:
                _check(style, SECURITY_STYLES, "security style")

    def record(self) -> JsonDict:
        return _compact(
            {
                "svm": {"uuid": self.svm.uuid, "name": self.svm.name},
                "path": self.path,
                "owner": self.owner,
                "group": self.group,
                "control_flags": self.control_flags,
                "acls": [ace.record() for ace in self.acls],
                "security_style": self.security_style,
                "effective_style": self.effective_style,
                "mode_bits": self.mode_bits,
                "text_mode_bits": self.text_mode_bits,
                "user_id": self.user_id,
                "group_id": self.group_id,
                "inode": self.inode,
                "dos_attributes": self.dos_attributes,
                "text_dos_attr": self.text_dos_attr,
            }
        )


@dataclass
class ShareAcl:
    user_or_group: str
    permission: str = "full_control"
    type: str = "windows"
    win_sid_unix_id: str | None = None

    def __post_init__(self) -> None:
        _check(self.permission, SHARE_PERMISSIONS, "share permission")
        _check(self.type, SHARE_ACL_TYPES, "share ACL type")

    def record(self) -> JsonDict:
        return _compact(
            {
                "user_or_group": self.user_or_group,
                "type": self.type,
                "permission": self.permission,
                "win_sid_unix_id": self.win_sid_unix_id,
            }
        )


def default_share_acls() -> list[ShareAcl]:
    """ONTAP's default share-level ACL: Everyone (well-known SID S-1-1-0) with full control."""
    return [ShareAcl("Everyone", "full_control", "windows", "S-1-1-0")]


@dataclass
class CifsShare:
    name: str
    svm: Svm
    path: str
    volume: Volume | None = None
    acls: list[ShareAcl] = field(default_factory=default_share_acls)
    comment: str | None = None
    # POST defaults ONTAP documents for /protocols/cifs/shares.
    home_directory: bool = False
    oplocks: bool = True
    access_based_enumeration: bool = False
    change_notify: bool = True
    encryption: bool = False
    unix_symlink: str = "local"

    @property
    def href(self) -> str:
        return f"/api/protocols/cifs/shares/{self.svm.uuid}/{quote(self.name, safe='')}"

    def record(self) -> JsonDict:
        return _compact(
            {
                "svm": self.svm.reference(),
                "name": self.name,
                "path": self.path,
                "volume": {"uuid": self.volume.uuid, "name": self.volume.name} if self.volume else None,
                "acls": [acl.record() for acl in self.acls],
                "comment": self.comment,
                "home_directory": self.home_directory,
                "oplocks": self.oplocks,
                "access_based_enumeration": self.access_based_enumeration,
                "change_notify": self.change_notify,
                "encryption": self.encryption,
                "unix_symlink": self.unix_symlink,
                "_links": _link(self.href),
            }
        )


@dataclass
class ExportRule:
    clients: list[str]
    ro_rule: list[str] = field(default_factory=lambda: ["any"])
    rw_rule: list[str] = field(default_factory=lambda: ["any"])
    superuser: list[str] = field(default_factory=lambda: ["any"])
    protocols: list[str] = field(default_factory=lambda: ["any"])
    anonymous_user: str = "65534"
    allow_suid: bool = True
    allow_device_creation: bool = True
    chown_mode: str = "restricted"
    ntfs_unix_security: str = "fail"
    index: int = 0  # assigned 1, 2, … by ExportPolicy when left at 0

    def record(self) -> JsonDict:
        return {
            "index": self.index,
            "clients": [{"match": match} for match in self.clients],
            "protocols": list(self.protocols),
            "ro_rule": list(self.ro_rule),
            "rw_rule": list(self.rw_rule),
            "superuser": list(self.superuser),
            "anonymous_user": self.anonymous_user,
            "allow_suid": self.allow_suid,
            "allow_device_creation": self.allow_device_creation,
            "chown_mode": self.chown_mode,
            "ntfs_unix_security": self.ntfs_unix_security,
        }


@dataclass
class ExportPolicy:
    name: str
    svm: Svm
    id: int
    rules: list[ExportRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        for position, rule in enumerate(self.rules, start=1):
            if rule.index == 0:
                rule.index = position

    @property
    def href(self) -> str:
        return f"/api/protocols/nfs/export-policies/{self.id}"

    def record(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "svm": self.svm.reference(),
            "rules": [rule.record() for rule in self.rules],
            "_links": _link(self.href),
        }


@dataclass
class FlexCacheRelationship:
    """One entry of a FlexCache's ``origins[]`` or of an origin's ``flexcaches[]``: the far end."""

    volume_name: str
    svm_name: str
    cluster_name: str
    volume_uuid: str = field(default_factory=new_uuid)
    svm_uuid: str = field(default_factory=new_uuid)
    cluster_uuid: str = field(default_factory=new_uuid)
    ip_address: str | None = None
    size: int | None = None
    state: str | None = "online"
    create_time: str = field(default_factory=ontap_time)

    def __post_init__(self) -> None:
        if self.state is not None:
            _check(self.state, RELATIONSHIP_STATES, "FlexCache relationship state")

    def record(self) -> JsonDict:
        return _compact(
            {
                "volume": {"uuid": self.volume_uuid, "name": self.volume_name},
                "svm": {"uuid": self.svm_uuid, "name": self.svm_name},
                "cluster": {"uuid": self.cluster_uuid, "name": self.cluster_name},
                "ip_address": self.ip_address,
                "size": self.size,
                "state": self.state,
                "create_time": self.create_time,
            }
        )


@dataclass
class FlexCache:
    name: str
    svm: Svm
    origins: list[FlexCacheRelationship]
    uuid: str = field(default_factory=new_uuid)
    size: int = 10 * GIB
    path: str | None = None
    guarantee_type: str = "none"
    aggregates: list[tuple[str, str]] = field(default_factory=list)  # (name, uuid)
    constituents_per_aggregate: int | None = None
    dr_cache: bool = False
    global_file_locking_enabled: bool = False

    @property
    def href(self) -> str:
        return f"/api/storage/flexcache/flexcaches/{self.uuid}"

    def record(self) -> JsonDict:
        return _compact(
            {
                "uuid": self.uuid,
                "name": self.name,
                "svm": self.svm.reference(),
                "size": self.size,
                "path": self.path,
                "guarantee": {"type": self.guarantee_type},
                "aggregates": [{"name": name, "uuid": uuid} for name, uuid in self.aggregates],
                "constituents_per_aggregate": self.constituents_per_aggregate,
                "dr_cache": self.dr_cache,
                "global_file_locking_enabled": self.global_file_locking_enabled,
                "origins": [origin.record() for origin in self.origins],
                "_links": _link(self.href),
            }
        )


@dataclass
class FlexCacheOrigin:
    """A volume of this cluster that FlexCaches (elsewhere) cache; keyed by the volume's uuid."""

    volume: Volume
    flexcaches: list[FlexCacheRelationship]
    block_level_invalidation: bool = False
    global_file_locking_enabled: bool = False

    @property
    def uuid(self) -> str:
        return self.volume.uuid

    @property
    def href(self) -> str:
        return f"/api/storage/flexcache/origins/{self.uuid}"

    def record(self) -> JsonDict:
        return {
            "uuid": self.volume.uuid,
            "name": self.volume.name,
            "svm": self.volume.svm.reference(),
            "block_level_invalidation": self.block_level_invalidation,
            "global_file_locking_enabled": self.global_file_locking_enabled,
            "flexcaches": [cache.record() for cache in self.flexcaches],
            "_links": _link(self.href),
        }


@dataclass
class ClusterPeer:
    name: str
    remote_ip_addresses: list[str]
    uuid: str = field(default_factory=new_uuid)
    state: str = "available"
    remote_name: str | None = None  # the remote cluster's own name; defaults to ``name``
    remote_serial_number: str | None = None
    peer_applications: list[str] | None = None
    update_time: str = field(default_factory=ontap_time)

    def __post_init__(self) -> None:
        _check(self.state, PEER_STATES, "cluster peer state")

    @property
    def href(self) -> str:
        return f"/api/cluster/peers/{self.uuid}"

    @property
    def cluster_name(self) -> str:
        return self.remote_name or self.name

    def record(self) -> JsonDict:
        return _compact(
            {
                "uuid": self.uuid,
                "name": self.name,
                "status": {"state": self.state, "update_time": self.update_time},
                "remote": _compact(
                    {
                        "name": self.cluster_name,
                        "ip_addresses": list(self.remote_ip_addresses),
                        "serial_number": self.remote_serial_number,
                    }
                ),
                "peer_applications": list(self.peer_applications) if self.peer_applications else None,
                "_links": _link(self.href),
            }
        )


@dataclass
class Job:
    """An asynchronous operation; see ``OntapSimulator`` for how its state advances."""

    description: str
    uuid: str = field(default_factory=new_uuid)
    state: str = "queued"
    message: str | None = None
    code: int = 0
    error: JsonDict | None = None
    start_time: str | None = None
    end_time: str | None = None
    svm: Svm | None = None

    @property
    def href(self) -> str:
        return f"/api/cluster/jobs/{self.uuid}"

    @property
    def terminal(self) -> bool:
        return self.state in ("success", "failure")

    def link(self) -> JsonDict:
        """The body of a 202 Accepted: ``{"job": {"uuid", "_links": {"self": {"href"}}}}``."""
        return {"job": {"uuid": self.uuid, "_links": _link(self.href)}}

    def record(self) -> JsonDict:
        return _compact(
            {
                "uuid": self.uuid,
                "description": self.description,
                "state": self.state,
                "message": self.message,
                "code": self.code,
                "error": dict(self.error) if self.error else None,
                "start_time": self.start_time,
                "end_time": self.end_time,
                "svm": self.svm.reference() if self.svm else None,
                "_links": _link(self.href),
            }
        )
