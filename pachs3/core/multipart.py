"""Multipart uploads, the pure part: what an upload records, which parts a completion takes, the
multipart ETag, and how listings of parts and uploads page.

An upload is a detached commit of the staging repo (``STAGING_REPO``: no bucket maps to it, so
no listing shows parts); its description records the target (``UploadRecord``), and each part
is a file of that commit named by its number (``part_path``). ``pachs3/multipart.py`` carries
these decisions out against a backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pachs3.core import errors
from pachs3.core.checksum_types import (
    CHECKSUM_TYPE_KEY,
    object_checksum,
    upload_checksum,
)
from pachs3.core.headers import CHECKSUM_HEADER_PREFIX, INTERNAL_METADATA_PREFIX
from pachs3.core.plans import ComposeParts, UploadRef
from pachs3.core.refs import CommitRef, FileInfo

STAGING_REPO = "_pachs3_multipart"
"""Where multipart parts wait for completion: a repo no bucket maps to, so no listing shows
them (Pachyderm's own gateway uses the hidden repo ``_s3gateway_multipart_`` the same way)."""

MIN_PART_SIZE = 5 * 1024 * 1024
"""Every part but the last must be at least 5 MiB (AWS; EntityTooSmall otherwise)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadRecord:
    """What an upload's staging commit says about it (its description, as JSON)."""

    bucket: str
    key: str
    dst_repo: str
    dst_commit: str
    metadata: dict[str, str]
    checksum_algorithm: str | None
    checksum_type: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "pachs3-upload": 1,
                "bucket": self.bucket,
                "key": self.key,
                "dst": [self.dst_repo, self.dst_commit],
                "metadata": self.metadata,
                "checksum_algorithm": self.checksum_algorithm,
                "checksum_type": self.checksum_type,
            }
        )

    @classmethod
    def from_json(cls, description: str) -> UploadRecord | None:
        """The record a staging commit's description holds; None if it holds none."""
        try:
            data = json.loads(description)
            dst_repo, dst_commit = data["dst"]
            return cls(
                bucket=data["bucket"],
                key=data["key"],
                dst_repo=dst_repo,
                dst_commit=dst_commit,
                metadata=dict(data["metadata"]),
                checksum_algorithm=data.get("checksum_algorithm"),
                checksum_type=data.get("checksum_type"),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def belongs_to(self, dst: CommitRef) -> bool:
        return (self.dst_repo, self.dst_commit) == (dst.repo, dst.id)


def part_path(number: int) -> str:
    """Zero-padded so that path order is part order."""
    return f"{number:05d}"


def choose_parts(
    requested: Sequence[tuple[int, str]], staged: Mapping[int, FileInfo]
) -> list[FileInfo]:
    """The staged parts a CompleteMultipartUpload names, checked as AWS checks them.

    ``requested`` is (part number, ETag) in document order: ascending and without repeats
    (InvalidPartOrder), each naming a staged part with that ETag (InvalidPart), every part but
    the last at least ``MIN_PART_SIZE`` (EntityTooSmall).
    """
    numbers = [number for number, _etag in requested]
    if numbers != sorted(set(numbers)):
        raise errors.InvalidPartOrder()
    chosen: list[FileInfo] = []
    for number, etag in requested:
        info = staged.get(number)
        if info is None or info.etag != etag:
            raise errors.InvalidPart()
        chosen.append(info)
    if any(info.size < MIN_PART_SIZE for info in chosen[:-1]):
        raise errors.EntityTooSmall()
    return chosen


def multipart_etag(parts: Sequence[FileInfo]) -> str:
    """S3's multipart ETag: MD5 over the concatenated binary part MD5s, then ``-N``. aws s3 sync
    and rclone compare it, so it must be exactly this (clients.md §5.10)."""
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts), usedforsecurity=False)
    return f"{digest.hexdigest()}-{len(parts)}"


def parts_page(
    parts: Mapping[int, FileInfo], *, marker: int, max_parts: int
) -> tuple[list[tuple[int, FileInfo]], bool]:
    """ListParts paging: the parts numbered after ``marker``, at most ``max_parts`` of them, and
    whether more follow."""
    after = sorted((n, info) for n, info in parts.items() if n > marker)
    return after[:max_parts], len(after) > max_parts


def after_upload_marker(key: str, upload_id: str, key_marker: str, upload_id_marker: str) -> bool:
    """ListMultipartUploads paging (AWS): past ``key-marker``; at it, only uploads whose id
    sorts after ``upload-id-marker`` (none at all when that is not given)."""
    if not key_marker or key != key_marker:
        return key > key_marker
    return bool(upload_id_marker) and upload_id > upload_id_marker


def is_same_completion(
    done: UploadRef,
    done_parts: Sequence[tuple[int, str]],
    retry: UploadRef,
    retry_parts: Sequence[tuple[int, str]],
) -> bool:
    """Whether a CompleteMultipartUpload repeats one that succeeded: same upload, bucket, key
    and target commit, and the same parts with the same ETags (quotes already stripped)."""
    return done == retry and tuple(done_parts) == tuple(retry_parts)


