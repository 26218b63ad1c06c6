"""A seeded NTFS file tree for the legal-compliance audit, with exactly one planted violation per kind.

The tree lives in one NTFS volume (the one an S3 Access Point is attached to) and holds a UNIX
security-style qtree, because the audit must tell the two apart: ONTAP reports ``mode_bits`` 777
(``rwxrwxrwx``) for every NTFS-style file, where the bits mean nothing, while on a UNIX-style file
they are the permissions. Names carry spaces, non-ASCII letters, ``#`` and ``%``, which break
naive URL building in ONTAP file-security calls and in S3 keys.

Each file and folder has the record ONTAP returns for
``GET /api/protocols/file-security/permissions/{svm.uuid}/{path}`` (owner, group, control_flags,
security/effective style, mode bits, DOS attributes, inode, acls[] with user, access, rights,
advanced_rights, apply_to, inherited, access_control); the CIFS shares and NFS export policies
are shaped like their ONTAP records too. :func:`load_acl_tree` puts all of it into an
:class:`~sandbox.ontap.OntapSimulator`.

Everything not planted is clean by every rule below, so a detector's false positives show:
broad principals (Everyone, Authenticated Users, Domain Users, BUILTIN\\Users) only ever read,
every ACE names a group or a well-known principal that the directory resolves, DACLs inherit
except at the volume root, UNIX files are at most group-writable, shares grant groups only.

The planted kinds (:data:`VIOLATION_KINDS`), one each, each on its own target:

``broad_principal_write``   a broad principal with modify/full_control on a file (explicit ACE)
``share_everyone_full_control`` a share ACL Everyone / full_control
``export_open_to_world``    an export rule for 0.0.0.0/0 with rw and superuser ``any``
``broken_inheritance``      a folder below a sensitive prefix whose DACL is protected
                            (SE_DACL_PROTECTED, 0x1000, in ``control_flags``)
``orphaned_sid``            an ACE for an unresolved ``S-1-5-21-…`` SID (a deleted account)
``direct_user_ace``         an ACE naming a user account where groups are expected
``world_writable_unix``     a UNIX-style file with the "other" write bit set
``unreadable``              a file whose permission lookup fails (no record: ONTAP answers 404)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sandbox.datasets.base import SyntheticFile, rng
from sandbox.ontap import ExportRule, FaultRule, FileAce, OntapSimulator, ShareAcl, Svm, Volume
from sandbox.ontap.model import ADVANCED_RIGHTS

VIOLATION_KINDS: Final = (
    "broad_principal_write",
    "share_everyone_full_control",
    "export_open_to_world",
    "broken_inheritance",
    "orphaned_sid",
    "direct_user_ace",
    "world_writable_unix",
    "unreadable",
)

# Security descriptor control flags (MS-DTYP 2.4.6), as ONTAP prints them.
SE_DACL_PRESENT: Final = 0x0004
SE_DACL_AUTO_INHERITED: Final = 0x0400
SE_DACL_PROTECTED: Final = 0x1000
SE_SELF_RELATIVE: Final = 0x8000
ROOT_FLAGS: Final = SE_SELF_RELATIVE | SE_DACL_PRESENT
INHERITING_FLAGS: Final = ROOT_FLAGS | SE_DACL_AUTO_INHERITED
PROTECTED_FLAGS: Final = INHERITING_FLAGS | SE_DACL_PROTECTED

_READ: Final = frozenset({"read_data", "read_ea", "read_attr", "read_perm", "synchronize"})
_WRITE: Final = frozenset({"write_data", "append_data", "write_ea", "write_attr", "read_perm", "synchronize"})
# The standard rights ONTAP names in ``rights`` and the basic permissions they stand for.
RIGHTS: Final[Mapping[str, frozenset[str]]] = {
    "read": _READ,
    "read_and_execute": _READ | {"execute_file"},
    "write": _WRITE,
    "modify": _READ | _WRITE | {"execute_file", "delete"},
    "full_control": frozenset(ADVANCED_RIGHTS),
}
WRITE_RIGHTS: Final = frozenset({"modify", "full_control", "write"})

DOMAIN: Final = "CORP"
_DOMAIN_SID_PREFIX: Final = "S-1-5-21"
SENSITIVE_FOLDERS: Final = ("hr", "litigation #42")
UNIX_QTREE: Final = "eng_unix"
_TOP_FOLDERS: Final = ("contracts 2026", "hr", "litigation #42", "finance 100%", "public", UNIX_QTREE)
_SUBFOLDERS: Final = (
    "2025 Q#4",
    "契約書",
    "résumés",
    "drafts",
    "archive 50%",
    "評価 2025",
    "board minutes",
    "ü-ß notes",
)
_FILE_STEMS: Final = (
    "nda final",
    "契約書_v2",
    "memo #3",
    "budget 100%",
    "résumé",
    "minutes",
    "offer letter",
    "ü-ß report",
)
_EXTENSIONS: Final = (".docx", ".pdf", ".xlsx", ".txt", ".msg")
_USERS: Final = ("taro.yamada", "hanako.suzuki", "j.smith", "a.mueller")

PrincipalType = Literal["user", "group", "well_known"]


@dataclass(frozen=True)
class Principal:
    """A directory entry the audit resolves names and SIDs against."""

    name: str
    sid: str
    type: PrincipalType


@dataclass(frozen=True)
class PlantedViolation:
    """``target`` is an absolute path, ``share:<name>`` or ``export-policy:<name>/rule:<index>``."""

    kind: str
    target: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AclEntry:
    """A file or folder. ``key`` is its S3 key through the volume's access point (paths below the
    junction); ``permissions`` is ONTAP's file-security record, None when the lookup must fail."""

    path: str
    key: str
    is_directory: bool
    permissions: Mapping[str, Any] | None


