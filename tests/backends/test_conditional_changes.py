"""Conditional changes on every backend (``conftest.BACKENDS``): ``expect=`` on ``put_file`` and
``compose_file`` is judged atomically with the change (S3's conditional writes, issue 15).

The racing tests hold two writers inside their bodies at once (a barrier between two chunks), so
both have passed any early check before either change becomes visible; the backend must still
let exactly one of them through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from pachs3.backends import (
    Absent,
    AlreadyExists,
    Backend,
    BackendError,
    CommitRef,
    ConditionFailed,
    Matching,
    NotFound,
)

REPO = "images"


@pytest.fixture
def oref(backend: Backend) -> CommitRef:
    backend.create_repo(REPO)
    return backend.start_commit(REPO, "master").ref


def read(backend: Backend, ref: CommitRef, path: str) -> bytes:
    return b"".join(backend.read_file(ref, path))


def test_put_if_match_replaces_only_the_version_named(backend: Backend, oref: CommitRef) -> None:
    first = backend.put_file(oref, "f", [b"one"])
    second = backend.put_file(oref, "f", [b"two"], expect=Matching(etag=first.etag))
    assert read(backend, oref, "f") == b"two"
    with pytest.raises(ConditionFailed):
        backend.put_file(oref, "f", [b"three"], expect=Matching(etag=first.etag))
    assert read(backend, oref, "f") == b"two"
    # Quoted, in a list, or '*' (any file): as an If-Match header carries it.
    backend.put_file(oref, "f", [b"four"], expect=Matching(etag=f'"x", "{second.etag}"'))
    backend.put_file(oref, "f", [b"five"], expect=Matching(etag="*"))
    assert read(backend, oref, "f") == b"five"


def test_put_if_match_on_a_missing_file_is_not_found(backend: Backend, oref: CommitRef) -> None:
    for etag in ("0123", "*"):
        with pytest.raises(NotFound) as caught:
            backend.put_file(oref, "nothing", [b"x"], expect=Matching(etag=etag))
        assert caught.value.what == "file"
    assert [info.path for info in backend.walk_files(oref)] == []


def test_put_if_match_sees_inherited_files(backend: Backend) -> None:
    backend.create_repo(REPO)
    parent = backend.start_commit(REPO, "master")
    old = backend.put_file(parent.ref, "kept", [b"old"])
    backend.finish_commit(REPO, parent.id)
    child = backend.start_commit(REPO, "master").ref
    backend.put_file(child, "kept", [b"new"], expect=Matching(etag=old.etag))
    assert read(backend, child, "kept") == b"new"


def test_compose_with_expectations(backend: Backend, oref: CommitRef) -> None:
    backend.put_file(oref, "part", [b"p"])
    target = backend.put_file(oref, "t", [b"target"])
    parts = [(oref, "part")]
    with pytest.raises(AlreadyExists):
        backend.compose_file(oref, "t", parts, etag="e-1", expect=Absent())
    with pytest.raises(ConditionFailed):
        backend.compose_file(oref, "t", parts, etag="e-1", expect=Matching(etag="other"))
    with pytest.raises(NotFound):
        backend.compose_file(oref, "new", parts, etag="e-1", expect=Matching(etag=target.etag))
    assert read(backend, oref, "t") == b"target"
    done = backend.compose_file(oref, "t", parts, etag="e-1", expect=Matching(etag=target.etag))
    assert done.etag == "e-1"
    backend.compose_file(oref, "fresh", parts, etag="e-2", expect=Absent())
    assert read(backend, oref, "t") == read(backend, oref, "fresh") == b"p"


# --------------------------------------------------------------------------------------------
# Races


def _race(writers: list[Callable[[], object]]) -> list[BaseException | None]:
    """Run the writers in threads at once; what each raised (None: it succeeded)."""
    results: list[BaseException | None] = [None] * len(writers)

    def run(index: int) -> None:
        try:
            writers[index]()
        except BaseException as exc:  # collected for the assertions, including test failures
            results[index] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


def _held_body(barrier: threading.Barrier, data: bytes) -> Iterator[bytes]:
    """A body that stops between its two chunks until every racing writer is in its body."""
    yield data[:1]
    barrier.wait(timeout=20)
    yield data[1:]


@pytest.mark.parametrize("expect_of", ["if-match", "if-none-match"])
def test_racing_conditional_puts_exactly_one_wins(
    backend: Backend, oref: CommitRef, expect_of: str
) -> None:
    old = backend.put_file(oref, "f", [b"old"]) if expect_of == "if-match" else None
    expect = Absent() if old is None else Matching(etag=old.etag)
    barrier = threading.Barrier(2)
    bodies = [b"written by A", b"written by B"]
    results = _race(
        [
            lambda body=body: backend.put_file(  # type: ignore[misc]
                oref, "f", _held_body(barrier, body), expect=expect
            )
            for body in bodies
        ]
    )
    winners = [n for n, error in enumerate(results) if error is None]
    losers = [error for error in results if error is not None]
    assert len(winners) == 1, results
    lost = AlreadyExists if old is None else ConditionFailed
    assert len(losers) == 1, results
    assert isinstance(losers[0], lost), results
    assert read(backend, oref, "f") == bodies[winners[0]]


def test_racing_if_match_put_and_compose_exactly_one_wins(
    backend: Backend, oref: CommitRef
) -> None:
    """A PUT and a multipart completion naming the same old ETag: one of them is refused."""
    old = backend.put_file(oref, "f", [b"old"])
    backend.put_file(oref, "part", [b"composed"])
    barrier = threading.Barrier(2)

    def compose() -> object:
        barrier.wait(timeout=20)  # the PUT is inside its body now
        return backend.compose_file(
            oref, "f", [(oref, "part")], etag="e-1", expect=Matching(etag=old.etag)
        )

    def put() -> object:
        return backend.put_file(
            oref, "f", _held_body(barrier, b"put"), expect=Matching(etag=old.etag)
        )

    results = _race([put, compose])
    assert sorted(type(error).__name__ for error in results) == ["ConditionFailed", "NoneType"]
    winner = results.index(None)
    assert read(backend, oref, "f") == (b"put", b"composed")[winner]
    assert all(error is None or isinstance(error, BackendError) for error in results)


# --------------------------------------------------------------------------------------------
# Conditional deletes


def test_delete_with_expectations(backend: Backend, oref: CommitRef) -> None:
    info = backend.put_file(oref, "f", [b"four"])
    for refused in (Matching(etag="other"), Matching(size=5), Matching(etag=info.etag, size=3)):
        with pytest.raises(ConditionFailed):
            backend.delete_file(oref, "f", expect=refused)
        assert read(backend, oref, "f") == b"four"
    exact = Matching(etag=f'"{info.etag}"', size=4, modified=info.modified)
    assert backend.delete_file(oref, "f", expect=exact) is True
    with pytest.raises(NotFound):  # If-Match on no object
        backend.delete_file(oref, "f", expect=Matching(etag="*"))
    assert backend.delete_file(oref, "f", expect=Matching(size=4)) is False  # size alone: 204


def test_racing_if_match_put_and_delete_exactly_one_wins(backend: Backend, oref: CommitRef) -> None:
    old = backend.put_file(oref, "f", [b"old"])
    barrier = threading.Barrier(2)

    def delete() -> object:
        barrier.wait(timeout=20)  # the PUT is inside its body now
        return backend.delete_file(oref, "f", expect=Matching(etag=old.etag))

    def put() -> object:
        return backend.put_file(
            oref, "f", _held_body(barrier, b"put"), expect=Matching(etag=old.etag)
        )

    put_error, delete_error = _race([put, delete])
    if put_error is None:  # the PUT won: the delete found another version
        assert isinstance(delete_error, ConditionFailed), delete_error
        assert read(backend, oref, "f") == b"put"
    else:  # the delete won: the PUT found no object
        assert delete_error is None, delete_error
        assert isinstance(put_error, NotFound), put_error
        assert [info.path for info in backend.walk_files(oref)] == []


def test_copy_with_expectations_on_the_destination(backend: Backend, oref: CommitRef) -> None:
    backend.put_file(oref, "src", [b"source"])
    dst = backend.put_file(oref, "dst", [b"dest"])
    with pytest.raises(AlreadyExists):
        backend.copy_file(oref, "src", oref, "dst", expect=Absent())
    with pytest.raises(ConditionFailed):
        backend.copy_file(oref, "src", oref, "dst", expect=Matching(etag="other"))
    with pytest.raises(NotFound):
        backend.copy_file(oref, "src", oref, "new", expect=Matching(etag=dst.etag))
    assert read(backend, oref, "dst") == b"dest"
    backend.copy_file(oref, "src", oref, "dst", expect=Matching(etag=dst.etag))
    backend.copy_file(oref, "src", oref, "fresh", expect=Absent())
    assert read(backend, oref, "dst") == read(backend, oref, "fresh") == b"source"
    assert sorted(info.path for info in backend.walk_files(oref)) == ["dst", "fresh", "src"]
