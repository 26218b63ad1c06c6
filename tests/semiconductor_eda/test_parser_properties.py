"""Properties of both readers on any input: damage is a FileFormatError with an offset, never a crash.

* every strict prefix of a valid file (truncation anywhere) raises FileFormatError whose offset
  lies inside what was read;
* random byte changes, insertions and deletions either leave a readable file or raise
  FileFormatError: never IndexError, struct.error, UnicodeDecodeError, zlib.error, OverflowError,
  RecursionError or anything else;
* random bytes, behind a genuine GDSII HEADER or OASIS magic or not, raise FileFormatError;
* the result does not depend on how the stream is cut into chunks (1 byte to 1 MiB).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from semiconductor_eda.catalogue import read_layout

from shared.errors import FileFormatError
from tests.semiconductor_eda.builders import MAGIC, start
from tests.semiconductor_eda.strategies import build, library_specs

EXAMPLES = max(10, settings.default.max_examples // 2)
FORMATS = ("gds", "oas-plain", "oas-cblock", "oas-checksum")


def written(specs, fmt: str) -> bytes:
    library = build(specs)
    with tempfile.TemporaryDirectory(prefix="props-") as directory:
        path = Path(directory) / "layout"
        if fmt == "gds":
            library.write_gds(str(path))
        elif fmt == "oas-plain":
            library.write_oas(str(path), compression_level=0)
        elif fmt == "oas-cblock":
            library.write_oas(str(path), compression_level=6, validation="crc32")
        else:
            library.write_oas(str(path), compression_level=0, validation="checksum32")
        return path.read_bytes()


def chunked(data: bytes, size: int):
    return iter([data[i : i + size] for i in range(0, len(data), size)])


def outcome(data: bytes, size: int = 1 << 20):
    """The record, or the FileFormatError's (offset, reason); any other exception propagates."""
    try:
        return read_layout(chunked(data, size)).to_record()
    except FileFormatError as error:
        assert isinstance(error.offset, int)
        assert error.offset >= 0
        return ("error", error.offset, error.details.get("reason"))


settle = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settle
@given(library_specs(), st.sampled_from(FORMATS), st.data())
def test_truncation_anywhere_is_a_format_error_inside_what_was_read(specs, fmt, data):
    valid = written(specs, fmt)
    cut = data.draw(st.integers(0, len(valid) - 1), label="cut")
    result = outcome(valid[:cut], data.draw(st.sampled_from((1, 7, 4096)), label="chunk"))
    assert result[0] == "error", f"a {len(valid)}-byte file cut at {cut} was accepted"
    assert result[1] <= max(cut, 0)


@settle
@given(library_specs(), st.sampled_from(FORMATS), st.data())
def test_random_damage_is_never_a_crash(specs, fmt, data):
    damaged = bytearray(written(specs, fmt))
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        at = data.draw(st.integers(0, len(damaged) - 1), label="at")
        kind = data.draw(st.sampled_from(("flip", "set", "insert", "delete")), label="kind")
        if kind == "flip":
            damaged[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set":
            damaged[at] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            damaged[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        elif len(damaged) > 1:
            del damaged[at : at + data.draw(st.integers(1, 16))]
    outcome(bytes(damaged), data.draw(st.sampled_from((1, 3, 1 << 20)), label="chunk"))


GDS_HEADER = bytes.fromhex("0006000202580000")[:6]


@settle
@given(st.sampled_from((b"", GDS_HEADER, MAGIC, start())), st.binary(max_size=512))
def test_random_bytes_are_a_format_error(prefix, noise):
    result = outcome(prefix + noise)
    assume(result[0] == "error")  # random bytes that form a valid file are possible, if unlikely
    assert result[1] <= len(prefix + noise)


@settle
@given(library_specs(), st.sampled_from(FORMATS), st.lists(st.integers(1, 5000), min_size=1, max_size=8))
def test_chunking_does_not_change_the_result(specs, fmt, sizes):
    data = written(specs, fmt)
    whole = read_layout(data).to_record()
    pieces, position = [], 0
    for size in sizes * (len(data) // sum(sizes) + 1):
        if position >= len(data):
            break
        pieces.append(data[position : position + size])
        position += size
    assert read_layout(iter(pieces)).to_record() == whole
