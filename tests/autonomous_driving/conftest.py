"""Fixtures of the autonomous-driving tests: moto with the sandbox scenario's drive log.

The access point alias and output bucket are the ones the event files use
(``events/autonomous-driving/*.json``); the drive log is the sandbox scenario's (seed 7), so a
handler test reads exactly the keys an event names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.scenarios.autonomous_driving import upload_drive_log
from shared.snapstart import run_after_restore_hooks
from tests.autonomous_driving.helpers import ALIAS, OUTPUT, REGION


@dataclass
class DriveLogWorld:
    s3: Any
    files: dict[str, Any]

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=ALIAS, Key=key, Body=body)
        return key

    def output(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=OUTPUT, Key=key)["Body"].read()
        return data


@pytest.fixture
def drive_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[DriveLogWorld]:
    """moto with the scenario's drive log (seed 7) behind the access point, and the output bucket."""
    for name, value in {
        "ACCESS_POINT": ALIAS,
        "OUTPUT_BUCKET": OUTPUT,
        "BATCH_SIZE": "10",
        "ENABLE_INFERENCE": "false",
        "INFERENCE_TYPE": "none",
        "BATCH_THRESHOLD": "100",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        run_after_restore_hooks()  # process-wide clients must belong to this moto world
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ALIAS, OUTPUT):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        drive = upload_drive_log(s3, ALIAS, 7, 50)
        yield DriveLogWorld(s3, dict(zip(drive.keys, drive.files, strict=False)))
        run_after_restore_hooks()
