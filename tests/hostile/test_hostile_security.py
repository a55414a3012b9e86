"""Sidecar security: loopback by default; no repo outside the job's layout reachable by any
addressing trick (Host headers, encoded slashes, dot segments, absolute URIs, copy sources,
version ids, upload ids); inputs read-only under every operation; nothing internal in errors.

The store holds more than the job: a ``secret`` repo, earlier commits of the output repo, the
multipart staging repo and another job's upload. None of it may come back through the gateway.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator

import pytest
from hostile_support import (
    INPUT_BUCKET,
    LEAKS,
    RawHTTP,
    Serve,
    handle_checked,
    input_snapshot,
    request_bytes,
    seed_input,
)

from pachs3 import LocalStore, SidecarGateway
from pachs3.backends.base import commit
from pachs3.core.http import RequestHead
from pachs3.transports.threaded import ThreadedServer

SECRET = b"TOP-SECRET-BYTES"


@pytest.fixture
def crowded(store: LocalStore) -> LocalStore:
    """A store holding the job's input and much it must never show."""
    seed_input(store)
    store.create_repo("secret")
    with commit(store, "secret", "master") as info:
        store.put_file(info.ref, "x", [SECRET])
        store.put_file(info.ref, "in/a.txt", [SECRET])
    store.create_repo("pipeline")
    with commit(store, "pipeline", "master") as info:  # an earlier job's output
        store.put_file(info.ref, "x", [SECRET])
    return store


@pytest.fixture
def job(crowded: LocalStore) -> Iterator[SidecarGateway]:
    with SidecarGateway(
        crowded, inputs={INPUT_BUCKET: f"{INPUT_BUCKET}@master"}, output="pipeline"
    ) as gateway:
        yield gateway


def secret_commits(store: LocalStore) -> list[str]:
    return [info.id for repo in ("secret", "pipeline") for info in store.list_commits(repo)]


def ask(
    gateway: SidecarGateway,
    method: str,
    path: str,
    *,
    query: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    host: str = "127.0.0.1",
    body: bytes = b"",
) -> tuple[int, bytes]:
    if body:
        headers = (*headers, ("content-length", str(len(body))))
    head = RequestHead(method=method, path=path, query=query, headers=headers, host=host)
    answer = handle_checked(gateway, head, [body] if body else [])
    assert answer is not None
    return answer.status, answer.body


# ---------------------------------------------------------------------------------------------
# Where the server listens


def non_loopback_address() -> str | None:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # no packet is sent; it picks a route
        address = str(probe.getsockname()[0])
        if not address.startswith("127."):
            return address
    return None


def test_binds_loopback_unless_told_otherwise(job: SidecarGateway) -> None:
    server = job.serve()
    assert server.host == "127.0.0.1"
    assert server.endpoint_url.startswith("http://127.0.0.1:")
    assert ThreadedServer(job).host == "127.0.0.1"
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises((ConnectionRefusedError, TimeoutError)):
        socket.create_connection((address, server.port), timeout=2).close()


# ---------------------------------------------------------------------------------------------
# Addressing tricks


TRICK_PATHS = [
    "/secret/x",
    "/%73ecret/x",
    "/SECRET/x",
    "/in/../secret/x",
    "/in/..%2Fsecret%2Fx",
    "/in%2F..%2Fsecret/x",
    "/in%2f..%2fsecret%2fx",
    "//secret/x",
    "/./secret/x",
    "/in/./../../secret/x",
    "/pipeline/x",
    "/_pachs3_multipart/x",
    "/in@master/x",
    "/secret@master/x",
    "/out/../pipeline/x",
    "/out%2F..%2Fpipeline/x",
    "/%2e%2e/secret/x",
    "http://secret.localhost/x",
    "http://127.0.0.1/secret/x",
    "https://in.localhost/../secret/x",
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", TRICK_PATHS)
def test_paths_reach_no_other_repo(job: SidecarGateway, method: str, path: str) -> None:
    status, body = ask(job, method, path)
    assert SECRET not in body
    if status == 200:  # only '//secret/x', read as the service root: the bucket list
        assert path.startswith("//")
        assert method == "HEAD" or b"<ListAllMyBucketsResult" in body


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("secret.localhost", "/x"),
        ("secret", "/x"),
        ("secret.127.0.0.1:9000", "/x"),
        ("pipeline.localhost", "/x"),
        ("in.localhost", "/../secret/x"),
        ("in.localhost", "/%2E%2E/secret/x"),
        ("_pachs3_multipart.localhost", "/x"),
        ("in.localhost", "/in/a.txt"),  # the key is 'in/a.txt' of bucket in: no such key
    ],
)
def test_host_headers_reach_no_other_repo(job: SidecarGateway, host: str, path: str) -> None:
    for method in ("GET", "HEAD"):
        status, body = ask(job, method, path, host=host)
        assert SECRET not in body
        assert status != 200


