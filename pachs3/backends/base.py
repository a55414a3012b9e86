"""What a PFS backend can do, in PFS words, and how it fails.

The gateway speaks S3 at the top and PFS at the bottom. This module is the bottom: small
capabilities (``typing.Protocol``) that a store implements without importing anything from
pachs3, plus the value types they exchange and one error family.

Vocabulary (Pachyderm's, not S3's):

- a *repo* holds *branches*; a branch names a *commit* (its head) or nothing yet;
- a *commit* is open while it is written, then *finished* (immutable from then on), optionally
  with an *error* recorded; its *provenance* is the set of commits it was derived from;
- a commit holds *files* addressed by *path*. Paths here are S3 keys verbatim (no leading ``/``,
  any Unicode, trailing ``/`` allowed); a backend that cannot store a path raises ``NotSupported``.
  Paths sort by their UTF-8 bytes (which is code point order, so plain ``str`` comparison agrees).

Shaped after python-pachyderm's PFS API so that a cluster can implement it unchanged:
``create_repo``/``inspect_repo``/``list_repo``; ``create_branch``/``inspect_branch``;
``start_commit(parent, provenance)``/``finish_commit(error)``/``inspect_commit``; ``modify_file``
(put, delete, copy with append); ``get_file(offset)``; ``walk_file``/``list_file`` with a
pagination marker; ``inspect_file``.

Error family (the executor maps each to one S3 error in a table)::

    BackendError
    ├── NotFound          what was asked for does not exist (``.what`` says which kind)
    ├── AlreadyExists     create of something that exists (also ``expect=Absent()``)
    ├── ConditionFailed   a conditional change found another version than it expected
    ├── Conflict          the operation contradicts the state (e.g. write to a finished commit)
    ├── NotSupported      the backend cannot do this (e.g. a path it cannot represent)
    ├── PermissionDenied  the backend refuses the caller
    ├── Unavailable       the backend cannot be reached now; retrying may help
    └── Truncated         a read ended before the length the backend promised
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, cast, runtime_checkable

# Re-exported (explicitly, for mypy): backends name commits with them, stream with ByteStream,
# and judge the expectations of conditional changes with them.
from pachs3.core.expectations import Absent as Absent
from pachs3.core.expectations import Expectation as Expectation
from pachs3.core.expectations import Matching as Matching
from pachs3.core.expectations import judge
from pachs3.core.http import ByteStream as ByteStream
from pachs3.core.refs import DEFAULT_PROJECT as DEFAULT_PROJECT
from pachs3.core.refs import CommitRef as CommitRef
from pachs3.core.refs import FileInfo as FileInfo

NotFoundKind = Literal["repo", "branch", "commit", "file", "upload"]


# --------------------------------------------------------------------------------------------
# Errors


class BackendError(Exception):
    """Base of every error a backend raises on purpose."""


class NotFound(BackendError):
    def __init__(self, what: NotFoundKind, name: str) -> None:
        super().__init__(f"{what} not found: {name}")
        self.what: NotFoundKind = what
        self.name = name


class AlreadyExists(BackendError):
    pass


class ConditionFailed(BackendError):
    pass


class Conflict(BackendError):
    pass


class NotSupported(BackendError):
    pass


class PermissionDenied(BackendError):
    pass


class Unavailable(BackendError):
    pass


class Truncated(BackendError):
    pass


def check_expectation(expect: Expectation | None, path: str, current: FileInfo | None) -> None:
    """Raise the error a conditional change meets when ``current`` (the file at ``path`` now,
    or None) is not what ``expect`` wants. A backend calls it inside the transaction or lock
    that makes the change, so that nothing can change the file in between."""
    verdict = judge(expect, current)
    if verdict == "exists":
        raise AlreadyExists(f"file already exists: {path}")
    if verdict == "missing":
        raise NotFound("file", path)
    if verdict == "differs":
        raise ConditionFailed(f"file is not the version expected: {path}")


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoInfo:
    name: str
    created: datetime
    description: str = ""
    project: str = DEFAULT_PROJECT


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchInfo:
    repo: str
    name: str
    head: str | None
    """The id of the branch's newest commit, or None when the branch has none yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitInfo:
    repo: str
    id: str
    branch: str | None
    parent: str | None
    started: datetime
    finished: datetime | None
    provenance: tuple[CommitRef, ...] = ()
    description: str = ""
    error: str | None = None
    project: str = DEFAULT_PROJECT

    @property
    def ref(self) -> CommitRef:
        return CommitRef(repo=self.repo, id=self.id, project=self.project)

    @property
    def is_open(self) -> bool:
        return self.finished is None


# --------------------------------------------------------------------------------------------
# Capabilities


