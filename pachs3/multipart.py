"""Multipart uploads against a backend: the whole upload lifecycle, start to completion or abort.

Each upload is a detached commit of the staging repo holding one file per part; its description
records the target (``core.multipart.UploadRecord``). Completion checks the parts
(``choose_parts``) and composes them into the output commit as a metadata operation, then the
staging commit is discarded; a job that ends discards its unfinished uploads
(``discard_uploads``). The decisions are pure and live in ``core/multipart.py``; this module
fetches and acts.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass

from pachs3.backends.base import Backend, CommitInfo, KeyCheck, NotFound
from pachs3.core import errors
from pachs3.core.body import IncomingBody
from pachs3.core.conditions import check_source_conditions
from pachs3.core.digests import new_checksum
from pachs3.core.headers import CHECKSUM_HEADER_PREFIX
from pachs3.core.multipart import (
    PART_SIZES_KEY,
    UploadRecord,
    after_upload_marker,
    check_part_checksums,
    choose_parts,
    completed_checksum,
    encode_part_sizes,
    is_same_completion,
    multipart_etag,
    part_path,
    parts_page,
)
from pachs3.core.outcomes import (
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
    ComposeParts,
    CopyPart,
    ListParts,
    ListUploads,
    StartUpload,
    UploadRef,
    WritePart,
)
from pachs3.core.ranges import parse_copy_range
from pachs3.core.refs import CommitRef, FileInfo
from pachs3.core.xml.request_bodies import parse_completion

Body = IncomingBody


@dataclass(frozen=True, slots=True)
class Uploads:
    """What starting and completing an upload act on: the backend, the completions already
    answered, and the backend's key check (``backends.base.key_check``, decided once)."""

    backend: Backend
    completed: CompletedUploads
    check_key: KeyCheck


def start_upload(start: StartUpload, uploads: Uploads, body: Body) -> UploadStarted:
    uploads.check_key(start.path)  # before the upload exists: the client learns at once
    backend = uploads.backend
    record = UploadRecord(
        bucket=start.bucket,
        key=start.path,
        dst_repo=start.dst.repo,
        dst_commit=start.dst.id,
        metadata=dict(start.metadata),
        checksum_algorithm=start.checksum_algorithm,
        checksum_type=start.checksum_type,
    )
    try:
        info = _start_staging(backend, start.staging_repo, record)
    except NotFound as exc:
        if exc.what != "repo":
            raise
        # Made on the first upload, not with the job: a Pachyderm pipeline's token may not
        # create repos, and a job that never uploads in parts should not need to.
        backend.create_repo(start.staging_repo, exist_ok=True)
        info = _start_staging(backend, start.staging_repo, record)
    return UploadStarted(
        upload_id=info.id,
        checksum_algorithm=start.checksum_algorithm,
        checksum_type=start.checksum_type,
    )


def _start_staging(backend: Backend, staging_repo: str, record: UploadRecord) -> CommitInfo:
    return backend.start_commit(staging_repo, None, description=record.to_json(), empty=True)


def write_part(part: WritePart, backend: Backend, body: Body) -> PartWritten:
    _, record = _load_upload(backend, part.upload)
    algorithm = record.checksum_algorithm
    payload = body.payload(part.body, also=(algorithm,) if algorithm else ())
    path = part_path(part.part_number)
    announced = part.body.checksums.get(algorithm) if algorithm else None
    metadata = {CHECKSUM_HEADER_PREFIX + algorithm: announced} if algorithm and announced else None
    info = backend.put_file(part.upload.staging, path, payload, metadata=metadata)
    checksums = payload.checksums_for_response()
    if algorithm:
        # The part's checksum makes the object's at completion (core/checksum_types.py), so
        # the part keeps it. One sent in a trailer (or none at all: S3 computes it) is known only
        # after the body, so it is attached then, by a metadata-only copy onto itself.
        value = payload.computed_checksum(algorithm)
        checksums[algorithm] = value
        if metadata is None:
            _attach_checksum(backend, part.upload.staging, path, algorithm, value)
    return PartWritten(etag=info.etag, checksums=checksums)


