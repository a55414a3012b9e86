"""One line per HTTP request: method, bucket, key, status, body bytes and milliseconds.

An ASGI wrapper around the S3 app rather than a hook in the gateway's ``handle``: only the
transport knows when a streamed response has really gone out (its byte count and duration),
and a server that does not log does not wrap, so the request path pays nothing for it.

Bucket and key come from the path (path-style addressing, which is what clients use with an
``http://127.0.0.1:PORT`` endpoint); ``bytes`` is the body received plus the body sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import Any

from pachs3.transports.asgi_types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "format_access"]


def format_access(
    method: str, path: str, status: int | None, size: int, milliseconds: float
) -> str:
    """``GET labresults a.csv 200 796 1.2ms`` (``-`` for no bucket, key or status)."""
    bucket, _, key = path.lstrip("/").partition("/")  # ASGI paths arrive decoded
    shown = "-" if status is None else str(status)
    return f"{method} {bucket or '-'} {key or '-'} {shown} {size} {milliseconds:.1f}ms"


class AccessLog:
    """Wrap ``app``; ``write`` receives one formatted line per finished HTTP request."""

    def __init__(self, app: ASGIApp, write: Callable[[str], None]) -> None:
        self.app = app
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: MutableMapping[str, Any] = {"status": None, "bytes": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            # Also when the client hung up or the server stopped mid-response: the line then
            # shows what was sent before.
            elapsed = (time.perf_counter() - started) * 1000
            self.write(
                format_access(
                    scope["method"], scope["path"], seen["status"], seen["bytes"], elapsed
                )
            )
