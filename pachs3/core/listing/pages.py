"""Listing helpers (no I/O): the ``encoding-type=url`` spelling of keys, continuation tokens,
and the fold that turns a sorted walk of paths into one ListObjects page.

The fold, ``ListingBuilder``, is offered paths in S3 order (UTF-8 byte order, which is code
point order, which is Python's ``str`` order) and answers each with a ``Verdict``. When paths
fold into a common prefix, the verdict says how far the walk may jump (``skip_after``), so a
backend with a sorted index lists ``a/`` once without reading the million keys under it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote

from pachs3.core.errors import InvalidArgument

__all__ = [
    "ListingBuilder",
    "Verdict",
    "decode_token",
    "encode_key_url",
    "encode_token",
    "key_encoder",
    "prefix_fence",
]


def encode_key_url(key: str) -> str:
    """A key (or prefix, delimiter, marker) as S3 writes it under ``encoding-type=url``.

    Percent-encoding of the UTF-8 bytes, ``/`` kept: space is ``%20`` and ``+`` is ``%2B``
    (ceph's s3-tests ``test_bucket_list_encoding_basic`` expects ``quux%20ab/`` and
    ``foo%2B1/``; one third-party measurement reports ``+`` for a space instead). ``%20``
    is read right by every client either way: botocore decodes with ``unquote_plus``, the Java
    and Go SDKs with form decoders, and plain percent-decoders (which would keep a ``+``) too.
    """
    if _SPELLS_ITSELF(key) is not None:  # most keys: one regex instead of encode + rstrip
        return key
    return quote(key, safe="/")


# Exactly the characters ``quote(..., safe="/")`` leaves as they are: urllib's always-safe set
# (ASCII letters and digits, ``_.-~``) and the ``safe`` slash. Anything else (space, ``+``,
# ``%``, any non-ASCII character, a lone surrogate, which quote refuses) takes the full path.
_SPELLS_ITSELF: Final = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch


_TOKEN_ERROR: Final = "The continuation token provided is incorrect"


def key_encoder(encode_url: bool) -> Callable[[str], str]:
    """How a listing spells keys, prefixes and markers: ``encode_key_url`` under
    ``encoding-type=url``, else as they are."""
    return encode_key_url if encode_url else _as_is


def _as_is(value: str) -> str:
    return value


def encode_token(key: str) -> str:
    """An opaque ListObjectsV2 continuation token naming where the next page starts after.

    URL-safe base64 of the UTF-8 key, unpadded: no character of it needs percent-encoding,
    so it survives clients that forget to encode it.
    """
    return _b64(key.encode("utf-8"))


def decode_token(token: str) -> str:
    """The key inside a token from ``encode_token``.

    Anything else is ``InvalidArgument`` "The continuation token provided is incorrect", as
    AWS answers a token it did not issue. Padding is optional (boto3 echoes what it got).
    """
    text = token.strip().rstrip("=")
    if not text or len(text) % 4 == 1:
        raise InvalidArgument(_TOKEN_ERROR)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        # b64decode ignores characters outside the alphabet; a token must round-trip exactly.
        if _b64(raw) != text:
            raise ValueError(token)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidArgument(_TOKEN_ERROR) from None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_MAX_CHAR: Final = "\U0010ffff"


def prefix_fence(prefix: str) -> str:
    """A string every key starting with ``prefix`` sorts at or below, unless it continues with
    U+10FFFF: ``prefix + U+10FFFF``.

    A walk restarted strictly after it skips everything under ``prefix`` and nothing else; the
    rare key under ``prefix + U+10FFFF`` that it does not skip is re-offered and skipped by the
    builder. (The exact bound, the smallest string above every key with the prefix, is not
    usable as an exclusive start: it may itself be a key, ``a0`` after ``a/``.)
    """
    return prefix + _MAX_CHAR


VerdictKind = Literal["content", "prefix", "skip", "stop"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What to do with one offered path.

    - ``content``: list the path as a key (``<Contents>``).
    - ``prefix``: ``common_prefix`` was added to ``<CommonPrefixes>``; restart the walk
      strictly after ``skip_after`` to jump over the keys it folds.
    - ``skip``: not part of this page; continue the walk, or, when ``skip_after`` is set,
      restart it strictly after ``skip_after`` (a whole prefix is being skipped).
    - ``stop``: the page is complete (``truncated`` says whether more keys follow).
    """

    kind: VerdictKind
    common_prefix: str | None = None
    skip_after: str | None = None


_CONTENT: Final = Verdict(kind="content")
_SKIP: Final = Verdict(kind="skip")
_STOP: Final = Verdict(kind="stop")


class ListingBuilder:
    """The fold of one ListObjects (V1 or V2) page over a sorted walk.

    ``delimiter=""`` means no delimiter: s3fs, minio-py and rclone send an empty ``delimiter=``
    for recursive listings (clients.md §3 item 12). Multi-character delimiters work as in S3.
    ``start_after`` is where the walk begins (StartAfter, Marker or the decoded continuation
    token): a common prefix at or before it was listed on an earlier page and is skipped, so
    that a page ending on ``a/`` is not followed by a page starting with ``a/`` again.
    ``max_keys=0`` lists nothing and is not truncated (S3 and moto).

    After the walk: ``prefixes`` (in order), ``key_count`` (keys plus prefixes: V2's
    KeyCount), ``truncated``, and ``last`` (the last key or prefix listed: V1's NextMarker,
    the key inside V2's NextContinuationToken).
    """

    __slots__ = (
        "_count",
        "_fence",
        "delimiter",
        "done",
        "last",
        "max_keys",
        "prefix",
        "prefixes",
        "start_after",
        "truncated",
    )

    def __init__(
        self, *, prefix: str = "", delimiter: str = "", max_keys: int = 1000, start_after: str = ""
    ) -> None:
        if max_keys < 0:
            raise ValueError("max_keys must not be negative")
        self.prefix = prefix
        self.delimiter = delimiter
        self.max_keys = max_keys
        self.start_after = start_after
        self.prefixes: list[str] = []
        self.truncated = False
        self.done = False
        self.last: str | None = None
        self._count = 0
        self._fence: str | None = None  # the prefix listed or skipped last: paths under it fold

    @property
    def key_count(self) -> int:
        return self._count

    def offer(self, path: str) -> Verdict:
        """The verdict for the next path of the walk (paths must come in ascending order)."""
        if self.done:
            return _STOP
        prefix = self.prefix
        if not path.startswith(prefix):
            if path < prefix:
                return _SKIP
            self.done = True  # past every key with the prefix: the listing is complete
            return _STOP
        if path <= self.start_after:
            return _SKIP
        if self._fence is not None and path.startswith(self._fence):
            return _SKIP
        common: str | None = None
        if self.delimiter:
            at = path.find(self.delimiter, len(prefix))
            if at >= 0:
                common = path[: at + len(self.delimiter)]
                if common <= self.start_after:
                    # The page starts inside this prefix: an earlier page listed it.
                    self._fence = common
                    return Verdict(kind="skip", skip_after=prefix_fence(common))
        if self._count >= self.max_keys:
            # Another entry exists beyond a full page. With max-keys=0 S3 reports a page that
            # is complete, not truncated.
            self.truncated = self.max_keys > 0
            self.done = True
            return _STOP
        self._count += 1
        if common is None:
            self.last = path
            return _CONTENT
        self.prefixes.append(common)
        self.last = common
        self._fence = common
        return Verdict(kind="prefix", common_prefix=common, skip_after=prefix_fence(common))

    def finish(self) -> None:
        """The walk ran out of paths: the page is complete and not truncated."""
        self.done = True
