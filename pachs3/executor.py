"""execute: carry a plan out against a backend, and answer it.

``execute`` pairs each plan type with its handler and its responder in one ``match``: mypy
checks that the handler takes that plan and returns the outcome the responder renders, and
``assert_never`` names a plan type that has no pair yet. Each handler is short: fetch what it
needs from the backend, decide with pure core functions, act. Multipart uploads have their
handlers in ``pachs3/multipart.py``. Backend errors are translated to S3 errors in one table
(``backend_errors.py``), except where an operation gives one a more precise meaning (a missing
staging commit is NoSuchUpload).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import TypeVar, assert_never

from pachs3 import branches, listings, multipart, versions
from pachs3.backend_errors import s3_error_for
from pachs3.backends.base import (
    Backend,
    BackendError,
    Conflict,
    KeyCheck,
    NotFound,
    Opener,
    file_opener,
    key_check,
)
from pachs3.batching import BatchedCommits
from pachs3.core import errors, respond
from pachs3.core.body import IncomingBody
from pachs3.core.conditions import check_source_conditions, decide_read
from pachs3.core.http import S3Response
from pachs3.core.outcomes import (
    Answered,
    DeleteFailure,
    FileCopied,
    FileDeleted,
    FileRead,
    FilesDeleted,
    FileWritten,
    Outcome,
)
from pachs3.core.plans import (
    AbortUpload,
    Answer,
    CommitOnBranch,
    ComposeParts,
    CopyFile,
    CopyPart,
    CreateBranch,
    DeleteBranch,
    DeleteFile,
    DeleteFiles,
    ListFiles,
    ListParts,
    ListUploads,
    ListVersions,
    Plan,
    ReadFile,
    SetVersioning,
    StartUpload,
    WriteFile,
    WritePart,
)
from pachs3.core.refs import CommitRef
from pachs3.core.xml.request_bodies import parse_delete_objects

Body = IncomingBody

MIN_PART_SIZE = 5 * 1024 * 1024
"""Every part but the last must be at least 5 MiB (AWS; EntityTooSmall otherwise)."""


@dataclass(frozen=True, slots=True)
class Store:
    """A backend and its optional capabilities, decided once per gateway: how its files are
    opened, how keys are checked before a write, and the uploads it completed."""

    backend: Backend
    open_file: Opener
    check_key: KeyCheck
    uploads: multipart.Uploads
    branch_locks: branches.BranchLocks = field(default_factory=branches.BranchLocks)
    """Global gateway: writers of one branch take turns (one lock per branch)."""
    batches: BatchedCommits | None = None
    """Global gateway with a batching window: writes share a commit per branch and window."""

    @classmethod
    def of(cls, backend: Backend) -> Store:
        check_key = key_check(backend)
        return cls(
            backend=backend,
            open_file=file_opener(backend),
            check_key=check_key,
            uploads=multipart.Uploads(backend, multipart.CompletedUploads(), check_key),
        )


def execute(plan: Plan, store: Store, body: Body) -> tuple[Outcome, S3Response]:
    """Carry ``plan`` out and render the answer: (what happened, the response)."""
    backend = store.backend
    try:
        match plan:
            case Answer():
                return _run(plan, backend, body, _answer, respond.answered)
            case ReadFile():
                return _run(plan, store, body, _read_file, respond.file_read)
            case ListFiles():
                return _run(plan, backend, body, listings.list_files, respond.listed)
            case ListVersions():
                return _run(plan, backend, body, versions.list_versions, respond.versions_listed)
            case SetVersioning():
                return _run(plan, backend, body, versions.set_versioning, respond.versioning_set)
            case WriteFile():
                return _run(plan, store, body, _write_file, respond.file_written)
            case CopyFile():
                pinned = versions.pin_source(plan, backend)
                return _run(pinned, store, body, _copy_file, respond.file_copied)
            case DeleteFile():
                return _run(plan, backend, body, _delete_file, respond.file_deleted)
            case DeleteFiles():
                return _run(plan, backend, body, _delete_files, respond.files_deleted)
            case StartUpload():
                return _run(
                    plan, store.uploads, body, multipart.start_upload, respond.upload_started
                )
            case WritePart():
                return _run(plan, backend, body, multipart.write_part, respond.part_written)
            case CopyPart():
                pinned_part = versions.pin_source(plan, backend)
                return _run(pinned_part, backend, body, multipart.copy_part, respond.part_copied)
            case ComposeParts():
                return _run(
                    plan, store.uploads, body, multipart.compose_parts, respond.parts_composed
                )
            case AbortUpload():
                return _run(plan, backend, body, multipart.abort_upload, respond.upload_aborted)
            case ListParts():
                return _run(plan, backend, body, multipart.list_parts, respond.parts_listed)
            case ListUploads():
                return _run(plan, backend, body, multipart.list_uploads, respond.uploads_listed)
            case CreateBranch():
                return _run(plan, backend, body, branches.create_branch, respond.branch_created)
            case DeleteBranch():
                return _run(plan, backend, body, branches.delete_branch, respond.branch_deleted)
            case CommitOnBranch() if store.batches is not None:
                return store.batches.run(plan, lambda write: execute(write, store, body))
            case CommitOnBranch():
                return branches.commit_on_branch(
                    plan, backend, store.branch_locks, lambda write: execute(write, store, body)
                )
            case _:
                assert_never(plan)
    except BackendError as exc:
        raise s3_error_for(exc) from exc


PlanT = TypeVar("PlanT")
OutcomeT = TypeVar("OutcomeT", bound=Outcome)
TargetT = TypeVar("TargetT")
"""What a handler acts on: the backend, the store, the uploads, or how files are opened."""


def _run(
    plan: PlanT,
    target: TargetT,
    body: Body,
    handler: Callable[[PlanT, TargetT, Body], OutcomeT],
    responder: Callable[[PlanT, OutcomeT], S3Response],
) -> tuple[OutcomeT, S3Response]:
    """One pair: mypy infers ``PlanT`` and ``OutcomeT`` from both and refuses a mismatch."""
    outcome = handler(plan, target, body)
    return outcome, responder(plan, outcome)


# ---------------------------------------------------------------------------------------------
# Reading


def _answer(answer: Answer, backend: Backend, body: Body) -> Answered:
    required = answer.file_must_exist
    if required is not None:
        ref, path = required
        if answer.file_version is None:
            backend.inspect_file(ref, path)  # NotFound -> NoSuchKey
        else:
            versions.holding(backend, answer.file_version, path, resource=f"/{path}")
    return Answered()


READ_ATTEMPTS = 3
"""How often a GET opens again an object that was overwritten between inspect and read."""


def _read_file(read: ReadFile, store: Store, body: Body) -> FileRead:
    """Headers and bytes of one version of the file.

    A backend's own ``open_file`` reads the version it opened; the fallback (``InspectedFile``)
    reads naming the etag it inspected, and a concurrent overwrite in ``out`` (Conflict) makes
    the GET start over. With ``versionId`` the file is read as of that commit.
    """
    if read.version is None:
        return _read_version(read, store.open_file, read.ref)
    resource = f"/{read.bucket}/{read.path}"
    ref = versions.resolve(store.backend, read.version, resource=resource)
    try:
        return _read_version(read, store.open_file, ref)
    except NotFound as exc:
        if exc.what != "file":
            raise
        raise errors.NoSuchVersion(resource=resource) from exc


def _read_version(read: ReadFile, open_file: Opener, ref: CommitRef) -> FileRead:
    for _attempt in range(READ_ATTEMPTS):
        with closing(open_file(ref, read.path)) as opened:
            info = opened.info
            decision = decide_read(read, info)
            if decision.span is None:
                return decision.outcome(info, None)
            try:
                stream = opened.read(*decision.span)
            except Conflict:
                continue
            return decision.outcome(info, stream)
    raise errors.SlowDown("The object is being overwritten faster than it can be read.")


# ---------------------------------------------------------------------------------------------
# Writing


def _write_file(write: WriteFile, store: Store, body: Body) -> FileWritten:
    store.check_key(write.path)  # before any byte of the body is read
    backend = store.backend
    payload = body.payload(write.body)
    metadata = {**write.metadata, **payload.announced_checksum_headers()}
    info = backend.put_file(write.ref, write.path, payload, metadata=metadata, expect=write.expect)
    return FileWritten(info=info, checksums=payload.checksums_for_response())


def _copy_file(copy: CopyFile, store: Store, body: Body) -> FileCopied:
    store.check_key(copy.dst_path)
    backend = store.backend
    source = backend.inspect_file(copy.src, copy.src_path)
    check_source_conditions(copy.source_conditions, source)
    info = backend.copy_file(
        copy.src,
        copy.src_path,
        copy.dst,
        copy.dst_path,
        metadata=copy.metadata,
        expect=copy.expect,
    )
    return FileCopied(info=info)


def _delete_file(delete: DeleteFile, backend: Backend, body: Body) -> FileDeleted:
    if delete.version is not None:
        versions.check_deletable(backend, delete.ref, delete.path, delete.version)
    existed = backend.delete_file(delete.ref, delete.path, expect=delete.expect)
    return FileDeleted(existed=existed)


def _delete_files(delete: DeleteFiles, backend: Backend, body: Body) -> FilesDeleted:
    request = parse_delete_objects(body.document(delete.body))
    deleted: list[str] = []
    failed: list[DeleteFailure] = []
    for position, (key, version) in enumerate(request.objects):
        try:
            if version is not None:  # only the current one (as DeleteObject with versionId)
                versions.check_deletable(backend, delete.ref, key, version)
            backend.delete_file(delete.ref, key, expect=request.conditions.get(position))
        except errors.S3Error as refused:
            failed.append(DeleteFailure(key=key, code=refused.code, message=refused.detail))
        except BackendError as exc:
            error = s3_error_for(exc)
            failed.append(DeleteFailure(key=key, code=error.code, message=error.detail))
        else:
            # A key that did not exist is reported as deleted, as AWS does: S3A deletes
            # directory markers that may not exist (clients.md §5.16). A failed condition is
            # an <Error> entry (PreconditionFailed; NoSuchKey for an ETag and no object), as
            # AWS's conditional deletes answer.
            deleted.append(key)
    return FilesDeleted(deleted=tuple(deleted), failed=tuple(failed), quiet=request.quiet)
