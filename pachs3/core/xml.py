"""The XML the core reads and writes; the only module that touches xmltodict.

Reading: the two small request documents the gateway acts on (DeleteObjects,
CompleteMultipartUpload; a CreateBucket body is never read, its answer is known from the
layout). Each is capped in bytes before parsing, and
any DTD is refused before expat sees an entity declaration (no billion laughs, no external
entities: a request document never needs a DOCTYPE). Namespaces are optional (obstore and s3cmd
send none; clients.md §1b) and entities are decoded by expat (minio-py sends keys as ``&#252;``,
rclone sends ETags as ``&#34;...&#34;``).

Writing: ``render_document`` turns an ordered mapping into an S3 response document. It is hand
written over ``str.replace`` rather than ``xmltodict.unparse`` because it runs for every listing
page of up to 1000 keys: measured on such a page (five fields per key), 2 ms against 17 ms.
A listing's ``<Contents>`` go one step further: core/documents.py writes each with one f-string
(escaping through ``escape_text``) and hands them in as ``Prerendered``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal
from xml.parsers import expat

import xmltodict

from pachs3.core.dates import format_iso8601, parse_http_date
from pachs3.core.errors import (
    InvalidArgument,
    InvalidPartOrder,
    MalformedXML,
    MaxMessageLengthExceeded,
)
from pachs3.core.expectations import Matching

__all__ = [
    "MAX_COMPLETE_MULTIPART_BYTES",
    "MAX_DELETE_KEYS",
    "MAX_DELETE_OBJECTS_BYTES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "S3_XMLNS",
    "DeleteRequest",
    "Prerendered",
    "escape_text",
    "parse_complete_multipart",
    "parse_delete_objects",
    "render_document",
    "render_error",
]

S3_XMLNS: Final = "http://s3.amazonaws.com/doc/2006-03-01/"

MAX_DELETE_KEYS: Final = 1000
"""AWS refuses a DeleteObjects request naming more keys with ``MalformedXML``."""

MAX_PART_NUMBER: Final = 10000

# Caps, checked before parsing. A DeleteObjects of 1000 keys of 1024 bytes each, written with
# numeric entities as minio-py does (``&#8364;`` is 7 characters for 3 bytes), is about 2.5 MB;
# a pretty-printed CompleteMultipartUpload of 10000 parts with checksums about 3 MB.
MAX_DELETE_OBJECTS_BYTES: Final = 4 * 1024 * 1024
MAX_COMPLETE_MULTIPART_BYTES: Final = 4 * 1024 * 1024


# --- parsing -------------------------------------------------------------------------------------


MAX_DEPTH: Final = 16
"""Deepest element nesting accepted; S3's request documents nest 3 deep. Without a bound a
4 MiB document of nested ``<a>`` costs seconds of parsing for nothing."""


MAX_ELEMENTS: Final = 120_000
"""Most elements accepted in one document: a CompleteMultipartUpload of 10000 parts with every
checksum child has 80001. A flood of tiny elements otherwise costs about 2.5 us each."""


class _Refused(Exception):
    """A DOCTYPE, nesting past ``MAX_DEPTH`` or more than ``MAX_ELEMENTS`` elements: refused
    before xmltodict builds anything more."""


def _refuse_doctype(*_args: object) -> None:
    raise _Refused("DOCTYPE")


class _GuardedParser:
    """An expat parser whose element handlers, as xmltodict installs them, count depth."""

    def __init__(self, parser: Any) -> None:
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_depth", 0)
        object.__setattr__(self, "_elements", 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "StartElementHandler":
            start = value

            def counted_start(*args: Any) -> Any:
                depth = self._depth + 1
                elements = self._elements + 1
                if depth > MAX_DEPTH or elements > MAX_ELEMENTS:
                    raise _Refused("nesting" if depth > MAX_DEPTH else "elements")
                object.__setattr__(self, "_depth", depth)
                object.__setattr__(self, "_elements", elements)
                return start(*args)

            value = counted_start
        elif name == "EndElementHandler":
            end = value

            def counted_end(*args: Any) -> Any:
                object.__setattr__(self, "_depth", self._depth - 1)
                return end(*args)

            value = counted_end
        setattr(self._parser, name, value)


class _GuardedExpat:
    """Stands in for the ``xml.parsers.expat`` module that xmltodict calls ``ParserCreate`` on.

    The parser it makes raises at the first ``<!DOCTYPE``, before any entity declaration in
    it is read, never loads external parameter entities, and stops past ``MAX_DEPTH`` or
    ``MAX_ELEMENTS``.
    """

    @staticmethod
    def ParserCreate(  # the name xmltodict calls
        encoding: str | None = None, namespace_separator: str | None = None
    ) -> Any:
        parser = expat.ParserCreate(encoding, namespace_separator)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        return _GuardedParser(parser)


def _parse(data: bytes, root: str, limit: int) -> Any:
    """The children of ``root`` as xmltodict gives them (``None`` for an empty root)."""
    if len(data) > limit:
        raise MaxMessageLengthExceeded()
    try:
        document = xmltodict.parse(
            data,
            expat=_GuardedExpat,
            process_namespaces=True,
            namespaces={S3_XMLNS: None},  # S3's own namespace, or none, reads as bare names
            strip_whitespace=False,  # keys keep their spaces; layout whitespace is skipped below
            force_list=("Object", "Part"),
        )
    # LookupError: an XML declaration naming an encoding Python has no codec for.
    except (expat.ExpatError, _Refused, ValueError, LookupError) as exc:
        raise MalformedXML() from exc
    if not isinstance(document, dict) or list(document) != [root]:
        raise MalformedXML()
    return document[root]


def _children(node: Any) -> dict[str, Any]:
    """The child elements of an element (attributes and layout whitespace dropped)."""
    if node is None:
        return {}
    if isinstance(node, str):
        if node.strip():  # text where elements belong
            raise MalformedXML()
        return {}
    if not isinstance(node, dict):
        raise MalformedXML()
    children: dict[str, Any] = {}
    for name, value in node.items():
        if name.startswith("@"):
            continue
        if name == "#text":
            if value.strip():
                raise MalformedXML()
            continue
        children[name] = value
    return children


def _text(node: Any) -> str:
    """The text of a leaf element, exactly (an empty element is ``""``)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and all(k.startswith("@") or k == "#text" for k in node):
        text = node.get("#text")  # an element with attributes: its text, attributes dropped
        return text if isinstance(text, str) else ""
    raise MalformedXML()


