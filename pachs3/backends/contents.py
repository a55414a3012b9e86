"""A commit's files as one mapping of path -> bytes, for tests and small checks.

The gateway and the runner stream every file; this helper does the opposite on purpose: it
joins each file's chunks so a test can compare a whole commit with ``==``. Use it on commits
that fit in memory.
"""

from __future__ import annotations

from typing import Protocol

from pachs3.backends.base import CommitInfo, CommitRef, FileLister, FileReader

__all__ = ["CommitReader", "read_commit"]


class CommitReader(FileLister, FileReader, Protocol):
    """What ``read_commit`` needs of a backend: list a commit's files and read them."""


def read_commit(
    backend: CommitReader, commit: CommitRef | CommitInfo, *, prefix: str = ""
) -> dict[str, bytes]:
    """Every file of ``commit`` whose path starts with ``prefix``: path -> its bytes.

    Paths are as stored (no leading ``/``), in ascending order. Each file is read at the
    version the listing saw (its etag), so a commit changing underneath raises ``Conflict``
    rather than mixing versions.
    """
    ref = commit.ref if isinstance(commit, CommitInfo) else commit
    files: dict[str, bytes] = {}
    for info in backend.walk_files(ref, prefix=prefix):
        stream = backend.read_file(ref, info.path, etag=info.etag)
        try:
            files[info.path] = b"".join(stream)
        finally:
            stream.close()
    return files
