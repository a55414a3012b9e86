"""The request side of the ASGI app: the ``RequestHead`` of a scope, and the body as the
handler's iterator, pulled from ``receive`` on demand (one hop to the event loop per chunk the
server has buffered)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import anyio
import anyio.from_thread
import anyio.lowlevel

from pachs3.core.errors import IncompleteBody, RequestTimeout, S3Error
from pachs3.core.http import RequestHead
from pachs3.transports.asgi_types import Message, Receive, Scope
from pachs3.transports.base import normalize_raw_path, parse_query

__all__ = [
    "DEFAULT_READ_TIMEOUT",
    "PREFETCH_BYTES",
    "RequestBody",
    "declared_small",
    "has_no_body",
    "head_from_scope",
]

DEFAULT_READ_TIMEOUT = 60.0
"""Seconds a request body may stall before the handler's iteration raises ``RequestTimeout``.

AWS S3 gives up on an idle upload after about 20 s; we are more patient (pipeline code may
produce its upload lazily) but never wait forever: a stalled body pins a worker thread.
"""

PREFETCH_BYTES = 64 << 10
"""A body announced with ``Expect: 100-continue`` and at most this long is read on the event loop
before the handler runs, once a ``PreparingHandler`` has accepted the request's head (see
``S3ASGIApp._http``). Bigger bodies stream to the handler as it reads them."""


class RequestBody(Iterator[bytes]):
    """The handler's view of the request body: pulls from ``receive`` as it is iterated.

    Usable from any thread (the event loop token is explicit), by one consumer at a time, and
    only while ``handle`` runs. A client that disconnects makes iteration raise
    ``IncompleteBody``; a body that stalls longer than the read timeout raises
    ``RequestTimeout``. Once raised, every later ``next()`` raises again: a truncated body
    never looks like a clean end.
    """

    def __init__(
        self, receive: Receive, token: anyio.lowlevel.EventLoopToken, timeout: float | None
    ) -> None:
        self._receive = receive
        self._token = token
        self._timeout = timeout
        self._pending: list[bytes] = []  # prefetched chunks, in order
        self._done = False
        self._error: S3Error | None = None
        self._expired = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._expired:
            raise RuntimeError("the request body can only be read while handle() runs")
        if self._pending:  # what arrived before an error is delivered, then the error
            return self._pending.pop(0)
        if self._error is not None:
            raise self._error
        if self._done:
            raise StopIteration
        try:
            chunk = anyio.from_thread.run(self._pull, token=self._token)
        except (concurrent.futures.CancelledError, asyncio.CancelledError, anyio.RunFinishedError):
            # The server is shutting down under us (the pull's task cancelled: anyio raises
            # asyncio's CancelledError here when the loop cancels it at shutdown).
            self._error = IncompleteBody("The server stopped before the body was received.")
            raise self._error from None
        except S3Error as exc:
            self._error = exc
            raise
        if not chunk:
            raise StopIteration
        return chunk

    def set_empty(self) -> None:
        """The request has no body (no Content-Length, no Transfer-Encoding): never receive."""
        self._done = True

    async def prefetch(self, limit: int) -> None:
        """Receive up to about ``limit`` bytes now, on the event loop (see ``S3ASGIApp._http``).

        Stops at the body's end or once ``limit`` is reached; the rest is received as the
        handler reads on. An error is kept and raised to the handler when it reads.
        """
        received = 0
        try:
            while not self._done and received < limit:
                chunk = await self._pull()
                if chunk:
                    self._pending.append(chunk)
                    received += len(chunk)
        except S3Error as exc:
            self._error = exc

    async def _pull(self) -> bytes:
        while True:
            try:
                with anyio.fail_after(self._timeout):
                    message: Message = await self._receive()
            except TimeoutError:
                raise RequestTimeout() from None
            kind = message["type"]
            if kind == "http.disconnect":
                raise IncompleteBody(
                    "The client closed the connection before sending the whole body."
                )
            if kind != "http.request":
                continue
            chunk: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                self._done = True
                return chunk
            if chunk:
                return chunk

    def expire(self) -> None:
        self._expired = True

    @property
    def complete(self) -> bool:
        """The whole body came off the connection (or there was none), read or not."""
        return self._done


def declared_small(head: RequestHead) -> bool:
    """The body's declared length is known and at most ``PREFETCH_BYTES``."""
    length = head.header("content-length")
    if length is None or head.header("transfer-encoding") is not None:
        return False
    try:
        return 0 <= int(length) <= PREFETCH_BYTES
    except ValueError:
        return False


def has_no_body(scope: Scope, head: RequestHead) -> bool:
    """HTTP/1.x framing says there is no body: no Transfer-Encoding, no (or zero) length."""
    if scope.get("http_version", "1.1") not in ("1.0", "1.1"):
        return False  # HTTP/2 bodies need no length header
    if head.header("transfer-encoding") is not None:
        return False
    length = head.header("content-length")
    return length is None or length.strip() == "0"


def head_from_scope(scope: Scope) -> RequestHead:
    """The ``RequestHead`` of an ASGI http scope (see ``RequestHead`` for the conventions)."""
    raw_path: bytes | None = scope.get("raw_path")
    # Servers without raw_path: re-encode the decoded path (lossy only for %2F in keys).
    path = normalize_raw_path(raw_path) if raw_path is not None else quote(scope["path"], safe="/~")
    root_path: str = scope.get("root_path", "")
    if root_path:
        path = _strip_root(path, root_path)
    headers = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in scope.get("headers", ())
    )
    host = ""
    for name, value in headers:
        if name == "host":
            host = value
            break
    else:
        server: Any = scope.get("server")
        if server and server[1] is not None:
            host = f"{server[0]}:{server[1]}"
        elif server:
            host = str(server[0])
    return RequestHead(
        method=scope["method"],
        path=path,
        query=parse_query(scope.get("query_string", b"")),
        headers=headers,
        host=host,
        scheme=scope.get("scheme", "http"),
    )


def _strip_root(path: str, root_path: str) -> str:
    """Remove a mount prefix (decoded ``root_path``) from a raw path, segment by segment."""
    root_segments = root_path.rstrip("/").split("/")
    if len(root_segments) < 2:
        return path
    segments = path.split("/")
    count = len(root_segments)
    if len(segments) < count or [unquote(s) for s in segments[:count]] != root_segments:
        return path  # a server whose path excludes root_path: nothing to strip
    return "/" + "/".join(segments[count:])
