"""execute: carry a plan out against a backend, and answer it.

``execute`` pairs each plan type with its handler and its responder in one ``match``: mypy
checks that the handler takes that plan and returns the outcome the responder renders, and
``assert_never`` names a plan type that has no pair yet. Each handler is short: fetch what it
needs from the backend, decide with pure core functions, act. Backend errors are translated to
S3 errors in one table (``BACKEND_ERRORS``), except where an operation gives one a more precise
meaning (a missing staging commit is NoSuchUpload).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import TypeVar, assert_never, cast

from pachs3.backends.base import (
    AlreadyExists,
    Backend,
    BackendError,
    ByteStream,
    CommitInfo,
    Conflict,
    FileOpener,
    NotFound,
    NotSupported,
    PermissionDenied,
    ReadSpan,
    Truncated,
    Unavailable,
)
from pachs3.core import errors, respond
from pachs3.core.body import VerifiedBody, read_small_body
from pachs3.core.conditions import check_copy_source_conditions, check_read_conditions
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
    PartCopied,
    PartsComposed,
    PartsListed,
    PartView,
    PartWritten,
    UploadAborted,
    UploadsListed,
    UploadStarted,
    UploadView,
)
from pachs3.core.plans import (
    AbortUpload,
    Answer,
    ComposeParts,
    CopyFile,
    CopyPart,
    DeleteFile,
    DeleteFiles,
    ListFiles,
    ListParts,
    ListUploads,
    Plan,
    ReadConditions,
    ReadFile,
    StartUpload,
    UploadRef,
    WriteFile,
    WritePart,
)
from pachs3.core.ranges import ByteRange, parse_copy_range, parse_range
from pachs3.core.refs import CommitRef, FileInfo
from pachs3.core.xml import parse_complete_multipart, parse_delete_objects

Body = Iterator[bytes]

MIN_PART_SIZE = 5 * 1024 * 1024
"""Every part but the last must be at least 5 MiB (AWS; EntityTooSmall otherwise)."""


def execute(plan: Plan, backend: Backend, body: Body) -> tuple[Outcome, S3Response]:
    """Carry ``plan`` out and render the answer: (what happened, the response)."""
    try:
        match plan:
            case Answer():
                return _run(plan, backend, body, _answer, respond.answered)
            case ReadFile():
                return _run(plan, backend, body, _read_file, respond.file_read)
            case ListFiles():
                return _run(plan, backend, body, _list_files, respond.listed)
            case WriteFile():
                return _run(plan, backend, body, _write_file, respond.file_written)
            case CopyFile():
                return _run(plan, backend, body, _copy_file, respond.file_copied)
            case DeleteFile():
                return _run(plan, backend, body, _delete_file, respond.file_deleted)
            case DeleteFiles():
                return _run(plan, backend, body, _delete_files, respond.files_deleted)
            case StartUpload():
                return _run(plan, backend, body, _start_upload, respond.upload_started)
            case WritePart():
                return _run(plan, backend, body, _write_part, respond.part_written)
            case CopyPart():
                return _run(plan, backend, body, _copy_part, respond.part_copied)
            case ComposeParts():
                return _run(plan, backend, body, _compose_parts, respond.parts_composed)
            case AbortUpload():
                return _run(plan, backend, body, _abort_upload, respond.upload_aborted)
            case ListParts():
                return _run(plan, backend, body, _list_parts, respond.parts_listed)
            case ListUploads():
                return _run(plan, backend, body, _list_uploads, respond.uploads_listed)
            case _:
                assert_never(plan)
    except BackendError as exc:
        raise s3_error_for(exc) from exc


PlanT = TypeVar("PlanT")
OutcomeT = TypeVar("OutcomeT", bound=Outcome)


def _run(
    plan: PlanT,
    backend: Backend,
    body: Body,
    handler: Callable[[PlanT, Backend, Body], OutcomeT],
    responder: Callable[[PlanT, OutcomeT], S3Response],
) -> tuple[OutcomeT, S3Response]:
    """One pair: mypy infers ``PlanT`` and ``OutcomeT`` from both and refuses a mismatch."""
    outcome = handler(plan, backend, body)
    return outcome, responder(plan, outcome)


def s3_error_for(exc: BackendError) -> errors.S3Error:
    """The one map from backend errors to S3 errors."""
    if isinstance(exc, NotFound):
        return NOT_FOUND_ERRORS[exc.what]()
    for backend_error, s3_error in BACKEND_ERRORS.items():
        if isinstance(exc, backend_error):
            # AWS's own message, not the backend's: backend text can name store paths. A key
            # the backend cannot store is the exception, since the client must learn why.
            return s3_error(str(exc) if isinstance(exc, NotSupported) else None)
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
        backend.inspect_file(*required)  # NotFound -> NoSuchKey
    return Answered()


READ_ATTEMPTS = 3
"""How often a GET re-inspects an object that was overwritten between inspect and read."""


def _read_file(read: ReadFile, backend: Backend, body: Body) -> FileRead:
    """Headers come from one inspection and the bytes from that same version.

    A backend that can (``FileOpener``) answers both from one snapshot; otherwise the read
    names the etag it inspected, and a concurrent overwrite in ``out`` makes it start over.
    """
    if hasattr(backend, "open_file") and not read.head_only:
        decision: _ReadDecision | None = None

        def choose(info: FileInfo) -> ReadSpan | None:
            nonlocal decision
            decision = _decide(read, info)
            return decision.span

        info, stream = cast(FileOpener, backend).open_file(read.ref, read.path, choose)
        assert decision is not None, "open_file calls choose before it answers"
        return decision.outcome(info, stream)
    for _attempt in range(READ_ATTEMPTS):
        info = backend.inspect_file(read.ref, read.path)
        decision = _decide(read, info)
        if decision.span is None:
            return decision.outcome(info, None)
        offset, length = decision.span
        try:
            stream = backend.read_file(
                read.ref, read.path, offset=offset, length=length, etag=info.etag
            )
        except Conflict:
            continue
        return decision.outcome(info, stream)
    raise errors.SlowDown("The object is being overwritten faster than it can be read.")


@dataclass(frozen=True, slots=True)
class _ReadDecision:
    """What a GET or HEAD answers for one version of a file, before any byte is read."""

    span: ReadSpan | None
    """The bytes to read; None for none (HEAD, 304)."""
    byte_range: ByteRange | None = None
    not_modified: bool = False

    def outcome(self, info: FileInfo, stream: ByteStream | None) -> FileRead:
        if self.not_modified:
            return FileRead(info=info, body=None, not_modified=True)
        return FileRead(info=info, body=stream, range=self.byte_range)


def _decide(read: ReadFile, info: FileInfo) -> _ReadDecision:
    """Conditions, part number and range against ``info``; raises the S3 error they deserve."""
    if _check_conditions(read.conditions, info) == "not-modified":
        return _ReadDecision(span=None, not_modified=True)
    if read.part_number not in (None, 1):
        # Objects are stored whole; part 1 is the whole object, as AWS answers for a
        # single-part object.
        raise errors.InvalidRange(headers=(("content-range", f"bytes */{info.size}"),))
    byte_range = parse_range(read.range_header, info.size)
    if read.head_only:
        return _ReadDecision(span=None, byte_range=byte_range)
    span = (byte_range.start, byte_range.length) if byte_range else (0, info.size)
    return _ReadDecision(span=span, byte_range=byte_range)


def _check_conditions(conditions: ReadConditions, info: FileInfo) -> str:
    if not conditions.any:
        return "ok"
    return check_read_conditions(
        if_match=conditions.if_match,
        if_none_match=conditions.if_none_match,
        if_modified_since=conditions.if_modified_since,
        if_unmodified_since=conditions.if_unmodified_since,
        etag=info.etag,
        last_modified=info.modified,
    )


def _check_source_conditions(conditions: ReadConditions, info: FileInfo) -> None:
    if conditions.any:
        check_copy_source_conditions(
            if_match=conditions.if_match,
            if_none_match=conditions.if_none_match,
            if_modified_since=conditions.if_modified_since,
            if_unmodified_since=conditions.if_unmodified_since,
            etag=info.etag,
            last_modified=info.modified,
        )


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
    verified = VerifiedBody(write.body, body)
    metadata = {**write.metadata, **verified.announced_checksum_headers()}
    info = backend.put_file(
        write.ref, write.path, verified, metadata=metadata, if_absent=write.if_absent
    )
    return FileWritten(info=info, checksums=verified.checksums_for_response())


def _copy_file(copy: CopyFile, backend: Backend, body: Body) -> FileCopied:
    source = backend.inspect_file(copy.src, copy.src_path)
    _check_source_conditions(copy.source_conditions, source)
    info = backend.copy_file(
        copy.src, copy.src_path, copy.dst, copy.dst_path, metadata=copy.metadata
    )
    return FileCopied(info=info)


def _delete_file(delete: DeleteFile, backend: Backend, body: Body) -> FileDeleted:
    backend.delete_file(delete.ref, delete.path)
    return FileDeleted()


def _delete_files(delete: DeleteFiles, backend: Backend, body: Body) -> FilesDeleted:
    request = parse_delete_objects(read_small_body(delete.body, body))
    deleted: list[str] = []
    failed: list[DeleteFailure] = []
    for key, _version in request.objects:
        try:
            backend.delete_file(delete.ref, key)
        except BackendError as exc:
            error = s3_error_for(exc)
            failed.append(DeleteFailure(key=key, code=error.code, message=error.detail))
        else:
            # A key that did not exist is reported as deleted, as AWS does: S3A deletes
            # directory markers that may not exist (clients.md §5.16).
            deleted.append(key)
    return FilesDeleted(deleted=tuple(deleted), failed=tuple(failed), quiet=request.quiet)


# ---------------------------------------------------------------------------------------------
# Multipart uploads: each upload is a detached commit of the staging repo, one file per part.


@dataclass(frozen=True, slots=True, kw_only=True)
class _UploadRecord:
    """What an upload's staging commit says about it (its description, as JSON)."""

    bucket: str
    key: str
    dst_repo: str
    dst_commit: str
    metadata: dict[str, str]
    checksum_algorithm: str | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "pachs3-upload": 1,
                "bucket": self.bucket,
                "key": self.key,
                "dst": [self.dst_repo, self.dst_commit],
                "metadata": self.metadata,
                "checksum_algorithm": self.checksum_algorithm,
            }
        )

    @classmethod
    def from_commit(cls, info: CommitInfo) -> _UploadRecord | None:
        try:
            data = json.loads(info.description)
            dst_repo, dst_commit = data["dst"]
            return cls(
                bucket=data["bucket"],
                key=data["key"],
                dst_repo=dst_repo,
                dst_commit=dst_commit,
                metadata=dict(data["metadata"]),
                checksum_algorithm=data.get("checksum_algorithm"),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def belongs_to(self, dst: CommitRef) -> bool:
        return (self.dst_repo, self.dst_commit) == (dst.repo, dst.id)


def part_path(number: int) -> str:
    """Zero-padded so that path order is part order."""
    return f"{number:05d}"


def _start_upload(start: StartUpload, backend: Backend, body: Body) -> UploadStarted:
    record = _UploadRecord(
        bucket=start.bucket,
        key=start.path,
        dst_repo=start.dst.repo,
        dst_commit=start.dst.id,
        metadata=dict(start.metadata),
        checksum_algorithm=start.checksum_algorithm,
    )
    info = backend.start_commit(start.staging_repo, None, description=record.to_json(), empty=True)
    return UploadStarted(upload_id=info.id, checksum_algorithm=start.checksum_algorithm)


def _load_upload(backend: Backend, upload: UploadRef) -> tuple[CommitInfo, _UploadRecord]:
    """The upload's staging commit, if it is open and was started for this bucket and key."""
    try:
        info = backend.inspect_commit(upload.staging.repo, upload.staging.id)
    except NotFound:
        raise errors.NoSuchUpload() from None
    record = _UploadRecord.from_commit(info)
    if (
        record is None
        or not info.is_open
        or (record.bucket, record.key) != (upload.bucket, upload.key)
        or not record.belongs_to(upload.dst)  # another job's upload, even with a leaked id
    ):
        raise errors.NoSuchUpload()
    return info, record


def _write_part(part: WritePart, backend: Backend, body: Body) -> PartWritten:
    _load_upload(backend, part.upload)
    verified = VerifiedBody(part.body, body)
    info = backend.put_file(part.upload.staging, part_path(part.part_number), verified)
    return PartWritten(etag=info.etag, checksums=verified.checksums_for_response())


def _copy_part(part: CopyPart, backend: Backend, body: Body) -> PartCopied:
    _load_upload(backend, part.upload)
    source = backend.inspect_file(part.src, part.src_path)
    _check_source_conditions(part.source_conditions, source)
    offset, length = parse_copy_range(part.range_header, source.size)
    stream = backend.read_file(
        part.src, part.src_path, offset=offset, length=length, etag=source.etag
    )
    with closing(stream):
        info = backend.put_file(part.upload.staging, part_path(part.part_number), stream)
    return PartCopied(etag=info.etag, modified=info.modified)


def _staged_parts(backend: Backend, staging: CommitRef) -> dict[int, FileInfo]:
    return {int(info.path): info for info in backend.walk_files(staging)}


def _compose_parts(compose: ComposeParts, backend: Backend, body: Body) -> PartsComposed:
    _, record = _load_upload(backend, compose.upload)
    requested = parse_complete_multipart(read_small_body(compose.body, body))
    numbers = [number for number, _etag in requested]
    if numbers != sorted(set(numbers)):
        raise errors.InvalidPartOrder()
    staged = _staged_parts(backend, compose.upload.staging)
    chosen: list[FileInfo] = []
    for number, etag in requested:
        info = staged.get(number)
        if info is None or info.etag != etag:
            raise errors.InvalidPart()
        chosen.append(info)
    for info in chosen[:-1]:
        if info.size < MIN_PART_SIZE:
            raise errors.EntityTooSmall()
    # S3's multipart ETag: MD5 over the concatenated binary part MD5s, then "-N". aws s3 sync
    # and rclone compare it, so it must be exactly this (clients.md §5.10).
    digest = hashlib.md5(b"".join(bytes.fromhex(i.etag) for i in chosen), usedforsecurity=False)
    etag = f"{digest.hexdigest()}-{len(chosen)}"
    staging = compose.upload.staging
    result = backend.compose_file(
        compose.dst,
        compose.upload.key,
        [(staging, info.path) for info in chosen],
        etag=etag,
        metadata=record.metadata,
    )
    backend.discard_commit(staging.repo, staging.id)
    return PartsComposed(info=result)


def _abort_upload(abort: AbortUpload, backend: Backend, body: Body) -> UploadAborted:
    _load_upload(backend, abort.upload)
    backend.discard_commit(abort.upload.staging.repo, abort.upload.staging.id)
    return UploadAborted()


def _list_parts(listing: ListParts, backend: Backend, body: Body) -> PartsListed:
    commit, _ = _load_upload(backend, listing.upload)
    parts = sorted(_staged_parts(backend, listing.upload.staging).items())
    after = [(n, info) for n, info in parts if n > listing.part_number_marker]
    page = after[: listing.max_parts]
    return PartsListed(
        parts=tuple(
            PartView(number=n, etag=info.etag, size=info.size, modified=info.modified)
            for n, info in page
        ),
        truncated=len(after) > len(page),
        next_marker=page[-1][0] if page else 0,
        initiated=commit.started,
    )


def _open_uploads(
    backend: Backend, staging_repo: str, dst: CommitRef
) -> Iterator[tuple[CommitInfo, _UploadRecord]]:
    """Every open upload whose parts are meant for the commit ``dst``."""
    for info in backend.list_commits(staging_repo):
        record = _UploadRecord.from_commit(info)
        if record is not None and info.is_open and record.belongs_to(dst):
            yield info, record


def upload_targets(backend: Backend, staging_repo: str, dst: CommitRef) -> list[str]:
    """The ids of the open uploads meant for ``dst`` (a job discards them when it ends)."""
    return [info.id for info, _ in _open_uploads(backend, staging_repo, dst)]


def _list_uploads(listing: ListUploads, backend: Backend, body: Body) -> UploadsListed:
    uploads = [
        UploadView(key=record.key, upload_id=info.id, initiated=info.started)
        for info, record in _open_uploads(backend, listing.staging_repo, listing.dst)
        if record.bucket == listing.bucket
        and record.key.startswith(listing.prefix)
        and _after_marker(record.key, info.id, listing.key_marker, listing.upload_id_marker)
    ]
    # Key order, then upload id: the order the markers page through.
    uploads.sort(key=lambda u: (u.key, u.upload_id))
    page = uploads[: listing.max_uploads]
    return UploadsListed(uploads=tuple(page), truncated=len(uploads) > len(page))


def _after_marker(key: str, upload_id: str, key_marker: str, upload_id_marker: str) -> bool:
    """ListMultipartUploads paging (AWS): past ``key-marker``; at it, only uploads whose id
    sorts after ``upload-id-marker`` (none at all when that is not given)."""
    if not key_marker or key != key_marker:
        return key > key_marker
    return bool(upload_id_marker) and upload_id > upload_id_marker
