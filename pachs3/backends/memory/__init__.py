"""An in-memory backend with the local store's semantics: the reference for tests and docs.

Every method takes one lock, so it is safe to share between threads; nothing is persisted.
File contents are kept as the tuple of chunks they arrived in (never joined into one object):
copying a file shares the tuple, composing files concatenates tuples. Returned ``FileInfo``
objects are shared with the store: treat their ``metadata`` as read-only.

An open commit holds its parent's file mapping (shared, never mutated) plus its own changes, so
starting one is O(1); finishing it builds its own mapping (O(files)), which a reference backend
can afford.
"""

from __future__ import annotations

from pachs3.backends.memory.commits import RepoAndCommitOps
from pachs3.backends.memory.files import FileOps

__all__ = ["MemoryBackend"]


class MemoryBackend(RepoAndCommitOps, FileOps):
    """The whole ``Backend`` protocol in memory (state and lookups: ``state.py``; repos,
    branches and commits: ``commits.py``; files: ``files.py``)."""

    def close(self) -> None:
        pass
