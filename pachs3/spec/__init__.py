"""Pachyderm pipeline specs: typed model, loading from JSON or YAML text, sidecar validation.

Pure: this package parses the text it is given and never opens files, sockets or clocks.

    spec = load_spec(text, source="pipeline.json")   # SpecError (a ValueError) on any problem
    layout = bucket_layout(spec)                      # which buckets the sidecar gateway serves

One module per step, each importable on its own; every public name is re-exported here:

- ``model``: the frozen value types (``PipelineSpec``, ``PfsInput``, the composites ...);
- ``parse``: text -> decoded data (JSON or YAML) -> ``reader`` -> ``rules`` -> a spec;
- ``reader``: decoded data -> the model, a ``Problem`` per bad field;
- ``rules``: the sidecar S3 rules of DESIGN.md §6, and what a bucket name needs;
- ``buckets``: which buckets and ``/pfs`` inputs a job of the spec gets;
- ``errors``: ``Problem`` and ``SpecError``.
"""

from pachs3.spec.buckets import BucketLayout, FileInput, InputBucket, bucket_layout
from pachs3.spec.errors import Problem, SpecError

# Importable from here as before, though not part of ``__all__`` (``X as X``: an explicit
# re-export for mypy).
from pachs3.spec.model import DEFAULT_BRANCH as DEFAULT_BRANCH
from pachs3.spec.model import DEFAULT_PROJECT as DEFAULT_PROJECT
from pachs3.spec.model import OUTPUT_BUCKET as OUTPUT_BUCKET
from pachs3.spec.model import CompositeInput as CompositeInput
from pachs3.spec.model import (
    CrossInput,
    GroupInput,
    Input,
    JoinInput,
    OtherInput,
    PfsInput,
    Pipeline,
    PipelineSpec,
    Transform,
    UnionInput,
    iter_inputs,
)
from pachs3.spec.parse import load_spec, parse_spec
from pachs3.spec.rules import bucket_name_problem, validate_spec

__all__ = [
    "BucketLayout",
    "CrossInput",
    "FileInput",
    "GroupInput",
    "Input",
    "InputBucket",
    "JoinInput",
    "OtherInput",
    "PfsInput",
    "Pipeline",
    "PipelineSpec",
    "Problem",
    "SpecError",
    "Transform",
    "UnionInput",
    "bucket_layout",
    "bucket_name_problem",
    "iter_inputs",
    "load_spec",
    "parse_spec",
    "validate_spec",
]
