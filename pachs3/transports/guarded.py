"""uvicorn's HTTP protocols with a deadline and a size cap on every request head.

uvicorn starts no timer on a connection until its first response, and its httptools mode
buffers a request head of any size: a client that sends half a head and waits holds a
``limit_concurrency`` slot forever (four such sockets locked everyone out of a server with
``limit_concurrency=4``), and one that sends a 256 MiB header line grows the process by as
much. Both protocols here close a connection whose head is not complete within
``head_timeout`` seconds, and answer S3's RequestHeaderSectionTooLarge once a head passes
``max_head_bytes`` (h11 has its own 16 KiB cap; httptools none).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pachs3.core import errors
from pachs3.core.respond import error_response
from pachs3.transports.ignored_upgrade import IgnoreUnacceptedUpgrade

DEFAULT_MAX_HEAD_BYTES = 64 * 1024
"""Well above the 8 KiB the core refuses with an S3 error document, so that an ordinary
oversize head still gets its answer from the core; far below anything that costs memory."""


class _HeadGuard:
    """The mixin: one timer and one byte count per request head."""

    head_timeout: float = 20.0
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._head_timer is None:
            return
        if self._head_parsed():
            self._disarm()
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            self._refuse()

    def _head_parsed(self) -> bool:
        """Whether the parser has seen the whole head (httptools says so by a callback)."""
        return False

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        # The next request on this connection gets its own deadline, unless its head already
        # arrived: a client sends it as soon as it has the previous body, which can be before
        # uvicorn reports the previous response complete (the 64-client soak caught a body
        # counted as head bytes that way). uvicorn then has a newer, unfinished cycle.
        cycle = getattr(self, "cycle", None)
        if cycle is None or cycle.response_complete:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        self._disarm()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.head_timeout, self._expire)

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
        self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self) -> None:
        self._answer_unparsed(errors.RequestHeaderSectionTooLarge())

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to a head its parser refuses (an empty or negative Content-Length,
        # a broken request line): plain text, which S3 clients cannot read. S3 answers such a
        # request with an error document, so this one does too.
        self._answer_unparsed(errors.BadRequest())

    def _answer_unparsed(self, error: errors.S3Error) -> None:
        self._disarm()
        # Rendered by the one renderer of error documents, then written by hand: no request was
        # parsed, so nothing above this protocol will answer it.
        response = error_response(
            error,
            resource="",
            request_id=secrets.token_hex(8).upper(),
            head_only=False,
        )
        fields = "".join(f"{name}: {value}\r\n" for name, value in response.headers)
        head = f"HTTP/1.1 {response.status} Bad Request\r\n{fields}connection: close\r\n\r\n"
        self.transport.write(head.encode("ascii") + b"".join(response.body))
        self.transport.close()


class GuardedHttpTools(_HeadGuard, IgnoreUnacceptedUpgrade, HttpToolsProtocol):
    # IgnoreUnacceptedUpgrade: a request offering `Upgrade: h2c` keeps its body (java.net.http).
    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


class GuardedH11(_HeadGuard, H11Protocol):
    def _head_parsed(self) -> bool:
        # h11 hands a whole head over as one Request event, upon which uvicorn starts a new
        # cycle (the previous request's cycle, if any, is complete by then).
        return self.cycle is not None and not self.cycle.response_complete


def guarded_protocol(http: str, *, head_timeout: float, max_head_bytes: int) -> Any:
    """The protocol class for ``http`` ("h11" or "httptools"), with these limits."""
    base = GuardedH11 if http == "h11" else GuardedHttpTools
    return type(
        base.__name__,
        (base,),
        {"head_timeout": head_timeout, "max_head_bytes": max_head_bytes},
    )
