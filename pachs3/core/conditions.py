"""Conditional requests: ``If-*`` on GET/HEAD and ``x-amz-copy-source-if-*`` on copies. Pure:
header strings and the object's ETag and time in, a verdict or an ``S3Error`` out.
``decide_read`` joins the verdict with the range and part number: what a GET or HEAD answers for
one version of a file. (Conditional writes and deletes: ``core/expectations.py``.)

Read precedence is RFC 9110 §13.2.2 with S3's documented pairings (GetObject/HeadObject API):

1. ``If-Match`` present: false -> 412. True -> ``If-Unmodified-Since`` is not evaluated
   ("If-Match true and If-Unmodified-Since false: S3 returns 200 OK").
2. else ``If-Unmodified-Since``: modified after the date -> 412.
3. ``If-None-Match`` present: an ETag matches -> 304. No match -> ``If-Modified-Since`` is
   not evaluated. ("If-None-Match false and If-Modified-Since true: 304.")
4. else ``If-Modified-Since``: not modified after the date -> 304.

ETag lists are matched as S3 does (``core/etags.py``: comma-separated, ``*``, weak comparison,
quotes optional).

Dates are compared at whole seconds, because ``Last-Modified`` is sent without fractions: a
client that echoes ``Last-Modified`` in ``If-Modified-Since`` must get its 304 even when the
stored time has milliseconds. An unreadable date is ignored (RFC 9110 §13.1.3/§13.1.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pachs3.core import errors
from pachs3.core.dates import parse_http_date, to_utc
from pachs3.core.errors import PreconditionFailed
from pachs3.core.etags import etag_matches
from pachs3.core.http import ByteStream
from pachs3.core.multipart import PART_SIZES_KEY, decode_part_sizes, part_span
from pachs3.core.outcomes import FileRead
from pachs3.core.plans import ReadConditions, ReadFile
from pachs3.core.ranges import ByteRange, parse_range
from pachs3.core.refs import FileInfo

__all__ = [
    "ReadDecision",
    "ReadVerdict",
    "check_copy_source_conditions",
    "check_read_conditions",
    "check_source_conditions",
    "decide_read",
    "etag_matches",
    "read_verdict",
]

ReadVerdict = Literal["ok", "not-modified"]


def _seconds(dt: datetime) -> datetime:
    return to_utc(dt).replace(microsecond=0)


def _modified_after(last_modified: datetime, header: str | None) -> bool | None:
    """``last_modified > date`` at whole seconds, or ``None`` when there is no usable date."""
    date = parse_http_date(header)
    if date is None:
        return None
    return _seconds(last_modified) > _seconds(date)


def _evaluate(
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    last_modified: datetime,
) -> Literal["ok", "failed", "not-modified"]:
    if if_match is not None:
        if not etag_matches(if_match, etag):
            return "failed"
    elif _modified_after(last_modified, if_unmodified_since) is True:
        return "failed"
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            return "not-modified"
    elif _modified_after(last_modified, if_modified_since) is False:
        return "not-modified"
    return "ok"


def check_read_conditions(
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    last_modified: datetime,
) -> ReadVerdict:
    """GET/HEAD preconditions: ``"ok"``, ``"not-modified"`` (answer 304, no body), or raise
    ``PreconditionFailed`` (412)."""
    verdict = _evaluate(
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
        etag=etag,
        last_modified=last_modified,
    )
    if verdict == "failed":
        raise PreconditionFailed()
    return verdict


def check_copy_source_conditions(
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    last_modified: datetime,
) -> None:
    """``x-amz-copy-source-if-*`` on CopyObject/UploadPartCopy: every failure is 412.

    Same pairings as reads (CopyObject API: if-match true + if-unmodified-since false copies;
    if-none-match false + if-modified-since true is 412), but a copy has no 304.
    """
    verdict = _evaluate(
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
        etag=etag,
        last_modified=last_modified,
    )
    if verdict != "ok":
        raise PreconditionFailed()


def read_verdict(conditions: ReadConditions, info: FileInfo) -> ReadVerdict:
    """``check_read_conditions`` for a GET/HEAD plan's conditions and the object's info."""
    if not conditions.any:
        return "ok"
    return check_read_conditions(
        if_match=conditions.if_match,
        if_none_match=conditions.if_none_match,
        if_modified_since=conditions.if_modified_since,
        if_unmodified_since=conditions.if_unmodified_since,
        etag=info.etag,
        last_modified=info.modified,
    )


def check_source_conditions(conditions: ReadConditions, info: FileInfo) -> None:
    """``check_copy_source_conditions`` for a copy plan's conditions and the source's info."""
    if conditions.any:
        check_copy_source_conditions(
            if_match=conditions.if_match,
            if_none_match=conditions.if_none_match,
            if_modified_since=conditions.if_modified_since,
            if_unmodified_since=conditions.if_unmodified_since,
            etag=info.etag,
            last_modified=info.modified,
        )


@dataclass(frozen=True, slots=True)
class ReadDecision:
    """What a GET or HEAD answers for one version of a file, before any byte is read."""

    span: tuple[int, int | None] | None
    """(offset, length) of the bytes to read; None for none (HEAD, 304)."""
    byte_range: ByteRange | None = None
    not_modified: bool = False
    parts_count: int | None = None
    """``x-amz-mp-parts-count``: the parts of a composed object, when a part was asked for."""

    def outcome(self, info: FileInfo, stream: ByteStream | None) -> FileRead:
        if self.not_modified:
            return FileRead(info=info, body=None, not_modified=True)
        return FileRead(info=info, body=stream, range=self.byte_range, parts_count=self.parts_count)


def decide_read(read: ReadFile, info: FileInfo) -> ReadDecision:
    """Conditions, part number and range against ``info``; raises the S3 error they deserve."""
    if read_verdict(read.conditions, info) == "not-modified":
        return ReadDecision(span=None, not_modified=True)
    parts_count = None
    if read.part_number is not None:
        byte_range, parts_count = part_range(read.part_number, info)
    else:
        byte_range = parse_range(read.range_header, info.size)
    if read.head_only:
        return ReadDecision(span=None, byte_range=byte_range, parts_count=parts_count)
    span = (byte_range.start, byte_range.length) if byte_range else (0, info.size)
    return ReadDecision(span=span, byte_range=byte_range, parts_count=parts_count)


def part_range(number: int, info: FileInfo) -> tuple[ByteRange | None, int | None]:
    """GET/HEAD ``?partNumber=N``: the bytes of part N as a range (206), and the part count.

    A composed object answers each of its parts (their sizes are kept with it). An object
    stored whole has one part, the whole object, as AWS answers (moto#7850; ceph s3-tests
    test_non_multipart_get_part); any other number is 416 InvalidPartNumber. An empty object
    has no byte to put in a range: its part 1 is a plain 200.
    """
    sizes = decode_part_sizes(info.metadata.get(PART_SIZES_KEY, ""))
    if sizes is None:
        if number != 1:
            raise errors.InvalidPartNumber()
        offset, length, count = 0, info.size, None
    else:
        (offset, length), count = part_span(sizes, number), len(sizes)
    if length == 0:
        return None, count
    return ByteRange(start=offset, end=offset + length - 1, size=info.size), count
