"""Contents of the local store: blob files, inline contents, and segment lists pointing at them.

A content is the bytes of one upload, stored once under the SHA-256 of those bytes. Where depends
on its size:

- up to ``INLINE_MAX`` bytes: a row of the ``inline_blobs`` table in the database, written in the
  same transaction as the entry that references it. Creating, writing and renaming a file costs
  far more than a small SQLite insert, and a row commits atomically with its entry, so nothing
  can be torn or orphaned by a crash in between;
- larger: a *blob file* at ``blobs/ab/abcd...``: 256 fan-out directories, so a million blobs
  make about 4,000 entries per directory (cheap for any modern filesystem's hashed directories),
  while a second level would cost a directory per blob or two until the store is large.

A file entry points at its bytes through a *segment list*: (inline?, digest, offset, length), so
copying a file copies the list and composing files concatenates lists; no byte moves, and a
composed file may mix inline and file segments.

How bytes reach a blob file, and why in this order:

1. ``stage`` consumes the upload while computing MD5 (the ETag), SHA-256 (the address) and the
   size. Uploads up to ``SPILL_SIZE`` are kept in memory, so an inline content never touches the
   disk and a duplicate of an existing blob file is never written again; beyond that the bytes go
   to a temporary file under ``tmp/``. A failure here removes the temporary file.
2. ``install`` renames the temporary file to its address. The caller does this while holding the
   store's write lock and commits the entry that references the blob in that same transaction, so
   ``gc`` (which takes the same lock) never sees a blob that is in place but not yet referenced
   by a writer that is about to commit. A crash between rename and commit leaves an unreferenced
   blob that ``gc`` reclaims.

A writer holds an exclusive ``flock`` on its temporary file for as long as it lives; the kernel
drops the lock when the process dies, so the sweeper can tell a dead writer's leftover from a
live upload without guessing from timestamps (and across PID namespaces).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import struct
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast

from ..base import DigestedChunks, Truncated, known_digests
from .database import fsync_path
from .schema import BLOB_DIR, TMP_DIR

DIGEST_SIZE = 32  # SHA-256
DEFAULT_CHUNK_SIZE = 1 << 20
# Contents up to this size live in the database (see docs/store.md, "Small files", for the
# measurements behind the figure).
INLINE_MAX = 32 << 10
# Uploads up to this size are received in memory before anything is written (never less than
# INLINE_MAX: an inline content must never have been spilled to a file).
SPILL_SIZE = max(256 << 10, INLINE_MAX)
# A temporary file younger than this is never swept: its writer may not have locked it yet.
TEMP_MIN_AGE = 2.0


class Segment(NamedTuple):
    inline: bool
    """Whether the bytes are in ``inline_blobs`` (else in a blob file)."""
    digest: bytes
    offset: int
    length: int


_SEGMENT = struct.Struct(">?32sQQ")
_WHOLE = 1 + DIGEST_SIZE  # never a multiple of _SEGMENT.size, so the two forms cannot be confused


def encode_whole(inline: bool, digest: bytes) -> bytes:
    """The segment list of a file that is exactly one whole content: a flag byte and its digest
    (what nearly every entry holds, so it is kept short)."""
    return (b"\x01" if inline else b"\x00") + digest


def encode_segments(segments: Sequence[Segment]) -> bytes | None:
    """Pack a segment list (composed files use this form; see ``encode_whole``)."""
    if not segments:
        return None
    return b"".join(_SEGMENT.pack(*seg) for seg in segments)


def decode_segments(encoded: bytes | None, size: int) -> list[Segment]:
    if encoded is None:
        return []
    if len(encoded) == _WHOLE:
        return [Segment(encoded[0] == 1, encoded[1:], 0, size)]
    return [Segment(*fields) for fields in _SEGMENT.iter_unpack(encoded)]


def segment_digests(encoded: bytes) -> Iterator[tuple[bool, bytes]]:
    """(inline, digest) of every segment of an encoded list."""
    if len(encoded) == _WHOLE:
        yield encoded[0] == 1, encoded[1:]
    else:
        for inline, digest, _offset, _length in _SEGMENT.iter_unpack(encoded):
            yield inline, digest


class _TempFile:
    """A temporary file in ``tmp/``, exclusively flocked while this writer holds it open."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex}.part")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self.installed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.file.write(data)

    def seal(self, *, durable: bool) -> None:
        self.file.flush()
        if durable:
            os.fsync(self.file.fileno())

    def release(self) -> None:
        """Close (dropping the lock); remove the file unless it was renamed into place."""
        self.file.close()
        if not self.installed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


