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

The errors (``errors.py``), the values exchanged (``values.py``) and the read handle
(``reading.py``) have modules of their own; this module re-exports them, as every backend
and the executor import them from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

# Re-exported (explicitly, for mypy): backends and the executor import the whole contract from
# here. Backends name commits with CommitRef, stream with ByteStream, and judge the
# expectations of conditional changes with check_expectation.
from pachs3.backends.errors import AlreadyExists as AlreadyExists
from pachs3.backends.errors import BackendError as BackendError
from pachs3.backends.errors import ConditionFailed as ConditionFailed
from pachs3.backends.errors import Conflict as Conflict
from pachs3.backends.errors import NotFound as NotFound
from pachs3.backends.errors import NotFoundKind as NotFoundKind
from pachs3.backends.errors import NotSupported as NotSupported
from pachs3.backends.errors import PermissionDenied as PermissionDenied
from pachs3.backends.errors import Truncated as Truncated
from pachs3.backends.errors import Unavailable as Unavailable
from pachs3.backends.errors import check_expectation as check_expectation
from pachs3.backends.reading import FileOpener as FileOpener
from pachs3.backends.reading import InspectedFile as InspectedFile
from pachs3.backends.reading import Opener as Opener
from pachs3.backends.reading import OpenFile as OpenFile
from pachs3.backends.reading import ReadSpan as ReadSpan
from pachs3.backends.reading import file_opener as file_opener
from pachs3.backends.values import BranchInfo as BranchInfo
from pachs3.backends.values import CommitInfo as CommitInfo
from pachs3.backends.values import RepoInfo as RepoInfo
from pachs3.core.expectations import Absent as Absent
from pachs3.core.expectations import Expectation as Expectation
from pachs3.core.expectations import Matching as Matching
from pachs3.core.http import ByteStream as ByteStream
from pachs3.core.refs import DEFAULT_PROJECT as DEFAULT_PROJECT
from pachs3.core.refs import CommitRef as CommitRef
from pachs3.core.refs import FileInfo as FileInfo

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


@runtime_checkable
class KeyPolicy(Protocol):
    """An optional capability: the keys a backend cannot store, known from the key alone.

    The executor asks before a write reads any byte of its body, and before a multipart upload
    starts, so that a client learns at once (S3 ``InvalidArgument`` with the reason) rather
    than after sending the object.
    """

    def key_problem(self, path: str) -> str | None:
        """Why ``path`` cannot be stored, or None when it can."""
        ...


KeyCheck = Callable[[str], None]
"""Raises NotSupported, with the reason, for a key the backend cannot store."""


def key_check(backend: object) -> KeyCheck:
    """How keys are checked before a write: by ``backend``'s ``KeyPolicy`` if it has one
    (decided here, once, when the gateway is built, not probed per write), else not at all."""
    if not isinstance(backend, KeyPolicy):
        return _any_key
    key_problem = backend.key_problem

    def refuse_unstorable(path: str) -> None:
        problem = key_problem(path)
        if problem is not None:
            raise NotSupported(problem)

    return refuse_unstorable


def _any_key(path: str) -> None:
    """A backend without a ``KeyPolicy`` stores every key."""


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
