"""Tests of shared/s3ap.py: references, listing, ranged reads, manifests and no-overwrite outputs.

How the S3 Access Point is simulated, and why:

* moto has no routing for access point *aliases*: a request to ``Bucket=<alias>`` is treated as a
  bucket name. So the fixture creates a bucket whose name *is* the FSx alias; what the code under
  test sends is exactly what it sends on AWS. Access point *ARNs* are routed by moto (through its
  s3control access points), so one test lists through a real ARN.
* Seeding 25,000 objects with ``put_object`` takes about 25 s in moto (about 1 ms a request), so
  the slow test seeds through moto's backend objects directly (under 1 s). The listing under test
  still goes through boto3 and moto's HTTP layer, and the ListObjectsV2 calls are counted with a
  botocore ``before-call`` event hook.
* The memory test serves ListObjectsV2 pages from a ``before-call`` hook (the mechanism botocore's
  Stubber uses) that builds each page on demand, because moto runs in this process: tracemalloc
  would measure moto's own per-request bookkeeping (which grows with the number of calls) and runs
  moto about ten times slower. The real boto3 client and paginator are still exercised.
* Error responses (503 SlowDown, 409, NotImplemented) come from botocore's Stubber, which also
  checks the exact request parameters (``IfNoneMatch`` present or absent).
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import random
import re
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ResponseStreamingError
from botocore.stub import ANY, Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from shared import s3ap
from shared.errors import InvalidInputError, OutputExistsError, S3AccessError, S3TransientError
from shared.s3ap import (
    MAX_BATCH_JSON_BYTES,
    MIN_PART_SIZE,
    AccessPoint,
    ObjectRecord,
    ObjectStream,
    OutputLocation,
    RangeReader,
    list_objects,
    open_stream,
    read_range,
    stat_object,
    write_json,
    write_jsonl,
    write_manifest,
    write_text,
)

REGION = "ap-northeast-1"
ALIAS = "fsxn-eda-vol1-q7x2k9m4p1z8w3c5v6b0n2-ext-s3alias"
OUTPUT_BUCKET = "fsxn-pattern-outputs-123456789012"
ARN = f"arn:aws:s3:{REGION}:{DEFAULT_ACCOUNT_ID}:accesspoint/eda-vol1"
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def _bucket(client: Any, name: str) -> None:
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 with the FSx alias as a bucket (see module docstring) and a plain output bucket."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        _bucket(client, ALIAS)
        _bucket(client, OUTPUT_BUCKET)
        yield client


def _count_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record every ``operation`` request the client sends (its serialised request dict)."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(f"before-call.s3.{operation}", lambda params, **_: calls.append(params))
    return calls


def _stubbed_client() -> Any:
    return boto3.client("s3", region_name=REGION, config=Config(retries={"max_attempts": 1}))


def _record(key: str, size: int = 1) -> ObjectRecord:
    return ObjectRecord(key=key, size=size, etag="etag", last_modified=T0)


def _read(client: Any, bucket: str, key: str) -> bytes:
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


# --- access point references ---------------------------------------------------------------------

GOOD_ACCESS_POINTS = [
    ALIAS,
    "abc-x-ext-s3alias",
    "my-ontap-ap-aqfqprnstn7aefdfbarligizwgyfouse1a-ext-s3alias",
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/eda-vol1",
    "arn:aws:s3:us-east-1:123456789012:accesspoint/abc",
    "arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/a-b",
    "arn:aws-us-gov:s3:us-gov-west-1:123456789012:accesspoint/" + "a" * 50,
]


@pytest.mark.parametrize("value", GOOD_ACCESS_POINTS)
def test_valid_alias_or_arn_is_accepted_unchanged(value: str) -> None:
    ap = AccessPoint.parse(value)

    assert ap.bucket == value
    assert str(ap) == value
    assert ap.kind == ("arn" if value.startswith("arn:") else "alias")


def test_an_arn_reveals_region_account_and_name_and_an_alias_does_not() -> None:
    arn = AccessPoint.parse(ARN)
    alias = AccessPoint.parse(ALIAS)

    assert (arn.region, arn.account, arn.name, arn.partition) == (
        REGION,
        DEFAULT_ACCOUNT_ID,
        "eda-vol1",
        "aws",
    )
    assert alias.region is None
    assert alias.account is None
    assert alias.name_prefix == "fsxn-eda-vol1"
    assert alias.is_fsx_alias
    assert not arn.is_fsx_alias


BAD_ACCESS_POINTS = [
    "",
    "ab",
    "my-bucket",  # a bucket name is not an access point
    "my-ap-abc123-s3alias",  # alias of an access point attached to an S3 bucket
    "My-AP-abc123-ext-s3alias",  # uppercase
    "my_ap-abc123-ext-s3alias",  # underscore
    "-myap-abc123-ext-s3alias",  # starts with a hyphen
    "ext-s3alias",
    "a" * 60 + "-ext-s3alias",  # longer than 63
    f" {ALIAS}",  # whitespace is not stripped silently
    f"{ALIAS}\n",
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/ab",  # name shorter than 3
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/" + "a" * 51,  # longer than 50
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/-eda",  # starts with a hyphen
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/eda-",  # ends with a hyphen
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/Eda",  # uppercase
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/eda-s3alias",  # reserved suffix
    "arn:aws:s3:ap-northeast-1:12345678901:accesspoint/eda",  # 11-digit account
    "arn:aws:s3::123456789012:accesspoint/eda",  # no region (multi-region)
    "arn:aws:s3:ap-northeast-1:123456789012:bucket/eda",
    "arn:aws:s3:::eda-bucket",  # bucket ARN
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/eda/object/x.gds",  # object ARN
    "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/eda",
    "arn:aws:s3:ap-northeast-1:123456789012:accesspoint/eda ",
]


@pytest.mark.parametrize("value", BAD_ACCESS_POINTS)
def test_invalid_reference_is_rejected_naming_the_value(value: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        AccessPoint.parse(value)

    assert raised.value.field == "access_point"
    assert repr(value) in raised.value.message


@pytest.mark.parametrize("value", [None, 42, b"abc-x-ext-s3alias", ["a"]])
def test_non_string_reference_is_rejected(value: object) -> None:
    with pytest.raises(InvalidInputError, match="not a string"):
        AccessPoint.parse(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("arn:aws:s3:ap-northeast-1:123456789012:accesspoint/eda/object/x.gds", "object ARN"),
        (
            "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/eda",
            "regional",
        ),
        ("my-ap-abc123-s3alias", "attached to an S3 bucket"),
        ("a" * 60 + "-ext-s3alias", "3-63 characters"),
        ("arn:aws:s3:ap-northeast-1:123456789012:accesspoint/eda-s3alias", "reserved"),
    ],
)
def test_the_rejection_says_which_rule_was_broken(value: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        AccessPoint.parse(value)


_NAMES = st.from_regex(r"[a-z0-9][a-z0-9-]{1,48}[a-z0-9]", fullmatch=True).filter(
    lambda name: not name.endswith("-s3alias")
)
_ALIASES = st.builds(
    lambda name, meta: f"{name}-{meta}-ext-s3alias", _NAMES, st.from_regex(r"[a-z0-9]{1,40}", fullmatch=True)
)
_ARNS = st.builds(
    lambda partition, region, account, name: f"arn:{partition}:s3:{region}:{account}:accesspoint/{name}",
    st.sampled_from(["aws", "aws-cn", "aws-us-gov"]),
    st.sampled_from(["ap-northeast-1", "us-east-1", "eu-central-1", "us-gov-west-1", "cn-northwest-1"]),
    st.from_regex(r"[0-9]{12}", fullmatch=True),
    _NAMES,
)


@given(st.one_of(_ALIASES, _ARNS, st.text(alphabet="abcz09-:/arnsext", max_size=70), st.text(max_size=70)))
def test_any_accepted_reference_round_trips_and_any_rejected_one_is_named(value: str) -> None:
    try:
        ap = AccessPoint.parse(value)
    except InvalidInputError as err:
        assert repr(value) in err.message
        return
    assert str(ap) == ap.bucket == value
    assert AccessPoint.parse(str(ap)) == ap


@given(st.one_of(_ALIASES.filter(lambda alias: len(alias) <= 63), _ARNS))
def test_every_well_formed_alias_and_arn_is_accepted(value: str) -> None:
    assert AccessPoint.parse(value).bucket == value


# --- output locations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://my-outputs/eda", "my-outputs", "eda/"),
        ("s3://my-outputs/eda/", "my-outputs", "eda/"),
        ("s3://my-outputs", "my-outputs", ""),
        ("s3://my-outputs/", "my-outputs", ""),
        ("s3://my.dotted.bucket/a/b", "my.dotted.bucket", "a/b/"),
        (f"s3://{ALIAS}/out", ALIAS, "out/"),
        (f"s3://{ARN}/reports/x", ARN, "reports/x/"),
        (f"s3://{ARN}", ARN, ""),
    ],
)
def test_output_location_parses_bucket_alias_or_arn_and_normalises_the_prefix(
    uri: str, bucket: str, prefix: str
) -> None:
    location = OutputLocation.parse(uri)

    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location == OutputLocation(bucket, prefix.rstrip("/"))


@pytest.mark.parametrize(
    "uri",
    [
        "my-outputs/eda",
        "s3://",
        "s3:///eda",
        "s3://My_Outputs/eda",
        "s3://ab/eda",
        "s3://192.168.5.4/eda",
        "s3://xn--outputs/eda",
        "s3://my..outputs/eda",
        "s3://-outputs/eda",
        "s3://my-outputs/../eda",
        "s3://my-outputs/a//b",
        "s3://my-outputs//eda",
        "s3://bad.alias-s3alias/x",
        "s3://arn:aws:s3:ap-northeast-1:123456789012:accesspoint/ab/x",
    ],
)
def test_invalid_output_location_is_rejected_naming_the_value(uri: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        OutputLocation.parse(uri)

    assert raised.value.field == "output_location"
    assert repr(uri) in raised.value.message


def test_run_scoped_keys_and_exclusions() -> None:
    location = OutputLocation(ALIAS, "out")

    assert location.run_key("run-1", "report/summary.json") == "out/runs/run-1/report/summary.json"
    assert location.exclusions_for(ALIAS) == ("out/runs/",)
    assert location.exclusions_for(AccessPoint.parse(ARN)) == ()
    assert OutputLocation(OUTPUT_BUCKET).exclusions_for(ALIAS) == ()


@pytest.mark.parametrize(
    "name", ["", "/abs.json", "../x.json", "a/../b.json", "a//b.json", "./a", "a/", "a\x00b"]
)
def test_output_names_that_could_escape_or_collide_are_rejected(name: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        OutputLocation(OUTPUT_BUCKET, "out").run_key("run-1", name)

    assert raised.value.field == "name"
    assert repr(name) in raised.value.message


@pytest.mark.parametrize("run_id", ["", "../x", "a/b", "run 1", "-run", "x" * 129, None])
def test_run_ids_that_are_not_one_path_segment_are_rejected(run_id: Any) -> None:
    with pytest.raises(InvalidInputError, match="run_id"):
        OutputLocation(OUTPUT_BUCKET).run_key(run_id, "a.json")


# --- listing -------------------------------------------------------------------------------------


def _put(client: Any, keys: list[str], bucket: str = ALIAS) -> None:
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())


def test_listing_filters_by_prefix_and_case_insensitive_suffix_and_skips_placeholders(s3: Any) -> None:
    _put(
        s3,
        [
            "designs/",  # directory placeholder
            "designs/chip/",
            "designs/chip/top.gds",
            "designs/chip/TOP2.GDS",
            "designs/chip/layout.OAS",
            "designs/chip/notes.txt",
            "designs/chip.gds.bak",
            "other/x.gds",
        ],
    )

    records = list(list_objects(ALIAS, prefix="designs/", suffixes=[".gds", ".oas"], s3=s3))

    assert [r.key for r in records] == [
        "designs/chip/TOP2.GDS",
        "designs/chip/layout.OAS",
        "designs/chip/top.gds",
    ]
    top = records[-1]
    assert top.size == len(b"designs/chip/top.gds")
    assert top.etag and '"' not in top.etag
    assert isinstance(top.last_modified, datetime)


def test_a_single_suffix_string_is_one_suffix_not_its_characters(s3: Any) -> None:
    _put(s3, ["a.gds", "b.s", "c.d"])

    assert [r.key for r in list_objects(ALIAS, suffixes=".GDS", s3=s3)] == ["a.gds"]


def test_listing_skips_excluded_prefixes_such_as_this_pipelines_outputs(s3: Any) -> None:
    location = OutputLocation(ALIAS, "pipeline")
    _put(s3, ["data/a.gds", "pipeline/inbox.gds"])
    write_json(location, "run-1", "result.gds", {"self": "ingestion"}, s3=s3)

    keys = [
        r.key
        for r in list_objects(
            ALIAS, suffixes=[".gds"], exclude_prefixes=location.exclusions_for(ALIAS), s3=s3
        )
    ]

    assert keys == ["data/a.gds", "pipeline/inbox.gds"]


def test_listing_without_filters_yields_every_file(s3: Any) -> None:
    _put(s3, ["a", "b/c", "b/d/"])

    assert [r.key for r in list_objects(ALIAS, s3=s3)] == ["a", "b/c"]


def test_listing_through_an_access_point_arn(s3: Any) -> None:
    boto3.client("s3control", region_name=REGION).create_access_point(
        AccountId=DEFAULT_ACCOUNT_ID, Name="eda-vol1", Bucket=ALIAS
    )
    _put(s3, ["x/1.gds", "x/2.txt"])

    assert [r.key for r in list_objects(ARN, suffixes=[".gds"], s3=s3)] == ["x/1.gds"]
    assert read_range(ARN, "x/1.gds", 2, 3, s3=s3) == b"1.g"


def test_listing_is_lazy_one_page_at_a_time(s3: Any) -> None:
    _put(s3, [f"k/{i:04d}" for i in range(3)])
    calls = _count_calls(s3, "ListObjectsV2")

    iterator = list_objects(ALIAS, prefix="k/", s3=s3)
    assert calls == []
    first = next(iterator)

    assert first.key == "k/0000"
    assert len(calls) == 1
    assert calls[0]["query_string"]["max-keys"] == 1000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prefix": "/abs"}, "prefix"),
        ({"prefix": "a/../b"}, "prefix"),
        ({"suffixes": [""]}, "suffixes"),
        ({"exclude_prefixes": [""]}, "exclude_prefixes"),
    ],
)
def test_listing_arguments_are_validated_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    client = _stubbed_client()
    with Stubber(client), pytest.raises(InvalidInputError) as raised:
        list_objects(ALIAS, s3=client, **kwargs)

    assert raised.value.field == field


def test_listing_a_missing_access_point_is_terminal_and_names_it(s3: Any) -> None:
    missing = "nothere-abc123-ext-s3alias"

    with pytest.raises(S3AccessError, match=missing) as raised:
        list(list_objects(missing, s3=s3))

    assert raised.value.details["code"] == "NoSuchBucket"


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500)])
def test_listing_throttled_or_5xx_is_transient(code: str, status: int) -> None:
    client = _stubbed_client()
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", code, http_status_code=status)
        with pytest.raises(S3TransientError, match=ALIAS):
            list(list_objects(ALIAS, s3=client))


def _seed_through_backend(count: int, prefix: str) -> None:
    """Seed moto's store directly: ~30x faster than put_object (see module docstring)."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for i in range(count):
        backend.put_object(ALIAS, f"{prefix}{i:06d}.gds", b"x")


