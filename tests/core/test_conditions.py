"""Conditional reads and copies, and the date helpers they rest on (writes and deletes:
test_expectations.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pachs3.core.conditions import (
    check_copy_source_conditions,
    check_read_conditions,
    decide_read,
    etag_matches,
)
from pachs3.core.dates import format_http_date, format_iso8601, parse_http_date, to_utc
from pachs3.core.errors import (
    InvalidPartNumber,
    PreconditionFailed,
)
from pachs3.core.multipart import PART_SIZES_KEY, decode_part_sizes, encode_part_sizes
from pachs3.core.plans import ReadConditions, ReadFile
from pachs3.core.refs import CommitRef, FileInfo

ETAG = "6f5902ac237024bdd0c176cb93063dc4"
MODIFIED = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)  # stored with milliseconds
AT = "Thu, 02 Jan 2025 03:04:05 GMT"  # == Last-Modified as sent (whole seconds)
BEFORE = "Thu, 02 Jan 2025 03:04:04 GMT"
AFTER = "Thu, 02 Jan 2025 03:04:06 GMT"
OTHER = '"0000000000000000000000000000000a"'

# (if_match, if_none_match, if_modified_since, if_unmodified_since, expected)
# expected: "ok", "not-modified" or "412"
READ_TABLE = [
    (None, None, None, None, "ok"),
    # If-Match: quoted (s3transfer echoes HEAD's ETag), bare (S3A/pyspark), weak, lists, *
    (f'"{ETAG}"', None, None, None, "ok"),
    (ETAG, None, None, None, "ok"),
    (f'W/"{ETAG}"', None, None, None, "ok"),
    (f'{OTHER}, "{ETAG}"', None, None, None, "ok"),
    ("*", None, None, None, "ok"),
    (OTHER, None, None, None, "412"),
    ("", None, None, None, "412"),
    # If-Unmodified-Since
    (None, None, None, AT, "ok"),  # same second: not modified since
    (None, None, None, AFTER, "ok"),
    (None, None, None, BEFORE, "412"),
    (None, None, None, "not a date", "ok"),  # unreadable date: condition ignored
    # S3's pairing: If-Match true + If-Unmodified-Since false -> 200
    (f'"{ETAG}"', None, None, BEFORE, "ok"),
    (OTHER, None, None, AFTER, "412"),
    # If-None-Match
    (None, f'"{ETAG}"', None, None, "not-modified"),
    (None, ETAG, None, None, "not-modified"),
    (None, f'W/"{ETAG}"', None, None, "not-modified"),
    (None, "*", None, None, "not-modified"),
    (None, OTHER, None, None, "ok"),
    (None, f"{OTHER},{ETAG}", None, None, "not-modified"),
    # If-Modified-Since
    (None, None, AT, None, "not-modified"),  # echoing Last-Modified gives 304 despite the ms
    (None, None, AFTER, None, "not-modified"),
    (None, None, BEFORE, None, "ok"),
    (None, None, "Sunday, 02-Jan-25 03:04:05 GMT", None, "not-modified"),  # RFC 850
    (None, None, "Thu Jan  2 03:04:05 2025", None, "not-modified"),  # asctime
    (None, None, "garbage", None, "ok"),
    # S3's pairing: If-None-Match false (matches) + If-Modified-Since true -> 304
    (None, f'"{ETAG}"', BEFORE, None, "not-modified"),
    # If-None-Match true (no match) wins over If-Modified-Since false (RFC 9110 §13.2.2)
    (None, OTHER, AFTER, None, "ok"),
    # 412 takes precedence over 304
    (OTHER, f'"{ETAG}"', None, None, "412"),
    (None, f'"{ETAG}"', None, BEFORE, "412"),
    # all four, all true
    (ETAG, OTHER, BEFORE, AFTER, "ok"),
]


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "if_modified_since", "if_unmodified_since", "expected"),
    READ_TABLE,
)
def test_read_conditions(
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    expected: str,
) -> None:
    kwargs = {
        "if_match": if_match,
        "if_none_match": if_none_match,
        "if_modified_since": if_modified_since,
        "if_unmodified_since": if_unmodified_since,
        "etag": ETAG,
        "last_modified": MODIFIED,
    }
    if expected == "412":
        with pytest.raises(PreconditionFailed) as caught:
            check_read_conditions(**kwargs)  # type: ignore[arg-type]
        assert caught.value.status == 412
    else:
        assert check_read_conditions(**kwargs) == expected  # type: ignore[arg-type]


def test_quoted_stored_etag_and_naive_time() -> None:
    assert (
        check_read_conditions(
            if_match=ETAG,
            if_none_match=None,
            if_modified_since=AT,
            if_unmodified_since=None,
            etag=f'"{ETAG}"',
            last_modified=MODIFIED.replace(tzinfo=None),  # naive: taken as UTC
        )
        == "not-modified"
    )


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "if_modified_since", "if_unmodified_since", "fails"),
    [
        (None, None, None, None, False),
        (ETAG, None, None, None, False),
        (OTHER, None, None, None, True),
        (f'"{ETAG}"', None, None, BEFORE, False),  # CopyObject: if-match true wins
        (None, OTHER, None, None, False),
        (None, ETAG, None, None, True),  # a copy has no 304: 412
        (None, None, BEFORE, None, False),
        (None, None, AFTER, None, True),
        (None, f'"{ETAG}"', BEFORE, None, True),  # if-none-match false + modified-since true
        (None, None, None, BEFORE, True),
    ],
)
def test_copy_source_conditions(
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    fails: bool,
) -> None:
    def check() -> None:
        check_copy_source_conditions(
            if_match=if_match,
            if_none_match=if_none_match,
            if_modified_since=if_modified_since,
            if_unmodified_since=if_unmodified_since,
            etag=ETAG,
            last_modified=MODIFIED,
        )

    if fails:
        with pytest.raises(PreconditionFailed):
            check()
    else:
        check()


@pytest.mark.parametrize(
    ("header", "etag", "matches"),
    [
        ('"abc"', "abc", True),
        ("abc", '"abc"', True),
        ('W/"abc"', "abc", True),
        ('w/"abc"', "abc", True),
        ('"abc-2"', "abc-2", True),  # multipart ETag
        ('"abc"', "abcd", False),
        (' "x" , "abc" ', "abc", True),
        (",,", "abc", False),
        ("*", "anything", True),
    ],
)
def test_etag_matches(header: str, etag: str, matches: bool) -> None:
    assert etag_matches(header, etag) is matches


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "http", "iso"),
    [
        (MODIFIED, "Thu, 02 Jan 2025 03:04:05 GMT", "2025-01-02T03:04:05.678Z"),
        (datetime(2024, 1, 1), "Mon, 01 Jan 2024 00:00:00 GMT", "2024-01-01T00:00:00.000Z"),
        (
            datetime(2024, 1, 1, 2, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2))),
            "Mon, 01 Jan 2024 00:00:00 GMT",
            "2024-01-01T00:00:00.999Z",
        ),
    ],
)
def test_formats(dt: datetime, http: str, iso: str) -> None:
    assert format_http_date(dt) == http
    assert format_iso8601(dt) == iso


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thu, 02 Jan 2025 03:04:05 GMT", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("Thursday, 02-Jan-25 03:04:05 GMT", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("Thu Jan  2 03:04:05 2025", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("Thu, 02 Jan 2025 05:04:05 +0200", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2025-01-02T03:04:05.000Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2025-01-02T03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("  Thu, 02 Jan 2025 03:04:05 GMT  ", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        ("Thu, 32 Jan 2025 03:04:05 GMT", None),
        (None, None),
    ],
)
def test_parse_http_date(text: str | None, expected: datetime | None) -> None:
    assert parse_http_date(text) == expected


def test_http_date_round_trip() -> None:
    assert parse_http_date(format_http_date(MODIFIED)) == MODIFIED.replace(microsecond=0)
    assert to_utc(datetime(2024, 1, 1)).tzinfo is UTC


# --------------------------------------------------------------------------------------------
# decide_read: what a GET or HEAD answers for one version of a file


def _read_plan(**fields: Any) -> ReadFile:
    return ReadFile(ref=CommitRef(repo="r", id="c"), bucket="b", path="k", **fields)


OBJECT = FileInfo(
    path="k", size=100, etag="0cc175b9c0f1b6a831c399e269772661",
    modified=datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC), commit="c",
)  # fmt: skip


def test_decide_read_whole_ranged_and_head() -> None:
    whole = decide_read(_read_plan(), OBJECT)
    assert (whole.span, whole.byte_range, whole.not_modified) == ((0, 100), None, False)
    ranged = decide_read(_read_plan(range_header="bytes=10-19"), OBJECT)
    assert ranged.span == (10, 10)
    assert ranged.byte_range is not None
    assert ranged.byte_range.content_range == "bytes 10-19/100"
    head = decide_read(_read_plan(head_only=True, range_header="bytes=10-19"), OBJECT)
    assert head.span is None
    assert head.byte_range == ranged.byte_range


def test_decide_read_not_modified_reads_nothing() -> None:
    plan = _read_plan(conditions=ReadConditions(if_none_match=f'"{OBJECT.etag}"'))
    decision = decide_read(plan, OBJECT)
    assert decision.span is None
    assert decision.not_modified
    done = decision.outcome(OBJECT, None)
    assert done.not_modified
    assert done.body is None


def test_decide_read_refuses_failed_preconditions_and_other_parts() -> None:
    with pytest.raises(PreconditionFailed):
        decide_read(_read_plan(conditions=ReadConditions(if_match='"other"')), OBJECT)
    whole = decide_read(_read_plan(part_number=1), OBJECT)
    assert whole.span == (0, 100)
    assert whole.byte_range is not None
    assert whole.byte_range.content_range == "bytes 0-99/100"
    assert whole.parts_count is None
    with pytest.raises(InvalidPartNumber):
        decide_read(_read_plan(part_number=2), OBJECT)


def test_decide_read_answers_each_part_of_a_composed_object() -> None:
    composed = replace(OBJECT, size=25, metadata={PART_SIZES_KEY: encode_part_sizes([10, 10, 5])})
    spans = [decide_read(_read_plan(part_number=n), composed) for n in (1, 2, 3)]
    assert [d.span for d in spans] == [(0, 10), (10, 10), (20, 5)]
    assert [d.byte_range.content_range for d in spans if d.byte_range] == [
        "bytes 0-9/25",
        "bytes 10-19/25",
        "bytes 20-24/25",
    ]
    assert {d.parts_count for d in spans} == {3}
    with pytest.raises(InvalidPartNumber):
        decide_read(_read_plan(part_number=4), composed)


@pytest.mark.parametrize(
    "sizes", [[5], [8388608] * 9 + [1234], [1, 2, 2, 3], [0], list(range(1, 40))]
)
def test_part_sizes_round_trip(sizes: list[int]) -> None:
    assert decode_part_sizes(encode_part_sizes(sizes)) == tuple(sizes)


def test_part_sizes_of_ten_thousand_equal_parts_are_short() -> None:
    assert encode_part_sizes([5 * 2**20] * 9999 + [7]) == "5242880*9999,7"


@pytest.mark.parametrize("text", ["", "x", "5*", "*3", "1,,2", "-1"])
def test_a_part_sizes_record_that_is_not_one_reads_as_none(text: str) -> None:
    assert decode_part_sizes(text) is None
