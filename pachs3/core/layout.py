"""The sidecar's bucket layout: which bucket names exist and what each one is, as a value.

A job's layout maps each input name to its pinned, read-only commit and ``out`` to the job's
open output commit. The gateway swaps whole layouts atomically between jobs; pure planning
reads one snapshot per request, so a request never sees half of two jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from pachs3.core import errors
from pachs3.core.multipart import STAGING_REPO as STAGING_REPO  # re-exported: cli.py hides it
from pachs3.core.refs import CommitRef

OUTPUT_BUCKET = "out"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    name: str
    ref: CommitRef
    writable: bool
    created: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    buckets: Mapping[str, Bucket] = field(default_factory=lambda: MappingProxyType({}))
    staging_repo: str = STAGING_REPO

    @classmethod
    def of(cls, buckets: list[Bucket], *, staging_repo: str = STAGING_REPO) -> Layout:
        return cls(
            buckets=MappingProxyType({b.name: b for b in buckets}), staging_repo=staging_repo
        )

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
