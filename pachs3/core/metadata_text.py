"""Non-ASCII user metadata, as S3 keeps and returns it: RFC 2047 encoded words.

AWS (user guide, "Working with object metadata", user-defined metadata): values with non
US-ASCII characters are decoded as per RFC 2047 before storing and encoded as per RFC 2047, to be
mail-safe, before returning; a value of US-ASCII only is returned as is.

Values travel through pachs3 as the transports hand them over: one character per byte of the
wire (latin-1 decoded). So the stored value of a header is its bytes, and:

- on a write, a value made of encoded words (``=?UTF-8?B?w6k=?=``) is stored as the bytes of its
  text in UTF-8; any other value is stored as its bytes (``store_value``);
- on a read, a value with a byte outside US-ASCII goes out as one ``B`` encoded word whose
  payload is exactly the stored bytes: labelled ``UTF-8`` when they are UTF-8, else
  ``ISO-8859-1`` (a lone 0xE9 is ``é`` in Latin-1, and never becomes the two bytes C3 A9).
  ``mail_safe`` does this.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

_ENCODED_WORD: Final = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")


def _decode_word(charset: str, encoding: str, text: str) -> str | None:
    try:
        if encoding in "Bb":
            raw = base64.b64decode(text, validate=True)
        else:  # Q: quoted-printable with "_" for a space (RFC 2047 §4.2)
            raw = binascii.a2b_qp(text.replace("_", " "))
        return raw.decode(charset.split("*", 1)[0])  # RFC 2231 language tags after "*"
    except (binascii.Error, ValueError, LookupError):
        return None


def store_value(value: str) -> str:
    """The value to keep for a ``x-amz-meta-*`` header as received (one character per byte).

    A value that is encoded words only (separated by white space, which RFC 2047 §6.2 drops)
    is decoded and kept as the UTF-8 bytes of its text; anything else, or words that do not
    decode, is kept as sent.
    """
    if "=?" not in value:
        return value
    pieces: list[str] = []
    position = 0
    stripped = value.strip()
    while position < len(stripped):
        match = _ENCODED_WORD.match(stripped, position)
        if match is None:
            return value
        text = _decode_word(*match.groups())
        if text is None:
            return value
        pieces.append(text)
        position = match.end()
        while position < len(stripped) and stripped[position].isspace():
            position += 1
    return "".join(pieces).encode("utf-8").decode("latin-1")


def mail_safe(value: str) -> str:
    """The value to send back for a stored ``x-amz-meta-*`` value: as is when US-ASCII, else
    one RFC 2047 ``B`` encoded word carrying the stored bytes."""
    if value.isascii():
        return value
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:  # stored in-process as text beyond Latin-1: its UTF-8 bytes
        raw = value.encode("utf-8")
    try:
        raw.decode("utf-8")
        charset = "UTF-8"
    except UnicodeDecodeError:
        charset = "ISO-8859-1"
    return f"=?{charset}?B?{base64.b64encode(raw).decode('ascii')}?="
