"""The streaming LZF decoder against the sandbox's LZF compressor, and streams it must refuse."""

from __future__ import annotations

import os

import pytest
from autonomous_driving.pointclouds.lzf import decompress

from sandbox.datasets import lzf_compress
from shared.errors import FileFormatError
from tests.autonomous_driving.helpers import chunked


@pytest.mark.parametrize(
    "data",
    [b"", b"a", b"z" * 100_000, bytes(range(256)) * 300, os.urandom(20_000), b"abc" * 5000 + os.urandom(999)],
    ids=["empty", "one", "run", "pattern", "random", "mixed"],
)
@pytest.mark.parametrize("chunk", [1, 3, 1000, 1 << 20])
def test_round_trip_at_any_chunking(data: bytes, chunk: int) -> None:
    compressed = lzf_compress(data)
    out = b"".join(decompress(chunked(compressed, chunk), len(data), block=4096))
    assert out == data


def test_output_comes_in_bounded_blocks_whatever_the_ratio() -> None:
    data = bytes(2_000_000)  # ~88x compression: the expansion must still be emitted block by block
    blocks = list(decompress([lzf_compress(data)], len(data), block=65536))
    assert b"".join(blocks) == data
    assert max(map(len, blocks)) < 65536 + 300


@pytest.mark.parametrize(
    ("stream", "size", "message"),
    [
        (b"\x20\x00", 3, "before the start"),  # a copy with nothing decoded yet
        (b"\x02ab", 3, "ends inside a token"),  # literal run of 3, 2 given
        (b"\x00a", 2, "decodes to 1 bytes"),
        (b"\x01ab", 1, "more than the declared"),
        (b"\x00a\xe0", 10, "ends inside a token"),  # long copy without its length byte
    ],
)
def test_invalid_streams_are_format_errors_with_offsets(stream: bytes, size: int, message: str) -> None:
    with pytest.raises(FileFormatError, match=message) as raised:
        b"".join(decompress([stream], size, base_offset=100))
    assert raised.value.offset >= 100
