"""Topology documents: validated on load, with errors that name the field; never coerced."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flexcache_dr.topology import MAX_MEMBERS, parse_topology

from shared.errors import InvalidInputError


@pytest.fixture
def document(event_loader: Any) -> dict[str, Any]:
    return copy.deepcopy(event_loader("flexcache-anycast-dr/load_topology")["document"])


def test_the_example_topology_is_valid(document: dict[str, Any]) -> None:
    topology = parse_topology(document, secret_prefix="fsxn/", stack_region="ap-northeast-1")
    assert topology.origin.member_id == "origin-use1"
    assert [c.member_id for c in topology.caches] == ["cache-usw2", "cache-euw1", "cache-apne1"]
    assert topology.client_regions == (
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "ap-northeast-1",
        "eu-central-1",
    )
    assert topology.regions() == ("ap-northeast-1", "eu-west-1", "us-east-1", "us-west-2")


def test_json_text_and_default_client_regions(document: dict[str, Any]) -> None:
    del document["client_regions"]
    topology = parse_topology(json.dumps(document))
    assert topology.client_regions == ("ap-northeast-1", "eu-west-1", "us-east-1", "us-west-2")


def test_the_fingerprint_is_stable_and_changes_with_the_content(document: dict[str, Any]) -> None:
    first = parse_topology(document).fingerprint()
    assert parse_topology(json.loads(json.dumps(document))).fingerprint() == first
    document["members"][1]["weight"] = 61
    assert parse_topology(document).fingerprint() != first


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    target: Any = document
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        ("members.1.priority", "2", "members[1].priority", "must be an integer"),
        ("members.1.weight", True, "members[1].weight", "must be an integer"),
        ("members.1.weight", 1001, "members[1].weight", "from 0 to 1000"),
        ("members.1.role", "replica", "members[1].role", "'origin' or 'cache'"),
        ("members.1.role", "origin", "members", "exactly one member has role 'origin', found 2"),
        ("members.2.member_id", "cache-usw2", "members[2].member_id", "duplicate member id"),
        ("members.1.member_id", "Cache_USW2", "members[1].member_id", "is not a member id"),
        ("members.1.region", "us-west", "members[1].region", "AWS Region code"),
        (
            "members.1.management_endpoint",
            "https://10.0.0.1/api",
            "members[1].management_endpoint",
            "no path",
        ),
        ("members.1.secret", "other/cluster", "members[1].secret", "not under the prefix 'fsxn/'"),
        (
            "members.1.secret",
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:fsxn/c-AbCdEf",
            "members[1].secret",
            "replicate the secret",
        ),
        ("members.1.volume", "1vol", "members[1].volume", "ONTAP volume name"),
        (
            "members.1.access_point_alias",
            "plain-bucket-name",
            "members[1].access_point_alias",
            "-ext-s3alias",
        ),
        ("members.1.extra", 1, "members[1]", "unknown key(s) extra"),
        ("members.1.svm", _DELETE, "members[1]", "missing key(s) svm"),
        ("client_regions", ["us-east-1", "us-east-1"], "client_regions", "duplicate client region"),
        ("client_regions", [], "client_regions", "at least one client region"),
        ("client_regions", "us-east-1", "client_regions", "must be a list"),
        ("members", {"origin": {}}, "members", "must be a list"),
        ("comment", "hi", "topology", "unknown key(s) comment"),
    ],
)
def test_invalid_documents_name_the_field(
    document: dict[str, Any], path: str, value: Any, field: str, message: str
) -> None:
    _set(document, path, value)
    with pytest.raises(InvalidInputError) as raised:
        parse_topology(document, secret_prefix="fsxn/", stack_region="ap-northeast-1")
    assert raised.value.field == field
    assert message in raised.value.message


def test_a_topology_needs_a_cache_and_at_most_the_maximum_of_members(document: dict[str, Any]) -> None:
    only_origin = {"members": document["members"][:1]}
    with pytest.raises(InvalidInputError, match="at least one cache"):
        parse_topology(only_origin)
    cache = document["members"][1]
    many = [document["members"][0]] + [
        {**cache, "member_id": f"cache-{i}", "volume": f"v{i}"} for i in range(MAX_MEMBERS)
    ]
    with pytest.raises(InvalidInputError, match=f"at most {MAX_MEMBERS} members"):
        parse_topology({"members": many})


def test_two_members_may_not_be_the_same_volume(document: dict[str, Any]) -> None:
    document["members"][2].update(
        {k: document["members"][1][k] for k in ("management_endpoint", "svm", "volume")}
    )
    with pytest.raises(InvalidInputError, match="same cluster, SVM and volume as member 'cache-usw2'"):
        parse_topology(document)


@pytest.mark.parametrize("text", ["{not json", "[]", "42"])
def test_non_object_documents_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_topology(text)
    assert raised.value.field == "topology"
