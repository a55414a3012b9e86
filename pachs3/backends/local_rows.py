"""Rows of the local store's database, and the lookups every ``LocalStore`` method starts with.

Each function takes the connection of the caller's transaction, so a method's checks and its
writes see one state of the store.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .base import DEFAULT_PROJECT, CommitInfo, CommitRef, Conflict, NotFound, NotSupported, RepoInfo
from .local_blobs import Staged, encode_whole
from .local_db import from_us
from .local_layers import ENTRY_COLUMNS, SIZE, Row, encode_path, lookup

COMMIT_COLUMNS = (
    "seq, id, repo, branch, parent, started_us, finished_us, provenance, description, error, "
    "own_layer, layers"
)


@dataclass(frozen=True, slots=True)
class CommitRow:
    """A row of ``commits``."""

    seq: int
    id: str
    repo: str
    branch: str | None
    parent: str | None
    started_us: int
    finished_us: int | None
    provenance: str
    description: str
    error: str | None
    own_layer: int
    layers: tuple[int, ...]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CommitRow:
        fields = list(row)
        fields[11] = parse_layers(fields[11])
        return cls(*fields)

    @property
    def is_open(self) -> bool:
        return self.finished_us is None

    def info(self) -> CommitInfo:
        return CommitInfo(
            repo=self.repo,
            id=self.id,
            branch=self.branch,
            parent=self.parent,
            started=from_us(self.started_us),
            finished=None if self.finished_us is None else from_us(self.finished_us),
            provenance=tuple(CommitRef(repo=r, id=i) for r, i in json.loads(self.provenance)),
            description=self.description,
            error=self.error,
        )


@functools.lru_cache(maxsize=4096)
def parse_layers(text: str) -> tuple[int, ...]:
    """A commit's layer list from its JSON. Cached: the same few lists are read again and again
    (every commit of a branch shares its parent's list until compaction rewrites it)."""
    return tuple(json.loads(text))


# --------------------------------------------------------------------------------------------
# Lookups

NO_BRANCH = object()


def repo_row(con: sqlite3.Connection, repo: str) -> Any:
    return con.execute(
        "SELECT name, created_us, description FROM repos WHERE name = ?", (repo,)
    ).fetchone()


def require_repo(con: sqlite3.Connection, repo: str, project: str = DEFAULT_PROJECT) -> Any:
    row = None if project != DEFAULT_PROJECT else repo_row(con, repo)
    if row is None:
        raise NotFound("repo", repo if project == DEFAULT_PROJECT else f"{project}/{repo}")
    return row


def repo_info(row: Sequence[Any]) -> RepoInfo:
    return RepoInfo(name=row[0], created=from_us(row[1]), description=row[2])


def branch_head(con: sqlite3.Connection, repo: str, branch: str) -> Any:
    """The branch's head id, None for an empty branch, or ``NO_BRANCH``."""
    row = con.execute(
        "SELECT head FROM branches WHERE repo = ? AND name = ?", (repo, branch)
    ).fetchone()
    return NO_BRANCH if row is None else row[0]


def ensure_branch(con: sqlite3.Connection, repo: str, branch: str) -> str | None:
    head = branch_head(con, repo, branch)
    if head is NO_BRANCH:
        con.execute("INSERT INTO branches (repo, name, head) VALUES (?, ?, NULL)", (repo, branch))
        return None
    assert head is None or isinstance(head, str)
    return head


def find_commit(con: sqlite3.Connection, repo: str, ref: str) -> CommitRow:
    """``ref`` is a commit id of ``repo``, or a branch name meaning its head."""
    row = con.execute(
        f"SELECT {COMMIT_COLUMNS} FROM commits WHERE id = ? AND repo = ?", (ref, repo)
    ).fetchone()
    if row is None:
        head = branch_head(con, repo, ref)
        if isinstance(head, str):
            row = con.execute(
                f"SELECT {COMMIT_COLUMNS} FROM commits WHERE id = ?", (head,)
            ).fetchone()
    if row is None:
        raise NotFound("commit", f"{repo}@{ref}")
    return CommitRow.from_row(row)


def find_ref(con: sqlite3.Connection, ref: CommitRef) -> CommitRow:
    require_repo(con, ref.repo, ref.project)
    return find_commit(con, ref.repo, ref.id)


def writable(con: sqlite3.Connection, ref: CommitRef) -> CommitRow:
    commit = find_ref(con, ref)
    if not commit.is_open:
        raise Conflict(f"commit {ref.repo}@{commit.id} is finished; it cannot be written")
    return commit


def require_file(con: sqlite3.Connection, commit: CommitRow, path: str) -> Row:
    row = lookup(con, commit.layers, encode_path(path))
    if row is None:
        raise NotFound("file", f"{commit.repo}@{commit.id}:{path}")
    return row


class FileCommit(NamedTuple):
    """What ``find_file`` says of the commit it resolved."""

    seq: int
    id: str
    finished_us: int | None
    own_layer: int


# The hot path of every small read and write, in one statement (so a read needs no transaction
# and a write checks its commit and its path in one step): resolve the commit, an id of the repo
# or else a branch name meaning the branch's head (as find_commit does), and find the newest
# entry for the path among the commit's layers. json_each walks the layer list (j.key is the
# position, newest first) and each layer costs one probe of the (layer, path) primary key. The
# LEFT JOINs keep the commit's row when no layer has the path (or the list is empty).
_FILE_QUERY = (
    "SELECT c.seq, c.id, c.finished_us, c.own_layer, "
    + ", ".join(f"e.{column}" for column in ENTRY_COLUMNS.split(", "))
    + " FROM commits AS c"
    " LEFT JOIN json_each(c.layers) AS j"
    " LEFT JOIN entries AS e ON e.layer = j.value AND e.path = ?3"
    " WHERE c.repo = ?1 AND c.id = coalesce("
    "(SELECT id FROM commits WHERE id = ?2 AND repo = ?1),"
    " (SELECT head FROM branches WHERE repo = ?1 AND name = ?2))"
    " ORDER BY e.path IS NULL, j.key LIMIT 1"
)


def find_file(
    con: sqlite3.Connection, ref: CommitRef, path: bytes, *, writing: bool = False
) -> tuple[FileCommit, Row | None]:
    """The commit ``ref`` names and its visible entry at ``path`` (None: absent or deleted).

    NotFound for a missing repo or commit, as ``find_ref`` raises it; with ``writing``, Conflict
    if the commit is finished (as ``writable``).
    """
    if ref.project != DEFAULT_PROJECT:
        require_repo(con, ref.repo, ref.project)
    row = con.execute(_FILE_QUERY, (ref.repo, ref.id, path)).fetchone()
    if row is None:
        find_ref(con, ref)  # says which is missing, the repo or the commit
        raise NotFound("commit", f"{ref.repo}@{ref.id}")  # created since: not there when asked
    commit = FileCommit(*row[:4])
    if writing and commit.finished_us is not None:
        raise Conflict(f"commit {ref.repo}@{commit.id} is finished; it cannot be written")
    entry: Row = row[4:]
    return commit, None if entry[SIZE] is None else entry


def resolve_provenance(con: sqlite3.Connection, refs: Sequence[CommitRef]) -> list[list[str]]:
    """Check each provenance commit exists; store it as [repo, commit id] (branch names are
    resolved to the head they mean now, since provenance must name exact commits)."""
    resolved: list[list[str]] = []
    for ref in refs:
        pair = [ref.repo, find_ref(con, ref).id]
        if pair not in resolved:
            resolved.append(pair)
    return resolved


def file_key(path: str) -> bytes:
    if not path:
        raise NotSupported("a file path cannot be empty")
    return encode_path(path)


def encode_meta(metadata: Mapping[str, str] | None) -> str | None:
    if not metadata:
        return None
    return json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"))


def put_row(key: bytes, staged: Staged, modified: int, seq: int, meta: str | None) -> Row:
    # etag NULL means "the md5 hex"; segs is the short form: the file is one whole content.
    segs = None if staged.digest is None else encode_whole(staged.inline, staged.digest)
    return (key, staged.size, staged.md5, None, modified, seq, meta, segs)