@pytest.mark.slow
def test_25000_objects_are_listed_in_at_most_26_calls_each_key_once(s3: Any) -> None:
    _seed_through_backend(25_000, "big/")
    _put(s3, ["big/placeholder/"])
    calls = _count_calls(s3, "ListObjectsV2")

    keys = [record.key for record in list_objects(ALIAS, prefix="big/", suffixes=[".GDS"], s3=s3)]

    assert len(calls) <= 26
    assert len(keys) == 25_000
    assert set(keys) == {f"big/{i:06d}.gds" for i in range(25_000)}


def _synthetic_pages(client: Any, total: int) -> None:
    """Answer ListObjectsV2 with pages built on demand, so only the page in flight exists."""

    def respond(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        query = params["query_string"]
        start = int(query.get("continuation-token", "0"))
        end = min(total, start + int(query["max-keys"]))
        page: dict[str, Any] = {
            "Contents": [
                {"Key": f"d/{i:07d}.gds", "Size": i, "ETag": '"0123"', "LastModified": T0}
                for i in range(start, end)
            ],
            "KeyCount": end - start,
            "IsTruncated": end < total,
        }
        if end < total:
            page["NextContinuationToken"] = str(end)
        return AWSResponse(None, 200, {}, None), page

    client.meta.events.register("before-call.s3.ListObjectsV2", respond)


def _peak_while_consuming(total: int) -> tuple[int, int]:
    client = boto3.client("s3", region_name=REGION)
    _synthetic_pages(client, total)
    iterator = list_objects(ALIAS, prefix="d/", suffixes=[".gds"], s3=client)
    gc.collect()
    tracemalloc.start()
    try:
        consumed = sum(1 for _ in iterator)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return consumed, peak


def test_listing_memory_does_not_grow_with_object_count() -> None:
    small_count, small_peak = _peak_while_consuming(2_500)
    large_count, large_peak = _peak_while_consuming(25_000)

    assert (small_count, large_count) == (2_500, 25_000)
    # Ten times the objects; a list of records would need ~10x the memory, a lazy stream ~1x.
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)


