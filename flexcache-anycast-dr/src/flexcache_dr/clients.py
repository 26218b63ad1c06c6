"""The process's AWS and ONTAP clients, each created on first use (never at import) and cached.

Every member has its own cluster, so the ONTAP client is per (endpoint, secret): its settings go
through :meth:`shared.ontap_client.OntapSettings.from_env` with the member's endpoint and secret
in place of ``ONTAP_MANAGEMENT_ENDPOINT``/``ONTAP_SECRET_ID``, so TLS verification, the CA bundle
and the timeout are validated exactly as for every other use case. A health check must report
quickly rather than wait out a long outage, so these clients retry once with a short backoff
(the shared default is four retries with up to 8 s between them).

S3 clients are per Region: an access point alias is served only by its own Region's endpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

import boto3
from botocore.config import Config

from flexcache_dr.topology import Member
from shared.ontap_client import OntapClient, OntapSettings, SecretsManagerCredentials
from shared.snapstart import after_restore

HEALTH_CHECK_RETRIES: Final = 1
_ontap_clients: dict[OntapSettings, OntapClient] = {}


def ontap_client(member: Member, environ: Mapping[str, str]) -> OntapClient:
    settings = OntapSettings.from_env(
        {**environ, "ONTAP_MANAGEMENT_ENDPOINT": member.management_endpoint, "ONTAP_SECRET_ID": member.secret}
    )
    client = _ontap_clients.get(settings)
    if client is None:
        client = _ontap_clients[settings] = OntapClient(
            settings.endpoint,
            SecretsManagerCredentials(settings.secret_id, client=aws("secretsmanager")),
            verify_tls=settings.verify_tls,
            ca_bundle=settings.ca_bundle,
            timeout=settings.timeout_seconds,
            max_retries=HEALTH_CHECK_RETRIES,
            backoff_base=0.2,
            backoff_cap=1.0,
        )
    return client


@functools.cache
def s3_in(region: str) -> Any:
    """An S3 client of ``region``, short timeouts: a probe measures, it does not wait."""
    return boto3.client(
        "s3",
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=5),
    )


@functools.cache
def aws(service: str) -> Any:
    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))


@after_restore
def _drop_clients() -> None:
    """No connection or cached password may cross a SnapStart snapshot."""
    while _ontap_clients:
        _, client = _ontap_clients.popitem()
        client.close()
    s3_in.cache_clear()
    aws.cache_clear()
