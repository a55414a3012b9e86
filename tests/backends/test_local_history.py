"""LocalStore's own history walk (``backends/local/history.py``) against the walk over the base
protocol (``backends.history.walk_history``): the same changes for every line the callers
pass, on a real store on disk; a store made before the index gains it when opened; and what a
ListObjectVersions page reads does not grow with the depth of the history (counted, not timed).
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pachs3 import LocalStore, versions
from pachs3.backends.base import CommitInfo, NotFound
from pachs3.backends.history import FileChange, FileHistory, walk_history
from pachs3.backends.local.database import Database
from pachs3.core.plans import ListVersions
from pachs3.core.refs import CommitRef

REPO = "r"
PATHS = ("a", "a/a", "a/b", "b", "c")
WINDOWS = (("", ""), ("a", ""), ("", "a"), ("a/", "a/a"), ("", "c"), ("b", "a"))

Op = tuple[Any, ...]
OPS = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(PATHS), st.sampled_from([b"x", b"yy"])),
    st.tuples(st.just("delete"), st.sampled_from(PATHS)),
    st.tuples(st.just("copy"), st.sampled_from(PATHS), st.sampled_from(PATHS)),
    # finish the open commit, start the next: on which branch, started empty, from which parent
    st.tuples(
        st.just("commit"),
        st.sampled_from(["master", "master", "side"]),
        st.booleans(),
        st.none() | st.integers(0, 50),
    ),
)


def run(store: LocalStore, ops: list[Op], *, finish_last: bool) -> None:
    """Apply ``ops`` to a repo of ``store``, starting with an open commit on master."""
    store.create_repo(REPO)
    finished: list[str] = []
    open_ = store.start_commit(REPO, "master")
    for op in ops:
        if op[0] == "put":
            store.put_file(open_.ref, op[1], [op[2]])
        elif op[0] == "delete":
            store.delete_file(open_.ref, op[1])
        elif op[0] == "copy":
            with contextlib.suppress(NotFound):  # nothing to copy from
                store.copy_file(open_.ref, op[1], open_.ref, op[2])
        else:
            _, branch, empty, parent = op
            finished.append(store.finish_commit(REPO, open_.id).id)
            base = None if parent is None else finished[parent % len(finished)]
            open_ = store.start_commit(REPO, branch, parent=base, empty=empty)
    if finish_last:
        store.finish_commit(REPO, open_.id)


def lines(store: LocalStore) -> Iterator[list[CommitInfo]]:
    """Every line a caller passes: each commit's ancestry, and each commit alone."""
    for info in store.list_commits(REPO):
        yield list(versions.ancestry(store, CommitRef(repo=REPO, id=info.id)))
        yield [info]


def assert_same_walks(store: LocalStore) -> int:
    """Both walks give the same changes for every line and window; returns how many changes."""
    seen = 0
    for line in lines(store):
        for prefix, start_after in WINDOWS:
            own = list(store.walk_history(line, prefix=prefix, start_after=start_after))
            generic = list(walk_history(store, line, prefix=prefix, start_after=start_after))
            assert own == generic, (prefix, start_after, [c.id for c in line])
            seen += len(own)
    return seen


