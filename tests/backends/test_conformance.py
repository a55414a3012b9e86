"""One behaviour suite for every backend (see ``conftest.BACKENDS``).

Written against ``pachs3.backends.base`` only: repos, branches, commit semantics (branch heads
move on finish, discard leaves nothing, finished commits never change), files (streams, ranges,
metadata, conditional puts), listing order and bounds, copy and compose, and every error kind.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pachs3.backends import (
    DEFAULT_PROJECT,
    Absent,
    AlreadyExists,
    Backend,
    BackendError,
    BranchRemover,
    CommitAdmin,
    CommitInfo,
    CommitRef,
    Conflict,
    FileLister,
    FileReader,
    FileWriter,
    NotFound,
    NotSupported,
    RepoAdmin,
    commit,
)

REPO = "images"


# --------------------------------------------------------------------------------------------
# Helpers


def ref_of(info: CommitInfo | str, repo: str = REPO) -> CommitRef:
    if isinstance(info, CommitInfo):
        return info.ref
    return CommitRef(repo=repo, id=info)


def put(backend: Backend, ref: CommitRef, path: str, data: bytes, **kwargs: object) -> None:
    backend.put_file(ref, path, [data], **kwargs)  # type: ignore[arg-type]


def read(backend: Backend, ref: CommitRef, path: str, **kwargs: int | None) -> bytes:
    return b"".join(backend.read_file(ref, path, **kwargs))  # type: ignore[arg-type]


def paths(backend: Backend, ref: CommitRef, **kwargs: str) -> list[str]:
    return [info.path for info in backend.walk_files(ref, **kwargs)]


def contents(backend: Backend, ref: CommitRef) -> dict[str, bytes]:
    return {path: read(backend, ref, path) for path in paths(backend, ref)}


def finished_commit(
    backend: Backend, files: dict[str, bytes], *, repo: str = REPO, branch: str = "master"
) -> CommitInfo:
    """A finished commit on ``branch`` holding (on top of the branch head) ``files``."""
    backend.create_repo(repo, exist_ok=True)
    info = backend.start_commit(repo, branch)
    for path, data in files.items():
        put(backend, info.ref, path, data)
    return backend.finish_commit(repo, info.id)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def repo(backend: Backend) -> str:
    backend.create_repo(REPO)
    return REPO


@pytest.fixture
def open_commit(backend: Backend, repo: str) -> CommitInfo:
    return backend.start_commit(repo, "master")


@pytest.fixture
def oref(open_commit: CommitInfo) -> CommitRef:
    return open_commit.ref


def assert_recent(moment: datetime) -> None:
    assert moment.tzinfo is not None
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


# --------------------------------------------------------------------------------------------
# The protocol itself


def test_backend_implements_every_capability(backend: Backend) -> None:
    for capability in (RepoAdmin, CommitAdmin, FileReader, FileLister, FileWriter):
        assert isinstance(backend, capability)


def test_errors_belong_to_one_family() -> None:
    for kind in (AlreadyExists, Conflict, NotFound, NotSupported):
        assert issubclass(kind, BackendError)


# --------------------------------------------------------------------------------------------
# Repos


def test_create_and_inspect_repo(backend: Backend) -> None:
    created = backend.create_repo("data", description="raw inputs")
    assert created.name == "data"
    assert created.description == "raw inputs"
    assert created.project == DEFAULT_PROJECT
    assert_recent(created.created)
    assert backend.inspect_repo("data") == created


def test_create_repo_twice_is_already_exists(backend: Backend) -> None:
    backend.create_repo("data")
    with pytest.raises(AlreadyExists):
        backend.create_repo("data")


def test_create_repo_exist_ok_returns_the_existing_repo(backend: Backend) -> None:
    first = backend.create_repo("data", description="one")
    again = backend.create_repo("data", description="two", exist_ok=True)
    assert again == first


def test_list_repos_sorted_by_name(backend: Backend) -> None:
    assert backend.list_repos() == []
    for name in ("b", "a", "c-2", "c_1"):
        backend.create_repo(name)
    assert [r.name for r in backend.list_repos()] == ["a", "b", "c-2", "c_1"]


def test_inspect_missing_repo_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as caught:
        backend.inspect_repo("nope")
    assert caught.value.what == "repo"


def test_delete_repo_removes_branches_commits_and_files(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    backend.create_repo("other")
    other = finished_commit(backend, {"keep": b"k"}, repo="other")
    backend.delete_repo(REPO)
    assert [r.name for r in backend.list_repos()] == ["other"]
    with pytest.raises(NotFound) as caught:
        backend.inspect_commit(REPO, head.id)
    assert caught.value.what == "repo"
    with pytest.raises(NotFound):
        list(backend.walk_files(head.ref))
    backend.create_repo(REPO)
    assert backend.list_branches(REPO) == []
    assert backend.list_commits(REPO) == []
    assert contents(backend, other.ref) == {"keep": b"k"}


def test_delete_missing_repo_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as caught:
        backend.delete_repo("nope")
    assert caught.value.what == "repo"


def test_other_projects_are_not_found(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    elsewhere = CommitRef(repo=REPO, id=head.id, project="elsewhere")
    with pytest.raises(NotFound) as caught:
        backend.inspect_file(elsewhere, "a")
    assert caught.value.what == "repo"


# --------------------------------------------------------------------------------------------
# Branches


def test_create_empty_branch(backend: Backend, repo: str) -> None:
    branch = backend.create_branch(repo, "dev")
    assert (branch.repo, branch.name, branch.head) == (repo, "dev", None)
    assert backend.inspect_branch(repo, "dev") == branch


def test_create_branch_at_a_commit_and_move_it(backend: Backend) -> None:
    first = finished_commit(backend, {"a": b"1"})
    second = finished_commit(backend, {"b": b"2"})
    assert backend.create_branch(REPO, "pinned", head=first.id).head == first.id
    assert backend.inspect_branch(REPO, "pinned").head == first.id
    backend.create_branch(REPO, "pinned", head=second.id)
    assert backend.inspect_branch(REPO, "pinned").head == second.id
    assert paths(backend, ref_of("pinned")) == ["a", "b"]


def test_create_branch_at_a_branch_name_uses_its_head(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    assert backend.create_branch(REPO, "copy", head="master").head == head.id


def test_delete_branch_keeps_the_commits_and_the_other_branches(backend: Backend) -> None:
    """The global gateway's DeleteBucket (an optional capability: ``BranchRemover``)."""
    if not isinstance(backend, BranchRemover):
        pytest.skip(f"{type(backend).__name__} has no delete_branch (global DeleteBucket: 501)")
    head = finished_commit(backend, {"a": b"1"}, branch="dev")
    finished_commit(backend, {"b": b"2"})
    backend.delete_branch(REPO, "dev")
    assert [b.name for b in backend.list_branches(REPO)] == ["master"]
    with pytest.raises(NotFound) as caught:
        backend.inspect_branch(REPO, "dev")
    assert caught.value.what == "branch"
    assert contents(backend, head.ref) == {"a": b"1"}  # by id, still there
    with pytest.raises(NotFound) as caught:
        backend.delete_branch(REPO, "dev")
    assert caught.value.what == "branch"
    with pytest.raises(NotFound) as caught:
        backend.delete_branch("no-such-repo", "master")
    assert caught.value.what == "repo"


