"""respond: (plan, outcome) -> S3Response. Status, headers and body, as AWS S3 answers.

One small function per plan type, typed by the plan and the outcome it renders; the executor
pairs each with its handler (``executor.execute``), so mypy checks every pair. The gateway adds
the request id headers; error documents are rendered in one place, ``error_response``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pachs3.core import documents
from pachs3.core.checksum_types import CHECKSUM_TYPE_KEY, FULL_OBJECT
from pachs3.core.dates import format_http_date
from pachs3.core.errors import S3Error
from pachs3.core.headers import (
    CHECKSUM_HEADER_PREFIX,
    DEFAULT_CONTENT_TYPE,
    INTERNAL_METADATA_PREFIX,
    USER_METADATA_PREFIX,
)
from pachs3.core.http import BytesStream, EmptyStream, S3Response
from pachs3.core.listing.document import list_objects
from pachs3.core.listing.versions import list_versions_document
from pachs3.core.metadata_text import mail_safe
from pachs3.core.outcomes import (
    Answered,
    BranchCreated,
    BranchDeleted,
    FileCopied,
    FileDeleted,
    FileRead,
    FilesDeleted,
    FileWritten,
    Listed,
    PartCopied,
    PartsComposed,
    PartsListed,
    PartWritten,
    UploadAborted,
    UploadsListed,
    UploadStarted,
    VersionsListed,
)
from pachs3.core.plans import (
    AbortUpload,
    Answer,
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
    ReadFile,
    SetVersioning,
    StartUpload,
    WriteFile,
    WritePart,
)
from pachs3.core.refs import FileInfo
from pachs3.core.xml.render import render_error

XML = "application/xml"
Headers = list[tuple[str, str]]


def error_response(
    error: S3Error, *, resource: str, request_id: str, head_only: bool
) -> S3Response:
    """The one place an S3 error document is rendered.

    A HEAD error carries no body: pyarrow and obstore reuse the connection and choke on the
    leftover bytes (clients.md §2, "HEAD 404 with a body")."""
    document = render_error(error.code, error.detail, error.resource or resource, request_id)
    headers = [("content-type", XML), *error.headers]
    if head_only:
        return S3Response(status=error.status, headers=tuple(headers))
    headers.append(("content-length", str(len(document))))
    return S3Response(status=error.status, headers=tuple(headers), body=BytesStream(document))


def _xml(document: bytes, *, status: int = 200, extra: Headers | None = None) -> S3Response:
    headers: Headers = [("content-type", XML), ("content-length", str(len(document)))]
    headers.extend(extra or ())
    return S3Response(status=status, headers=tuple(headers), body=BytesStream(document))


def _empty(status: int, headers: Headers | None = None) -> S3Response:
    return S3Response(
        status=status, headers=(*(headers or ()), ("content-length", "0")), body=EmptyStream()
    )


# ---------------------------------------------------------------------------------------------
# Objects


def object_headers(info: FileInfo, *, checksum_mode: bool) -> Headers:
    """What GET and HEAD say about an object: S3 clients need every one of these.

    Content-Length on HEAD above all: pyarrow silently reads 0 bytes without it (clients.md §2).
    """
    headers: Headers = [
        ("etag", documents.quote_etag(info.etag)),
        ("last-modified", format_http_date(info.modified)),
        ("accept-ranges", "bytes"),
    ]
    metadata = info.metadata
    headers.append(("content-type", metadata.get("content-type", DEFAULT_CONTENT_TYPE)))
    for name, value in metadata.items():
        if name == "content-type":
            continue
        if name.startswith(INTERNAL_METADATA_PREFIX):
            continue
        if name.startswith(CHECKSUM_HEADER_PREFIX):
            # Only on request. A composite value ("<base64>-N") is sent as AWS sends it:
            # botocore skips validating a value with a "-" (httpchecksum.handle_checksum_body).
            if checksum_mode:
                headers.append((name, value))
            continue
        if name.startswith(USER_METADATA_PREFIX):
            # RFC 2047 for non-ASCII, as S3 answers (core/metadata_text.py)
            headers.append((name, mail_safe(value)))
            continue
        headers.append((name, value))
    if checksum_mode and any(n.startswith(CHECKSUM_HEADER_PREFIX) for n, _ in headers):
        headers.append(("x-amz-checksum-type", metadata.get(CHECKSUM_TYPE_KEY, FULL_OBJECT)))
    return headers


def file_read(read: ReadFile, done: FileRead) -> S3Response:
    info = done.info
    if done.not_modified:
        return S3Response(
            status=304,
            headers=(
                ("etag", documents.quote_etag(info.etag)),
                ("last-modified", format_http_date(info.modified)),
            ),
        )
    whole = done.range is None
    headers = object_headers(info, checksum_mode=read.checksum_mode and whole)
    if done.range is None:
        status, length = 200, info.size
    else:
        status, length = 206, done.range.length
        headers.append(("content-range", done.range.content_range))
    headers.append(("content-length", str(length)))
    if done.parts_count is not None:
        headers.append(("x-amz-mp-parts-count", str(done.parts_count)))
    headers.extend(_version_header(read.version.id if read.version else info.commit))
    overrides = dict(read.overrides)
    if overrides:
        headers = [(n, v) for n, v in headers if n not in overrides]
        headers.extend(read.overrides)
    body = done.body if done.body is not None else EmptyStream()
    return S3Response(status=status, headers=tuple(headers), body=body)


VERSION_HEADER = "x-amz-version-id"


def _version_header(commit: str) -> Headers:
    """A version is the commit that holds the object (``core/versions.py``); a backend that
    cannot say which commit that is leaves it empty, and the header out."""
    return [(VERSION_HEADER, commit)] if commit else []


def _checksum_headers(checksums: Mapping[str, str]) -> Headers:
    return [(CHECKSUM_HEADER_PREFIX + alg, value) for alg, value in checksums.items()]


def file_written(write: WriteFile, done: FileWritten) -> S3Response:
    headers = [("etag", documents.quote_etag(done.info.etag))]
    headers.extend(_checksum_headers(done.checksums))
    if done.checksums:
        headers.append(("x-amz-checksum-type", FULL_OBJECT))  # a single PUT's is (PutObject)
    headers.extend(_version_header(done.info.commit))
    return _empty(200, headers)


def file_copied(copy: CopyFile, done: FileCopied) -> S3Response:
    info = done.info
    extra = _version_header(info.commit)
    if copy.src_version is not None:
        extra.append(("x-amz-copy-source-version-id", copy.src_version.id))
    return _xml(documents.copy_result(info.etag, info.modified), extra=extra)


def file_deleted(delete: DeleteFile, done: FileDeleted) -> S3Response:
    """The version a delete made is the commit it made (a job's ``out``: its output commit);
    where a file was deleted, that version is a delete marker, as ListObjectVersions shows."""
    headers = _version_header(delete.ref.id)
    if done.existed:
        headers.append(("x-amz-delete-marker", "true"))
    return _empty(204, headers)


def files_deleted(delete: DeleteFiles, done: FilesDeleted) -> S3Response:
    # Quiet mode reports only failures; minio-py sends Quiet and expects exactly that.
    deleted = () if done.quiet else done.deleted
    failed = ((f.key, f.code, f.message) for f in done.failed)
    return _xml(documents.delete_result(deleted, failed))


def listed(listing: ListFiles, done: Listed) -> S3Response:
    return _xml(list_objects(listing, done))


def versions_listed(listing: ListVersions, done: VersionsListed) -> S3Response:
    return _xml(list_versions_document(listing, done))


def versioning_set(change: SetVersioning, done: Answered) -> S3Response:
    return _empty(200)


def upload_started(start: StartUpload, done: UploadStarted) -> S3Response:
    extra: Headers = []
    if done.checksum_algorithm:
        extra.append(("x-amz-checksum-algorithm", done.checksum_algorithm.upper()))
    if done.checksum_type:
        extra.append(("x-amz-checksum-type", done.checksum_type))
    return _xml(documents.initiate_upload(start.bucket, start.path, done.upload_id), extra=extra)


def part_written(part: WritePart, done: PartWritten) -> S3Response:
    headers = [("etag", documents.quote_etag(done.etag))]
    headers.extend(_checksum_headers(done.checksums))
    return _empty(200, headers)


def part_copied(part: CopyPart, done: PartCopied) -> S3Response:
    return _xml(
        documents.copy_result(done.etag, done.modified, part=True, checksums=done.checksums)
    )


def parts_composed(compose: ComposeParts, done: PartsComposed) -> S3Response:
    upload = compose.upload
    metadata = done.info.metadata
    checksums = {
        name.removeprefix(CHECKSUM_HEADER_PREFIX): value
        for name, value in metadata.items()
        if name.startswith(CHECKSUM_HEADER_PREFIX)
    }
    kind = metadata.get(CHECKSUM_TYPE_KEY, FULL_OBJECT) if checksums else None
    document = documents.complete_upload(upload.bucket, upload.key, done.info.etag, checksums, kind)
    return _xml(document, extra=_version_header(done.info.commit))


def upload_aborted(abort: AbortUpload, done: UploadAborted) -> S3Response:
    return _empty(204)


def parts_listed(listing: ListParts, done: PartsListed) -> S3Response:
    return _xml(
        documents.list_parts(listing.upload, done, listing.max_parts, listing.part_number_marker)
    )


def uploads_listed(listing: ListUploads, done: UploadsListed) -> S3Response:
    return _xml(documents.list_uploads(listing, done))


def answered(answer: Answer, done: Answered) -> S3Response:
    if answer.document:
        return _xml(answer.document, status=answer.status, extra=list(answer.headers))
    return _empty(answer.status, list(answer.headers))


def branch_created(create: CreateBranch, done: BranchCreated) -> S3Response:
    return _empty(200, [("location", f"/{create.bucket}")])


def branch_deleted(delete: DeleteBranch, done: BranchDeleted) -> S3Response:
    return _empty(204)
