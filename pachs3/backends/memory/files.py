"""Files of the memory backend: contents are the tuple of chunks they arrived in.

A file is never joined into one object: copying a file shares the tuple, composing files
concatenates tuples, and a read slices the chunks.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from pachs3.backends.base import (
    CommitRef,
    Conflict,
    Expectation,
    FileInfo,
    NotSupported,
    check_expectation,
)
from pachs3.backends.memory.state import MemoryState, StoredFile, now


class FileOps(MemoryState):
    """``FileReader``, ``FileLister`` and ``FileWriter`` in memory."""

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
                modified=now(),
                commit=commit.info.id,
                metadata=dict(metadata or {}),
            )
            commit.changes[path] = StoredFile(info, tuple(received))
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
                modified=now(),
                commit=target.info.id,
                metadata=source.info.metadata if metadata is None else dict(metadata),
            )
            target.changes[dst_path] = StoredFile(info, source.chunks)
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
                modified=now(),
                commit=target.info.id,
                metadata=dict(metadata or {}),
            )
            chunks = tuple(chunk for part in parts for chunk in part.chunks)
            target.changes[dst_path] = StoredFile(info, chunks)
            return info


def _walk(
    keys: list[str], files: Mapping[str, StoredFile], index: int, prefix: str
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
