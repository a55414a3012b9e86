"""Plans: what PFS must do for one S3 request, in PFS words, as values.

``plan()`` (core/planner.py) builds one of these from a request and the bucket layout; the
executor carries it out against a backend and reports an outcome; ``core/respond.py`` renders that.
Bucket policy (read-only inputs, unknown buckets) is decided while planning, so a plan that
exists is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pachs3.core.chunked import StreamingMode
from pachs3.core.expectations import Expectation
from pachs3.core.refs import CommitRef
from pachs3.core.versions import VersionPin

Framing = Literal["plain", "aws-chunked"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BodySpec:
    """How a request body arrives and what it must add up to.

    ``checksums`` are the values the client announced in headers (algorithm -> base64);
    ``trailer_names`` the algorithms it will announce in aws-chunked trailers; both are verified
    before anything is stored.
    """

    framing: Framing = "plain"
    streaming: StreamingMode | None = None
    """The aws-chunked variant the ``x-amz-content-sha256`` streaming value names, parsed once
    (None: not a streaming value; an aws-chunked body is then read as unsigned with trailers)."""
    content_length: int | None = None
    decoded_length: int | None = None
    content_md5: str | None = None
    content_sha256: str | None = None
    checksums: Mapping[str, str] = field(default_factory=dict)
    trailer_names: tuple[str, ...] = ()

    @property
    def payload_length(self) -> int | None:
        """The length of the stored bytes, when the client said it."""
        return self.decoded_length if self.framing == "aws-chunked" else self.content_length

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Every checksum algorithm the body must be hashed with, header or trailer."""
        return tuple(dict.fromkeys((*self.checksums, *self.trailer_names)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadConditions:
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.if_match,
                self.if_none_match,
                self.if_modified_since,
                self.if_unmodified_since,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadRef:
    """A multipart upload: a detached commit of the staging repo holding its parts."""

    staging: CommitRef
    bucket: str
    key: str
    dst: CommitRef
    """The output commit the upload must have been started for: another job's id is unknown."""


# ---------------------------------------------------------------------------------------------
# The plans


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The response is known from the layout alone; at most PFS is asked whether
    ``file_must_exist`` (a ref and path) is there, for answers about an object (NoSuchKey if not).
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    document: bytes = b""
    file_must_exist: tuple[CommitRef, str] | None = None
    file_version: VersionPin | None = None
    """``versionId``: the file must exist in that version (NoSuchVersion if not)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadFile:
    ref: CommitRef
    bucket: str
    path: str
    range_header: str | None = None
    conditions: ReadConditions = field(default_factory=ReadConditions)
    head_only: bool = False
    checksum_mode: bool = False
    part_number: int | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    """``response-content-type`` and friends: headers to force on the response."""
    version: VersionPin | None = None
    """``versionId``: read the file as of that commit instead of ``ref``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListFiles:
    ref: CommitRef
    bucket: str
    version: Literal[1, 2]
    prefix: str = ""
    delimiter: str = ""
    start_after: str = ""
    """Where the walk starts: the greatest of marker / start-after / continuation token."""
    max_keys: int = 1000
    encode_url: bool = False
    fetch_owner: bool = False
    marker: str = ""
    continuation_token: str | None = None
    start_after_param: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListVersions:
    """ListObjectVersions: the history of each path along ``ref``'s ancestry (or, with
    ``ancestry`` False, of ``ref`` alone), paths ascending, each newest first."""

    ref: CommitRef
    bucket: str
    ancestry: bool
    prefix: str = ""
    delimiter: str = ""
    key_marker: str = ""
    version_id_marker: str = ""
    max_keys: int = 1000
    encode_url: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SetVersioning:
    """PutBucketVersioning: read the document; Enabled changes nothing (``core/versions.py``)."""

    bucket: str
    body: BodySpec


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteFile:
    ref: CommitRef
    bucket: str
    path: str
    body: BodySpec
    metadata: Mapping[str, str] = field(default_factory=dict)
    expect: Expectation | None = None
    """``If-None-Match: *`` / ``If-Match``: judged by the backend as it writes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyFile:
    src: CommitRef
    src_bucket: str
    src_path: str
    dst: CommitRef
    dst_bucket: str
    dst_path: str
    metadata: Mapping[str, str] | None = None
    """None keeps the source's metadata (``x-amz-metadata-directive: COPY``)."""
    source_conditions: ReadConditions = field(default_factory=ReadConditions)
    expect: Expectation | None = None
    """The destination's ``If-None-Match: *`` / ``If-Match`` (CopyObject API)."""
    src_version: VersionPin | None = None
    """``x-amz-copy-source: ...?versionId=``: copy the source as of that commit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteFile:
    ref: CommitRef
    bucket: str
    path: str
    expect: Expectation | None = None
    """``If-Match``, ``x-amz-if-match-size``, ``x-amz-if-match-last-modified-time``."""
    version: str | None = None
    """``versionId``: allowed only for the key's current version (``pachs3/versions.py``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteFiles:
    ref: CommitRef
    bucket: str
    body: BodySpec


@dataclass(frozen=True, slots=True, kw_only=True)
class StartUpload:
    dst: CommitRef
    bucket: str
    path: str
    staging_repo: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    """``COMPOSITE`` or ``FULL_OBJECT`` (core/checksum_types.py), with an algorithm."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WritePart:
    upload: UploadRef
    part_number: int
    body: BodySpec


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyPart:
    upload: UploadRef
    part_number: int
    src: CommitRef
    src_bucket: str
    src_path: str
    range_header: str | None = None
    source_conditions: ReadConditions = field(default_factory=ReadConditions)
    src_version: VersionPin | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposeParts:
    upload: UploadRef
    dst: CommitRef
    body: BodySpec
    expect: Expectation | None = None
    object_checksums: Mapping[str, str] = field(default_factory=dict)
    """Whole-object checksums the client sent (a FULL_OBJECT upload), algorithm -> base64."""
    checksum_type: str | None = None
    """The ``x-amz-checksum-type`` the client sent: it must be the upload's."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AbortUpload:
    upload: UploadRef


@dataclass(frozen=True, slots=True, kw_only=True)
class ListParts:
    upload: UploadRef
    max_parts: int = 1000
    part_number_marker: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUploads:
    dst: CommitRef
    bucket: str
    staging_repo: str
    prefix: str = ""
    key_marker: str = ""
    upload_id_marker: str = ""
    max_uploads: int = 1000
    encode_url: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateBranch:
    """Global gateway CreateBucket: the repo if it is missing, then the branch with a first,
    empty commit (so that the new bucket can be read at once)."""

    bucket: str
    repo: str
    branch: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteBranch:
    """Global gateway DeleteBucket: the branch, if its head holds no file; the repo with it when
    it was the repo's last branch."""

    bucket: str
    repo: str
    branch: str


BranchWrite = WriteFile | CopyFile | DeleteFile | DeleteFiles | ComposeParts
"""The writes that change a bucket's files (the others write staging commits or nothing)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitOnBranch:
    """Global gateway: run ``write`` in a new commit on ``branch``, finished when it succeeds
    (discarded when it fails), writers of one branch one after another. ``write``'s target
    names the branch; the executor points it at the new commit."""

    repo: str
    branch: str
    description: str
    write: BranchWrite


Plan = (
    Answer
    | ReadFile
    | ListFiles
    | ListVersions
    | SetVersioning
    | WriteFile
    | CopyFile
    | DeleteFile
    | DeleteFiles
    | StartUpload
    | WritePart
    | CopyPart
    | ComposeParts
    | AbortUpload
    | ListParts
    | ListUploads
    | CreateBranch
    | DeleteBranch
    | CommitOnBranch
)
