"""Local files in and out of commits: ``pachs3 put``, ``--input NAME=DIR`` seeds, ``/pfs/out``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from pachs3.backends.base import (
    Backend,
    CommitInfo,
    CommitRef,
    FileInfo,
    NotFound,
    RepoAdmin,
    claim_commit,
)
from pachs3.runner.errors import RunError
from pachs3.runner.progress import NO_PROGRESS, Progress, counted

__all__ = ["Committed", "commit_files", "commit_paths", "ensure_branch", "put_directory"]

_CHUNK = 1 << 20


class Committed(NamedTuple):
    """What ``commit_paths`` did: the commit that holds the files, and how much it copied."""

    commit: CommitInfo
    files: int
    size: int
    unchanged: bool
    """True when the files were exactly the branch head's: no commit was made, and ``commit``
    is that head."""


def commit_paths(
    backend: Backend,
    repo: str,
    branch: str,
    paths: Sequence[Path],
    *,
    replace: bool = False,
    description: str = "",
    progress: Progress = NO_PROGRESS,
) -> Committed:
    """Commit local files as one new commit on ``repo@branch`` (repo and branch made if needed).

    A file is stored under its own name; a directory contributes every file below it, by its
    path relative to that directory. ``replace`` starts the commit empty (the branch then holds
    exactly these files), else they are added over the branch head's files. When the result
    would hold the same files as the head (same paths, sizes and etags), the new commit is
    discarded and the head returned with ``unchanged`` set: a re-seed of identical files makes
    no commit. ``progress`` hears of every byte read.
    """
    seen: dict[str, Path] = {}
    for key, local in _local_files(paths):
        if key in seen:
            raise RunError(f"{local} and {seen[key]} would both be stored as {key!r}")
        seen[key] = local
    return commit_files(
        backend, repo, branch, seen, replace=replace, description=description, progress=progress
    )


def commit_files(
    backend: Backend,
    repo: str,
    branch: str,
    files: Mapping[str, bytes | Path],
    *,
    replace: bool = False,
    description: str = "",
    progress: Progress = NO_PROGRESS,
) -> Committed:
    """Commit ``files`` (stored path -> its bytes, or a local file, streamed) as one commit.

    The rules of ``commit_paths``, which calls it: repo and branch made if needed, ``replace``
    starts the commit empty, identical content makes no commit (``unchanged``), and a failure
    discards the commit whole.
    """
    entries = sorted(files.items())
    ensure_branch(backend, repo, branch)
    progress.start(len(entries), sum(_size_of(source) for _, source in entries))
    written: list[FileInfo] = []
    info = backend.start_commit(repo, branch, description=description, empty=replace)
    try:
        claim_commit(backend, info)
        for key, source in entries:
            written.append(_put(backend, info.ref, key, source, progress))
            progress.file_done()
        size = sum(stored.size for stored in written)
        # The parent is the head the commit was started on (read in the same step, no race).
        if info.parent is not None:
            head = backend.inspect_commit(repo, info.parent)
            if _same_files(backend, head.ref, written, whole=replace):
                backend.discard_commit(repo, info.id)
                return Committed(head, len(written), size, unchanged=True)
    except BaseException:
        backend.discard_commit(repo, info.id)
        raise
    finally:
        progress.finish()
    backend.finish_commit(repo, info.id)
    return Committed(backend.inspect_commit(repo, info.id), len(written), size, unchanged=False)


def _put(
    backend: Backend, ref: CommitRef, key: str, source: bytes | Path, progress: Progress
) -> FileInfo:
    if isinstance(source, Path):
        with source.open("rb") as fh:
            return backend.put_file(ref, key, counted(_chunks(fh), progress))
    return backend.put_file(ref, key, counted([source], progress))


def _same_files(backend: Backend, head: CommitRef, written: list[FileInfo], *, whole: bool) -> bool:
    """Whether ``head`` already holds ``written`` (and, when ``whole``, nothing else)."""
    if whole:
        before = [(f.path, f.size, f.etag) for f in backend.walk_files(head)]
        return before == [(f.path, f.size, f.etag) for f in written]
    for stored in written:
        try:
            old = backend.inspect_file(head, stored.path)
        except NotFound:
            return False
        if (old.size, old.etag) != (stored.size, stored.etag):
            return False
    return True


def _size_of(source: bytes | Path) -> int:
    if not isinstance(source, Path):
        return len(source)
    try:
        return source.stat().st_size
    except OSError:
        return 0  # gone meanwhile: opening it reports the error


def put_directory(backend: Backend, directory: Path, ref: CommitRef) -> Iterator[FileInfo]:
    """Put every file below ``directory`` into the open commit ``ref``, by relative path.

    Yields each file as it is stored, so a caller's counts stay right up to a failure. A missing
    directory puts nothing (a transform need not create ``/pfs/out``).
    """
    if not directory.is_dir():
        return
    for local in sorted(directory.rglob("*")):
        if not local.is_file():
            continue
        key = local.relative_to(directory).as_posix()
        with local.open("rb") as fh:
            stored = backend.put_file(ref, key, _chunks(fh))
        yield stored


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(_CHUNK):
        yield chunk


def _local_files(paths: Sequence[Path]) -> Iterator[tuple[str, Path]]:
    for path in paths:
        if path.is_dir():
            for local in sorted(path.rglob("*")):
                if local.is_file():
                    yield local.relative_to(path).as_posix(), local
        elif path.is_file():
            yield path.name, path
        else:
            raise RunError(f"{path}: no such file or directory; give existing files or directories")


def ensure_branch(backend: RepoAdmin, repo: str, branch: str) -> None:
    """Create ``repo`` and its ``branch`` (empty) unless they exist."""
    backend.create_repo(repo, exist_ok=True)
    try:
        backend.inspect_branch(repo, branch)
    except NotFound:
        backend.create_branch(repo, branch, head=None)
