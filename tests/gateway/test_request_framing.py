"""Request framing over real HTTP (issue 15), raw sockets because clients will not send these:
a head uvicorn's parser refuses (an empty or negative Content-Length) gets an S3 error document,
not uvicorn's plain text; a PUT without a length: 411 MissingContentLength; a key that is not
UTF-8 once percent-decoded: 400; a Prefix with a control character echoed as AWS echoes it.
Both HTTP/1.1 parsers the threaded server runs (h11, httptools)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pachs3 import LocalStore, SidecarGateway


@pytest.fixture(params=["h11", "httptools"])
def port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    store = LocalStore(tmp_path / "store")
    with SidecarGateway(store, output="pipeline") as gw:
        url = gw.serve(http=request.param).endpoint_url
        yield int(url.rstrip("/").rsplit(":", 1)[1])
    store.close()


def exchange(port: int, request: bytes) -> tuple[int, bytes, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.lower(), body


@pytest.mark.parametrize("path", ["/out", "/out/key"])
@pytest.mark.parametrize("length", [b"", b"-1", b"-5"])
def test_a_content_length_the_parser_refuses_gets_an_s3_error(
    port: int, path: str, length: bytes
) -> None:
    request = b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: " + length
    status, head, body = exchange(port, request + b"\r\n\r\n")
    assert status == 400
    assert b"content-type: application/xml" in head
    assert b"<Code>BadRequest</Code>" in body
    listing = exchange(port, b"GET /out HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[2]
    assert b"<Key>" not in listing  # nothing stored


def test_a_put_without_length_or_chunking_is_411(port: int) -> None:
    status, _, body = exchange(port, b"PUT /out/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 411
    assert b"<Code>MissingContentLength</Code>" in body


def test_a_key_that_is_not_utf8_is_400(port: int) -> None:
    request = b"GET /out/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, _, body = exchange(port, request)
    assert status == 400
    assert b"<Code>InvalidArgument</Code>" in body


@pytest.mark.parametrize(("query", "echoed"), [(b"", b"a\nb"), (b"&encoding-type=url", b"a%0Ab")])
def test_a_prefix_with_a_line_feed_is_echoed(port: int, query: bytes, echoed: bytes) -> None:
    request = b"GET /out?list-type=2&prefix=a%0Ab" + query + b" HTTP/1.1\r\nHost: x\r\n"
    status, _, body = exchange(port, request + b"Connection: close\r\n\r\n")
    assert status == 200
    assert b"<Prefix>" + echoed + b"</Prefix>" in body
