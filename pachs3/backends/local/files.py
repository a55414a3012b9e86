"""Reading and writing the files of commits: the file half of ``LocalStore``.

``FileStore`` holds what file methods need (the database, the blob store, the listing page size
and the commit-id cache); ``store.LocalStore`` extends it with repos, branches, commits and
maintenance.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import closing
from itertools import islice

from ..base import (
    CommitInfo,
    CommitRef,
    Conflict,
    Expectation,
    FileInfo,
    NotFound,
    check_expectation,
)
from ..history import FileChange
from ..history import walk_history as walk_every_commit
from . import history
from . import schema as sql
from .blobs import BlobStore, Staged, decode_segments, encode_segments
from .database import Database, from_us, now_us
from .layers import decode_path, encode_path, lookup, walk
from .rows import (
    CommitRow,
    encode_meta,
    file_key,
    find_file,
    find_ref,
    put_entry,
    require_file,
    writable,
)
from .schema import Entry, FileCommit


class FileStore:
    """The ``Backend`` methods on files (see ``store.LocalStore`` for the rest)."""

    def __init__(self, db: Database, blobs: BlobStore, *, page_size: int) -> None:
        self._db = db
        self._blobs = blobs
        self._page_size = page_size
        # seq -> id never changes (seqs are never reused), so it is cached for good.
        self._commit_ids: dict[int, str] = {}

    # ----------------------------------------------------------------------------------------
    # Reading files

    def inspect_file(self, ref: CommitRef, path: str) -> FileInfo:
        # One statement (see find_file), so no transaction is needed for a consistent answer.
        with self._db.connection() as con:
            found, row = find_file(con, ref, encode_path(path))
        if row is None:
            raise NotFound("file", f"{ref.repo}@{found.id}:{path}")
        return self._file_info(row)

    def read_file(
        self,
        ref: CommitRef,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        etag: str | None = None,
    ) -> Generator[bytes, None, None]:
        """Stream a byte range; the range is clipped to the file (past the end: nothing).

        The entry's segments are resolved here, in one snapshot: the stream reads that version
        whatever is written later, and ``etag`` is checked against that same entry.
        """
        _check_span(offset, length)
        with closing(self.open_file(ref, path)) as opened:
            if etag is not None and opened.etag != etag:
                raise Conflict(f"{path} changed: it is no longer the version {etag}")
            return opened.read(offset, length)

    def open_file(self, ref: CommitRef, path: str) -> LocalOpenFile:
        """The file's entry, found in a read transaction that stays open until ``close``
        (``FileOpener``): info, checks and bytes of a GET come from one snapshot."""
        snapshot = self._db.read()
        con = snapshot.__enter__()
        try:
            found, entry = find_file(con, ref, encode_path(path))
            if entry is None:
                raise NotFound("file", f"{ref.repo}@{found.id}:{path}")
        except BaseException:
            snapshot.__exit__()
            raise
        return LocalOpenFile(self, entry, snapshot, con)

    def _inline(self, digest: bytes) -> bytes | None:
        with self._db.connection() as con:
            content = con.execute(sql.SELECT_INLINE, (digest,)).fetchone()
        return None if content is None else bytes(content[0])

    def walk_files(
        self, ref: CommitRef, *, prefix: str = "", start_after: str = ""
    ) -> Iterator[FileInfo]:
        with self._db.read() as con:
            layers = find_ref(con, ref).layers
        rows = walk(
            self._db,
            layers,
            prefix=encode_path(prefix),
            start_after=encode_path(start_after),
            page_size=self._page_size,
        )
        return (self._file_info(row) for row in rows)

    def walk_history(
        self, line: Sequence[CommitInfo], *, prefix: str = "", start_after: str = ""
    ) -> Generator[FileChange, None, None]:
        """``FileHistory``: from the per-path index (``history.py``) when it can answer the
        line, else one walk per commit as on every backend."""
        indexed = history.indexed_line(self._db, line)
        if indexed is None:
            return walk_every_commit(self, line, prefix=prefix, start_after=start_after)
        return history.walk(
            self._db,
            indexed,
            prefix=encode_path(prefix),
            start_after=encode_path(start_after),
            page_size=self._page_size,
            file_info=self._file_info,
        )

    # ----------------------------------------------------------------------------------------
    # Writing files

    def put_file(
        self,
        ref: CommitRef,
        path: str,
        chunks: Iterable[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        key = file_key(path)
        meta = encode_meta(metadata)
        staged = self._blobs.stage(
            chunks, before_spill=lambda: self._precheck_put(ref, key, expect)
        )
        try:
            with self._db.write() as con:
                commit = self._check_put(con, ref, key, expect)
                self._store_content(con, staged)
                entry = put_entry(key, staged, now_us(), commit.seq, meta)
                con.execute(sql.INSERT_ENTRY, (commit.own_layer, *entry))
        finally:
            self._blobs.release(staged)
        return self._file_info(entry)

    def _precheck_put(self, ref: CommitRef, key: bytes, expect: Expectation | None) -> None:
        """Refuse a large upload that cannot succeed before receiving the rest of it. A small
        one is not checked twice: the check inside the write transaction is the one that
        counts, and a statement here would cost a small PUT about a tenth of its time."""
        with self._db.connection() as con:
            self._check_put(con, ref, key, expect)

    def _store_content(self, con: sqlite3.Connection, staged: Staged) -> None:
        """Make the staged content available, inside the write transaction of its entry."""
        if staged.inline:
            con.execute(sql.INSERT_INLINE, (staged.digest, staged.data))
        else:
            self._blobs.install(staged)

    def put_files(
        self,
        ref: CommitRef,
        files: Iterable[tuple[str, bytes]],
        *,
        metadata: Mapping[str, str] | None = None,
        batch_size: int = 10_000,
    ) -> int:
        """Bulk ``put_file`` of many small in-memory files, ``batch_size`` per transaction.

        Each batch becomes visible at once; a failure leaves the earlier batches in place.
        Returns how many files were written.
        """
        meta = encode_meta(metadata)
        written = 0
        iterator = iter(files)
        while batch := list(islice(iterator, batch_size)):
            staged: list[tuple[bytes, Staged]] = []
            try:
                for path, data in batch:
                    staged.append((file_key(path), self._blobs.stage((data,), prewrite=False)))
                with self._db.write() as con:
                    commit = writable(con, ref)
                    installed: set[bytes | None] = {None}
                    for _key, upload in staged:
                        if upload.digest not in installed:
                            self._store_content(con, upload)
                            installed.add(upload.digest)
                    now = now_us()
                    con.executemany(
                        sql.INSERT_ENTRY,
                        (
                            (commit.own_layer, *put_entry(key, upload, now, commit.seq, meta))
                            for key, upload in staged
                        ),
                    )
            finally:
                for _key, upload in staged:
                    self._blobs.release(upload)
            written += len(batch)
        return written

    def delete_file(self, ref: CommitRef, path: str, *, expect: Expectation | None = None) -> bool:
        key = encode_path(path)
        with self._db.write() as con:
            commit = writable(con, ref)
            current = lookup(con, commit.layers, key)
            if expect is not None:
                check_expectation(expect, path, None if current is None else _version(current))
            if current is None:
                return False
            if lookup(con, commit.layers[1:], key) is None:
                # Only this commit ever had it: forget the entry instead of hiding it.
                con.execute(sql.DELETE_ENTRY, (commit.own_layer, key))
            else:
                tombstone = Entry(key, None, None, None, None, None, None, None)
                con.execute(sql.INSERT_ENTRY, (commit.own_layer, *tombstone))
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
        key = file_key(dst_path)
        with self._db.write() as con:
            target = self._check_put(con, dst, key, expect)
            source = require_file(con, find_ref(con, src), src_path)
            meta = source.meta if metadata is None else encode_meta(metadata)
            entry = source._replace(
                path=key, modified_us=now_us(), changed_by=target.seq, meta=meta
            )
            con.execute(sql.INSERT_ENTRY, (target.own_layer, *entry))
        return self._file_info(entry)

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
        key = file_key(dst_path)
        with self._db.write() as con:
            target = self._check_put(con, dst, key, expect)
            commits: dict[CommitRef, CommitRow] = {}
            segments = []
            size = 0
            for ref, path in sources:
                if ref not in commits:
                    commits[ref] = find_ref(con, ref)
                source = require_file(con, commits[ref], path)
                segments += decode_segments(source.segs, _size(source))
                size += _size(source)
            entry = Entry(
                path=key,
                size=size,
                md5=None,
                etag=etag,
                modified_us=now_us(),
                changed_by=target.seq,
                meta=encode_meta(metadata),
                segs=encode_segments(segments),
            )
            con.execute(sql.INSERT_ENTRY, (target.own_layer, *entry))
        return self._file_info(entry)

    @staticmethod
    def _check_put(
        con: sqlite3.Connection, ref: CommitRef, key: bytes, expect: Expectation | None
    ) -> FileCommit:
        """The open commit ``ref`` names, once ``expect`` holds for its file at ``key``. Inside
        the write transaction of the change, this is the check that counts."""
        commit, existing = find_file(con, ref, key, writing=True)
        if expect is not None:
            current = None if existing is None else _version(existing)
            check_expectation(expect, decode_path(key), current)
        return commit

    def _file_info(self, entry: Entry) -> FileInfo:
        size, modified, changed_by = entry.size, entry.modified_us, entry.changed_by
        # Only tombstones lack these, and no lookup or walk returns a tombstone.
        assert size is not None
        assert modified is not None
        assert changed_by is not None
        return FileInfo(
            path=decode_path(entry.path),
            size=size,
            etag=_etag(entry),
            modified=from_us(modified),
            commit=self._commit_ids.get(changed_by) or self._commit_id(changed_by),
            md5=None if entry.md5 is None else entry.md5.hex(),
            metadata=json.loads(entry.meta) if entry.meta else {},
        )

    def _commit_id(self, seq: int) -> str:
        commit_id = self._commit_ids.get(seq)
        if commit_id is None:
            with self._db.connection() as con:
                found = con.execute(sql.SELECT_COMMIT_ID, (seq,)).fetchone()
            commit_id = "" if found is None else found[0]
            if found is not None:
                self._commit_ids[seq] = commit_id
        return commit_id


def _version(entry: Entry) -> FileInfo:
    """What an expectation is judged on (ETag, size, time), without the lookup of the commit id
    that ``FileStore._file_info`` may need: a check inside a write transaction asks nothing else."""
    assert entry.size is not None  # not a tombstone
    assert entry.modified_us is not None
    return FileInfo(
        path=decode_path(entry.path),
        size=entry.size,
        etag=_etag(entry),
        modified=from_us(entry.modified_us),
        commit="",
    )


def _etag(entry: Entry) -> str:
    """A file's etag: the one recorded (composed files), else the MD5 of its bytes."""
    if entry.etag is not None:
        return entry.etag
    return "" if entry.md5 is None else entry.md5.hex()


