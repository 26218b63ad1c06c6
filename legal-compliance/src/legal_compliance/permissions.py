"""File security as ONTAP reports it: one GET per file or folder, parsed into what the rules judge.

``GET /api/protocols/file-security/permissions/{svm.uuid}/{path}`` (ONTAP 9.9+, the REST form of
``vserver security file-directory show``) returns the security descriptor of one file or folder:
``owner``, ``group``, ``control_flags`` (hexadecimal SD control, e.g. ``"0x8014"``),
``effective_style`` / ``security_style`` (``ntfs``, ``unix``, ``mixed``, ``unified``),
``mode_bits`` (the octal digits read as a decimal number, ``755``) and ``text_mode_bits``
(``rwxr-xr-x``), and ``acls[]`` with ``user`` (a name, or the SID when ONTAP cannot translate
it), ``access`` (``access_allow``, ``access_deny``, ``audit_success``, ``audit_failure``),
``rights`` (a standard right) or ``advanced_rights`` (the basic permissions as booleans),
``apply_to`` (``files``, ``sub_folders``, ``this_folder``), ``inherited`` and
``access_control`` (``file_directory`` or ``slag``).

``{path}`` is the path below the SVM root (the volume's junction path, then the file's path in the
volume) sent as ONE URL segment, ``/`` included (:func:`shared.ontap_client.api_path`): a name
with a space, ``#``, ``%``, ``?`` or non-ASCII letters reaches ONTAP exactly as it is on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from legal_compliance.rules import RIGHTS_SCALE
from shared.errors import OntapResponseError
from shared.ontap_client import OntapClient, api_path

FIELDS: Final = (
    "owner",
    "group",
    "control_flags",
    "acls",
    "effective_style",
    "security_style",
    "mode_bits",
    "text_mode_bits",
    "user_id",
    "group_id",
)
"""Only what the rules and the evidence use: ``dos_attributes``, ``inode`` … stay on ONTAP."""

SE_DACL_PROTECTED: Final = 0x1000
"""MS-DTYP 2.4.6: the DACL does not inherit from the parent."""

_WRITE_BASIC: Final = frozenset({"write_data", "append_data"})
_CHANGE_BASIC: Final = frozenset(
    {"write_data", "append_data", "write_attr", "write_ea", "delete", "delete_child"}
)
_READ_BASIC: Final = frozenset({"read_data", "read_attr", "read_ea", "read_perm"})
_OWNER_BASIC: Final = frozenset({"full_control", "write_perm", "write_owner"})


@dataclass(frozen=True)
class Ace:
    """One access control entry, with ONTAP's record kept as evidence."""

    user: str
    access: str
    rights: str
    inherited: bool
    access_control: str
    record: Mapping[str, Any]

    def evidence(self) -> dict[str, Any]:
        """The ACE as ONTAP returned it, advanced rights reduced to those granted."""
        evidence = {key: value for key, value in self.record.items() if key != "advanced_rights"}
        advanced = self.record.get("advanced_rights")
        if isinstance(advanced, Mapping):
            evidence["advanced_rights"] = sorted(
                name for name, granted in advanced.items() if granted is True
            )
        return evidence


@dataclass(frozen=True)
class FilePermissions:
    """The security descriptor of one file or folder."""

    path: str
    owner: str | None
    group: str | None
    control_flags: int | None
    effective_style: str | None
    security_style: str | None
    mode_bits: int | None
    text_mode_bits: str | None
    user_id: str | None
    group_id: str | None
    acls: tuple[Ace, ...]

    @property
    def dacl_protected(self) -> bool:
        return self.control_flags is not None and bool(self.control_flags & SE_DACL_PROTECTED)

    @property
    def other_writable(self) -> bool | None:
        """The 'other' write bit; None when ONTAP reported no mode bits."""
        if self.mode_bits is not None:
            return bool(self.mode_bits % 10 & 2)
        if self.text_mode_bits is not None and len(self.text_mode_bits) >= 9:
            return self.text_mode_bits[-2] == "w"
        return None

    def object_evidence(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in {
                "owner": self.owner,
                "group": self.group,
                "control_flags": None if self.control_flags is None else f"{self.control_flags:#06x}",
                "effective_style": self.effective_style,
                "security_style": self.security_style,
                "mode_bits": self.mode_bits,
                "text_mode_bits": self.text_mode_bits,
                "user_id": self.user_id,
                "group_id": self.group_id,
            }.items()
            if value is not None
        }


