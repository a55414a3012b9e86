"""Which buckets and which ``/pfs`` inputs a job of a spec gets: ``bucket_layout(spec)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from pachs3.spec.model import OUTPUT_BUCKET, PfsInput, PipelineSpec, iter_inputs

__all__ = ["BucketLayout", "FileInput", "InputBucket", "bucket_layout"]

# A layout entry is the spec's own ``PfsInput``: a bucket and a file input differ only in ``s3``
# (and a bucket's glob is always "/"), so separate copies of the same fields would only drift.
# The two names stay for code that annotates with them.
InputBucket: TypeAlias = PfsInput
"""An S3 input: a read-only bucket, pinned at job start to its ``ref``."""
FileInput: TypeAlias = PfsInput
"""A non-S3 input: its files appear under ``/pfs/<name>``, one datum per glob match."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketLayout:
    buckets: tuple[PfsInput, ...]
    """The S3 inputs, served as read-only buckets, in document order."""
    output: bool
    """True when ``s3_out``: the job's output commit is served as the bucket ``out``."""
    files: tuple[PfsInput, ...]
    """The non-S3 inputs (members of a cross with the buckets, or a plain pipeline's inputs)."""

    @property
    def bucket_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.buckets) + ((OUTPUT_BUCKET,) if self.output else ())


def bucket_layout(spec: PipelineSpec) -> BucketLayout:
    """Which buckets and which /pfs inputs a job of ``spec`` gets (call on a validated spec)."""
    pfs_inputs = [node for node in iter_inputs(spec.input) if isinstance(node, PfsInput)]
    return BucketLayout(
        buckets=tuple(node for node in pfs_inputs if node.s3),
        output=spec.s3_out,
        files=tuple(node for node in pfs_inputs if not node.s3),
    )