def test_create_branch_at_missing_commit_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        backend.create_branch(repo, "dev", head="0" * 32)
    assert caught.value.what == "commit"


def test_create_branch_in_missing_repo_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as caught:
        backend.create_branch("nope", "dev")
    assert caught.value.what == "repo"


def test_inspect_missing_branch_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        backend.inspect_branch(repo, "nope")
    assert caught.value.what == "branch"


def test_list_branches_sorted(backend: Backend, repo: str) -> None:
    for name in ("master", "dev", "a"):
        backend.create_branch(repo, name)
    assert [b.name for b in backend.list_branches(repo)] == ["a", "dev", "master"]
    with pytest.raises(NotFound):
        backend.list_branches("nope")


# --------------------------------------------------------------------------------------------
# Commits


def test_start_commit_fields(backend: Backend, repo: str) -> None:
    info = backend.start_commit(repo, "master", description="first")
    assert re.fullmatch(r"[0-9a-f]{32}", info.id)
    assert (info.repo, info.branch, info.parent) == (repo, "master", None)
    assert info.finished is None
    assert info.is_open
    assert info.error is None
    assert info.provenance == ()
    assert info.description == "first"
    assert_recent(info.started)
    assert backend.inspect_commit(repo, info.id) == info


def test_commit_ids_are_unique(backend: Backend, repo: str) -> None:
    ids = {backend.start_commit(repo, None).id for _ in range(20)}
    assert len(ids) == 20


def test_start_commit_on_a_new_branch_creates_it(backend: Backend, repo: str) -> None:
    backend.start_commit(repo, "fresh")
    assert backend.inspect_branch(repo, "fresh").head is None


def test_start_commit_in_missing_repo_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as caught:
        backend.start_commit("nope", "master")
    assert caught.value.what == "repo"


def test_parent_is_the_branch_head(backend: Backend) -> None:
    first = finished_commit(backend, {"a": b"1"})
    second = backend.start_commit(REPO, "master")
    assert second.parent == first.id


def test_branch_head_moves_when_the_commit_finishes_not_before(backend: Backend) -> None:
    first = finished_commit(backend, {"a": b"1"})
    second = backend.start_commit(REPO, "master")
    put(backend, second.ref, "b", b"2")
    assert backend.inspect_branch(REPO, "master").head == first.id
    assert backend.inspect_commit(REPO, "master").id == first.id
    assert paths(backend, ref_of("master")) == ["a"]
    finished = backend.finish_commit(REPO, second.id)
    assert backend.inspect_branch(REPO, "master").head == second.id
    assert finished.finished is not None
    assert not finished.is_open
    assert finished.finished >= finished.started
    assert backend.inspect_commit(REPO, second.id) == finished
    assert paths(backend, ref_of("master")) == ["a", "b"]


def test_finish_twice_is_a_conflict(backend: Backend, repo: str) -> None:
    info = backend.start_commit(repo, "master")
    backend.finish_commit(repo, info.id)
    with pytest.raises(Conflict):
        backend.finish_commit(repo, info.id)


