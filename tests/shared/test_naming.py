"""shared.naming: regional and global names, their bounds, and the CLI deploy scripts call."""

from __future__ import annotations

import re

import pytest

from shared.errors import InvalidInputError
from shared.naming import (
    DEPLOYMENT_PATTERN,
    ResourceKind,
    global_name,
    main,
    regional_name,
    stack_name,
)

LONGEST_DEPLOYMENT = "a" + "b" * 22 + "c"
LONGEST_REGION = "ap-southeastern-12"  # format-valid, longer than any region today
LONGEST_PURPOSE = "p" * 16


def test_regional_names_carry_deployment_region_and_purpose() -> None:
    assert regional_name("legal-prod", "ap-northeast-1", ResourceKind.BUCKET, "outputs") == (
        "legal-prod-ap-northeast-1-outputs"
    )
    assert regional_name("legal-prod", "us-east-1", ResourceKind.TABLE, "task-tokens") == (
        "legal-prod-us-east-1-task-tokens"
    )
    assert stack_name("legal-prod", "us-east-1") == "legal-prod-us-east-1"
    assert (
        stack_name("legal-prod", "ap-northeast-1", "global-store") == "legal-prod-ap-northeast-1-global-store"
    )


def test_primary_and_secondary_names_differ() -> None:
    primary = regional_name("legal-prod", "ap-northeast-1", ResourceKind.STATE_MACHINE, "audit")
    secondary = regional_name("legal-prod", "us-east-1", ResourceKind.STATE_MACHINE, "audit")
    assert primary != secondary


def test_a_global_name_is_the_same_everywhere_and_never_a_regional_name() -> None:
    name = global_name("legal-prod", ResourceKind.TABLE, "task-tokens")
    assert name == "legal-prod-global-task-tokens"
    for region in ("ap-northeast-1", "us-east-1", "eu-west-3"):
        assert regional_name("legal-prod", region, ResourceKind.TABLE, "task-tokens") != name


@pytest.mark.parametrize("kind", list(ResourceKind))
def test_the_longest_inputs_still_fit_every_kind(kind: ResourceKind) -> None:
    name = regional_name(LONGEST_DEPLOYMENT, LONGEST_REGION, kind, LONGEST_PURPOSE)
    assert len(name) <= kind.max_length
    assert kind.allowed.fullmatch(name)
    assert len(global_name(LONGEST_DEPLOYMENT, kind, LONGEST_PURPOSE)) <= kind.max_length


@pytest.mark.parametrize(
    "deployment",
    ["", "ab", "Legal", "1legal", "legal-", "legal_prod", "x" * 25, "xn--legal", "sthree-legal", None, 7],
)
def test_invalid_deployments_are_refused(deployment: object) -> None:
    with pytest.raises(InvalidInputError) as raised:
        regional_name(deployment, "us-east-1", ResourceKind.TABLE, "tokens")  # type: ignore[arg-type]
    assert raised.value.field == "deployment"


@pytest.mark.parametrize(
    "region", ["", "us-east", "US-EAST-1", "global", "useast1", "ap-southeasternmost-12"]
)
def test_invalid_regions_are_refused(region: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        regional_name("legal-prod", region, ResourceKind.TABLE, "tokens")
    assert raised.value.field == "region"


@pytest.mark.parametrize("purpose", ["", "Tokens", "-tokens", "tokens-", "p" * 17, "task_tokens"])
def test_invalid_purposes_are_refused(purpose: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        regional_name("legal-prod", "us-east-1", ResourceKind.TABLE, purpose)
    assert raised.value.field == "purpose"


def test_every_kind_but_a_stack_needs_a_purpose() -> None:
    with pytest.raises(InvalidInputError, match="needs a purpose"):
        regional_name("legal-prod", "us-east-1", ResourceKind.BUCKET)


@pytest.mark.parametrize("purpose", ["x-s3alias", "x--ol-s3", "x--x-s3"])
def test_bucket_names_never_end_with_a_suffix_s3_reserves(purpose: str) -> None:
    with pytest.raises(InvalidInputError, match="reserves"):
        regional_name("legal-prod", "us-east-1", ResourceKind.BUCKET, purpose)
    assert regional_name("legal-prod", "us-east-1", ResourceKind.TABLE, purpose)


def test_the_deployment_pattern_is_the_one_the_functions_apply() -> None:
    assert re.fullmatch(DEPLOYMENT_PATTERN, LONGEST_DEPLOYMENT)
    assert not re.fullmatch(DEPLOYMENT_PATTERN, LONGEST_DEPLOYMENT + "d")


def test_cli_prints_names_for_deploy_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "--deployment", "legal-prod", "--region", "us-east-1"]) == 0
    assert main(["global", "--deployment", "legal-prod", "--kind", "table", "--purpose", "task-tokens"]) == 0
    assert (
        main(
            [
                "regional",
                "--deployment",
                "legal-prod",
                "--region",
                "ap-northeast-1",
                "--kind",
                "bucket",
                "--purpose",
                "outputs",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        "legal-prod-us-east-1",
        "legal-prod-global-task-tokens",
        "legal-prod-ap-northeast-1-outputs",
    ]


def test_cli_reports_invalid_input_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "--deployment", "Legal", "--region", "us-east-1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "naming: deployment" in captured.err
