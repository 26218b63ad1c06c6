"""The ONTAP context of a run: the volume, the CIFS shares and the NFS export policies that apply.

Fetched once per run (four to five REST calls whatever the number of files) and stored as
``runs/<run_id>/context.json``; the batch functions read that object, not ONTAP, for the volume's
junction path, SVM and shares, and call ONTAP only for each file's own security.

* **Volume** — ``GET /api/storage/volumes/{uuid}``: ``name``, ``svm``, ``nas.path`` (the junction
  path: file paths in ONTAP's file-security API start with it), ``nas.security_style`` and
  ``nas.export_policy``.
* **Shares** — ``GET /api/protocols/cifs/shares?svm.uuid=…`` with ``name,path,acls,volume``: every
  share of the SVM that reaches the volume, i.e. whose path is the junction path, lies below it, or
  lies above it (a share of ``/`` exposes every junctioned volume).
* **Export policies** — the volume's ``nas.export_policy`` plus its qtrees' policies
  (``GET /api/storage/qtrees?volume.uuid=…``), then ``GET /api/protocols/nfs/export-policies
  ?svm.uuid=…`` with ``id,name,rules``. When the volume record names no export policy (a REST role
  that cannot read ``nas.export_policy``, or a simulator that does not model the attachment),
  every policy of the SVM is audited and ``export_policy_scope`` says ``svm`` instead of ``volume``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shared.errors import InvalidInputError, OntapResponseError
from shared.ontap_client import OntapClient, api_path

VOLUME_FIELDS: Final = "uuid,name,svm.uuid,svm.name,nas.path,nas.security_style,nas.export_policy"
SHARE_FIELDS: Final = "name,path,acls,volume"
EXPORT_POLICY_FIELDS: Final = "id,name,rules"
QTREE_FIELDS: Final = "name,path,export_policy"
PAGE_SIZE: Final = 500
ROOT_KEY: Final = "/"
"""The manifest key that stands for the volume's root folder (its junction)."""