@dataclass(slots=True)
class Staged:
    """An upload that has been fully received but is not yet part of the store."""

    size: int
    md5: bytes
    digest: bytes | None
    """SHA-256 of the content; None for an empty upload, which needs no blob."""
    data: bytes | None = None
    """The content, when small enough to have been kept in memory."""
    temp: _TempFile | None = None
    inline: bool = False
    """Whether the content belongs in ``inline_blobs`` (then ``data`` holds it), not in a file."""


class BlobStore:
    def __init__(self, root: Path, *, durable: bool, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        # Plain strings, not Paths: a small upload costs a few syscalls, and pathlib's
        # bookkeeping would otherwise cost as much again.
        self._blobs = os.path.join(root, BLOB_DIR)
        self._tmp = os.path.join(root, TMP_DIR)
        self._durable = durable
        self.chunk_size = chunk_size
        self._known_dirs: set[str] = set()

    def path(self, digest: bytes) -> str:
        name = digest.hex()
        return f"{self._blobs}/{name[:2]}/{name}"

    # ----------------------------------------------------------------------------------------
    # Writing

    def stage(
        self,
        chunks: Iterable[bytes],
        *,
        prewrite: bool = True,
        before_spill: Callable[[], object] | None = None,
    ) -> Staged:
        """Receive an upload. If iterating ``chunks`` raises, nothing remains and it propagates.

        With ``prewrite``, an upload bound for a blob file that does not exist yet is written
        to a temporary file now, so that ``install`` (under the write lock) only renames. An
        inline upload stays in memory: the caller inserts it with its entry. ``before_spill``
        runs once when the upload outgrows memory, before the first byte goes to disk: the
        place to refuse a write that cannot succeed before receiving the rest of a large body.

        MD5 (the ETag) and SHA-256 (the address) are taken from ``chunks`` when it already
        hashed itself (``DigestedChunks``: the gateway verifies every request body with them),
        so that a gigabyte is not hashed twice.
        """
        known = known_digests(chunks)
        md5 = None if "md5" in known else hashlib.md5(usedforsecurity=False)
        sha = None if "sha256" in known else hashlib.sha256()
        updates = tuple(hasher.update for hasher in (md5, sha) if hasher is not None)
        size = 0
        buffer = bytearray()
        temp: _TempFile | None = None
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                for update in updates:
                    update(chunk)
                size += len(chunk)
                if temp is not None:
                    temp.write(chunk)
                    continue
                buffer += chunk
                if len(buffer) > SPILL_SIZE:
                    if before_spill is not None:
                        before_spill()
                    temp = _TempFile(self._tmp)
                    temp.write(buffer)
                    buffer = bytearray()
            if temp is not None:
                temp.seal(durable=self._durable)
        except BaseException:
            if temp is not None:
                temp.release()
            raise
        md5_digest = md5.digest() if md5 is not None else _reported(chunks, "md5")
        sha_digest = sha.digest() if sha is not None else _reported(chunks, "sha256")
        staged = Staged(size=size, md5=md5_digest, digest=sha_digest if size else None)
        if temp is not None:
            staged.temp = temp
        elif size:
            staged.data = bytes(buffer)
            staged.inline = size <= INLINE_MAX
            if prewrite and not staged.inline and not self._present(staged):
                staged.temp = self._write_temp(staged.data)
        return staged

    def install(self, staged: Staged) -> None:
        """Put a staged blob file at its address. Call while holding the store's write lock.

        Inline contents are not this method's business: the caller inserts them
        (``schema.INSERT_INLINE``) in the transaction that inserts their entry.
        """
        if staged.digest is None or staged.inline or self._present(staged):
            return  # nothing to store, or a duplicate: release() drops our copy
        target = self.path(staged.digest)
        self._ensure_dir(os.path.dirname(target))
        if staged.temp is None:
            # It existed when staged, but gc has removed it since; we still hold the bytes.
            assert staged.data is not None
            staged.temp = self._write_temp(staged.data)
        os.replace(staged.temp.path, target)
        staged.temp.installed = True
        if self._durable:
            fsync_path(os.path.dirname(target))

    @staticmethod
    def release(staged: Staged) -> None:
        if staged.temp is not None:
            staged.temp.release()
            staged.temp = None

    def _present(self, staged: Staged) -> bool:
        """Whether the blob exists whole. A short one (a power cut in process-crash mode) is
        replaced by the fresh copy instead of being trusted."""
        assert staged.digest is not None
        try:
            return os.stat(self.path(staged.digest)).st_size == staged.size
        except FileNotFoundError:
            return False

    def _write_temp(self, data: bytes) -> _TempFile:
        temp = _TempFile(self._tmp)
        try:
            temp.write(data)
            temp.seal(durable=self._durable)
        except BaseException:
            temp.release()
            raise
        return temp

    def _ensure_dir(self, directory: str) -> None:
        if directory in self._known_dirs:
            return
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
            if self._durable:
                # The new directory entry must survive too, or the blob is unreachable.
                fsync_path(os.path.dirname(directory))
        self._known_dirs.add(directory)

    # ----------------------------------------------------------------------------------------
    # Reading

    def read(
        self,
        segments: Sequence[Segment],
        offset: int,
        length: int,
        inline: Callable[[bytes], bytes | None],
    ) -> Generator[bytes, None, None]:
        """Yield ``length`` bytes of the concatenated segments from ``offset``, in chunks.

        Contents are fetched one at a time as the reader gets to them: blob files are opened,
        inline contents are asked of ``inline`` (digest -> bytes, None if absent). A missing or
        short content raises Truncated where the bytes run out.
        """
        for segment in segments:
            if length <= 0:
                return
            if offset >= segment.length:
                offset -= segment.length
                continue
            count = min(segment.length - offset, length)
            start = segment.offset + offset
            if segment.inline:
                yield from self._inline_range(inline(segment.digest), segment.digest, start, count)
            else:
                yield from self._read_range(segment.digest, start, count)
            length -= count
            offset = 0

    def _inline_range(
        self, data: bytes | None, digest: bytes, start: int, count: int
    ) -> Iterator[bytes]:
        if data is None:
            raise Truncated(f"inline content {digest.hex()} is missing")
        if start == 0 and count == len(data) <= self.chunk_size:
            yield data  # the common case, a whole small file: no copy
            return
        view = memoryview(data)[start : start + count]
        for at in range(0, len(view), self.chunk_size):
            yield bytes(view[at : at + self.chunk_size])
        if len(view) < count:
            raise Truncated(f"inline content {digest.hex()} ends {count - len(view)} bytes early")

    def _read_range(self, digest: bytes, start: int, count: int) -> Iterator[bytes]:
        path = self.path(digest)
        try:
            blob = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise Truncated(f"blob {digest.hex()} is missing") from None
        with blob:
            blob.seek(start)
            while count > 0:
                chunk = blob.read(min(count, self.chunk_size))
                if not chunk:
                    raise Truncated(f"blob {digest.hex()} ends {count} bytes early")
                count -= len(chunk)
                yield chunk

    # ----------------------------------------------------------------------------------------
    # Reclaiming space

    def sweep_temp(self, min_age: float = TEMP_MIN_AGE) -> int:
        """Remove temporary files whose writer is gone (its flock is free); return how many."""
        removed = 0
        now = time.time()
        for entry in os.scandir(self._tmp):
            try:
                if now - entry.stat().st_mtime < min_age:
                    continue
                fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # renamed into place or removed meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            finally:
                os.close(fd)
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def all_blobs(self) -> Iterator[tuple[bytes, str]]:
        """Every blob file on disk, as (digest, path)."""
        for fan in _subdirs(self._blobs):
            for entry in os.scandir(fan):
                try:
                    digest = bytes.fromhex(entry.name)
                except ValueError:
                    continue
                if len(digest) == DIGEST_SIZE:
                    yield digest, entry.path


def _subdirs(path: str) -> list[str]:
    return sorted(e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False))


def _reported(chunks: Iterable[bytes], algorithm: str) -> bytes:
    """A digest ``chunks`` computed itself (``known_digests`` said it would)."""
    return cast(DigestedChunks, chunks).payload_digest(algorithm)
