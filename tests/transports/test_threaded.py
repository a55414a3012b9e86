"""ThreadedServer over real loopback HTTP: httpx, raw sockets, boto3, TLS.

Protocol-level tests run against both uvicorn HTTP implementations (h11 and httptools, when
installed), since ``http="auto"`` picks whichever is present.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pachs3.core.errors import IncompleteBody
from pachs3.core.http import RequestHead, S3Response
from pachs3.transports.asgi import make_asgi_app
from pachs3.transports.threaded import ThreadedServer

try:
    import httptools  # noqa: F401

    IMPLS = ["h11", "httptools"]
except ImportError:  # pragma: no cover
    IMPLS = ["h11"]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- raw socket helpers ----------------------------------------------------------------------


def connect(server: ThreadedServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def recv_until(sock: socket.socket, marker: bytes, buffered: bytearray) -> bytes:
    """Bytes up to and including ``marker``; the rest stays in ``buffered``."""
    while marker not in buffered:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before {marker!r}; got {bytes(buffered)!r}")
        buffered += data
    end = buffered.index(marker) + len(marker)
    head = bytes(buffered[:end])
    del buffered[:end]
    return head


def read_response(
    sock: socket.socket, buffered: bytearray, *, head_only: bool = False
) -> tuple[str, dict[str, str], bytes]:
    raw = recv_until(sock, b"\r\n\r\n", buffered).decode("latin-1")
    status, *lines = raw[:-4].split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if head_only:
        return status, headers, b""
    length = int(headers.get("content-length", "0"))
    while len(buffered) < length:
        data = sock.recv(65536)
        if not data:
            break
        buffered += data
    body = bytes(buffered[:length])
    del buffered[:length]
    return status, headers, body


# -- lifecycle -------------------------------------------------------------------------------


def test_start_stop_endpoint_and_port_reuse(echo: Any) -> None:
    server = ThreadedServer(echo)
    assert "stopped" in repr(server)
    with pytest.raises(RuntimeError):
        _ = server.endpoint_url
    try:
        assert server.start() is server
        assert server.start() is server  # idempotent
        port = server.port
        assert port > 0
        assert server.endpoint_url == f"http://127.0.0.1:{port}"
        assert repr(server) == f"<ThreadedServer http://127.0.0.1:{port}>"
        assert server.running
        assert httpx.get(server.endpoint_url + "/b/k").json()["path"] == "/b/k"
        server.stop()
        server.stop()  # idempotent
        assert not server.running
        # the port is free again, and the server restarts
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
        with server:
            assert httpx.get(server.endpoint_url + "/b/k").status_code == 200
        assert not server.running
    finally:
        server.stop()


def test_fixed_port_in_use_raises_in_caller(echo: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            ThreadedServer(echo, port=taken.getsockname()[1]).start()


def test_accepts_an_asgi_app_too(echo: Any, serve: Any) -> None:
    server = serve(make_asgi_app(echo))
    assert httpx.put(server.endpoint_url + "/b/k", content=b"abc").json()["length"] == 3


def test_leaves_signal_handlers_and_logging_alone(echo: Any) -> None:
    before_signals = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    root = logging.getLogger()
    before_logging = (list(root.handlers), root.level)
    with ThreadedServer(echo) as server:
        httpx.get(server.endpoint_url + "/b/k")
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (
            before_signals
        )
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before_signals
    assert (list(root.handlers), root.level) == before_logging


def test_tls_options_go_together(echo: Any) -> None:
    with pytest.raises(ValueError, match="together"):
        ThreadedServer(echo, ssl_certfile="cert.pem")


def test_endpoint_url_for_wildcard_and_ipv6() -> None:
    server = ThreadedServer(lambda *a: None, host="0.0.0.0")  # type: ignore[arg-type]
    server._port = 1234  # no need to bind for the formatting
    assert server.endpoint_url == "http://127.0.0.1:1234"
    server.host = "::1"
    assert server.endpoint_url == "http://[::1]:1234"


def test_stop_is_bounded_with_a_stalled_upload(echo: Any, support: Any) -> None:
    server = ThreadedServer(echo, shutdown_timeout=1).start()
    try:
        with connect(server) as sock:
            sock.sendall(
                b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000
            )
            assert support.wait_for(lambda: bool(echo.seen), 10)
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 10
            assert not server.running
    finally:
        server.stop()
    (seen,) = echo.seen
    assert seen.done.wait(5)
    assert isinstance(seen.body_error, IncompleteBody), type(seen.body_error).__mro__


# -- HTTP semantics with httpx ----------------------------------------------------------------


def test_put_and_get_bodies_over_http(echo: Any, serve: Any, impl: str, support: Any) -> None:
    server = serve(echo, http=impl)
    payload = bytes(range(256)) * 20000  # ~5 MiB
    with httpx.Client(base_url=server.endpoint_url) as client:
        doc = client.put("/bucket/a%20b%2Bc?uploads&prefix=x%20y", content=payload).json()
        assert doc["length"] == len(payload)
        assert doc["md5"] == hashlib.md5(payload).hexdigest()
        assert doc["path"] == "/bucket/a%20b%2Bc"
        assert doc["query"] == [["uploads", ""], ["prefix", "x y"]]
        assert doc["host"] == f"127.0.0.1:{server.port}"
        size = 20 * support.MiB + 3
        response = client.get(f"/stream?size={size}")
        assert hashlib.md5(response.content).hexdigest() == support.generated_md5(size)
    stream = echo.streams[-1]
    assert stream.closed.wait(5)
    assert stream.exhausted


def test_chunked_request_body_is_dechunked(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)

    def parts() -> Iterator[bytes]:
        for i in range(100):
            yield bytes([i]) * (1000 + i)

    doc = httpx.put(server.endpoint_url + "/b/k", content=parts()).json()
    expected = b"".join(parts())
    assert doc["length"] == len(expected)
    assert doc["md5"] == hashlib.md5(expected).hexdigest()
    headers = dict(doc["headers"])
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers


def test_response_without_length_is_chunked(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)
    response = httpx.get(server.endpoint_url + "/stream?size=100000&nolength")
    assert response.headers["transfer-encoding"] == "chunked"
    assert len(response.content) == 100000


def test_tls(echo: Any, serve: Any, tls_pair: tuple[str, str]) -> None:
    certfile, keyfile = tls_pair
    server = serve(echo, ssl_certfile=certfile, ssl_keyfile=keyfile)
    assert server.endpoint_url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=certfile)
    doc = httpx.put(server.endpoint_url + "/b/k", content=b"secret", verify=context).json()
    assert doc["scheme"] == "https"
    assert doc["length"] == 6


@pytest.mark.parametrize("tls", [False, True])
def test_stop_is_quick_with_idle_pooled_clients(
    echo: Any, tls_pair: tuple[str, str], tls: bool, impl: str, caplog: pytest.LogCaptureFixture
) -> None:
    certfile, keyfile = tls_pair
    options: dict[str, Any] = {"ssl_certfile": certfile, "ssl_keyfile": keyfile} if tls else {}
    server = ThreadedServer(echo, http=impl, **options).start()
    verify: Any = ssl.create_default_context(cafile=certfile) if tls else True
    try:
        with httpx.Client(verify=verify) as client:  # keeps its connection open, idle
            assert client.get(server.endpoint_url + "/b/k").status_code == 200
            started = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
                server.stop()
            assert time.monotonic() - started < 2
    finally:
        server.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- raw sockets: 100-continue, keep-alive, HEAD, hang-ups ---------------------------------------


def test_expect_continue_error_sends_no_100(errors: Any, serve: Any, impl: str) -> None:
    server = serve(errors, http=impl)
    with connect(server) as sock:
        sock.sendall(
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        buffered = bytearray()
        status, _, body = read_response(sock, buffered)
        assert status.startswith("HTTP/1.1 403"), status
        assert b"AccessDenied" in body
        assert b"100 Continue" not in bytes(buffered)
    assert errors.seen[0].body_chunks == 0


def test_expect_continue_then_body(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)
    with connect(server) as sock:
        sock.sendall(
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        buffered = bytearray()
        interim = recv_until(sock, b"\r\n\r\n", buffered)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(b"hello")
        status, _, body = read_response(sock, buffered)
        assert status.startswith("HTTP/1.1 200")
        assert json.loads(body)["md5"] == hashlib.md5(b"hello").hexdigest()


def test_no_100_without_expect(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)
    with connect(server) as sock:
        sock.sendall(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        buffered = bytearray()
        status, _, body = read_response(sock, buffered)
        assert status.startswith("HTTP/1.1 200"), status
        assert json.loads(body)["length"] == 5


def test_keep_alive_and_head_without_body(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)
    with connect(server) as sock:
        buffered = bytearray()
        sock.sendall(b"HEAD /stream?size=54321 HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(sock, buffered, head_only=True)
        assert status.startswith("HTTP/1.1 200")
        assert headers["content-length"] == "54321"
        # same connection: the next bytes are the next response, not a HEAD body
        sock.sendall(b"GET /b/one HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(sock, buffered)
        assert status.startswith("HTTP/1.1 200"), status
        assert json.loads(body)["path"] == "/b/one"
        sock.sendall(b"PUT /b/two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        status, _, body = read_response(sock, buffered)
        assert json.loads(body)["path"] == "/b/two"
    head_stream = echo.streams[0]
    assert head_stream.produced == 0
    assert head_stream.closed.wait(5)


def test_bodiless_statuses_keep_the_connection_usable(serve: Any, impl: str, support: Any) -> None:
    streams: list[Any] = []

    class Statuses:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            status = int(head.path.strip("/"))
            headers: tuple[tuple[str, str], ...] = (("content-length", "0"),)
            if status == 304:  # a 304 may repeat the object's length (RFC 9110 8.6)
                headers = (("etag", '"x"'), ("content-length", "123"))
            elif status == 404:  # an error document, even for HEAD
                headers = (("content-type", "application/xml"), ("content-length", "7"))
            stream = support.TrackedStream([b"<Error>"] if status == 404 else [])
            streams.append(stream)
            return S3Response(status=status, headers=headers, body=stream)

    server = serve(Statuses(), http=impl)
    with connect(server) as sock:
        buffered = bytearray()
        for request, expected in [
            (b"DELETE /204", "204"),
            (b"GET /304", "304"),
            (b"HEAD /404", "404"),
            (b"GET /200", "200"),
        ]:
            sock.sendall(request + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(
                sock, buffered, head_only=request.startswith(b"HEAD")
            )
            assert status.split()[1] == expected, (request, status)
            assert body == b""
            if expected == "304":
                assert "content-length" not in headers
            if expected == "404":
                assert headers["content-length"] == "7"
    assert all(stream.closed.wait(5) for stream in streams)
    assert streams[2].produced == 0


def test_raw_chunked_framing(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)
    with connect(server) as sock:
        sock.sendall(
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\nA\r\n world!!!!\r\n0\r\n\r\n"
        )
        _, _, body = read_response(sock, bytearray())
        assert json.loads(body)["md5"] == hashlib.md5(b"hello world!!!!").hexdigest()


def test_client_hangs_up_mid_download(echo: Any, serve: Any, impl: str, support: Any) -> None:
    server = serve(echo, http=impl)
    size = 1 << 30
    with connect(server) as sock:
        sock.sendall(f"GET /stream?size={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buffered = bytearray()
        recv_until(sock, b"\r\n\r\n", buffered)
        while len(buffered) < 2 * support.MiB:
            buffered += sock.recv(65536)
        # RST rather than FIN, as a killed client would
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert support.wait_for(lambda: bool(echo.streams), 5)
    stream = echo.streams[0]
    assert stream.closed.wait(5), "the handler's stream was not closed after the hang-up"
    assert stream.produced < size // 2


def test_client_hangs_up_mid_upload(echo: Any, serve: Any, impl: str, support: Any) -> None:
    server = serve(echo, http=impl)
    with connect(server) as sock:
        sock.sendall(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
        sock.sendall(b"x" * support.MiB)
        assert support.wait_for(lambda: bool(echo.seen), 5)
        time.sleep(0.1)
    (seen,) = echo.seen
    assert seen.done.wait(5), "the handler's body iteration did not end after the hang-up"
    assert isinstance(seen.body_error, IncompleteBody), type(seen.body_error).__mro__
    assert seen.body_length <= support.MiB


def test_handler_exception_gives_500(
    serve: Any, impl: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            raise ValueError("bug")

    server = serve(Broken(), http=impl)
    with caplog.at_level(logging.CRITICAL, logger="uvicorn.error"):
        assert httpx.get(server.endpoint_url + "/b/k").status_code == 500


def test_concurrent_requests(echo: Any, serve: Any, impl: str) -> None:
    server = serve(echo, http=impl)
    results: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with httpx.Client(base_url=server.endpoint_url) as client:
            for j in range(10):
                doc = client.put(f"/b/{i}/{j}", content=b"x" * (i * 100 + j)).json()
                with lock:
                    results.append(doc["length"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(i * 100 + j for i in range(16) for j in range(10))
