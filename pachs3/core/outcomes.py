"""Outcomes: what the executor observed carrying out a plan; ``core/respond.py`` renders them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pachs3.core.http import ByteStream
from pachs3.core.ranges import ByteRange
from pachs3.core.refs import FileInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRead:
    info: FileInfo
    body: ByteStream | None
    """None for HEAD and 304: nothing was opened."""
    range: ByteRange | None = None
    not_modified: bool = False
    parts_count: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Listed:
    files: tuple[FileInfo, ...]
    prefixes: tuple[str, ...]
    truncated: bool
    last: str | None
    """The greatest key or common prefix on this page: where the next page starts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionEntry:
    """One line of ListObjectVersions: a version (``info``) or a delete marker (None)."""

    path: str
    version_id: str
    latest: bool
    info: FileInfo | None
    deleted: datetime | None = None
    """A delete marker's time: when its commit was made."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionsListed:
    entries: tuple[VersionEntry, ...]
    prefixes: tuple[str, ...]
    truncated: bool
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileWritten:
    info: FileInfo
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileCopied:
    info: FileInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDeleted:
    existed: bool = False
    """A file was there: the delete is a delete marker in the bucket's version history."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteFailure:
    key: str
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FilesDeleted:
    deleted: tuple[str, ...]
    failed: tuple[DeleteFailure, ...]
    quiet: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadStarted:
    upload_id: str
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartWritten:
    etag: str
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartCopied:
    etag: str
    modified: datetime
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartsComposed:
    info: FileInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadAborted:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PartView:
    number: int
    etag: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PartsListed:
    parts: tuple[PartView, ...]
    truncated: bool
    next_marker: int
    initiated: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadView:
    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadsListed:
    uploads: tuple[UploadView, ...]
    truncated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    """An ``Answer`` plan needs no PFS call: the executor hands it straight back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchCreated:
    """CreateBucket made the branch (and the repo, when ``repo_created``)."""

    repo_created: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchDeleted:
    """DeleteBucket deleted the branch (and the repo, when ``repo_deleted``: its last branch)."""

    repo_deleted: bool


Outcome = (
    FileRead
    | Listed
    | VersionsListed
    | FileWritten
    | FileCopied
    | FileDeleted
    | FilesDeleted
    | UploadStarted
    | PartWritten
    | PartCopied
    | PartsComposed
    | UploadAborted
    | PartsListed
    | UploadsListed
    | Answered
    | BranchCreated
    | BranchDeleted
)
