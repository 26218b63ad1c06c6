"""#12: generated IAM policy documents are flagged by guard-rules/iam-least-privilege.guard exactly when
they allow Action "*" on Resource "*".

Statements come in every form IAM accepts: one statement object or a list, Action and Resource as a
string or a list, with or without a Condition, Deny, NotAction, and values given by intrinsic
functions. They sit in the places policies live: a role's inline policies (several, nested), a
managed policy, an AWS::IAM::Policy; evaluated as a template or as a Guard Hook's resource input.
Each document runs through the cfn-guard-rs engine against the real rule file.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from scripts.guard import RULES_DIR, evaluate

RULES = (RULES_DIR / "iam-least-privilege.guard").read_text(encoding="utf-8")
INLINE_RULE = "iam_inline_policies_no_admin_access"
POLICY_RULE = "iam_policies_no_admin_access"

# "*" is drawn often: the interesting documents mix it with named actions and resources.
actions = st.sampled_from(["*", "*", "s3:GetObject", "s3:*", "iam:PassRole"]) | st.just(
    {"Ref": "ActionParameter"}
)
resources = st.sampled_from(
    ["*", "*", "arn:aws:s3:::bucket/*", "arn:aws:iam::123456789012:role/x"]
) | st.sampled_from(
    [{"Fn::Sub": "${Bucket.Arn}/*"}, {"Fn::GetAtt": ["Bucket", "Arn"]}, {"Ref": "ResourceParameter"}]
)


def string_or_list(element: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return element | st.lists(element, min_size=1, max_size=3)


conditions = st.sampled_from(
    [
        {"Bool": {"aws:SecureTransport": "true"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    ]
)


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"]))}
    statement["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(string_or_list(actions))
    statement["Resource"] = draw(string_or_list(resources))
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions)
    if draw(st.booleans()):
        statement["Sid"] = f"S{draw(st.integers(0, 99))}"
    return statement


# A document's Statement is one object or a list of them.
documents = st.one_of(
    statements().map(lambda statement: {"Statement": statement}),
    st.lists(statements(), min_size=1, max_size=5).map(
        lambda many: {"Version": "2012-10-17", "Statement": many}
    ),
)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants_everything(document: dict[str, Any]) -> bool:
    """The specification: an Allow whose Action and Resource both include the literal "*"."""
    return any(
        statement["Effect"] == "Allow"
        and "*" in as_list(statement.get("Action", []))
        and "*" in as_list(statement.get("Resource", []))
        for statement in as_list(document["Statement"])
    )


def as_hook_input(data: dict[str, Any]) -> dict[str, Any]:
    (logical_id, resource) = next(iter(data["Resources"].items()))
    context = {"TargetName": resource["Type"], "TargetType": "RESOURCE", "TargetLogicalId": logical_id}
    return {"HookContext": context, **data, "Previous": {}}


TRUST = {
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
}


@given(st.lists(documents, min_size=1, max_size=3), st.booleans())
def test_12_role_inline_policies_flagged_exactly_when_they_grant_everything(
    policy_documents: list[dict[str, Any]], hook_input: bool
) -> None:
    policies = [
        {"PolicyName": f"P{index}", "PolicyDocument": doc} for index, doc in enumerate(policy_documents)
    ]
    data = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": TRUST, "Policies": policies},
            }
        }
    }
    report = evaluate(as_hook_input(data) if hook_input else data, RULES)
    flagged = report.outcome(INLINE_RULE) == "FAIL"
    assert flagged == any(grants_everything(document) for document in policy_documents)
    assert report.outcome(POLICY_RULE) != "FAIL"


@given(documents, st.sampled_from(["AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"]), st.booleans())
def test_12_standalone_policies_flagged_exactly_when_they_grant_everything(
    document: dict[str, Any], resource_type: str, hook_input: bool
) -> None:
    properties: dict[str, Any] = {"PolicyDocument": document}
    if resource_type == "AWS::IAM::Policy":
        properties.update(PolicyName="generated", Roles=[{"Ref": "Role"}])
    data = {"Resources": {"Policy": {"Type": resource_type, "Properties": properties}}}
    report = evaluate(as_hook_input(data) if hook_input else data, RULES)
    assert (report.outcome(POLICY_RULE) == "FAIL") == grants_everything(document)
    assert report.outcome(INLINE_RULE) != "FAIL"


MIXED = {"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": ["arn:aws:s3:::bucket/*", "*"]}


@given(
    statements(),
    st.sampled_from(["AWS::IAM::Role", "AWS::IAM::ManagedPolicy"]),
    st.booleans(),
    st.booleans(),
)
# The edges the generator reaches only now and then, pinned for the bounded ci profile.
@example(MIXED, "AWS::IAM::Role", False, False)
@example(MIXED, "AWS::IAM::ManagedPolicy", True, True)
@example({**MIXED, "Action": "*"}, "AWS::IAM::Role", True, True)
@example(
    {**MIXED, "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
    "AWS::IAM::ManagedPolicy",
    False,
    False,
)
@example({"Effect": "Allow", "NotAction": "*", "Resource": "*"}, "AWS::IAM::Role", False, False)
@example({**MIXED, "Effect": "Deny"}, "AWS::IAM::ManagedPolicy", False, False)
def test_12_one_statement_is_flagged_exactly_when_it_grants_everything(
    statement: dict[str, Any], resource_type: str, single_form: bool, hook_input: bool
) -> None:
    # One statement per document: no other statement can mask a wrong verdict.
    document = {"Statement": statement if single_form else [statement]}
    if resource_type == "AWS::IAM::Role":
        properties: dict[str, Any] = {
            "AssumeRolePolicyDocument": TRUST,
            "Policies": [{"PolicyName": "P", "PolicyDocument": document}],
        }
        rule = INLINE_RULE
    else:
        properties, rule = {"PolicyDocument": document}, POLICY_RULE
    data = {"Resources": {"Subject": {"Type": resource_type, "Properties": properties}}}
    report = evaluate(as_hook_input(data) if hook_input else data, RULES)
    assert (report.outcome(rule) == "FAIL") == grants_everything(document)