# --- reads ---------------------------------------------------------------------------------------

DATA = random.Random(20261122).randbytes(10_000)


@pytest.fixture
def blob(s3: Any) -> Any:
    s3.put_object(Bucket=ALIAS, Key="designs/top.gds", Body=DATA)
    s3.put_object(Bucket=ALIAS, Key="empty.bin", Body=b"")
    return s3


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, 10, DATA[:10]),
        (1234, 4000, DATA[1234:5234]),
        (9990, 100, DATA[9990:]),  # runs past the end: what exists
        (10_000, 5, b""),  # starts at the end
        (50_000, 5, b""),  # starts past the end
        (17, 0, b""),  # zero length
    ],
)
def test_read_range_returns_exact_bytes_and_is_graceful_at_eof(
    blob: Any, start: int, length: int, expected: bytes
) -> None:
    assert read_range(ALIAS, "designs/top.gds", start, length, s3=blob) == expected


def test_read_range_of_an_empty_object_is_empty(blob: Any) -> None:
    assert read_range(ALIAS, "empty.bin", 0, 10, s3=blob) == b""


def test_zero_length_read_sends_no_request(blob: Any) -> None:
    calls = _count_calls(blob, "GetObject")

    assert read_range(ALIAS, "designs/top.gds", 5, 0, s3=blob) == b""
    assert calls == []


