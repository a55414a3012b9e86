"""Reads and listing of the Pachyderm backend: files, their S3 records, walks in key order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2

from ..base import (
    CommitRef,
    Conflict,
    FileInfo,
    NotFound,
    Truncated,
)
from .commits import CommitLayer
from .known import CommitFiles
from .paths import META_ROOT, RESERVED_DIR, is_reserved_path, key_problem, meta_path, pfs_path
from .records import MetaRecord
from .rpc import _FILE, _hex, _split, _time, _translate

_RESERVED_END = f"/{RESERVED_DIR}/\U0010ffff"


class ReadLayer(CommitLayer):
    """Files and their S3 view. What this backend wrote to a commit it owns is taken from
    memory (``known``) rather than asked of pachd again."""

    # ----------------------------------------------------------------------------------------
    # Files: reading

    def _raw_file(self, repo: str, commit_id: str, path: str, project: str) -> Any | None:
        """PFS's FileInfo for ``path`` (a file or a directory), None when there is none."""
        try:
            return self._call(
                "InspectFile",
                pfs_pb2.InspectFileRequest(file=self._file(repo, commit_id, path, project)),
                what="file",
                name=f"{repo}@{commit_id}:{path}",
            )
        except NotFound as exc:
            if exc.what == "file":
                return None
            raise self._missing(repo, commit_id, project, exc) from exc

    def _read_small(self, repo: str, commit_id: str, path: str, project: str) -> bytes | None:
        request = pfs_pb2.GetFileRequest(
            file=self._file(repo, commit_id, path, project)  # a key has no glob character
        )
        try:
            call = self._call("GetFile", request, what="file")
            return b"".join(message.value for message in call)
        except grpc.RpcError as exc:
            error = _translate(exc, "file", path)
            if isinstance(error, NotFound) and error.what == "file":
                return None
            raise error from exc
        except NotFound as exc:
            if exc.what == "file":
                return None
            raise self._missing(repo, commit_id, project, exc) from exc

    def _record(self, repo: str, commit_id: str, key: str, project: str) -> MetaRecord | None:
        if not self._records:
            return None
        data = self._read_small(repo, commit_id, meta_path(key), project)
        return None if data is None else MetaRecord.decode(data)

    def _file_info(
        self,
        raw: Any,
        key: str,
        record: MetaRecord | None,
        started: Callable[[], datetime],
    ) -> FileInfo:
        size = int(raw.size_bytes)
        if record is not None and record.size == size:
            return _recorded_info(key, record)
        pfs_hash = _hex(raw.hash)
        modified = _time(raw.committed) if raw.HasField("committed") else started()
        return FileInfo(
            path=key,
            size=size,
            etag=pfs_hash or hashlib.md5(b"", usedforsecurity=False).hexdigest(),
            md5=None,
            modified=modified,
            commit=raw.file.commit.id,
        )

    def _started(self, repo: str, commit_id: str, project: str) -> Callable[[], datetime]:
        cache: list[datetime] = []

        def started() -> datetime:
            if not cache:
                cache.append(_time(self._raw_commit(repo, commit_id, project).started))
            return cache[0]

        return started

    def _lookup(self, ref: CommitRef, path: str) -> tuple[str, FileInfo]:
        """The commit id ``ref`` names and the file's info; NotFound('file') when ``path`` is
        not a file there."""
        commit_id = self._resolve(ref)
        if key_problem(path) is not None:
            self._raw_commit(ref.repo, commit_id, ref.project)  # a missing commit says so
            raise NotFound("file", f"{ref}:{path}")
        owned = self._owned_files(ref, commit_id)
        if owned is not None and owned.complete and self._records:
            known = owned.get(path)
            if known is None:
                raise NotFound("file", f"{ref}:{path}")
            return commit_id, _recorded_info(path, known)
        raw = self._raw_file(ref.repo, commit_id, pfs_path(path), ref.project)
        if raw is None or raw.file_type != _FILE:
            raise NotFound("file", f"{ref}:{path}")
        record = self._known_record(owned, ref, commit_id, path)
        started = self._started(ref.repo, commit_id, ref.project)
        return commit_id, self._file_info(raw, path, record, started)

    def _known_record(
        self, owned: CommitFiles | None, ref: CommitRef, commit_id: str, key: str
    ) -> MetaRecord | None:
        if owned is not None and owned.has(key):
            return owned.get(key) if self._records else None
        return self._record(ref.repo, commit_id, key, ref.project)

    def inspect_file(self, ref: CommitRef, path: str) -> FileInfo:
        return self._lookup(ref, path)[1]

    def open_file(self, ref: CommitRef, path: str) -> _OpenedFile:
        """The file's info from one lookup, and reads of the commit that lookup named (a GET
        costs that lookup and one GetFile; no second inspection)."""
        commit_id, info = self._lookup(ref, path)
        return _OpenedFile(self, ref, commit_id, path, info)

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
        commit_id, info = self._lookup(ref, path)
        if etag is not None and info.etag != etag:
            # PFS has no conditional read: this narrows the window, it cannot close it (a
            # write between this check and GetFile is still possible in an open commit).
            raise Conflict(f"{path} changed: it is no longer the version {etag}")
        return self._read(ref, commit_id, path, size=info.size, offset=offset, length=length)

    def _read(
        self,
        ref: CommitRef,
        commit_id: str,
        path: str,
        *,
        size: int,
        offset: int,
        length: int | None,
    ) -> Generator[bytes, None, None]:
        start = min(offset, size)
        count = size - start if length is None else min(length, size - start)
        request = pfs_pb2.GetFileRequest(
            file=self._file(ref.repo, commit_id, pfs_path(path), ref.project), offset=start
        )
        return self._read_stream(request, count, f"{ref}:{path}")

    def _read_stream(self, request: Any, count: int, name: str) -> Generator[bytes, None, None]:
        """Exactly ``count`` bytes, or Truncated: never a silently short object."""
        if count == 0:
            return
        self._ready()
        call = self._stub.GetFile(request, metadata=self._metadata)
        received = 0
        try:
            for message in call:
                data = message.value
                if len(data) > count - received:
                    data = data[: count - received]
                for piece in _split(data, self._chunk):
                    received += len(piece)
                    yield piece
                if received >= count:
                    return
        except grpc.RpcError as exc:
            if received == 0:
                raise _translate(exc, "file", name) from exc
            raise Truncated(
                f"reading {name} failed after {received} of {count} bytes: "
                f"{_translate(exc, 'file', name)}"
            ) from exc
        finally:
            call.cancel()
        raise Truncated(f"pachd sent {received} of the {count} bytes of {name}")

    def walk_files(
        self, ref: CommitRef, *, prefix: str = "", start_after: str = ""
    ) -> Iterator[FileInfo]:
        return self._walk(ref, prefix, start_after)

    def _walk(
        self, ref: CommitRef, prefix: str, start_after: str
    ) -> Generator[FileInfo, None, None]:
        commit_id = self._resolve(ref)
        started = self._started(ref.repo, commit_id, ref.project)
        owned = self._owned_files(ref, commit_id)
        if owned is not None and owned.complete and self._records:
            # Every record of this commit is known here: no walk over records, no reads.
            for raw, key in self._walk_raw(ref, commit_id, prefix, start_after):
                yield self._file_info(raw, key, owned.get(key), started)
            return
        records = self._record_names(ref, commit_id, prefix, start_after)
        pending: list[tuple[Any, str, Future[MetaRecord | None] | None]] = []
        try:
            for raw, key in self._walk_raw(ref, commit_id, prefix, start_after):
                future = None
                if records.has(key):
                    future = self._pool.submit(self._record, ref.repo, commit_id, key, ref.project)
                pending.append((raw, key, future))
                if len(pending) >= self._prefetch:
                    yield self._finish_entry(pending.pop(0), started)
            while pending:
                yield self._finish_entry(pending.pop(0), started)
        finally:
            records.close()
            for _, _, future in pending:
                if future is not None:
                    future.cancel()

    def _finish_entry(
        self,
        entry: tuple[Any, str, Future[MetaRecord | None] | None],
        started: Callable[[], datetime],
    ) -> FileInfo:
        raw, key, future = entry
        record = None if future is None else future.result()
        return self._file_info(raw, key, record, started)

    def _walk_raw(
        self, ref: CommitRef, commit_id: str, prefix: str, start_after: str
    ) -> Generator[tuple[Any, str], None, None]:
        """PFS files (not directories) whose keys start with ``prefix``, after ``start_after``,
        in path order, skipping the reserved directory with a fresh seek."""
        root = pfs_path(prefix.rpartition("/")[0]) if "/" in prefix else "/"
        after = start_after if start_after >= prefix else ""
        # pachd's pagination marker is the lower bound of the walk, itself included
        # (index/reader.go): seek to the prefix, or to the last key seen.
        seek = after or prefix
        marker: str | None = pfs_path(seek) if seek else None
        while True:
            resume = None
            for raw, key in self._walk_once(
                ref, commit_id, root=root, marker=marker, prefix=prefix, after=after
            ):
                if key is None:
                    resume = _RESERVED_END
                    break
                yield raw, key
            if resume is None:
                return
            marker = resume

    def _walk_once(
        self,
        ref: CommitRef,
        commit_id: str,
        *,
        root: str,
        marker: str | None,
        prefix: str,
        after: str,
    ) -> Generator[tuple[Any, str | None], None, None]:
        request = pfs_pb2.WalkFileRequest(file=self._file(ref.repo, commit_id, root, ref.project))
        if marker is not None:
            request.paginationMarker.CopyFrom(self._file(ref.repo, commit_id, marker, ref.project))
        stream = self._stream("WalkFile", request, what="file", name=f"{ref}:{root}")
        try:
            for raw in stream:
                if raw.file_type != _FILE:
                    continue
                path = raw.file.path
                if is_reserved_path(path):
                    if marker is None or marker < _RESERVED_END:
                        yield raw, None  # seek past pachs3's records
                        return
                    continue
                key = path[1:]
                if key <= after:
                    continue  # the marker itself, or a pachd that ignores pagination markers
                if key_problem(key) is not None:
                    continue  # pachd holds names (with '\\') that GetFile cannot read back
                if not key.startswith(prefix):
                    if key > prefix:
                        return
                    continue
                yield raw, key
        except NotFound as exc:
            if exc.what != "file":
                raise self._missing(ref.repo, commit_id, ref.project, exc) from exc
        finally:
            stream.close()

    def _record_names(
        self, ref: CommitRef, commit_id: str, prefix: str, start_after: str
    ) -> _RecordNames:
        """The keys under ``prefix`` that have records, walked alongside the files."""
        if not self._records:
            return _RecordNames(iter(()))
        root_key = prefix.rpartition("/")[0] if "/" in prefix else ""
        root = f"{META_ROOT}/{root_key}" if root_key else META_ROOT
        request = pfs_pb2.WalkFileRequest(file=self._file(ref.repo, commit_id, root, ref.project))
        after = start_after if start_after >= prefix else ""
        if after:
            request.paginationMarker.CopyFrom(
                self._file(ref.repo, commit_id, meta_path(after), ref.project)
            )
        base = len(META_ROOT) + 1

        def names() -> Generator[str, None, None]:
            stream = self._stream("WalkFile", request, what="file")
            try:
                for raw in stream:
                    if raw.file_type == _FILE:
                        yield raw.file.path[base:]
            except NotFound as exc:
                if exc.what != "file":
                    raise self._missing(ref.repo, commit_id, ref.project, exc) from exc
            finally:
                stream.close()

        return _RecordNames(names())


