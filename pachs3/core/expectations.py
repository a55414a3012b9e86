"""What a conditional write or delete expects to find at its path, and whether it does.

S3's conditional writes and deletes (AWS 2024-2025) name the object they mean to replace or
remove. The planner turns their headers (or a DeleteObjects ``<Object>``'s children) into one
small value, an ``Expectation``; the backend judges it against the file it finds *inside the
same transaction or lock as the change*, so that the check and the change are one step (two
racing conditional writers: exactly one wins).

- ``Absent``: ``If-None-Match: *`` on PutObject, CompleteMultipartUpload and CopyObject.
- ``Matching``: ``If-Match`` (an ETag list or ``*``) on the same three and on DeleteObject, plus
  DeleteObject's ``x-amz-if-match-last-modified-time`` / ``x-amz-if-match-size`` and
  DeleteObjects' per-object ``<ETag>``, ``<LastModifiedTime>``, ``<Size>``.

``judge`` is the decision, pure; each backend maps its verdict to its error kinds
(``backends.base.check_expectation``) and the executor maps those to S3's answers:

==========  =====================================================  ====================
verdict     when                                                   S3 answer
==========  =====================================================  ====================
holds       the change may go ahead
exists      ``Absent`` and a file is there                         412 PreconditionFailed
missing     ``Matching`` with an ETag and no file is there         404 NoSuchKey
differs     ``Matching`` and the file differs in a field given      412 PreconditionFailed
==========  =====================================================  ====================

A ``Matching`` without an ETag holds for a missing file: the DeleteObject API reference says of
``x-amz-if-match-size`` and ``x-amz-if-match-last-modified-time`` "if the object doesn't
exist, the operation returns a 204". With ``If-Match`` a missing object is 404 NoSuchKey, for
writes (PutObject API: "404 NoSuchKey when there is no object") and for deletes (S3 user guide,
conditional deletes: a delete that lost the race to another delete gets 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pachs3.core import errors
from pachs3.core.dates import parse_http_date, to_utc
from pachs3.core.etags import etag_matches
from pachs3.core.refs import FileInfo

__all__ = [
    "Absent",
    "Expectation",
    "Matching",
    "Verdict",
    "delete_expectation",
    "judge",
    "write_expectation",
]


@dataclass(frozen=True, slots=True)
class Absent:
    """No file may be at the path (``If-None-Match: *``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Matching:
    """The file at the path must agree with every field given.

    ``etag`` is an ``If-Match`` value: one or more entity tags (quoted or not, weak or not,
    comma-separated) or ``*`` for any file. ``modified`` is compared at whole seconds, because
    clients echo ``Last-Modified``, which has no fractions.
    """

    etag: str | None = None
    size: int | None = None
    modified: datetime | None = None


Expectation = Absent | Matching

Verdict = Literal["holds", "exists", "missing", "differs"]


def judge(expect: Expectation | None, current: FileInfo | None) -> Verdict:
    """Whether ``current`` (the file at the path now, or None) is what ``expect`` wants."""
    if expect is None:
        return "holds"
    if isinstance(expect, Absent):
        return "holds" if current is None else "exists"
    if current is None:
        return "missing" if expect.etag is not None else "holds"
    if expect.etag is not None and not etag_matches(expect.etag, current.etag):
        return "differs"
    if expect.size is not None and expect.size != current.size:
        return "differs"
    if expect.modified is not None and _seconds(expect.modified) != _seconds(current.modified):
        return "differs"
    return "holds"


def _seconds(moment: datetime) -> datetime:
    return to_utc(moment).replace(microsecond=0)


WRITE_IF_NONE_MATCH_ONLY_STAR = (
    "A header you provided implies functionality that is not implemented: "
    "If-None-Match on a write accepts only '*'."
)
WRITE_BOTH_CONDITIONS = (
    "A header you provided implies functionality that is not implemented: "
    "If-Match and If-None-Match cannot be combined on a write."
)


def write_expectation(if_match: str | None, if_none_match: str | None) -> Expectation | None:
    """The expectation of a PutObject, CompleteMultipartUpload or CopyObject (its target).

    AWS takes only ``*`` in ``If-None-Match`` on a write and answers any other value with 501
    NotImplemented, "A header you provided implies functionality that is not implemented"
    (aws-sdk-ruby#3144 shows the answer). Both headers at once are refused the same way, as
    versitygw (an S3 gateway checked against AWS) reports AWS does; AWS's API reference does not
    say.
    """
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise errors.NotImplementedByGateway(WRITE_IF_NONE_MATCH_ONLY_STAR)
        if if_match is not None:
            raise errors.NotImplementedByGateway(WRITE_BOTH_CONDITIONS)
        return Absent()
    if if_match is not None:
        return Matching(etag=if_match)
    return None


def delete_expectation(
    *, if_match: str | None, size: str | None, modified: str | None
) -> Matching | None:
    """The expectation of a DeleteObject, from its three condition headers (raw strings).

    An unreadable size or time is 400 InvalidArgument: ignoring it, as an unreadable
    ``If-Modified-Since`` is ignored on a read, would delete what the client meant to guard.
    """
    if if_match is None and size is None and modified is None:
        return None
    return Matching(
        etag=if_match,
        size=None if size is None else _size(size, "x-amz-if-match-size"),
        modified=None if modified is None else _time(modified, "x-amz-if-match-last-modified-time"),
    )


def _size(text: str, name: str) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 19:  # 19: a 64-bit size
        raise errors.InvalidArgument(f"{name} must be a number of bytes.")
    return int(value)


def _time(text: str, name: str) -> datetime:
    moment = parse_http_date(text)
    if moment is None:
        raise errors.InvalidArgument(f"{name} must be a date.")
    return moment