def copy_part(part: CopyPart, backend: Backend, body: Body) -> PartCopied:
    _, record = _load_upload(backend, part.upload)
    source = backend.inspect_file(part.src, part.src_path)
    check_source_conditions(part.source_conditions, source)
    offset, length = parse_copy_range(part.range_header, source.size)
    stream = backend.read_file(
        part.src, part.src_path, offset=offset, length=length, etag=source.etag
    )
    staging, path = part.upload.staging, part_path(part.part_number)
    algorithm = record.checksum_algorithm
    if not algorithm:
        with closing(stream):
            info = backend.put_file(staging, path, stream)
        return PartCopied(etag=info.etag, modified=info.modified)
    # An upload with a checksum algorithm needs every part's checksum for the object's (AWS
    # computes it for a copied part too and answers it in CopyPartResult), so the copied bytes
    # are hashed on their way through, and the value is attached as write_part attaches a
    # computed one.
    checksum = new_checksum(algorithm)
    with closing(stream):
        info = backend.put_file(staging, path, _hashed(stream, checksum.update))
    value = base64.b64encode(checksum.digest()).decode("ascii")
    _attach_checksum(backend, staging, path, algorithm, value)
    return PartCopied(etag=info.etag, modified=info.modified, checksums={algorithm: value})


def _hashed(chunks: Iterable[bytes], update: Callable[[bytes], object]) -> Iterator[bytes]:
    """The chunks, passed to ``update`` on their way (not a ``DigestTee``: that would take an
    MD5 of the copy too, which the store takes anyway)."""
    for chunk in chunks:
        update(chunk)
        yield chunk


def _attach_checksum(
    backend: Backend, staging: CommitRef, path: str, algorithm: str, value: str
) -> None:
    """Give a staged part the checksum known only once its bytes were through: a metadata-only
    copy of the part onto itself."""
    backend.copy_file(
        staging, path, staging, path, metadata={CHECKSUM_HEADER_PREFIX + algorithm: value}
    )


