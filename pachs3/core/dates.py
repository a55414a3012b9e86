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
from functools import lru_cache
from typing import Final

__all__ = ["format_http_date", "format_iso8601", "parse_http_date", "to_utc"]


def to_utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_http_date(dt: datetime) -> str:
    """RFC 1123 in GMT, as S3 writes ``Last-Modified``: ``Wed, 01 Jan 2025 00:00:00 GMT``."""
    if type(dt) is datetime:  # a subclass may format itself differently: the general path
        tz = dt.tzinfo
        return _http_date(dt if tz is None or tz is UTC else dt.astimezone(UTC))
    return email.utils.format_datetime(to_utc(dt), usegmt=True)


def format_iso8601(dt: datetime) -> str:
    """ISO 8601 with milliseconds, as S3 writes XML timestamps: ``2025-01-01T00:00:00.000Z``."""
    if type(dt) is datetime:
        tz = dt.tzinfo
        return _iso8601(dt if tz is None or tz is UTC else dt.astimezone(UTC))
    return _iso8601_strftime(to_utc(dt))


# The fast paths: an f-string over the fields instead of ``strftime`` / ``email.utils`` (1.7 us
# against 2.3 us for a new instant, cache lookup included; 0.15 us for one seen before),
# memoized because the files of one listing, or the object read again and again, share instants
# (one commit of ``put_files`` stamps a whole batch alike).
#
# Only two kinds of keys reach the caches: naive datetimes (taken as UTC) and aware ones whose
# tzinfo is the ``UTC`` singleton, both of the exact type ``datetime``. Among those, equal
# means the same fields in UTC, so a cached answer is always the right one. Other aware
# datetimes are converted first: keyed as they are, the two readings of an ambiguous local
# time (``fold`` 0 and 1 of one tzinfo) compare and hash equal though an hour apart, and a
# tzinfo that knows no offset makes a datetime equal to a naive one though it is local time.

_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


@lru_cache(maxsize=4096)
def _http_date(utc: datetime) -> str:
    # email.utils.format_datetime's spelling: %02d day, %04d year, seconds truncated.
    return (
        f"{_WEEKDAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


@lru_cache(maxsize=4096)
def _iso8601(utc: datetime) -> str:
    if utc.year < 1000:  # C libraries disagree on padding %Y below 1000: ask strftime
        return _iso8601_strftime(utc)
    return (
        f"{utc.year}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def _iso8601_strftime(utc: datetime) -> str:
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
