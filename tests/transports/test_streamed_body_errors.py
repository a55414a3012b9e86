"""An error raised while a response body streams, as a client sees it over real HTTP (issue 14,
move 6): the gateway maps it as it maps every other error. Before the status line went out the
client gets an S3 error document (never uvicorn's plain-text 500); after, the connection is
aborted, so the client sees a body shorter than its Content-Length, never a clean 200."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pachs3 import MemoryBackend, SidecarGateway
from pachs3.backends.base import CommitRef, commit

SIZE = 4000


class FailingReads(MemoryBackend):
    """The memory backend, whose reads fail after ``good_chunks`` chunks (a disk or network
    read failing mid-object): the one double here, since a real store does not fail on cue."""

    def __init__(self, good_chunks: int) -> None:
        super().__init__(chunk_size=1000)
        self.good_chunks = good_chunks
        self.armed = False

    def read_file(self, ref: CommitRef, path: str, **options: Any) -> Iterator[bytes]:  # type: ignore[override]
        stream = super().read_file(ref, path, **options)
        return self._failing(stream) if self.armed else stream

    def _failing(self, stream: Iterator[bytes]) -> Iterator[bytes]:
        for sent, chunk in enumerate(stream):
            if sent == self.good_chunks:
                raise OSError("the disk went away")
            if sent == 1:
                time.sleep(0.05)  # ends the first batch: the status line goes out with it
            yield chunk


def serve(good_chunks: int) -> SidecarGateway:
    backend = FailingReads(good_chunks)
    backend.create_repo("in")
    with commit(backend, "in", "master") as info:
        backend.put_file(info.ref, "obj", [b"x" * SIZE])
    backend.armed = True
    return SidecarGateway(backend, inputs={"in": "in@master"})


def test_a_body_failing_before_the_status_line_is_an_s3_error_document() -> None:
    gateway = serve(good_chunks=0)
    with gateway, httpx.Client(timeout=30) as client:
        url = gateway.serve().endpoint_url
        response = client.get(f"{url}/in/obj")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/xml"
    assert b"<Code>InternalError</Code>" in response.content
    assert b"disk" not in response.content  # no internals in the answer
    assert response.headers["x-amz-request-id"]


def test_a_body_failing_after_the_status_line_aborts_the_connection() -> None:
    gateway = serve(good_chunks=2)
    with gateway, httpx.Client(timeout=30) as client:
        url = gateway.serve().endpoint_url
        with client.stream("GET", f"{url}/in/obj") as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(SIZE)
            received = bytearray()

            def read_all() -> None:
                for chunk in response.iter_bytes():
                    received.extend(chunk)

            with pytest.raises(httpx.RemoteProtocolError):
                read_all()
        assert len(received) < SIZE
        # The connection was aborted, not the server: the next request is answered.
        assert client.head(f"{url}/in/obj").status_code == 200
