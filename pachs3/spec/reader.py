"""Decoded JSON/YAML data -> the spec model, with a ``Problem`` for each bad field.

Each problem names its field by path, the way a reader of the spec would point at it:
``input.cross[1].pfs.glob``. Only the shape of each field is checked here; the sidecar S3 rules
run afterwards, over the model (rules.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pachs3.spec.errors import Problem
from pachs3.spec.model import (
    DEFAULT_BRANCH,
    DEFAULT_PROJECT,
    EMPTY,
    CompositeInput,
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
)

__all__ = ["SpecReader"]


class SpecReader:
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
        return OtherInput(kind=kind, name=name, raw=body or EMPTY, path=sub)

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
