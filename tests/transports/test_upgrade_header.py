"""A request that offers an HTTP/2 upgrade (``Upgrade: h2c``) is an ordinary HTTP/1.1 request.

java.net.http.HttpClient, with its defaults, offers ``Connection: Upgrade, HTTP2-Settings`` and
``Upgrade: h2c`` on every plain-http request, bodies included (the AWS SDK for Java's presigned
URLs are used with it; tests/clients/test_client_java.py). A server that does not switch answers
over HTTP/1.1 and reads the body as usual (RFC 9110 §7.8; AWS does so).
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
HTTPTOOLS_DROPS_BODY = (
    "gateway bug: in httptools mode the body of a request offering `Upgrade: h2c` is taken "
    "for upgraded-protocol data and dropped (the handler reads 0 bytes)"
)


def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` and read until the server closes (the request says Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    "impl",
    [
        pytest.param(
            impl,
            marks=[pytest.mark.xfail(strict=True, reason=HTTPTOOLS_DROPS_BODY)]
            if impl == "httptools"
            else [],
        )
        for impl in IMPLS
    ],
)
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