def test_finish_with_error_records_it_and_leaves_the_branch(backend: Backend) -> None:
    good = finished_commit(backend, {"a": b"1"})
    failed = backend.start_commit(REPO, "master")
    put(backend, failed.ref, "partial", b"x")
    info = backend.finish_commit(REPO, failed.id, error="job failed: boom")
    assert info.error == "job failed: boom"
    assert info.finished is not None
    assert backend.inspect_commit(REPO, failed.id).error == "job failed: boom"
    assert backend.inspect_branch(REPO, "master").head == good.id
    # What the failed job wrote stays readable in its (errored) commit.
    assert contents(backend, failed.ref) == {"a": b"1", "partial": b"x"}
    with pytest.raises(Conflict):
        put(backend, failed.ref, "more", b"y")


def test_finish_missing_commit_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        backend.finish_commit(repo, "f" * 32)
    assert caught.value.what == "commit"


def test_discard_leaves_nothing_behind(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    doomed = backend.start_commit(REPO, "master")
    put(backend, doomed.ref, "b", b"2")
    put(backend, doomed.ref, "a", b"overwritten")
    backend.delete_file(doomed.ref, "a")
    backend.discard_commit(REPO, doomed.id)
    assert [c.id for c in backend.list_commits(REPO)] == [head.id]
    with pytest.raises(NotFound) as caught:
        backend.inspect_commit(REPO, doomed.id)
    assert caught.value.what == "commit"
    with pytest.raises(NotFound):
        put(backend, doomed.ref, "c", b"3")
    assert backend.inspect_branch(REPO, "master").head == head.id
    assert contents(backend, ref_of("master")) == {"a": b"1"}
    # The branch still works as if the discarded commit never was.
    again = backend.start_commit(REPO, "master")
    assert again.parent == head.id
    assert contents(backend, again.ref) == {"a": b"1"}


def test_discard_finished_commit_is_a_conflict(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    with pytest.raises(Conflict):
        backend.discard_commit(REPO, head.id)
    assert contents(backend, head.ref) == {"a": b"1"}


def test_discard_missing_commit_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound):
        backend.discard_commit(repo, "a" * 32)


def test_inspect_commit_by_branch_name(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    assert backend.inspect_commit(REPO, "master") == head


def test_inspect_commit_of_empty_branch_is_not_found(backend: Backend, repo: str) -> None:
    backend.create_branch(repo, "empty")
    with pytest.raises(NotFound) as caught:
        backend.inspect_commit(repo, "empty")
    assert caught.value.what == "commit"


def test_commit_of_another_repo_is_not_found(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    backend.create_repo("other")
    with pytest.raises(NotFound) as caught:
        backend.inspect_commit("other", head.id)
    assert caught.value.what == "commit"


def test_list_commits_newest_first_and_by_branch(backend: Backend) -> None:
    one = finished_commit(backend, {"a": b"1"})
    two = finished_commit(backend, {"b": b"2"}, branch="dev")
    three = backend.start_commit(REPO, "master")
    assert [c.id for c in backend.list_commits(REPO)] == [three.id, two.id, one.id]
    assert [c.id for c in backend.list_commits(REPO, branch="master")] == [three.id, one.id]
    assert [c.id for c in backend.list_commits(REPO, branch="dev")] == [two.id]
    with pytest.raises(NotFound) as caught:
        backend.list_commits(REPO, branch="nope")
    assert caught.value.what == "branch"
    with pytest.raises(NotFound):
        backend.list_commits("nope")


def test_detached_commit_moves_no_branch(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    staging = backend.start_commit(REPO, None)
    assert staging.branch is None
    assert staging.parent is None
    put(backend, staging.ref, "part-1", b"xx")
    backend.finish_commit(REPO, staging.id)
    assert backend.inspect_branch(REPO, "master").head == head.id
    assert [b.name for b in backend.list_branches(REPO)] == ["master"]
    assert contents(backend, staging.ref) == {"part-1": b"xx"}


def test_explicit_parent(backend: Backend) -> None:
    first = finished_commit(backend, {"a": b"1"})
    finished_commit(backend, {"b": b"2"})
    child = backend.start_commit(REPO, "master", parent=first.id)
    assert child.parent == first.id
    assert paths(backend, child.ref) == ["a"]
    detached = backend.start_commit(REPO, None, parent=first.id)
    assert detached.parent == first.id
    assert paths(backend, detached.ref) == ["a"]


def test_start_on_an_open_parent_is_a_conflict(backend: Backend, repo: str) -> None:
    parent = backend.start_commit(repo, "master")
    with pytest.raises(Conflict):
        backend.start_commit(repo, None, parent=parent.id)


def test_start_on_missing_parent_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        backend.start_commit(repo, "master", parent="b" * 32)
    assert caught.value.what == "commit"


def test_provenance_is_recorded_as_exact_commits(backend: Backend) -> None:
    source = finished_commit(backend, {"in": b"1"}, repo="inputs")
    backend.create_repo("out")
    job = backend.start_commit(
        "out",
        "master",
        provenance=[CommitRef(repo="inputs", id="master"), source.ref],
        empty=True,
    )
    assert job.provenance == (CommitRef(repo="inputs", id=source.id),)
    assert backend.finish_commit("out", job.id).provenance == job.provenance
    assert backend.inspect_commit("out", job.id).provenance == job.provenance


def test_provenance_must_exist(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        backend.start_commit(repo, "master", provenance=[CommitRef(repo="nope", id="c" * 32)])
    assert caught.value.what == "repo"
    with pytest.raises(NotFound) as caught:
        backend.start_commit(repo, "master", provenance=[CommitRef(repo=repo, id="c" * 32)])
    assert caught.value.what == "commit"
    assert backend.list_commits(repo) == []


def test_empty_commit_starts_without_files_but_keeps_its_parent(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1", "b": b"2"})
    out = backend.start_commit(REPO, "master", empty=True)
    assert out.parent == head.id
    assert paths(backend, out.ref) == []
    with pytest.raises(NotFound):
        backend.inspect_file(out.ref, "a")
    assert backend.delete_file(out.ref, "a") is False
    put(backend, out.ref, "c", b"3")
    backend.finish_commit(REPO, out.id)
    assert contents(backend, ref_of("master")) == {"c": b"3"}
    assert contents(backend, head.ref) == {"a": b"1", "b": b"2"}


def test_commit_helper_finishes_on_a_clean_exit(backend: Backend, repo: str) -> None:
    with commit(backend, repo, "master", description="d") as info:
        put(backend, info.ref, "a", b"1")
    assert backend.inspect_commit(repo, "master").id == info.id
    assert backend.inspect_commit(repo, info.id).finished is not None


def test_commit_helper_discards_on_an_exception(backend: Backend, repo: str) -> None:
    def job() -> None:
        with commit(backend, repo, "master") as info:
            put(backend, info.ref, "a", b"1")
            raise RuntimeError("job failed")

    with pytest.raises(RuntimeError, match="job failed"):
        job()
    assert backend.list_commits(repo) == []
    assert backend.inspect_branch(repo, "master").head is None


def test_concurrent_commits_on_one_branch_last_finish_wins(backend: Backend) -> None:
    base = finished_commit(backend, {"a": b"1"})
    left = backend.start_commit(REPO, "master")
    right = backend.start_commit(REPO, "master")
    assert left.parent == right.parent == base.id
    put(backend, left.ref, "left", b"l")
    put(backend, right.ref, "right", b"r")
    backend.finish_commit(REPO, right.id)
    backend.finish_commit(REPO, left.id)
    assert backend.inspect_branch(REPO, "master").head == left.id
    assert paths(backend, ref_of("master")) == ["a", "left"]
    assert paths(backend, right.ref) == ["a", "right"]


# --------------------------------------------------------------------------------------------
# Writing and reading files


@pytest.mark.parametrize(
    "chunks",
    [
        [b"hello world"],
        [b"hello", b" ", b"world"],
        [b"", b"hello world", b""],
        [bytes([b]) for b in b"hello world"],
        [bytearray(b"hello "), memoryview(b"world")],
    ],
    ids=["one", "three", "empty-chunks", "bytewise", "buffers"],
)
def test_put_and_read_back(backend: Backend, oref: CommitRef, chunks: list[bytes]) -> None:
    info = backend.put_file(oref, "greeting.txt", chunks)
    assert info.size == 11
    assert read(backend, oref, "greeting.txt") == b"hello world"


def test_put_returns_the_file_info(backend: Backend, oref: CommitRef) -> None:
    info = backend.put_file(oref, "a/b.csv", [b"x,y\n", b"1,2\n"], metadata={"content-type": "c"})
    assert info.path == "a/b.csv"
    assert info.size == 8
    assert info.md5 == info.etag == md5(b"x,y\n1,2\n")
    assert info.commit == oref.id
    assert info.metadata == {"content-type": "c"}
    assert_recent(info.modified)
    assert backend.inspect_file(oref, "a/b.csv") == info


def test_empty_file(backend: Backend, oref: CommitRef) -> None:
    info = backend.put_file(oref, "empty", [])
    assert (info.size, info.etag) == (0, md5(b""))
    assert read(backend, oref, "empty") == b""
    assert paths(backend, oref) == ["empty"]


def test_overwrite_in_the_same_commit(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "f", b"first version")
    put(backend, oref, "f", b"second", metadata={"x-amz-meta-v": "2"})
    assert read(backend, oref, "f") == b"second"
    info = backend.inspect_file(oref, "f")
    assert (info.size, info.etag, info.metadata) == (6, md5(b"second"), {"x-amz-meta-v": "2"})
    assert paths(backend, oref) == ["f"]


def test_overwrite_without_metadata_clears_it(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "f", b"1", metadata={"content-type": "text/plain"})
    put(backend, oref, "f", b"2")
    assert backend.inspect_file(oref, "f").metadata == {}


def test_metadata_round_trips_unicode(backend: Backend, oref: CommitRef) -> None:
    meta = {"content-type": "text/plain; charset=utf-8", "x-amz-meta-name": "Ünïcødé €"}
    put(backend, oref, "f", b"1", metadata=meta)
    assert backend.inspect_file(oref, "f").metadata == meta
    assert next(iter(backend.walk_files(oref))).metadata == meta


def test_put_to_a_finished_commit_is_a_conflict(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    with pytest.raises(Conflict):
        put(backend, head.ref, "b", b"2")
    with pytest.raises(Conflict):
        put(backend, ref_of("master"), "b", b"2")
    assert contents(backend, head.ref) == {"a": b"1"}


def test_put_to_a_missing_commit_or_repo_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        put(backend, ref_of("d" * 32), "a", b"1")
    assert caught.value.what == "commit"
    with pytest.raises(NotFound) as caught:
        put(backend, CommitRef(repo="nope", id="d" * 32), "a", b"1")
    assert caught.value.what == "repo"


def test_a_put_whose_stream_fails_stores_nothing(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "f", b"original")

    def broken() -> Iterator[bytes]:
        yield b"partial " * 100_000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        backend.put_file(oref, "f", broken())
    with pytest.raises(ConnectionResetError):
        backend.put_file(oref, "g", broken())
    assert contents(backend, oref) == {"f": b"original"}
    put(backend, oref, "g", b"still writable")
    assert read(backend, oref, "g") == b"still writable"


def test_put_if_absent(backend: Backend) -> None:
    finished_commit(backend, {"inherited": b"1"})
    info = backend.start_commit(REPO, "master")
    ref = info.ref
    put(backend, ref, "new", b"first", expect=Absent())
    with pytest.raises(AlreadyExists):
        put(backend, ref, "new", b"second", expect=Absent())
    with pytest.raises(AlreadyExists):
        put(backend, ref, "inherited", b"second", expect=Absent())
    assert read(backend, ref, "new") == b"first"
    assert read(backend, ref, "inherited") == b"1"
    backend.delete_file(ref, "inherited")
    put(backend, ref, "inherited", b"again", expect=Absent())
    assert read(backend, ref, "inherited") == b"again"


def test_if_absent_checks_before_consuming_nothing_is_stored(
    backend: Backend, oref: CommitRef
) -> None:
    put(backend, oref, "f", b"1")
    with pytest.raises(AlreadyExists):
        backend.put_file(oref, "f", iter([b"2" * 1000]), expect=Absent())
    assert read(backend, oref, "f") == b"1"


def test_empty_path_is_not_supported(backend: Backend, oref: CommitRef) -> None:
    with pytest.raises(NotSupported):
        put(backend, oref, "", b"1")


def test_inspect_missing_file_is_not_found(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "dir/file", b"1")
    for missing in ("nope", "dir", "dir/", "dir/file/", "Dir/file"):
        with pytest.raises(NotFound) as caught:
            backend.inspect_file(oref, missing)
        assert caught.value.what == "file"


def test_read_missing_file_fails_before_the_stream(backend: Backend, oref: CommitRef) -> None:
    with pytest.raises(NotFound) as caught:
        backend.read_file(oref, "nope")  # not iterated: the error comes from the call
    assert caught.value.what == "file"


def test_read_from_missing_commit_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        backend.read_file(ref_of("e" * 32), "a")
    assert caught.value.what == "commit"


def test_read_of_an_inspected_version(backend: Backend, oref: CommitRef) -> None:
    """A reader names the etag it inspected; an overwrite in between is a Conflict, never
    the new bytes under the old headers."""
    first = backend.put_file(oref, "v", [b"version one"])
    assert b"".join(backend.read_file(oref, "v", etag=first.etag)) == b"version one"
    backend.put_file(oref, "v", [b"version two!"])
    with pytest.raises(Conflict):
        backend.read_file(oref, "v", etag=first.etag)  # refused before the first chunk


DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, DATA),
        (0, 0, b""),
        (1, 10, DATA[1:11]),
        (5000, None, DATA[5000:]),
        (10230, 100, DATA[10230:]),
        (10240, None, b""),
        (20000, 5, b""),
        (4095, 4098, DATA[4095:8193]),
    ],
)
def test_read_ranges(
    backend: Backend, oref: CommitRef, offset: int, length: int | None, expected: bytes
) -> None:
    backend.put_file(oref, "f", [DATA[:3000], DATA[3000:7000], DATA[7000:]])
    assert read(backend, oref, "f", offset=offset, length=length) == expected


def test_negative_ranges_are_rejected(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "f", b"abc")
    with pytest.raises(ValueError, match="negative"):
        backend.read_file(oref, "f", offset=-1)
    with pytest.raises(ValueError, match="negative"):
        backend.read_file(oref, "f", length=-1)


def test_large_file_streams_in_bounded_chunks(backend: Backend, oref: CommitRef) -> None:
    rng = random.Random(7)
    data = rng.randbytes(3 * 1024 * 1024 + 12345)
    pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    info = backend.put_file(oref, "big.bin", iter(pieces))
    assert info.size == len(data)
    assert info.md5 == md5(data)
    chunks = list(backend.read_file(oref, "big.bin"))
    assert max(len(chunk) for chunk in chunks) <= 1024 * 1024
    assert b"".join(chunks) == data
    tail = b"".join(backend.read_file(oref, "big.bin", offset=len(data) - 70000))
    assert tail == data[-70000:]


def test_closing_a_read_early(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "f", b"x" * (3 * 1024 * 1024))
    stream = backend.read_file(oref, "f")
    assert len(next(stream)) > 0
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    assert read(backend, oref, "f", length=3) == b"xxx"


def test_delete_file(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "a", b"1")
    put(backend, oref, "b", b"2")
    assert backend.delete_file(oref, "a") is True
    assert backend.delete_file(oref, "a") is False
    assert backend.delete_file(oref, "never") is False
    assert paths(backend, oref) == ["b"]
    with pytest.raises(NotFound):
        backend.inspect_file(oref, "a")
    put(backend, oref, "a", b"back")
    assert contents(backend, oref) == {"a": b"back", "b": b"2"}


def test_delete_is_of_a_file_not_a_tree(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "dir/a", b"1")
    assert backend.delete_file(oref, "dir") is False
    assert backend.delete_file(oref, "dir/") is False
    assert paths(backend, oref) == ["dir/a"]


def test_delete_in_a_finished_commit_is_a_conflict(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    with pytest.raises(Conflict):
        backend.delete_file(head.ref, "a")


def test_delete_of_an_inherited_file_hides_it_in_the_child_only(backend: Backend) -> None:
    parent = finished_commit(backend, {"a": b"1", "b": b"2"})
    child = backend.start_commit(REPO, "master")
    assert backend.delete_file(child.ref, "a") is True
    assert paths(backend, child.ref) == ["b"]
    assert backend.delete_file(child.ref, "a") is False
    backend.finish_commit(REPO, child.id)
    assert paths(backend, child.ref) == ["b"]
    assert paths(backend, parent.ref) == ["a", "b"]
    grandchild = backend.start_commit(REPO, "master")
    assert paths(backend, grandchild.ref) == ["b"]
    put(backend, grandchild.ref, "a", b"new")
    assert contents(backend, grandchild.ref) == {"a": b"new", "b": b"2"}


# --------------------------------------------------------------------------------------------
# Visibility


def test_open_writes_are_invisible_to_branch_and_parent_readers(backend: Backend) -> None:
    parent = finished_commit(backend, {"a": b"1", "gone": b"0"})
    child = backend.start_commit(REPO, "master")
    put(backend, child.ref, "a", b"changed")
    put(backend, child.ref, "new", b"n")
    backend.delete_file(child.ref, "gone")
    for reader in (ref_of("master"), parent.ref):
        assert contents(backend, reader) == {"a": b"1", "gone": b"0"}
        assert backend.inspect_file(reader, "a").etag == md5(b"1")
        with pytest.raises(NotFound):
            backend.inspect_file(reader, "new")


def test_read_your_writes_in_the_open_commit(backend: Backend) -> None:
    finished_commit(backend, {"a": b"1"})
    child = backend.start_commit(REPO, "master")
    put(backend, child.ref, "b", b"2")
    assert read(backend, child.ref, "b") == b"2"
    assert backend.inspect_file(child.ref, "b").size == 1
    assert paths(backend, child.ref) == ["a", "b"]


def test_a_finished_commit_never_changes(backend: Backend) -> None:
    parent = finished_commit(backend, {"a": b"1", "b": b"2", "c": b"3"})
    before = [(i.path, i.etag, i.commit, i.modified) for i in backend.walk_files(parent.ref)]
    for n in range(5):
        child = backend.start_commit(REPO, "master")
        put(backend, child.ref, "a", f"v{n}".encode())
        backend.delete_file(child.ref, "b")
        put(backend, child.ref, f"new{n}", b"x")
        backend.finish_commit(REPO, child.id)
    after = [(i.path, i.etag, i.commit, i.modified) for i in backend.walk_files(parent.ref)]
    assert after == before
    assert contents(backend, parent.ref) == {"a": b"1", "b": b"2", "c": b"3"}


def test_file_commit_is_the_commit_that_last_changed_it(backend: Backend) -> None:
    first = finished_commit(backend, {"a": b"1", "b": b"2"})
    second = finished_commit(backend, {"b": b"changed"})
    by_path = {i.path: i.commit for i in backend.walk_files(second.ref)}
    assert by_path == {"a": first.id, "b": second.id}
    assert backend.inspect_file(second.ref, "a").commit == first.id


def test_repos_are_isolated(backend: Backend) -> None:
    one = finished_commit(backend, {"same/path": b"one"}, repo="one")
    two = finished_commit(backend, {"same/path": b"two"}, repo="two")
    assert read(backend, one.ref, "same/path") == b"one"
    assert read(backend, two.ref, "same/path") == b"two"


# --------------------------------------------------------------------------------------------
# Listing

ORDER_KEYS = [
    "a",
    "a b",
    "a!b",
    "a%20b",
    "a+b",
    "a-b",
    "a.b",
    "a/",
    "a/b",
    "a/b/c",
    "a0",
    "aa",
    "A",
    "Z",
    "_",
    "~",
    "\x01ctrl",
    "ü",
    "üa",
    "€",
    "€/x",
    "\ue000private",
    "\uffff",
    "𝄞 clef",
    "😀/emoji",
]


def test_walk_is_in_utf8_byte_order(backend: Backend, oref: CommitRef) -> None:
    for key in reversed(ORDER_KEYS):
        put(backend, oref, key, key.encode())
    expected = sorted(ORDER_KEYS, key=lambda k: k.encode("utf-8"))
    assert expected == sorted(ORDER_KEYS)  # code point order is byte order
    assert paths(backend, oref) == expected
    assert contents(backend, oref) == {k: k.encode() for k in ORDER_KEYS}


def test_walk_with_prefix(backend: Backend, oref: CommitRef) -> None:
    for key in ORDER_KEYS:
        put(backend, oref, key, b"")
    for prefix in ("a", "a/", "a/b", "€", "ü", "b", "😀", "\uffff", ""):
        assert paths(backend, oref, prefix=prefix) == sorted(
            k for k in ORDER_KEYS if k.startswith(prefix)
        ), prefix


def test_walk_with_start_after(backend: Backend, oref: CommitRef) -> None:
    for key in ORDER_KEYS:
        put(backend, oref, key, b"")
    for after in ("a", "a/", "a/b", "a0", "zzz", "ü", "€", "\U0010ffff", "0", ""):
        assert paths(backend, oref, start_after=after) == sorted(
            k for k in ORDER_KEYS if k > after
        ), after


def test_walk_with_prefix_and_start_after(backend: Backend, oref: CommitRef) -> None:
    for key in ORDER_KEYS:
        put(backend, oref, key, b"")
    cases = [("a/", "a"), ("a/", "a/"), ("a/", "a/b"), ("a/", "a/b/c"), ("a/", "b"), ("€", "ü")]
    for prefix, after in cases:
        assert paths(backend, oref, prefix=prefix, start_after=after) == sorted(
            k for k in ORDER_KEYS if k.startswith(prefix) and k > after
        ), (prefix, after)


def test_walk_skipping_common_prefixes(backend: Backend, oref: CommitRef) -> None:
    keys = [f"dir{d}/file{f}" for d in range(5) for f in range(20)] + ["top1", "top2"]
    for key in keys:
        put(backend, oref, key, b"")
    # The way a delimiter listing uses walk: take one key per directory, seek past the rest.
    seen: list[str] = []
    after = ""
    while True:
        first = next(iter(backend.walk_files(oref, start_after=after)), None)
        if first is None:
            break
        head, slash, _ = first.path.partition("/")
        seen.append(head + slash)
        after = head + slash + "\U0010ffff" if slash else first.path
    assert seen == [f"dir{d}/" for d in range(5)] + ["top1", "top2"]


def test_walk_of_missing_commit_is_not_found(backend: Backend, repo: str) -> None:
    with pytest.raises(NotFound) as caught:
        list(backend.walk_files(ref_of("9" * 32)))
    assert caught.value.what == "commit"


def test_walk_can_stop_early(backend: Backend, oref: CommitRef) -> None:
    for n in range(50):
        put(backend, oref, f"k{n:03d}", b"")
    walker = iter(backend.walk_files(oref))
    assert [next(walker).path for _ in range(3)] == ["k000", "k001", "k002"]
    close = getattr(walker, "close", None)
    if close is not None:
        close()
    assert len(paths(backend, oref)) == 50


def test_walk_entries_carry_file_info(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "a", b"12345", metadata={"content-type": "t"})
    [info] = backend.walk_files(oref)
    assert info == backend.inspect_file(oref, "a")


def test_walk_on_a_deep_history_matches_a_model(backend: Backend) -> None:
    """Many commits of random puts and deletes: every commit, old or new, lists and reads
    exactly what a dictionary model says (this drives layering and compaction)."""
    rng = random.Random(1234)
    backend.create_repo(REPO)
    model: dict[str, bytes] = {}
    history: list[tuple[CommitRef, dict[str, bytes]]] = []
    for n in range(40):
        info = backend.start_commit(REPO, "master", empty=(n == 25))
        if n == 25:
            model = {}
        for _ in range(rng.choice([0, 1, 1, 2, 5, 30])):
            key = f"k{rng.randrange(60):02d}"
            if rng.random() < 0.3:
                assert backend.delete_file(info.ref, key) is (key in model)
                model.pop(key, None)
            else:
                data = f"{n}:{key}".encode()
                put(backend, info.ref, key, data)
                model[key] = data
        assert contents(backend, info.ref) == model
        backend.finish_commit(REPO, info.id)
        history.append((info.ref, dict(model)))
    for ref, expected in history:
        assert contents(backend, ref) == expected
        assert paths(backend, ref, prefix="k1") == sorted(k for k in expected if k[:2] == "k1")
        assert paths(backend, ref, start_after="k3") == sorted(k for k in expected if k > "k3")


# --------------------------------------------------------------------------------------------
# Copy and compose


def test_copy_within_a_commit(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "src", b"payload", metadata={"content-type": "a"})
    info = backend.copy_file(oref, "src", oref, "dst")
    assert (info.path, info.size, info.etag, info.md5) == (
        "dst",
        7,
        md5(b"payload"),
        md5(b"payload"),
    )
    assert info.metadata == {"content-type": "a"}
    assert info.commit == oref.id
    assert contents(backend, oref) == {"dst": b"payload", "src": b"payload"}


def test_copy_replaces_metadata_when_given(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "src", b"payload", metadata={"content-type": "a"})
    info = backend.copy_file(oref, "src", oref, "dst", metadata={"x-amz-meta-k": "v"})
    assert info.metadata == {"x-amz-meta-k": "v"}
    assert backend.inspect_file(oref, "dst").metadata == {"x-amz-meta-k": "v"}
    assert backend.inspect_file(oref, "src").metadata == {"content-type": "a"}
    backend.copy_file(oref, "src", oref, "src", metadata={})
    assert backend.inspect_file(oref, "src").metadata == {}


def test_copy_across_repos_and_commits(backend: Backend) -> None:
    source = finished_commit(backend, {"in/data.bin": b"\x00\x01" * 5000}, repo="inputs")
    backend.create_repo("out")
    job = backend.start_commit("out", "master", empty=True)
    info = backend.copy_file(source.ref, "in/data.bin", job.ref, "copied.bin")
    assert info.commit == job.id
    backend.finish_commit("out", job.id)
    assert read(backend, ref_of("master", "out"), "copied.bin") == b"\x00\x01" * 5000
    backend.delete_repo("inputs")
    assert read(backend, job.ref, "copied.bin") == b"\x00\x01" * 5000


def test_copy_from_an_open_commit(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "staged", b"s")
    backend.copy_file(oref, "staged", oref, "final")
    backend.delete_file(oref, "staged")
    assert contents(backend, oref) == {"final": b"s"}


def test_copy_is_independent_of_later_source_changes(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "src", b"old")
    backend.copy_file(oref, "src", oref, "dst")
    put(backend, oref, "src", b"new")
    assert read(backend, oref, "dst") == b"old"


def test_copy_missing_source_is_not_found(backend: Backend, oref: CommitRef) -> None:
    for src, kind in (
        (oref, "file"),
        (ref_of("1" * 32), "commit"),
        (CommitRef(repo="nope", id=oref.id), "repo"),
    ):
        with pytest.raises(NotFound) as caught:
            backend.copy_file(src, "missing", oref, "dst")
        assert caught.value.what == kind
    assert paths(backend, oref) == []


def test_copy_into_a_finished_commit_is_a_conflict(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    with pytest.raises(Conflict):
        backend.copy_file(head.ref, "a", head.ref, "b")


def test_compose_concatenates_without_reading(backend: Backend, oref: CommitRef) -> None:
    staging = backend.start_commit(REPO, None)
    parts = [bytes([65 + n]) * (1000 * n + 7) for n in range(5)]
    for n, data in enumerate(parts):
        put(backend, staging.ref, f"part-{n}", data)
    sources = [(staging.ref, f"part-{n}") for n in range(5)]
    info = backend.compose_file(
        oref, "whole", sources, etag="abc-5", metadata={"content-type": "x"}
    )
    whole = b"".join(parts)
    assert (info.size, info.etag, info.md5) == (len(whole), "abc-5", None)
    assert info.metadata == {"content-type": "x"}
    assert backend.inspect_file(oref, "whole") == info
    assert read(backend, oref, "whole") == whole
    for offset, length in ((0, 7), (5, 10), (1006, 2000), (3020, 9000), (len(whole) - 1, 5)):
        assert (
            read(backend, oref, "whole", offset=offset, length=length)
            == whole[offset : offset + length]
        )
    backend.discard_commit(REPO, staging.id)
    assert read(backend, oref, "whole") == whole


def test_compose_of_composed_and_copied_files(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "a", b"aaa")
    put(backend, oref, "b", b"bb")
    backend.compose_file(oref, "ab", [(oref, "a"), (oref, "b")], etag="e1")
    backend.copy_file(oref, "ab", oref, "ab2")
    backend.compose_file(oref, "abab", [(oref, "ab"), (oref, "ab2"), (oref, "a")], etag="e2")
    assert read(backend, oref, "abab") == b"aaabbaaabbaaa"
    assert read(backend, oref, "abab", offset=4, length=6) == b"baaabb"


def test_compose_of_nothing_is_an_empty_file(backend: Backend, oref: CommitRef) -> None:
    info = backend.compose_file(oref, "none", [], etag="e-0")
    assert info.size == 0
    assert read(backend, oref, "none") == b""


def test_compose_missing_source_is_not_found(backend: Backend, oref: CommitRef) -> None:
    put(backend, oref, "a", b"1")
    with pytest.raises(NotFound) as caught:
        backend.compose_file(oref, "x", [(oref, "a"), (oref, "missing")], etag="e")
    assert caught.value.what == "file"
    assert paths(backend, oref) == ["a"]


def test_compose_into_a_finished_commit_is_a_conflict(backend: Backend) -> None:
    head = finished_commit(backend, {"a": b"1"})
    with pytest.raises(Conflict):
        backend.compose_file(head.ref, "x", [(head.ref, "a")], etag="e")


# --------------------------------------------------------------------------------------------
# Sharing one backend between threads


def test_threads_sharing_a_backend(backend: Backend, repo: str) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for round_ in range(5):
                with commit(backend, repo, f"branch-{n}") as info:
                    for k in range(5):
                        put(backend, info.ref, f"f{k}", f"{n}.{round_}.{k}".encode())
                    assert len(paths(backend, info.ref)) == 5
                expected = {f"f{k}": f"{n}.{round_}.{k}".encode() for k in range(5)}
                assert contents(backend, ref_of(f"branch-{n}")) == expected
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(backend.list_commits(repo)) == 30


def chunked(data: bytes, size: int) -> Iterable[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))
