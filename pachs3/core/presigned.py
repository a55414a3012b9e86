"""Presigned URLs, apart from their signature: headers carried in the query, and expiry.

A presigner may move request headers into the URL: the JavaScript SDK v3's presigner hoists
every ``x-amz-*`` header it signs (``x-amz-meta-*``, ``x-amz-acl``, ``x-amz-storage-class``,
``x-amz-checksum-crc32``, ``x-amz-sdk-checksum-algorithm`` ...), so a presigned PUT made with
its defaults carries its metadata and checksum as query parameters. S3 reads them as the headers
they stand for; so does ``hoisted_headers``, which runs before parsing and routing see the
request (an unknown query parameter on a write is otherwise refused with 501).

Expiry (``X-Amz-Date`` + ``X-Amz-Expires``) is enforced whether or not signatures are checked:
an expired link must not keep working because the gateway runs without credentials. With
``credentials=`` the SigV4 verifier checks the same window as part of the signature.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pachs3.core import errors
from pachs3.core.http import RequestHead

SIGNATURE_PARAMETERS = frozenset(
    {
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-signature",
        "x-amz-security-token",
    }
)
"""The presigned form's own parameters (lower-cased): the signature, never headers."""

HOISTED_PREFIX = "x-amz-"
"""Every other ``x-amz-*`` query parameter of a presigned request stands for its header."""

MAX_EXPIRES_SECONDS = 7 * 24 * 3600
"""AWS: a presigned URL lives at most a week (``X-Amz-Expires`` ≤ 604800)."""


def is_presigned(head: RequestHead) -> bool:
    return any(name == "X-Amz-Algorithm" for name, _ in head.query)


def hoisted_headers(head: RequestHead) -> RequestHead:
    """``head`` with a presigned request's hoisted headers moved from the query to the headers.

    A header sent as a real header too keeps the header's value (it is what the client sent
    last); the query parameter is dropped either way. Requests that are not presigned are
    returned as they are: S3 reads ``x-amz-*`` query parameters as headers only in that form.
    """
    if not is_presigned(head):
        return head
    query: list[tuple[str, str]] = []
    moved: list[tuple[str, str]] = []
    for name, value in head.query:
        lower = name.lower()
        if lower.startswith(HOISTED_PREFIX) and lower not in SIGNATURE_PARAMETERS:
            moved.append((lower, value))
        else:
            query.append((name, value))
    if not moved:
        return head
    present = {name for name, _ in head.headers}
    headers = head.headers + tuple(pair for pair in moved if pair[0] not in present)
    return replace(head, query=tuple(query), headers=headers)


def check_not_expired(head: RequestHead, now: datetime) -> None:
    """Refuse a presigned request past ``X-Amz-Date + X-Amz-Expires`` (403, as S3 answers).

    Only the window is read here; a malformed date or lifetime gets the error S3 gives for it.
    """
    if not is_presigned(head):
        return
    params = {name: value for name, value in head.query if name in ("X-Amz-Date", "X-Amz-Expires")}
    date, expires = params.get("X-Amz-Date"), params.get("X-Amz-Expires")
    if date is None or expires is None:
        raise errors.AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters."
        )
    if now > signing_time(date) + timedelta(seconds=lifetime(expires)):
        raise errors.AccessDenied("Request has expired", resource=head.path)


def signing_time(value: str) -> datetime:
    """``X-Amz-Date``: ISO 8601 basic format, ``20261204T170000Z``."""
    try:
        parsed = datetime.strptime(value, "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from None
    return parsed.replace(tzinfo=UTC)


def lifetime(value: str) -> int:
    """``X-Amz-Expires``: whole seconds, at most a week."""
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Expires should be a number of seconds."
        )
    seconds = int(value)
    if seconds > MAX_EXPIRES_SECONDS:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    return seconds