COPY_SOURCES = [
    "secret/x",
    "/secret/x",
    "in/../secret/x",
    "in/..%2Fsecret%2Fx",
    "secret%2Fx",
    "pipeline/x",
    "_pachs3_multipart/x",
    "in@master/a.txt",
    "secret/x?versionId=master",
    "/out/../secret/x",
]


@pytest.mark.parametrize("source", COPY_SOURCES)
def test_copy_sources_reach_no_other_repo(job: SidecarGateway, source: str) -> None:
    status, _ = ask(job, "PUT", "/out/stolen", headers=(("x-amz-copy-source", source),))
    assert status != 200
    started = ask(job, "POST", "/out/stolen", query=(("uploads", ""),))[1]
    upload_id = started.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    status, _ = ask(
        job,
        "PUT",
        "/out/stolen",
        query=(("partNumber", "1"), ("uploadId", upload_id)),
        headers=(("x-amz-copy-source", source),),
    )
    assert status != 200
    assert ask(job, "GET", "/out/stolen")[0] == 404


def test_version_ids_and_markers_reach_no_other_commit(
    job: SidecarGateway, crowded: LocalStore
) -> None:
    for commit_id in [*secret_commits(crowded), "master", "../secret"]:
        status, body = ask(job, "GET", "/in/a.txt", query=(("versionId", commit_id),))
        assert SECRET not in body
        status, body = ask(job, "GET", "/out/x", query=(("versionId", commit_id),))
        # Another commit is NoSuchVersion; a name that cannot be a commit id, InvalidArgument.
        assert status == (404 if commit_id in secret_commits(crowded) else 400)
        assert SECRET not in body
    for query in (
        (("prefix", "../"),),
        (("marker", "../secret"),),
        (("list-type", "2"), ("start-after", "/")),
        (("prefix", "/secret"),),
    ):
        for bucket in ("in", "out"):
            status, body = ask(job, "GET", f"/{bucket}", query=query)
            assert status == 200
            assert SECRET not in body
            assert b"<Key>x</Key>" not in body


def test_only_the_jobs_buckets_exist(job: SidecarGateway) -> None:
    status, body = ask(job, "GET", "/")
    assert status == 200
    assert re.findall(rb"<Name>([^<]*)</Name>", body) == [b"in", b"out"]
    for name in ("secret", "pipeline", "_pachs3_multipart", "other"):
        assert ask(job, "PUT", f"/{name}")[0] == 403  # CreateBucket: the job cannot add one
        assert ask(job, "HEAD", f"/{name}")[0] == 404
        assert ask(job, "GET", f"/{name}")[0] == 404
    assert ask(job, "DELETE", "/in")[0] == 403
    assert ask(job, "DELETE", "/out")[0] == 403


def test_another_jobs_upload_is_not_reachable(crowded: LocalStore) -> None:
    with (
        SidecarGateway(crowded, inputs={"in": "in@master"}, output="job-a") as job_a,
        SidecarGateway(crowded, inputs={"in": "in@master"}, output="job-b") as job_b,
    ):
        started = ask(job_a, "POST", "/out/k", query=(("uploads", ""),))[1]
        upload_id = started.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        upload = (("uploadId", upload_id),)
        ask(job_a, "PUT", "/out/k", query=(("partNumber", "1"), *upload), body=SECRET)
        assert ask(job_b, "GET", "/out/k", query=upload)[0] == 404  # ListParts
        assert (
            ask(job_b, "PUT", "/out/k", query=(("partNumber", "2"), *upload), body=b"x")[0] == 404
        )


# ---------------------------------------------------------------------------------------------
# Inputs are read-only under every operation


def upload_id_of(gateway: SidecarGateway) -> str:
    started = ask(gateway, "POST", "/out/k", query=(("uploads", ""),))[1]
    return started.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()


