"""Properties of the pipeline's decisions (scripts/ci_gate.py), as the workflows use them.

#10 any stage that did not succeed fails the pipeline; all stages succeeded passes it.
#11 production is deployable only after the staging deploy and the smoke test both succeeded.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scripts.ci_gate import (
    JOB_RESULTS,
    PASSED,
    STAGES,
    StageResult,
    decide,
    gate_passed,
    may_deploy_production,
)

job_result = st.sampled_from(JOB_RESULTS)
stage_results = st.fixed_dictionaries({stage: job_result for stage in STAGES})


@given(stage_results)
def test_10_pipeline_passes_exactly_when_every_stage_succeeded(results: dict[str, str]) -> None:
    decision = decide(results)
    assert decision.passed == all(result == "success" for result in results.values())
    # and every stage that did not succeed is named
    assert {reason.split(":")[0] for reason in decision.reasons} == {
        stage for stage, result in results.items() if result != "success"
    }


@given(stage_results, st.sets(st.sampled_from(list(STAGES)), min_size=1))
def test_10_a_stage_that_never_reported_fails_the_pipeline(
    results: dict[str, str], missing: set[str]
) -> None:
    reported = {stage: result for stage, result in results.items() if stage not in missing}
    assert not decide(reported).passed


@given(st.lists(st.tuples(st.sampled_from(list(STAGES)), st.booleans()), min_size=1, max_size=8))
def test_10_the_local_gate_agrees(stages: list[tuple[str, bool]]) -> None:
    results = [StageResult(name, PASSED if passed else "failed", 0.0) for name, passed in stages]
    assert gate_passed(results) == all(passed for _, passed in stages)


@given(job_result, job_result)
def test_11_production_only_after_staging_deploy_and_smoke_success(staging_deploy: str, smoke: str) -> None:
    allowed = may_deploy_production(staging_deploy, smoke)
    assert allowed == (staging_deploy == "success" and smoke == "success")
    if staging_deploy != "success" or smoke != "success":
        assert not allowed