def _single_text(node: Any) -> str:
    """The text of an element that must occur once."""
    if isinstance(node, list):
        raise MalformedXML()
    return _text(node)


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
    children = _children(_parse(data, "Delete", limit))
    quiet_text = _single_text(children["Quiet"]).strip().lower() if "Quiet" in children else ""
    if quiet_text not in ("", "true", "false"):
        raise MalformedXML()
    entries = children.get("Object") or []
    if not entries or len(entries) > MAX_DELETE_KEYS:
        raise MalformedXML()
    objects: list[tuple[str, str | None]] = []
    conditions: dict[int, Matching] = {}
    for position, entry in enumerate(entries):
        fields = _children(entry)
        if "Key" not in fields:
            raise MalformedXML()
        version = _single_text(fields["VersionId"]).strip() if "VersionId" in fields else ""
        objects.append((_single_text(fields["Key"]), version or None))
        expect = _delete_condition(fields)
        if expect is not None:
            conditions[position] = expect
    return DeleteRequest(objects=tuple(objects), quiet=quiet_text == "true", conditions=conditions)


def _delete_condition(fields: dict[str, Any]) -> Matching | None:
    """The conditions one ``<Object>`` of a DeleteObjects carries, if any."""
    etag = _single_text(fields["ETag"]).strip() if "ETag" in fields else None
    size_text = _single_text(fields["Size"]).strip() if "Size" in fields else None
    time_text = _single_text(fields["LastModifiedTime"]) if "LastModifiedTime" in fields else None
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


def parse_complete_multipart(
    data: bytes, *, limit: int = MAX_COMPLETE_MULTIPART_BYTES
) -> tuple[tuple[int, str], ...]:
    """Parse ``<CompleteMultipartUpload>`` into ``(part_number, etag)`` pairs, ETags unquoted.

    ETags arrive quoted (boto3, pyarrow, minio-py), bare (s3cmd) or as ``&#34;`` entities
    (rclone); ``<ChecksumCRC32>`` and other per-part children (boto3 when UploadPart echoed a
    checksum) are tolerated and ignored. No parts, or a part without a number or ETag, is
    ``MalformedXML``; a number outside 1..10000 is ``InvalidArgument``; numbers not strictly
    ascending are ``InvalidPartOrder`` (AWS, CompleteMultipartUpload API).
    """
    children = _children(_parse(data, "CompleteMultipartUpload", limit))
    entries = children.get("Part") or []
    if not entries:
        raise MalformedXML()
    parts: list[tuple[int, str]] = []
    for entry in entries:
        fields = _children(entry)
        if "PartNumber" not in fields or "ETag" not in fields:
            raise MalformedXML()
        number_text = _single_text(fields["PartNumber"]).strip()
        if not number_text.isascii() or not number_text.isdigit() or len(number_text) > 9:
            raise MalformedXML()
        number = int(number_text)
        if not 1 <= number <= MAX_PART_NUMBER:
            raise InvalidArgument(
                f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )
        if parts and number <= parts[-1][0]:
            raise InvalidPartOrder()
        parts.append((number, _unquote_etag(_single_text(fields["ETag"]))))
    return tuple(parts)


