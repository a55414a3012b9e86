"""A raw HTTP/1.1 keep-alive client that costs the server's neighbour almost nothing.

boto3 spends 0.5-0.6 ms of CPU on every call, which hides what a server does per request. This
client sends pre-built request bytes over ``connections`` keep-alive sockets from one thread
(``selectors``), ``depth`` requests in flight on each (pipelined when ``depth`` > 1), and parses
only what it needs to find where each response ends: the status line, ``Content-Length`` or
chunked framing, and ``Connection: close`` (then it reconnects and re-sends what was not
answered). Requests carry one fixed SigV4 ``Authorization`` header that is never verified: the
sidecar gateway, like Pachyderm's, needs no credentials, the bare app reads no headers, and
moto's server checks that a request is signed but not the signature.

The server's CPU comes from ``/proc/PID/stat`` (user + system time of every thread of its
process, the exited ones included), read just before the first request and just after the last
response, so setting up connections is not charged.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MakeRequest = Callable[[int], "Request"]

# The same SigV4 header on every request: no server measured here verifies signatures without
# configured credentials, but moto's refuses a request with no Authorization as anonymous.
AMZ_DATE = "20251125T190000Z"
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=bench/20251125/us-east-1/s3/aws4_request, "
    "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64
)
HEADERS = {
    "User-Agent": "pachs3-bench-raw",
    "X-Amz-Date": AMZ_DATE,
    "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
    "Authorization": AUTHORIZATION,
}


@dataclass(frozen=True, slots=True)
class Request:
    """Bytes to send, and whether the response to them has no body (HEAD)."""

    data: bytes
    bodiless: bool = False


def request(method: str, target: str, *, host: str, body: bytes = b"") -> Request:
    """A request with the headers every S3 client sends, and a Content-Length when it has a
    body (a PUT) -- no Expect: 100-continue, so the body follows the head at once."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in HEADERS.items()]
    if body or method in ("PUT", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return Request(head + body, bodiless=method == "HEAD")


def server_cpu_seconds(pid: int) -> float:
    """User + system seconds of process ``pid``, all its threads (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Result:
    requests: int
    seconds: float
    errors: int
    server_cpu_seconds: float
    reconnects: int
    first_error: str | None = None

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_us(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6 if self.requests else float("inf")


class ProtocolError(RuntimeError):
    """A response this client cannot frame."""


@dataclass(slots=True)
class _Connection:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    waiting: deque[Request] = field(default_factory=deque)  # sent, not answered yet, in order


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _send(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            selectors.DefaultSelector().select(0.01)  # a full socket buffer: rare, brief
            continue
        view = view[sent:]


def _frame(buffer: bytearray, bodiless: bool) -> tuple[int, int, bool] | None:
    """(length of the first whole response in ``buffer``, status, close) or None if partial."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    close = b"\r\nconnection: close" in head
    start = end + 4
    if bodiless or status in (204, 304) or 100 <= status < 200:
        return start, status, close
    if b"\r\ntransfer-encoding: chunked" in head:
        position = start
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2 + size + 2
            if len(buffer) < position:
                return None
            if size == 0:
                return position, status, close  # no trailers from these servers
    marker = head.find(b"\r\ncontent-length:")
    if marker < 0:
        if close:
            raise ProtocolError("a response delimited by closing the connection")
        return start, status, close
    line_end = head.find(b"\r\n", marker + 2)
    length = int(head[marker + 17 : line_end if line_end >= 0 else len(head)])
    if len(buffer) < start + length:
        return None
    return start + length, status, close


class _Driver:
    """The sockets of one ``drive`` call and what is in flight on each."""

    def __init__(self, address: tuple[str, int], make: MakeRequest, connections: int) -> None:
        self.address = address
        self.make = make
        self.selector = selectors.DefaultSelector()
        self.conns = [_Connection(_connect(address)) for _ in range(connections)]
        for conn in self.conns:
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)
        self.counter = self.in_flight = self.done = self.errors = self.reconnects = 0
        self.first_error: str | None = None

    def issue(self, conn: _Connection) -> None:
        outgoing = self.make(self.counter)
        self.counter += 1
        self.in_flight += 1
        conn.waiting.append(outgoing)
        _send(conn.sock, outgoing.data)

    def reconnect(self, conn: _Connection) -> None:
        self.reconnects += 1
        self.selector.unregister(conn.sock)
        conn.sock.close()
        conn.sock = _connect(self.address)
        conn.buffer.clear()
        self.selector.register(conn.sock, selectors.EVENT_READ, conn)
        for pending in conn.waiting:  # unanswered: send again, in order
            _send(conn.sock, pending.data)

    def receive(self, conn: _Connection, more: bool) -> None:
        """Read what arrived on ``conn``, count whole responses; send the next when ``more``."""
        try:
            data = conn.sock.recv(1 << 18)
        except ConnectionResetError:
            data = b""
        if not data:
            self.reconnect(conn)
            return
        conn.buffer += data
        while conn.waiting and (framed := _frame(conn.buffer, conn.waiting[0].bodiless)):
            length, status, close = framed
            del conn.buffer[:length]
            conn.waiting.popleft()
            self.in_flight -= 1
            if 200 <= status < 300:
                self.done += 1
            else:
                self.errors += 1
                self.first_error = self.first_error or f"HTTP {status}"
            if close:
                self.reconnect(conn)
            if more:
                self.issue(conn)

    def close(self) -> None:
        for conn in self.conns:
            self.selector.unregister(conn.sock)
            conn.sock.close()
        self.selector.close()


def drive(
    endpoint_url: str,
    make: MakeRequest,
    *,
    connections: int,
    seconds: float,
    pid: int,
    depth: int = 1,
) -> Result:
    """Send ``make(i)`` requests for ``seconds`` over ``connections`` sockets, ``depth`` in
    flight on each; count the answers and the server's CPU meanwhile."""
    parts = urlsplit(endpoint_url)
    driver = _Driver((parts.hostname or "127.0.0.1", parts.port or 80), make, connections)
    try:
        cpu = server_cpu_seconds(pid)
        began = time.perf_counter()
        deadline = began + seconds
        for conn in driver.conns:
            for _ in range(depth):
                driver.issue(conn)
        while driver.in_flight:
            more = time.perf_counter() < deadline
            for key, _ in driver.selector.select(1.0):
                driver.receive(key.data, more)
        elapsed = time.perf_counter() - began
        cpu = server_cpu_seconds(pid) - cpu
    finally:
        driver.close()
    return Result(
        requests=driver.done,
        seconds=elapsed,
        errors=driver.errors,
        server_cpu_seconds=cpu,
        reconnects=driver.reconnects,
        first_error=driver.first_error,
    )
