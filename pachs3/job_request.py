"""``JobRequest``: what one job asks of its gateway, spelled once.

The runner builds it and hands it to the gateway factory; ``SidecarGateway`` begins it on
``__enter__`` (or ``begin_job``). Its fields are the only place the job's parameters are named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pachs3.backends.base import CommitRef
from pachs3.defaults import DEFAULT_BRANCH

__all__ = ["JobRequest"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequest:
    """A job's buckets and output commit, as the gateway begins it."""

    inputs: Mapping[str, str | CommitRef] = field(default_factory=dict)
    """Bucket name -> ``repo@branch`` (or ``repo``, its default branch) or a commit, pinned
    when the job begins."""
    output: str | None = None
    """The output repo (its commit is the ``out`` bucket); None: a job with inputs only."""
    output_branch: str = DEFAULT_BRANCH
    job_id: str | None = None
    """None: the output commit's id (or a random one without an output)."""
    description: str = ""
    """The output commit's description."""
    provenance: tuple[CommitRef, ...] = ()
    """Commits of the job's inputs that are not buckets (a non-S3 input crossed with an S3
    one): the output commit derives from them too."""
