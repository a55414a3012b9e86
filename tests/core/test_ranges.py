"""Range and x-amz-copy-source-range parsing, S3's semantics (see pachs3/core/ranges.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pachs3.core.errors import InvalidArgument, InvalidRange
from pachs3.core.ranges import ByteRange, parse_copy_range, parse_range

# (header, object size, expected (start, end) or None for "whole object, 200")
SATISFIABLE = [
    ("bytes=0-4", 12, (0, 4)),  # boto3-https #23 get_object range bytes=0-4
    ("bytes=0-11", 12, (0, 11)),  # pyarrow: explicit full range bytes=0-<size-1>
    ("bytes=0-", 12, (0, 11)),  # smart_open opens with bytes=0-
    ("bytes=100-", 1000, (100, 999)),  # s3fs open('rb') after a seek
    ("bytes=16777216-", 20971520, (16777216, 20971519)),  # s3transfer last part (#30)
    ("bytes=8388608-16777215", 20971520, (8388608, 16777215)),  # s3transfer middle part
    ("bytes=5-100", 12, (5, 11)),  # end clamped to size - 1
    ("bytes=11-11", 12, (11, 11)),
    ("bytes=-5", 12, (7, 11)),
    ("bytes=-12", 12, (0, 11)),
    ("bytes=-100", 12, (0, 11)),  # suffix longer than the object: all of it, still 206
    ("Bytes=1-2", 12, (1, 2)),  # unit is case-insensitive
    (" bytes = 1 - 2 ", 12, (1, 2)),
    ("bytes=0-0", 1, (0, 0)),
    ("bytes=00003-0004", 12, (3, 4)),
]

IGNORED = [
    (None, 12),
    ("", 12),
    ("bytes=5-3", 12),  # first > last: not a valid byte-range-spec, S3 serves the object
    ("bytes=0-1,3-4", 12),  # several ranges: S3 serves one or none, here none
    ("bytes=-", 12),
    ("bytes=", 12),
    ("items=0-4", 12),
    ("bytes=a-b", 12),
    ("bytes=1.5-2", 12),
    ("bytes 0-4", 12),
    ("bytes=٣-٤", 12),  # Arabic-Indic digits are not digits here
    ("bytes=-5", 0),  # suffix range on an empty object: 200 with the empty body
    ("bytes=-1", 0),
    ("bytes=" + "9" * 101 + "-", 12),  # absurd numbers are junk, not a 416
]

UNSATISFIABLE = [
    ("bytes=12-", 12),
    ("bytes=12-20", 12),
    ("bytes=100-200", 12),
    ("bytes=0-", 0),  # RFC and S3: 416 on an empty object (versitygw#586)
    ("bytes=0-0", 0),
    ("bytes=-0", 12),
    ("bytes=-0", 0),
]


@pytest.mark.parametrize(("header", "size", "expected"), SATISFIABLE)
def test_satisfiable(header: str, size: int, expected: tuple[int, int]) -> None:
    byte_range = parse_range(header, size)
    assert byte_range is not None
    start, end = expected
    assert (byte_range.start, byte_range.end, byte_range.size) == (start, end, size)
    assert byte_range.length == end - start + 1
    assert byte_range.content_range == f"bytes {start}-{end}/{size}"


@pytest.mark.parametrize(("header", "size"), IGNORED)
def test_ignored(header: str | None, size: int) -> None:
    assert parse_range(header, size) is None


@pytest.mark.parametrize(("header", "size"), UNSATISFIABLE)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as caught:
        parse_range(header, size)
    error = caught.value
    assert (error.code, error.status) == ("InvalidRange", 416)
    assert error.headers == (("content-range", f"bytes */{size}"),)


def test_byte_range_is_a_frozen_value() -> None:
    byte_range = ByteRange(start=1, end=2, size=3)
    with pytest.raises(AttributeError):
        byte_range.start = 0  # type: ignore[misc]
    assert not hasattr(byte_range, "__dict__")


@given(size=st.integers(0, 10_000), first=st.integers(0, 20_000), last=st.integers(0, 20_000))
def test_every_answer_is_inside_the_object(size: int, first: int, last: int) -> None:
    for header in (f"bytes={first}-{last}", f"bytes={first}-", f"bytes=-{last}"):
        try:
            byte_range = parse_range(header, size)
        except InvalidRange:
            continue
        if byte_range is not None:
            assert 0 <= byte_range.start <= byte_range.end < size
            assert byte_range.length >= 1


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 12, (0, 12)),
        ("bytes=0-4", 12, (0, 5)),
        ("bytes=5-11", 12, (5, 7)),
        ("bytes=11-11", 12, (11, 1)),
    ],
)
def test_copy_range(header: str | None, size: int, expected: tuple[int, int]) -> None:
    assert parse_copy_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=-5", "0-4", "bytes=a-b", "bytes=0-1,2-3"])
def test_copy_range_malformed(header: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_copy_range(header, 12)


@pytest.mark.parametrize("header", ["bytes=0-12", "bytes=5-4", "bytes=12-12"])
def test_copy_range_outside_source(header: str) -> None:
    with pytest.raises(InvalidRange, match="copy range is invalid"):
        parse_copy_range(header, 12)
