"""The ``Range`` header of GetObject/HeadObject, with S3's (not RFC 9110's) leniency.

S3 serves one byte range per request. What it does with the rest (localstack#9082, whose tests
were recorded against AWS, and moto's ``_handle_range_header`` agree):

===========================================  ==========================================
header (object of ``size`` bytes)            answer
===========================================  ==========================================
``bytes=a-b``, ``a <= b``, ``a < size``      206 ``a..min(b, size-1)``
``bytes=a-``, ``a < size``                   206 ``a..size-1``
``bytes=-n``, ``n > 0``                      206 last ``min(n, size)`` bytes
``bytes=a-b`` / ``bytes=a-`` with a >= size  416 ``InvalidRange``, ``Content-Range: bytes */size``
``bytes=-0``                                 416 ``InvalidRange``
``bytes=a-b`` with ``a > b``                 ignored: 200, whole object
not ``bytes=``, not numbers, several ranges  ignored: 200, whole object
===========================================  ==========================================

A zero-byte object has no satisfiable range, but S3 answers a suffix range (``bytes=-n``) with
the whole, empty object (200), and ``bytes=0-`` with 416 (clients.md §3 item 7; smart_open and
object_store open with ``bytes=0-`` and must see the 416 they handle, minio#17713, versitygw#586).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from pachs3.core.errors import InvalidArgument, InvalidRange, S3Error

__all__ = ["ByteRange", "parse_copy_range", "parse_range"]

# One range, optional blanks (RFC 9110 allows OWS around the comma-separated list); the unit
# is case-insensitive per RFC 9110 §14.1. ASCII digits only (``\d`` would take any Unicode
# digit, and int() would accept it), at most 100 of them so int() stays cheap on junk.
_RANGE: Final = re.compile(
    r"[ \t]*bytes[ \t]*=[ \t]*(?P<first>[0-9]{0,100})[ \t]*-[ \t]*(?P<last>[0-9]{0,100})[ \t]*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ByteRange:
    """A satisfiable byte range of an object: ``start..end`` inclusive, within ``size``."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` header value of the 206 response."""
        return f"bytes {self.start}-{self.end}/{self.size}"


def _unsatisfiable(size: int) -> S3Error:
    return InvalidRange(headers=(("content-range", f"bytes */{size}"),))


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to serve, or ``None`` for the whole object (200).

    Raises ``InvalidRange`` (416, carrying ``Content-Range: bytes */size``) when the range
    parses but no byte of the object satisfies it.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header)
    if match is None:  # a multi-range list, another unit, garbage: S3 ignores it
        return None
    first, last = match.group("first"), match.group("last")
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None
        if start >= size:
            raise _unsatisfiable(size)
        return ByteRange(start=start, end=min(end, size - 1), size=size)
    if not last:  # "bytes=-"
        return None
    suffix = int(last)
    if suffix == 0:
        raise _unsatisfiable(size)
    if size == 0:
        return None
    return ByteRange(start=max(size - suffix, 0), end=size - 1, size=size)


# x-amz-copy-source-range is stricter than Range: exactly "bytes=first-last", both given.
_COPY_RANGE: Final = re.compile(r"bytes=(?P<first>[0-9]{1,100})-(?P<last>[0-9]{1,100})")


def parse_copy_range(header: str | None, size: int) -> tuple[int, int]:
    """``(offset, length)`` of the source bytes UploadPartCopy copies.

    ``None`` copies the whole source. Unlike ``Range``, S3 does not ignore a bad value: a
    malformed one is ``InvalidArgument``, and one outside the source (``last >= size`` or
    ``first > last``) is 416 ``InvalidRange``, as AWS answers it (ceph s3-tests
    ``test_multipart_copy_invalid_range`` accepts only InvalidRange or InvalidArgument).
    """
    if header is None:
        return 0, size
    match = _COPY_RANGE.fullmatch(header.strip())
    if match is None:
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy"
        )
    first, last = int(match.group("first")), int(match.group("last"))
    if first > last or last >= size:
        raise InvalidRange("The specified copy range is invalid for the source object size")
    return first, last - first + 1
