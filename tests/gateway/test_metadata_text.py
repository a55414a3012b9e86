"""Non-ASCII user metadata over real HTTP, as S3 answers it (issue 15; core/metadata_text.py):
RFC 2047 encoded words are decoded before storing, and a value with bytes outside US-ASCII
comes back as one encoded word carrying exactly the bytes sent. Raw sockets, because HTTP
clients re-encode header values themselves. Every backend of the gateway suite (local, the PFS
double)."""

from __future__ import annotations

import base64
import socket
from email.header import decode_header

import pytest

from pachs3 import SidecarGateway


def exchange(port: int, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one request (``Connection: close``) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def put(port: int, key: str, meta: bytes) -> int:
    request = (
        (
            f"PUT /out/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
            "Connection: close\r\n"
        ).encode()
        + b"x-amz-meta-name: "
        + meta
        + b"\r\n\r\nhi"
    )
    return exchange(port, request)[0]


def head(port: int, key: str) -> bytes:
    request = f"HEAD /out/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status, headers, _ = exchange(port, request.encode())
    assert status == 200
    return headers[b"x-amz-meta-name"]


@pytest.fixture
def port(gateway: SidecarGateway) -> int:
    return int(gateway.serve().endpoint_url.rstrip("/").rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("sent", "returned"),
    [
        # a lone Latin-1 byte: its one byte comes back, labelled as Latin-1, never as C3 A9
        (b"caf\xe9", b"=?ISO-8859-1?B?" + base64.b64encode(b"caf\xe9") + b"?="),
        # raw UTF-8: the same bytes, labelled UTF-8
        (b"caf\xc3\xa9", b"=?UTF-8?B?" + base64.b64encode(b"caf\xc3\xa9") + b"?="),
        # encoded words are decoded before storing, then encoded again on the way out
        (b"=?UTF-8?Q?caf=C3=A9?=", b"=?UTF-8?B?" + base64.b64encode(b"caf\xc3\xa9") + b"?="),
        (b"=?ISO-8859-1?B?Y2Fm6Q==?=", b"=?UTF-8?B?" + base64.b64encode(b"caf\xc3\xa9") + b"?="),
        # US-ASCII is returned as is, an encoded word that decodes to it too
        (b"plain ascii", b"plain ascii"),
        (b"=?UTF-8?B?YXNjaWk=?=", b"ascii"),
        # not an encoded word (no closing ?=): kept as sent
        (b"=?UTF-8?B?abc", b"=?UTF-8?B?abc"),
    ],
)
def test_metadata_round_trips_as_s3_returns_it(port: int, sent: bytes, returned: bytes) -> None:
    assert put(port, "meta", sent) == 200
    value = head(port, "meta")
    assert value == returned
    if value.startswith(b"=?") and value.endswith(b"?="):  # as an RFC 2047 reader reads it
        ((raw, charset),) = decode_header(value.decode("ascii"))
        assert raw.decode(charset) in ("café", "ascii")


def test_an_encoded_word_hiding_a_line_break_is_refused(port: int) -> None:
    assert put(port, "split", b"=?UTF-8?Q?a=0D=0Ax-evil:_1?=") == 400
    request = b"HEAD /out/split HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    assert exchange(port, request)[0] == 404  # nothing was stored