@dataclass(frozen=True)
class Share:
    name: str
    path: str
    acls: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class ExportPolicy:
    id: int | None
    name: str
    rules: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class OntapContext:
    """What every step of a run needs to know about the volume, as a small JSON-able object."""

    svm_uuid: str
    svm_name: str
    volume_uuid: str
    volume_name: str
    junction_path: str
    security_style: str | None
    export_policy_scope: str = "volume"
    shares: tuple[Share, ...] = ()
    export_policies: tuple[ExportPolicy, ...] = field(default_factory=tuple)

    def path_for(self, key: str) -> str:
        """The ONTAP path of a manifest key: the junction path, then the key (a folder key ends with
        ``/``; :data:`ROOT_KEY` is the junction itself)."""
        relative = key.strip("/")
        junction = self.junction_path.rstrip("/")
        if not relative:
            return junction or "/"
        return f"{junction}/{relative}"

    def shares_exposing(self, path: str) -> list[str]:
        """Names of the shares through which ``path`` can be reached over SMB."""
        return sorted(share.name for share in self.shares if _is_within(path, share.path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "svm": {"uuid": self.svm_uuid, "name": self.svm_name},
            "volume": {
                "uuid": self.volume_uuid,
                "name": self.volume_name,
                "junction_path": self.junction_path,
                "security_style": self.security_style,
            },
            "export_policy_scope": self.export_policy_scope,
            "shares": [{"name": s.name, "path": s.path, "acls": list(s.acls)} for s in self.shares],
            "export_policies": [
                {"id": p.id, "name": p.name, "rules": list(p.rules)} for p in self.export_policies
            ],
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> OntapContext:
        try:
            svm, volume = document["svm"], document["volume"]
            return cls(
                svm_uuid=str(svm["uuid"]),
                svm_name=str(svm["name"]),
                volume_uuid=str(volume["uuid"]),
                volume_name=str(volume["name"]),
                junction_path=str(volume["junction_path"]),
                security_style=volume.get("security_style"),
                export_policy_scope=str(document.get("export_policy_scope", "volume")),
                shares=tuple(
                    Share(str(s["name"]), str(s["path"]), tuple(s.get("acls") or ()))
                    for s in document.get("shares", ())
                ),
                export_policies=tuple(
                    ExportPolicy(p.get("id"), str(p["name"]), tuple(p.get("rules") or ()))
                    for p in document.get("export_policies", ())
                ),
            )
        except (KeyError, TypeError) as err:
            raise InvalidInputError("context", f"not a run context document: {err!r}") from err


def fetch_context(client: OntapClient, volume_uuid: str) -> OntapContext:
    """The volume, the shares that reach it and the export policies that apply, from ONTAP."""
    volume = client.get(
        api_path("storage", "volumes", volume_uuid, field="volume_uuid"), fields=VOLUME_FIELDS
    )
    svm: Mapping[str, Any] = volume["svm"] if isinstance(volume.get("svm"), Mapping) else {}
    nas: Mapping[str, Any] = volume["nas"] if isinstance(volume.get("nas"), Mapping) else {}
    svm_uuid, junction = svm.get("uuid"), nas.get("path")
    if not isinstance(svm_uuid, str) or not svm_uuid:
        raise OntapResponseError(f"volume {volume_uuid} has no svm.uuid", field="svm.uuid")
    if not isinstance(junction, str) or not junction.startswith("/"):
        raise InvalidInputError(
            "VolumeUuid",
            f"volume {volume.get('name', volume_uuid)} is not mounted (no junction path): its files "
            "have no path in the SVM namespace, and an S3 Access Point needs a junctioned volume",
        )

    shares = [
        Share(str(record["name"]), str(record["path"]), tuple(record.get("acls") or ()))
        for record in client.get_collection(
            api_path("protocols", "cifs", "shares"),
            fields=SHARE_FIELDS,
            query={"svm.uuid": svm_uuid},
            max_records=PAGE_SIZE,
        )
        if isinstance(record.get("path"), str) and _reaches(record["path"], junction)
    ]

    attached = _attached_policy_names(client, volume_uuid, nas.get("export_policy"))
    policies = [
        ExportPolicy(record.get("id"), str(record["name"]), tuple(record.get("rules") or ()))
        for record in client.get_collection(
            api_path("protocols", "nfs", "export-policies"),
            fields=EXPORT_POLICY_FIELDS,
            query={"svm.uuid": svm_uuid},
            max_records=PAGE_SIZE,
        )
        if attached is None or record.get("name") in attached
    ]
    return OntapContext(
        svm_uuid=svm_uuid,
        svm_name=str(svm.get("name", "")),
        volume_uuid=str(volume.get("uuid", volume_uuid)),
        volume_name=str(volume.get("name", "")),
        junction_path=junction,
        security_style=nas.get("security_style"),
        export_policy_scope="svm" if attached is None else "volume",
        shares=tuple(sorted(shares, key=lambda s: s.name)),
        export_policies=tuple(sorted(policies, key=lambda p: p.name)),
    )


def _attached_policy_names(client: OntapClient, volume_uuid: str, volume_policy: Any) -> set[str] | None:
    """The volume's policy and its qtrees' policies; None when the volume names no policy."""
    if not isinstance(volume_policy, Mapping) or not isinstance(volume_policy.get("name"), str):
        return None
    names = {volume_policy["name"]}
    for qtree in client.get_collection(
        api_path("storage", "qtrees"),
        fields=QTREE_FIELDS,
        query={"volume.uuid": volume_uuid},
        max_records=PAGE_SIZE,
    ):
        policy = qtree.get("export_policy")
        if isinstance(policy, Mapping) and isinstance(policy.get("name"), str):
            names.add(policy["name"])
    return names


def _is_within(path: str, folder: str) -> bool:
    folder = folder.rstrip("/")
    return not folder or path == folder or path.startswith(folder + "/")


def _reaches(share_path: str, junction: str) -> bool:
    """A share reaches the volume when one path contains the other."""
    return _is_within(junction, share_path) or _is_within(share_path, junction)