@pytest.mark.parametrize(("start", "length"), [(-1, 5), (0, -1), (1.5, 2), (True, 2)])
def test_read_range_rejects_negative_or_non_integer_ranges(start: Any, length: Any) -> None:
    with pytest.raises(InvalidInputError):
        read_range(ALIAS, "designs/top.gds", start, length, s3=_stubbed_client())


@pytest.mark.parametrize("key", ["", "/designs/top.gds", "designs/../etc/passwd"])
def test_read_keys_that_could_escape_the_volume_are_rejected(key: str) -> None:
    with pytest.raises(InvalidInputError, match="key"):
        read_range(ALIAS, key, 0, 1, s3=_stubbed_client())


def test_missing_key_is_terminal_and_names_bucket_and_key(blob: Any) -> None:
    with pytest.raises(S3AccessError) as raised:
        read_range(ALIAS, "designs/missing.gds", 0, 10, s3=blob)

    assert f"s3://{ALIAS}/designs/missing.gds" in raised.value.message
    assert raised.value.details["bucket"] == ALIAS
    assert raised.value.details["key"] == "designs/missing.gds"
    assert isinstance(raised.value.__cause__, Exception)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("SlowDown", 503, S3TransientError),
        ("ServiceUnavailable", 503, S3TransientError),
        ("InternalError", 500, S3TransientError),
        ("AccessDenied", 403, S3AccessError),
        ("InvalidObjectState", 403, S3AccessError),
    ],
)
def test_get_errors_are_typed_retryable_or_terminal(code: str, status: int, error: type[Exception]) -> None:
    client = _stubbed_client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_object",
            code,
            http_status_code=status,
            expected_params={"Bucket": ALIAS, "Key": "a.gds", "Range": "bytes=0-9"},
        )
        with pytest.raises(error, match=f"{ALIAS}/a.gds") as raised:
            read_range(ALIAS, "a.gds", 0, 10, s3=client)

    assert raised.value.__cause__ is not None