# --------------------------------------------------------------------------------------------


class _RecordNames:
    """A sorted stream of keys that have records, queried in ascending key order."""

    def __init__(self, names: Iterator[str]) -> None:
        self._names = names
        self._current: str | None = None
        self._done = False

    def has(self, key: str) -> bool:
        while not self._done and (self._current is None or self._current < key):
            try:
                self._current = next(self._names)
            except StopIteration:
                self._done = True
                self._current = None
        return self._current == key

    def close(self) -> None:
        close = getattr(self._names, "close", None)
        if close is not None:
            close()


class _OpenedFile:
    """``OpenFile`` over one lookup: reads go to the commit id it resolved."""

    __slots__ = ("_commit_id", "_layer", "_path", "_ref", "info")

    def __init__(
        self, layer: ReadLayer, ref: CommitRef, commit_id: str, path: str, info: FileInfo
    ) -> None:
        self._layer = layer
        self._ref = ref
        self._commit_id = commit_id
        self._path = path
        self.info = info

    def read(self, offset: int = 0, length: int | None = None) -> Generator[bytes, None, None]:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        return self._layer._read(
            self._ref,
            self._commit_id,
            self._path,
            size=self.info.size,
            offset=offset,
            length=length,
        )

    def close(self) -> None:
        """Nothing is held between the lookup and a read."""


def _recorded_info(key: str, record: MetaRecord) -> FileInfo:
    return FileInfo(
        path=key,
        size=record.size,
        etag=record.etag,
        md5=record.md5,
        modified=record.modified,
        commit=record.commit,
        metadata=record.metadata,
    )
