"""Backend faults injected with ``FaultyBackend`` (a wrapper delegating to the memory backend or
the embedded store): a read that fails mid-GET aborts the connection so the client sees a short
read, never a complete-looking 200; a write that fails mid-PUT (or mid-part, mid-copy,
mid-compose) leaves nothing visible; errors never show a path or a traceback."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ResponseStreamingError
from hostile_support import (
    INPUT_BUCKET,
    LEAKS,
    Fault,
    FaultPlan,
    FaultyBackend,
    RawHTTP,
    Serve,
    check_answer,
    request_bytes,
    seed_input,
    unavailable,
)

from pachs3 import LocalStore, MemoryBackend, SidecarGateway
from pachs3.backends.base import Backend, CommitRef, FileInfo
from pachs3.core.http import RequestHead

MiB = 1 << 20
SECRET_PATH = "/var/lib/pachs3/secret-store/blobs/ab/cd"


@pytest.fixture(params=["memory", "local"])
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FaultyBackend]:
    inner: Backend = MemoryBackend() if request.param == "memory" else LocalStore(tmp_path / "s")
    seed_input(inner)
    try:
        yield FaultyBackend(inner, FaultPlan(error=lambda: Fault(f"disk failed at {SECRET_PATH}")))
    finally:
        inner.close()


@pytest.fixture
def fgw(faulty: FaultyBackend) -> Iterator[SidecarGateway]:
    with SidecarGateway(
        faulty, inputs={INPUT_BUCKET: f"{INPUT_BUCKET}@master"}, output="pipeline"
    ) as gateway:
        yield gateway


def call(
    gateway: SidecarGateway,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    query: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> tuple[int, str | None, bytes, tuple[tuple[str, str], ...]]:
    if body:
        headers = (*headers, ("content-length", str(len(body))))
    head = RequestHead(method=method, path=path, query=query, headers=headers)
    answer = check_answer(
        head, gateway.handle(head, iter([body] if body else [])), allow_internal=True
    )
    return answer.status, answer.code, answer.body, answer.headers


def store_big(gateway: SidecarGateway, size: int = 8 * MiB) -> bytes:
    data = os.urandom(size)
    assert call(gateway, "PUT", "/out/big", data)[0] == 200
    return data


def temp_files(backend: FaultyBackend) -> list[str]:
    if not isinstance(backend.inner, LocalStore):
        return []
    tmp = Path(backend.inner.path) / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


# ---------------------------------------------------------------------------------------------
# Reads that fail midway


def test_a_damaged_blob_never_reads_as_a_whole_object_on_the_one_snapshot_path(
    tmp_path: Path,
) -> None:
    """LocalStore answers a GET with ``open_file`` (entry, checks and stream from one snapshot;
    the FaultyBackend wrapper above only offers the inspect-then-read path). A blob cut short
    on disk must still abort the body, never a short clean end: the body raises
    ResponseBodyFailed (the gateway's mapped 500 answer, for a transport that has not sent the
    status line yet) caused by the store's Truncated."""
    from pachs3.backends import Truncated
    from pachs3.core.http import ResponseBodyFailed

    with LocalStore(tmp_path / "s") as store:
        seed_input(store)
        with SidecarGateway(
            store, inputs={INPUT_BUCKET: f"{INPUT_BUCKET}@master"}, output="pipeline"
        ) as gateway:
            data = store_big(gateway, 3 * MiB)
            digest = hashlib.sha256(data).hexdigest()
            blob = Path(store.path) / "blobs" / digest[:2] / digest
            with open(blob, "r+b") as damaged:
                damaged.truncate(MiB)
            head = RequestHead(method="GET", path="/out/big")
            response = gateway.handle(head, iter([]))
            assert response.status == 200
            assert dict(response.headers)["content-length"] == str(len(data))
            received: list[int] = []

            def drain() -> None:
                for chunk in response.body:
                    received.append(len(chunk))

            with pytest.raises(ResponseBodyFailed) as failed:
                drain()
            response.body.close()
            assert failed.value.response.status == 500
            assert isinstance(failed.value.__cause__, Truncated)
            assert sum(received) < len(data)


@pytest.mark.parametrize("fail_after", [100, 3 * MiB])
def test_a_read_failing_mid_get_is_a_short_read_on_the_wire(
    fgw: SidecarGateway, faulty: FaultyBackend, serve: Serve, http_impl: str, fail_after: int
) -> None:
    """Failing inside the first batch the server pulls (before the status line) gives a bare
    500; failing later aborts a 200 whose body is shorter than its Content-Length. Never a
    complete-looking 200, and the server keeps serving."""
    data = store_big(fgw)
    faulty.plan.read_after = fail_after
    server = serve(fgw, http=http_impl)
    with RawHTTP(server.port, timeout=20) as client:
        client.send(request_bytes("GET", "/out/big"))
        response = client.read_response()
    assert faulty.plan.injected >= 1
    assert not (response.status == 200 and response.complete), "a truncated body looked whole"
    if response.status == 200:
        assert len(response.body) < len(data)
        assert data.startswith(response.body), "the bytes before the failure were wrong"
    else:
        assert response.status == 500
        assert not LEAKS.search(response.body)
        assert SECRET_PATH.encode() not in response.body
    faulty.plan.read_after = None
    with RawHTTP(server.port, timeout=20) as client:
        client.send(request_bytes("GET", "/out/big"))
        again = client.read_response()
    assert again.complete
    assert again.body == data


