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

import bisect
import hashlib
import threading
import uuid
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from .base import (
    DEFAULT_PROJECT,
    AlreadyExists,
    BranchInfo,
    CommitInfo,
    CommitRef,
    Conflict,
    Expectation,
    FileInfo,
    NotFound,
    NotSupported,
    RepoInfo,
    check_expectation,
)

__all__ = ["MemoryBackend"]

_EMPTY: Mapping[str, _File] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class _File:
    info: FileInfo
    chunks: tuple[bytes, ...]


@dataclass(slots=True)
class _Commit:
    info: CommitInfo
    base: Mapping[str, _File]
    """The parent's files when this commit started (shared with the parent, never mutated)."""
    changes: dict[str, _File | None] = field(default_factory=dict)
    """This commit's own puts, and deletes (None) of files it inherited."""
    files: Mapping[str, _File] | None = None
    """The whole file set, built when the commit is finished."""
    keys: list[str] | None = None

    def get(self, path: str) -> _File | None:
        if self.files is not None:
            return self.files.get(path)
        if path in self.changes:
            return self.changes[path]
        return self.base.get(path)

    def view(self) -> Mapping[str, _File]:
        if self.files is not None:
            return self.files
        merged = dict(self.base)
        for path, file in self.changes.items():
            if file is None:
                merged.pop(path, None)
            else:
                merged[path] = file
        return merged

    def sorted_view(self) -> tuple[list[str], Mapping[str, _File]]:
        """Sorted paths and files: cached once finished, a snapshot while open."""
        if self.files is None:
            files = self.view()
            return sorted(files), files
        if self.keys is None:
            self.keys = sorted(self.files)
        return self.keys, self.files


@dataclass(slots=True)
class _Repo:
    info: RepoInfo
    branches: dict[str, str | None] = field(default_factory=dict)
    commits: dict[str, _Commit] = field(default_factory=dict)
    """In start order (dicts keep insertion order)."""


def _now() -> datetime:
    return datetime.now(UTC)


