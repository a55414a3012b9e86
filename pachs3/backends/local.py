"""The embedded store: PFS repos, branches, commits and files on local disk.

``LocalStore(path)`` opens (or creates) a store directory::

    store.db        SQLite, WAL mode: repos, branches, commits, layers, file entries, and the
                    contents of small files (up to 64 KiB), content-addressed by SHA-256
    blobs/ab/ab…    larger file contents, content-addressed too, immutable once in place
    tmp/            uploads being received (flocked by their writer)

How the pieces fit (details in ``docs/store.md``):

- ``local_db``: format, opening, connection pool, transactions (``BEGIN IMMEDIATE`` for writes);
- ``local_blobs``: staging uploads, inline vs file contents, segment lists, renaming blob files
  into place, reading byte ranges, sweeping;
- ``local_layers``: a commit's view as a stack of per-commit change layers, listing by k-way
  merge, size-tiered compaction when a commit finishes;
- ``local_rows``: the commit row type and the lookups (repo, branch, commit, file) that
  methods start with;
- this module: the ``Backend`` methods, each one short transaction.

Durability: ``process-crash`` (default) keeps every acknowledged write through a killed process
(a blob file fully written and renamed before the entry commits, an inline content committed
with its entry; WAL with ``synchronous=NORMAL``).
``power-loss`` also fsyncs blobs and their directories and commits with ``synchronous=FULL``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from .base import (
    AlreadyExists,
    BranchInfo,
    CommitInfo,
    CommitRef,
    Conflict,
    FileInfo,
    NotFound,
    ReadSpan,
    RepoInfo,
)
from .local_blobs import (
    DEFAULT_CHUNK_SIZE,
    INSERT_INLINE,
    SELECT_INLINE,
    TEMP_MIN_AGE,
    BlobStore,
    Staged,
    decode_segments,
    encode_segments,
    segment_digests,
)
from .local_db import Database, Durability, StoreError, from_us, now_us, prepare_store
from .local_layers import (
    ETAG,
    INSERT_ENTRY,
    MD5,
    META,
    SEGS,
    SIZE,
    Row,
    decode_path,
    encode_path,
    layers_to_merge,
    lookup,
    merge_layers,
    walk,
)
from .local_rows import (
    COMMIT_COLUMNS,
    NO_BRANCH,
    CommitRow,
    FileCommit,
    branch_head,
    encode_meta,
    ensure_branch,
    file_key,
    find_commit,
    find_file,
    find_ref,
    put_row,
    repo_info,
    repo_row,
    require_file,
    require_repo,
    resolve_provenance,
    writable,
)

__all__ = ["GcReport", "LocalStore", "StoreError"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GcReport:
    blobs_removed: int
    bytes_freed: int
    temp_files_removed: int


class LocalStore:
    """A PFS backend on local disk; implements ``pachs3.backends.base.Backend``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "process-crash",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        busy_timeout: float = 30.0,
        page_size: int = 1000,
    ) -> None:
        if durability not in ("process-crash", "power-loss"):
            raise ValueError(f"durability must be 'process-crash' or 'power-loss': {durability!r}")
        if chunk_size <= 0 or page_size <= 0:
            raise ValueError("chunk_size and page_size must be positive")
        self.path = Path(path)
        self.durability: Durability = durability
        self._db = Database(
            prepare_store(self.path), durability=durability, busy_timeout=busy_timeout
        )
        self._blobs = BlobStore(
            self.path, durable=durability == "power-loss", chunk_size=chunk_size
        )
        self._page_size = page_size
        # seq -> id never changes (seqs are never reused), so it is cached for good.
        self._commit_ids: dict[int, str] = {}
        self._blobs.sweep_temp()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.path)!r}, durability={self.durability!r})"

    # ----------------------------------------------------------------------------------------
    # Repos and branches

    def create_repo(self, repo: str, *, description: str = "", exist_ok: bool = False) -> RepoInfo:
        with self._db.write() as con:
            row = repo_row(con, repo)
            if row is not None:
                if exist_ok:
                    return repo_info(row)
                raise AlreadyExists(f"repo already exists: {repo}")
            row = (repo, now_us(), description)
            con.execute("INSERT INTO repos (name, created_us, description) VALUES (?, ?, ?)", row)
        return repo_info(row)

    def inspect_repo(self, repo: str) -> RepoInfo:
        with self._db.read() as con:
            return repo_info(require_repo(con, repo))

    def list_repos(self) -> list[RepoInfo]:
        with self._db.read() as con:
            rows = con.execute("SELECT name, created_us, description FROM repos ORDER BY name")
            return [repo_info(row) for row in rows]

    def delete_repo(self, repo: str) -> None:
        """Delete the repo's rows; its blobs stay until ``gc()`` finds them unreferenced."""
        with self._db.write() as con:
            require_repo(con, repo)
            con.execute(
                "DELETE FROM entries WHERE layer IN (SELECT id FROM layers WHERE repo = ?)", (repo,)
            )
            for table, column in (
                ("layers", "repo"),
                ("commits", "repo"),
                ("branches", "repo"),
                ("repos", "name"),
            ):
                con.execute(f"DELETE FROM {table} WHERE {column} = ?", (repo,))

    def create_branch(self, repo: str, branch: str, *, head: str | None = None) -> BranchInfo:
        with self._db.write() as con:
            require_repo(con, repo)
            head_id = None if head is None else find_commit(con, repo, head).id
            con.execute(
                "INSERT OR REPLACE INTO branches (repo, name, head) VALUES (?, ?, ?)",
                (repo, branch, head_id),
            )
        return BranchInfo(repo=repo, name=branch, head=head_id)

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        with self._db.read() as con:
            require_repo(con, repo)
            row = con.execute(
                "SELECT head FROM branches WHERE repo = ? AND name = ?", (repo, branch)
            ).fetchone()
        if row is None:
            raise NotFound("branch", f"{repo}@{branch}")
        return BranchInfo(repo=repo, name=branch, head=row[0])

    def list_branches(self, repo: str) -> list[BranchInfo]:
        with self._db.read() as con:
            require_repo(con, repo)
            rows = con.execute(
                "SELECT name, head FROM branches WHERE repo = ? ORDER BY name", (repo,)
            ).fetchall()
        return [BranchInfo(repo=repo, name=name, head=head) for name, head in rows]

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
        """Open a commit: O(1), it copies the parent's short layer list, never its files.

        A branch that does not exist yet is created (empty). The parent must be finished
        (Conflict otherwise): an open parent's view could still change under its child.
        """
        with self._db.write() as con:
            require_repo(con, repo)
            sources = resolve_provenance(con, provenance)
            head = None if branch is None else ensure_branch(con, repo, branch)
            base_ref = parent if parent is not None else head
            base = None if base_ref is None else find_commit(con, repo, base_ref)
            if base is not None and base.is_open:
                raise Conflict(f"parent commit {base.id} is not finished")
            own = con.execute("INSERT INTO layers (repo) VALUES (?)", (repo,)).lastrowid
            assert own is not None
            layers = [own] if empty or base is None else [own, *base.layers]
            commit_id = uuid.uuid4().hex
            values = (
                commit_id,
                repo,
                branch,
                None if base is None else base.id,
                now_us(),
                json.dumps(sources),
                description,
                own,
                json.dumps(layers),
            )
            cursor = con.execute(
                "INSERT INTO commits (id, repo, branch, parent, started_us, provenance, "
                "description, own_layer, layers) VALUES (?,?,?,?,?,?,?,?,?)",
                values,
            )
            assert cursor.lastrowid is not None
            self._commit_ids[cursor.lastrowid] = commit_id
            return find_commit(con, repo, commit_id).info()

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        with self._db.write() as con:
            require_repo(con, repo)
            found = find_commit(con, repo, commit)
            if not found.is_open:
                raise Conflict(f"commit {found.id} is already finished")
            own_rows = con.execute(
                "SELECT count(*) FROM entries WHERE layer = ?", (found.own_layer,)
            ).fetchone()[0]
            con.execute("UPDATE layers SET rows = ? WHERE id = ?", (own_rows, found.own_layer))
            # An empty own layer adds nothing to the view; leaving it out keeps the stack short.
            layers = found.layers if own_rows else found.layers[1:]
            con.execute(
                "UPDATE commits SET finished_us = ?, error = ?, layers = ? WHERE seq = ?",
                (now_us(), error, json.dumps(layers), found.seq),
            )
            if found.branch is not None and error is None:
                con.execute(
                    "INSERT OR REPLACE INTO branches (repo, name, head) VALUES (?, ?, ?)",
                    (repo, found.branch, found.id),
                )
            finished = find_commit(con, repo, found.id)
        # A separate transaction: the commit is already durable and visible; if this is cut
        # short the view is simply left one layer longer.
        self._compact(finished)
        return finished.info()

    def _compact(self, commit: CommitRow) -> None:
        if len(commit.layers) < 2:
            return
        with self._db.write() as con:
            # Read again under the lock: the repo may have been deleted since the finish.
            found = con.execute("SELECT layers FROM commits WHERE seq = ?", (commit.seq,))
            row = found.fetchone()
            if row is None:
                return
            current: list[int] = json.loads(row[0])
            marks = ",".join("?" * len(current))
            sizes = dict(con.execute(f"SELECT id, rows FROM layers WHERE id IN ({marks})", current))
            count = layers_to_merge([sizes.get(layer) or 0 for layer in current])
            if count < 2:
                return
            target = con.execute("INSERT INTO layers (repo) VALUES (?)", (commit.repo,)).lastrowid
            assert target is not None
            rows = merge_layers(con, current[:count], target, bottom=count == len(current))
            con.execute("UPDATE layers SET rows = ? WHERE id = ?", (rows, target))
            layers = [target, *current[count:]]
            con.execute(
                "UPDATE commits SET layers = ? WHERE seq = ?", (json.dumps(layers), commit.seq)
            )

    def discard_commit(self, repo: str, commit: str) -> None:
        """Delete an open commit and its entries; its blobs stay until ``gc()``."""
        with self._db.write() as con:
            require_repo(con, repo)
            found = find_commit(con, repo, commit)
            if not found.is_open:
                raise Conflict(f"commit {found.id} is finished and cannot be discarded")
            con.execute("DELETE FROM entries WHERE layer = ?", (found.own_layer,))
            con.execute("DELETE FROM layers WHERE id = ?", (found.own_layer,))
            con.execute("DELETE FROM commits WHERE seq = ?", (found.seq,))
            # A branch pointed at it explicitly (create_branch): it falls back to the parent.
            con.execute(
                "UPDATE branches SET head = ? WHERE repo = ? AND head = ?",
                (found.parent, repo, found.id),
            )

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        with self._db.read() as con:
            require_repo(con, repo)
            return find_commit(con, repo, commit).info()

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        with self._db.read() as con:
            require_repo(con, repo)
            if branch is None:
                rows = con.execute(
                    f"SELECT {COMMIT_COLUMNS} FROM commits WHERE repo = ? ORDER BY seq DESC",
                    (repo,),
                ).fetchall()
            else:
                if branch_head(con, repo, branch) is NO_BRANCH:
                    raise NotFound("branch", f"{repo}@{branch}")
                rows = con.execute(
                    f"SELECT {COMMIT_COLUMNS} FROM commits WHERE repo = ? AND branch = ? "
                    "ORDER BY seq DESC",
                    (repo, branch),
                ).fetchall()
        return [CommitRow.from_row(row).info() for row in rows]

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
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")

        def check(row: Row) -> ReadSpan:
            if etag is not None and _row_etag(row) != etag:
                raise Conflict(f"{path} changed: it is no longer the version {etag}")
            return offset, length

        _info, stream = self._open(ref, path, check)
        assert stream is not None
        return stream

    def open_file(
        self, ref: CommitRef, path: str, choose: Callable[[FileInfo], ReadSpan | None]
    ) -> tuple[FileInfo, Generator[bytes, None, None] | None]:
        """Inspect and read in one snapshot (``FileOpener``): one lookup for a whole GET."""
        info: FileInfo | None = None

        def decide(row: Row) -> ReadSpan | None:
            nonlocal info
            info = self._file_info(row)
            return choose(info)

        _row, stream = self._open(ref, path, decide)
        assert info is not None  # decide ran: _open raises NotFound before it otherwise
        return info, stream

    def _open(
        self, ref: CommitRef, path: str, decide: Callable[[Row], ReadSpan | None]
    ) -> tuple[Row, Generator[bytes, None, None] | None]:
        """Find the entry and, if ``decide(entry)`` names a span, a stream of it: one snapshot.

        The stream reads that version whatever is written later.
        """
        with self._db.read() as con:
            found, row = find_file(con, ref, encode_path(path))
            if row is None:
                raise NotFound("file", f"{ref.repo}@{found.id}:{path}")
            span = decide(row)
            if span is None:
                return row, None
            segments = decode_segments(row[SEGS], row[SIZE])
            # A small file (the common case) is one inline content: fetch it now, in the same
            # snapshot as its entry, so that a read costs no second round trip later. A bigger
            # or composed file is fetched content by content as the reader gets to each.
            inline: Callable[[bytes], bytes | None] = self._inline
            if len(segments) == 1 and segments[0].inline:
                content = con.execute(SELECT_INLINE, (segments[0].digest,)).fetchone()
                data: bytes | None = None if content is None else content[0]
                inline = lambda _digest: data  # noqa: E731 - a one-content lookup
        offset, length = span
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        size: int = row[SIZE]
        start = min(offset, size)
        count = size - start if length is None else min(length, size - start)
        return row, self._blobs.read(segments, start, count, inline)

    def _inline(self, digest: bytes) -> bytes | None:
        with self._db.connection() as con:
            content = con.execute(SELECT_INLINE, (digest,)).fetchone()
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

    # ----------------------------------------------------------------------------------------
    # Writing files

    def put_file(
        self,
        ref: CommitRef,
        path: str,
        chunks: Iterable[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        if_absent: bool = False,
    ) -> FileInfo:
        key = file_key(path)
        meta = encode_meta(metadata)
        staged = self._blobs.stage(
            chunks, before_spill=lambda: self._precheck_put(ref, key, if_absent=if_absent)
        )
        try:
            with self._db.write() as con:
                commit = self._check_put(con, ref, key, if_absent=if_absent)
                self._store_content(con, staged)
                row = put_row(key, staged, now_us(), commit.seq, meta)
                con.execute(INSERT_ENTRY, (commit.own_layer, *row))
        finally:
            self._blobs.release(staged)
        return self._file_info(row)

    def _precheck_put(self, ref: CommitRef, key: bytes, *, if_absent: bool) -> None:
        """Refuse a large upload that cannot succeed before receiving the rest of it. A small
        one is not checked twice: the check inside the write transaction is the one that
        counts, and a statement here would cost a small PUT about a tenth of its time."""
        with self._db.connection() as con:
            self._check_put(con, ref, key, if_absent=if_absent)

    def _store_content(self, con: sqlite3.Connection, staged: Staged) -> None:
        """Make the staged content available, inside the write transaction of its entry."""
        if staged.inline:
            con.execute(INSERT_INLINE, (staged.digest, staged.data))
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
                        INSERT_ENTRY,
                        (
                            (commit.own_layer, *put_row(key, upload, now, commit.seq, meta))
                            for key, upload in staged
                        ),
                    )
            finally:
                for _key, upload in staged:
                    self._blobs.release(upload)
            written += len(batch)
        return written

    def delete_file(self, ref: CommitRef, path: str) -> bool:
        key = encode_path(path)
        with self._db.write() as con:
            commit = writable(con, ref)
            if lookup(con, commit.layers, key) is None:
                return False
            if lookup(con, commit.layers[1:], key) is None:
                # Only this commit ever had it: forget the entry instead of hiding it.
                con.execute(
                    "DELETE FROM entries WHERE layer = ? AND path = ?", (commit.own_layer, key)
                )
            else:
                tombstone = (commit.own_layer, key, None, None, None, None, None, None, None)
                con.execute(INSERT_ENTRY, tombstone)
        return True

    def copy_file(
        self,
        src: CommitRef,
        src_path: str,
        dst: CommitRef,
        dst_path: str,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> FileInfo:
        key = file_key(dst_path)
        with self._db.write() as con:
            target = writable(con, dst)
            source = require_file(con, find_ref(con, src), src_path)
            meta = source[META] if metadata is None else encode_meta(metadata)
            row = (
                key,
                source[SIZE],
                source[MD5],
                source[ETAG],
                now_us(),
                target.seq,
                meta,
                source[SEGS],
            )
            con.execute(INSERT_ENTRY, (target.own_layer, *row))
        return self._file_info(row)

    def compose_file(
        self,
        dst: CommitRef,
        dst_path: str,
        sources: Sequence[tuple[CommitRef, str]],
        *,
        etag: str,
        metadata: Mapping[str, str] | None = None,
    ) -> FileInfo:
        key = file_key(dst_path)
        with self._db.write() as con:
            target = writable(con, dst)
            commits: dict[CommitRef, CommitRow] = {}
            segments = []
            size = 0
            for ref, path in sources:
                if ref not in commits:
                    commits[ref] = find_ref(con, ref)
                source = require_file(con, commits[ref], path)
                segments += decode_segments(source[SEGS], source[SIZE])
                size += source[SIZE]
            row = (
                key,
                size,
                None,
                etag,
                now_us(),
                target.seq,
                encode_meta(metadata),
                encode_segments(segments),
            )
            con.execute(INSERT_ENTRY, (target.own_layer, *row))
        return self._file_info(row)

    @staticmethod
    def _check_put(
        con: sqlite3.Connection, ref: CommitRef, key: bytes, *, if_absent: bool
    ) -> FileCommit:
        commit, existing = find_file(con, ref, key, writing=True)
        if if_absent and existing is not None:
            raise AlreadyExists(f"file already exists: {decode_path(key)}")
        return commit

    # ----------------------------------------------------------------------------------------
    # Maintenance

    def gc(self, *, temp_min_age: float = TEMP_MIN_AGE) -> GcReport:
        """Remove blobs no entry references (after discards, deletes, overwrites, crashes) and
        temporary files of dead writers.

        Holds the write lock throughout: a writer renames a blob into place (or inserts an
        inline content) and commits the entry referencing it under that same lock, so no content
        can gain a reference meanwhile. Readers are not blocked. Costs one scan of the entries
        table. A temporary file is only swept once ``temp_min_age`` seconds old (its writer may
        not have locked it yet). Inline contents count as blobs in the report; their pages are
        reused by SQLite rather than returned to the filesystem.
        """
        temp_removed = self._blobs.sweep_temp(temp_min_age)
        removed = freed = 0
        with self._db.write() as con:
            referenced: set[tuple[bool, bytes]] = set()
            # DISTINCT in SQLite first: most entries share few segment lists (copies, dedup).
            for (segs,) in con.execute("SELECT DISTINCT segs FROM entries WHERE segs NOT NULL"):
                referenced.update(segment_digests(segs))
            unused = [
                (digest, size)
                for digest, size in con.execute("SELECT digest, length(data) FROM inline_blobs")
                if (True, digest) not in referenced
            ]
            con.executemany("DELETE FROM inline_blobs WHERE digest = ?", ((d,) for d, _ in unused))
            removed += len(unused)
            freed += sum(size for _, size in unused)
            for digest, path in self._blobs.all_blobs():
                if (False, digest) in referenced:
                    continue
                try:
                    size = os.stat(path).st_size
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                removed += 1
                freed += size
        return GcReport(blobs_removed=removed, bytes_freed=freed, temp_files_removed=temp_removed)

    # ----------------------------------------------------------------------------------------

    def _file_info(self, row: Row) -> FileInfo:
        path, size, md5, _etag, modified, changed_by, meta, _segs = row
        md5_hex = None if md5 is None else md5.hex()
        return FileInfo(
            path=decode_path(path),
            size=size,
            etag=_row_etag(row),
            modified=from_us(modified),
            commit=self._commit_ids.get(changed_by) or self._commit_id(changed_by),
            md5=md5_hex,
            metadata=json.loads(meta) if meta else {},
        )

    def _commit_id(self, seq: int) -> str:
        commit_id = self._commit_ids.get(seq)
        if commit_id is None:
            with self._db.connection() as con:
                found = con.execute("SELECT id FROM commits WHERE seq = ?", (seq,)).fetchone()
            commit_id = "" if found is None else found[0]
            if found is not None:
                self._commit_ids[seq] = commit_id
        return commit_id


def _row_etag(row: Row) -> str:
    """A file's etag: the one recorded (composed files), else the MD5 of its bytes."""
    etag, md5 = row[ETAG], row[MD5]
    if etag is not None:
        return str(etag)
    return "" if md5 is None else bytes(md5).hex()
