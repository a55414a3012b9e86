"""The ASGI app: RequestHead building, body streaming both ways, HEAD, disconnects, mounting.

Driven by httpx's ASGITransport (a real ASGI client) and, where the exact sequence of ASGI
messages matters (100-continue, disconnects, timeouts, batching), by a scripted receive/send.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from pachs3.core.errors import IncompleteBody, RequestTimeout
from pachs3.core.http import BytesStream, RequestHead, S3Response
from pachs3.transports.asgi import head_from_scope, make_asgi_app
from pachs3.transports.base import Handler, normalize_raw_path, parse_query

# -- RequestHead from a scope ----------------------------------------------------------------


def scope_for(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/b/a b",
        "raw_path": b"/b/a%20b",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:9000")],
        "server": ("127.0.0.1", 9000),
        "client": ("127.0.0.1", 50000),
    }
    scope.update(overrides)
    return scope


def test_raw_path_is_kept_percent_encoded() -> None:
    raw = b"/bucket/dir/sp%20ace%2Bplus%25pct%26amp%3Deq%C3%BC%E2%82%AC~.txt"
    head = head_from_scope(scope_for(raw_path=raw, path="ignored"))
    assert head.path == raw.decode()
    # a literal "+" in a path stays a plus; %2F stays distinguishable from "/"
    assert head_from_scope(scope_for(raw_path=b"/b/a+b%2Fc")).path == "/b/a+b%2Fc"


def test_path_falls_back_to_reencoding_the_decoded_path() -> None:
    scope = scope_for(path="/b/a b+c/ü")
    del scope["raw_path"]
    assert head_from_scope(scope).path == "/b/a%20b%2Bc/%C3%BC"


def test_normalize_raw_path_escapes_non_ascii_and_cuts_query() -> None:
    assert normalize_raw_path("/b/ü k".encode()) == "/b/%C3%BC%20k"
    assert normalize_raw_path(b"/b/k?uploads") == "/b/k"
    assert normalize_raw_path(b"") == "/"
    assert normalize_raw_path(b"/b/%7Ek~") == "/b/%7Ek~"


@pytest.mark.parametrize(
    ("query", "pairs"),
    [
        (b"", ()),
        (b"uploads", (("uploads", ""),)),
        (b"uploads=", (("uploads", ""),)),
        (b"delete&x=1", (("delete", ""), ("x", "1"))),
        (
            b"list-type=2&prefix=a%20b&delimiter=&encoding-type=url",
            (("list-type", "2"), ("prefix", "a b"), ("delimiter", ""), ("encoding-type", "url")),
        ),
        (b"prefix=a%2Bb", (("prefix", "a+b"),)),
        (b"prefix=a+b", (("prefix", "a b"),)),  # form decoding, as S3 reads it
        (b"b=2&a=1&b=3", (("b", "2"), ("a", "1"), ("b", "3"))),  # order and repeats kept
        (b"prefix=%C3%BC%E2%82%AC", (("prefix", "ü€"),)),
        (b"prefix=%FF", (("prefix", "\udcff"),)),  # invalid UTF-8 kept, not replaced
    ],
)
def test_query_pairs(query: bytes, pairs: tuple[tuple[str, str], ...]) -> None:
    assert head_from_scope(scope_for(query_string=query)).query == pairs
    assert parse_query(query) == pairs


def test_headers_lower_case_in_order_latin1() -> None:
    headers = [
        (b"Host", b"example:1"),
        (b"X-Amz-Meta-A", b"\xc3\xbc"),
        (b"x-amz-meta-a", b"2"),
        (b"Content-Length", b"3"),
    ]
    head = head_from_scope(scope_for(headers=headers, scheme="https", method="PUT"))
    assert head.headers == (
        ("host", "example:1"),
        ("x-amz-meta-a", "\xc3\xbc"),
        ("x-amz-meta-a", "2"),
        ("content-length", "3"),
    )
    assert head.host == "example:1"
    assert head.scheme == "https"
    assert head.method == "PUT"


def test_host_falls_back_to_server_address() -> None:
    assert head_from_scope(scope_for(headers=[])).host == "127.0.0.1:9000"


@pytest.mark.parametrize(
    ("root_path", "raw_path", "expected"),
    [
        ("/s3", b"/s3/b/a%20b", "/b/a%20b"),
        ("/s3", b"/s3", "/"),
        ("/s3/", b"/s3/b/", "/b/"),
        ("/a b/x", b"/a%20b/x/b/k", "/b/k"),
        ("/s3", b"/other/b/k", "/other/b/k"),  # a server whose path excludes root_path
    ],
)
def test_mount_prefix_is_removed(root_path: str, raw_path: bytes, expected: str) -> None:
    head = head_from_scope(scope_for(root_path=root_path, raw_path=raw_path))
    assert head.path == expected


# -- through httpx.ASGITransport --------------------------------------------------------------


def run_client(app: Any, requests: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await requests(c)

    return anyio.run(main)


def test_put_body_reaches_handler(echo: Any) -> None:
    payload = bytes(range(256)) * 5000
    app = make_asgi_app(echo)

    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.put(
            "/bucket/a%20b%2Bc?uploads&partNumber=1&prefix=x%20y",
            content=payload,
            headers={"X-Amz-Meta-Color": "blue"},
        )

    response = run_client(app, go)
    assert response.status_code == 200
    doc = response.json()
    assert doc["length"] == len(payload)
    assert doc["md5"] == hashlib.md5(payload).hexdigest()
    assert doc["path"] == "/bucket/a%20b%2Bc"
    assert doc["query"] == [["uploads", ""], ["partNumber", "1"], ["prefix", "x y"]]
    assert ["x-amz-meta-color", "blue"] in doc["headers"]
    assert doc["host"] == "testserver"
    assert doc["scheme"] == "http"
    assert echo.streams[0].closed.is_set()


def test_get_without_body_gives_empty_iteration(echo: Any) -> None:
    response = run_client(make_asgi_app(echo), lambda c: c.get("/b/k"))
    assert response.json()["chunks"] == 0
    assert response.json()["length"] == 0


def test_streamed_response_arrives_whole_and_stream_is_closed(echo: Any, support: Any) -> None:
    size = 3 * support.MiB + 17
    response = run_client(make_asgi_app(echo), lambda c: c.get(f"/stream?size={size}&chunk=1000"))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(size)
    assert hashlib.md5(response.content).hexdigest() == support.generated_md5(size)
    (stream,) = echo.streams
    assert stream.exhausted
    assert stream.closed.is_set()
    assert stream.close_calls == 1


def test_head_sends_length_but_no_body_and_closes_unread_stream(echo: Any) -> None:
    response = run_client(make_asgi_app(echo), lambda c: c.head("/stream?size=12345"))
    assert response.status_code == 200
    assert response.headers["content-length"] == "12345"
    assert response.content == b""
    (stream,) = echo.streams
    assert stream.produced == 0
    assert stream.closed.is_set()


def test_mounted_under_a_prefix_in_starlette(echo: Any) -> None:
    host = Starlette(routes=[Mount("/s3", app=make_asgi_app(echo))])
    response = run_client(host, lambda c: c.put("/s3/bucket/k%2By", content=b"abc"))
    assert response.status_code == 200
    assert response.json()["path"] == "/bucket/k%2By"
    assert response.json()["length"] == 3


def test_response_headers_keep_order_and_repeats() -> None:
    class Headers:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            return S3Response(
                status=200,
                headers=(
                    ("x-amz-meta-a", "1"),
                    ("x-amz-meta-a", "2"),
                    ("x-amz-meta-u", "\xc3\xbc"),  # latin-1 text of UTF-8 bytes: sent as such
                    ("content-length", "0"),
                ),
            )

    response = run_client(make_asgi_app(Headers()), lambda c: c.get("/b/k"))
    assert response.headers.get_list("x-amz-meta-a") == ["1", "2"]
    assert response.headers.raw[2] == (b"x-amz-meta-u", "ü".encode())


def test_handler_exception_propagates_to_the_server() -> None:
    class Broken:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        run_client(make_asgi_app(Broken()), lambda c: c.get("/b/k"))


def test_handler_protocol_is_runtime_checkable(echo: Any) -> None:
    assert isinstance(echo, Handler)
    assert not isinstance(make_asgi_app(echo), Handler)


# -- scripted receive/send ---------------------------------------------------------------------


class Script:
    """A scripted ASGI server side: ``receive`` replays messages, ``send`` records them."""

    def __init__(self, messages: list[dict[str, Any]] | None = None) -> None:
        self.messages = list(messages or [])
        self.receive_calls = 0
        self.receive_before_response = 0  # what would make uvicorn send "100 Continue"
        self.sent: list[dict[str, Any]] = []
        self.block = anyio.Event()  # receive() blocks here once the script is exhausted

    async def receive(self) -> dict[str, Any]:
        self.receive_calls += 1
        if not self.sent:
            self.receive_before_response += 1
        if self.messages:
            message = self.messages.pop(0)
            if message.get("type") == "sleep":
                await anyio.sleep(message["seconds"])
                return self.messages.pop(0)
            return message
        await self.block.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def call(app: Any, scope: dict[str, Any], script: Script, timeout: float = 10) -> None:
    async def main() -> None:
        with anyio.fail_after(timeout):
            await app(scope, script.receive, script.send)

    anyio.run(main)


def put_scope(length: int | None, expect: bool = False) -> dict[str, Any]:
    headers = [(b"host", b"h")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    if expect:
        headers.append((b"expect", b"100-continue"))
    return scope_for(method="PUT", raw_path=b"/b/k", headers=headers)


def test_no_receive_for_a_request_without_body(echo: Any) -> None:
    script = Script()
    call(make_asgi_app(echo), scope_for(), script)
    assert script.status == 200
    assert script.receive_before_response == 0


def test_expect_continue_error_never_reads_the_body(errors: Any) -> None:
    # uvicorn sends "100 Continue" on the app's first receive(); an error answered without
    # reading must therefore never call receive().
    script = Script([{"type": "http.request", "body": b"x" * 10, "more_body": False}])
    call(make_asgi_app(errors), put_scope(10, expect=True), script)
    assert script.status == 403
    assert script.receive_calls == 0
    assert errors.seen[0].body_chunks == 0


def test_expect_continue_body_read_only_when_handler_iterates(echo: Any) -> None:
    script = Script(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]
    )
    call(make_asgi_app(echo), put_scope(4, expect=True), script)
    doc = json.loads(script.body)
    assert (doc["length"], doc["chunks"]) == (4, 2)
    assert doc["md5"] == hashlib.md5(b"abcd").hexdigest()


def test_chunked_body_without_length_is_read(echo: Any) -> None:
    script = Script(
        [
            {"type": "http.request", "body": b"hello ", "more_body": True},
            {"type": "http.request", "body": b"world", "more_body": False},
        ]
    )
    call(make_asgi_app(echo), put_scope(None), script)
    assert json.loads(script.body)["md5"] == hashlib.md5(b"hello world").hexdigest()


def test_disconnect_mid_upload_raises_in_the_handler_every_time() -> None:
    outcomes: list[BaseException] = []

    class Persistent:
        """Keeps iterating after the first error: it must never see a clean end."""

        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            for _ in range(2):
                try:
                    for _chunk in body:
                        pass
                except IncompleteBody as exc:
                    outcomes.append(exc)
            return S3Response(status=400)

    script = Script(
        [
            {"type": "http.request", "body": b"x" * 100, "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    call(make_asgi_app(Persistent()), put_scope(1000), script)
    assert len(outcomes) == 2
    assert all(isinstance(exc, IncompleteBody) for exc in outcomes)


def test_stalled_body_times_out(echo: Any) -> None:
    script = Script([{"type": "http.request", "body": b"x", "more_body": True}])
    app = make_asgi_app(echo, read_timeout=0.2)
    with pytest.raises(RequestTimeout):
        call(app, put_scope(1000), script)
    (seen,) = echo.seen
    assert isinstance(seen.body_error, RequestTimeout)
    assert seen.body_length == 1


def test_body_can_be_read_from_another_thread() -> None:
    class Delegating:
        """Hands the body to a thread of its own (as a pipelined backend writer might)."""

        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            received: list[bytes] = []
            reader = threading.Thread(target=lambda: received.extend(body))
            reader.start()
            reader.join()
            data = b"".join(received)
            return S3Response(
                status=200, headers=(("content-length", str(len(data))),), body=BytesStream(data)
            )

    script = Script(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]
    )
    call(make_asgi_app(Delegating()), put_scope(4, expect=True), script)
    assert script.body == b"abcd"


def test_body_cannot_be_read_after_handle_returns() -> None:
    kept: list[Iterator[bytes]] = []

    class Keeper:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            kept.append(body)
            return S3Response(status=200)

    script = Script([{"type": "http.request", "body": b"abc", "more_body": False}])
    call(make_asgi_app(Keeper()), put_scope(3, expect=True), script)
    with pytest.raises(RuntimeError, match="while handle"):
        next(kept[0])


def test_client_disconnect_mid_download_closes_stream(echo: Any, support: Any) -> None:
    size = 1 << 30

    class Disconnecting(Script):
        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if len(self.sent) == 5:
                self.block.set()  # the watcher's receive() now reports http.disconnect

    script = Disconnecting()
    scope = scope_for(raw_path=b"/stream", path="/stream", query_string=f"size={size}".encode())
    call(make_asgi_app(echo), scope, script)
    (stream,) = echo.streams
    assert stream.closed.is_set()
    assert stream.produced < size // 4
    assert all(m.get("more_body") for m in script.sent[1:])  # never completed


def test_small_chunks_are_batched_per_thread_hop(
    echo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pachs3.transports import asgi_response

    hops: list[int] = []
    original = asgi_response.pull_batch

    def counting(stream: Any, max_bytes: int) -> tuple[list[bytes], bool]:
        chunks, done = original(stream, max_bytes)
        hops.append(len(chunks))
        return chunks, done

    monkeypatch.setattr(asgi_response, "pull_batch", counting)
    size = 4096 * 256
    script = Script()
    scope = scope_for(
        raw_path=b"/stream", path="/stream", query_string=f"size={size}&chunk=256".encode()
    )
    call(make_asgi_app(echo, response_batch_bytes=64 * 1024), scope, script)
    assert len(script.body) == size
    assert sum(hops) == 4096  # every chunk sent as produced, none copied or merged
    assert len(hops) <= size // (64 * 1024) + 2  # but pulled 256 per thread hop, not 1
    assert echo.streams[0].exhausted
    assert echo.streams[0].closed.is_set()


def test_stream_failing_mid_body_aborts_the_response() -> None:
    class Failing:
        def __init__(self) -> None:
            self.closed = threading.Event()
            self.count = 0

        def __iter__(self) -> Iterator[bytes]:
            return self

        def __next__(self) -> bytes:
            self.count += 1
            if self.count > 3:
                raise OSError("disk gone")
            return b"x" * 1000

        def close(self) -> None:
            self.closed.set()

    stream = Failing()

    class Handler_:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            return S3Response(status=200, headers=(("content-length", "10000"),), body=stream)

    script = Script()
    with pytest.raises(OSError, match="disk gone"):
        call(make_asgi_app(Handler_()), scope_for(), script)
    assert stream.closed.is_set()
    assert all(m.get("more_body", False) for m in script.sent[1:])  # never completed


def test_lifespan_is_acknowledged(echo: Any) -> None:
    script = Script([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    call(make_asgi_app(echo), {"type": "lifespan", "asgi": {"version": "3.0"}}, script)
    assert [m["type"] for m in script.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_websocket_is_refused(echo: Any) -> None:
    script = Script([{"type": "websocket.connect"}])
    call(make_asgi_app(echo), {"type": "websocket", "path": "/", "headers": []}, script)
    assert script.sent == [{"type": "websocket.close", "code": 1008}]


def test_in_memory_body_is_sent_without_hops() -> None:
    class Small:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            return S3Response(
                status=404, headers=(("content-length", "5"),), body=BytesStream(b"<Err>")
            )

    script = Script()
    call(make_asgi_app(Small()), scope_for(), script)
    assert script.status == 404
    assert script.body == b"<Err>"


def test_invalid_batch_size_is_refused(echo: Any) -> None:
    with pytest.raises(ValueError, match="positive"):
        make_asgi_app(echo, response_batch_bytes=0)
