"""The executor's handlers, called directly: execute(plan, store, body) on a real backend.

Each backend is opened the way the gateway opens it (``Store.of``): LocalStore with its own
read handle, MemoryBackend through ``InspectedFile``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pachs3.backend_errors import s3_error_for
from pachs3.backends import Conflict, LocalStore, MemoryBackend, NotFound, commit
from pachs3.backends.base import Backend, CommitInfo, InspectedFile
from pachs3.core import errors, outcomes, plans
from pachs3.core.body import IncomingBody
from pachs3.core.multipart import MIN_PART_SIZE, STAGING_REPO
from pachs3.core.refs import CommitRef
from pachs3.executor import READ_ATTEMPTS, Store, execute

SPEC = plans.BodySpec


@pytest.fixture(params=["local", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: Backend = LocalStore(tmp_path / "s") if request.param == "local" else MemoryBackend()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def out(backend: Backend) -> CommitInfo:
    backend.create_repo("in")
    with commit(backend, "in", "master") as info:
        backend.put_file(info.ref, "a.txt", [b"0123456789"])
    backend.create_repo("pipeline")
    backend.create_repo(STAGING_REPO)
    return backend.start_commit("pipeline", "master", empty=True)


def run(plan: plans.Plan, backend: Backend, body: bytes = b"") -> outcomes.Outcome:
    outcome, _response = execute(plan, Store.of(backend), IncomingBody(iter([body])))
    return outcome


def test_store_of_decides_how_files_are_opened(backend: Backend) -> None:
    store = Store.of(backend)
    if isinstance(backend, LocalStore):
        assert store.open_file == backend.open_file
    else:
        assert store.open_file.func is InspectedFile  # type: ignore[attr-defined]


def test_write_then_ranged_read(backend: Backend, out: CommitInfo) -> None:
    written = run(
        plans.WriteFile(ref=out.ref, bucket="out", path="k", body=SPEC(content_length=5)),
        backend,
        b"hello",
    )
    assert isinstance(written, outcomes.FileWritten)
    read = run(
        plans.ReadFile(ref=out.ref, bucket="out", path="k", range_header="bytes=1-3"), backend
    )
    assert isinstance(read, outcomes.FileRead)
    assert read.body is not None
    assert b"".join(read.body) == b"ell"
    assert read.info.etag == written.info.etag
    head = run(plans.ReadFile(ref=out.ref, bucket="out", path="k", head_only=True), backend)
    assert isinstance(head, outcomes.FileRead)
    assert head.body is None


def test_a_missing_key_and_a_missing_bucket(backend: Backend, out: CommitInfo) -> None:
    with pytest.raises(errors.NoSuchKey):
        run(plans.ReadFile(ref=out.ref, bucket="out", path="nope"), backend)
    with pytest.raises(errors.NoSuchKey):
        run(plans.Answer(file_must_exist=(out.ref, "nope")), backend)
    gone = CommitRef(repo="pipeline", id="0" * 32)
    with pytest.raises(errors.NoSuchBucket):
        run(plans.ReadFile(ref=gone, bucket="out", path="k"), backend)


def test_list_folds_common_prefixes(backend: Backend, out: CommitInfo) -> None:
    for key in ("a/1", "a/2", "b", "c/3"):
        backend.put_file(out.ref, key, [b"x"])
    listed = run(plans.ListFiles(ref=out.ref, bucket="out", version=2, delimiter="/"), backend)
    assert isinstance(listed, outcomes.Listed)
    assert [f.path for f in listed.files] == ["b"]
    assert listed.prefixes == ("a/", "c/")
    assert not listed.truncated


def test_copy_checks_the_source_conditions(backend: Backend, out: CommitInfo) -> None:
    src = backend.inspect_commit("in", "master").ref
    copy = plans.CopyFile(
        src=src, src_bucket="in", src_path="a.txt", dst=out.ref, dst_bucket="out", dst_path="c"
    )
    copied = run(copy, backend)
    assert isinstance(copied, outcomes.FileCopied)
    assert b"".join(backend.read_file(out.ref, "c")) == b"0123456789"
    refused = plans.CopyFile(
        src=src, src_bucket="in", src_path="a.txt", dst=out.ref, dst_bucket="out", dst_path="d",
        source_conditions=plans.ReadConditions(if_match='"other"'),
    )  # fmt: skip
    with pytest.raises(errors.PreconditionFailed):
        run(refused, backend)
    with pytest.raises(NotFound):
        backend.inspect_file(out.ref, "d")


def test_delete_objects_reports_each_key(backend: Backend, out: CommitInfo) -> None:
    backend.put_file(out.ref, "k", [b"x"])
    document = b"<Delete><Object><Key>k</Key></Object><Object><Key>never</Key></Object></Delete>"
    done = run(
        plans.DeleteFiles(ref=out.ref, bucket="out", body=SPEC(content_length=len(document))),
        backend,
        document,
    )
    assert isinstance(done, outcomes.FilesDeleted)
    assert done.deleted == ("k", "never")  # a missing key counts as deleted, as AWS answers
    assert done.failed == ()
    assert [f.path for f in backend.walk_files(out.ref)] == []


def test_multipart_from_start_to_completion(backend: Backend, out: CommitInfo) -> None:
    started = run(
        plans.StartUpload(dst=out.ref, bucket="out", path="big", staging_repo=STAGING_REPO), backend
    )
    assert isinstance(started, outcomes.UploadStarted)
    upload = plans.UploadRef(
        staging=CommitRef(repo=STAGING_REPO, id=started.upload_id),
        bucket="out",
        key="big",
        dst=out.ref,
    )
    first, last = b"a" * MIN_PART_SIZE, b"tail"
    etags = []
    for number, data in ((1, first), (2, last)):
        part = run(
            plans.WritePart(upload=upload, part_number=number, body=SPEC(content_length=len(data))),
            backend,
            data,
        )
        assert isinstance(part, outcomes.PartWritten)
        etags.append(part.etag)
    document = (
        "<CompleteMultipartUpload>"
        + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
            for n, e in enumerate(etags, 1)
        )
        + "</CompleteMultipartUpload>"
    ).encode()
    done = run(
        plans.ComposeParts(upload=upload, dst=out.ref, body=SPEC(content_length=len(document))),
        backend,
        document,
    )
    assert isinstance(done, outcomes.PartsComposed)
    assert done.info.etag.endswith("-2")
    assert b"".join(backend.read_file(out.ref, "big")) == first + last
    with pytest.raises(errors.NoSuchUpload):  # the staging commit is gone with its parts
        run(plans.AbortUpload(upload=upload), backend)


class _AlwaysOverwritten(MemoryBackend):
    """Every read names an etag the file no longer has: a writer faster than any reader."""

    def read_file(self, ref: CommitRef, path: str, **kwargs: object) -> Iterator[bytes]:  # type: ignore[override]
        raise Conflict(f"{path} changed")


def test_a_read_overwritten_every_time_gives_up_with_slow_down() -> None:
    backend = _AlwaysOverwritten()
    backend.create_repo("r")
    info = backend.start_commit("r", "master")
    backend.put_file(info.ref, "k", [b"x"])
    inspected: list[str] = []
    original = backend.inspect_file

    def counting(ref: CommitRef, path: str) -> object:
        inspected.append(path)
        return original(ref, path)

    backend.inspect_file = counting  # type: ignore[method-assign]
    with pytest.raises(errors.SlowDown):
        run(plans.ReadFile(ref=info.ref, bucket="out", path="k"), backend)
    assert len(inspected) == READ_ATTEMPTS


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NotFound("file", "k"), errors.NoSuchKey),
        (NotFound("commit", "c"), errors.NoSuchBucket),
        (NotFound("upload", "u"), errors.NoSuchUpload),
        (Conflict("finished"), errors.OperationAborted),
    ],
)
def test_backend_errors_map_to_s3_errors(error: Exception, expected: type[errors.S3Error]) -> None:
    assert isinstance(s3_error_for(error), expected)  # type: ignore[arg-type]


class KeyPickyMemory(MemoryBackend):
    """The memory backend with a KeyPolicy (as the Pachyderm backend has one): no ``~``."""

    def key_problem(self, path: str) -> str | None:
        return "PFS cannot store '~' here" if "~" in path else None


def test_the_key_policy_is_decided_once_and_refuses_before_the_body() -> None:
    """``Store.of`` decides whether the backend has a KeyPolicy, once (issue 14, move 7); a
    write of a key it cannot store is refused before one byte of its body is read."""
    Store.of(MemoryBackend()).check_key("a~b")  # no policy: every key is storable
    backend = KeyPickyMemory()
    backend.create_repo("pipeline")
    out = backend.start_commit("pipeline", "master", empty=True)
    store = Store.of(backend)
    store.check_key("plain")
    read: list[bytes] = []

    def body() -> Iterator[bytes]:
        read.append(b"x")
        yield b"x"

    plan = plans.WriteFile(ref=out.ref, bucket="out", path="a~b", body=SPEC(content_length=1))
    with pytest.raises(errors.InvalidArgument, match="cannot store"):
        execute(plan, store, IncomingBody(body()))
    assert read == []
    assert list(backend.walk_files(out.ref)) == []
