"""Rows of the local store's database, and the lookups every ``LocalStore`` method starts with.

Each function takes the connection of the caller's transaction, so a method's checks and its
writes see one state of the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import DEFAULT_PROJECT, CommitInfo, CommitRef, Conflict, NotFound, NotSupported, RepoInfo
from .local_blobs import Staged
from .local_db import from_us
from .local_layers import Row, encode_path, lookup

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
        fields[11] = tuple(json.loads(fields[11]))
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
    # etag NULL means "the md5 hex"; segs is the digest alone: the file is one whole blob.
    return (key, staged.size, staged.md5, None, modified, seq, meta, staged.digest)