PART_SIZES_KEY = INTERNAL_METADATA_PREFIX + "part-sizes"
"""Object metadata of a composed object: its parts' sizes, so that GET/HEAD ``?partNumber=N``
can answer part N. Internal (``x-pachs3-*`` is never sent to clients)."""


def encode_part_sizes(sizes: Sequence[int]) -> str:
    """Part sizes, run-length encoded (``"8388608*9,1234"``): uploads use one part size, so
    10,000 parts stay a few bytes of metadata."""
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return ",".join(f"{size}*{count}" if count > 1 else str(size) for size, count in runs)


def decode_part_sizes(text: str) -> tuple[int, ...] | None:
    """The sizes ``encode_part_sizes`` wrote, or None when ``text`` is not such a record."""
    sizes: list[int] = []
    for run in text.split(","):
        size, star, count = run.partition("*")
        if not size.isdigit() or (star and not count.isdigit()):
            return None
        sizes.extend([int(size)] * (int(count) if star else 1))
    return tuple(sizes) or None


def part_span(sizes: Sequence[int], number: int) -> tuple[int, int]:
    """``(offset, length)`` of part ``number`` (1-based); InvalidPartNumber past the last."""
    if not 1 <= number <= len(sizes):
        raise errors.InvalidPartNumber()
    return sum(sizes[: number - 1]), sizes[number - 1]


def completed_checksum(
    record: UploadRecord, compose: ComposeParts, parts: Sequence[FileInfo]
) -> dict[str, str]:
    """The checksum metadata of the object an upload completes into (core/checksum_types.py):
    ``x-amz-checksum-<name>`` and its type, from the checksums the parts kept. Empty when the
    upload keeps no checksum, or when a part has none (a part copied with UploadPartCopy).

    An ``x-amz-checksum-type`` on the completion that is not the upload's is BadDigest (the
    CompleteMultipartUpload API); a whole-object checksum sent with it must match the one the
    parts make (BadDigest), and one of another algorithm than the upload's is InvalidRequest.
    """
    resolved = (
        upload_checksum(record.checksum_algorithm, record.checksum_type)
        if record.checksum_algorithm
        else None
    )
    kind = resolved[1] if resolved else None
    if compose.checksum_type is not None and compose.checksum_type != kind:
        raise errors.BadDigest(
            f"The upload was created using the {kind or 'no'} checksum mode. The complete "
            f"request must use the same checksum mode."
        )
    if resolved is None:
        return {}
    algorithm, kind = resolved
    for name in compose.object_checksums:
        if name != algorithm:
            raise errors.InvalidRequest(
                f"The upload was created using a {algorithm} checksum. The complete request "
                f"must use the same checksum algorithm."
            )
    header = CHECKSUM_HEADER_PREFIX + algorithm
    values = [(p.metadata.get(header), p.size) for p in parts]
    known = [(value, size) for value, size in values if value is not None]
    if len(known) != len(values):
        return {}
    checksum = object_checksum(algorithm, kind, known)
    if checksum is None:
        return {}
    sent = compose.object_checksums.get(algorithm)
    if sent is not None and sent.strip() != checksum:
        raise errors.BadDigest(
            f"The {algorithm.upper()} you specified did not match the calculated checksum."
        )
    return {header: checksum, CHECKSUM_TYPE_KEY: kind}


def check_part_checksums(
    record: UploadRecord,
    requested: Sequence[tuple[int, str]],
    parts: Sequence[FileInfo],
    sent: Mapping[int, Mapping[str, str]],
) -> None:
    """Check the per-part ``<ChecksumX>`` of a CompleteMultipartUpload against the stored parts.

    ``requested`` is the document's (number, ETag) pairs and ``parts`` what ``choose_parts``
    chose for them, in the same order. A value that is not the
    part's stored checksum is InvalidPart, as AWS answers; a checksum in another algorithm than
    the upload's is InvalidRequest. A part named without a checksum is taken (AWS refuses that
    for a COMPOSITE upload, "The complete request must include the checksum for each part";
    pachs3 stays lenient, since the object's checksum is made from the stored part checksums
    anyway and a part copied with UploadPartCopy has none a client could send). An upload
    without an algorithm keeps no part checksums: there is nothing to check against, and the
    values are ignored.
    """
    resolved = upload_checksum(record.checksum_algorithm, record.checksum_type)
    if resolved is None:
        return
    algorithm = resolved[0]
    header = CHECKSUM_HEADER_PREFIX + algorithm
    for (number, _etag), part in zip(requested, parts, strict=True):
        given = sent.get(number, {})
        for name in given:
            if name != algorithm:
                raise errors.InvalidRequest(
                    f"Checksum Type mismatch occurred, expected checksum Type: {algorithm}, "
                    f"actual checksum Type: {name}"
                )
        stored = part.metadata.get(header)
        value = given.get(algorithm)
        if stored is not None and value is not None and value != stored:
            raise errors.InvalidPart()
