"""The gateway as an ASGI application: ``make_asgi_app(handler)``.

The handler is synchronous and blocking (disk I/O), so each request runs it in a worker thread
of the serving event loop (``workers.py``: one pool for every blocking call). Bodies stream
both ways and are never held whole:

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

import logging
from collections.abc import Callable, Iterator
from functools import partial

import anyio
import anyio.lowlevel

from pachs3.core.http import (
    BytesStream,
    EmptyStream,
    RequestHead,
    ResponseBodyFailed,
    S3Response,
)
from pachs3.transports.asgi_request import (
    DEFAULT_READ_TIMEOUT,
    PREFETCH_BYTES,
    RequestBody,
    declared_small,
    has_no_body,
    head_from_scope,
)
from pachs3.transports.asgi_response import (
    DEFAULT_RESPONSE_BATCH_BYTES,
    NO_BODY_STATUS,
    Outbound,
    abandon,
    close_quietly,
    wire_headers,
)
from pachs3.transports.asgi_types import Receive, Scope, Send
from pachs3.transports.base import Handler, PreparingHandler
from pachs3.transports.workers import run_in_worker

# Re-exported: the transports' public names, used by threaded.py, the tests and hosts.
__all__ = [
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RESPONSE_BATCH_BYTES",
    "PREFETCH_BYTES",
    "S3ASGIApp",
    "head_from_scope",
    "make_asgi_app",
]

logger = logging.getLogger(__name__)


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

    Every blocking call of a request (the handler, each batch of a streamed response body, the
    closing of that body) runs in one pool, ``workers.run_in_worker``'s pool of the serving
    loop, sized by the loop's default anyio limiter (40 threads unless the host changes
    ``anyio.to_thread.current_default_thread_limiter().total_tokens``; ``ThreadedServer`` sets
    its own): never in anyio's threads as well, so the limit holds for the whole request. A
    request holds a thread while the handler runs, including while it waits for body bytes
    from a slow client.
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
        body = RequestBody(receive, anyio.lowlevel.current_token(), self.read_timeout)
        # A PreparingHandler decides from the head alone, here on the loop (pure, tens of
        # microseconds): a refusal is answered without a thread hop and without reading.
        prepared = self._prepare(head) if self._prepare is not None else None
        refusal = prepared.refusal if prepared is not None else None
        expects_continue = (head.header("expect") or "").lower() == "100-continue"
        no_body = has_no_body(scope, head)
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
        elif refusal is None and prepared is not None and declared_small(head):
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
                outbound = await run_in_worker(self._call, head, run, body, on_abandon=abandon)
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
        body: RequestBody,
    ) -> Outbound:
        """In a worker thread: run the handler, then pull the first batch of its body.

        Pulling in the same hop means a small streamed response costs one thread hop in all
        (handler, body and close); an error while producing the first bytes still becomes a
        500 instead of a truncated 200.
        """
        response = run(body)
        body.expire()
        return self._start(head, response)

    def _start(self, head: RequestHead, response: S3Response) -> Outbound:
        """The response ready to send: bodiless answers closed, a stream's first batch pulled
        (in a worker thread for a streamed body; any thread for a rendered document)."""
        outbound = Outbound(response)
        if head.method == "HEAD" or response.status in NO_BODY_STATUS:
            # HEAD: the headers (Content-Length included: pyarrow reads a missing one as size
            # 0) but never a body; likewise 204/304. The stream is closed unread.
            close_quietly(response.body)
            outbound.done = outbound.closed = True
        elif not isinstance(response.body, BytesStream | EmptyStream):
            try:
                outbound.pull(self.response_batch_bytes)
            except ResponseBodyFailed as failed:
                # Nothing sent yet: the client gets the gateway's error document instead of
                # the status line that promised a body.
                close_quietly(response.body)
                return self._start(head, failed.response)
            except BaseException:
                close_quietly(response.body)
                raise
        return outbound

    async def _respond(self, outbound: Outbound, receive: Receive, send: Send) -> None:
        response = outbound.response
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": wire_headers(response, close=outbound.close_connection),
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
                        await run_in_worker(close_quietly, response.body)

    async def _stream(self, outbound: Outbound, receive: Receive, send: Send) -> bool:
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
                    await run_in_worker(outbound.pull, self.response_batch_bytes)
                    for chunk in outbound.chunks:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except Exception as exc:
                # A stream that fails mid-body (ResponseBodyFailed: the gateway mapped and
                # logged it) cannot change the status line any more: re-raise so the server
                # aborts the connection and the client sees a short body (Content-Length or
                # chunked framing tells it), never a silent clean end.
                failure.append(exc)
            finally:
                cancel.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(watch, group.cancel_scope)
            group.start_soon(pump, group.cancel_scope)
        if failure:
            raise failure[0]
        return not disconnected


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
