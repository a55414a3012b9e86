"""The gateway as an ASGI application: ``make_asgi_app(handler)``.

The handler is synchronous and blocking (disk I/O), so each request runs it in a worker thread
of the serving event loop (``anyio.to_thread``). Bodies stream both ways and are never held
whole:

* request: the handler's body iterator pulls chunks from ``receive`` on demand, one hop to the
  event loop per chunk the server has buffered (uvicorn hands over whatever arrived, 64-320 KiB
  under load, so a slow handler gets bigger chunks and fewer hops). With
  ``Expect: 100-continue`` nothing is read before the handler asks: uvicorn sends
  ``100 Continue`` on the app's first ``receive()``, so a 4xx answered without reading never
  sends it (s3fs/aiobotocore deadlock and boto3 lose 1 s per PUT on servers that never answer
  100). Without ``Expect`` the client sends the body right away, so the first chunk is taken on
  the event loop before the handler runs (a small body then costs no thread hop); a request
  with no body (no Content-Length, no Transfer-Encoding) never calls ``receive()``;
* response: chunks are pulled from the sync ``ByteStream`` in a worker thread in batches (up to
  ``response_batch_bytes`` or a few milliseconds, whichever comes first), so a stream of small
  chunks costs one thread hop per batch, not per chunk; the first batch is pulled in the same
  hop as the handler call, and an exhausted stream is closed in the hop that exhausted it, so
  a small response costs one hop in all. The stream is closed in a ``finally`` also when the
  client hangs up mid-download (a task watches ``receive`` for ``http.disconnect``, because
  uvicorn's ``send`` silently drops data for a closed connection instead of raising);
* HEAD, 204 and 304 responses send headers only; the stream is closed unread. A 304's
  Content-Length is dropped (uvicorn's httptools protocol would wait for that many bytes).

No middleware: nothing here compresses, decompresses or rewrites headers (rclone signs
``Accept-Encoding``; object bytes must reach the client exactly as stored).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import quote, unquote

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from starlette.types import Message, Receive, Scope, Send

from pachs3.core.errors import IncompleteBody, RequestTimeout, S3Error
from pachs3.core.http import BytesStream, ByteStream, EmptyStream, RequestHead, S3Response
from pachs3.transports.base import (
    Handler,
    PreparingHandler,
    encode_header_value,
    normalize_raw_path,
    parse_query,
)
from pachs3.transports.workers import run_in_worker

__all__ = ["S3ASGIApp", "head_from_scope", "make_asgi_app"]

logger = logging.getLogger(__name__)

DEFAULT_READ_TIMEOUT = 60.0
"""Seconds a request body may stall before the handler's iteration raises ``RequestTimeout``.

AWS S3 gives up on an idle upload after about 20 s; we are more patient (pipeline code may
produce its upload lazily) but never wait forever: a stalled body pins a worker thread.
"""

DEFAULT_RESPONSE_BATCH_BYTES = 1 << 20
"""Bytes of response chunks pulled per thread hop (see the module docstring)."""

PREFETCH_BYTES = 64 << 10
"""A body announced with ``Expect: 100-continue`` and at most this long is read on the event loop
before the handler runs, once a ``PreparingHandler`` has accepted the request's head (see
``S3ASGIApp._http``). Bigger bodies stream to the handler as it reads them."""

_RESPONSE_BATCH_SECONDS = 0.005
"""A batch is sent once it has waited this long, so a slow producer's bytes are not held."""


def make_asgi_app(
    handler: Handler,
    *,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    response_batch_bytes: int = DEFAULT_RESPONSE_BATCH_BYTES,
) -> S3ASGIApp:
    """An ASGI 3 application serving ``handler``; mount it in any ASGI host.

    It is a plain ASGI callable (no Starlette routing or middleware in the byte path), so it can
    be run by uvicorn/hypercorn directly or mounted in Starlette/FastAPI with
    ``Mount("/s3", app=make_asgi_app(gateway))``; under a mount the prefix (``root_path``) is
    removed from the path the handler sees.
    """
    return S3ASGIApp(handler, read_timeout=read_timeout, response_batch_bytes=response_batch_bytes)


