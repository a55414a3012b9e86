"""The pipeline spec as frozen values: what ``load_spec`` returns and the rules inspect.

Fields this model does not know (``parallelism_spec``, ``resource_limits`` ...) are kept in an
``extra`` mapping and otherwise ignored, so a spec written for a Pachyderm cluster loads
unchanged; ``PipelineSpec.ignored_fields`` lists them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from pachs3.defaults import DEFAULT_BRANCH as DEFAULT_BRANCH
from pachs3.defaults import DEFAULT_PROJECT as DEFAULT_PROJECT

OUTPUT_BUCKET = "out"

EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return EMPTY


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    name: str
    project: str = DEFAULT_PROJECT


@dataclass(frozen=True, slots=True, kw_only=True)
class PfsInput:
    """``input.pfs``: one repo's commit, as files under ``/pfs/<name>`` or (``s3``) a bucket."""

    name: str
    """Defaults to the repo; with ``s3`` it is the bucket name."""
    repo: str
    branch: str = DEFAULT_BRANCH
    glob: str = ""
    s3: bool = False
    lazy: bool = False
    empty_files: bool = False
    project: str = DEFAULT_PROJECT
    commit: str | None = None
    """Pins the input to one commit instead of the branch head."""
    path: str = "input.pfs"
    """Where this input sits in the spec, for messages."""
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def ref(self) -> str:
        """``repo@commit`` when pinned, else ``repo@branch``: what a job resolves at its start."""
        return f"{self.repo}@{self.commit or self.branch}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossInput:
    inputs: tuple[Input, ...]
    path: str = "input.cross"


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinInput:
    inputs: tuple[Input, ...]
    path: str = "input.join"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupInput:
    inputs: tuple[Input, ...]
    path: str = "input.group"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnionInput:
    inputs: tuple[Input, ...]
    path: str = "input.union"


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherInput:
    """An input kind this model does not interpret (``cron``, ``git`` ...), kept verbatim."""

    kind: str
    name: str
    raw: Mapping[str, Any]
    path: str = "input"


Input: TypeAlias = PfsInput | CrossInput | JoinInput | GroupInput | UnionInput | OtherInput
CompositeInput: TypeAlias = CrossInput | JoinInput | GroupInput | UnionInput


@dataclass(frozen=True, slots=True, kw_only=True)
class Transform:
    """What runs. ``image`` is recorded, not run: pachs3 runs ``cmd`` on this machine."""

    cmd: tuple[str, ...]
    stdin: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=_empty)
    image: str = ""
    working_dir: str = ""
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSpec:
    pipeline: Pipeline
    input: Input | None
    """None only for a spout (which has no input)."""
    transform: Transform
    s3_out: bool = False
    enable_stats: bool = False
    service: Mapping[str, Any] | None = None
    spout: Mapping[str, Any] | None = None
    output_branch: str = DEFAULT_BRANCH
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=_empty)

    def ignored_fields(self) -> tuple[str, ...]:
        """Paths of every field kept in an ``extra`` mapping (known to Pachyderm, unused here)."""
        found = [f"{key}" for key in self.extra]
        found += [f"transform.{key}" for key in self.transform.extra]
        for node in iter_inputs(self.input):
            if isinstance(node, PfsInput):
                found += [f"{node.path}.{key}" for key in node.extra]
        return tuple(found)


def iter_inputs(node: Input | None) -> Iterator[Input]:
    """Every input node, depth first, parents before children, in document order."""
    if node is None:
        return
    yield node
    if isinstance(node, CrossInput | JoinInput | GroupInput | UnionInput):
        for child in node.inputs:
            yield from iter_inputs(child)
