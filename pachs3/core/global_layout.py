"""The global gateway's bucket policy: every branch of every repo is a bucket.

A ``GlobalLayout`` is a snapshot of the buckets one request names (or, for ListBuckets, of every
branch), resolved against the store just before planning (``pachs3/branches.py: resolve``);
planning stays pure. Policy, as Pachyderm's global gateway (reference/pachyderm-s3.md §1, §2a):

- ``repo``, ``branch.repo``, ``branch.repo.project``: the branch's head; writable unless the
  head has provenance (a pipeline's output), and then each write is one finished commit on the
  branch (``CommitOnBranch``). Writes name the branch itself as their target, so that a
  multipart upload stays the same upload while other writes move the head.
- ``commit.[branch.]repo[.project]``: that commit, read-only.
- CreateBucket makes the repo and/or branch (409 BucketAlreadyOwnedByYou when both exist);
  DeleteBucket deletes an empty branch (and its repo with its last branch).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from pachs3.core import errors
from pachs3.core.bucket_names import check_new_bucket_name, parse_bucket_name
from pachs3.core.layout import Bucket
from pachs3.core.multipart import STAGING_REPO
from pachs3.core.plans import (
    BranchWrite,
    CommitOnBranch,
    ComposeParts,
    CopyFile,
    CreateBranch,
    DeleteBranch,
    DeleteFile,
    DeleteFiles,
    Plan,
    WriteFile,
)
from pachs3.core.refs import CommitRef


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchBucket:
    """A bucket as found in the store; ``read_only`` says why it refuses writes, if it does."""

    bucket: Bucket
    """``ref`` is what reads see: the head commit, the pinned commit, or for a branch without a
    commit a finished commit holding nothing (which may be of another repo)."""
    repo: str
    branch: str
    read_only: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GlobalLayout:
    found: Mapping[str, BranchBucket] = field(default_factory=lambda: MappingProxyType({}))
    """The buckets that exist, by the name the request used (ListBuckets: the listed name)."""
    staging_repo: str = STAGING_REPO

    @classmethod
    def of(cls, found: Sequence[BranchBucket], *, staging_repo: str = STAGING_REPO) -> GlobalLayout:
        return cls(
            found=MappingProxyType({b.bucket.name: b for b in found}), staging_repo=staging_repo
        )

    @property
    def host_buckets(self) -> Collection[str]:
        """None: names hold dots, so a ``Host`` cannot be split into bucket and endpoint
        (Pachyderm's global gateway is path-style only, too)."""
        return ()

    def readable(self, name: str) -> Bucket:
        found = self.found.get(name)
        if found is None:
            parse_bucket_name(name)  # a name that cannot exist says so (400), not 404
            raise errors.NoSuchBucket(resource=f"/{name}")
        return found.bucket

    def writable(self, name: str) -> Bucket:
        bucket = self.readable(name)
        found = self.found[name]
        if found.read_only is not None:
            raise errors.AccessDenied(
                f"The bucket {name!r} is read-only: {found.read_only}.", resource=f"/{name}"
            )
        # The branch, not its head: the target stays the same while other writes commit.
        return Bucket(
            name=name,
            ref=CommitRef(repo=found.repo, id=found.branch),
            writable=True,
            created=bucket.created,
        )

    def listed(self) -> Sequence[Bucket]:
        return sorted((b.bucket for b in self.found.values()), key=lambda b: b.name)

    def create_bucket(self, name: str, resource: str) -> Plan:
        parsed = check_new_bucket_name(name)
        if name in self.found:
            raise errors.BucketAlreadyOwnedByYou(resource=resource)
        return CreateBranch(bucket=name, repo=parsed.repo, branch=parsed.branch)

    def delete_bucket(self, name: str, resource: str) -> Plan:
        self.writable(name)  # NoSuchBucket, or AccessDenied for a pinned or output bucket
        found = self.found[name]
        return DeleteBranch(bucket=name, repo=found.repo, branch=found.branch)

    def commit_writes(self, plan: Plan, description: str) -> Plan:
        """Each write that changes a bucket's files becomes one commit on the bucket's branch."""
        if not isinstance(plan, WriteFile | CopyFile | DeleteFile | DeleteFiles | ComposeParts):
            return plan
        target = write_target(plan)
        return CommitOnBranch(
            repo=target.repo, branch=target.id, description=description, write=plan
        )


def write_target(write: BranchWrite) -> CommitRef:
    """The commit (here: the branch) a write changes."""
    match write:
        case WriteFile() | DeleteFile() | DeleteFiles():
            return write.ref
        case CopyFile() | ComposeParts():
            return write.dst
