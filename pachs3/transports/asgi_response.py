"""The response side of the ASGI app: a handler's ``S3Response`` on its way out.

Chunks are pulled from the sync ``ByteStream`` in a worker thread in batches (up to the app's
``response_batch_bytes`` or a few milliseconds, whichever comes first), so a stream of small
chunks costs one thread hop per batch, not per chunk; an exhausted stream is closed in the hop
that exhausted it.
"""

from __future__ import annotations

import logging
import time

from pachs3.core.http import ByteStream, S3Response
from pachs3.transports.base import encode_header_value

__all__ = [
    "DEFAULT_RESPONSE_BATCH_BYTES",
    "NO_BODY_STATUS",
    "Outbound",
    "abandon",
    "close_quietly",
    "pull_batch",
    "wire_headers",
]

logger = logging.getLogger(__name__)

DEFAULT_RESPONSE_BATCH_BYTES = 1 << 20
"""Bytes of response chunks pulled per thread hop (see the module docstring)."""

_RESPONSE_BATCH_SECONDS = 0.005
"""A batch is sent once it has waited this long, so a slow producer's bytes are not held."""


class Outbound:
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
        self.chunks, self.done = pull_batch(self.response.body, max_bytes)
        if self.done:
            self.closed = True
            close_quietly(self.response.body)


def pull_batch(stream: ByteStream, max_bytes: int) -> tuple[list[bytes], bool]:
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


NO_BODY_STATUS = frozenset({204, 304})


def wire_headers(response: S3Response, *, close: bool = False) -> list[tuple[bytes, bytes]]:
    """Response headers as bytes, minus a Content-Length a bodiless status must not carry.

    A 304 may repeat the object's length (RFC 9110 8.6), but uvicorn's httptools protocol then
    waits for that many body bytes and aborts the connection; a 204 must not have a non-zero
    length at all. Either way the client expects no body, so the header is dropped.
    """
    drop_length = response.status in NO_BODY_STATUS
    headers = [
        (name.encode("latin-1"), encode_header_value(value))
        for name, value in response.headers
        if not (drop_length and name == "content-length" and value.strip() != "0")
    ]
    if close:
        headers.append((b"connection", b"close"))
    return headers


def close_quietly(stream: ByteStream) -> None:
    """Close a response stream; a failing close() is logged, never turned into an error."""
    try:
        stream.close()
    except Exception:
        logger.exception("closing a response body failed")


def abandon(outbound: Outbound) -> None:
    """A response whose request task was cancelled while the handler ran: release its stream."""
    if not outbound.closed:
        outbound.closed = True
        close_quietly(outbound.response.body)