def _size(entry: Entry) -> int:
    """The size of a visible entry (lookups never return tombstones, the only sizeless rows)."""
    assert entry.size is not None
    return entry.size


class LocalOpenFile:
    """``OpenFile`` of the local store: an entry and the read transaction it was found in.

    ``read`` resolves the entry's segments in that snapshot, so it streams the version ``info``
    describes whatever is written (or collected) later; ``close`` ends the transaction.
    """

    __slots__ = ("_con", "_entry", "_files", "_info", "_snapshot")

    def __init__(
        self,
        files: FileStore,
        entry: Entry,
        snapshot: ContextManager[object],
        con: sqlite3.Connection,
    ) -> None:
        self._files = files
        self._entry = entry
        self._snapshot: ContextManager[object] | None = snapshot
        self._con = con
        self._info: FileInfo | None = None

    @property
    def info(self) -> FileInfo:
        if self._info is None:  # built on first use: read_file needs only the etag
            self._info = self._files._file_info(self._entry)
        return self._info

    @property
    def etag(self) -> str:
        return _etag(self._entry)

    def read(self, offset: int = 0, length: int | None = None) -> Generator[bytes, None, None]:
        _check_span(offset, length)
        if self._snapshot is None:
            raise ValueError("read of a closed file")
        size = _size(self._entry)
        segments = decode_segments(self._entry.segs, size)
        # A small file (the common case) is one inline content: fetch it now, in the snapshot
        # of its entry, so that the stream costs no second round trip. A bigger or composed
        # file is fetched content by content as the reader gets to each.
        inline: Callable[[bytes], bytes | None] = self._files._inline
        if len(segments) == 1 and segments[0].inline:
            content = self._con.execute(sql.SELECT_INLINE, (segments[0].digest,)).fetchone()
            data: bytes | None = None if content is None else content[0]
            inline = lambda _digest: data  # noqa: E731 - a one-content lookup
        start = min(offset, size)
        count = size - start if length is None else min(length, size - start)
        return self._files._blobs.read(segments, start, count, inline)

    def close(self) -> None:
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            snapshot.__exit__(None, None, None)


def _check_span(offset: int, length: int | None) -> None:
    if offset < 0 or (length is not None and length < 0):
        raise ValueError("offset and length must not be negative")
