"""The canonical forms of AWS Signature Version 4 (AWS General Reference, "Create a canonical
request for Signature Version 4"): signing keys, strings to sign, canonical requests, URIs,
query strings and headers. Pure; shared by request verification (``verify.py``) and the
chunk signature chain (``chunks.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import quote, unquote_to_bytes

from pachs3.core.http import RequestHead

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "TERMINATOR",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uris",
    "hmac_hex",
    "signing_key",
    "string_to_sign",
    "uri_encode",
    "utf8",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
TERMINATOR: Final = "aws4_request"
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """HMAC chain ``AWS4<secret>`` -> date -> region -> service -> ``aws4_request``."""
    key = utf8("AWS4" + secret)
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, utf8(part), hashlib.sha256).digest()
    return key


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(utf8(canonical)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: str,
    *,
    signed_headers: Sequence[str],
    payload: str,
) -> str:
    return "\n".join((method, uri, query, headers, ";".join(signed_headers), payload))


def utf8(text: str) -> bytes:
    """UTF-8 that never fails. Query values were decoded with surrogateescape (parse_query), so
    encoding them back the same way restores the exact bytes the client sent, valid UTF-8 or
    not; any other lone surrogate (only a direct caller of ``handle`` can make one) is kept
    as its code point, which no client could have signed, so it simply does not match."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def uri_encode(text: str) -> str:
    return quote(utf8(text), safe="-_.~")


def canonical_query(pairs: Iterable[tuple[str, str]], *, presigned: bool = False) -> str:
    """Sorted ``name=value`` pairs, AWS-encoded; ``?uploads`` is ``uploads=``. A presigned
    URL's own ``X-Amz-Signature`` is not part of what it signs."""
    encoded = sorted(
        (uri_encode(name), uri_encode(value))
        for name, value in pairs
        if not (presigned and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_uris(raw_path: str) -> list[str]:
    """The raw path, then AWS's own encoding of the decoded path when that differs."""
    path = raw_path
    if path.startswith(("http://", "https://")):  # absolute-form request target
        rest = path.split("://", 1)[1]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else "/"
    path = path.split("?", 1)[0] or "/"
    recoded = "/".join(quote(unquote_to_bytes(segment), safe="-_.~") for segment in path.split("/"))
    return [path] if recoded == path else [path, recoded]


def canonical_headers(head: RequestHead, signed_headers: Sequence[str]) -> str:
    lines = []
    for name in signed_headers:
        values = [value for key, value in head.headers if key == name]
        if not values and name == "host" and head.host:
            values = [head.host]
        # Trim and collapse runs of blanks, as every SDK signer does (botocore, aws-sdk-*).
        joined = ",".join(" ".join(value.split()) for value in values)
        lines.append(f"{name}:{joined}\n")
    return "".join(lines)


def hmac_hex(key: bytes, message: str) -> str:
    return hmac.new(key, utf8(message), hashlib.sha256).hexdigest()
