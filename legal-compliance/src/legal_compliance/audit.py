"""The two ONTAP steps of a run: the context once, then each batch of files and folders.

``prepare_context`` fetches the volume, shares and export policies, checks that the service
account can read file security (one GET on the volume root, so a role without the privilege
fails the run at once instead of turning every file into an "unreadable" finding), judges the
shares and export rules when the run is a full audit, and stores it all as
``runs/<run_id>/context.json``.

``audit_batch`` reads that context (once per run and process) and audits each key of its batch
with one file-security GET on the process's keep-alive ONTAP connection. A file or folder whose
security cannot be read (404, 403, an undocumented body, a name ONTAP cannot take) becomes an
``unreadable`` finding; only a retryable failure (ONTAP unavailable after the client's retries)
fails the batch, for the state machine's Retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from legal_compliance.discovery import FULL, is_folder
from legal_compliance.findings import FILE, FOLDER, audit_exports, audit_object, audit_shares, unreadable
from legal_compliance.ontap_context import ROOT_KEY, OntapContext, fetch_context
from legal_compliance.permissions import fetch_permissions
from legal_compliance.rules import RuleSet
from shared.batch import BatchRequest, process_batch
from shared.errors import InvalidInputError, OntapApiError, OntapResponseError, OutputExistsError
from shared.observability import logger
from shared.ontap_client import OntapClient
from shared.s3ap import OutputLocation, S3Client, read_run_json, write_json

CONTEXT = "context.json"


@dataclass(frozen=True)
class ContextRequest:
    """``{"run_id": <execution name>, "scope": "full" | "paths"}``."""

    run_id: str
    scope: str = FULL

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ContextRequest:
        run_id = event.get("run_id") if isinstance(event, Mapping) else None
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run_id", f"expected the execution name as a string, got {run_id!r}")
        scope = event.get("scope", FULL)
        if scope not in (FULL, "paths"):
            raise InvalidInputError("scope", f"'full' or 'paths', got {scope!r}")
        return cls(run_id, scope)


def prepare_context(
    client: OntapClient,
    rules: RuleSet,
    volume_uuid: str,
    output: OutputLocation,
    request: ContextRequest,
    *,
    s3: S3Client | None = None,
) -> dict[str, Any]:
    """Fetch, judge and store the run's context; returns a small summary for state."""
    context = fetch_context(client, volume_uuid)
    # Fails with OntapAuthError (terminal) when the role cannot read file security at all.
    fetch_permissions(client, context.svm_uuid, context.path_for(ROOT_KEY))
    findings = []
    if request.scope == FULL:
        findings = [f.to_dict() for f in [*audit_shares(rules, context), *audit_exports(rules, context)]]
    document = {**context.to_dict(), "scope": request.scope, "findings": findings}
    try:
        write_json(output, request.run_id, CONTEXT, document, s3=s3)
    except OutputExistsError:
        # A retried step whose first attempt stored the context: that one is what batches read.
        logger.warning("context already stored by an earlier attempt", run_id=request.run_id)
        document = read_run_json(output, request.run_id, CONTEXT, s3=s3)
    return {
        "context": {"bucket": output.bucket, "key": output.run_key(request.run_id, CONTEXT)},
        "svm": document["svm"]["name"],
        "volume": document["volume"]["name"],
        "shares": len(document["shares"]),
        "export_policies": len(document["export_policies"]),
        "findings": len(document["findings"]),
    }


_contexts: dict[tuple[str, str, str], OntapContext] = {}


def load_context(output: OutputLocation, run_id: str, *, s3: S3Client | None = None) -> OntapContext:
    """The run's stored context, read once per run by each warm batch process."""
    cache_key = (output.bucket, output.prefix, run_id)
    if cache_key not in _contexts:
        _contexts.clear()  # one run at a time per process: keep only the current one
        _contexts[cache_key] = OntapContext.from_dict(read_run_json(output, run_id, CONTEXT, s3=s3))
    return _contexts[cache_key]


def audit_key(client: OntapClient, context: OntapContext, rules: RuleSet, key: str) -> dict[str, Any]:
    """The record of one file or folder: its ONTAP path, type and findings."""
    object_type = FOLDER if is_folder(key) else FILE
    path = context.path_for(key)
    try:
        permissions = fetch_permissions(client, context.svm_uuid, path)
    except (OntapApiError, OntapResponseError, InvalidInputError) as err:
        reason = {
            "error": type(err).__name__,
            "message": getattr(err, "ontap_message", None) or err.message,
            "http_status": getattr(err, "status", None),
            "code": getattr(err, "code", None),
        }
        finding = unreadable(
            rules, key=key, path=path, object_type=object_type, reason={k: v for k, v in reason.items() if v}
        )
        return {"type": object_type, "path": path, "readable": False, "findings": [finding.to_dict()]}
    findings = audit_object(rules, context, key, object_type, permissions)
    return {
        "type": object_type,
        "path": path,
        "readable": True,
        "style": permissions.effective_style,
        "findings": [finding.to_dict() for finding in findings],
    }


def audit_batch(
    client: OntapClient,
    rules: RuleSet,
    output: OutputLocation,
    request: BatchRequest,
    *,
    s3: S3Client | None = None,
) -> dict[str, Any]:
    """Audit one Distributed Map item; its records go to the run's ``parts/``."""
    context = load_context(output, request.run_id, s3=s3)
    findings = 0

    def audit_one(key: str) -> dict[str, Any]:
        nonlocal findings
        record = audit_key(client, context, rules, key)
        findings += len(record["findings"])
        return record

    summary = process_batch(request, audit_one, output, s3=s3)
    return {**summary.to_dict(), "findings": findings}
