"""S3 object versions as PFS commits: a version id is the id of a commit.

PFS keeps every commit, so every bucket is versioned: the version of an object is the commit
that holds it. What a bucket answers (``Bucket.history``):

- ``"ancestry"``: the commit the bucket reads (a sidecar input's pinned commit, a global
  branch's head or pinned commit) and every commit before it (its parents, transitively);
- ``"own"``: only that one commit (a job's ``out``: its open output commit has no history a
  job may read).

This module is the pure part: which version a request names and whether that name can be a
commit id at all. ``pachs3/versions.py`` looks the commit up in the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from pachs3.core import errors
from pachs3.core.refs import CommitRef
from pachs3.core.request import S3Request
from pachs3.core.xml.parser import child_elements, parse_root, single_text

if TYPE_CHECKING:  # layout -> plans -> this module: plans hold a VersionPin
    from pachs3.core.layout import Bucket

COMMIT_ID = re.compile(r"[0-9a-f]{32}")
"""A PFS commit id: 32 lowercase hex digits (a dash-less UUID, as pachd and pachs3 make them)."""

NULL_VERSION = "null"
"""AWS's name for the version of an object written while versioning was off: well-formed, but
no PFS object has one (every version is a commit), so it is NoSuchVersion."""

MAX_VERSION_ID = 1024
"""AWS's version ids are at most 1024 bytes; longer is refused before anything is looked up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionPin:
    """A read of one version of a bucket's object: the commit ``id``, to be found among the
    commits ``bucket`` answers (``ancestry``: ``bucket`` and its ancestors; else only itself)."""

    id: str
    bucket: CommitRef
    ancestry: bool

    def ref(self) -> CommitRef:
        """The commit the read goes to, once the store said it is one the bucket answers."""
        return CommitRef(repo=self.bucket.repo, id=self.id, project=self.bucket.project)


def check_version_id(value: str, *, resource: str) -> str:
    """``value`` if it can name a version, else 400 InvalidArgument as AWS answers."""
    if value == NULL_VERSION or (len(value) <= MAX_VERSION_ID and COMMIT_ID.fullmatch(value)):
        return value
    raise errors.InvalidArgument("Invalid version id specified", resource=resource)


def is_commit_id(value: str) -> bool:
    return COMMIT_ID.fullmatch(value) is not None


def pin(bucket: Bucket, version_id: str, *, resource: str) -> VersionPin:
    return VersionPin(
        id=check_version_id(version_id, resource=resource),
        bucket=bucket.ref,
        ancestry=bucket.history == "ancestry",
    )


def requested_version(request: S3Request, bucket: Bucket) -> VersionPin | None:
    """The ``versionId`` query parameter of an object read, if it has one."""
    value = request.query.get("versionId")
    if value is None:
        return None
    return pin(bucket, value, resource=request.resource)


def copy_source_version(request: S3Request, bucket: Bucket) -> VersionPin | None:
    """``x-amz-copy-source: bucket/key?versionId=...``: the source version, if one is named."""
    raw = request.header("x-amz-copy-source") or ""
    _path, sep, query = raw.partition("?")
    if not sep:
        return None
    values = parse_qs(query, keep_blank_values=True).get("versionId")
    if not values:
        return None
    return pin(bucket, values[0], resource=request.resource)


# ---------------------------------------------------------------------------------------------
# GetBucketVersioning / PutBucketVersioning

ENABLED = "Enabled"
SUSPENDED = "Suspended"
MAX_VERSIONING_BYTES = 64 * 1024


def versioning_change(data: bytes, *, resource: str) -> None:
    """Judge a PutBucketVersioning document: ``Enabled`` (or no status) changes nothing, since
    PFS keeps every commit whatever the client asks; ``Suspended`` (and MFA delete) is 501,
    since nothing can stop PFS from keeping history; any other status is 400
    IllegalVersioningConfigurationException, as AWS answers."""
    fields = child_elements(parse_root(data, "VersioningConfiguration", MAX_VERSIONING_BYTES))
    status = single_text(fields["Status"]).strip() if "Status" in fields else ""
    mfa_delete = single_text(fields["MfaDelete"]).strip() if "MfaDelete" in fields else ""
    if status not in ("", ENABLED, SUSPENDED) or mfa_delete not in ("", "Enabled", "Disabled"):
        raise errors.IllegalVersioningConfigurationException(resource=resource)
    if status == SUSPENDED:
        raise errors.NotImplementedByGateway(
            "Versioning cannot be suspended: a version is a PFS commit, and PFS keeps every "
            "commit.",
            resource=resource,
        )
    if mfa_delete == "Enabled":
        raise errors.NotImplementedByGateway(
            "MFA delete is not supported: versions cannot be deleted at all.", resource=resource
        )