def test_open_stream_iterates_the_whole_object_in_chunks(blob: Any) -> None:
    with open_stream(ALIAS, "designs/top.gds", s3=blob) as stream:
        chunks = list(stream.iter_chunks(4096))

    assert b"".join(chunks) == DATA
    assert [len(c) for c in chunks] == [4096, 4096, 1808]
    assert stream.size == len(DATA)


def test_open_stream_of_a_missing_key_is_terminal(blob: Any) -> None:
    with pytest.raises(S3AccessError, match="no such key"):
        open_stream(ALIAS, "nope.gds", s3=blob)


def test_a_connection_lost_mid_stream_is_transient() -> None:
    class DroppingBody:
        def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
            yield b"abc"
            raise ResponseStreamingError(error="connection reset")

        def close(self) -> None:
            pass

    stream = ObjectStream(DroppingBody(), bucket=ALIAS, key="a.gds", size=10, etag="e")
    chunks = stream.iter_chunks(3)

    assert next(chunks) == b"abc"
    with pytest.raises(S3TransientError, match=re.escape("a.gds")):
        next(chunks)


def test_stat_object_gives_size_and_unquoted_etag(blob: Any) -> None:
    record = stat_object(ALIAS, "designs/top.gds", s3=blob)

    assert record.size == len(DATA)
    assert record.etag == next(iter(list_objects(ALIAS, prefix="designs/", s3=blob))).etag


