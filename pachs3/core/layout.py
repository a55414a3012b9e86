"""Bucket policy: which bucket names exist, what each one is, and what a request may do to it.

``Layout`` is what the planner asks; two policies implement it over the one core:

- ``SidecarLayout`` (here): one job's buckets. Each input name maps to its pinned, read-only
  commit and ``out`` to the job's open output commit. The gateway swaps whole layouts atomically
  between jobs; planning reads one snapshot per request, so a request never sees half of two jobs.
- ``GlobalLayout`` (``core/global_layout.py``): every branch of every repo, as Pachyderm's global
  gateway names them; a snapshot of the buckets one request names, resolved against the store
  just before planning.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal, Protocol

from pachs3.core import errors
from pachs3.core.multipart import STAGING_REPO as STAGING_REPO  # re-exported: cli.py hides it
from pachs3.core.plans import Answer, Plan
from pachs3.core.refs import CommitRef

OUTPUT_BUCKET = "out"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    name: str
    ref: CommitRef
    """What the bucket's reads see; for ``writable`` a write target the plans name."""
    writable: bool
    created: datetime
    history: Literal["ancestry", "own"] = "ancestry"
    """Which commits answer as versions of its objects (``core/versions.py``): ``ref`` and its
    ancestors, or ``ref`` alone (a job's ``out``)."""


class Layout(Protocol):
    """What the planner asks of a bucket policy (all pure)."""

    @property
    def staging_repo(self) -> str: ...

    @property
    def host_buckets(self) -> Collection[str]:
        """Names a virtual-host ``Host`` header may carry as its first label."""
        ...

    def readable(self, name: str) -> Bucket:
        """The bucket reads of ``name`` see; NoSuchBucket if there is none."""
        ...

    def writable(self, name: str) -> Bucket:
        """The bucket writes to ``name`` go to; AccessDenied if it is read-only."""
        ...

    def listed(self) -> Sequence[Bucket]:
        """What ListBuckets shows, in name order."""
        ...

    def create_bucket(self, name: str, resource: str) -> Plan: ...

    def delete_bucket(self, name: str, resource: str) -> Plan: ...

    def commit_writes(self, plan: Plan, description: str) -> Plan:
        """``plan`` as this policy carries writes out (the global gateway commits each one)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SidecarLayout:
    buckets: Mapping[str, Bucket] = field(default_factory=lambda: MappingProxyType({}))
    staging_repo: str = STAGING_REPO

    @classmethod
    def of(cls, buckets: list[Bucket], *, staging_repo: str = STAGING_REPO) -> SidecarLayout:
        return cls(
            buckets=MappingProxyType({b.name: b for b in buckets}), staging_repo=staging_repo
        )

    @property
    def host_buckets(self) -> Collection[str]:
        return self.buckets.keys()

    def readable(self, name: str) -> Bucket:
        """Any mapped bucket can be read: inputs, and ``out`` (read-your-writes)."""
        bucket = self.buckets.get(name)
        if bucket is None:
            raise errors.NoSuchBucket(resource=f"/{name}")
        return bucket

    def writable(self, name: str) -> Bucket:
        """Only ``out`` takes writes; an input bucket refuses with AccessDenied (403), where
        Pachyderm's sidecar answers 501: a client's retry logic treats 403 as final."""
        bucket = self.readable(name)
        if not bucket.writable:
            raise errors.AccessDenied(
                f"The bucket {name!r} is a read-only input of this job; write to 'out'.",
                resource=f"/{name}",
            )
        return bucket

    def listed(self) -> Sequence[Bucket]:
        return sorted(self.buckets.values(), key=lambda b: b.name)

    def create_bucket(self, name: str, resource: str) -> Plan:
        """CreateBucket on a name the job already has succeeds, as us-east-1 answers for a bucket
        you own: rclone sends it before every upload (clients.md §3.17). Any other name is
        refused: a sidecar cannot add buckets to a job."""
        if name not in self.buckets:
            raise errors.AccessDenied(
                f"This gateway serves one job's buckets; {name!r} is not one of them.",
                resource=resource,
            )
        return Answer(headers=(("location", f"/{name}"),))

    def delete_bucket(self, name: str, resource: str) -> Plan:
        self.readable(name)
        raise errors.AccessDenied(
            "A job's buckets cannot be deleted through its gateway.", resource=resource
        )

    def commit_writes(self, plan: Plan, description: str) -> Plan:
        """A job's writes all go into its one open output commit."""
        return plan
