"""The memory backend's state: repos, commits and files as plain values, and their lookups.

An open commit holds its parent's file mapping (shared, never mutated) plus its own changes, so
starting one is O(1); finishing it builds its own mapping (O(files)), which a reference backend
can afford.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from pachs3.backends.base import (
    DEFAULT_PROJECT,
    CommitInfo,
    CommitRef,
    Conflict,
    Expectation,
    FileInfo,
    NotFound,
    RepoInfo,
    check_expectation,
)

NO_FILES: Mapping[str, StoredFile] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StoredFile:
    info: FileInfo
    chunks: tuple[bytes, ...]


@dataclass(slots=True)
class CommitState:
    info: CommitInfo
    base: Mapping[str, StoredFile]
    """The parent's files when this commit started (shared with the parent, never mutated)."""
    changes: dict[str, StoredFile | None] = field(default_factory=dict)
    """This commit's own puts, and deletes (None) of files it inherited."""
    files: Mapping[str, StoredFile] | None = None
    """The whole file set, built when the commit is finished."""
    keys: list[str] | None = None

    def get(self, path: str) -> StoredFile | None:
        if self.files is not None:
            return self.files.get(path)
        if path in self.changes:
            return self.changes[path]
        return self.base.get(path)

    def view(self) -> Mapping[str, StoredFile]:
        if self.files is not None:
            return self.files
        merged = dict(self.base)
        for path, file in self.changes.items():
            if file is None:
                merged.pop(path, None)
            else:
                merged[path] = file
        return merged

    def sorted_view(self) -> tuple[list[str], Mapping[str, StoredFile]]:
        """Sorted paths and files: cached once finished, a snapshot while open."""
        if self.files is None:
            files = self.view()
            return sorted(files), files
        if self.keys is None:
            self.keys = sorted(self.files)
        return self.keys, self.files


@dataclass(slots=True)
class RepoState:
    info: RepoInfo
    branches: dict[str, str | None] = field(default_factory=dict)
    commits: dict[str, CommitState] = field(default_factory=dict)
    """In start order (dicts keep insertion order)."""


def now() -> datetime:
    return datetime.now(UTC)


class MemoryState:
    """The repos and the one lock every operation takes (re-entrant), with the lookups the
    operations share; ``commits.py`` and ``files.py`` add the operations."""

    def __init__(self, *, chunk_size: int = 1 << 20) -> None:
        self._lock = threading.RLock()
        self._repos: dict[str, RepoState] = {}
        self._chunk_size = chunk_size

    # Lookups (call with the lock held)

    def _repo(self, repo: str, project: str = DEFAULT_PROJECT) -> RepoState:
        found = self._repos.get(repo) if project == DEFAULT_PROJECT else None
        if found is None:
            raise NotFound("repo", repo if project == DEFAULT_PROJECT else f"{project}/{repo}")
        return found

    @staticmethod
    def _commit(repo: RepoState, ref: str) -> CommitState:
        """``ref`` is a commit id, or a branch name meaning its head."""
        found = repo.commits.get(ref)
        if found is None:
            head = repo.branches.get(ref)
            found = None if head is None else repo.commits.get(head)
        if found is None:
            raise NotFound("commit", f"{repo.info.name}@{ref}")
        return found

    def _ref(self, ref: CommitRef) -> CommitState:
        return self._commit(self._repo(ref.repo, ref.project), ref.id)

    def _writable(self, ref: CommitRef) -> CommitState:
        commit = self._ref(ref)
        if commit.files is not None:
            raise Conflict(f"commit {ref.repo}@{commit.info.id} is finished; it cannot be written")
        return commit

    def _check_put(self, ref: CommitRef, path: str, expect: Expectation | None) -> CommitState:
        commit = self._writable(ref)
        if expect is not None:
            current = commit.get(path)
            check_expectation(expect, path, None if current is None else current.info)
        return commit

    @staticmethod
    def _file(commit: CommitState, path: str) -> StoredFile:
        found = commit.get(path)
        if found is None:
            raise NotFound("file", f"{commit.info.repo}@{commit.info.id}:{path}")
        return found

    def _provenance(self, refs: Sequence[CommitRef]) -> tuple[CommitRef, ...]:
        resolved: list[CommitRef] = []
        for ref in refs:
            exact = CommitRef(repo=ref.repo, id=self._ref(ref).info.id)
            if exact not in resolved:
                resolved.append(exact)
        return tuple(resolved)