class MemoryBackend:
    """The whole ``Backend`` protocol in memory."""

    def __init__(self, *, chunk_size: int = 1 << 20) -> None:
        self._lock = threading.RLock()
        self._repos: dict[str, _Repo] = {}
        self._chunk_size = chunk_size

    def close(self) -> None:
        pass

    # ----------------------------------------------------------------------------------------
    # Repos and branches

    def create_repo(self, repo: str, *, description: str = "", exist_ok: bool = False) -> RepoInfo:
        with self._lock:
            if repo in self._repos:
                if exist_ok:
                    return self._repos[repo].info
                raise AlreadyExists(f"repo already exists: {repo}")
            info = RepoInfo(name=repo, created=_now(), description=description)
            self._repos[repo] = _Repo(info)
            return info

    def inspect_repo(self, repo: str) -> RepoInfo:
        with self._lock:
            return self._repo(repo).info

    def list_repos(self) -> list[RepoInfo]:
        with self._lock:
            return [self._repos[name].info for name in sorted(self._repos)]

    def delete_repo(self, repo: str) -> None:
        with self._lock:
            self._repo(repo)
            del self._repos[repo]

    def create_branch(self, repo: str, branch: str, *, head: str | None = None) -> BranchInfo:
        with self._lock:
            found = self._repo(repo)
            head_id = None if head is None else self._commit(found, head).info.id
            found.branches[branch] = head_id
            return BranchInfo(repo=repo, name=branch, head=head_id)

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        with self._lock:
            found = self._repo(repo)
            if branch not in found.branches:
                raise NotFound("branch", f"{repo}@{branch}")
            return BranchInfo(repo=repo, name=branch, head=found.branches[branch])

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete the branch name; its commits stay in the repo (readable by id)."""
        with self._lock:
            found = self._repo(repo)
            if branch not in found.branches:
                raise NotFound("branch", f"{repo}@{branch}")
            del found.branches[branch]

    def list_branches(self, repo: str) -> list[BranchInfo]:
        with self._lock:
            found = self._repo(repo)
            return [
                BranchInfo(repo=repo, name=name, head=found.branches[name])
                for name in sorted(found.branches)
            ]

    # ----------------------------------------------------------------------------------------
    # Commits

    def start_commit(
        self,
        repo: str,
        branch: str | None,
        *,
        parent: str | None = None,
        provenance: Sequence[CommitRef] = (),
        description: str = "",
        empty: bool = False,
    ) -> CommitInfo:
        with self._lock:
            found = self._repo(repo)
            sources = self._provenance(provenance)
            head = None if branch is None else found.branches.setdefault(branch, None)
            base_ref = parent if parent is not None else head
            base = None if base_ref is None else self._commit(found, base_ref)
            if base is not None and base.files is None:
                raise Conflict(f"parent commit {base.info.id} is not finished")
            info = CommitInfo(
                repo=repo,
                id=uuid.uuid4().hex,
                branch=branch,
                parent=None if base is None else base.info.id,
                started=_now(),
                finished=None,
                provenance=sources,
                description=description,
            )
            files = _EMPTY if base is None or empty else base.view()
            found.commits[info.id] = _Commit(info, files)
            return info

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        with self._lock:
            found = self._repo(repo)
            target = self._commit(found, commit)
            if target.files is not None:
                raise Conflict(f"commit {target.info.id} is already finished")
            target.files = MappingProxyType(target.view())
            target.base, target.changes = _EMPTY, {}
            target.info = replace(target.info, finished=_now(), error=error)
            if target.info.branch is not None and error is None:
                found.branches[target.info.branch] = target.info.id
            return target.info

    def discard_commit(self, repo: str, commit: str) -> None:
        with self._lock:
            found = self._repo(repo)
            target = self._commit(found, commit)
            if target.files is not None:
                raise Conflict(f"commit {target.info.id} is finished and cannot be discarded")
            del found.commits[target.info.id]
            for name, head in found.branches.items():
                if head == target.info.id:
                    found.branches[name] = target.info.parent

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        with self._lock:
            return self._commit(self._repo(repo), commit).info

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        with self._lock:
            found = self._repo(repo)
            if branch is not None and branch not in found.branches:
                raise NotFound("branch", f"{repo}@{branch}")
            return [
                c.info
                for c in reversed(found.commits.values())
                if branch is None or c.info.branch == branch
            ]

    # ----------------------------------------------------------------------------------------
    # Files

    def inspect_file(self, ref: CommitRef, path: str) -> FileInfo:
        with self._lock:
            return self._file(self._ref(ref), path).info

    def read_file(
        self,
        ref: CommitRef,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        etag: str | None = None,
    ) -> Generator[bytes, None, None]:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        with self._lock:
            file = self._file(self._ref(ref), path)
        if etag is not None and file.info.etag != etag:
            raise Conflict(f"{path} changed: it is no longer the version {etag}")
        size = file.info.size
        start = min(offset, size)
        count = size - start if length is None else min(length, size - start)
        return _slice_chunks(file.chunks, start, count, self._chunk_size)

    def walk_files(
        self, ref: CommitRef, *, prefix: str = "", start_after: str = ""
    ) -> Iterator[FileInfo]:
        with self._lock:
            keys, files = self._ref(ref).sorted_view()
        if start_after >= prefix:
            index = bisect.bisect_right(keys, start_after)
        else:
            index = bisect.bisect_left(keys, prefix)
        return _walk(keys, files, index, prefix)

    def put_file(
        self,
        ref: CommitRef,
        path: str,
        chunks: Iterable[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        if not path:
            raise NotSupported("a file path cannot be empty")
        with self._lock:
            self._check_put(ref, path, expect)
        md5 = hashlib.md5(usedforsecurity=False)
        received: list[bytes] = []
        for chunk in chunks:
            if chunk:
                data = bytes(chunk)  # a copy: the caller may reuse its buffer
                md5.update(data)
                received.append(data)
        with self._lock:
            commit = self._check_put(ref, path, expect)
            info = FileInfo(
                path=path,
                size=sum(len(c) for c in received),
                etag=md5.hexdigest(),
                md5=md5.hexdigest(),
                modified=_now(),
                commit=commit.info.id,
                metadata=dict(metadata or {}),
            )
            commit.changes[path] = _File(info, tuple(received))
            return info

    def delete_file(self, ref: CommitRef, path: str, *, expect: Expectation | None = None) -> bool:
        with self._lock:
            commit = self._writable(ref)
            current = commit.get(path)
            check_expectation(expect, path, None if current is None else current.info)
            if current is None:
                return False
            if path in commit.base:
                commit.changes[path] = None
            else:
                del commit.changes[path]
            return True

    def copy_file(
        self,
        src: CommitRef,
        src_path: str,
        dst: CommitRef,
        dst_path: str,
        *,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        if not dst_path:
            raise NotSupported("a file path cannot be empty")
        with self._lock:
            target = self._check_put(dst, dst_path, expect)
            source = self._file(self._ref(src), src_path)
            info = replace(
                source.info,
                path=dst_path,
                modified=_now(),
                commit=target.info.id,
                metadata=source.info.metadata if metadata is None else dict(metadata),
            )
            target.changes[dst_path] = _File(info, source.chunks)
            return info

    def compose_file(
        self,
        dst: CommitRef,
        dst_path: str,
        sources: Sequence[tuple[CommitRef, str]],
        *,
        etag: str,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        if not dst_path:
            raise NotSupported("a file path cannot be empty")
        with self._lock:
            target = self._check_put(dst, dst_path, expect)
            parts = [self._file(self._ref(ref), path) for ref, path in sources]
            info = FileInfo(
                path=dst_path,
                size=sum(part.info.size for part in parts),
                etag=etag,
                md5=None,
                modified=_now(),
                commit=target.info.id,
                metadata=dict(metadata or {}),
            )
            chunks = tuple(chunk for part in parts for chunk in part.chunks)
            target.changes[dst_path] = _File(info, chunks)
            return info

    # ----------------------------------------------------------------------------------------
    # Lookups (call with the lock held)

    def _repo(self, repo: str, project: str = DEFAULT_PROJECT) -> _Repo:
        found = self._repos.get(repo) if project == DEFAULT_PROJECT else None
        if found is None:
            raise NotFound("repo", repo if project == DEFAULT_PROJECT else f"{project}/{repo}")
        return found

    @staticmethod
    def _commit(repo: _Repo, ref: str) -> _Commit:
        """``ref`` is a commit id, or a branch name meaning its head."""
        found = repo.commits.get(ref)
        if found is None:
            head = repo.branches.get(ref)
            found = None if head is None else repo.commits.get(head)
        if found is None:
            raise NotFound("commit", f"{repo.info.name}@{ref}")
        return found

    def _ref(self, ref: CommitRef) -> _Commit:
        return self._commit(self._repo(ref.repo, ref.project), ref.id)

    def _writable(self, ref: CommitRef) -> _Commit:
        commit = self._ref(ref)
        if commit.files is not None:
            raise Conflict(f"commit {ref.repo}@{commit.info.id} is finished; it cannot be written")
        return commit

    def _check_put(self, ref: CommitRef, path: str, expect: Expectation | None) -> _Commit:
        commit = self._writable(ref)
        if expect is not None:
            current = commit.get(path)
            check_expectation(expect, path, None if current is None else current.info)
        return commit

    @staticmethod
    def _file(commit: _Commit, path: str) -> _File:
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


def _walk(
    keys: list[str], files: Mapping[str, _File], index: int, prefix: str
) -> Iterator[FileInfo]:
    for position in range(index, len(keys)):
        path = keys[position]
        if not path.startswith(prefix):
            return
        yield files[path].info


def _slice_chunks(
    chunks: tuple[bytes, ...], offset: int, length: int, chunk_size: int
) -> Generator[bytes, None, None]:
    for chunk in chunks:
        if length <= 0:
            return
        if offset >= len(chunk):
            offset -= len(chunk)
            continue
        view = memoryview(chunk)[offset : offset + length]
        offset = 0
        length -= len(view)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
