"""shared/cfn/github-oidc.yaml: who may assume the deploy role, and how far its permissions reach."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scripts.cfn_templates import REPO_ROOT, load_template, transformed
from scripts.guard import evaluate

TEMPLATE_PATH = REPO_ROOT / "shared" / "cfn" / "github-oidc.yaml"
TEMPLATE = load_template(TEMPLATE_PATH)
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
DEPLOY_ROLE = RESOURCES["DeployRole"]["Properties"]
EXECUTION_ROLE = RESOURCES["CloudFormationExecutionRole"]["Properties"]


def _sub(value: Any, parameters: dict[str, str]) -> str:
    """Resolve a plain Fn::Sub string with the given parameter values."""
    template = value["Fn::Sub"]
    return re.sub(r"\$\{([^}]+)\}", lambda match: parameters[match.group(1)], template)


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [statement for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]]


def test_trust_is_one_repository_main_branch_and_production_environment_only() -> None:
    (statement,) = DEPLOY_ROLE["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Condition"]) == {"StringEquals"}, "no StringLike: subjects are exact"
    condition = statement["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    values = {
        "GitHubOrganization": "example-org",
        "GitHubRepository": "fsxn-s3ap",
        "DeployBranch": PARAMETERS["DeployBranch"]["Default"],
        "ProductionEnvironment": PARAMETERS["ProductionEnvironment"]["Default"],
    }
    subjects = [_sub(subject, values) for subject in condition["token.actions.githubusercontent.com:sub"]]
    assert subjects == [
        "repo:example-org/fsxn-s3ap:ref:refs/heads/main",
        "repo:example-org/fsxn-s3ap:environment:production",
    ]


@pytest.mark.parametrize(
    "name", ["GitHubOrganization", "GitHubRepository", "DeployBranch", "ProductionEnvironment"]
)
def test_no_parameter_can_widen_the_subject_with_a_wildcard(name: str) -> None:
    pattern = PARAMETERS[name]["AllowedPattern"]
    for widened in ("*", "org*", "main*", "?", "a:b"):
        assert not re.fullmatch(pattern, widened), f"{name} accepts {widened!r}"


def test_the_provider_is_github_for_sts() -> None:
    provider = RESOURCES["GitHubOidcProvider"]["Properties"]
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("role", [DEPLOY_ROLE, EXECUTION_ROLE], ids=["deploy", "cloudformation-execution"])
def test_roles_are_bounded_and_not_administrators(role: dict[str, Any]) -> None:
    assert role["PermissionsBoundary"] == {"Ref": "PermissionsBoundary"}
    assert "ManagedPolicyArns" not in role
    for statement in _statements(role):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in actions
        assert not any(action.startswith("iam:*") for action in actions)


def test_the_deploy_role_only_hands_its_stacks_to_the_execution_role() -> None:
    pass_role = [statement for statement in _statements(DEPLOY_ROLE) if statement["Action"] == "iam:PassRole"]
    assert pass_role == [
        {
            "Sid": "HandTheStacksToCloudFormation",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]},
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        }
    ]
    stacks = next(
        statement for statement in _statements(DEPLOY_ROLE) if statement["Sid"] == "ManageTheUseCaseStacks"
    )
    scopes = [arn["Fn::Sub"].split(":stack/", 1)[1] for arn in stacks["Resource"]]
    assert scopes == ["${StackNamePrefix}-*/*", "aws-sam-cli-managed-default/*"]


def test_the_boundary_denies_identities_and_tampering() -> None:
    statements = {
        s["Sid"]: s for s in RESOURCES["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"]
    }
    assert statements["NoIdentitiesOrAccountChanges"]["Effect"] == "Deny"
    assert {"iam:*User*", "iam:*AccessKey*", "iam:*OpenIDConnectProvider*"} <= set(
        statements["NoIdentitiesOrAccountChanges"]["Action"]
    )
    assert statements["NoChangesToThisStacksPoliciesAndRoles"]["Effect"] == "Deny"
    assert statements["NoAdministratorPolicies"]["Effect"] == "Deny"


def test_the_template_passes_the_iam_rules() -> None:
    rules = (REPO_ROOT / "guard-rules" / "iam-least-privilege.guard").read_text(encoding="utf-8")
    report = evaluate(transformed(TEMPLATE_PATH), rules)
    assert report.not_compliant == ()
    assert report.compliant  # the rules did look at the roles
