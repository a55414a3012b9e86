"""The two timestamp spellings of S3 and a lenient parser for the ones clients send.

- Headers (``Last-Modified``, ``If-Modified-Since``...) use RFC 1123 in GMT:
  ``Wed, 01 Jan 2025 00:00:00 GMT``.
- XML bodies (``<LastModified>`` in listings, ``CopyObjectResult``) use ISO 8601 with
  milliseconds and ``Z``: ``2025-01-01T00:00:00.000Z``. minio-py and obstore reject RFC 1123 in
  a listing (clients.md §2), so the two must never be swapped.

Naive datetimes are taken to be UTC throughout: PFS and the backends keep UTC.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

__all__ = ["format_http_date", "format_iso8601", "parse_http_date", "to_utc"]


def to_utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_http_date(dt: datetime) -> str:
    """RFC 1123 in GMT, as S3 writes ``Last-Modified``: ``Wed, 01 Jan 2025 00:00:00 GMT``."""
    return email.utils.format_datetime(to_utc(dt), usegmt=True)


def format_iso8601(dt: datetime) -> str:
    """ISO 8601 with milliseconds, as S3 writes XML timestamps: ``2025-01-01T00:00:00.000Z``."""
    utc = to_utc(dt)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_http_date(value: str | None) -> datetime | None:
    """An aware UTC datetime from a date header, or ``None`` if it cannot be read.

    Accepts what RFC 9110 requires recipients to accept (IMF-fixdate, RFC 850 and asctime, via
    ``email.utils``) plus ISO 8601, which some hand-rolled clients send. An unreadable date is
    not an error: RFC 9110 §13.1.3 says to ignore such a condition, and S3 does.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return to_utc(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        return None
