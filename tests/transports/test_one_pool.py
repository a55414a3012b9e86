"""One thread pool per served gateway (issue 14, move 6): every blocking call of a request (the
handler, each batch of its streamed body, the body's close) runs in the project's worker
pool, never in anyio's as well, so ``max_threads`` bounds the whole request, not each half."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx

from pachs3.core.http import RequestHead, S3Response
from pachs3.transports.threaded import ThreadedServer

LIMIT = 2
CHUNKS = 6
CHUNK = b"x" * 1000


class Busy:
    """Counts the blocking calls running at once, and the threads they ran in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.threads: set[str] = set()

    def work(self, seconds: float) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(seconds)
        finally:
            with self._lock:
                self.now -= 1


class SlowBody:
    """A streamed response whose every chunk costs 30 ms of blocking work, so the first batch
    holds two chunks (the batch waits 5 ms at most) and the rest are pulled in later hops."""

    def __init__(self, busy: Busy) -> None:
        self._busy = busy
        self._left = CHUNKS

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if not self._left:
            raise StopIteration
        self._left -= 1
        self._busy.work(0.03)
        return CHUNK

    def close(self) -> None:
        self._busy.work(0)


class SlowHandler:
    def __init__(self) -> None:
        self.busy = Busy()

    def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
        self.busy.work(0.03)
        return S3Response(
            status=200,
            headers=(("content-length", str(CHUNKS * len(CHUNK))),),
            body=SlowBody(self.busy),
        )


def test_a_request_never_uses_more_threads_than_the_limit() -> None:
    handler = SlowHandler()
    results: list[bytes] = []
    with ThreadedServer(handler, max_threads=LIMIT) as server:

        def fetch(n: int) -> None:
            with httpx.Client(timeout=30) as client:
                results.append(client.get(f"{server.endpoint_url}/b/k{n}").content)

        clients = [threading.Thread(target=fetch, args=(n,)) for n in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
    assert results == [CHUNK * CHUNKS] * 8
    # The limit was reached (the test exercised it) and never passed.
    assert handler.busy.most == LIMIT
    # Handler, body batches and closes all ran in the project's pool.
    assert handler.busy.threads == {"pachs3-worker"}