class CompletedUploads:
    """The last completions a gateway answered, so that a retry gets the same answer.

    AWS answers a CompleteMultipartUpload repeated with the same parts after it succeeded
    with 200 and the same ETag (an SDK retries when the first answer was lost on the way). The
    staging commit is gone by then, so the gateway remembers the outcome, per upload id, for
    its most recent ``capacity`` completions (in memory: a retry reaches the same process).
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._done: OrderedDict[str, tuple[UploadRef, tuple[tuple[int, str], ...], PartsComposed]]
        self._done = OrderedDict()
        self._lock = threading.Lock()

    def remember(
        self, upload: UploadRef, parts: tuple[tuple[int, str], ...], outcome: PartsComposed
    ) -> None:
        with self._lock:
            self._done[upload.staging.id] = (upload, parts, outcome)
            while len(self._done) > self._capacity:
                self._done.popitem(last=False)

    def repeat(self, upload: UploadRef, parts: tuple[tuple[int, str], ...]) -> PartsComposed | None:
        """The recorded outcome, if ``upload`` completed with exactly these parts."""
        with self._lock:
            done = self._done.get(upload.staging.id)
        if done is None or not is_same_completion(done[0], done[1], upload, parts):
            return None
        return done[2]


def compose_parts(compose: ComposeParts, uploads: Uploads, body: Body) -> PartsComposed:
    backend = uploads.backend
    completion = parse_completion(body.document(compose.body))
    requested = completion.parts
    try:
        _, record = _load_upload(backend, compose.upload)
    except errors.NoSuchUpload:
        repeated = uploads.completed.repeat(compose.upload, requested)
        if repeated is None:
            raise
        return repeated
    staging = compose.upload.staging
    chosen = choose_parts(requested, _staged_parts(backend, staging))
    check_part_checksums(record, requested, chosen, completion.part_checksums)
    checksum = completed_checksum(record, compose, chosen)
    result = backend.compose_file(
        compose.dst,
        compose.upload.key,
        [(staging, info.path) for info in chosen],
        etag=multipart_etag(chosen),
        metadata={
            **record.metadata,
            PART_SIZES_KEY: encode_part_sizes([p.size for p in chosen]),
            **checksum,
        },
        expect=compose.expect,
    )
    outcome = PartsComposed(info=result)
    uploads.completed.remember(compose.upload, requested, outcome)
    backend.discard_commit(staging.repo, staging.id)
    return outcome


def abort_upload(abort: AbortUpload, backend: Backend, body: Body) -> UploadAborted:
    _load_upload(backend, abort.upload)
    backend.discard_commit(abort.upload.staging.repo, abort.upload.staging.id)
    return UploadAborted()


def list_parts(listing: ListParts, backend: Backend, body: Body) -> PartsListed:
    commit, _ = _load_upload(backend, listing.upload)
    page, truncated = parts_page(
        _staged_parts(backend, listing.upload.staging),
        marker=listing.part_number_marker,
        max_parts=listing.max_parts,
    )
    return PartsListed(
        parts=tuple(
            PartView(number=n, etag=info.etag, size=info.size, modified=info.modified)
            for n, info in page
        ),
        truncated=truncated,
        next_marker=page[-1][0] if page else 0,
        initiated=commit.started,
    )


def list_uploads(listing: ListUploads, backend: Backend, body: Body) -> UploadsListed:
    uploads = [
        UploadView(key=record.key, upload_id=info.id, initiated=info.started)
        for info, record in _open_uploads(backend, listing.staging_repo, listing.dst)
        if record.bucket == listing.bucket
        and record.key.startswith(listing.prefix)
        and after_upload_marker(record.key, info.id, listing.key_marker, listing.upload_id_marker)
    ]
    # Key order, then upload id: the order the markers page through.
    uploads.sort(key=lambda u: (u.key, u.upload_id))
    page = uploads[: listing.max_uploads]
    return UploadsListed(uploads=tuple(page), truncated=len(uploads) > len(page))


def discard_uploads(backend: Backend, staging_repo: str, dst: CommitRef) -> None:
    """Drop the open uploads meant for ``dst`` (a job's unfinished uploads end with it)."""
    for info, _record in list(_open_uploads(backend, staging_repo, dst)):
        backend.discard_commit(staging_repo, info.id)


def _load_upload(backend: Backend, upload: UploadRef) -> tuple[CommitInfo, UploadRecord]:
    """The upload's staging commit, if it is open and was started for this bucket and key."""
    try:
        info = backend.inspect_commit(upload.staging.repo, upload.staging.id)
    except NotFound:
        raise errors.NoSuchUpload() from None
    record = UploadRecord.from_json(info.description)
    if (
        record is None
        or not info.is_open
        or (record.bucket, record.key) != (upload.bucket, upload.key)
        or not record.belongs_to(upload.dst)  # another job's upload, even with a leaked id
    ):
        raise errors.NoSuchUpload()
    return info, record


def _staged_parts(backend: Backend, staging: CommitRef) -> dict[int, FileInfo]:
    return {int(info.path): info for info in backend.walk_files(staging)}


def _open_uploads(
    backend: Backend, staging_repo: str, dst: CommitRef
) -> Iterator[tuple[CommitInfo, UploadRecord]]:
    """Every open upload whose parts are meant for the commit ``dst``."""
    try:
        commits = backend.list_commits(staging_repo)
    except NotFound as exc:
        if exc.what != "repo":
            raise
        return  # no upload was ever started: the first one makes the staging repo
    for info in commits:
        record = UploadRecord.from_json(info.description)
        if record is not None and info.is_open and record.belongs_to(dst):
            yield info, record