_SEEK_STEPS = st.lists(
    st.tuples(
        st.sampled_from([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END]),
        st.integers(min_value=-12_000, max_value=12_000),
        st.integers(min_value=-1, max_value=3_000),
    ),
    min_size=1,
    max_size=6,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the object is only read
@given(steps=_SEEK_STEPS, block_size=st.sampled_from([64, 500, 4096]))
def test_range_reader_behaves_like_an_in_memory_file(blob: Any, steps: Any, block_size: int) -> None:
    reader = RangeReader(ALIAS, "designs/top.gds", s3=blob, block_size=block_size, cache_blocks=3)
    reference = io.BytesIO(DATA)
    for whence, offset, length in steps:
        target = {io.SEEK_SET: 0, io.SEEK_CUR: reference.tell(), io.SEEK_END: len(DATA)}[whence] + offset
        if target < 0:
            with pytest.raises(ValueError, match="negative"):
                reader.seek(offset, whence)
            continue
        assert reader.seek(offset, whence) == reference.seek(offset, whence)
        assert reader.read(length) == reference.read(length)
        assert reader.tell() == reference.tell()


def test_range_reader_serves_repeated_header_reads_from_its_cache(blob: Any) -> None:
    reader = RangeReader(ALIAS, "designs/top.gds", s3=blob, block_size=4096)
    for _ in range(10):
        reader.seek(0)
        header = reader.read(6)
        reader.seek(100)
        record = reader.read(50)

    assert (header, record) == (DATA[:6], DATA[100:150])
    assert reader.requests == 1


def test_range_reader_from_a_listing_record_needs_no_head_request(blob: Any) -> None:
    record = next(iter(list_objects(ALIAS, prefix="designs/", s3=blob)))
    heads = _count_calls(blob, "HeadObject")

    with RangeReader.from_record(ALIAS, record, s3=blob) as reader:
        assert reader.size == len(DATA)
        assert reader.read() == DATA

    assert heads == []
    assert reader.closed


def test_range_reader_works_under_a_buffered_reader_and_reads_past_eof_as_empty(blob: Any) -> None:
    blob.put_object(Bucket=ALIAS, Key="lines.txt", Body=b"HEADER 1\nrow\n")
    raw = RangeReader(ALIAS, "lines.txt", s3=blob)
    buffered = io.BufferedReader(raw)

    assert buffered.readline() == b"HEADER 1\n"
    assert buffered.read() == b"row\n"
    raw.seek(500)
    assert raw.read(10) == b""


def test_range_reader_refuses_an_object_that_changed_during_the_read(blob: Any) -> None:
    reader = RangeReader(ALIAS, "designs/top.gds", s3=blob, block_size=1024)
    assert reader.read(10) == DATA[:10]
    blob.put_object(Bucket=ALIAS, Key="designs/top.gds", Body=DATA[::-1])

    reader.seek(5000)
    with pytest.raises(S3TransientError, match="changed while being read"):
        reader.read(10)


def test_range_reader_refuses_an_object_shorter_than_its_listed_size(blob: Any) -> None:
    reader = RangeReader(ALIAS, "designs/top.gds", size=len(DATA) + 100, s3=blob, block_size=1024)
    reader.seek(len(DATA) - 10)

    with pytest.raises(S3TransientError, match="changed size"):
        reader.read(20)


def test_a_lost_connection_is_transient() -> None:
    client = _stubbed_client()

    def drop(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3.ap-northeast-1.amazonaws.com")

    client.meta.events.register("before-send.s3.GetObject", drop)

    with pytest.raises(S3TransientError, match="lost the connection") as raised:
        read_range(ALIAS, "a.gds", 0, 1, s3=client)

    assert isinstance(raised.value.__cause__, EndpointConnectionError)


def test_range_reader_of_a_missing_key_is_terminal(blob: Any) -> None:
    with pytest.raises(S3AccessError, match=re.escape("nope.gds")):
        RangeReader(ALIAS, "nope.gds", s3=blob)


def test_a_closed_range_reader_refuses_io(blob: Any) -> None:
    reader = RangeReader(ALIAS, "designs/top.gds", s3=blob)
    reader.close()

    with pytest.raises(ValueError, match="closed"):
        reader.read(1)


# --- manifest ------------------------------------------------------------------------------------

OUT = OutputLocation(OUTPUT_BUCKET, "eda")


def _manifest(client: Any, key: str) -> list[dict[str, list[str]]]:
    items: list[dict[str, list[str]]] = json.loads(_read(client, OUTPUT_BUCKET, key))
    return items


def test_manifest_is_a_json_array_of_key_batches_and_the_summary_is_small(s3: Any) -> None:
    records = [_record(f"designs/{i:02d}.gds", size=i) for i in range(10)]

    summary = write_manifest(OUT, "run-1", iter(records), batch_size=3, s3=s3)

    key = "eda/runs/run-1/manifest.json"
    assert summary.to_dict() == {
        "manifest": {"bucket": OUTPUT_BUCKET, "key": key},
        "count": 10,
        "bytes": sum(range(10)),
        "batches": 4,
    }
    items = _manifest(s3, key)
    assert [len(item["keys"]) for item in items] == [3, 3, 3, 1]
    assert [k for item in items for k in item["keys"]] == [r.key for r in records]
    assert all(set(item) == {"keys"} for item in items)
    assert "designs/" not in json.dumps(summary.to_dict())


def test_manifest_of_nothing_is_an_empty_array(s3: Any) -> None:
    summary = write_manifest(OUT, "run-empty", [], batch_size=10, s3=s3)

    assert (summary.count, summary.batches, summary.bytes) == (0, 0, 0)
    assert _manifest(s3, summary.manifest.key) == []


def test_manifest_batches_stay_under_the_state_size_limit_even_with_long_keys(s3: Any) -> None:
    records = [_record(f"{i:04d}/" + "k" * 1000) for i in range(300)]

    summary = write_manifest(OUT, "run-long", records, batch_size=1000, s3=s3)

    items = _manifest(s3, summary.manifest.key)
    assert summary.batches == len(items) > 1
    assert all(
        len(json.dumps(item, separators=(",", ":")).encode()) <= MAX_BATCH_JSON_BYTES for item in items
    )
    assert sum(len(item["keys"]) for item in items) == 300


def test_manifest_from_a_listing_end_to_end(s3: Any) -> None:
    _put(s3, [f"in/{i}.gds" for i in range(7)] + ["in/skip.txt"])

    summary = write_manifest(
        OUT, "run-2", list_objects(ALIAS, prefix="in/", suffixes=[".gds"], s3=s3), batch_size=5, s3=s3
    )

    assert (summary.count, summary.batches) == (7, 2)
    assert summary.bytes == sum(len(f"in/{i}.gds") for i in range(7))


def test_second_manifest_for_the_same_run_is_refused_and_the_first_kept(s3: Any) -> None:
    write_manifest(OUT, "run-1", [_record("a.gds")], batch_size=10, s3=s3)

    with pytest.raises(OutputExistsError, match=re.escape("eda/runs/run-1/manifest.json")):
        write_manifest(OUT, "run-1", [_record("b.gds")], batch_size=10, s3=s3)

    assert _manifest(s3, "eda/runs/run-1/manifest.json") == [{"keys": ["a.gds"]}]


@pytest.mark.parametrize("batch_size", [0, -1, 10_001, 2.5, True])
def test_manifest_batch_size_is_validated(batch_size: Any) -> None:
    with pytest.raises(InvalidInputError, match="batch_size"):
        write_manifest(OUT, "run-1", [], batch_size=batch_size, s3=_stubbed_client())


def test_large_manifest_streams_in_parts_and_refuses_to_overwrite_after_upload(s3: Any) -> None:
    parts = _count_calls(s3, "UploadPart")
    parts_before_input_exhausted: list[int] = []
    total = 60_000

    def records() -> Iterator[ObjectRecord]:
        for i in range(total):
            yield _record(f"volume/{i:06d}/" + "d" * 90 + ".gds")
        parts_before_input_exhausted.append(len(parts))

    summary = write_manifest(OUT, "run-big", records(), batch_size=500, s3=s3, part_size=MIN_PART_SIZE)

    assert parts_before_input_exhausted[0] >= 1  # parts went out while keys were still arriving
    assert len(parts) >= 2
    items = _manifest(s3, summary.manifest.key)
    assert (summary.count, summary.batches, len(items)) == (total, total // 500, total // 500)
    with pytest.raises(OutputExistsError):
        write_manifest(OUT, "run-big", records(), batch_size=500, s3=s3, part_size=MIN_PART_SIZE)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=OUTPUT_BUCKET)  # the refused one was aborted


def test_manifest_input_failure_aborts_the_multipart_upload(s3: Any) -> None:
    def records() -> Iterator[ObjectRecord]:
        for i in range(60_000):
            yield _record(f"volume/{i:06d}/" + "d" * 90 + ".gds")
        raise S3TransientError("listing failed")

    with pytest.raises(S3TransientError, match="listing failed"):
        write_manifest(OUT, "run-fail", records(), batch_size=500, s3=s3, part_size=MIN_PART_SIZE)

    assert "Uploads" not in s3.list_multipart_uploads(Bucket=OUTPUT_BUCKET)
    assert "Contents" not in s3.list_objects_v2(Bucket=OUTPUT_BUCKET)


def test_part_size_below_the_s3_minimum_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="part_size"):
        write_manifest(OUT, "run-1", [], batch_size=1, s3=_stubbed_client(), part_size=1024)


# --- small outputs -------------------------------------------------------------------------------


def test_write_json_text_and_jsonl_create_run_scoped_objects(s3: Any) -> None:
    doc = write_json(OUT, "run-1", "summary.json", {"files": 2, "at": T0}, s3=s3)
    text = write_text(
        OUT, "run-1", "report.md", "# Report\n日本語\n", content_type="text/markdown; charset=utf-8", s3=s3
    )
    lines = write_jsonl(
        OUT, "run-1", "results.jsonl", iter([_record("a.gds"), {"key": "b.gds", "ok": False}]), s3=s3
    )

    assert doc.to_dict() == {"bucket": OUTPUT_BUCKET, "key": "eda/runs/run-1/summary.json"}
    assert json.loads(_read(s3, OUTPUT_BUCKET, doc.key)) == {"files": 2, "at": T0.isoformat()}
    assert _read(s3, OUTPUT_BUCKET, text.key).decode() == "# Report\n日本語\n"
    assert s3.head_object(Bucket=OUTPUT_BUCKET, Key=text.key)["ContentType"] == "text/markdown; charset=utf-8"
    rows = [json.loads(line) for line in _read(s3, OUTPUT_BUCKET, lines.object.key).splitlines()]
    assert rows == [_record("a.gds").to_dict(), {"key": "b.gds", "ok": False}]
    assert lines.lines == 2
    assert lines.bytes == len(_read(s3, OUTPUT_BUCKET, lines.object.key))


@pytest.mark.parametrize(
    "write",
    [
        lambda s3: write_json(OUT, "run-1", "out.json", {"n": 1}, s3=s3),
        lambda s3: write_text(OUT, "run-1", "out.json", "text", s3=s3),
        lambda s3: write_jsonl(OUT, "run-1", "out.json", [{"n": 1}], s3=s3),
    ],
    ids=["json", "text", "jsonl"],
)
def test_outputs_are_never_overwritten(s3: Any, write: Any) -> None:
    s3.put_object(Bucket=OUTPUT_BUCKET, Key="eda/runs/run-1/out.json", Body=b"first")

    with pytest.raises(OutputExistsError, match=re.escape("eda/runs/run-1/out.json")):
        write(s3)

    assert _read(s3, OUTPUT_BUCKET, "eda/runs/run-1/out.json") == b"first"


@pytest.mark.parametrize("document", [{"x": float("nan")}, {"x": object()}, {"x": {1, 2}}])
def test_documents_that_are_not_strict_json_are_rejected(document: Any) -> None:
    with pytest.raises(InvalidInputError, match="JSON"):
        write_json(OUT, "run-1", "x.json", document, s3=_stubbed_client())


def test_every_write_sends_if_none_match_to_a_bucket(s3: Any) -> None:
    puts = _count_calls(s3, "PutObject")

    write_text(OUT, "run-1", "a.txt", "a", s3=s3)

    assert puts[0]["headers"]["If-None-Match"] == "*"


def test_fsx_access_point_outputs_are_checked_with_head_because_fsx_has_no_conditional_writes(
    s3: Any,
) -> None:
    location = OutputLocation(ALIAS, "out")
    puts = _count_calls(s3, "PutObject")
    heads = _count_calls(s3, "HeadObject")

    write_text(location, "run-1", "a.txt", "first", s3=s3)
    with pytest.raises(OutputExistsError):
        write_text(location, "run-1", "a.txt", "second", s3=s3)

    assert "If-None-Match" not in puts[0]["headers"]
    assert len(puts) == 1
    assert len(heads) == 2
    assert _read(s3, ALIAS, "out/runs/run-1/a.txt") == b"first"


def test_target_answering_not_implemented_falls_back_to_head_then_put() -> None:
    client = _stubbed_client()
    key = "eda/runs/run-1/a.txt"
    put = {"Bucket": OUTPUT_BUCKET, "Key": key, "Body": b"a", "ContentType": "text/plain; charset=utf-8"}
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_object", "NotImplemented", http_status_code=501, expected_params={**put, "IfNoneMatch": "*"}
        )
        stub.add_client_error(
            "head_object", "404", http_status_code=404, expected_params={"Bucket": OUTPUT_BUCKET, "Key": key}
        )
        stub.add_response("put_object", {"ETag": '"e"'}, expected_params=put)

        ref = write_text(OUT, "run-1", "a.txt", "a", s3=client)

        stub.assert_no_pending_responses()
    assert ref.key == key