@runtime_checkable
class RepoAdmin(Protocol):
    """Repos and branches."""

    def create_repo(self, repo: str, *, description: str = "", exist_ok: bool = False) -> RepoInfo:
        """Create ``repo``; AlreadyExists unless ``exist_ok``."""
        ...

    def inspect_repo(self, repo: str) -> RepoInfo: ...

    def list_repos(self) -> list[RepoInfo]: ...

    def delete_repo(self, repo: str) -> None:
        """Delete a repo with all its branches, commits and files."""
        ...

    def create_branch(self, repo: str, branch: str, *, head: str | None = None) -> BranchInfo:
        """Create or move ``branch`` to the commit ``head`` (None: an empty branch)."""
        ...

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo: ...

    def list_branches(self, repo: str) -> list[BranchInfo]: ...


@runtime_checkable
class CommitOwnership(Protocol):
    """An optional capability: a process says it will finish an open commit.

    A backend that offers it remembers who claimed each open commit, and finishes, with an
    error saying so, the commits of a claimant that died (SIGKILL, a power cut) instead of
    leaving them open forever. ``claim_commit`` below calls it when the backend has it.
    """

    def claim_commit(self, repo: str, commit: str) -> None: ...


@runtime_checkable
class BranchRemover(Protocol):
    """An optional capability (the global gateway's DeleteBucket needs it): delete a branch.

    The branch name goes; its commits stay in the repo, readable by id. NotFound('branch') if
    there is no such branch.
    """

    def delete_branch(self, repo: str, branch: str) -> None: ...


@runtime_checkable
class CommitAdmin(Protocol):
    """Starting, finishing and inspecting commits."""

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
        """Open a new commit.

        With a ``branch``, the commit's parent is the branch head (or ``parent`` when given) and
        the branch moves to the new commit when it is *finished*, not before: readers of the
        branch keep seeing the previous head meanwhile. With ``branch=None`` the commit is
        detached (used for staging multipart parts). The new commit starts with its parent's
        files, or with none when ``empty`` (an S3 ``out`` bucket starts empty). Costs O(1)
        whatever the parent holds. The repo must exist (NotFound otherwise).
        """
        ...

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        """Make an open commit immutable; with ``error``, record that the job that wrote it failed.

        A commit finished with an error does not move its branch. Conflict if already finished.
        """
        ...

    def discard_commit(self, repo: str, commit: str) -> None:
        """Delete an open commit and everything written in it, as if it never was."""
        ...

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        """``commit`` is a commit id, or a branch name meaning that branch's head."""
        ...

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        """Newest first; with ``branch``, only commits started on it."""
        ...


@runtime_checkable
class FileReader(Protocol):
    def inspect_file(self, ref: CommitRef, path: str) -> FileInfo:
        """NotFound('file') when ``path`` is not a file of the commit (a directory is not)."""
        ...

    def read_file(
        self,
        ref: CommitRef,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        etag: str | None = None,
    ) -> ByteStream:
        """Stream ``length`` bytes (None: to the end) from ``offset``, in chunks.

        NotFound before the first chunk if the file is missing. If the bytes run out before the
        promised length the stream raises Truncated instead of ending short. With ``etag``,
        Conflict (before the first chunk) unless the version the stream reads has that etag:
        a reader that inspected a file reads that version, not one written in between.
        """
        ...


@runtime_checkable
class FileLister(Protocol):
    def walk_files(
        self, ref: CommitRef, *, prefix: str = "", start_after: str = ""
    ) -> Iterator[FileInfo]:
        """Every file whose path starts with ``prefix`` and sorts after ``start_after``.

        Ascending UTF-8 byte order, lazily; each call is a fresh seek in an index (callers skip a
        whole common prefix by starting a new walk after it), so the cost of reaching a position
        does not grow with how many paths precede it. Close the iterator to stop early.
        """
        ...


ReadSpan = tuple[int, int | None]
"""``(offset, length)`` of a read; length None: to the end of the file."""


class OpenFile(Protocol):
    """A file opened for reading: what it is (``info``) and reads of that very version.

    The caller closes it (``contextlib.closing``); a stream ``read`` returned stays valid after
    that and is closed on its own.
    """

    @property
    def info(self) -> FileInfo: ...

    def read(self, offset: int = 0, length: int | None = None) -> ByteStream:
        """Stream ``length`` bytes (None: to the end) from ``offset`` of the version ``info``
        describes, as ``read_file`` streams (clipped to the file; Truncated rather than short).
        Conflict if that version can no longer be read (it was overwritten since)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class FileOpener(Protocol):
    """An optional reader capability: open a file, so that its info and its bytes come from one
    snapshot (one lookup, and no retry when the file is overwritten meanwhile).

    Backends without it are opened by ``InspectedFile``; ``file_opener`` decides which, once.
    """

    def open_file(self, ref: CommitRef, path: str) -> OpenFile:
        """NotFound('file') as ``inspect_file``."""
        ...


class InspectedFile:
    """``OpenFile`` over ``FileReader`` alone: inspect now, and read naming the etag inspected,
    so that a file overwritten in between is a Conflict, never another version's bytes."""

    __slots__ = ("_path", "_reader", "_ref", "info")

    def __init__(self, reader: FileReader, ref: CommitRef, path: str) -> None:
        self._reader = reader
        self._ref = ref
        self._path = path
        self.info = reader.inspect_file(ref, path)

    def read(self, offset: int = 0, length: int | None = None) -> ByteStream:
        return self._reader.read_file(
            self._ref, self._path, offset=offset, length=length, etag=self.info.etag
        )

    def close(self) -> None:
        """Nothing is held between the inspection and a read."""


