"""Writes of the Pachyderm backend: objects and their S3 records, copies and compositions.

Each write is one ModifyFile call that carries the object and its record together (pachd
applies a call whole or not at all), so a PUT into a commit this backend owns costs exactly
one RPC: what is already in the commit comes from memory (``known``), not from pachd.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from python_pachyderm.proto.v2.pfs import pfs_pb2

from ..base import (
    BackendError,
    CommitRef,
    Conflict,
    Expectation,
    FileInfo,
    NotFound,
    NotSupported,
    check_expectation,
)
from ..path_locks import PathLocks
from .known import CommitFiles
from .paths import key_problem, meta_path, pfs_path
from .reads import ReadLayer, _recorded_info
from .records import MetaRecord
from .rpc import _DIR, _FILE, UPLOAD_CHUNK, _now, _split

_PATH_LOCKS = PathLocks()
"""PFS has no conditional write: this process's changes of one path are serialized from their
last check until they are visible (one set for every backend object of the process)."""


class WriteLayer(ReadLayer):
    def key_problem(self, path: str) -> str | None:
        """Why PFS cannot hold ``path`` (the gateway asks before it reads a body), or None."""
        return key_problem(path)

    # ----------------------------------------------------------------------------------------
    # Where a write may go

    def _writable(self, ref: CommitRef) -> tuple[str, CommitFiles | None]:
        """The open commit ``ref`` names, and what this backend wrote to it if it owns it.

        An owned commit is not inspected: if someone else finished it, pachd refuses the
        write itself ("has already finished", a Conflict).
        """
        commit_id = self._resolve(ref)
        owned = self._owned_files(ref, commit_id)
        if owned is None:
            raw = self._raw_commit(ref.repo, commit_id, ref.project)
            if raw.HasField("finished") or raw.HasField("finishing"):
                raise Conflict(f"commit {ref.repo}@{commit_id} is finished; it cannot be written")
        return commit_id, owned

    def _claim(self, ref: CommitRef, commit_id: str, owned: CommitFiles | None, key: str) -> bool:
        """Refuse a key PFS cannot hold here (a file and a directory of one name would fail the
        commit when it is finished) and claim it; True when a file is there already."""
        problem = key_problem(key)
        if problem is not None:
            raise NotSupported(problem)
        if owned is not None and owned.complete:
            exists = owned.has(key)
        else:
            exists = self._remote_placement(ref, commit_id, key)
        if owned is not None:
            problem = owned.reserve(key)
            if problem is not None:
                raise NotSupported(problem)
        return exists

    def _remote_placement(self, ref: CommitRef, commit_id: str, key: str) -> bool:
        """``_claim`` for a commit this backend does not fully know: ask pachd."""
        current = self._raw_file(ref.repo, commit_id, pfs_path(key), ref.project)
        if current is not None and current.file_type == _DIR:
            raise NotSupported(
                f"{key!r} is a directory in PFS (other keys start with {key + '/'!r}); "
                "PFS cannot hold a file of the same name"
            )
        parts = key.split("/")
        for depth in range(len(parts) - 1, 0, -1):
            ancestor = "/".join(parts[:depth])
            found = self._raw_file(ref.repo, commit_id, pfs_path(ancestor), ref.project)
            if found is None:
                continue
            if found.file_type == _FILE:
                raise NotSupported(
                    f"{ancestor!r} is a file in PFS; it cannot also be the directory of {key!r}"
                )
            break
        return current is not None

    # ----------------------------------------------------------------------------------------
    # ModifyFile messages

    @staticmethod
    def _add(path: str, data: bytes) -> Any:
        return pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=path, raw={"value": data}))

    def _copy(self, src: CommitRef, src_id: str, src_path: str, dst_path: str, append: bool) -> Any:
        return pfs_pb2.ModifyFileRequest(
            copy_file=pfs_pb2.CopyFile(
                dst=dst_path,
                src=self._file(src.repo, src_id, src_path, src.project),
                append=append,
            )
        )

    def _write(
        self,
        ref: CommitRef,
        commit_id: str,
        owned: CommitFiles | None,
        key: str,
        *,
        body: Iterator[Any],
        record_of: Callable[[], MetaRecord],
        earlier: Sequence[Sequence[Any]] = (),
    ) -> FileInfo:
        """One ModifyFile: the object's ``body`` requests, then its record (made once the body
        has been sent, when its digest is known). Whole or nothing.

        ``earlier``: requests that must each go in a call of their own first (the first of them
        replaces the object). A failure then deletes what the earlier calls made.
        """
        made: list[MetaRecord] = []
        target = pfs_path(key)

        def requests() -> Iterator[Any]:
            yield self._set_commit(ref, commit_id)
            if not earlier:
                yield self._delete(target)
            yield from body
            made.append(record_of())
            yield self._delete(meta_path(key))
            if self._records:
                yield self._add(meta_path(key), made[0].encode())

        try:
            for number, call in enumerate(earlier):
                replace = (
                    [self._delete(target), self._delete(meta_path(key))] if number == 0 else []
                )
                self._modify(iter([self._set_commit(ref, commit_id), *replace, *call]))
            self._modify(requests())
        except BaseException:
            if earlier:
                with contextlib.suppress(BackendError):
                    self._modify(iter((self._set_commit(ref, commit_id), self._delete(target))))
            if owned is not None:
                owned.release(key)
            raise
        record = made[0]
        if owned is not None:
            owned.settle(key, record)
        if self._records:
            return _recorded_info(key, record)
        # Without records the S3 view is PFS's own (its hash as the ETag): ask for it.
        raw = self._raw_file(ref.repo, commit_id, pfs_path(key), ref.project)
        if raw is None or raw.file_type != _FILE:
            raise BackendError(f"pachd lost the file it just wrote: {ref}:{key}")
        return self._file_info(raw, key, None, lambda: record.modified)

    # ----------------------------------------------------------------------------------------
    # The FileWriter protocol

    def put_file(
        self,
        ref: CommitRef,
        path: str,
        chunks: Iterable[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        problem = key_problem(path)
        if problem is not None:
            raise NotSupported(problem)  # before a byte of the body is read
        commit_id, owned = self._writable(ref)
        self._claim(ref, commit_id, owned, path)
        try:
            self._check_expect(expect, ref, commit_id, path)  # before a byte of the body
        except BackendError:
            if owned is not None:
                owned.release(path)
            raise
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        target = pfs_path(path)
        serial = _PATH_LOCKS.claim(ref.repo, commit_id, path)

        def body() -> Iterator[Any]:
            nonlocal size
            yield self._add(target, b"")  # an empty body still makes a file
            for chunk in chunks:
                if not chunk:
                    continue
                data = bytes(chunk)
                md5.update(data)
                size += len(data)
                yield from (self._add(target, piece) for piece in _split(data, UPLOAD_CHUNK))
            # PFS has no conditional write: look again now that the body is in, and keep the
            # path until the object and its record are written (path_locks.py).
            serial.take()
            self._check_expect(expect, ref, commit_id, path)

        def record() -> MetaRecord:
            digest = md5.hexdigest()
            return MetaRecord(
                etag=digest,
                md5=digest,
                size=size,
                modified=_now(),
                commit=commit_id,
                metadata=dict(metadata or {}),
            )

        with serial:
            return self._write(ref, commit_id, owned, path, body=body(), record_of=record)

    def _check_expect(
        self, expect: Expectation | None, ref: CommitRef, commit_id: str, key: str
    ) -> None:
        """Judge a conditional change against the file at ``key`` now (what this backend wrote
        to a commit it owns, else pachd's)."""
        if expect is None:
            return
        try:
            _, current = self._lookup(
                CommitRef(repo=ref.repo, id=commit_id, project=ref.project), key
            )
        except NotFound as exc:
            if exc.what != "file":
                raise
            check_expectation(expect, key, None)
        else:
            check_expectation(expect, key, current)

    def delete_file(self, ref: CommitRef, path: str, *, expect: Expectation | None = None) -> bool:
        commit_id, owned = self._writable(ref)
        if key_problem(path) is not None:
            check_expectation(expect, path, None)  # PFS never holds such a key
            return False
        with _PATH_LOCKS.claim(ref.repo, commit_id, path) as serial:
            serial.take()
            self._check_expect(expect, ref, commit_id, path)
            if owned is not None and owned.complete:
                if not owned.has(path):
                    return False
            else:
                raw = self._raw_file(ref.repo, commit_id, pfs_path(path), ref.project)
                if raw is None or raw.file_type != _FILE:
                    return False  # a PFS delete of a directory would delete the whole tree
            # No trailing '/': pachd deletes this one file, never a tree (unordered_writer.go).
            self._modify(
                iter(
                    (
                        self._set_commit(ref, commit_id),
                        self._delete(pfs_path(path)),
                        self._delete(meta_path(path)),
                    )
                )
            )
            if owned is not None:
                owned.forget(path)
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
        problem = key_problem(dst_path)
        if problem is not None:
            raise NotSupported(problem)
        src_id, source = self._lookup(src, src_path)
        commit_id, owned = self._writable(dst)
        self._claim(dst, commit_id, owned, dst_path)
        copied = self._copy(src, src_id, pfs_path(src_path), pfs_path(dst_path), append=False)
        meta = dict(source.metadata if metadata is None else metadata)
        with _PATH_LOCKS.claim(dst.repo, commit_id, dst_path) as serial:
            serial.take()
            try:
                self._check_expect(expect, dst, commit_id, dst_path)
            except BackendError:
                if owned is not None:
                    owned.release(dst_path)
                raise
            return self._write(
                dst,
                commit_id,
                owned,
                dst_path,
                body=iter((copied,)),
                record_of=lambda: MetaRecord(
                    etag=source.etag,
                    md5=source.md5,
                    size=source.size,
                    modified=_now(),
                    commit=commit_id,
                    metadata=meta,
                ),
            )

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
        problem = key_problem(dst_path)
        if problem is not None:
            raise NotSupported(problem)
        commit_id, owned = self._writable(dst)
        parts: list[tuple[CommitRef, str, str, int]] = []
        for ref, path in sources:
            ref_id, info = self._lookup(ref, path)  # PFS would copy a missing file as nothing
            parts.append((ref, ref_id, path, info.size))
        self._claim(dst, commit_id, owned, dst_path)
        target = pfs_path(dst_path)
        # One call per part: pachd keeps one entry per CopyFile(append) of a path within one
        # ModifyFile (reads then fail with "matched multiple files", and finishing with
        # "duplicate path output by different datums"; seen on pachd 2.6.0), while appends in
        # calls of their own concatenate.
        copies = [
            [self._copy(ref, ref_id, pfs_path(path), target, append=number > 0)]
            for number, (ref, ref_id, path, _) in enumerate(parts)
        ]
        total = sum(size for *_, size in parts)
        with _PATH_LOCKS.claim(dst.repo, commit_id, dst_path) as serial:
            serial.take()
            try:
                self._check_expect(expect, dst, commit_id, dst_path)
            except BackendError:
                if owned is not None:
                    owned.release(dst_path)
                raise
            return self._write(
                dst,
                commit_id,
                owned,
                dst_path,
                earlier=copies[:-1],
                body=iter(copies[-1] if copies else [self._add(target, b"")]),
                record_of=lambda: MetaRecord(
                    etag=etag,
                    md5=None,
                    size=total,
                    modified=_now(),
                    commit=commit_id,
                    metadata=dict(metadata or {}),
                ),
            )
