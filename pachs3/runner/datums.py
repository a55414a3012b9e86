"""A job's datums, as Pachyderm counts them: S3 inputs whole, a cross multiplies, a union adds.

A non-S3 input has one datum per path its glob matches (globs.py); ``list_paths`` is how the
caller lists a commit's files, so this module does no I/O of its own.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pachs3.backends.base import CommitRef
from pachs3.runner.errors import RunError
from pachs3.runner.globs import glob_matches
from pachs3.spec import CrossInput, GroupInput, Input, JoinInput, OtherInput, PfsInput, UnionInput

__all__ = ["Datum", "DatumPart", "datums_for", "unsupported_input"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DatumPart:
    """One non-S3 input's share of a datum: the matched path in that input's commit."""

    input: PfsInput
    commit: CommitRef
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Datum:
    parts: tuple[DatumPart, ...] = ()

    def id(self, buckets: Mapping[str, CommitRef] | None = None) -> str:
        """A hash of what the datum reads: each input's name, commit and path.

        S3 inputs (``buckets``: name -> pinned commit) are read whole, at path ``/``. The same
        inputs give the same id, as Pachyderm's datum ids do.
        """
        entries = [(name, ref.id, "/") for name, ref in (buckets or {}).items()]
        entries += [(part.input.name, part.commit.id, part.path) for part in self.parts]
        digest = hashlib.sha256()
        for name, commit_id, path in sorted(entries):
            digest.update(f"{name}\0{commit_id}\0{path}\0".encode())
        return digest.hexdigest()

    def describe(self) -> str:
        if not self.parts:
            return "all inputs whole"
        return ", ".join(f"{part.input.name}:{part.path}" for part in self.parts)


def datums_for(
    node: Input | None,
    commits: Mapping[str, CommitRef],
    list_paths: Callable[[CommitRef], Iterable[str]],
) -> list[Datum]:
    """The job's datums: S3 inputs count as one whole datum; cross multiplies, union adds.

    ``commits`` pins each non-S3 input (by name); ``list_paths`` lists a commit's file paths.
    """
    if node is None:
        return [Datum()]
    if isinstance(node, PfsInput):
        return _pfs_datums(node, commits, list_paths)
    if isinstance(node, CrossInput):
        product: list[Datum] = [Datum()]
        for child in node.inputs:
            child_datums = datums_for(child, commits, list_paths)
            product = [
                Datum(parts=left.parts + right.parts)
                for left, right in itertools.product(product, child_datums)
            ]
        return product
    if isinstance(node, UnionInput):
        return [d for child in node.inputs for d in datums_for(child, commits, list_paths)]
    raise RunError(unsupported_input(node))


def _pfs_datums(
    node: PfsInput,
    commits: Mapping[str, CommitRef],
    list_paths: Callable[[CommitRef], Iterable[str]],
) -> list[Datum]:
    if node.s3:
        return [Datum()]
    ref = commits[node.name]
    return [
        Datum(parts=(DatumPart(input=node, commit=ref, path=path),))
        for path in glob_matches(list_paths(ref), node.glob)
    ]


def unsupported_input(node: JoinInput | GroupInput | OtherInput) -> str:
    """Why ``pachs3 run`` refuses ``node`` (a RunError message)."""
    kind = node.kind if isinstance(node, OtherInput) else node.path.rsplit(".", 1)[-1]
    return (
        f"{node.path}: pachs3 run does not run {kind} inputs (it runs pfs, cross and union "
        "inputs); run this pipeline on Pachyderm, or restructure the input"
    )
