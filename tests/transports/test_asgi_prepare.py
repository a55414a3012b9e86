"""The ASGI app with a ``PreparingHandler``: the head is decided on the event loop, a refusal
goes out without a worker thread and without reading the body (no ``100 Continue``), and a
small body announced with ``Expect: 100-continue`` is received before the handler runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from pachs3.core.http import BytesStream, RequestHead, S3Response
from pachs3.transports.asgi import PREFETCH_BYTES, make_asgi_app
from pachs3.transports.base import PreparingHandler


class Decision:
    def __init__(self, handler: Preparer, head: RequestHead) -> None:
        self.handler = handler
        self.head = head
        self.refusal = (
            S3Response(status=403, headers=(("content-length", "6"),), body=BytesStream(b"denied"))
            if head.path.startswith("/inputs/")
            else None
        )

    def run(self, body: Iterator[bytes]) -> S3Response:
        events = self.handler.events
        events.append("run")
        self.handler.run_threads.append(threading.get_ident())
        data = b"".join(body)
        events.append(f"read {len(data)}")
        return S3Response(status=200, headers=(), body=BytesStream(data))


class Preparer:
    """Records, in order, what the transport asks of it and what it receives."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.run_threads: list[int] = []
        self.prepare_threads: list[int] = []

    def prepare(self, head: RequestHead) -> Decision:
        self.events.append("prepare")
        self.prepare_threads.append(threading.get_ident())
        return Decision(self, head)

    def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
        return self.prepare(head).run(body)


class Wire:
    """A scripted server side; ``receive`` is logged into the same event list."""

    def __init__(self, events: list[str], body: bytes, pieces: int = 1) -> None:
        self.events = events
        step = max(1, -(-len(body) // pieces))
        chunks = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
        self.messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.events.append("receive")
        if self.messages:
            return self.messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def put(path: str, length: int, *, expect: bool) -> dict[str, Any]:
    headers = [(b"host", b"h"), (b"content-length", str(length).encode())]
    if expect:
        headers.append((b"expect", b"100-continue"))
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }


def serve_one(
    handler: Preparer, scope: dict[str, Any], wire: Wire, backend: str = "asyncio"
) -> int:
    """Run the app on a fresh loop; return the loop thread's id."""
    app = make_asgi_app(handler)
    loop_thread: list[int] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        with anyio.fail_after(10):
            await app(scope, wire.receive, wire.send)

    anyio.run(main, backend=backend)
    return loop_thread[0]


def test_the_gateway_is_a_preparing_handler() -> None:
    from pachs3 import MemoryBackend, SidecarGateway

    with SidecarGateway(MemoryBackend(), inputs={}, output="pipeline") as gateway:
        assert isinstance(gateway, PreparingHandler)
    assert isinstance(Preparer([]), PreparingHandler)


def test_a_refusal_reads_nothing_and_needs_no_worker_thread() -> None:
    events: list[str] = []
    handler = Preparer(events)
    wire = Wire(events, b"x" * 10)
    loop_thread = serve_one(handler, put("/inputs/k", 10, expect=True), wire)
    assert wire.status == 403
    assert wire.body == b"denied"
    assert events == ["prepare"]  # never received: uvicorn would not send 100 Continue
    assert handler.prepare_threads == [loop_thread]
    # The body is still on the connection: it must not be reused for the next request.
    assert wire.headers[b"connection"] == b"close"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_small_accepted_body_with_expect_is_received_before_the_handler_runs(
    backend: str,
) -> None:
    if backend == "trio":
        pytest.importorskip("trio")  # a test extra; the app then runs on anyio's own threads
    events: list[str] = []
    handler = Preparer(events)
    data = b"y" * 5000
    wire = Wire(events, data, pieces=3)
    loop_thread = serve_one(handler, put("/out/k", len(data), expect=True), wire, backend)
    assert wire.status == 200
    assert wire.body == data
    assert events == ["prepare", "receive", "receive", "receive", "run", "read 5000"]
    assert handler.prepare_threads == [loop_thread]
    assert handler.run_threads != [loop_thread]  # the blocking part ran in a worker
    assert b"connection" not in wire.headers  # the whole body was read: keep-alive


def test_a_large_body_with_expect_waits_for_the_handler_to_ask() -> None:
    events: list[str] = []
    handler = Preparer(events)
    data = b"z" * (PREFETCH_BYTES + 1)
    wire = Wire(events, data, pieces=2)
    serve_one(handler, put("/out/k", len(data), expect=True), wire)
    assert wire.body == data
    assert events == ["prepare", "run", "receive", "receive", f"read {len(data)}"]


def test_without_expect_one_chunk_is_taken_before_the_handler_runs() -> None:
    events: list[str] = []
    handler = Preparer(events)
    data = b"w" * 3000
    wire = Wire(events, data, pieces=3)
    serve_one(handler, put("/out/k", len(data), expect=False), wire)
    assert wire.body == data
    assert events == ["prepare", "receive", "run", "receive", "receive", "read 3000"]
