"""The global gateway's batched commits (``GlobalGateway(batch_ms=...)``), on every backend.

Writes to one branch that arrive while its batch is open share a commit; the batch is finished
once quiet (no write running in it), at most ``batch_ms`` after it started. Each write is
answered only once that commit has finished, so every acknowledged write is on the branch when
its answer arrives (checked in the store from inside each writer, right after its answer).
Failed writes change nothing; a batch with no successful write leaves no commit; closing the
gateway finishes the open batches.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pachs3 import CommitRef, GlobalGateway, read_commit
from pachs3.backends.base import Backend
from pachs3.batching import BatchedCommits
from pachs3.core.plans import BranchWrite, CommitOnBranch, DeleteFile

WRITERS = 8
EACH = 5


def config() -> Config:
    return Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


@pytest.fixture
def batched(backend: Backend) -> Iterator[GlobalGateway]:
    with GlobalGateway(backend, batch_ms=150) as gateway:
        gateway.client(config=config()).create_bucket(Bucket="bulk")
        yield gateway


def commit_count(backend: Backend, repo: str = "bulk") -> int:
    return len(backend.list_commits(repo, branch="master"))


def settled(backend: Backend, repo: str = "bulk") -> None:
    """Wait until the branch has no open commit (the window closed), at most 10 s."""
    deadline = time.monotonic() + 10
    while any(c.is_open for c in backend.list_commits(repo, branch="master")):
        assert time.monotonic() < deadline, "a batch stayed open"
        time.sleep(0.02)


def test_concurrent_writes_share_commits_and_none_is_lost(
    batched: GlobalGateway, backend: Backend
) -> None:
    before = commit_count(backend)
    problems: list[str] = []

    def writer(number: int) -> None:
        s3 = batched.client(config=config())
        for n in range(EACH):
            key = f"w{number}/k{n}"
            version = s3.put_object(Bucket="bulk", Key=key, Body=key.encode())["VersionId"]
            # Answered: its commit must already be finished and on the branch.
            info = backend.inspect_commit("bulk", version)
            if info.finished is None:
                problems.append(f"{key}: answered before its commit finished")
            head = backend.inspect_branch("bulk", "master").head
            assert head is not None
            if key not in read_commit(backend, CommitRef(repo="bulk", id=head)):
                problems.append(f"{key}: not on the branch when answered")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    files = read_commit(backend, CommitRef(repo="bulk", id="master"))
    assert len(files) == WRITERS * EACH
    assert all(files[key] == key.encode() for key in files)
    made = commit_count(backend) - before
    # Each writer waits for its commit before its next write, so a batch holds at most one
    # write per writer: at least EACH commits; far fewer than one per write.
    assert EACH <= made < WRITERS * EACH


def test_a_failed_write_changes_nothing_and_the_batch_goes_on(
    batched: GlobalGateway, backend: Backend
) -> None:
    s3 = batched.client(config=config())
    before = commit_count(backend)
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="bulk", Key="bad", Body=b"data", ContentMD5=wrong_md5)
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    # Alone in its batch: once the window closed, nothing committed at all.
    settled(backend)
    assert commit_count(backend) == before
    s3.put_object(Bucket="bulk", Key="good", Body=b"ok")
    assert read_commit(backend, CommitRef(repo="bulk", id="master")) == {"good": b"ok"}
    assert commit_count(backend) == before + 1


def test_a_lone_writer_is_not_held_for_the_window(backend: Backend) -> None:
    """A client writing one object at a time gets its answer once its write is done (and the
    batch went quiet), not a whole window later: here the window is a minute."""
    with GlobalGateway(backend, batch_ms=60_000) as gateway:
        s3 = gateway.client(config=config())
        s3.create_bucket(Bucket="lone")
        answered: list[str] = []
        writer = threading.Thread(
            target=lambda: answered.extend(
                s3.put_object(Bucket="lone", Key=f"k{n}", Body=b"v")["VersionId"] for n in range(3)
            )
        )
        writer.start()
        writer.join(timeout=30)
        assert not writer.is_alive(), "a write waited for the window"
    assert len(set(answered)) == 3  # one commit each: nothing else was writing
    assert all(backend.inspect_commit("lone", v).finished is not None for v in answered)
    assert read_commit(backend, CommitRef(repo="lone", id="master")) == {
        f"k{n}": b"v" for n in range(3)
    }


def test_flush_finishes_the_open_batch(backend: Backend) -> None:
    """Closing the gateway (``flush``) finishes a batch whose window and quiet time have not
    come: the timers are held here, so only ``flush`` can close it."""
    backend.create_repo("held")
    backend.create_branch("held", "master")
    held: list[Any] = []
    batches = BatchedCommits(backend, 60_000, timer=lambda seconds, action: held.append(action))
    plan = CommitOnBranch(
        repo="held",
        branch="master",
        description="a test write",
        write=DeleteFile(ref=CommitRef(repo="held", id="master"), bucket="held", path="-"),
    )

    def put(write: BranchWrite) -> Any:
        assert isinstance(write, DeleteFile)
        backend.put_file(write.ref, "k", [b"v"])
        return write.ref.id

    answers: list[Any] = []
    writer = threading.Thread(target=lambda: answers.append(batches.run(plan, put)))
    writer.start()
    writer.join(timeout=1)
    assert writer.is_alive()  # its batch is open: no answer yet
    assert held, "the window and quiet timers were scheduled"
    batches.flush()
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert backend.inspect_commit("held", answers[0]).finished is not None
    assert read_commit(backend, CommitRef(repo="held", id="master")) == {"k": b"v"}


def test_branches_batch_apart(batched: GlobalGateway, backend: Backend) -> None:
    s3 = batched.client(config=config())
    s3.create_bucket(Bucket="dev.bulk")
    on_master = s3.put_object(Bucket="bulk", Key="a", Body=b"m")["VersionId"]
    on_dev = s3.put_object(Bucket="dev.bulk", Key="a", Body=b"d")["VersionId"]
    assert on_master != on_dev
    assert read_commit(backend, CommitRef(repo="bulk", id="dev")) == {"a": b"d"}
    assert read_commit(backend, CommitRef(repo="bulk", id="master")) == {"a": b"m"}


def test_the_window_must_be_positive(backend: Backend) -> None:
    with pytest.raises(ValueError, match="positive"):
        GlobalGateway(backend, batch_ms=0)
