"""What every transport shares: the ``Handler`` protocol and the RequestHead helpers.

A transport turns whatever it received (an ASGI scope, a botocore prepared request) into a
``RequestHead`` and a lazy body iterator, calls ``Handler.handle`` and writes the ``S3Response``
back, closing its body in a ``finally``. Transports depend only on this protocol, never on the
gateway class, so they can be tested against small handlers of their own.

The helpers here are pure (no I/O); they are shared so the ASGI app and the in-process boto3
endpoint build exactly the same ``RequestHead`` for the same request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote

from pachs3.core.http import RequestHead, S3Response

__all__ = [
    "Handler",
    "Prepared",
    "PreparingHandler",
    "encode_header_value",
    "join_headers",
    "normalize_raw_path",
    "parse_query",
]


@runtime_checkable
class Handler(Protocol):
    """The one funnel a transport calls: synchronous, blocking, thread-safe.

    ``body`` is consumed lazily by iterating it (possibly not at all, e.g. for an error). The
    returned response's ``body`` must be iterated and then closed by the transport.
    """

    def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response: ...


class Prepared(Protocol):
    """A request decided from its head (``PreparingHandler.prepare``)."""

    @property
    def refusal(self) -> S3Response | None:
        """The answer, when the head alone decided it: send it and never read the body."""
        ...

    def run(self, body: Iterator[bytes]) -> S3Response:
        """Finish the request with its body (blocking; a worker thread's job)."""
        ...


@runtime_checkable
class PreparingHandler(Handler, Protocol):
    """A handler that can split ``handle`` in two: ``prepare(head)`` does no I/O and is cheap
    enough for an event loop, then ``run(body)`` blocks. ``handle(head, body)`` must equal
    ``prepare(head).run(body)``. The ASGI app uses it to refuse without a thread hop and to
    read small bodies before the hop."""

    def prepare(self, head: RequestHead) -> Prepared: ...


# Bytes that may stand unescaped in a path we hand on: printable ASCII except space. ``%`` is
# kept as is so existing escapes survive; anything else (raw UTF-8 from a sloppy client, control
# characters) is percent-encoded, so ``RequestHead.path`` is always ASCII and decodes once, in
# the core, to the bytes the client sent.
_PATH_SAFE = bytes(range(0x21, 0x7F)).decode("ascii")
_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f]")  # what _PATH_SAFE leaves out of ASCII


def normalize_raw_path(raw: bytes | str) -> str:
    """The request path as received, still percent-encoded, guaranteed ASCII.

    A query string left on the path (httpx's ``ASGITransport`` before 0.28 put it in
    ``raw_path``) is cut off: ``?`` cannot stand unescaped in a path. An empty path is ``/``.
    """
    data = raw.encode("latin-1") if isinstance(raw, str) else raw
    data = data.split(b"?", 1)[0]
    if not data:
        return "/"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return quote(data, safe=_PATH_SAFE)
    if _UNSAFE_IN_PATH.search(text) is not None:
        return quote(data, safe=_PATH_SAFE)
    return text


def parse_query(raw: bytes | str) -> tuple[tuple[str, str], ...]:
    """Query pairs in order, blank values kept (``?uploads``, ``delimiter=``), percent-decoded.

    ``+`` decodes to a space (form encoding), as AWS S3 and Go/Java S3 servers read query
    strings: SDKs never send a literal ``+`` in a query (botocore, the AWS SDKs and minio-py
    send ``%2B`` for a plus and ``%20`` for a space), so only hand-written URLs are affected,
    and they then mean what they mean to S3.

    Percent-escapes that are not valid UTF-8 (``prefix=%FF``) are kept as lone surrogates
    (``surrogateescape``) rather than silently replaced, so the core can refuse them.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if not text:
        return ()
    return tuple(
        parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape")
    )


def join_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Collapse repeated header names into one comma-joined value (RFC 9110 §5.3)."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        if name in joined:
            joined[name] = f"{joined[name]}, {value}"
        else:
            joined[name] = value
    return joined


def encode_header_value(value: str) -> bytes:
    """A response header value as wire bytes.

    Latin-1 round-trips what we received (request headers are decoded as latin-1, so UTF-8
    metadata a client sent comes back as the same bytes). A value with characters beyond
    latin-1 can only have been made up by the gateway; it goes out as UTF-8 rather than failing
    the whole response.
    """
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")
