"""Fixtures of the legal-compliance tests: a small NTFS volume in the ONTAP simulator, moto, settings.

The volume's names are the ones the event files use (``events/legal-compliance/*.json``): spaces,
``#``, ``%``, parentheses and Japanese, so every handler test also exercises path encoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from legal_compliance import audit
from moto import mock_aws

from sandbox.ontap import ExportRule, FileAce, OntapSimulator, ShareAcl, SimulatorEndpoint, Svm, Volume

SVM_UUID = "2a5f6c1e-8b3d-4e7a-9c0f-1d2e3f4a5b6c"
VOLUME_UUID = "7d9e1f20-3a4b-4c5d-8e6f-708192a3b4c5"
ALIAS = "legal-ap-0a1b2c3d4e5f6g7h8i9j0k1l2m-ext-s3alias"
OUTPUT = "legal-outputs"
REGION = "ap-northeast-1"
CLEAN_FILE = "Matters/2024/契約書 2024.docx"
OPEN_FILE = "Matters/2024/memo #3 (100%).pdf"


def ace(user: str, rights: str = "read", *, inherited: bool = True, access: str = "access_allow") -> FileAce:
    return FileAce(user, access, rights=rights, inherited=inherited, advanced_rights=None)


@dataclass
class LegalVolume:
    """The simulator holding the volume, and the running endpoint the client talks to."""

    sim: OntapSimulator
    svm: Svm
    volume: Volume
    endpoint: SimulatorEndpoint

    def put(self, key: str, acls: list[FileAce], **attributes: Any) -> str:
        """Give ``key`` (volume-relative; ``/`` for the root) a security record; returns its path."""
        path = "/legal" if key == "/" else "/legal/" + key.rstrip("/")
        defaults = {"owner": "BUILTIN\\Administrators", "control_flags": "0x8404", "effective_style": "ntfs"}
        self.sim.set_file_security(self.svm, path, acls=acls, **{**defaults, **attributes})
        return path

    def file_security_paths(self) -> list[str]:
        return [
            r.path
            for r in self.sim.requests
            if r.path.startswith("/api/protocols/file-security/permissions/")
        ]


def build_volume(sim: OntapSimulator) -> tuple[Svm, Volume]:
    svm = sim.add_svm("svm_legal", uuid=SVM_UUID)
    volume = sim.add_volume(
        "legal_ntfs", svm=svm, junction_path="/legal", security_style="ntfs", uuid=VOLUME_UUID
    )
    sim.add_cifs_share(
        "legal$",
        svm=svm,
        path="/legal",
        acls=[ShareAcl("BUILTIN\\Administrators", "full_control", "windows", "S-1-5-32-544")],
    )
    sim.add_cifs_share("matters", svm=svm, path="/legal/Matters")  # ONTAP's default: Everyone / full
    sim.add_cifs_share("other volume", svm=svm, path="/finance")
    sim.add_export_policy(
        "legal_nfs",
        svm=svm,
        rules=[
            ExportRule(["10.0.0.0/16"], ro_rule=["sys"], rw_rule=["never"], superuser=["none"]),
            ExportRule(["0.0.0.0/0"], ro_rule=["sys"], rw_rule=["sys"], superuser=["none"]),
        ],
    )
    return svm, volume


@pytest.fixture
def legal_volume() -> Iterator[LegalVolume]:
    sim = OntapSimulator(password="Read-0nly-Passw0rd")
    svm, volume = build_volume(sim)
    with sim.running(tls=True) as endpoint:
        world = LegalVolume(sim, svm, volume, endpoint)
        world.put(
            "/", [ace("BUILTIN\\Administrators", "full_control", inherited=False)], control_flags="0x8004"
        )
        world.put("Matters/", [ace("BUILTIN\\Administrators", "full_control")])
        world.put("Matters/2024/", [ace("BUILTIN\\Administrators", "full_control")])
        world.put(CLEAN_FILE, [ace("BUILTIN\\Administrators", "full_control"), ace("CORP\\Legal-Readers")])
        world.put(OPEN_FILE, [ace("Everyone", "full_control", inherited=False)])
        yield world


@pytest.fixture(autouse=True)
def _fresh_context_cache() -> Iterator[None]:
    """Batch processes cache a run's context; tests reuse run ids with different volumes."""
    audit._contexts.clear()
    yield
    audit._contexts.clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, legal_volume: LegalVolume) -> Iterator[Any]:
    """moto with the access point and output buckets, the ONTAP secret, and every handler's env."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ALIAS, OUTPUT):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for key in (CLEAN_FILE, OPEN_FILE):
            s3.put_object(Bucket=ALIAS, Key=key, Body=b"privileged")
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="legal/ontap",
            SecretString=json.dumps({"username": "fsxadmin", "password": "Read-0nly-Passw0rd"}),
        )
        environment = {
            "ACCESS_POINT": ALIAS,
            "OUTPUT_BUCKET": OUTPUT,
            "BATCH_SIZE": "100",
            "VOLUME_UUID": VOLUME_UUID,
            "ONTAP_MANAGEMENT_ENDPOINT": legal_volume.endpoint.endpoint,
            "ONTAP_SECRET_ID": secret["ARN"],
            "ONTAP_CA_BUNDLE": legal_volume.endpoint.ca_bundle or "",
            "ONTAP_TIMEOUT_SECONDS": "5",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield s3


def read_json(s3: Any, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=OUTPUT, Key=key)["Body"].read())


def read_lines(s3: Any, key: str) -> list[Any]:
    body = s3.get_object(Bucket=OUTPUT, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines() if line.strip()]
