"""The two values at the gateway's edge: what a transport hands in and what it writes back.

A transport (ASGI, the boto3 hook, a test) builds a ``RequestHead`` from whatever it received,
passes it with the body iterator to ``SidecarGateway.handle``, and writes the returned
``S3Response`` out. Neither type knows about sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

TOKEN_PATTERN: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
"""An RFC 9110 token (header names, chunk-extension names), as a regular expression."""


class ByteStream(Protocol):
    """An iterator of byte chunks that can be closed early (releasing whatever it holds).

    Response bodies are these, and so are a backend's reads (``backends.base`` re-exports it).
    """

    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHead:
    """An HTTP request without its body, as the transport saw it.

    ``path`` is the raw request target's path, still percent-encoded (``/b/a%20b``): keys are
    decoded once, by the core, so that ``+`` stays a plus and ``%2F`` stays distinguishable.
    ``query`` keeps every pair in order, blank values included (``?uploads``, ``delimiter=``),
    already percent-decoded. ``headers`` keep their order; names are lower-case.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    host: str = ""
    scheme: str = "http"

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (lower-case), or ``default``."""
        for key, value in self.headers:
            if key == name:
                return value
        return default


class EmptyStream:
    """The body of a response that has none."""

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        raise StopIteration

    def close(self) -> None:
        return None


class BytesStream:
    """A small, already rendered body (an XML document) as a one-chunk stream."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopIteration
        return data

    def close(self) -> None:
        self._data = None


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Response:
    """Status, headers (lower-case names, in order) and a streamed body.

    The transport must iterate ``body`` and call ``body.close()`` in a ``finally``: closing
    releases the backend read when a client hangs up mid-download.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: ByteStream = field(default_factory=EmptyStream)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class ResponseBodyFailed(Exception):
    """A streamed response body failed; raised by the body's ``next()`` in place of the error.

    The gateway has mapped the error already, as it maps every other one (logged, no internals
    in the answer): ``response`` is its S3 error answer. A transport that has not sent the
    status line yet sends ``response`` instead; one that has must abort the connection, so the
    client sees a truncated body rather than a clean end (Content-Length or chunked framing
    tells it so).
    """

    def __init__(self, response: S3Response) -> None:
        super().__init__(f"response body failed: {response.status}")
        self.response = response
