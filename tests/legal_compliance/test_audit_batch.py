"""AuditBatchFunction: one Map item — context from S3, each file's security from ONTAP, a record each."""

from __future__ import annotations

from typing import Any

import pytest
from legal_compliance.audit import audit_key
from legal_compliance.handlers import audit_batch, ontap_context
from legal_compliance.ontap_context import OntapContext
from legal_compliance.rules import default_rules

from shared.errors import InvalidInputError, OntapResponseError, OntapUnavailableError
from tests.legal_compliance.conftest import (
    CLEAN_FILE,
    OPEN_FILE,
    OUTPUT,
    SVM_UUID,
    VOLUME_UUID,
    LegalVolume,
    ace,
    read_lines,
)


@pytest.fixture
def with_context(aws, lambda_context, event_loader) -> dict[str, Any]:
    event = event_loader("legal-compliance/audit_batch")
    ontap_context.handler({"run_id": event["run_id"], "scope": "full"}, lambda_context)
    return event


def records(s3: Any, run_id: str, batch: int = 0) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in read_lines(s3, f"runs/{run_id}/parts/batch-{batch:06d}.jsonl")}


@pytest.mark.network
def test_each_file_and_folder_gets_one_record_with_its_findings(
    aws, with_context, lambda_context, legal_volume: LegalVolume
) -> None:
    before = len(legal_volume.sim.requests)

    result = audit_batch.handler(with_context, lambda_context)

    assert result == {
        "part": {"bucket": OUTPUT, "key": f"runs/{with_context['run_id']}/parts/batch-000000.jsonl"},
        "files": 5,
        "errors": 0,
        "findings": 1,
    }
    found = records(aws, with_context["run_id"])
    assert list(found) == with_context["keys"]
    assert [found[k]["type"] for k in found] == ["folder", "folder", "folder", "file", "file"]
    assert found["/"]["path"] == "/legal" and found["Matters/2024/"]["path"] == "/legal/Matters/2024"
    assert found[CLEAN_FILE]["findings"] == []
    (finding,) = found[OPEN_FILE]["findings"]
    assert (finding["rule"], finding["severity"], finding["principal"], finding["rights"]) == (
        "broad_principal_write",
        "critical",
        "Everyone",
        "full_control",
    )
    assert finding["path"] == "/legal/" + OPEN_FILE and finding["key"] == OPEN_FILE
    assert finding["evidence"]["exposed_via_shares"] == ["legal$", "matters"]
    assert finding["evidence"]["ace"]["inherited"] is False
    # The batch asked ONTAP for file security only (the context came from S3)
    asked = {r.path.split("/api/")[1].split("/")[1] for r in legal_volume.sim.requests[before:]}
    assert asked == {"file-security"}


@pytest.mark.network
def test_batches_reuse_one_keep_alive_connection(
    aws, with_context, lambda_context, legal_volume: LegalVolume
) -> None:
    for index in range(40):
        legal_volume.put(f"Matters/bulk/{index:02d} #.docx", [ace("CORP\\Legal-Readers")])
    keys = [f"Matters/bulk/{index:02d} #.docx" for index in range(40)]
    before = len(legal_volume.sim.requests)

    for batch in range(4):
        audit_batch.handler(
            {"run_id": with_context["run_id"], "batch": batch, "keys": keys[batch * 10 : batch * 10 + 10]},
            lambda_context,
        )

    calls = legal_volume.sim.requests[before:]
    assert len(calls) == 40
    assert len({call.connection_id for call in calls}) == 1


@pytest.mark.network
@pytest.mark.parametrize("status", [404, 403])
def test_a_file_whose_security_cannot_be_read_is_an_unreadable_finding(
    aws, with_context, lambda_context, legal_volume: LegalVolume, status: int
) -> None:
    if status == 403:
        legal_volume.sim.faults.add(method="GET", path=r".*memo%20%233.*", status=403)
    else:
        del legal_volume.sim.file_security[(SVM_UUID, "/legal/" + OPEN_FILE)]

    result = audit_batch.handler(with_context, lambda_context)

    assert (result["files"], result["errors"], result["findings"]) == (5, 0, 1)
    record = records(aws, with_context["run_id"])[OPEN_FILE]
    assert record["readable"] is False
    (finding,) = record["findings"]
    assert finding["rule"] == "unreadable"
    assert finding["severity"] == "high"
    assert finding["evidence"]["http_status"] == status


@pytest.mark.network
def test_ontap_unavailable_fails_the_batch_for_the_state_machine_to_retry(
    aws, with_context, lambda_context, legal_volume: LegalVolume
) -> None:
    legal_volume.sim.faults.add(method="GET", path=r".*memo%20%233.*", status=503, retry_after=0)

    with pytest.raises(OntapUnavailableError):
        audit_batch.handler(with_context, lambda_context)

    listed = aws.list_objects_v2(Bucket=OUTPUT, Prefix=f"runs/{with_context['run_id']}/parts/")
    assert listed.get("KeyCount", 0) == 0  # no partial part: the retry writes it whole


@pytest.mark.network
def test_a_replayed_batch_keeps_its_first_part(
    aws, with_context, lambda_context, legal_volume: LegalVolume
) -> None:
    first = audit_batch.handler(with_context, lambda_context)
    legal_volume.put(CLEAN_FILE, [ace("Everyone", "full_control", inherited=False)])

    replay = audit_batch.handler(with_context, lambda_context)

    assert (replay["files"], replay["errors"]) == (first["files"], first["errors"])
    assert records(aws, with_context["run_id"])[CLEAN_FILE]["findings"] == []


def test_a_batch_without_its_runs_context_is_refused(aws, lambda_context) -> None:
    from shared.errors import S3AccessError

    with pytest.raises(S3AccessError):
        audit_batch.handler({"run_id": "no-context", "batch": 0, "keys": ["a"]}, lambda_context)


class Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, path: str, **options: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        OntapResponseError("acls has an undocumented shape", field="acls"),
        InvalidInputError("path", "segment 5 contains a control character"),
    ],
)
def test_undocumented_bodies_and_impossible_names_are_unreadable_findings(error: Exception) -> None:
    context = OntapContext(SVM_UUID, "svm", VOLUME_UUID, "legal", "/legal", "ntfs")

    record = audit_key(Refusing(error), context, default_rules(), "a/b.docx")  # type: ignore[arg-type]

    assert record["readable"] is False
    assert record["findings"][0]["rule"] == "unreadable"
    assert record["findings"][0]["evidence"]["error"] == type(error).__name__


@pytest.mark.network
def test_the_unreadable_event_reports_each_key_and_succeeds(aws, lambda_context, event_loader) -> None:
    event = event_loader("legal-compliance/audit_batch-unreadable")
    ontap_context.handler({"run_id": event["run_id"]}, lambda_context)

    result = audit_batch.handler(event, lambda_context)

    assert (result["files"], result["errors"], result["findings"]) == (2, 0, 2)
    found = records(aws, event["run_id"], batch=1)
    gone, control = (found[key]["findings"][0]["evidence"] for key in event["keys"])
    assert (gone["error"], gone["http_status"]) == ("OntapNotFoundError", 404)
    assert control["error"] == "InvalidInputError"  # a name ONTAP's path parameter cannot carry