Opener = Callable[[CommitRef, str], OpenFile]


def file_opener(backend: FileReader) -> Opener:
    """How files of ``backend`` are opened: its own ``open_file`` if it has one (decided here,
    once, not per request), else ``InspectedFile``."""
    if isinstance(backend, FileOpener):
        return backend.open_file
    return functools.partial(InspectedFile, backend)


class KeyPolicy(Protocol):
    """An optional capability: the keys a backend cannot store, known from the key alone.

    The executor asks before a write reads any byte of its body, and before a multipart upload
    starts, so that a client learns at once (S3 ``InvalidArgument`` with the reason) rather
    than after sending the object.
    """

    def key_problem(self, path: str) -> str | None:
        """Why ``path`` cannot be stored, or None when it can."""
        ...


def refuse_unstorable(backend: object, path: str) -> None:
    """NotSupported, with the reason, when ``backend`` (a ``KeyPolicy``) cannot store ``path``."""
    if hasattr(backend, "key_problem"):
        problem = cast(KeyPolicy, backend).key_problem(path)
        if problem is not None:
            raise NotSupported(problem)


class DigestedChunks(Protocol):
    """Chunks that hash themselves on their way to a writer (the gateway's checked payloads
    do): a writer may take these digests instead of hashing the same bytes again.

    ``digested_algorithms`` is known before the iteration (``"md5"`` and hashlib names such as
    ``"sha256"``); ``payload_digest(name)`` is the raw digest over exactly the bytes yielded, and
    may only be asked once the iteration has ended without an exception.
    """

    @property
    def digested_algorithms(self) -> tuple[str, ...]: ...

    def payload_digest(self, algorithm: str) -> bytes: ...


def known_digests(chunks: Iterable[bytes]) -> tuple[str, ...]:
    """The algorithms ``chunks`` will report digests for (none for a plain iterable)."""
    return tuple(getattr(chunks, "digested_algorithms", ()))


@runtime_checkable
class FileWriter(Protocol):
    """Changes inside an open commit. Each call is atomic: it becomes visible whole or not at all.

    Writing to a finished commit is a Conflict. Readers of the commit itself (read-your-writes)
    see a change as soon as the call returns; readers of the branch see it once the commit is
    finished.
    """

    def put_file(
        self,
        ref: CommitRef,
        path: str,
        chunks: Iterable[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        """Store the bytes of ``chunks`` at ``path``, replacing any file there.

        The chunks are consumed one at a time (memory stays flat). If iterating them raises, the
        exception propagates and nothing is stored. ``expect`` is judged against the file at
        ``path`` when the write becomes visible, atomically with it (``check_expectation``:
        AlreadyExists, NotFound or ConditionFailed, and nothing is stored); a backend may also
        judge it before consuming the chunks, to refuse early.
        """
        ...

    def delete_file(self, ref: CommitRef, path: str, *, expect: Expectation | None = None) -> bool:
        """Remove ``path`` (a file, not a directory tree); False if there was no such file.

        ``expect`` (a conditional delete) is judged against the file atomically with the
        removal, as ``put_file`` judges it; nothing is removed when it fails.
        """
        ...

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
        """Copy a file (any repo, any commit) into the open commit ``dst``. No byte is copied.

        ``expect`` is judged against the file at ``dst_path`` as ``put_file`` judges it.

        ``metadata`` None keeps the source's metadata; a mapping replaces it.
        """
        ...

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
        """Concatenate ``sources`` in order into one new file (multipart completion).

        A metadata operation (no byte is copied); ``etag`` is recorded as the new file's etag.
        ``expect`` is judged as ``put_file`` judges it.
        """
        ...


class Backend(RepoAdmin, CommitAdmin, FileReader, FileLister, FileWriter, Protocol):
    """Everything the gateway uses. A store implements this without inheriting from it."""

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Helpers every backend can use


def claim_commit(backend: object, info: CommitInfo) -> None:
    """Claim the open commit ``info`` for this process, if ``backend`` keeps owners."""
    if isinstance(backend, CommitOwnership):
        backend.claim_commit(info.repo, info.id)


@contextlib.contextmanager
def commit(
    backend: CommitAdmin,
    repo: str,
    branch: str | None,
    *,
    provenance: Sequence[CommitRef] = (),
    description: str = "",
    empty: bool = False,
) -> Iterator[CommitInfo]:
    """Open a commit for the duration of a ``with`` block.

    A clean exit finishes it; an exception discards it (nothing of it remains) and propagates.
    """
    info = backend.start_commit(
        repo, branch, provenance=provenance, description=description, empty=empty
    )
    try:
        yield info
    except BaseException:
        backend.discard_commit(repo, info.id)
        raise
    backend.finish_commit(repo, info.id)
