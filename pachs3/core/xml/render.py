"""S3 response documents, written by hand.

``render_document`` turns an ordered mapping into an S3 response document. It is hand written
over ``str.replace`` rather than ``xmltodict.unparse`` because it runs for every listing page
of up to 1000 keys: measured on such a page (five fields per key), 2 ms against 17 ms. A
listing's ``<Contents>`` go one step further: core/listing/document.py writes each with one
f-string (escaping through ``escape_text``) and hands them in as ``Prerendered``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from pachs3.core.dates import format_iso8601

__all__ = [
    "S3_XMLNS",
    "IllegalCharacters",
    "Prerendered",
    "escape_text",
    "render_document",
    "render_error",
]

S3_XMLNS: Final = "http://s3.amazonaws.com/doc/2006-03-01/"

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
