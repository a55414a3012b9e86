"""The history of each path along a line of commits: what ListObjectVersions shows.

A *change* of a path is a commit whose file at the path differs from its parent's (another
file, or a file where the parent had none), or a commit that deleted it (its parent had a file,
it has none). Walking a line of commits (newest first: a commit, its parent, ...), the changes
come path by path in S3 order, each path's newest first. The oldest commit of the line is
compared with nothing: every file it holds is a change of it.

``FileHistory`` is the capability: a backend's own walk, which must give exactly what
``walk_history`` here gives. ``LocalStore`` has one (``backends/local/history.py``: a per-path
index kept as commits finish, so a page reads as much of it at any depth; reading the line
itself still grows with depth); ``MemoryBackend`` and ``PachydermBackend`` use ``walk_history``
here, over the base protocol alone: one ``walk_files`` per commit of the line, merged by path
and compared neighbour to neighbour. A page therefore reads from every commit of the line: its
cost grows with the depth of the history (see docs/global.md, "What a page costs"). Comparing
whole views rather than reading what each commit wrote keeps it right for commits that started
empty (a job's output commit does not inherit its parent's files).
"""

from __future__ import annotations

import heapq
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pachs3.backends.base import CommitInfo, FileInfo, FileLister


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChange:
    """``commit`` changed ``path``: to ``info``, or deleted it (``info`` None)."""

    path: str
    commit: CommitInfo
    info: FileInfo | None
    latest: bool
    """The path's newest change along the line (S3's ``IsLatest``)."""


@runtime_checkable
class FileHistory(Protocol):
    """An optional capability: a backend's own, cheaper history walk."""

    def walk_history(
        self, line: Sequence[CommitInfo], *, prefix: str = "", start_after: str = ""
    ) -> Generator[FileChange, None, None]:
        """The changes along ``line`` (newest first; each commit's parent follows it) of the
        paths under ``prefix`` after ``start_after``: paths ascending, each path's newest
        change first."""
        ...


def history_of(
    backend: FileLister, line: Sequence[CommitInfo], *, prefix: str = "", start_after: str = ""
) -> Generator[FileChange, None, None]:
    """The backend's own ``walk_history`` if it has one, else ``walk_history`` here."""
    if isinstance(backend, FileHistory):
        return backend.walk_history(line, prefix=prefix, start_after=start_after)
    return walk_history(backend, line, prefix=prefix, start_after=start_after)


def walk_history(
    backend: FileLister, line: Sequence[CommitInfo], *, prefix: str = "", start_after: str = ""
) -> Generator[FileChange, None, None]:
    """Every commit's walk, merged by path; a path's states are compared commit to parent."""
    walks = [backend.walk_files(info.ref, prefix=prefix, start_after=start_after) for info in line]
    try:
        ranked = [_ranked(rank, walk) for rank, walk in enumerate(walks)]
        states: list[FileInfo | None] = [None] * len(line)
        current: str | None = None
        for path, rank, info in heapq.merge(*ranked):
            if path != current:
                if current is not None:
                    yield from _changes(current, line, states)
                    states = [None] * len(line)
                current = path
            states[rank] = info
        if current is not None:
            yield from _changes(current, line, states)
    finally:
        for walk in walks:
            close = getattr(walk, "close", None)
            if close is not None:
                close()


def _ranked(rank: int, walk: Iterator[FileInfo]) -> Iterator[tuple[str, int, FileInfo]]:
    # (path, rank) is unique, so heapq never compares the FileInfo values themselves.
    for info in walk:
        yield info.path, rank, info


def _changes(
    path: str, line: Sequence[CommitInfo], states: Sequence[FileInfo | None]
) -> Iterator[FileChange]:
    latest = True
    for position, info in enumerate(states):
        before = states[position + 1] if position + 1 < len(states) else None
        if same_version(info, before):
            continue
        yield FileChange(path=path, commit=line[position], info=info, latest=latest)
        latest = False


def same_version(a: FileInfo | None, b: FileInfo | None) -> bool:
    """One version of a file in two commits: the same bytes written at the same time (a file
    written again, even with the same bytes, is a new version; one inherited is not)."""
    if a is None or b is None:
        return a is b
    return (a.etag, a.size, a.modified) == (b.etag, b.size, b.modified)
