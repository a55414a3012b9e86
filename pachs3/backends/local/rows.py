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
from typing import Any

from ..base import (
    DEFAULT_PROJECT,
    CommitInfo,
    CommitRef,
    Conflict,
    NotFound,
    NotSupported,
    RepoInfo,
)
from .blobs import Staged, encode_whole
from .database import from_us
from .layers import encode_path, lookup
from .schema import (
    FILE_COMMIT_WIDTH,
    FILE_LOOKUP,
    INSERT_EMPTY_BRANCH,
    SELECT_BRANCH_HEAD,
    SELECT_COMMIT,
    SELECT_COMMIT_BY_ID,
    SELECT_REPO,
    Entry,
    FileCommit,
    RepoRow,
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
        """From the columns of ``schema.COMMIT_COLUMNS``: this class's fields, in order."""
        (seq, id_, repo, branch, parent, started, finished, provenance, description, error,
         own_layer, layers) = row  # fmt: skip
        return cls(
            seq=seq,
            id=id_,
            repo=repo,
            branch=branch,
            parent=parent,
            started_us=started,
            finished_us=finished,
            provenance=provenance,
            description=description,
            error=error,
            own_layer=own_layer,
            layers=parse_layers(layers),
        )

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


def repo_row(con: sqlite3.Connection, repo: str) -> RepoRow | None:
    row = con.execute(SELECT_REPO, (repo,)).fetchone()
    return None if row is None else RepoRow._make(row)


def require_repo(con: sqlite3.Connection, repo: str, project: str = DEFAULT_PROJECT) -> RepoRow:
    row = None if project != DEFAULT_PROJECT else repo_row(con, repo)
    if row is None:
        raise NotFound("repo", repo if project == DEFAULT_PROJECT else f"{project}/{repo}")
    return row


def repo_info(row: RepoRow) -> RepoInfo:
    return RepoInfo(name=row.name, created=from_us(row.created_us), description=row.description)


def branch_head(con: sqlite3.Connection, repo: str, branch: str) -> Any:
    """The branch's head id, None for an empty branch, or ``NO_BRANCH``."""
    row = con.execute(SELECT_BRANCH_HEAD, (repo, branch)).fetchone()
    return NO_BRANCH if row is None else row[0]


def ensure_branch(con: sqlite3.Connection, repo: str, branch: str) -> str | None:
    head = branch_head(con, repo, branch)
    if head is NO_BRANCH:
        con.execute(INSERT_EMPTY_BRANCH, (repo, branch))
        return None
    assert head is None or isinstance(head, str)
    return head


def find_commit(con: sqlite3.Connection, repo: str, ref: str) -> CommitRow:
    """``ref`` is a commit id of ``repo``, or a branch name meaning its head."""
    row = con.execute(SELECT_COMMIT, (ref, repo)).fetchone()
    if row is None:
        head = branch_head(con, repo, ref)
        if isinstance(head, str):
            row = con.execute(SELECT_COMMIT_BY_ID, (head,)).fetchone()
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


def require_file(con: sqlite3.Connection, commit: CommitRow, path: str) -> Entry:
    entry = lookup(con, commit.layers, encode_path(path))
    if entry is None:
        raise NotFound("file", f"{commit.repo}@{commit.id}:{path}")
    return entry


def find_file(
    con: sqlite3.Connection, ref: CommitRef, path: bytes, *, writing: bool = False
) -> tuple[FileCommit, Entry | None]:
    """The commit ``ref`` names and its visible entry at ``path`` (None: absent or deleted).

    One statement (``schema.FILE_LOOKUP``). NotFound for a missing repo or commit, as
    ``find_ref`` raises it; with ``writing``, Conflict if the commit is finished (as ``writable``).
    """
    if ref.project != DEFAULT_PROJECT:
        require_repo(con, ref.repo, ref.project)
    row = con.execute(FILE_LOOKUP, (ref.repo, ref.id, path)).fetchone()
    if row is None:
        find_ref(con, ref)  # says which is missing, the repo or the commit
        raise NotFound("commit", f"{ref.repo}@{ref.id}")  # created since: not there when asked
    commit = FileCommit._make(row[:FILE_COMMIT_WIDTH])
    if writing and commit.finished_us is not None:
        raise Conflict(f"commit {ref.repo}@{commit.id} is finished; it cannot be written")
    entry = Entry._make(row[FILE_COMMIT_WIDTH:])
    return commit, None if entry.size is None else entry


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


def put_entry(key: bytes, staged: Staged, modified: int, seq: int, meta: str | None) -> Entry:
    # etag None means "the md5 hex"; segs is the short form: the file is one whole content.
    segs = None if staged.digest is None else encode_whole(staged.inline, staged.digest)
    return Entry(
        path=key,
        size=staged.size,
        md5=staged.md5,
        etag=None,
        modified_us=modified,
        changed_by=seq,
        meta=meta,
        segs=segs,
    )