WRITES: list[tuple[str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], bytes]] = [
    ("PUT", "/in/a.txt", (), (), b"overwrite"),
    ("PUT", "/in/new", (), (), b"new"),
    ("PUT", "/in/a.txt", (), (("x-amz-copy-source", "in/dir/b.bin"),), b""),
    ("PUT", "/in/a.txt", (), (("x-amz-copy-source", "out/k"),), b""),
    (
        "PUT",
        "/in/a.txt",
        (),
        (("x-amz-copy-source", "in/a.txt"), ("x-amz-metadata-directive", "REPLACE")),
        b"",
    ),
    ("DELETE", "/in/a.txt", (), (), b""),
    ("POST", "/in", (("delete", ""),), (), b"<Delete><Object><Key>a.txt</Key></Object></Delete>"),
    ("POST", "/in/a.txt", (("uploads", ""),), (), b""),
    ("PUT", "/in/a.txt", (("partNumber", "1"), ("uploadId", "{upload}")), (), b"part"),
    (
        "PUT",
        "/in/a.txt",
        (("partNumber", "1"), ("uploadId", "{upload}")),
        (("x-amz-copy-source", "in/a.txt"),),
        b"",
    ),
    ("POST", "/in/a.txt", (("uploadId", "{upload}"),), (), b"<CompleteMultipartUpload/>"),
    ("DELETE", "/in/a.txt", (("uploadId", "{upload}"),), (), b""),
    ("PUT", "/in/a.txt", (("acl", ""),), (), b""),
    ("PUT", "/in/a.txt", (("tagging", ""),), (), b"<Tagging/>"),
    ("PUT", "/in", (("versioning", ""),), (), b"<VersioningConfiguration/>"),
    ("PUT", "/in", (("acl", ""),), (), b""),
    ("PUT", "/in", (), (), b""),
    ("DELETE", "/in", (), (), b""),
    ("GET", "/in", (("uploads", ""),), (), b""),
    ("PUT", "/k", (), (), b"virtual-host write"),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body"),
    WRITES,
    ids=[f"{m} {p} {'&'.join(n for n, _ in q)} {h[0][0] if h else ''}" for m, p, q, h, _ in WRITES],
)
def test_inputs_are_read_only(  # noqa: PLR0917 (one argument per parameter)
    job: SidecarGateway,
    crowded: LocalStore,
    method: str,
    path: str,
    query: tuple[tuple[str, str], ...],
    headers: tuple[tuple[str, str], ...],
    body: bytes,
) -> None:
    ask(job, "PUT", "/out/k", body=b"out object")
    upload = upload_id_of(job)
    query = tuple((name, value.replace("{upload}", upload)) for name, value in query)
    before = input_snapshot(job)
    commits_before = [info.id for info in crowded.list_commits(INPUT_BUCKET)]
    host = "in.localhost" if path == "/k" else "127.0.0.1"
    status, _ = ask(job, method, path, query=query, headers=headers, body=body, host=host)
    if not (method == "PUT" and path == "/in" and not query):  # CreateBucket: idempotent 200
        assert status in (403, 404, 501), status
    assert input_snapshot(job) == before
    assert [info.id for info in crowded.list_commits(INPUT_BUCKET)] == commits_before
    assert crowded.inspect_branch(INPUT_BUCKET, "master").head == commits_before[0]


# ---------------------------------------------------------------------------------------------
# Errors show nothing internal, on the wire too


def test_wire_errors_show_no_internals(job: SidecarGateway, serve: Serve, http_impl: str) -> None:
    server = serve(job, http=http_impl)
    probes = [
        request_bytes("GET", "/secret/x"),
        request_bytes("GET", "/in/nope"),
        request_bytes("PUT", "/in/a.txt", body=b"x"),
        request_bytes("POST", "/out?delete", body=b"<Delete><Object></Delete>"),
        request_bytes("GET", "/in/a.txt", [("Range", "bytes=999999-")]),
        request_bytes("GET", "http://secret.localhost/x", host="secret.localhost"),
        request_bytes("GET", "/in/..%2F..%2F..%2Fetc%2Fpasswd"),
        request_bytes("PUT", "/out/k", [("x-amz-copy-source", "/secret/x")]),
    ]
    for probe in probes:
        with RawHTTP(server.port) as client:
            client.send(probe)
            response = client.read_response()
        assert response.status >= 400
        assert not LEAKS.search(response.body), response.body
        assert SECRET not in response.body
        assert b"root:" not in response.body
