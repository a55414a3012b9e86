"""An HTTP/1.1 request that offers an upgrade the server does not take keeps its body (httptools).

Why this exists: java.net.http.HttpClient offers ``Connection: Upgrade, HTTP2-Settings`` and
``Upgrade: h2c`` on every plain-http request, bodies included (the AWS SDK for Java's presigned
PUTs go through it). A server may ignore such an offer and answer over HTTP/1.1 (RFC 9110 §7.8,
RFC 9113 §3.1); AWS and uvicorn's h11 mode do. uvicorn's httptools mode did not: httptools'
``on_headers_complete`` callback tells llhttp to skip the body of every upgrade request, so the
parser reports the message complete at the end of the head and raises ``HttpParserUpgrade`` with
the offset of the first body byte; uvicorn logs "Unsupported upgrade request." and the body
bytes are lost (or parsed as the next request: 400 "Invalid HTTP request received."). Known
upstream as MagicStack/httptools#124 and Kludex/uvicorn#2722, both open.

The fix, on our side of uvicorn: the request already has its ASGI cycle (started at the end of
the real head), so the premature "message complete" is held back; when the parser stops at the
upgrade, it is fed a stand-in head that carries only the real head's framing (Content-Length,
Transfer-Encoding, Connection without its ``upgrade`` token) followed by the bytes after the
real head. llhttp then frames the body itself (chunked included) and hands it to the cycle; the
stand-in head's own callbacks are swallowed. That parser is a fresh one (llhttp ignores all
data after an upgrade from a head that also says ``Connection: close``), so the next request on
the connection is parsed as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httptools

if TYPE_CHECKING:
    from array import array

FRAMING_HEADERS = (b"content-length", b"transfer-encoding")
"""The fields that decide where the body ends (RFC 9112 §6.3); the stand-in head carries them."""


class UpgradeIgnoringParser(httptools.HttpRequestParser):
    """httptools' request parser that hands an upgrade it will not take back to HTTP/1.1."""

    def __init__(self, protocol: Any) -> None:
        super().__init__(protocol)
        self._protocol = protocol

    def feed_data(self, data: bytes | bytearray | memoryview[int] | array[int]) -> None:
        try:
            super().feed_data(data)
        except httptools.HttpParserUpgrade as paused:
            if self._protocol._should_upgrade():  # a WebSocket uvicorn takes: its path
                raise
            self._protocol.resume_without_upgrade(bytes(data[paused.args[0] :]))


class IgnoreUnacceptedUpgrade:
    """The mixin for uvicorn's ``HttpToolsProtocol``: see the module docstring."""

    parser: Any
    headers: list[tuple[bytes, bytes]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parser = self._new_parser()
        self._upgrade_ignored = False
        self._in_stand_in_head = False
        self._http_version = "1.1"

    def _new_parser(self) -> UpgradeIgnoringParser:
        parser = UpgradeIgnoringParser(self)
        # uvicorn's own parser setting, repeated on ours (lets it answer a request pipelined
        # after one that says Connection: close).
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
        return parser

    def resume_without_upgrade(self, after_head: bytes) -> None:
        """Go on with the bytes after a head whose upgrade offer is not taken, as HTTP/1.1.

        On a fresh parser: llhttp's, paused at an upgrade from a head that also said
        ``Connection: close``, ignores everything after it.
        """
        self.parser = self._new_parser()
        self.parser.feed_data(self._stand_in_head() + after_head)

    def _stand_in_head(self) -> bytes:
        """The head llhttp reads the body's framing from; its callbacks never reach uvicorn."""
        self._upgrade_ignored = False
        self._in_stand_in_head = True
        lines = [f"POST / HTTP/{self._http_version}".encode("ascii")]
        for name, value in self.headers:
            if name in FRAMING_HEADERS:
                lines.append(name + b": " + value)
            elif name == b"connection":
                tokens = [t.strip() for t in value.split(b",")]
                kept = [t for t in tokens if t and t.lower() != b"upgrade"]
                if kept:
                    lines.append(b"connection: " + b", ".join(kept))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    # The stand-in head's callbacks are swallowed: the request's scope, URL and headers are
    # those of the real head, already handed to its cycle.
    def on_message_begin(self) -> None:
        if not self._in_stand_in_head:
            super().on_message_begin()  # type: ignore[misc]

    def on_url(self, url: bytes) -> None:
        if not self._in_stand_in_head:
            super().on_url(url)  # type: ignore[misc]

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_stand_in_head:
            super().on_header(name, value)  # type: ignore[misc]

    def on_headers_complete(self) -> None:
        if self._in_stand_in_head:
            self._in_stand_in_head = False
            return
        self._http_version = self.parser.get_http_version()
        super().on_headers_complete()  # type: ignore[misc]
        offered = bool(self.parser.should_upgrade())
        self._upgrade_ignored = offered and not self._should_upgrade()  # type: ignore[attr-defined]

    def on_message_complete(self) -> None:
        # llhttp's "complete" at the end of the real head of an upgrade it was told to skip the
        # body of: the body is still to come, framed by the stand-in head.
        if self._upgrade_ignored:
            return
        super().on_message_complete()  # type: ignore[misc]
