"""Local files in and out of commits: ``pachs3 put``, ``--input NAME=DIR`` seeds, ``/pfs/out``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from pachs3.backends.base import (
    Backend,
    CommitInfo,
    CommitRef,
    FileInfo,
    NotFound,
    RepoAdmin,
    commit,
)
from pachs3.runner.errors import RunError

__all__ = ["commit_paths", "ensure_branch", "put_directory"]

_CHUNK = 1 << 20


def commit_paths(
    backend: Backend,
    repo: str,
    branch: str,
    paths: Sequence[Path],
    *,
    replace: bool = False,
    description: str = "",
) -> tuple[CommitInfo, int, int]:
    """Commit local files as one new commit on ``repo@branch`` (repo and branch made if needed).

    A file is stored under its own name; a directory contributes every file below it, by its
    path relative to that directory. ``replace`` starts the commit empty (the branch then holds
    exactly these files), else they are added over the branch head's files. Returns the finished
    commit, the number of files and of bytes.
    """
    entries = sorted(_local_files(paths), key=lambda entry: entry[0])
    seen: dict[str, Path] = {}
    for key, local in entries:
        if key in seen:
            raise RunError(f"{local} and {seen[key]} would both be stored as {key!r}")
        seen[key] = local
    ensure_branch(backend, repo, branch)
    files = size = 0
    with commit(backend, repo, branch, description=description, empty=replace) as info:
        for key, local in entries:
            with local.open("rb") as fh:
                written = backend.put_file(info.ref, key, _chunks(fh))
            files += 1
            size += written.size
    return backend.inspect_commit(repo, info.id), files, size


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
            raise RunError(f"{path}: no such file or directory")


def ensure_branch(backend: RepoAdmin, repo: str, branch: str) -> None:
    """Create ``repo`` and its ``branch`` (empty) unless they exist."""
    backend.create_repo(repo, exist_ok=True)
    try:
        backend.inspect_branch(repo, branch)
    except NotFound:
        backend.create_branch(repo, branch, head=None)
