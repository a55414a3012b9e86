"""Spec text -> a validated ``PipelineSpec``: decode JSON or YAML, read the fields, run the rules.

Loading collects *every* problem (syntax, missing or mistyped fields, then the S3 rules) before
raising, so one SpecError tells the user everything to fix at once.
"""

from __future__ import annotations

import json
from typing import Literal

import yaml

from pachs3.spec.errors import Problem, SpecError
from pachs3.spec.model import PipelineSpec
from pachs3.spec.reader import SpecReader
from pachs3.spec.rules import validate_spec

__all__ = ["load_spec", "parse_spec"]


def load_spec(
    text: str, *, format: Literal["json", "yaml", "auto"] = "auto", source: str = ""
) -> PipelineSpec:
    """Parse and validate one pipeline spec; SpecError lists every problem found.

    ``format="auto"`` picks by the ``source`` name's suffix (``.json``, ``.yaml``/``.yml``),
    else JSON when the text starts with ``{`` and YAML otherwise. JSON is parsed as JSON (not as
    YAML, which would accept it too) so that syntax errors carry JSON's line and column.
    """
    if format == "auto":
        format = _guess_format(text, source)
    data = _parse_json(text, source) if format == "json" else _parse_yaml(text, source)
    return parse_spec(data, source=source)


def _guess_format(text: str, source: str) -> Literal["json", "yaml"]:
    lowered = source.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if text.lstrip().startswith("{") else "yaml"


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
    reader = SpecReader()
    spec = reader.spec(data)
    problems = reader.problems
    if spec is not None:
        problems += validate_spec(spec)
    if problems or spec is None:
        raise SpecError(problems, source=source)
    return spec
