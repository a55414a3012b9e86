"""execute: carry a plan out against a backend, and answer it.

``execute`` pairs each plan type with its handler and its responder in one ``match``: mypy
checks that the handler takes that plan and returns the outcome the responder renders, and
``assert_never`` names a plan type that has no pair yet. Each handler is short: fetch what it
needs from the backend, decide with pure core functions, act. Multipart uploads have their
handlers in ``pachs3/multipart.py``. Backend errors are translated to S3 errors in one table
(``BACKEND_ERRORS``), except where an operation gives one a more precise meaning (a missing
staging commit is NoSuchUpload).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import TypeVar, assert_never

from pachs3 import branches, multipart, versions
from pachs3.backends.base import (
    AlreadyExists,
    Backend,
    BackendError,
    ConditionFailed,
    Conflict,
    NotFound,
    NotSupported,
    Opener,
    PermissionDenied,
    Truncated,
    Unavailable,
    file_opener,
    refuse_unstorable,
)
from pachs3.batching import BatchedCommits
from pachs3.core import errors, respond
from pachs3.core.body import CheckedPayload, read_small_body
from pachs3.core.conditions import check_source_conditions, decide_read
from pachs3.core.http import S3Response
from pachs3.core.listing import ListingBuilder
from pachs3.core.outcomes import (
    Answered,
    DeleteFailure,
    FileCopied,
    FileDeleted,
    FileRead,
    FilesDeleted,
    FileWritten,
    Listed,
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
from pachs3.core.refs import CommitRef, FileInfo
from pachs3.core.xml.request_bodies import parse_delete_objects

Body = Iterator[bytes]

MIN_PART_SIZE = 5 * 1024 * 1024
"""Every part but the last must be at least 5 MiB (AWS; EntityTooSmall otherwise)."""


@dataclass(frozen=True, slots=True)
class Store:
    """A backend, how its files are opened and the uploads it completed: built once per gateway."""

    backend: Backend
    open_file: Opener
    uploads: multipart.Uploads
    branch_locks: branches.BranchLocks = field(default_factory=branches.BranchLocks)
    """Global gateway: writers of one branch take turns (one lock per branch)."""
    batches: BatchedCommits | None = None
    """Global gateway with a batching window: writes share a commit per branch and window."""

    @classmethod
    def of(cls, backend: Backend) -> Store:
        return cls(
            backend=backend,
            open_file=file_opener(backend),
            uploads=multipart.Uploads(backend, multipart.CompletedUploads()),
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
                return _run(plan, backend, body, _list_files, respond.listed)
            case ListVersions():
                return _run(plan, backend, body, versions.list_versions, respond.versions_listed)
            case SetVersioning():
                return _run(plan, backend, body, versions.set_versioning, respond.versioning_set)
            case WriteFile():
                return _run(plan, backend, body, _write_file, respond.file_written)
            case CopyFile():
                pinned = _pin_source(plan, backend)
                return _run(pinned, backend, body, _copy_file, respond.file_copied)
            case DeleteFile():
                return _run(plan, backend, body, _delete_file, respond.file_deleted)
            case DeleteFiles():
                return _run(plan, backend, body, _delete_files, respond.files_deleted)
            case StartUpload():
                return _run(plan, backend, body, multipart.start_upload, respond.upload_started)
            case WritePart():
                return _run(plan, backend, body, multipart.write_part, respond.part_written)
            case CopyPart():
                pinned_part = _pin_source(plan, backend)
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
"""What a handler acts on: the backend, or for reads how its files are opened."""


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


def s3_error_for(exc: BackendError) -> errors.S3Error:
    """The one map from backend errors to S3 errors."""
    if isinstance(exc, NotFound):
        return NOT_FOUND_ERRORS[exc.what]()
    for backend_error, s3_error in BACKEND_ERRORS.items():
        if isinstance(exc, backend_error):
            # AWS's own message, not the backend's: backend text can name store paths. A key
            # the backend cannot store, and a permission the caller lacks, are the exceptions,
            # since the client must learn why.
            explained = isinstance(exc, NotSupported | PermissionDenied)
            return s3_error(str(exc) if explained else None)
    return errors.InternalError()


NOT_FOUND_ERRORS: dict[str, type[errors.S3Error]] = {
    "file": errors.NoSuchKey,
    "upload": errors.NoSuchUpload,
    "repo": errors.NoSuchBucket,
    "branch": errors.NoSuchBucket,
    "commit": errors.NoSuchBucket,
}

BACKEND_ERRORS: dict[type[BackendError], type[errors.S3Error]] = {
    AlreadyExists: errors.PreconditionFailed,  # only If-None-Match: * writes can meet it
    ConditionFailed: errors.PreconditionFailed,  # If-Match (and a delete's size or time)
    Conflict: errors.OperationAborted,  # e.g. a write after the job's commit was finished
    NotSupported: errors.InvalidArgument,  # a key the backend cannot store
    PermissionDenied: errors.AccessDenied,
    Unavailable: errors.ServiceUnavailable,
    Truncated: errors.InternalError,
}


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


SourcedT = TypeVar("SourcedT", CopyFile, CopyPart)


def _pin_source(plan: SourcedT, backend: Backend) -> SourcedT:
    """A copy from ``?versionId=``: its source, as of that commit (NoSuchVersion when the
    bucket does not answer that version or the version does not hold the key)."""
    if plan.src_version is None:
        return plan
    resource = f"/{plan.src_bucket}/{plan.src_path}"
    src = versions.holding(backend, plan.src_version, plan.src_path, resource=resource)
    return replace(plan, src=src)


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


def _list_files(listing: ListFiles, backend: Backend, body: Body) -> Listed:
    """Walk the index, folding keys into common prefixes; a folded prefix is skipped with a new
    index seek past it, so a delimiter listing costs O(page), not O(keys under the prefixes)."""
    builder = ListingBuilder(
        prefix=listing.prefix,
        delimiter=listing.delimiter,
        max_keys=listing.max_keys,
        start_after=listing.start_after,
    )
    files: list[FileInfo] = []
    start_after: str | None = listing.start_after
    while start_after is not None and not builder.done:
        start_after = _walk_page(backend, listing, builder, files, start_after)
    return Listed(
        files=tuple(files),
        prefixes=tuple(builder.prefixes),
        truncated=builder.truncated,
        last=builder.last,
    )


def _walk_page(
    backend: Backend,
    listing: ListFiles,
    builder: ListingBuilder,
    files: list[FileInfo],
    start_after: str,
) -> str | None:
    """One index walk; returns where the next walk must start, or None when the listing ends."""
    walk = backend.walk_files(listing.ref, prefix=listing.prefix, start_after=start_after)
    try:
        for info in walk:
            verdict = builder.offer(info.path)
            if verdict.kind == "content":
                files.append(info)
            elif verdict.kind == "stop":
                return None
            elif verdict.skip_after is not None:  # a folded prefix: seek past it
                return verdict.skip_after
        builder.finish()
        return None
    finally:
        close = getattr(walk, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------------------------------
# Writing


def _write_file(write: WriteFile, backend: Backend, body: Body) -> FileWritten:
    refuse_unstorable(backend, write.path)  # before any byte of the body is read
    payload = CheckedPayload(write.body, body)
    metadata = {**write.metadata, **payload.announced_checksum_headers()}
    info = backend.put_file(write.ref, write.path, payload, metadata=metadata, expect=write.expect)
    return FileWritten(info=info, checksums=payload.checksums_for_response())


def _copy_file(copy: CopyFile, backend: Backend, body: Body) -> FileCopied:
    refuse_unstorable(backend, copy.dst_path)
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
    request = parse_delete_objects(read_small_body(delete.body, body))
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