def forget_index(directory: Path) -> None:
    """Make the store's database look like one made before the index (main's layout)."""
    con = sqlite3.connect(directory / "store.db")
    try:
        con.execute("DROP TABLE commit_changes")
        con.execute("DROP TABLE path_changes")
        con.commit()
    finally:
        con.close()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    ops=st.lists(OPS, max_size=40),
    finish_last=st.booleans(),
    page_size=st.sampled_from([1, 3, 1000]),
)
def test_the_index_walk_equals_the_walk_over_every_commit(
    ops: list[Op], finish_last: bool, page_size: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "store"
        with LocalStore(directory, page_size=page_size) as store:
            run(store, ops, finish_last=finish_last)
            assert_same_walks(store)
        # The same history, indexed when a store made before the index is opened.
        forget_index(directory)
        with LocalStore(directory, page_size=page_size) as store:
            assert_same_walks(store)


# ---------------------------------------------------------------------------------------------
# Examples


def changes(walk: Iterator[FileChange]) -> list[tuple[str, str, bool, bool]]:
    return [(c.path, c.commit.id, c.info is None, c.latest) for c in walk]


def head_line(store: LocalStore, branch: str = "master") -> list[CommitInfo]:
    head = store.inspect_branch(REPO, branch).head
    assert head is not None
    return list(versions.ancestry(store, CommitRef(repo=REPO, id=head)))


def test_local_store_has_its_own_walk(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as store:
        assert isinstance(store, FileHistory)


def test_a_store_made_before_the_index_lists_versions_once_opened(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    with LocalStore(directory) as store:
        store.create_repo(REPO)
        ids = []
        for n, (puts, empty) in enumerate(
            [({"a": b"1", "b": b"1"}, False), ({"a": b"2"}, False), ({"c": b"1"}, True)]
        ):
            info = store.start_commit(REPO, "master", empty=empty)
            for path, data in puts.items():
                store.put_file(info.ref, path, [data])
            if n == 1:
                store.delete_file(info.ref, "b")
            ids.append(store.finish_commit(REPO, info.id).id)
        expected = changes(walk_history(store, head_line(store)))
    forget_index(directory)
    with LocalStore(directory) as store:
        walked = changes(store.walk_history(head_line(store)))
    c1, c2, c3 = ids
    assert (
        walked
        == expected
        == [
            ("a", c3, True, True),  # c3 started empty: a is gone
            ("a", c2, False, False),
            ("a", c1, False, False),
            ("b", c2, True, True),
            ("b", c1, False, False),
            ("c", c3, False, True),
        ]
    )


def test_a_commit_finished_by_an_older_pachs3_is_walked_the_long_way_then_indexed(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "s"
    with LocalStore(directory) as store:
        store.create_repo(REPO)
        for data in (b"1", b"2"):
            info = store.start_commit(REPO, "master")
            store.put_file(info.ref, "a", [data])
            store.finish_commit(REPO, info.id)
        expected = changes(walk_history(store, head_line(store)))
    con = sqlite3.connect(directory / "store.db")  # as a pachs3 without the index leaves it
    con.execute("DELETE FROM commit_changes WHERE seq = (SELECT max(seq) FROM commits)")
    con.execute("DELETE FROM path_changes WHERE seq = (SELECT max(seq) FROM commits)")
    con.commit()
    con.close()
    with LocalStore(directory) as store:
        con = sqlite3.connect(directory / "store.db")
        (indexed,) = con.execute("SELECT count(*) FROM commit_changes").fetchone()
        con.close()
        assert indexed == 2  # indexed again when opened
        assert changes(store.walk_history(head_line(store))) == expected


def test_a_tombstone_over_nothing_and_an_unchanged_path_are_no_changes(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as store:
        store.create_repo(REPO)
        first = store.start_commit(REPO, "master")
        store.put_file(first.ref, "kept", [b"1"])
        store.put_file(first.ref, "gone", [b"1"])
        store.finish_commit(REPO, first.id)
        second = store.start_commit(REPO, "master")
        store.delete_file(second.ref, "gone")
        store.put_file(second.ref, "new", [b"1"])
        store.delete_file(second.ref, "new")  # never there before: no tombstone, no change
        store.put_file(second.ref, "gone", [b"2"])
        store.delete_file(second.ref, "gone")
        open_line = [store.inspect_commit(REPO, second.id), *head_line(store)]
        walked = changes(store.walk_history(open_line))
        assert walked == changes(walk_history(store, open_line))
        assert walked == [
            ("gone", second.id, True, True),
            ("gone", first.id, False, False),
            ("kept", first.id, False, True),
        ]


# ---------------------------------------------------------------------------------------------
# What a page reads


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the stores opened from now on run (a trace on each connection)."""
    traced: list[str] = []
    connect = Database._connect

    def tracing(self: Database) -> sqlite3.Connection:
        con = connect(self)
        con.set_trace_callback(traced.append)
        return con

    monkeypatch.setattr(Database, "_connect", tracing)
    return traced


def _page_reads(store: LocalStore, traced: list[str], depth: int) -> dict[str, int]:
    """A branch of ``depth`` commits: the first writes ``k000`` and 30 keys ``z...``, each
    later one rewrites ``k000`` or (every other time) one of 29 keys ``k...``. The reads of
    pages of 5 lines: the first, one resumed inside ``k000``'s history below its 5th newest
    version, the one after it, and the one after ``y`` (30 keys of one version)."""
    store.create_repo(REPO)
    ids = []
    for n in range(depth):
        info = store.start_commit(REPO, "master")
        keys = ["k000", *(f"z{k:03}" for k in range(30))] if n == 0 else []
        keys = keys or ["k000" if n % 2 == 0 else f"k{n % 30:03}"]
        for key in keys:
            store.put_file(info.ref, key, [str(n).encode()])
        ids.append(store.finish_commit(REPO, info.id).id)
    newest_writes_of_k000 = [commit for n, commit in enumerate(ids) if n % 2 == 0][::-1]
    ref = CommitRef(repo=REPO, id=ids[-1])
    pages = {"first": ("", ""), "resumed": ("k000", newest_writes_of_k000[4]), "after_y": ("y", "")}
    reads: dict[str, int] = {}
    for name, marks in pages.items():
        key_marker, version_marker = marks
        for turn in ("", "_next"):
            listing = ListVersions(
                ref=ref,
                bucket="b",
                ancestry=True,
                max_keys=5,
                key_marker=key_marker,
                version_id_marker=version_marker,
            )
            scans, statements = store.range_scans, len(traced)
            page = versions.list_versions(listing, store, iter(()))
            reads[f"{name}{turn}_seeks"] = store.range_scans - scans
            reads[f"{name}{turn}_statements"] = len(traced) - statements
            assert len(page.entries) == 5
            assert page.next_key_marker is not None
            key_marker, version_marker = page.next_key_marker, page.next_version_id_marker or ""
    return reads


def test_a_page_reads_as_much_at_depth_400_as_at_depth_40(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = _statements(monkeypatch)
    costs = {}
    for depth in (40, 400):
        with LocalStore(tmp_path / f"depth-{depth}") as store:
            costs[depth] = _page_reads(store, traced, depth)
    print(costs)
    assert costs[40] == costs[400]
    assert costs[40]["resumed_seeks"] > 0


def test_a_repo_deleted_and_made_again_has_only_its_new_history(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as store:
        for data in (b"old", b"new"):
            store.create_repo(REPO, exist_ok=True)
            info = store.start_commit(REPO, "master")
            store.put_file(info.ref, "a", [data])
            store.put_file(info.ref, data.decode(), [data])
            last = store.finish_commit(REPO, info.id)
            if data == b"old":
                store.delete_repo(REPO)
        second = store.start_commit(REPO, "master")  # a line of two: walked from the index
        store.finish_commit(REPO, second.id)
        line = head_line(store)
        walked = changes(store.walk_history(line))
        assert walked == changes(walk_history(store, line))
        assert walked == [("a", last.id, False, True), ("new", last.id, False, True)]
    con = sqlite3.connect(tmp_path / "s" / "store.db")
    indexed = con.execute("SELECT path FROM path_changes ORDER BY path").fetchall()
    con.close()
    assert indexed == [(b"a",), (b"new",)]  # the deleted repo's rows went with it