def boto_http(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def test_boto3_over_http_sees_the_failure_as_an_error(
    fgw: SidecarGateway, faulty: FaultyBackend, serve: Serve
) -> None:
    data = store_big(fgw)
    faulty.plan.read_after = 3 * MiB
    s3: Any = boto_http(serve(fgw).endpoint_url)
    with pytest.raises(ResponseStreamingError) as failure:
        assert s3.get_object(Bucket="out", Key="big")["Body"].read() != data
    assert SECRET_PATH not in str(failure.value)


def test_boto3_in_process_sees_the_failure_as_an_error(
    fgw: SidecarGateway, faulty: FaultyBackend
) -> None:
    data = store_big(fgw)
    faulty.plan.read_after = 3 * MiB
    s3 = fgw.client(config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ResponseStreamingError):
        assert s3.get_object(Bucket="out", Key="big")["Body"].read() != data


def test_boto3_in_process_failure_shows_no_internals(
    fgw: SidecarGateway, faulty: FaultyBackend
) -> None:
    store_big(fgw)
    faulty.plan.read_after = 3 * MiB
    s3 = fgw.client(config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ResponseStreamingError) as failure:
        s3.get_object(Bucket="out", Key="big")["Body"].read()
    assert SECRET_PATH not in str(failure.value)


def test_a_listing_whose_walk_fails_is_an_internal_error(
    fgw: SidecarGateway, faulty: FaultyBackend
) -> None:
    call(fgw, "PUT", "/out/a", b"x")
    faulty.plan.fail_methods = frozenset({"walk_files"})
    status, code, body, _ = call(fgw, "GET", "/out", query=(("list-type", "2"),))
    assert (status, code) == (500, "InternalError")
    assert SECRET_PATH.encode() not in body


def test_an_unavailable_backend_is_503_and_retryable(
    fgw: SidecarGateway, faulty: FaultyBackend
) -> None:
    faulty.plan.fail_methods = frozenset({"inspect_file"})
    faulty.plan.error = unavailable
    status, code, _, _ = call(fgw, "GET", "/in/a.txt")
    assert (status, code) == (503, "ServiceUnavailable")


# ---------------------------------------------------------------------------------------------
# Writes that fail midway leave nothing


@pytest.mark.parametrize("fail_after", [0, 1, MiB])
def test_a_put_failing_midway_stores_nothing(
    fgw: SidecarGateway, faulty: FaultyBackend, fail_after: int
) -> None:
    call(fgw, "PUT", "/out/k", b"old")
    faulty.plan.write_after = fail_after
    status, code, body, _ = call(fgw, "PUT", "/out/k", os.urandom(2 * MiB))
    assert (status, code) == (500, "InternalError")
    assert SECRET_PATH.encode() not in body
    assert faulty.plan.injected == 1
    faulty.plan.write_after = None
    assert call(fgw, "GET", "/out/k")[2] == b"old", "a failed PUT replaced the object"
    assert temp_files(faulty) == []
    assert call(fgw, "PUT", "/out/k", b"new")[0] == 200
    assert call(fgw, "GET", "/out/k")[2] == b"new"


def test_a_put_failing_midway_over_the_wire(
    fgw: SidecarGateway, faulty: FaultyBackend, serve: Serve, http_impl: str
) -> None:
    faulty.plan.write_after = 3 * MiB
    server = serve(fgw, http=http_impl)
    payload = os.urandom(8 * MiB)
    with RawHTTP(server.port, timeout=20) as client:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.send(request_bytes("PUT", "/out/wire", body=payload))
        response = client.read_response()
    assert response.status == 500
    assert not LEAKS.search(response.body)
    faulty.plan.write_after = None
    with RawHTTP(server.port) as client:
        client.send(request_bytes("HEAD", "/out/wire"))
        assert client.read_response(head_only=True).status == 404
    assert temp_files(faulty) == []


def test_a_part_failing_midway_is_not_kept(fgw: SidecarGateway, faulty: FaultyBackend) -> None:
    started = call(fgw, "POST", "/out/mp", query=(("uploads", ""),))
    upload_id = started[2].split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    upload = (("uploadId", upload_id),)
    faulty.plan.write_after = 1000
    status = call(fgw, "PUT", "/out/mp", b"p" * 5000, query=(("partNumber", "1"), *upload))[0]
    assert status == 500
    faulty.plan.write_after = None
    parts = call(fgw, "GET", "/out/mp", query=upload)
    assert parts[0] == 200
    assert b"<Part>" not in parts[2]
    answer = call(fgw, "PUT", "/out/mp", b"q" * 10, query=(("partNumber", "1"), *upload))
    etag = dict(answer[3])["etag"]
    doc = (
        f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
        "</CompleteMultipartUpload>"
    ).encode()
    faulty.plan.fail_methods = frozenset({"compose_file"})
    assert call(fgw, "POST", "/out/mp", doc, query=upload)[0] == 500
    assert call(fgw, "HEAD", "/out/mp")[0] == 404, "a failed completion made the object visible"
    faulty.plan.fail_methods = frozenset()
    assert call(fgw, "POST", "/out/mp", doc, query=upload)[0] == 200, "the retry must work"
    assert call(fgw, "GET", "/out/mp")[2] == b"q" * 10
    assert temp_files(faulty) == []


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("copy_file", ("PUT", (), (("x-amz-copy-source", "in/a.txt"),))),
        ("delete_file", ("DELETE", (), ())),
        ("start_commit", ("POST", (("uploads", ""),), ())),
        (
            "inspect_file",
            ("PUT", (), (("x-amz-copy-source", "out/k"), ("x-amz-metadata-directive", "REPLACE"))),
        ),
    ],
    ids=["copy", "delete", "create-upload", "copy-source-inspect"],
)
def test_other_failing_writes_change_nothing(
    fgw: SidecarGateway,
    faulty: FaultyBackend,
    method: str,
    request_: tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]],
) -> None:
    call(fgw, "PUT", "/out/k", b"kept")
    faulty.plan.fail_methods = frozenset({method})
    verb, query, headers = request_
    status, code, body, _ = call(fgw, verb, "/out/k", query=query, headers=headers)
    assert (status, code) == (500, "InternalError")
    assert SECRET_PATH.encode() not in body
    faulty.plan.fail_methods = frozenset()
    assert call(fgw, "GET", "/out/k")[2] == b"kept"
    uploads = call(fgw, "GET", "/out", query=(("uploads", ""),))[2]
    assert b"<Upload>" not in uploads


