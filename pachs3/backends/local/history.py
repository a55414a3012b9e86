"""ListObjectVersions on the local store: each path's history read from an index, not from the
view of every commit of the line.

Every commit writes its changes into its own layer (layers.py), and a finished commit's own
layer never changes. When a commit finishes, the paths of its own layer go into
``path_changes`` (repo, path, commit seq; newest first) and the commit into ``commit_changes``,
with whether it started empty (its view did not include its parent's: a job's output commit).
Along a line that runs from a commit down to the first commit of the repo (an ancestry), the
file a commit holds at a path is then its own entry if it wrote the path, else nothing if it
started empty, else what its parent holds. So the commits that wrote a path, with the positions
of the commits that started empty, say every change of the path:

- a commit that wrote the path changed it unless its entry is the same version as what its
  parent held (a tombstone where the parent held nothing is no change);
- a file put at the path is deleted by the newest commit below the next write that started
  empty, if there is one.

A page therefore reads one query for the line's commits (as ``list_commits`` does), then the
index rows of the paths it lists, a few pages of rows per query: no more at depth 3,000 than at
depth 40, beyond the index rows of other branches' commits that share the paths. An open commit
at the head of the line (it is not indexed yet) adds one paged scan of its own layer.

Lines the index cannot answer exactly are left to the walk over the base protocol
(``pachs3.backends.history.walk_history``): a one-commit line (the oldest commit of a line is
compared with nothing, so its whole view is its changes: one walk), a line that stops above the
first commit, and a line holding a commit finished by a pachs3 that predates the index (indexed
when the store is next opened by this one).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import sqlite3
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..base import CommitInfo, FileInfo, NotFound
from ..history import FileChange, same_version
from . import schema as sql
from .database import Database
from .layers import FIRST_PAGE, decode_path, lookup, scan, upper_bound
from .rows import CommitRow, find_commit, parse_layers
from .schema import Entry, LineCommit

FileInfoOf = Callable[[Entry], FileInfo]

# --------------------------------------------------------------------------------------------
# Keeping the index


def index_commit(con: sqlite3.Connection, commit: CommitRow) -> None:
    """Index ``commit`` as it finishes (``commit`` is its row while open: its layers are still
    the ones it started with, its own layer alone when it started empty)."""
    empty = commit.parent is not None and commit.layers == (commit.own_layer,)
    _index(con, commit, started_empty=empty)


def index_is_stale(con: sqlite3.Connection) -> bool:
    """Whether ``ensure_index`` has work to do (two short reads when it has none)."""
    (tables,) = con.execute(sql.HAS_HISTORY_TABLES).fetchone()
    return tables < len(sql.HISTORY_TABLES) or bool(
        con.execute(sql.HAS_UNINDEXED_COMMITS).fetchone()
    )


def ensure_index(con: sqlite3.Connection) -> None:
    """Add the index tables to a store made before them, and index every finished commit that is
    not indexed yet (all of them in such a store; any a pachs3 that predates the index finished
    since). Inside the caller's write transaction."""
    for table in sql.HISTORY_TABLES:
        con.execute(table)
    for row in con.execute(sql.SELECT_UNINDEXED_COMMITS).fetchall():
        commit = CommitRow.from_row(row)
        _index(con, commit, started_empty=_started_empty(con, commit))


def _index(con: sqlite3.Connection, commit: CommitRow, *, started_empty: bool) -> None:
    con.execute(sql.INDEX_COMMIT_PATHS, (commit.repo, commit.seq, commit.own_layer))
    con.execute(sql.INSERT_COMMIT_CHANGES, (commit.seq, int(started_empty)))


def _started_empty(con: sqlite3.Connection, commit: CommitRow) -> bool:
    """Whether a finished commit started empty, told from its files (its layer list may have
    been compacted since): a file of its parent that it did not write is in its view unless it
    started empty. When it wrote every path of its parent, either answer gives the same views."""
    if commit.parent is None:
        return False
    try:
        parent = find_commit(con, commit.repo, commit.parent)
    except NotFound:
        return False
    if not parent.layers:
        return False
    unwritten = con.execute(
        sql.paths_not_in_layer(len(parent.layers)), (*parent.layers, commit.own_layer)
    )
    for (path,) in unwritten:
        if lookup(con, parent.layers, path) is not None:  # not hidden in the parent's view
            return lookup(con, commit.layers, path) is None
    return False


# --------------------------------------------------------------------------------------------
# Walking a line


@dataclass(frozen=True, slots=True)
class IndexedLine:
    """A line the index answers: its commits, where each stands, which started empty."""

    repo: str
    commits: Sequence[CommitInfo]
    positions: dict[int, int]
    """seq -> position in the line (0: the newest)."""
    empty_starts: list[int]
    """Positions (ascending) of the commits that started empty."""
    open_head: int | None
    """The own layer of the newest commit when it is open (not indexed yet)."""
    head_seq: int
    top: int
    """The newest indexed commit's seq: index rows above it are not of the line."""