class S3ASGIApp:
    """ASGI 3 callable: http requests go to ``handler``; lifespan events are acknowledged.

    Worker threads come from the event loop's default anyio limiter (40 threads unless the host
    changes ``anyio.to_thread.current_default_thread_limiter().total_tokens``;
    ``ThreadedServer`` sets its own). A request holds a thread while the handler runs,
    including while it waits for body bytes from a slow client.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        response_batch_bytes: int = DEFAULT_RESPONSE_BATCH_BYTES,
    ) -> None:
        if response_batch_bytes < 1:
            raise ValueError("response_batch_bytes must be positive")
        self.handler = handler
        self.read_timeout = read_timeout
        self.response_batch_bytes = response_batch_bytes
        self._prepare = handler.prepare if isinstance(handler, PreparingHandler) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            # Not S3. Refuse the handshake (close before accept means HTTP 403).
            await send({"type": "websocket.close", "code": 1008})
        else:
            raise RuntimeError(f"unsupported ASGI scope type {kind!r}")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = head_from_scope(scope)
        body = _RequestBody(receive, anyio.lowlevel.current_token(), self.read_timeout)
        # A PreparingHandler decides from the head alone, here on the loop (pure, tens of
        # microseconds): a refusal is answered without a thread hop and without reading.
        prepared = self._prepare(head) if self._prepare is not None else None
        refusal = prepared.refusal if prepared is not None else None
        expects_continue = (head.header("expect") or "").lower() == "100-continue"
        no_body = _has_no_body(scope, head)
        if no_body and not expects_continue:
            body.set_empty()
        elif not expects_continue or no_body:
            # Without Expect the client sends the body right behind the headers, so take the
            # first bytes here on the event loop: a small body (DeleteObjects XML, a 1 KiB PUT)
            # then costs the handler no hop back to the loop. An empty body announced with
            # Expect: 100-continue (awscli on an empty file) needs this receive() too: it is
            # what makes uvicorn send the 100, without which awscli's vendored botocore reuses
            # a stale status line for its next request (boto/botocore#3755). One chunk only:
            # the handler should start (and may refuse) while a slow client sends the rest.
            await body.prefetch(1)
        elif refusal is None and prepared is not None and _declared_small(head):
            # Expect: 100-continue with a small body the handler has accepted: receiving it
            # now (which sends the 100) spares the worker thread a round trip to the loop per
            # chunk. With Expect and a big or refused body we wait for the handler to ask:
            # reading is what makes the server send 100, and a refusal must not.
            await body.prefetch(PREFETCH_BYTES)
        if refusal is not None:
            outbound = self._start(head, refusal)  # a rendered error document: no I/O
        else:
            run = prepared.run if prepared is not None else partial(self.handler.handle, head)
            try:
                outbound = await run_in_worker(self._call, head, run, body, on_abandon=_abandon)
            finally:
                body.expire()
        # Answered before the body was read to its end (a 403 or 412 refusing a PUT): the
        # connection cannot be reused. A client that sent Expect: 100-continue never sends the
        # body it announced, and uvicorn would parse the next request as that body (seen with
        # boto3: the GET after a refused PUT came back 400). Closing also spares reading and
        # discarding a large unwanted body.
        outbound.close_connection = not body.complete
        await self._respond(outbound, receive, send)

    def _call(
        self,
        head: RequestHead,
        run: Callable[[Iterator[bytes]], S3Response],
        body: _RequestBody,
    ) -> _Outbound:
        """In a worker thread: run the handler, then pull the first batch of its body.

        Pulling in the same hop means a small streamed response costs one thread hop in all
        (handler, body and close); an error while producing the first bytes still becomes a
        500 instead of a truncated 200.
        """
        response = run(body)
        body.expire()
        return self._start(head, response)

    def _start(self, head: RequestHead, response: S3Response) -> _Outbound:
        """The response ready to send: bodiless answers closed, a stream's first batch pulled
        (in a worker thread for a streamed body; any thread for a rendered document)."""
        outbound = _Outbound(response)
        if head.method == "HEAD" or response.status in _NO_BODY_STATUS:
            # HEAD: the headers (Content-Length included: pyarrow reads a missing one as size
            # 0) but never a body; likewise 204/304. The stream is closed unread.
            _close_quietly(response.body)
            outbound.done = outbound.closed = True
        elif not isinstance(response.body, BytesStream | EmptyStream):
            try:
                outbound.pull(self.response_batch_bytes)
            except BaseException:
                _close_quietly(response.body)
                raise
        return outbound

    async def _respond(self, outbound: _Outbound, receive: Receive, send: Send) -> None:
        response = outbound.response
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": _wire_headers(response, close=outbound.close_connection),
                }
            )
            if isinstance(response.body, BytesStream | EmptyStream) and not outbound.done:
                # A rendered XML document or nothing: iterating it cannot block, so it needs
                # no thread hop (the common case for small requests).
                outbound.chunks = list(response.body)
                outbound.done = True
            for chunk in outbound.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if outbound.done or await self._stream(outbound, receive, send):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if not outbound.closed:
                outbound.closed = True
                if isinstance(response.body, BytesStream | EmptyStream):
                    response.body.close()
                else:
                    # close() may do I/O (cancel a backend read): off the loop, and shielded
                    # so a cancelled request (client gone, server stopping) still releases it.
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(_close_quietly, response.body)

    async def _stream(self, outbound: _Outbound, receive: Receive, send: Send) -> bool:
        """Send the rest of a streamed body; False if the client hung up meanwhile."""
        failure: list[BaseException] = []
        disconnected = False

        async def watch(cancel: anyio.CancelScope) -> None:
            # uvicorn's send() silently drops data for a closed connection instead of
            # raising, so a hang-up is only seen as http.disconnect on receive(). Started
            # after the response head, so it cannot trigger "100 Continue"; request body the
            # handler left unread is drained and discarded.
            nonlocal disconnected
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
            except Exception:  # a server that raises on a dead connection: same thing
                logger.debug("receive() failed while streaming a response", exc_info=True)
            disconnected = True
            cancel.cancel()

        async def pump(cancel: anyio.CancelScope) -> None:
            try:
                while not outbound.done:
                    await anyio.to_thread.run_sync(outbound.pull, self.response_batch_bytes)
                    for chunk in outbound.chunks:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except Exception as exc:
                # A stream that fails mid-body cannot change the status line any more: re-raise
                # so the server drops the connection and the client sees a short body
                # (Content-Length or chunked framing tells it), never a silent clean end.
                failure.append(exc)
            finally:
                cancel.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(watch, group.cancel_scope)
            group.start_soon(pump, group.cancel_scope)
        if failure:
            raise failure[0]
        return not disconnected


class _Outbound:
    """A response on its way out: the latest batch of body chunks and the stream's state."""

    __slots__ = ("chunks", "close_connection", "closed", "done", "response")

    def __init__(self, response: S3Response) -> None:
        self.response = response
        self.chunks: list[bytes] = []
        self.done = False
        self.closed = False
        self.close_connection = False

    def pull(self, max_bytes: int) -> None:
        """(Worker thread.) The next batch; an exhausted stream is closed right here."""
        self.chunks, self.done = _pull_batch(self.response.body, max_bytes)
        if self.done:
            self.closed = True
            _close_quietly(self.response.body)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _pull_batch(stream: ByteStream, max_bytes: int) -> tuple[list[bytes], bool]:
    """Next chunks of ``stream`` (in a worker thread) and whether it is exhausted.

    Up to ``max_bytes``, or whatever arrived within a few milliseconds of the first chunk, so a
    slow producer's bytes are not held back.
    """
    chunks: list[bytes] = []
    total = 0
    deadline = 0.0
    while True:
        try:
            chunk = next(stream)
        except StopIteration:
            return chunks, True
        if not chunk:
            continue
        if not isinstance(chunk, bytes):  # ASGI servers want bytes, not views
            chunk = bytes(chunk)
        chunks.append(chunk)
        total += len(chunk)
        if total >= max_bytes:
            return chunks, False
        now = time.monotonic()
        if not deadline:
            deadline = now + _RESPONSE_BATCH_SECONDS
        elif now >= deadline:
            return chunks, False