@dataclass(frozen=True)
class AclTree:
    """The whole estate as plain ONTAP-shaped data, and the ground truth.

    ``svm`` and ``volume`` carry name and uuid (seeded, so reruns address the same objects);
    ``principals`` is the directory the audit resolves names/SIDs against (the orphaned SID is
    not in it); ``entries`` lists folders (parents first) then files; ``shares`` are CIFS share
    records (name, path, acls[]) and ``export_policies`` NFS policies (name, rules[]);
    ``violations`` holds one :class:`PlantedViolation` per kind, in :data:`VIOLATION_KINDS` order.
    """

    seed: int
    svm: Mapping[str, str]
    volume: Mapping[str, str]
    sensitive_prefixes: tuple[str, ...]
    principals: tuple[Principal, ...]
    entries: tuple[AclEntry, ...]
    shares: tuple[Mapping[str, Any], ...]
    export_policies: tuple[Mapping[str, Any], ...]
    violations: tuple[PlantedViolation, ...]

    def violation(self, kind: str) -> PlantedViolation:
        return next(v for v in self.violations if v.kind == kind)

    def violations_by_target(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for violation in self.violations:
            found.setdefault(violation.target, []).append(violation.kind)
        return found

    def entry(self, path: str) -> AclEntry:
        return next(e for e in self.entries if e.path == path)

    def files(self) -> list[SyntheticFile]:
        """The files as S3 objects (small seeded documents); ``expected`` names the file's ONTAP
        path and the violations planted on it (empty for clean files)."""
        planted = self.violations_by_target()
        documents = []
        for item in self.entries:
            if item.is_directory:
                continue
            body = f"{item.path}\n{rng(self.seed, 'acl-document:' + item.path).randbytes(24).hex()}\n"
            expected = {"path": item.path, "violations": planted.get(item.path, [])}
            documents.append(SyntheticFile(item.key, body.encode("utf-8"), "document", expected))
        return documents


def _uuid(r: Any) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def _ace(
    user: str, rights: str, *, inherited: bool, access: str = "access_allow", folder: bool = True
) -> dict[str, Any]:
    granted = RIGHTS[rights]
    return {
        "user": user,
        "access": access,
        "rights": rights,
        "advanced_rights": {name: name in granted for name in ADVANCED_RIGHTS},
        "apply_to": {"files": True, "sub_folders": folder, "this_folder": True},
        "inherited": inherited,
        "access_control": "file_directory",
    }


def _octal_text(mode: int) -> str:
    """ONTAP's ``mode_bits`` are the octal digits read as a decimal number (755), and
    ``text_mode_bits`` the ls-style string (rwxr-xr-x)."""
    digits = f"{mode:03d}"
    return "".join(
        ("r" if int(d) & 4 else "-") + ("w" if int(d) & 2 else "-") + ("x" if int(d) & 1 else "-")
        for d in digits
    )


@dataclass
class _Builder:
    """Hands out inodes in creation order and keeps every record by path."""

    svm: dict[str, str]
    inode: int = 64
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ntfs(self, path: str, *, directory: bool, acls: list[dict[str, Any]], flags: int) -> dict[str, Any]:
        self.inode += 1
        record = {
            "svm": dict(self.svm),
            "path": path,
            "owner": "BUILTIN\\Administrators",
            "group": f"{DOMAIN}\\Domain Users",
            "control_flags": hex(flags),
            "acls": acls,
            "security_style": "ntfs",
            "effective_style": "ntfs",
            "mode_bits": 777,  # what ONTAP reports for NTFS-style files: not the permissions
            "text_mode_bits": "rwxrwxrwx",
            "user_id": "0",
            "group_id": "0",
            "inode": self.inode,
            "dos_attributes": "10" if directory else "20",
            "text_dos_attr": "----D---" if directory else "---A----",
        }
        self.records[path] = record
        return record

    def unix(self, path: str, *, directory: bool, mode: int, uid: int, gid: int) -> dict[str, Any]:
        self.inode += 1
        record = {
            "svm": dict(self.svm),
            "path": path,
            "acls": [],
            "security_style": "unix",
            "effective_style": "unix",
            "mode_bits": mode,
            "text_mode_bits": _octal_text(mode),
            "user_id": str(uid),
            "group_id": str(gid),
            "inode": self.inode,
            "dos_attributes": "10" if directory else "20",
            "text_dos_attr": "----D---" if directory else "---A----",
        }
        self.records[path] = record
        return record


def _directory(domain_sid: str) -> dict[str, Principal]:
    entries = [
        Principal("Everyone", "S-1-1-0", "well_known"),
        Principal("NT AUTHORITY\\Authenticated Users", "S-1-5-11", "well_known"),
        Principal("NT AUTHORITY\\SYSTEM", "S-1-5-18", "well_known"),
        Principal("BUILTIN\\Administrators", "S-1-5-32-544", "well_known"),
        Principal("BUILTIN\\Users", "S-1-5-32-545", "well_known"),
        Principal(f"{DOMAIN}\\Domain Admins", f"{domain_sid}-512", "group"),
        Principal(f"{DOMAIN}\\Domain Users", f"{domain_sid}-513", "group"),
        Principal(f"{DOMAIN}\\Legal-Editors", f"{domain_sid}-1104", "group"),
        Principal(f"{DOMAIN}\\Legal-Readers", f"{domain_sid}-1105", "group"),
        Principal(f"{DOMAIN}\\HR-Confidential", f"{domain_sid}-1106", "group"),
    ]
    entries += [
        Principal(f"{DOMAIN}\\{user}", f"{domain_sid}-{1200 + i}", "user") for i, user in enumerate(_USERS)
    ]
    return {p.name: p for p in entries}


BROAD_PRINCIPALS: Final = (
    "Everyone",
    "NT AUTHORITY\\Authenticated Users",
    f"{DOMAIN}\\Domain Users",
    "BUILTIN\\Users",
)


def acl_tree(
    seed: int,
    *,
    files: int = 40,
    depth: int = 3,
    svm_name: str = "svm_legal",
    volume_name: str = "legal_ntfs",
    junction_path: str = "/legal",
) -> AclTree:
    """Build the tree: ``files`` files (at least 8) spread over the fixed top folders and seeded
    subfolders up to ``depth`` levels below the junction (at least 2)."""
    if files < 8:
        raise ValueError("need at least 8 files to plant every file-level violation on its own file")
    if depth < 2:
        raise ValueError("depth must be at least 2: broken inheritance sits below a sensitive folder")
    r = rng(seed, "acl-tree")
    junction = "/" + junction_path.strip("/")
    svm = {"uuid": _uuid(r), "name": svm_name}
    volume = {"uuid": _uuid(r), "name": volume_name, "junction_path": junction, "security_style": "ntfs"}
    domain_sid = "-".join([_DOMAIN_SID_PREFIX, *(str(r.randrange(10**9, 4 * 10**9)) for _ in range(3))])
    principals = _directory(domain_sid)

    folders = _folders(r, junction, depth)
    unix_root = f"{junction}/{UNIX_QTREE}"
    unix_folders = [p for p in folders if p == unix_root or p.startswith(unix_root + "/")]
    ntfs_folders = [p for p in folders if p not in unix_folders]
    unix_files, ntfs_files = _files(r, files, unix_folders, ntfs_folders)
    protected = next(
        p
        for p in folders
        if p.startswith(f"{junction}/{SENSITIVE_FOLDERS[0]}/") and p.count("/") == junction.count("/") + 2
    )
    builder = _Builder(svm)
    _describe_ntfs(builder, junction, ntfs_folders, ntfs_files, protected)
    for path in unix_folders:
        builder.unix(path, directory=True, mode=755, uid=1000 + r.randrange(50), gid=1000)
    for path in unix_files:
        builder.unix(
            path, directory=False, mode=r.choice((644, 640, 664, 600)), uid=1000 + r.randrange(50), gid=1000
        )

    violations = _plant_file_violations(r, builder, ntfs_files, unix_files, domain_sid)
    violations.append(
        PlantedViolation("broken_inheritance", protected, {"control_flags": hex(PROTECTED_FLAGS)})
    )
    shares = _shares(r, junction, principals, violations)
    policies = _export_policies(violations)
    unreadable = next(v.target for v in violations if v.kind == "unreadable")
    all_folders = set(folders)
    entries = tuple(
        AclEntry(
            path,
            path[len(junction) + 1 :],
            path in all_folders,
            None if path == unreadable else builder.records[path],
        )
        for path in [*folders, *ntfs_files, *unix_files]
    )
    return AclTree(
        seed=seed,
        svm=svm,
        volume=volume,
        sensitive_prefixes=tuple(f"{junction}/{name}" for name in SENSITIVE_FOLDERS),
        principals=tuple(principals.values()),
        entries=entries,
        shares=tuple(shares),
        export_policies=tuple(policies),
        violations=tuple(sorted(violations, key=lambda v: VIOLATION_KINDS.index(v.kind))),
    )


def _folders(r: Any, junction: str, depth: int) -> list[str]:
    """The junction, the fixed top folders, then seeded subfolders level by level; the first
    sensitive folder always gets a subfolder (the one whose DACL is protected)."""
    top = [f"{junction}/{name}" for name in _TOP_FOLDERS]
    folders = [junction, *top]
    frontier = top
    for level in range(2, depth + 1):
        below = []
        for parent in frontier:
            extra = 1 if level == 2 and parent == f"{junction}/{SENSITIVE_FOLDERS[0]}" else 0
            below += [f"{parent}/{name}" for name in r.sample(_SUBFOLDERS, r.randrange(0, 3) + extra)]
        folders += below
        frontier = below
    return folders


def _files(
    r: Any, count: int, unix_folders: list[str], ntfs_folders: list[str]
) -> tuple[list[str], list[str]]:
    """A few files in the UNIX qtree (at least two), the rest anywhere in NTFS folders."""
    in_unix = max(2, count // 8)
    unix: list[str] = []
    ntfs: list[str] = []
    for index in range(count):
        parent = r.choice(unix_folders if index < in_unix else ntfs_folders)
        path = f"{parent}/{r.choice(_FILE_STEMS)} {index:03d}{r.choice(_EXTENSIONS)}"
        (unix if index < in_unix else ntfs).append(path)
    return unix, ntfs


def _inherited(acls: Iterable[Mapping[str, Any]], *, folder: bool) -> list[dict[str, Any]]:
    return [_ace(a["user"], a["rights"], inherited=True, access=a["access"], folder=folder) for a in acls]


def _describe_ntfs(
    builder: _Builder, junction: str, folders: list[str], files: list[str], protected: str
) -> None:
    """Explicit ACEs at the volume root and on the protected folder; inherited ones elsewhere."""
    root_acls = [
        _ace("BUILTIN\\Administrators", "full_control", inherited=False),
        _ace("NT AUTHORITY\\SYSTEM", "full_control", inherited=False),
        _ace(f"{DOMAIN}\\Legal-Editors", "modify", inherited=False),
        _ace(f"{DOMAIN}\\Legal-Readers", "read_and_execute", inherited=False),
        _ace(f"{DOMAIN}\\Domain Users", "read", inherited=False),
    ]
    builder.ntfs(junction, directory=True, acls=root_acls, flags=ROOT_FLAGS)
    for path in folders[1:]:  # parents come before their children
        if path == protected:
            own = [
                _ace("BUILTIN\\Administrators", "full_control", inherited=False),
                _ace(f"{DOMAIN}\\HR-Confidential", "modify", inherited=False),
            ]
            builder.ntfs(path, directory=True, acls=own, flags=PROTECTED_FLAGS)
        else:
            parent = builder.records[path.rsplit("/", 1)[0]]["acls"]
            builder.ntfs(path, directory=True, acls=_inherited(parent, folder=True), flags=INHERITING_FLAGS)
    for path in files:
        parent = builder.records[path.rsplit("/", 1)[0]]["acls"]
        builder.ntfs(path, directory=False, acls=_inherited(parent, folder=False), flags=INHERITING_FLAGS)


def _plant_file_violations(
    r: Any, builder: _Builder, ntfs_files: list[str], unix_files: list[str], domain_sid: str
) -> list[PlantedViolation]:
    """Each file-level kind on its own file: an extra explicit ACE first in the DACL, the other
    bit on a UNIX file, and one file whose record will be withheld."""
    broad, orphan, direct, unreadable = r.sample(ntfs_files, 4)
    principal, rights = r.choice(BROAD_PRINCIPALS), r.choice(("modify", "full_control"))
    builder.records[broad]["acls"].insert(0, _ace(principal, rights, inherited=False, folder=False))
    orphan_sid = f"{domain_sid}-{r.randrange(5000, 9000)}"  # same domain, an account since deleted
    builder.records[orphan]["acls"].insert(0, _ace(orphan_sid, "read", inherited=False, folder=False))
    user = f"{DOMAIN}\\{r.choice(_USERS)}"
    builder.records[direct]["acls"].insert(0, _ace(user, "modify", inherited=False, folder=False))
    writable, mode = r.choice(unix_files), r.choice((666, 646, 777))
    builder.records[writable].update(mode_bits=mode, text_mode_bits=_octal_text(mode))
    return [
        PlantedViolation("broad_principal_write", broad, {"user": principal, "rights": rights}),
        PlantedViolation("orphaned_sid", orphan, {"user": orphan_sid}),
        PlantedViolation("direct_user_ace", direct, {"user": user, "rights": "modify"}),
        PlantedViolation("world_writable_unix", writable, {"mode_bits": mode}),
        PlantedViolation("unreadable", unreadable, {"status": 404}),
    ]


def _shares(
    r: Any, junction: str, principals: Mapping[str, Principal], violations: list[PlantedViolation]
) -> list[dict[str, Any]]:
    """Shares granting groups only; one seeded share also grants Everyone full control."""
    editors, readers = f"{DOMAIN}\\Legal-Editors", f"{DOMAIN}\\Legal-Readers"
    shares = [
        _share(
            "legal$", junction, [("BUILTIN\\Administrators", "full_control"), (editors, "change")], principals
        ),
        _share(
            "contracts 2026",
            f"{junction}/contracts 2026",
            [(editors, "change"), (readers, "read")],
            principals,
        ),
        _share("hr", f"{junction}/hr", [(f"{DOMAIN}\\HR-Confidential", "change")], principals),
        _share(
            "public",
            f"{junction}/public",
            [(f"{DOMAIN}\\Domain Users", "read"), (editors, "change")],
            principals,
        ),
    ]
    opened = r.choice(shares)
    opened["acls"].append(_share_acl("Everyone", "full_control", principals))
    violations.append(
        PlantedViolation("share_everyone_full_control", f"share:{opened['name']}", {"path": opened["path"]})
    )
    return shares


def _export_policies(violations: list[PlantedViolation]) -> list[dict[str, Any]]:
    """Two policies; the build policy's second rule opens the volume to the world as root."""
    violations.append(
        PlantedViolation("export_open_to_world", "export-policy:eng_build/rule:2", {"clients": ["0.0.0.0/0"]})
    )
    build_hosts = ["10.30.1.0/24", "10.30.2.15"]
    return [
        {
            "name": "legal_readers",
            "rules": [
                _rule(1, ["10.20.0.0/16"], ro=["sys"], rw=["never"], superuser=["none"], protocols=["nfs4"])
            ],
        },
        {
            "name": "eng_build",
            "rules": [
                _rule(1, build_hosts, ro=["sys"], rw=["sys"], superuser=["none"], protocols=["nfs3", "nfs4"]),
                _rule(2, ["0.0.0.0/0"], ro=["any"], rw=["any"], superuser=["any"], protocols=["any"]),
            ],
        },
    ]


def _share_acl(user: str, permission: str, principals: Mapping[str, Principal]) -> dict[str, Any]:
    return {
        "user_or_group": user,
        "type": "windows",
        "permission": permission,
        "win_sid_unix_id": principals[user].sid,
    }


def _share(
    name: str, path: str, acls: Sequence[tuple[str, str]], principals: Mapping[str, Principal]
) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "acls": [_share_acl(user, permission, principals) for user, permission in acls],
    }


def _rule(
    index: int,
    clients: list[str],
    *,
    ro: list[str],
    rw: list[str],
    superuser: list[str],
    protocols: list[str],
) -> dict[str, Any]:
    """An export rule as ONTAP returns it (``clients`` as ``[{"match": …}]``)."""
    return {
        "index": index,
        "clients": [{"match": client} for client in clients],
        "protocols": protocols,
        "ro_rule": ro,
        "rw_rule": rw,
        "superuser": superuser,
        "anonymous_user": "65534",
        "allow_suid": False,
        "allow_device_creation": False,
        "chown_mode": "restricted",
        "ntfs_unix_security": "fail",
    }


# --- loading into the ONTAP simulator ------------------------------------------------------------

_SECURITY_FIELDS: Final = (
    "owner",
    "group",
    "control_flags",
    "security_style",
    "effective_style",
    "mode_bits",
    "text_mode_bits",
    "user_id",
    "group_id",
    "inode",
    "dos_attributes",
    "text_dos_attr",
)


@dataclass(frozen=True)
class LoadedAclTree:
    svm: Svm
    volume: Volume
    unreadable_fault: FaultRule | None


def _any_encoding(text: str) -> str:
    """A regex matching ``text`` however a client percent-encodes it in a URL path: raw or
    ``%XX`` (either hex case) per UTF-8 byte, and ``+`` for a space (what ``quote_plus`` sends)."""
    parts = []
    for char in text:
        encoded = "".join(f"%[{b >> 4:X}{b >> 4:x}][{b & 15:X}{b & 15:x}]" for b in char.encode("utf-8"))
        options = [re.escape(char), encoded] + ([r"\+"] if char == " " else [])
        parts.append("(?:" + "|".join(options) + ")")
    return "".join(parts)


def load_acl_tree(
    sim: OntapSimulator, tree: AclTree, *, unreadable_status: int | None = None
) -> LoadedAclTree:
    """Create the tree's SVM, volume, file security, shares and export policies in ``sim``.

    The unreadable file gets no security record, so ONTAP's own answer is 404 "entry doesn't
    exist"; with ``unreadable_status`` (e.g. 403 or 500) a fault rule answers that status instead
    for every encoding of its path.
    """
    svm = next((s for s in sim.svms if s.uuid == tree.svm["uuid"]), None) or sim.add_svm(
        tree.svm["name"], uuid=tree.svm["uuid"]
    )
    volume = sim.add_volume(
        tree.volume["name"],
        svm=svm,
        junction_path=tree.volume["junction_path"],
        security_style=tree.volume["security_style"],
        uuid=tree.volume["uuid"],
    )
    for entry in tree.entries:
        if entry.permissions is None:
            continue
        record = entry.permissions
        attributes = {name: record.get(name) for name in _SECURITY_FIELDS}
        acls = [
            FileAce(
                ace["user"],
                ace["access"],
                apply_to=dict(ace["apply_to"]),
                advanced_rights=dict(ace["advanced_rights"]),
                rights=ace.get("rights"),
                inherited=ace.get("inherited"),
                access_control=ace.get("access_control", "file_directory"),
            )
            for ace in record.get("acls", [])
        ]
        sim.set_file_security(svm, entry.path, acls=acls, **attributes)
    for share in tree.shares:
        share_acls = [
            ShareAcl(a["user_or_group"], a["permission"], a["type"], a.get("win_sid_unix_id"))
            for a in share["acls"]
        ]
        sim.add_cifs_share(share["name"], svm=svm, path=share["path"], acls=share_acls)
    for policy in tree.export_policies:
        rules = [
            ExportRule(
                [client["match"] for client in rule["clients"]],
                ro_rule=list(rule["ro_rule"]),
                rw_rule=list(rule["rw_rule"]),
                superuser=list(rule["superuser"]),
                protocols=list(rule["protocols"]),
                anonymous_user=rule["anonymous_user"],
                allow_suid=rule["allow_suid"],
                allow_device_creation=rule["allow_device_creation"],
                chown_mode=rule["chown_mode"],
                ntfs_unix_security=rule["ntfs_unix_security"],
                index=rule["index"],
            )
            for rule in policy["rules"]
        ]
        sim.add_export_policy(policy["name"], svm=svm, rules=rules)
    fault = None
    if unreadable_status is not None:
        path = tree.violation("unreadable").target
        pattern = (
            rf"/api/protocols/file-security/permissions/{re.escape(svm.uuid)}/"
            rf"(?:/|%2[Ff])?{_any_encoding(path.lstrip('/'))}/?"
        )
        fault = sim.faults.add(method="GET", path=pattern, status=unreadable_status)
    return LoadedAclTree(svm, volume, fault)
