"""Slow and broken clients against the threaded server (uvicorn on 127.0.0.1), by raw socket:
bodies that end before their Content-Length, hang-ups mid-upload and mid-download, stalls,
trickles, readers that stop reading, and connections that never finish their request head.

For each: nothing of an incomplete upload becomes visible (not even a temp file), the worker
is freed (``Probe.idle``), the backend read is released, and time and memory per connection
stay bounded by the server's configured timeouts (``read_timeout``, ``timeout_keep_alive``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest
from hostile_support import (
    Probe,
    RawHTTP,
    Serve,
    request_bytes,
    rss_bytes,
    wait_until,
)

from pachs3 import LocalStore, SidecarGateway

MiB = 1 << 20


def head_status(port: int, path: str) -> int:
    with RawHTTP(port) as client:
        client.send(request_bytes("HEAD", path))
        return client.read_response(head_only=True).status


def temp_files(store: LocalStore) -> list[str]:
    tmp = Path(store.path) / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


def put_head(path: str, length: int, *extra: tuple[str, str]) -> bytes:
    return request_bytes("PUT", path, list(extra), length=length)


# ---------------------------------------------------------------------------------------------
# Uploads that never complete


def test_body_shorter_than_content_length(
    local_gw: SidecarGateway, store: LocalStore, serve: Serve, http_impl: str
) -> None:
    """The client sends 10 of 1000 announced bytes and half-closes: IncompleteBody (S3 answers
    400 for a body that ends early), nothing stored, the worker free, the server still up."""
    probe = Probe(local_gw)
    server = serve(probe, http=http_impl)
    with RawHTTP(server.port) as client:
        client.send(put_head("/out/short", 1000) + b"x" * 10)
        client.sock.shutdown(socket.SHUT_WR)
        try:
            response = client.read_response()
        except ConnectionError:
            response = None  # the server may also just close: the client knows it failed
        if response is not None:
            assert response.status == 400
            assert b"<Code>IncompleteBody</Code>" in response.body
    assert wait_until(probe.idle, 10)
    assert head_status(server.port, "/out/short") == 404
    assert temp_files(store) == []


@pytest.mark.parametrize("sent", [0, 1, 3 * MiB])
def test_hang_up_mid_upload(
    local_gw: SidecarGateway, store: LocalStore, serve: Serve, http_impl: str, sent: int
) -> None:
    probe = Probe(local_gw)
    server = serve(probe, http=http_impl)
    client = RawHTTP(server.port)
    client.send(put_head("/out/cut", 64 * MiB) + b"y" * sent)
    time.sleep(0.3)  # let the handler start consuming
    client.hang_up()
    assert wait_until(probe.idle, 10), "the worker was not freed"
    assert head_status(server.port, "/out/cut") == 404
    assert wait_until(lambda: temp_files(store) == [], 5), temp_files(store)


def test_hang_up_mid_multipart_part(
    local_gw: SidecarGateway, store: LocalStore, serve: Serve, http_impl: str
) -> None:
    probe = Probe(local_gw)
    server = serve(probe, http=http_impl)
    with RawHTTP(server.port) as client:
        client.send(request_bytes("POST", "/out/mp?uploads"))
        started = client.read_response()
    upload_id = started.body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    client = RawHTTP(server.port)
    client.send(put_head(f"/out/mp?partNumber=1&uploadId={upload_id}", 8 * MiB) + b"z" * MiB)
    time.sleep(0.3)
    client.hang_up()
    assert wait_until(probe.idle, 10)
    with RawHTTP(server.port) as client:
        client.send(request_bytes("GET", f"/out/mp?uploadId={upload_id}"))
        listing = client.read_response()
    assert listing.status == 200
    assert b"<Part>" not in listing.body, "a part from a cut upload was kept"
    assert wait_until(lambda: temp_files(store) == [], 5)


def test_stalled_upload_times_out(
    local_gw: SidecarGateway, store: LocalStore, serve: Serve, http_impl: str
) -> None:
    """A body that stops arriving for longer than ``read_timeout`` gets S3's RequestTimeout
    (400) and frees the worker; nothing is stored."""
    probe = Probe(local_gw)
    server = serve(probe, http=http_impl, read_timeout=0.5)
    with RawHTTP(server.port) as client:
        started = time.monotonic()
        client.send(put_head("/out/stall", 100) + b"x" * 10)
        response = client.read_response()
        elapsed = time.monotonic() - started
    assert response.status == 400
    assert b"<Code>RequestTimeout</Code>" in response.body
    assert 0.4 < elapsed < 5
    assert wait_until(probe.idle, 5)
    assert head_status(server.port, "/out/stall") == 404
    assert temp_files(store) == []


def test_trickled_upload_within_the_timeout_is_stored_exactly(
    gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    """``read_timeout`` bounds each silence, not the whole upload (as AWS's idle timeout): a
    client trickling a byte every 0.1 s with a 1 s timeout is slow, not broken."""
    probe = Probe(gw)
    server = serve(probe, http=http_impl, read_timeout=1.0)
    payload = bytes(range(20))
    with RawHTTP(server.port) as client:
        client.send(put_head("/out/trickle", len(payload)))
        for byte in payload:
            client.send(bytes([byte]))
            time.sleep(0.1)
        response = client.read_response()
    assert response.status == 200
    assert response.headers["etag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    with RawHTTP(server.port) as client:
        client.send(request_bytes("GET", "/out/trickle"))
        assert client.read_response().body == payload


# ---------------------------------------------------------------------------------------------
# Downloads the client abandons or reads slowly


@pytest.fixture
def big_input(gw: SidecarGateway) -> int:
    """A 64 MiB object in ``out`` (the memory backend keeps its 1 MiB chunks)."""
    out = gw.output_commit
    assert out is not None
    gw.backend.put_file(out.ref, "big", (bytes([i % 251]) * MiB for i in range(64)))
    return 64 * MiB


def test_hang_up_mid_download_releases_the_read(
    gw: SidecarGateway, serve: Serve, http_impl: str, big_input: int
) -> None:
    probe = Probe(gw)
    server = serve(probe, http=http_impl)
    client = RawHTTP(server.port)
    client.send(request_bytes("GET", "/out/big"))
    got = 0
    while got < 2 * MiB:
        got += len(client.sock.recv(1 << 16))
    client.hang_up()
    assert wait_until(probe.idle, 10), "the response stream was never closed"
    assert probe.streams[-1].produced < 24 * MiB, "the server kept reading for a gone client"
    assert head_status(server.port, "/out/big") == 200  # and it still serves


def test_a_reader_that_stops_reading_holds_bounded_memory(
    gw: SidecarGateway, serve: Serve, http_impl: str, big_input: int
) -> None:
    """Back-pressure: a client that stops reading after 1 MiB makes the server stop reading
    the backend after a few MiB of socket and batch buffers, not buffer the whole object."""
    probe = Probe(gw)
    server = serve(probe, http=http_impl)
    client = RawHTTP(server.port)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.send(request_bytes("GET", "/out/big"))
    got = 0
    while got < MiB:
        got += len(client.sock.recv(1 << 16))
    time.sleep(1.5)  # the server fills what it can meanwhile
    produced = probe.streams[-1].produced
    client.hang_up()
    assert produced < 16 * MiB, f"{produced} bytes read for a client that took 1 MiB"
    assert wait_until(probe.idle, 10)


def test_streamed_upload_memory_is_bounded(
    local_gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    """A 256 MiB upload through the server grows the process by far less than its size."""
    server = serve(local_gw, http=http_impl)
    chunk = os.urandom(MiB)
    digest = hashlib.md5()
    before = rss_bytes()
    peak = before
    with RawHTTP(server.port, timeout=60) as client:
        client.send(put_head("/out/huge", 256 * MiB))
        for _ in range(256):
            client.send(chunk)
            digest.update(chunk)
            peak = max(peak, rss_bytes())
        response = client.read_response()
    assert response.status == 200
    assert response.headers["etag"] == f'"{digest.hexdigest()}"'
    assert peak - before < 64 * MiB, f"RSS grew by {(peak - before) / MiB:.0f} MiB"


# ---------------------------------------------------------------------------------------------
# Connections that never finish their request head (slowloris)


def test_half_sent_heads_do_not_lock_everyone_out(
    gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    server = serve(gw, http=http_impl, limit_concurrency=4, timeout_keep_alive=1)
    idle = [RawHTTP(server.port) for _ in range(4)]
    try:
        for client in idle:
            client.send(b"GET /in/a.txt HTTP/1.1\r\nHost: x\r\n")
        time.sleep(3)
        with RawHTTP(server.port) as client:
            client.send(request_bytes("GET", "/in/a.txt"))
            assert client.read_response().status == 200
    finally:
        for client in idle:
            client.close()


def test_an_idle_connection_is_closed_after_keep_alive(
    gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    """Between requests the keep-alive timeout does bound an idle connection."""
    server = serve(gw, http=http_impl, timeout_keep_alive=1)
    with RawHTTP(server.port) as client:
        client.send(request_bytes("GET", "/in/a.txt"))
        assert client.read_response().status == 200
        assert client.closed_by_peer(4)


def test_server_survives_garbage_and_keeps_serving(
    gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    server = serve(gw, http=http_impl)
    garbage = [
        b"\x00\xff" * 100,
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /in/a.txt HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /in/a.txt HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"PUT /out/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"PUT /out/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        b"GET /in/a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /in/a.txt HTTP/1.1\r\nX: a\rb\r\n\r\n",
        b"\r\n\r\n\r\n",
    ]
    for data in garbage:
        with RawHTTP(server.port, timeout=5) as client:
            try:
                client.send(data)
                client.sock.shutdown(socket.SHUT_WR)
                response = client.read_response()
            except (ConnectionError, OSError):
                continue  # dropping garbage is a fine answer
            assert response.status != 500 or b"InternalError" not in response.body, data
            assert response.status < 500, (data, response.status)
    with RawHTTP(server.port) as client:
        client.send(request_bytes("GET", "/in/a.txt"))
        assert client.read_response().status == 200
    assert head_status(server.port, "/out/k") == 404


def test_input_write_through_the_wire_changes_nothing(
    local_gw: SidecarGateway, store: LocalStore, serve: Serve
) -> None:
    """A whole upload to an input bucket is refused before its body is read (no 100 sent)."""
    server = serve(local_gw)
    with RawHTTP(server.port) as client:
        client.send(put_head("/in/a.txt", 10, ("Expect", "100-continue")))
        response = client.read_response()
    assert response.status == 403
    assert b"AccessDenied" in response.body
    ref = local_gw.input_commits["in"]
    assert store.inspect_file(ref, "a.txt").size == 60