class _RequestBody(Iterator[bytes]):
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


_NO_BODY_STATUS = frozenset({204, 304})


def _wire_headers(response: S3Response, *, close: bool = False) -> list[tuple[bytes, bytes]]:
    """Response headers as bytes, minus a Content-Length a bodiless status must not carry.

    A 304 may repeat the object's length (RFC 9110 8.6), but uvicorn's httptools protocol then
    waits for that many body bytes and aborts the connection; a 204 must not have a non-zero
    length at all. Either way the client expects no body, so the header is dropped.
    """
    drop_length = response.status in _NO_BODY_STATUS
    headers = [
        (name.encode("latin-1"), encode_header_value(value))
        for name, value in response.headers
        if not (drop_length and name == "content-length" and value.strip() != "0")
    ]
    if close:
        headers.append((b"connection", b"close"))
    return headers


def _close_quietly(stream: ByteStream) -> None:
    """Close a response stream; a failing close() is logged, never turned into an error."""
    try:
        stream.close()
    except Exception:
        logger.exception("closing a response body failed")


def _abandon(outbound: _Outbound) -> None:
    """A response whose request task was cancelled while the handler ran: release its stream."""
    if not outbound.closed:
        outbound.closed = True
        _close_quietly(outbound.response.body)


def _declared_small(head: RequestHead) -> bool:
    """The body's declared length is known and at most ``PREFETCH_BYTES``."""
    length = head.header("content-length")
    if length is None or head.header("transfer-encoding") is not None:
        return False
    try:
        return 0 <= int(length) <= PREFETCH_BYTES
    except ValueError:
        return False


def _has_no_body(scope: Scope, head: RequestHead) -> bool:
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
