"""Pachyderm pipeline specs: typed model, loading from JSON or YAML text, sidecar validation.

Pure: this module parses the text it is given and never opens files, sockets or clocks.

    spec = load_spec(text, source="pipeline.json")   # SpecError (a ValueError) on any problem
    layout = bucket_layout(spec)                      # which buckets the sidecar gateway serves

Loading collects *every* problem (syntax, missing or mistyped fields, and the S3 rules of
DESIGN.md §6) before raising, and each ``Problem`` names its field by path, the way a reader of
the spec would point at it: ``input.cross[1].pfs.glob``. Fields this model does not know
(``parallelism_spec``, ``resource_limits`` ...) are kept in an ``extra`` mapping and otherwise
ignored, so a spec written for a Pachyderm cluster loads unchanged.

The S3 rules mirror Pachyderm's own validation (``validateInput`` and pipeline request
validation in ``src/server/pps/server/api_server.go``), plus what a *bucket* name needs:

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import yaml

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

DEFAULT_BRANCH = "master"
DEFAULT_PROJECT = "default"
OUTPUT_BUCKET = "out"

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with a spec: where (a field path, "" for the whole text) and what to do."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """A spec that cannot be used; ``problems`` has every reason: syntax and fields, then rules."""

    def __init__(self, problems: Sequence[Problem], *, source: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''}{where}"
        super().__init__("\n".join([head + ":", *(f"  {p}" for p in self.problems)]))


# --------------------------------------------------------------------------------------------
# Model


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


# --------------------------------------------------------------------------------------------
# Loading


def load_spec(
    text: str, *, format: Literal["json", "yaml", "auto"] = "auto", source: str = ""
) -> PipelineSpec:
    """Parse and validate one pipeline spec; SpecError lists every problem found.

    ``format="auto"`` picks by the ``source`` name's suffix (``.json``, ``.yaml``/``.yml``),
    else JSON when the text starts with ``{`` and YAML otherwise. JSON is parsed as JSON (not as
    YAML, which would accept it too) so that syntax errors carry JSON's line and column.
    """
    if format == "auto":
        lowered = source.lower()
        if lowered.endswith(".json"):
            format = "json"
        elif lowered.endswith((".yaml", ".yml")):
            format = "yaml"
        else:
            format = "json" if text.lstrip().startswith("{") else "yaml"
    data = _parse_json(text, source) if format == "json" else _parse_yaml(text, source)
    return parse_spec(data, source=source)


def _parse_json(text: str, source: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise SpecError([Problem(path="", message=msg)], source=source) from None


def _parse_yaml(text: str, source: str) -> object:
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "syntax error"
        raise SpecError(
            [Problem(path="", message=f"invalid YAML{where}: {what}")], source=source
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(path="", message=f"invalid YAML: {exc}")], source=source) from None
    if len(docs) != 1:
        msg = f"expected exactly one pipeline spec, found {len(docs)} YAML documents"
        raise SpecError([Problem(path="", message=msg)], source=source)
    return docs[0]


def parse_spec(data: object, *, source: str = "") -> PipelineSpec:
    """Build and validate a spec from already-decoded JSON/YAML data."""
    reader = _Reader()
    spec = reader.spec(data)
    problems = reader.problems
    if spec is not None:
        problems += validate_spec(spec)
    if problems or spec is None:
        raise SpecError(problems, source=source)
    return spec


class _Reader:
    """Turns decoded data into the model, recording a Problem for each bad field.

    Reading never stops at the first problem: a bad field is recorded and replaced by its
    default, so the rules can still run over the rest and the user sees everything at once.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path=path, message=message))

    # -- typed field readers --------------------------------------------------------------

    def mapping(self, value: object, path: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            return value
        self.problem(path, f"must be an object (a mapping of field names), got {_describe(value)}")
        return None

    def string(
        self, obj: Mapping[str, Any], key: str, path: str, *, required: str = "", default: str = ""
    ) -> str:
        value = obj.get(key)
        if value is None:
            if required:
                self.problem(_join(path, key), f"is required: {required}")
            return default
        if not isinstance(value, str):
            self.problem(_join(path, key), f"must be a string, got {_describe(value)}")
            return default
        if required and not value:
            self.problem(_join(path, key), f"must not be empty: {required}")
        return value

    def boolean(self, obj: Mapping[str, Any], key: str, path: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(_join(path, key), f"must be true or false, got {_describe(value)}")
            return False
        return value

    def strings(
        self, obj: Mapping[str, Any], key: str, path: str, *, example: str
    ) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.problem(
            _join(path, key), f"must be a list of strings such as {example}, got {_describe(value)}"
        )
        return ()

    def optional_mapping(
        self, obj: Mapping[str, Any], key: str, path: str
    ) -> Mapping[str, Any] | None:
        value = obj.get(key)
        return None if value is None else self.mapping(value, _join(path, key))

    # -- sections -------------------------------------------------------------------------

    def spec(self, data: object) -> PipelineSpec | None:
        top = self.mapping(data, "")
        if top is None:
            self.problems[-1] = Problem(
                path="", message=f"a pipeline spec must be an object, got {_describe(data)}"
            )
            return None
        pipeline = self.pipeline(top)
        spout = self.optional_mapping(top, "spout", "")
        raw_input = top.get("input")
        node: Input | None = None
        if raw_input is None:
            if spout is None:
                self.problem(
                    "input", 'is required (for example {"pfs": {"repo": ..., "glob": "/"}})'
                )
        else:
            node = self.input(raw_input, "input")
        known = {
            "pipeline",
            "input",
            "transform",
            "s3_out",
            "enable_stats",
            "service",
            "spout",
            "output_branch",
            "description",
        }
        return PipelineSpec(
            pipeline=pipeline,
            input=node,
            transform=self.transform(top.get("transform")),
            s3_out=self.boolean(top, "s3_out", ""),
            enable_stats=self.boolean(top, "enable_stats", ""),
            service=self.optional_mapping(top, "service", ""),
            spout=spout,
            output_branch=self.string(top, "output_branch", "", default=DEFAULT_BRANCH)
            or DEFAULT_BRANCH,
            description=self.string(top, "description", ""),
            extra=_extra(top, known),
        )

    def pipeline(self, top: Mapping[str, Any]) -> Pipeline:
        raw = top.get("pipeline")
        if raw is None:
            self.problem("pipeline", 'is required: {"name": "<pipeline name>"}')
            return Pipeline(name="")
        obj = self.mapping(raw, "pipeline")
        if obj is None:
            return Pipeline(name="")
        name = self.string(obj, "name", "pipeline", required="the pipeline (and output repo) name")
        if name and not _PFS_NAME.fullmatch(name):
            self.problem("pipeline.name", _pfs_name_message(name, "pipeline"))
        project = DEFAULT_PROJECT
        raw_project = obj.get("project")
        if isinstance(raw_project, Mapping):  # Pachyderm 2.x: {"project": {"name": "..."}}
            project = self.string(raw_project, "name", "pipeline.project") or DEFAULT_PROJECT
        elif raw_project is not None:
            project = self.string(obj, "project", "pipeline") or DEFAULT_PROJECT
        return Pipeline(name=name, project=project)

    def transform(self, raw: object) -> Transform:
        if raw is None:
            self.problem("transform", 'is required: {"cmd": ["sh"], "stdin": [...]}')
            return Transform(cmd=())
        obj = self.mapping(raw, "transform")
        if obj is None:
            return Transform(cmd=())
        cmd = self.strings(obj, "cmd", "transform", example='["python3", "main.py"]')
        if not cmd and "cmd" not in obj:
            self.problem(
                "transform.cmd",
                "is required: pachs3 runs the command on this machine and cannot use the "
                'image\'s entrypoint; set it, e.g. ["sh"]',
            )
        elif not cmd and isinstance(obj.get("cmd"), list):
            self.problem("transform.cmd", 'must not be empty; set it, e.g. ["sh"]')
        env: dict[str, str] = {}
        raw_env = self.optional_mapping(obj, "env", "transform")
        for key, value in (raw_env or {}).items():
            if isinstance(value, str):
                env[key] = value
            else:
                self.problem(
                    f"transform.env.{key}",
                    f"must be a string (quote it), got {_describe(value)}",
                )
        known = {"cmd", "stdin", "env", "image", "working_dir"}
        return Transform(
            cmd=cmd,
            stdin=self.strings(obj, "stdin", "transform", example='["echo hello"]'),
            env=MappingProxyType(env),
            image=self.string(obj, "image", "transform"),
            working_dir=self.string(obj, "working_dir", "transform"),
            extra=_extra(obj, known),
        )

    def input(self, raw: object, path: str) -> Input | None:
        obj = self.mapping(raw, path)
        if obj is None:
            return None
        kinds = [key for key in obj if obj[key] is not None]
        if len(kinds) != 1:
            what = "none" if not kinds else ", ".join(kinds)
            self.problem(
                path,
                f"must set exactly one of pfs, cross, join, group, union (or another input kind), "
                f"found {what}",
            )
            return None
        kind = kinds[0]
        sub = f"{path}.{kind}"
        if kind == "pfs":
            return self.pfs(obj[kind], sub)
        if kind in _COMPOSITES:
            members = obj[kind]
            if not isinstance(members, list) or not members:
                self.problem(sub, f"must be a non-empty list of inputs, got {_describe(members)}")
                return None
            children = [self.input(m, f"{sub}[{i}]") for i, m in enumerate(members)]
            inputs = tuple(child for child in children if child is not None)
            return _COMPOSITES[kind](inputs=inputs, path=sub)
        body = self.mapping(obj[kind], sub)
        name = ""
        if body is not None and isinstance(body.get("name"), str):
            name = body["name"]
        return OtherInput(kind=kind, name=name, raw=body or _EMPTY, path=sub)

    def pfs(self, raw: object, path: str) -> PfsInput | None:
        obj = self.mapping(raw, path)
        if obj is None:
            return None
        repo = self.string(obj, "repo", path, required="the repo this input reads")
        if repo and not _PFS_NAME.fullmatch(repo):
            self.problem(f"{path}.repo", _pfs_name_message(repo, "repo"))
        s3 = self.boolean(obj, "s3", path)
        glob = obj.get("glob")
        if glob is None:
            hint = 'S3 inputs use "glob": "/"' if s3 else 'e.g. "/" for one datum or "/*"'
            self.problem(f"{path}.glob", f"is required: {hint}")
        glob_text = self.string(obj, "glob", path)
        known = {"name", "repo", "branch", "glob", "s3", "lazy", "empty_files", "project", "commit"}
        commit = self.string(obj, "commit", path) or None
        return PfsInput(
            name=self.string(obj, "name", path) or repo,
            repo=repo,
            branch=self.string(obj, "branch", path) or DEFAULT_BRANCH,
            glob=glob_text,
            s3=s3,
            lazy=self.boolean(obj, "lazy", path),
            empty_files=self.boolean(obj, "empty_files", path),
            project=self.string(obj, "project", path) or DEFAULT_PROJECT,
            commit=commit,
            path=path,
            extra=_extra(obj, known),
        )


_COMPOSITES: dict[str, type[CompositeInput]] = {
    "cross": CrossInput,
    "join": JoinInput,
    "group": GroupInput,
    "union": UnionInput,
}

# PFS names (repos, branches, pipelines): ancestry.go's ValidateName.
_PFS_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _pfs_name_message(name: str, what: str) -> str:
    return (
        f"{name!r} is not a valid {what} name: use only letters, digits, '_' and '-' "
        f"(Pachyderm's rule for repo and pipeline names)"
    )


def _extra(obj: Mapping[str, Any], known: set[str]) -> Mapping[str, Any]:
    return MappingProxyType({k: v for k, v in obj.items() if k not in known})


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# Rules (DESIGN.md §6)


def iter_inputs(node: Input | None) -> Iterator[Input]:
    """Every input node, depth first, parents before children, in document order."""
    if node is None:
        return
    yield node
    if isinstance(node, CrossInput | JoinInput | GroupInput | UnionInput):
        for child in node.inputs:
            yield from iter_inputs(child)


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
    for node in iter_inputs(spec.input):
        if isinstance(node, PfsInput | OtherInput) and node.name == OUTPUT_BUCKET:
            # Pachyderm refuses "out" for every input (validateName); with s3_out it would also
            # shadow the output bucket.
            where = f"{node.path}.name"
            reason = (
                "the output bucket is named out (s3_out is true)"
                if spec.s3_out
                else "/pfs/out is the output directory"
            )
            add(where, f'an input cannot be named "out": {reason}; set {where} to another name')
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


# --------------------------------------------------------------------------------------------
# Bucket layout


@dataclass(frozen=True, slots=True, kw_only=True)
class InputBucket:
    """A read-only bucket: an S3 input, pinned at job start to ``repo@commit or branch``."""

    name: str
    repo: str
    branch: str
    commit: str | None = None
    project: str = DEFAULT_PROJECT
    path: str = "input.pfs"

    @property
    def ref(self) -> str:
        """``repo@commit`` when pinned, else ``repo@branch``: what the gateway resolves."""
        return f"{self.repo}@{self.commit or self.branch}"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInput:
    """A non-S3 input: its files appear under ``/pfs/<name>``, one datum per glob match."""

    name: str
    repo: str
    branch: str
    glob: str
    commit: str | None = None
    project: str = DEFAULT_PROJECT
    path: str = "input.pfs"

    @property
    def ref(self) -> str:
        return f"{self.repo}@{self.commit or self.branch}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketLayout:
    buckets: tuple[InputBucket, ...]
    """The input buckets, in document order."""
    output: bool
    """True when ``s3_out``: the job's output commit is served as the bucket ``out``."""
    files: tuple[FileInput, ...]
    """The non-S3 inputs (members of a cross with the buckets, or a plain pipeline's inputs)."""

    @property
    def bucket_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.buckets) + ((OUTPUT_BUCKET,) if self.output else ())


def bucket_layout(spec: PipelineSpec) -> BucketLayout:
    """Which buckets and which /pfs inputs a job of ``spec`` gets (call on a validated spec)."""
    buckets: list[InputBucket] = []
    files: list[FileInput] = []
    for node in iter_inputs(spec.input):
        if not isinstance(node, PfsInput):
            continue
        if node.s3:
            buckets.append(
                InputBucket(
                    name=node.name,
                    repo=node.repo,
                    branch=node.branch,
                    commit=node.commit,
                    project=node.project,
                    path=node.path,
                )
            )
        else:
            files.append(
                FileInput(
                    name=node.name,
                    repo=node.repo,
                    branch=node.branch,
                    glob=node.glob,
                    commit=node.commit,
                    project=node.project,
                    path=node.path,
                )
            )
    return BucketLayout(buckets=tuple(buckets), output=spec.s3_out, files=tuple(files))
