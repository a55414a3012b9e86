"""Conditional writes and deletes, decided purely: the headers a planner reads into an
expectation, and the verdict on the file a backend finds (core/expectations.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pachs3.core.errors import S3Error
from pachs3.core.expectations import (
    Absent,
    Expectation,
    Matching,
    delete_expectation,
    judge,
    write_expectation,
)
from pachs3.core.refs import FileInfo

ETAG = "6f5902ac237024bdd0c176cb93063dc4"
OTHER = "0000000000000000000000000000000a"
MODIFIED = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
FILE = FileInfo(path="k", size=11, etag=ETAG, modified=MODIFIED, commit="c")


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "expected"),
    [
        (None, None, None),
        (None, "*", Absent()),
        (None, " * ", Absent()),
        (f'"{ETAG}"', None, Matching(etag=f'"{ETAG}"')),
        ("*", None, Matching(etag="*")),
    ],
)
def test_write_expectation(
    if_match: str | None, if_none_match: str | None, expected: Expectation | None
) -> None:
    assert write_expectation(if_match, if_none_match) == expected


@pytest.mark.parametrize(
    ("if_match", "if_none_match"),
    [
        (None, f'"{ETAG}"'),  # AWS: If-None-Match on a write takes only '*' (501)
        (None, ""),
        (f'"{ETAG}"', "*"),  # both at once: 501, as versitygw reports AWS answers
    ],
)
def test_write_expectation_refuses_what_aws_does_not_implement(
    if_match: str | None, if_none_match: str | None
) -> None:
    with pytest.raises(S3Error) as caught:
        write_expectation(if_match, if_none_match)
    assert (caught.value.code, caught.value.status) == ("NotImplemented", 501)
    assert caught.value.detail.startswith(
        "A header you provided implies functionality that is not implemented"
    )


@pytest.mark.parametrize(
    ("expect", "current", "verdict"),
    [
        (None, None, "holds"),
        (None, FILE, "holds"),
        (Absent(), None, "holds"),
        (Absent(), FILE, "exists"),
        (Matching(etag=ETAG), FILE, "holds"),
        (Matching(etag=f'"{ETAG}"'), FILE, "holds"),  # quoted, as boto3 sends it
        (Matching(etag=f'W/"{ETAG}"'), FILE, "holds"),
        (Matching(etag=f'"{OTHER}", "{ETAG}"'), FILE, "holds"),
        (Matching(etag="*"), FILE, "holds"),
        (Matching(etag=OTHER), FILE, "differs"),
        (Matching(etag=""), FILE, "differs"),
        (Matching(etag=ETAG), None, "missing"),  # If-Match on no object: 404 NoSuchKey
        (Matching(etag="*"), None, "missing"),
    ],
)
def test_judge(expect: Expectation | None, current: FileInfo | None, verdict: str) -> None:
    assert judge(expect, current) == verdict


@pytest.mark.parametrize(
    ("expect", "current", "verdict"),
    [
        (Matching(size=11), FILE, "holds"),
        (Matching(size=12), FILE, "differs"),
        (Matching(modified=MODIFIED.replace(microsecond=0)), FILE, "holds"),  # whole seconds
        (Matching(modified=MODIFIED + timedelta(seconds=1)), FILE, "differs"),
        (Matching(etag=ETAG, size=11, modified=MODIFIED), FILE, "holds"),
        (Matching(etag=ETAG, size=12), FILE, "differs"),
        (Matching(etag=OTHER, size=11), FILE, "differs"),
        # Size and time alone hold for a missing object: the delete answers 204.
        (Matching(size=11), None, "holds"),
        (Matching(modified=MODIFIED), None, "holds"),
        (Matching(etag=ETAG, size=11), None, "missing"),
    ],
)
def test_judge_size_and_time(expect: Expectation, current: FileInfo | None, verdict: str) -> None:
    assert judge(expect, current) == verdict


@pytest.mark.parametrize(
    ("if_match", "size", "modified", "expected"),
    [
        (None, None, None, None),
        ('"abc"', None, None, Matching(etag='"abc"')),
        (None, "11", None, Matching(size=11)),
        (None, " 0 ", None, Matching(size=0)),
        (
            "*",
            "11",
            "Thu, 02 Jan 2025 03:04:05 GMT",  # botocore's form for a timestamp header
            Matching(etag="*", size=11, modified=MODIFIED.replace(microsecond=0)),
        ),
        (None, None, "2025-01-02T03:04:05.678Z", Matching(modified=MODIFIED)),
    ],
)
def test_delete_expectation(
    if_match: str | None, size: str | None, modified: str | None, expected: Matching | None
) -> None:
    assert delete_expectation(if_match=if_match, size=size, modified=modified) == expected


@pytest.mark.parametrize(
    ("size", "modified"),
    [("-1", None), ("1.5", None), ("", None), ("9" * 20, None), ("٣", None), (None, "yesterday")],
)
def test_delete_expectation_refuses_an_unreadable_condition(
    size: str | None, modified: str | None
) -> None:
    """Ignoring it (as an unreadable If-Modified-Since is ignored on a read) would delete what
    the client meant to guard: 400 InvalidArgument, before anything is touched."""
    with pytest.raises(S3Error) as caught:
        delete_expectation(if_match=None, size=size, modified=modified)
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)