def fetch_permissions(client: OntapClient, svm_uuid: str, path: str) -> FilePermissions:
    """One GET of ``path``'s security (``path`` below the SVM root, e.g. ``/legal/a b#1.docx``).

    Raises the client's typed errors (404 :class:`~shared.errors.OntapNotFoundError`, 401/403
    :class:`~shared.errors.OntapAuthError`, 429/5xx after retries
    :class:`~shared.errors.OntapUnavailableError`) and :class:`OntapResponseError` for a body
    without the documented shape.
    """
    record = client.get(
        api_path("protocols", "file-security", "permissions", svm_uuid, path, field="path"), fields=FIELDS
    )
    return parse_permissions(path, record)


def parse_permissions(path: str, record: Mapping[str, Any]) -> FilePermissions:
    """Parse ONTAP's file-security record; anything of an undocumented shape is refused."""
    acls = record.get("acls", [])
    if not isinstance(acls, list):
        raise _bad(path, "acls", acls)
    return FilePermissions(
        path=path,
        owner=_optional_str(record, "owner", path),
        group=_optional_str(record, "group", path),
        control_flags=_control_flags(record.get("control_flags"), path),
        effective_style=_optional_str(record, "effective_style", path),
        security_style=_optional_str(record, "security_style", path),
        mode_bits=_mode_bits(record.get("mode_bits"), path),
        text_mode_bits=_optional_str(record, "text_mode_bits", path),
        user_id=_optional_str(record, "user_id", path),
        group_id=_optional_str(record, "group_id", path),
        acls=tuple(_ace(item, path) for item in acls),
    )


def rights_level(record: Mapping[str, Any]) -> str:
    """The standard right an ACE amounts to (RIGHTS_SCALE), from ``rights`` and ``advanced_rights``.

    When both are present the higher one counts. Basic permissions map conservatively: changing
    the DACL or the owner is as good as full control; write plus delete is modify; any change or
    delete right alone is write.
    """
    named = record.get("rights")
    level = RIGHTS_SCALE.index(named) if named in RIGHTS_SCALE else 0
    advanced = record.get("advanced_rights")
    if isinstance(advanced, Mapping):
        granted = {name for name, value in advanced.items() if value is True}
        if granted & _OWNER_BASIC:
            derived = "full_control"
        elif granted & _WRITE_BASIC and "delete" in granted:
            derived = "modify"
        elif granted & _CHANGE_BASIC:
            derived = "write"
        elif "execute_file" in granted and granted & _READ_BASIC:
            derived = "read_and_execute"
        elif granted & _READ_BASIC:
            derived = "read"
        else:
            derived = "no_access"
        level = max(level, RIGHTS_SCALE.index(derived))
    return RIGHTS_SCALE[level]


def _ace(item: Any, path: str) -> Ace:
    if not isinstance(item, Mapping):
        raise _bad(path, "acls[]", item)
    user, access = item.get("user"), item.get("access")
    if not isinstance(user, str) or not user or not isinstance(access, str):
        raise _bad(path, "acls[].user/access", {"user": user, "access": access})
    inherited = item.get("inherited", False)
    if not isinstance(inherited, bool):
        raise _bad(path, "acls[].inherited", inherited)
    return Ace(
        user=user,
        access=access,
        rights=rights_level(item),
        inherited=inherited,
        access_control=str(item.get("access_control") or "file_directory"),
        record=dict(item),
    )


def _optional_str(record: Mapping[str, Any], name: str, path: str) -> str | None:
    value = record.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # user_id/group_id are documented as strings; tolerate numbers
    raise _bad(path, name, value)


def _control_flags(value: Any, path: str) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value), 16)
    except ValueError:
        raise _bad(path, "control_flags", value) from None


def _mode_bits(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 0
        or any(d in "89" for d in str(value))
    ):
        raise _bad(path, "mode_bits", value)
    return value


def _bad(path: str, name: str, value: Any) -> OntapResponseError:
    return OntapResponseError(
        f"file security of {path!r}: {name} has an undocumented shape: {value!r}", path=path, field=name
    )