# --- rendering -----------------------------------------------------------------------------------

_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8"?>\n'

# Characters XML 1.0 cannot carry literally: C0 controls other than TAB/LF, CR (a parser turns
# a literal CR into LF, so it must travel as a reference), lone surrogates (a Python str can
# hold them; UTF-8 cannot), U+FFFE and U+FFFF.
_NEEDS_CARE: Final = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")
_LEGAL_AS_REFERENCE: Final = frozenset("\r")

IllegalCharacters = Literal["replace", "reference"]


def _care(text: str, illegal: IllegalCharacters) -> str:
    def fix(match: re.Match[str]) -> str:
        char = match.group()
        if char in _LEGAL_AS_REFERENCE or illegal == "reference":
            return f"&#x{ord(char):X};"
        return "\ufffd"

    return _NEEDS_CARE.sub(fix, text)


# One search decides whether a string needs any work at all; most keys do not.
_SPECIAL: Final = re.compile("[&<>\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def escape_text(text: str, illegal: IllegalCharacters = "replace") -> str:
    """``text`` as the content of an element, exactly as ``render_document`` writes a ``str``
    value (``&``, ``<``, ``>`` as entities, illegal characters as ``illegal`` says; quotes are
    left alone). Returns ``text`` itself when nothing needs escaping."""
    if _SPECIAL.search(text) is None:
        return text
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if _NEEDS_CARE.search(text):
        text = _care(text, illegal)
    return text


@dataclass(frozen=True, slots=True)
class Prerendered:
    """Elements already written as XML, which ``render_document`` inserts verbatim where the
    value stands (the name it stands under is not written). For the one hot repeated element,
    a listing's ``<Contents>``: whoever builds it escapes its text with ``escape_text`` and the
    document's ``illegal`` setting."""

    xml: str


def _scalar(value: object, illegal: IllegalCharacters) -> str:
    if isinstance(value, str):
        return escape_text(value, illegal)
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return format_iso8601(value)
    raise TypeError(f"cannot render {type(value).__name__} as XML text")


def _element(out: list[str], name: str, value: object, illegal: IllegalCharacters) -> None:
    if value is None:
        return
    if isinstance(value, str):  # the common case first
        out.append(f"<{name}>{escape_text(value, illegal)}</{name}>")
    elif isinstance(value, Mapping):
        # "@name" keys are attributes (an ACL's Grantee needs xsi:type: s3cmd reads it).
        attributes = "".join(
            f' {key[1:]}="{escape_text(str(v), illegal)}"'
            for key, v in value.items()
            if key[0] == "@"
        )
        children = [(key, v) for key, v in value.items() if key[0] != "@"]
        if not children:
            out.append(f"<{name}{attributes}/>")
            return
        out.append(f"<{name}{attributes}>")
        for child, child_value in children:
            _element(out, child, child_value, illegal)
        out.append(f"</{name}>")
    elif isinstance(value, list | tuple):
        for item in value:
            _element(out, name, item, illegal)
    elif isinstance(value, Prerendered):
        out.append(value.xml)
    else:
        out.append(f"<{name}>{_scalar(value, illegal)}</{name}>")


def render_document(
    root: str,
    body: Mapping[str, object],
    *,
    xmlns: bool = True,
    illegal: IllegalCharacters = "replace",
) -> bytes:
    """An S3 response document: declaration, ``root`` (in S3's namespace), ``body`` in order.

    Values: ``str`` (escaped), ``int``, ``bool`` (``true``/``false``), ``datetime`` (ISO 8601
    with milliseconds), a mapping (nested element; empty renders ``<Name/>``; ``"@attr"`` keys
    become attributes of the element), a list or tuple
    (the element repeated), ``None`` (omitted), ``Prerendered`` (its XML, as it is).

    Characters XML 1.0 forbids (control characters in a key) are, by default, replaced with
    U+FFFD so the document always parses. ``illegal="reference"`` writes them as ``&#x1;`` the
    way AWS does; strict parsers (expat, Go's encoding/xml, Xerces) reject such a document, so
    AWS's own advice is ``encoding-type=url``, which botocore always sends and which never lets
    a control character reach this function in a listing.
    """
    out = [_DECLARATION, f'<{root} xmlns="{S3_XMLNS}"' if xmlns else f"<{root}"]
    if not body:
        out.append("/>")
    else:
        out.append(">")
        for name, value in body.items():
            _element(out, name, value, illegal)
        out.append(f"</{root}>")
    return "".join(out).encode("utf-8")


def render_error(code: str, message: str, resource: str, request_id: str) -> bytes:
    """The S3 error document (no namespace, as AWS sends it)."""
    return render_document(
        "Error",
        {"Code": code, "Message": message, "Resource": resource, "RequestId": request_id},
        xmlns=False,
    )
