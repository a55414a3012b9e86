"""Entity tag lists as ``If-Match`` / ``If-None-Match`` carry them, matched the way S3 does.

Lists are comma-separated, ``*`` matches any existing object, and comparison is weak
(``W/"x"`` equals ``"x"``). Quotes are optional: s3transfer echoes the quoted ETag from HEAD,
but Hadoop S3A (and so pyspark) and hand-written clients send it bare.
"""

from __future__ import annotations

__all__ = ["etag_matches"]


def _opaque(tag: str) -> str:
    """An entity tag without weakness prefix and quotes: ``W/"abc"`` -> ``abc``."""
    tag = tag.strip()
    if tag[:2] in ("W/", "w/"):
        tag = tag[2:].lstrip()
    if len(tag) >= 2 and tag[0] == '"' and tag[-1] == '"':
        tag = tag[1:-1]
    return tag


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list names ``etag`` (or is ``*``).

    ``etag`` may be quoted or not. S3 ETags never contain commas, so splitting the list on
    commas is exact for every tag that could match.
    """
    mine = _opaque(etag)
    for item in header.split(","):
        candidate = item.strip()
        if candidate == "*" or (candidate and _opaque(candidate) == mine):
            return True
    return False
