"""Conformance: the history walk per path (what ListObjectVersions needs), on every backend.

Runs on each backend of conftest.py's ``BACKENDS`` (memory, local, and PachydermBackend over
the PFS double when the pachyderm extra is installed), through ``backends.history.history_of``:
a backend's own ``walk_history`` if it has one, else the walk over the base protocol. Also
counts what one page costs in store reads at two history depths.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pachs3 import versions
from pachs3.backends.base import Backend, CommitInfo, FileInfo
from pachs3.backends.history import FileHistory, history_of
from pachs3.core.plans import ListVersions
from pachs3.core.refs import CommitRef

REPO = "history"


def commit_with(
    backend: Backend,
    puts: dict[str, bytes] | None = None,
    deletes: tuple[str, ...] = (),
    *,
    empty: bool = False,
) -> CommitInfo:
    backend.create_repo(REPO, exist_ok=True)
    info = backend.start_commit(REPO, "master", empty=empty)
    for path, data in (puts or {}).items():
        backend.put_file(info.ref, path, [data])
    for path in deletes:
        backend.delete_file(info.ref, path)
    return backend.finish_commit(REPO, info.id)


def line_of(backend: Backend) -> list[CommitInfo]:
    head = backend.inspect_branch(REPO, "master").head
    assert head is not None
    return list(versions.ancestry(backend, CommitRef(repo=REPO, id=head)))


def changes(backend: Backend, **kwargs: str) -> list[tuple[str, str, bool, bool]]:
    """(path, commit id, deleted, latest) of every change along the branch's line."""
    walk = history_of(backend, line_of(backend), **kwargs)
    return [(c.path, c.commit.id, c.info is None, c.latest) for c in walk]


def test_each_path_lists_the_commits_that_changed_it_newest_first(backend: Backend) -> None:
    c1 = commit_with(backend, {"a": b"1", "b": b"1"})
    c2 = commit_with(backend, {"a": b"2"})
    c3 = commit_with(backend, {"c": b"1"}, deletes=("b",))
    commit_with(backend, {})  # changes nothing: in no path's history
    c5 = commit_with(backend, {"a": b"2"})  # the same bytes again: a new version
    assert [info.id for info in line_of(backend)][1:] == [
        c.id for c in reversed(backend.list_commits(REPO, branch="master"))
    ][::-1][1:]
    assert changes(backend) == [
        ("a", c5.id, False, True),
        ("a", c2.id, False, False),
        ("a", c1.id, False, False),
        ("b", c3.id, True, True),  # a delete marker, the latest of b
        ("b", c1.id, False, False),
        ("c", c3.id, False, True),
    ]


def test_a_change_carries_the_file_as_that_commit_has_it(backend: Backend) -> None:
    commit_with(backend, {"a": b"one"})
    commit_with(backend, {"a": b"three"})
    walked = list(history_of(backend, line_of(backend)))
    infos = [c.info for c in walked]
    assert all(isinstance(info, FileInfo) for info in infos)
    assert [info.size for info in infos if info is not None] == [5, 3]


def test_a_commit_started_empty_deletes_what_its_parent_had(backend: Backend) -> None:
    c1 = commit_with(backend, {"old": b"1", "kept": b"1"})
    c2 = commit_with(backend, {"kept": b"2", "new": b"1"}, empty=True)
    assert changes(backend) == [
        ("kept", c2.id, False, True),
        ("kept", c1.id, False, False),
        ("new", c2.id, False, True),
        ("old", c2.id, True, True),
        ("old", c1.id, False, False),
    ]


def test_prefix_and_start_after(backend: Backend) -> None:
    c1 = commit_with(backend, {"x/1": b"1", "x/2": b"1", "y/1": b"1"})
    c2 = commit_with(backend, {"x/2": b"2"})
    assert changes(backend, prefix="x/", start_after="x/1") == [
        ("x/2", c2.id, False, True),
        ("x/2", c1.id, False, False),
    ]
    assert changes(backend, prefix="y/") == [("y/1", c1.id, False, True)]


# ---------------------------------------------------------------------------------------------
# What a page costs


class CountingBackend:
    """Delegates to a backend and counts its store reads: calls of the read methods, and the
    entries the walks hand out."""

    READS = ("list_commits", "inspect_commit", "inspect_file", "walk_files", "walk_history")

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.calls: dict[str, int] = dict.fromkeys(self.READS, 0)
        self.entries = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in self.READS:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            result = attribute(*args, **kwargs)
            return self._counted_walk(result) if name.startswith("walk_") else result

        return counted

    def _counted_walk(self, walk: Iterator[Any]) -> Iterator[Any]:
        try:
            for item in walk:
                self.entries += 1
                yield item
        finally:
            close = getattr(walk, "close", None)
            if close is not None:
                close()


def page_cost(backend: Backend, depth: int, *, keys: int = 30, page: int = 10) -> dict[str, int]:
    """A branch of ``depth`` commits (the first writes ``keys`` keys, each later one rewrites
    one of them); the store reads of one ListObjectVersions page of ``page`` lines, its second
    page (resumed with both markers)."""
    commit_with(backend, {f"k{n:03}": b"0" for n in range(keys)})
    for n in range(1, depth):
        commit_with(backend, {f"k{n % keys:03}": str(n).encode()})
    head = backend.inspect_branch(REPO, "master").head
    assert head is not None
    ref = CommitRef(repo=REPO, id=head)
    first = versions.list_versions(
        ListVersions(ref=ref, bucket="b", ancestry=True, max_keys=page), backend, iter(())
    )
    assert first.truncated
    assert first.next_key_marker is not None
    assert first.next_version_id_marker is not None
    counting = CountingBackend(backend)
    second = versions.list_versions(
        ListVersions(
            ref=ref,
            bucket="b",
            ancestry=True,
            max_keys=page,
            key_marker=first.next_key_marker,
            version_id_marker=first.next_version_id_marker,
        ),
        counting,  # type: ignore[arg-type]
        iter(()),
    )
    assert len(second.entries) == page
    return {**counting.calls, "entries": counting.entries}


@pytest.mark.parametrize("depth", [4, 40])
def test_what_a_page_costs_at_a_depth(backend: Backend, depth: int, record_property: Any) -> None:
    """One ``list_commits`` for the line. Over the base protocol (history.py's walk), one walk
    per commit from the version marker's down for the key marker's own history and one per
    commit of the line for the page: a page's walks grow with the depth; the entries each walk
    hands out are bounded by what the page needs. LocalStore walks its index instead: two
    ``walk_history`` calls, no ``walk_files``."""
    cost = page_cost(backend, depth)
    record_property("page_cost", cost)
    print(f"depth {depth}: {cost}")
    assert cost["list_commits"] == 1
    assert cost["inspect_file"] == 0
    if isinstance(backend, FileHistory):  # LocalStore: its own walk, from its index
        assert cost["walk_files"] == 0
        assert cost["walk_history"] == 2
    else:  # a walk per commit of the line, and per commit from the marker's down for its key
        assert depth < cost["walk_files"] < 2 * depth