def indexed_line(db: Database, line: Sequence[CommitInfo]) -> IndexedLine | None:
    """``line`` with what the walk needs of its commits, or None if the index cannot answer it
    (see the module docstring)."""
    if len(line) < 2 or line[-1].parent is not None:
        return None
    repo = line[0].repo
    for newer, older in itertools.pairwise(line):
        if newer.parent != older.id or older.repo != repo:
            return None
    with db.connection() as con:
        rows = con.execute(sql.SELECT_LINE_COMMITS, (repo,)).fetchall()
    found = {row.id: row for row in map(LineCommit._make, rows)}
    positions: dict[int, int] = {}
    empty_starts: list[int] = []
    open_head: int | None = None
    for position, info in enumerate(line):
        row = found.get(info.id)
        if row is None:
            return None  # deleted meanwhile
        started_empty = row.started_empty
        if started_empty is None:
            if position or row.finished_us is not None:
                return None  # finished by a pachs3 that does not index
            open_head = row.own_layer
            started_empty = parse_layers(row.layers) == (row.own_layer,)
        positions[row.seq] = position
        if started_empty and position < len(line) - 1:
            empty_starts.append(position)
    # A child's seq is above its parent's (the parent's row existed first): seqs fall down the
    # line, so the newest indexed commit is the head, or the one below an open head.
    seqs = list(positions)
    top = seqs[1] if open_head is not None else seqs[0]
    return IndexedLine(repo, line, positions, empty_starts, open_head, seqs[0], top)


def walk(
    db: Database,
    line: IndexedLine,
    *,
    prefix: bytes,
    start_after: bytes,
    page_size: int,
    file_info: FileInfoOf,
) -> Generator[FileChange, None, None]:
    """The changes along ``line`` of the paths under ``prefix`` after ``start_after``, as
    ``pachs3.backends.history.walk_history`` gives them."""
    if start_after >= prefix:
        lower, inclusive = start_after, False
    else:
        lower, inclusive = prefix, True
    upper = upper_bound(prefix)
    bounds: dict[str, Any] = {"lower": lower, "inclusive": inclusive, "upper": upper}
    streams = [_indexed(db, line, page_size=page_size, **bounds)]
    if line.open_head is not None:
        own = scan(db, line.open_head, page_size=page_size, **bounds)
        streams.append((line.head_seq, entry) for entry in own)
    merged = heapq.merge(*streams, key=lambda row: (row[1].path, -row[0]))
    writes = ((line.positions[seq], entry) for seq, entry in merged if seq in line.positions)
    for path, group in itertools.groupby(writes, key=lambda write: write[1].path):
        states = ((position, _info(entry, file_info)) for position, entry in group)
        yield from _path_changes(line, decode_path(path), states)


def _info(entry: Entry, file_info: FileInfoOf) -> FileInfo | None:
    return None if entry.size is None else file_info(entry)


def _path_changes(
    line: IndexedLine, path: str, writes: Iterator[tuple[int, FileInfo | None]]
) -> Iterator[FileChange]:
    """One path's changes from the commits that wrote it (positions ascending: newest first)."""
    latest = True
    newer = -1  # the position of the newer write; -1: above the head
    current = next(writes, None)
    while current is not None:
        position, info = current
        older = next(writes, None)
        if info is not None:
            hidden_at = _empty_start_between(line, newer, position)
            if hidden_at is not None:  # a newer commit started empty: the file ends there
                deleted = line.commits[hidden_at]
                yield FileChange(path=path, commit=deleted, info=None, latest=latest)
                latest = False
        before = None
        if older is not None and _empty_start_between(line, position, older[0]) is None:
            before = older[1]
        if not same_version(info, before):
            yield FileChange(path=path, commit=line.commits[position], info=info, latest=latest)
            latest = False
        newer, current = position, older


def _empty_start_between(line: IndexedLine, newer: int, older: int) -> int | None:
    """The oldest commit that started empty strictly between two positions, if any."""
    index = bisect.bisect_left(line.empty_starts, older) - 1
    if index >= 0 and line.empty_starts[index] > newer:
        return line.empty_starts[index]
    return None


def _indexed(
    db: Database,
    line: IndexedLine,
    *,
    lower: bytes,
    inclusive: bool,
    upper: bytes | None,
    page_size: int,
) -> Iterator[tuple[int, Entry]]:
    """(seq, entry) of the index rows in range, paths ascending, each path's newest first, a
    page per short query. A page that ends inside a path goes on inside it (``SCAN_PATH_CHANGES``)
    before going on after it, so a path with thousands of writes is never read whole to list a
    few of them."""
    limit = min(FIRST_PAGE, page_size)
    params: dict[str, Any] = {
        "repo": line.repo,
        "path": lower,
        "seq": line.top + 1,
        "upper": upper,
        "top": line.top,
        "n": limit,
    }
    inside = inclusive and bool(lower)  # the lower bound itself may be a path
    after = sql.scan_changes_after(bounded=upper is not None)
    while True:
        db.count_range_scan()
        with db.connection() as con:
            rows = con.execute(sql.SCAN_PATH_CHANGES if inside else after, params).fetchall()
        for seq, *columns in rows:
            yield seq, Entry._make(columns)
        if len(rows) == limit:
            params["seq"], params["path"] = rows[-1][0], rows[-1][1]
            inside = True
        elif inside:
            inside = False  # the path is done: go on after it
        else:
            return
        limit = params["n"] = min(limit * 4, page_size)
