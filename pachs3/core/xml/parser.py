"""The guarded XML parser every request document goes through; the only xmltodict user.

Each document is capped in bytes before parsing, and any DTD is refused before expat sees an
entity declaration (no billion laughs, no external entities: a request document never needs a
DOCTYPE). Nesting and the number of elements are bounded too. Namespaces are optional (obstore
and s3cmd send none; clients.md §1b) and entities are decoded by expat (minio-py sends keys as
``&#252;``, rclone sends ETags as ``&#34;...&#34;``).
"""

from __future__ import annotations

from typing import Any, Final
from xml.parsers import expat

import xmltodict

from pachs3.core.errors import MalformedXML, MaxMessageLengthExceeded
from pachs3.core.xml.render import S3_XMLNS

__all__ = [
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "child_elements",
    "leaf_text",
    "parse_root",
    "single_text",
]

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


def parse_root(data: bytes, root: str, limit: int) -> Any:
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


def child_elements(node: Any) -> dict[str, Any]:
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


def leaf_text(node: Any) -> str:
    """The text of a leaf element, exactly (an empty element is ``""``)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and all(k.startswith("@") or k == "#text" for k in node):
        text = node.get("#text")  # an element with attributes: its text, attributes dropped
        return text if isinstance(text, str) else ""
    raise MalformedXML()


def single_text(node: Any) -> str:
    """The text of an element that must occur once."""
    if isinstance(node, list):
        raise MalformedXML()
    return leaf_text(node)