# ---------------------------------------------------------------------------------------------
# A read racing a write of the same key


class RacyBackend(FaultyBackend):
    """Replaces a file right after the gateway inspected it and before it reads it: a
    concurrent writer landing between the two calls of ``executor._read_file`` (``times``
    inspections in a row: more than the executor's READ_ATTEMPTS is an object rewritten faster
    than it can be read)."""

    replacement: bytes | None = None
    times = 1

    def inspect_file(self, ref: CommitRef, path: str) -> FileInfo:
        info = super().inspect_file(ref, path)
        if self.replacement is not None and self.times > 0:
            self.times -= 1
            data = self.replacement + bytes([self.times])
            self.inner.put_file(ref, path, [data])
        return info


@pytest.mark.parametrize(("old", "new"), [(b"a" * 10, b"b" * 300), (b"a" * 300, b"b" * 10)])
def test_a_read_racing_a_write_sees_one_version(tmp_path: Path, old: bytes, new: bytes) -> None:
    """A GET whose object is replaced between inspection and read answers one whole version,
    with that version's headers (it was bug 3: old headers over new bytes)."""
    inner = LocalStore(tmp_path / "s")
    seed_input(inner)
    racy = RacyBackend(inner)
    try:
        with SidecarGateway(racy, inputs={"in": "in@master"}, output="pipeline") as gateway:
            call(gateway, "PUT", "/out/k", old)
            racy.replacement = new
            head = RequestHead(method="GET", path="/out/k")
            answer = check_answer(head, gateway.handle(head, iter([])))
            etag = answer.header("etag")
            assert answer.status == 200
            assert etag == f'"{hashlib.md5(answer.body).hexdigest()}"', "headers of another version"
            assert answer.header("content-length") == str(len(answer.body))
            assert answer.body in (old, new + b"\x00")
    finally:
        inner.close()


def test_an_object_rewritten_faster_than_it_is_read_is_slow_down(tmp_path: Path) -> None:
    inner = MemoryBackend()
    seed_input(inner)
    racy = RacyBackend(inner)
    with SidecarGateway(racy, inputs={"in": "in@master"}, output="pipeline") as gateway:
        call(gateway, "PUT", "/out/k", b"v0")
        racy.replacement, racy.times = b"v", 10
        status, code, _, _ = call(gateway, "GET", "/out/k")
        assert (status, code) == (503, "SlowDown")  # retryable: every SDK backs off and retries