def test_target_answering_not_implemented_still_refuses_an_existing_object() -> None:
    client = _stubbed_client()
    with Stubber(client) as stub:
        stub.add_client_error("put_object", "NotImplemented", http_status_code=501)
        stub.add_response("head_object", {"ContentLength": 1, "ETag": '"e"', "LastModified": T0})

        with pytest.raises(OutputExistsError):
            write_text(OUT, "run-1", "a.txt", "a", s3=client)

        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("PreconditionFailed", 412, OutputExistsError),
        ("ConditionalRequestConflict", 409, OutputExistsError),
        ("SlowDown", 503, S3TransientError),
        ("AccessDenied", 403, S3AccessError),
    ],
)
def test_write_errors_are_typed(code: str, status: int, error: type[Exception]) -> None:
    client = _stubbed_client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_object",
            code,
            http_status_code=status,
            expected_params={
                "Bucket": OUTPUT_BUCKET,
                "Key": "eda/runs/run-1/a.json",
                "Body": ANY,
                "ContentType": "application/json",
                "IfNoneMatch": "*",
            },
        )
        with pytest.raises(error, match=re.escape("eda/runs/run-1/a.json")):
            write_json(OUT, "run-1", "a.json", {}, s3=client)


# --- client creation -----------------------------------------------------------------------------


def test_the_default_client_is_created_lazily_once_with_standard_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(
        s3ap.boto3, "client", lambda *args, **kwargs: created.append((args, kwargs)) or object()
    )
    s3ap.default_s3_client.cache_clear()
    try:
        first = s3ap.default_s3_client()
        second = s3ap.default_s3_client()
    finally:
        s3ap.default_s3_client.cache_clear()

    assert first is second
    assert len(created) == 1
    args, kwargs = created[0]
    assert args == ("s3",)
    assert kwargs["config"].retries == {"mode": "standard", "max_attempts": 5}


def test_importing_the_module_creates_no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("boto3.client called at import time")

    monkeypatch.setattr(boto3, "client", refuse)
    # Both are restored at teardown, so the rest of the session keeps using the original module.
    monkeypatch.delitem(sys.modules, "shared.s3ap")
    monkeypatch.setattr(sys.modules["shared"], "s3ap", s3ap)

    fresh = importlib.import_module("shared.s3ap")

    assert fresh is not s3ap
    assert fresh.default_s3_client.cache_info().currsize == 0
