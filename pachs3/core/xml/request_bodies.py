"""The two request documents the gateway acts on: DeleteObjects and CompleteMultipartUpload.

A CreateBucket body is never read: its answer is known from the layout. Both documents go
through the guarded parser of ``parser.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pachs3.core.dates import parse_http_date
from pachs3.core.digests import CHECKSUM_ELEMENTS
from pachs3.core.errors import InvalidArgument, InvalidPartOrder, MalformedXML
from pachs3.core.expectations import Matching
from pachs3.core.xml.parser import child_elements, parse_root, single_text

__all__ = [
    "MAX_COMPLETE_MULTIPART_BYTES",
    "MAX_DELETE_KEYS",
    "MAX_DELETE_OBJECTS_BYTES",
    "CompletionRequest",
    "DeleteRequest",
    "parse_completion",
    "parse_delete_objects",
]

MAX_DELETE_KEYS: Final = 1000
"""AWS refuses a DeleteObjects request naming more keys with ``MalformedXML``."""

MAX_PART_NUMBER: Final = 10000

# Caps, checked before parsing. A DeleteObjects of 1000 keys of 1024 bytes each, written with
# numeric entities as minio-py does (``&#8364;`` is 7 characters for 3 bytes), is about 2.5 MB;
# a pretty-printed CompleteMultipartUpload of 10000 parts with checksums about 3 MB.
MAX_DELETE_OBJECTS_BYTES: Final = 4 * 1024 * 1024
MAX_COMPLETE_MULTIPART_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRequest:
    """A parsed DeleteObjects document."""

    objects: tuple[tuple[str, str | None], ...]
    """``(key, version_id)`` pairs in request order."""
    quiet: bool
    conditions: Mapping[int, Matching] = field(default_factory=dict)
    """What the objects that carry ``<ETag>``, ``<LastModifiedTime>`` or ``<Size>`` expect, by
    their position in ``objects`` (conditional deletes)."""


def parse_delete_objects(data: bytes, *, limit: int = MAX_DELETE_OBJECTS_BYTES) -> DeleteRequest:
    """Parse ``<Delete>``: 1 to 1000 ``<Object><Key/><VersionId/></Object>``, optional ``<Quiet>``.

    Keys are returned exactly as sent (spaces kept, entities decoded). No objects, more than
    1000, an ``<Object>`` without ``<Key>`` or an unreadable ``<Quiet>`` is ``MalformedXML``,
    as AWS answers. An ``<Object>`` may carry the conditions of a conditional delete (AWS,
    DeleteObjects ``ObjectIdentifier``): ``<ETag>`` (quoted or not), ``<LastModifiedTime>`` (an
    ISO 8601 timestamp) and ``<Size>`` (bytes); one that is not a time or a number does not
    validate against the schema, so it is ``MalformedXML`` too.
    """
    children = child_elements(parse_root(data, "Delete", limit))
    quiet_text = single_text(children["Quiet"]).strip().lower() if "Quiet" in children else ""
    if quiet_text not in ("", "true", "false"):
        raise MalformedXML()
    entries = children.get("Object") or []
    if not entries or len(entries) > MAX_DELETE_KEYS:
        raise MalformedXML()
    objects: list[tuple[str, str | None]] = []
    conditions: dict[int, Matching] = {}
    for position, entry in enumerate(entries):
        fields = child_elements(entry)
        if "Key" not in fields:
            raise MalformedXML()
        version = single_text(fields["VersionId"]).strip() if "VersionId" in fields else ""
        objects.append((single_text(fields["Key"]), version or None))
        expect = _delete_condition(fields)
        if expect is not None:
            conditions[position] = expect
    return DeleteRequest(objects=tuple(objects), quiet=quiet_text == "true", conditions=conditions)


def _delete_condition(fields: dict[str, Any]) -> Matching | None:
    """The conditions one ``<Object>`` of a DeleteObjects carries, if any."""
    etag = single_text(fields["ETag"]).strip() if "ETag" in fields else None
    size_text = single_text(fields["Size"]).strip() if "Size" in fields else None
    time_text = single_text(fields["LastModifiedTime"]) if "LastModifiedTime" in fields else None
    if etag is None and size_text is None and time_text is None:
        return None
    if size_text is not None and not _is_size(size_text):
        raise MalformedXML()
    modified = None if time_text is None else parse_http_date(time_text)
    if time_text is not None and modified is None:
        raise MalformedXML()
    return Matching(
        etag=etag, size=None if size_text is None else int(size_text), modified=modified
    )


def _is_size(text: str) -> bool:
    """A number of bytes: ASCII digits, at most 19 of them (a 64-bit size)."""
    return text.isascii() and text.isdigit() and len(text) <= 19


def _unquote_etag(text: str) -> str:
    etag = text.strip()
    if len(etag) >= 2 and etag[0] == '"' and etag[-1] == '"':
        etag = etag[1:-1].strip()
    return etag


# The per-part checksum elements of a CompleteMultipartUpload (``<ChecksumCRC32>``, ...), by
# the algorithm name the rest of the core uses.
_PART_CHECKSUM_ELEMENTS: Final = {element: name for name, element in CHECKSUM_ELEMENTS.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionRequest:
    """A parsed CompleteMultipartUpload document."""

    parts: tuple[tuple[int, str], ...]
    """``(part_number, etag)`` in document order, ETags unquoted."""
    part_checksums: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    """The ``<ChecksumX>`` values a part carries, by part number, then algorithm (``crc32``)."""


def parse_completion(
    data: bytes, *, limit: int = MAX_COMPLETE_MULTIPART_BYTES
) -> CompletionRequest:
    """Parse ``<CompleteMultipartUpload>``: its parts, ETags unquoted, and their checksums.

    ETags arrive quoted (boto3, pyarrow, minio-py), bare (s3cmd) or as ``&#34;`` entities
    (rclone); ``<ChecksumCRC32>`` and the other per-part checksums (boto3 and the AWS SDKs send
    the ones UploadPart answered) are kept for the completion to check against the stored
    parts; other children are ignored. No parts, or a part without a number or ETag, is
    ``MalformedXML``; a number outside 1..10000 is ``InvalidArgument``; numbers not strictly
    ascending are ``InvalidPartOrder`` (AWS, CompleteMultipartUpload API).
    """
    children = child_elements(parse_root(data, "CompleteMultipartUpload", limit))
    entries = children.get("Part") or []
    if not entries:
        raise MalformedXML()
    parts: list[tuple[int, str]] = []
    checksums: dict[int, dict[str, str]] = {}
    for entry in entries:
        fields = child_elements(entry)
        if "PartNumber" not in fields or "ETag" not in fields:
            raise MalformedXML()
        number_text = single_text(fields["PartNumber"]).strip()
        if not number_text.isascii() or not number_text.isdigit() or len(number_text) > 9:
            raise MalformedXML()
        number = int(number_text)
        if not 1 <= number <= MAX_PART_NUMBER:
            raise InvalidArgument(
                f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )
        if parts and number <= parts[-1][0]:
            raise InvalidPartOrder()
        parts.append((number, _unquote_etag(single_text(fields["ETag"]))))
        sent = {
            name: single_text(fields[element]).strip()
            for element, name in _PART_CHECKSUM_ELEMENTS.items()
            if element in fields
        }
        if sent:
            checksums[number] = sent
    return CompletionRequest(parts=tuple(parts), part_checksums=checksums)
