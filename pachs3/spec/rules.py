"""The sidecar S3 rules (DESIGN.md §6), checked over a spec the reader could build.

They mirror Pachyderm's own validation (``validateInput`` and pipeline request validation in
``src/server/pps/server/api_server.go``), plus what a *bucket* name needs:

- an S3 input must use glob ``"/"`` (the gateway serves whole commits), and not ``lazy`` or
  ``empty_files`` (those shape the ``/pfs`` files, which S3 inputs do not get);
- no S3 input inside ``join``, ``group`` or ``union`` (a ``cross`` is fine, and its other
  members keep their globs);
- ``s3_out`` not with ``service`` or ``spout``, and not with ``enable_stats: true``;
- input names unique (members of one ``union`` may share a name, as in Pachyderm), no input
  named ``out`` (it is the output bucket with ``s3_out``, and ``/pfs/out`` without);
- an S3 input's name is its bucket name, so it must be a valid S3 bucket name. Pachyderm repo
  names allow ``_`` and upper case, which strict clients (Spark S3A, minio, Java SDK) reject;
  the input ``name`` is free, so the fix is to set ``input.pfs.name``, not to rename the repo.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeAlias

from pachs3.spec.errors import Problem
from pachs3.spec.model import (
    OUTPUT_BUCKET,
    CrossInput,
    GroupInput,
    Input,
    JoinInput,
    OtherInput,
    PfsInput,
    PipelineSpec,
    UnionInput,
    iter_inputs,
)

__all__ = ["bucket_name_problem", "validate_spec"]


def validate_spec(spec: PipelineSpec) -> list[Problem]:
    """The sidecar S3 rules; an empty list means the spec can run with the gateway."""
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(path=path, message=message))

    for node in iter_inputs(spec.input):
        if isinstance(node, PfsInput) and node.s3:
            _s3_input_rules(node, add)
    _no_s3_under(spec.input, add)
    if spec.s3_out:
        _output_rules(spec, add)
    _unique_names(spec.input, {}, add)
    _no_input_named_out(spec, add)
    return problems


_Add: TypeAlias = Callable[[str, str], None]


def _s3_input_rules(node: PfsInput, add: _Add) -> None:
    if node.glob and node.glob != "/":
        add(
            f"{node.path}.glob",
            f'S3 inputs must use "glob": "/" (got {json.dumps(node.glob)}): the bucket serves '
            f'the whole commit as one datum; set "glob": "/", or set "s3": false to get the '
            f"files as datums under /pfs/{node.name}",
        )
    for flag in ("lazy", "empty_files"):
        if getattr(node, flag):
            add(
                f"{node.path}.{flag}",
                f"cannot be combined with s3: {flag} shapes the /pfs files, and an S3 input is "
                f"read through its bucket instead; remove {flag} or set s3 to false",
            )
    reason = bucket_name_problem(node.name) if node.name and node.name != OUTPUT_BUCKET else ""
    if reason:
        where = f"{node.path}.name"
        suggestion = _suggest_bucket_name(node.name)
        hint = f' such as "{suggestion}"' if suggestion else ""
        add(
            where,
            f"{node.name!r} is not a valid S3 bucket name ({reason}); an S3 input's name is its "
            f"bucket name, so set {where} to a valid bucket name{hint} (the repo keeps its name)",
        )


def _no_s3_under(node: Input | None, add: _Add) -> None:
    if isinstance(node, JoinInput | GroupInput | UnionInput):
        kind = node.path.rsplit(".", 1)[-1]
        for inner in iter_inputs(node):
            if isinstance(inner, PfsInput) and inner.s3:
                add(
                    f"{inner.path}.s3",
                    f"S3 inputs are not supported inside a {kind} ({node.path}): a bucket is the "
                    f"whole commit, not datums to {kind}; use a cross, or set s3 to false",
                )
    elif isinstance(node, CrossInput):
        for child in node.inputs:
            _no_s3_under(child, add)


def _output_rules(spec: PipelineSpec, add: _Add) -> None:
    for kind, value in (("service", spec.service), ("spout", spec.spout)):
        if value is not None:
            add(
                "s3_out",
                f'S3 output is not supported for a {kind} pipeline ("{kind}" is set): a {kind} '
                f"has no job whose output commit the out bucket could be; remove s3_out and "
                f"write to /pfs/out, or remove {kind}",
            )
    if spec.enable_stats:
        add(
            "enable_stats",
            "statistics are not collected for S3 output (s3_out is true); set enable_stats to "
            "false or remove it",
        )


def _unique_names(node: Input | None, seen: dict[str, str], add: _Add) -> None:
    """Pachyderm's ``validateNames``: unique across the tree; union members may share one."""
    if node is None:
        return
    if isinstance(node, PfsInput | OtherInput):
        if node.name in seen:
            where = f"{node.path}.name"
            add(
                where,
                f"input name {node.name!r} is already used by {seen[node.name]}; names must be "
                f"unique (they name the bucket or /pfs directory), so set {where}",
            )
        elif node.name:
            seen[node.name] = node.path
        return
    if isinstance(node, UnionInput):
        merged: dict[str, str] = {}
        for child in node.inputs:
            branch = dict(seen)
            _unique_names(child, branch, add)
            merged.update(branch)
        seen.update(merged)
        return
    for child in node.inputs:
        _unique_names(child, seen, add)


def _no_input_named_out(spec: PipelineSpec, add: _Add) -> None:
    # Pachyderm refuses "out" for every input (validateName); with s3_out it would also shadow
    # the output bucket.
    for node in iter_inputs(spec.input):
        if isinstance(node, PfsInput | OtherInput) and node.name == OUTPUT_BUCKET:
            where = f"{node.path}.name"
            reason = (
                "the output bucket is named out (s3_out is true)"
                if spec.s3_out
                else "/pfs/out is the output directory"
            )
            add(where, f'an input cannot be named "out": {reason}; set {where} to another name')


_BUCKET_CHARS = re.compile(r"[a-z0-9.-]+")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")


def bucket_name_problem(name: str) -> str:
    """Why ``name`` is not a valid S3 bucket name (AWS's general-purpose rules), or ""."""
    if not 3 <= len(name) <= 63:
        return f"it has {len(name)} characters, a bucket name has 3 to 63"
    if not _BUCKET_CHARS.fullmatch(name):
        bad = sorted({c for c in name if not ("a" <= c <= "z" or "0" <= c <= "9" or c in ".-")})
        shown = " ".join(repr(c) for c in bad)
        return f"it contains {shown}; only lowercase letters, digits, '.' and '-' are allowed"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "it must begin and end with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "it has '..', '.-' or '-.'"
    if _IP_LIKE.fullmatch(name):
        return "it looks like an IP address"
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        return "it uses a prefix or suffix reserved by AWS"
    return ""


def _suggest_bucket_name(name: str) -> str:
    candidate = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip(".-")
    candidate = re.sub(r"-{2,}", "-", candidate)[:63].strip(".-")
    if len(candidate) < 3:
        candidate = f"{candidate}-input".strip("-")
    return candidate if not bucket_name_problem(candidate) else ""
