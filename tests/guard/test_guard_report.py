"""scripts.guard.evaluate reads cfn-guard-rs reports, including the truncated ones the wheel returns.

The wheel's entry point returns only the last 8 KiB chunk of a longer report; these tests pin the
recovery from that tail against the real engine and against synthetic cut points.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts import guard
from scripts.guard import GuardOutputError, GuardReport, evaluate, rule_names

RULES = """
let buckets = Resources.*[ Type == 'AWS::S3::Bucket' ]
rule bucket_versioned when %buckets !empty {
    %buckets.Properties.VersioningConfiguration.Status == 'Enabled'
}
rule bucket_named when %buckets !empty {
    %buckets.Properties.BucketName exists
}
rule no_topics {
    Resources.*[ Type == 'AWS::SNS::Topic' ] empty
}
"""


def _buckets(count: int, versioned: bool) -> dict[str, Any]:
    status = "Enabled" if versioned else "Suspended"
    return {
        "Resources": {
            f"Bucket{index}": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": f"bucket-{index}",
                    "VersioningConfiguration": {"Status": status},
                    "Tags": [{"Key": f"k{n}", "Value": "v" * 40} for n in range(10)],
                },
            }
            for index in range(count)
        }
    }


def test_rule_names_in_order() -> None:
    assert rule_names(RULES) == ("bucket_versioned", "bucket_named", "no_topics")
    assert rule_names("# rule commented_out {\nrule real { a exists }") == ("real",)


def test_small_reports_are_read_as_json() -> None:
    report = evaluate(_buckets(1, versioned=False), RULES)
    assert report == GuardReport(
        status="FAIL",
        compliant=("bucket_named", "no_topics"),
        not_compliant=("bucket_versioned",),
        not_applicable=(),
    )


def test_a_report_far_beyond_8_kib_is_still_read() -> None:
    # Given many failing resources (a long report that the wheel truncates)
    from cfn_guard_rs.cfn_guard_rs import run_checks_rs

    raw = run_checks_rs(json.dumps(_buckets(40, versioned=False)), RULES, False)
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    # When evaluated through scripts.guard
    report = evaluate(_buckets(40, versioned=False), RULES)
    # Then every rule has its real outcome
    assert report.outcome("bucket_versioned") == "FAIL"
    assert report.outcome("bucket_named") == "PASS"
    assert report.outcome("no_topics") == "PASS"
    assert report.status == "FAIL"


def _full_report(compliant: list[str], failing: list[str], skipped: list[str]) -> str:
    not_compliant = [{"Rule": {"name": name, "checks": [{"padding": "x" * 5000}]}} for name in failing]
    document = {
        "name": "",
        "metadata": {},
        "status": "FAIL" if failing else "PASS",
        "not_compliant": not_compliant,
        "not_applicable": skipped,
        "compliant": compliant,
    }
    return json.dumps(document, indent=2)


@pytest.mark.parametrize("chunk", [8192, 200, 120])
def test_outcomes_are_recovered_from_the_tail(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    full = _full_report(["no_topics"], ["bucket_versioned"], ["bucket_named"])
    monkeypatch.setattr(guard, "run_checks_rs", lambda data, rules, verbose: full[-chunk:])
    report = evaluate({}, RULES)
    assert report.not_compliant == ("bucket_versioned",)
    assert report.compliant == ("no_topics",)
    assert report.not_applicable == ("bucket_named",)
    assert report.status == "FAIL"


def test_a_cut_inside_the_tail_lists_is_retried_with_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an engine whose first answer is cut inside the compliant list
    full = _full_report(["bucket_named", "no_topics"], ["bucket_versioned"], [])
    calls: list[str] = []

    def engine(data: str, rules: str, verbose: bool) -> str:
        calls.append(rules)
        if len(calls) == 1:
            return full[-20:]
        padded = json.loads(full)
        padded["not_compliant"].append({"Rule": {"name": "guard_report_padding_pppp"}})
        return json.dumps(padded)

    monkeypatch.setattr(guard, "run_checks_rs", engine)
    report = evaluate({}, RULES)
    # Then the retry added an always-failing padding rule, which is not reported
    assert len(calls) == 2 and "rule guard_report_padding_" in calls[1]
    assert report.not_compliant == ("bucket_versioned",)
    assert report.compliant == ("bucket_named", "no_topics")


def test_an_unreadable_report_is_an_error_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "run_checks_rs", lambda data, rules, verbose: "]}")
    with pytest.raises(GuardOutputError):
        evaluate({}, RULES)


def test_status_follows_guard() -> None:
    assert evaluate({"Resources": {}}, RULES).status == "PASS"  # no_topics passes, the rest skip
    only_skips = "rule r when Resources.*[ Type == 'X' ] !empty { Resources exists }"
    assert evaluate({"Resources": {}}, only_skips).status == "SKIP"
