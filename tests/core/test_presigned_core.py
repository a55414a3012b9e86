"""core/presigned.py: which query parameters of a presigned URL are headers, and its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pachs3.core import errors
from pachs3.core.http import RequestHead
from pachs3.core.presigned import check_not_expired, hoisted_headers
from pachs3.core.request import parse

SIGNED_AT = datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)
SIGNATURE = (
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Credential", "AKID/20261204/us-east-1/s3/aws4_request"),
    ("X-Amz-Date", "20261204T170000Z"),
    ("X-Amz-Expires", "900"),
    ("X-Amz-SignedHeaders", "host"),
    ("X-Amz-Signature", "0" * 64),
)


def head(*query: tuple[str, str], headers: tuple[tuple[str, str], ...] = ()) -> RequestHead:
    return RequestHead(method="PUT", path="/out/k", query=query, headers=headers)


def test_hoisted_parameters_become_headers_and_leave_the_query() -> None:
    hoisted = hoisted_headers(
        head(
            *SIGNATURE,
            ("x-amz-meta-Colour", "blue"),
            ("X-Amz-Checksum-Crc32", "AAAAAA=="),
            ("x-id", "PutObject"),
        )
    )
    assert hoisted.query == (*SIGNATURE, ("x-id", "PutObject"))
    assert hoisted.headers == (("x-amz-meta-colour", "blue"), ("x-amz-checksum-crc32", "AAAAAA=="))


def test_a_real_header_keeps_its_value() -> None:
    hoisted = hoisted_headers(
        head(*SIGNATURE, ("x-amz-acl", "public-read"), headers=(("x-amz-acl", "private"),))
    )
    assert hoisted.headers == (("x-amz-acl", "private"),)
    assert ("x-amz-acl", "public-read") not in hoisted.query


def test_only_presigned_requests_hoist() -> None:
    plain = head(("x-amz-meta-colour", "blue"))
    assert hoisted_headers(plain) is plain
    assert parse(plain).query == {"x-amz-meta-colour": "blue"}


def test_parse_sees_hoisted_headers() -> None:
    request = parse(head(*SIGNATURE, ("x-amz-meta-colour", "blue")))
    assert request.header("x-amz-meta-colour") == "blue"
    assert "x-amz-meta-colour" not in request.query


@pytest.mark.parametrize(
    ("seconds_after_signing", "expired"), [(0, False), (900, False), (901, True), (86400, True)]
)
def test_the_window_is_date_plus_expires(seconds_after_signing: int, expired: bool) -> None:
    now = SIGNED_AT + timedelta(seconds=seconds_after_signing)
    if expired:
        with pytest.raises(errors.AccessDenied, match="Request has expired"):
            check_not_expired(head(*SIGNATURE), now)
    else:
        check_not_expired(head(*SIGNATURE), now)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("X-Amz-Date", "2026-12-04T17:00:00Z", "ISO8601 Long Format"),
        ("X-Amz-Expires", "soon", "number of seconds"),
        ("X-Amz-Expires", "604801", "less than a week"),
    ],
)
def test_a_malformed_window_is_the_error_s3_gives(name: str, value: str, message: str) -> None:
    query = tuple((n, value if n == name else v) for n, v in SIGNATURE)
    with pytest.raises(errors.AuthorizationQueryParametersError, match=message):
        check_not_expired(head(*query), SIGNED_AT)


def test_requests_that_are_not_presigned_have_no_window() -> None:
    check_not_expired(head(("X-Amz-Date", "garbage")), SIGNED_AT)
