"""A request that offers an HTTP/2 upgrade (``Upgrade: h2c``) is an ordinary HTTP/1.1 request.

java.net.http.HttpClient, with its defaults, offers ``Connection: Upgrade, HTTP2-Settings`` and
``Upgrade: h2c`` on every plain-http request, bodies included (the AWS SDK for Java's presigned
URLs are used with it; tests/clients/test_client_java.py). A server that does not switch answers
over HTTP/1.1 and reads the body as usual (RFC 9110 §7.8; AWS does so).

uvicorn's httptools mode lost such a body (httptools tells llhttp to skip the body of any upgrade
request: MagicStack/httptools#124, Kludex/uvicorn#2722); pachs3/transports/ignored_upgrade.py
gives it back. These tests run on both of uvicorn's HTTP/1.1 implementations.
"""

from __future__ import annotations

import hashlib
import json
import socket
from typing import Any

import pytest

try:
    import httptools  # noqa: F401

    IMPLS = ["h11", "httptools"]
except ImportError:  # pragma: no cover - httptools is optional
    IMPLS = ["h11"]

UPGRADE = (
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAEAAEAAAAIAAAAA\r\n"
)


def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` and read until the server closes (the request says Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize("impl", IMPLS)
def test_a_put_offering_h2c_keeps_its_body(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)
    body = b"uploaded through a presigned URL\n"
    head = (f"PUT /out/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n").encode()
    answer = exchange(
        server.port,
        head
        + UPGRADE.replace(b"Connection: Upgrade", b"Connection: close, Upgrade")
        + b"\r\n"
        + body,
    )
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 200"), answer[:300]
    document = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert document["length"] == len(body)
    assert document["md5"] == hashlib.md5(body).hexdigest()


def responses(raw: bytes) -> list[tuple[bytes, dict[str, Any]]]:
    """Split the answers to several requests on one connection: (status line, JSON body)."""
    found = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        status, *fields = head.split(b"\r\n")
        length = next(
            int(value)
            for name, _, value in (f.partition(b": ") for f in fields)
            if name.lower() == b"content-length"
        )
        found.append((status, json.loads(raw[:length])))
        raw = raw[length:]
    return found


@pytest.mark.parametrize("impl", IMPLS)
def test_a_chunked_put_offering_h2c_then_a_second_request_on_the_connection(
    echo: Any, serve: Any, impl: str
) -> None:
    """Transfer-Encoding: chunked after the offer (Spring's RestClient sends that, uvicorn#2722);
    the connection stays usable: the next request (no offer, Connection: close) is its own."""
    server = serve(echo, http=impl)
    first = (
        b"PUT /out/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        + UPGRADE
        + b"\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    )
    second = (
        b"PUT /out/second HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
        b"Connection: close\r\n\r\nabc"
    )
    answers = responses(exchange(server.port, first + second))
    assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK"] * 2
    (_, put), (_, after) = answers
    assert (put["path"], put["length"]) == ("/out/chunked", 12)
    assert put["md5"] == hashlib.md5(b"hello, world").hexdigest()
    assert put["method"] == "PUT"  # the real head reached the handler, not the stand-in
    assert ["upgrade", "h2c"] in [[name.lower(), value] for name, value in put["headers"]]
    assert (after["path"], after["length"]) == ("/out/second", 3)


@pytest.mark.parametrize("impl", IMPLS)
def test_offers_on_consecutive_requests_with_the_body_in_separate_packets(
    echo: Any, serve: Any, impl: str
) -> None:
    """java.net.http writes the head and the body separately; a GET with the offer (curl
    --http2 on http) has no body; both offers on one keep-alive connection."""
    server = serve(echo, http=impl)
    body = bytes(range(256)) * 1024
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"PUT /out/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n".encode()
            + UPGRADE
            + b"\r\n"
        )
        for start in range(0, len(body), 65536):
            sock.sendall(body[start : start + 65536])
        sock.sendall(
            b"GET /out/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + UPGRADE.replace(b"Connection: Upgrade", b"Connection: close, Upgrade")
            + b"\r\n"
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    (put_status, put), (get_status, get) = responses(received)
    assert (put_status, get_status) == (b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK")
    assert (put["length"], put["md5"]) == (len(body), hashlib.md5(body).hexdigest())
    assert (get["method"], get["length"]) == ("GET", 0)
