"""Pipeline spec loading and the sidecar S3 rules (DESIGN.md §6): each rule passes and fails."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pachs3.spec import (
    CrossInput,
    OtherInput,
    PfsInput,
    Problem,
    SpecError,
    UnionInput,
    bucket_layout,
    bucket_name_problem,
    load_spec,
    parse_spec,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def pfs(repo: str, glob: str = "/", **fields: Any) -> dict[str, Any]:
    return {"pfs": {"repo": repo, "glob": glob, **fields}}


def spec_with(input_: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "pipeline": {"name": "p"},
        "transform": {"cmd": ["sh"]},
        "input": input_ if input_ is not None else pfs("labresults", s3=True),
    }
    data.update(top)
    return data


def problems_of(data: object) -> tuple[Problem, ...]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return info.value.problems


def paths_of(data: object) -> list[str]:
    return [problem.path for problem in problems_of(data)]


def only_problem(data: object) -> Problem:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


# ---------------------------------------------------------------------------------------------
# The seed example


def test_seed_example_loads_as_written() -> None:
    path = EXAMPLES / "s3_protocol_enabled_pipeline" / "pipeline.json"
    spec = load_spec(path.read_text(), source=str(path))
    assert spec.pipeline.name == "s3_protocol_enabled_pipeline"
    assert spec.s3_out is True
    assert spec.transform.cmd == ("sh",)
    assert spec.transform.image == "pachyderm/ubuntu-with-s3-clients:v0.0.1"
    assert "aws --endpoint-url $S3_ENDPOINT s3 ls" in spec.transform.stdin[0]
    assert spec.input == PfsInput(name="labresults", repo="labresults", glob="/", s3=True)
    layout = bucket_layout(spec)
    assert layout.bucket_names == ("labresults", "out")
    assert layout.buckets[0].ref == "labresults@master"
    assert layout.files == ()


# ---------------------------------------------------------------------------------------------
# Rule: an S3 input needs glob "/"


def test_s3_input_with_root_glob_passes() -> None:
    spec = parse_spec(spec_with(pfs("labresults", "/", s3=True)))
    assert spec.input == PfsInput(name="labresults", repo="labresults", glob="/", s3=True)
    assert bucket_layout(spec).bucket_names == ("labresults",)


def test_s3_input_with_other_glob_fails_naming_the_glob() -> None:
    problem = only_problem(spec_with(pfs("labresults", "/*", s3=True)))
    assert problem.path == "input.pfs.glob"
    assert '"glob": "/"' in problem.message
    assert '"/*"' in problem.message


def test_s3_input_glob_inside_cross_is_named_by_its_position() -> None:
    data = spec_with({"cross": [pfs("images", "/*"), pfs("labresults", "/*", s3=True)]})
    assert paths_of(data) == ["input.cross[1].pfs.glob"]


def test_s3_input_without_glob_says_to_use_root() -> None:
    data = spec_with({"pfs": {"repo": "labresults", "s3": True}})
    problem = only_problem(data)
    assert problem.path == "input.pfs.glob"
    assert 'S3 inputs use "glob": "/"' in problem.message


# ---------------------------------------------------------------------------------------------
# Rule: not with lazy or empty_files


@pytest.mark.parametrize("flag", ["lazy", "empty_files"])
def test_s3_input_with_file_flag_fails(flag: str) -> None:
    flags: dict[str, Any] = {flag: True}
    problem = only_problem(spec_with(pfs("labresults", s3=True, **flags)))
    assert problem.path == f"input.pfs.{flag}"
    assert "s3" in problem.message
    assert f"remove {flag}" in problem.message


@pytest.mark.parametrize("flag", ["lazy", "empty_files"])
def test_file_flags_pass_on_non_s3_inputs_and_when_false(flag: str) -> None:
    on: dict[str, Any] = {flag: True}
    off: dict[str, Any] = {flag: False}
    plain = parse_spec(spec_with(pfs("images", "/*", **on))).input
    assert isinstance(plain, PfsInput)
    assert (plain.s3, getattr(plain, flag)) == (False, True)
    s3 = parse_spec(spec_with(pfs("labresults", s3=True, **off))).input
    assert isinstance(s3, PfsInput)
    assert (s3.s3, getattr(s3, flag)) == (True, False)


# ---------------------------------------------------------------------------------------------
# Rule: no S3 input inside join, group or union (cross is fine)


@pytest.mark.parametrize("kind", ["join", "group", "union"])
def test_s3_input_inside_join_group_union_fails(kind: str) -> None:
    data = spec_with({kind: [pfs("images", "/*"), pfs("labresults", s3=True)]})
    problem = only_problem(data)
    assert problem.path == f"input.{kind}[1].pfs.s3"
    assert f"inside a {kind}" in problem.message
    assert "use a cross" in problem.message


@pytest.mark.parametrize("kind", ["join", "group", "union"])
def test_non_s3_inputs_inside_join_group_union_pass(kind: str) -> None:
    spec = parse_spec(spec_with({kind: [pfs("images", "/*"), pfs("masks", "/*")]}, s3_out=True))
    assert spec.s3_out
    members = getattr(spec.input, "inputs", ())
    expected = [("images", "/*", False), ("masks", "/*", False)]
    assert [(m.name, m.glob, m.s3) for m in members] == expected
    assert bucket_layout(spec).bucket_names == ("out",)


def test_s3_input_in_a_cross_passes_and_non_s3_members_keep_their_globs() -> None:
    spec = parse_spec(
        spec_with({"cross": [pfs("labresults", s3=True), pfs("images", "/*/*.png")]}, s3_out=True)
    )
    assert isinstance(spec.input, CrossInput)
    layout = bucket_layout(spec)
    assert [b.name for b in layout.buckets] == ["labresults"]
    assert [(f.name, f.glob) for f in layout.files] == [("images", "/*/*.png")]
    assert layout.files[0].path == "input.cross[1].pfs"


def test_s3_input_in_a_cross_nested_in_a_union_fails() -> None:
    data = spec_with(
        {"union": [{"cross": [pfs("labresults", s3=True), pfs("images", "/*")]}, pfs("x1x", "/*")]}
    )
    assert paths_of(data) == ["input.union[0].cross[0].pfs.s3"]


# ---------------------------------------------------------------------------------------------
# Rule: s3_out not with service or spout; not with enable_stats


@pytest.mark.parametrize("kind", ["service", "spout"])
def test_s3_out_with_service_or_spout_fails(kind: str) -> None:
    problem = only_problem(spec_with(s3_out=True, **{kind: {"type": "NodePort"}}))
    assert problem.path == "s3_out"
    assert kind in problem.message


@pytest.mark.parametrize("kind", ["service", "spout"])
def test_service_or_spout_without_s3_out_passes(kind: str) -> None:
    spec = parse_spec(spec_with(**{kind: {"type": "NodePort"}}))
    assert getattr(spec, kind) == {"type": "NodePort"}
    assert not spec.s3_out


def test_spout_needs_no_input() -> None:
    data = spec_with(spout={})
    del data["input"]
    assert parse_spec(data).input is None


def test_s3_out_with_enable_stats_fails() -> None:
    problem = only_problem(spec_with(s3_out=True, enable_stats=True))
    assert problem.path == "enable_stats"
    assert "set enable_stats to false" in problem.message


@pytest.mark.parametrize(("s3_out", "stats"), [(True, False), (False, True)])
def test_enable_stats_passes_without_s3_out_or_when_false(s3_out: bool, stats: bool) -> None:
    spec = parse_spec(spec_with(s3_out=s3_out, enable_stats=stats))
    assert (spec.s3_out, spec.enable_stats) == (s3_out, stats)


# ---------------------------------------------------------------------------------------------
# Rule: input names unique


def test_duplicate_input_names_fail_at_the_second() -> None:
    data = spec_with({"cross": [pfs("labresults", s3=True), pfs("labresults", "/*")]})
    problem = only_problem(data)
    assert problem.path == "input.cross[1].pfs.name"
    assert "input.cross[0].pfs" in problem.message


def test_same_repo_under_different_names_passes() -> None:
    spec = parse_spec(
        spec_with({"cross": [pfs("labresults", s3=True), pfs("labresults", "/*", name="rows")]})
    )
    assert isinstance(spec.input, CrossInput)
    assert [(m.name, m.repo) for m in spec.input.inputs] == [
        ("labresults", "labresults"),
        ("rows", "labresults"),
    ]


def test_union_members_may_share_a_name_but_not_with_crossed_inputs() -> None:
    shared = {"union": [pfs("a1a", "/*", name="in"), pfs("b1b", "/*", name="in")]}
    union = parse_spec(spec_with(shared)).input
    assert isinstance(union, UnionInput)
    assert [(m.name, m.repo) for m in union.inputs] == [("in", "a1a"), ("in", "b1b")]
    clash = spec_with({"cross": [shared, pfs("c1c", "/*", name="in")]})
    assert paths_of(clash) == ["input.cross[1].pfs.name"]


# ---------------------------------------------------------------------------------------------
# Rule: bucket names valid, none named out


def test_s3_input_name_that_is_not_a_bucket_name_fails_with_a_fix() -> None:
    problem = only_problem(spec_with(pfs("Lab_Results", s3=True)))
    assert problem.path == "input.pfs.name"
    assert "set input.pfs.name to a valid bucket name" in problem.message
    assert '"lab-results"' in problem.message


def test_valid_name_for_a_repo_that_is_not_a_bucket_name_passes() -> None:
    spec = parse_spec(spec_with(pfs("Lab_Results", s3=True, name="lab-results")))
    assert bucket_layout(spec).buckets[0].ref == "Lab_Results@master"


def test_non_s3_input_names_need_not_be_bucket_names() -> None:
    parse_spec(spec_with({"cross": [pfs("labresults", s3=True), pfs("My_Images", "/*")]}))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("has_underscore", "'_'"),
        ("UPPER", "'E'"),
        ("-leading", "begin and end"),
        ("trailing.", "begin and end"),
        ("a..b", "'..'"),
        ("192.168.1.1", "IP address"),
        ("xn--abc", "reserved"),
    ],
)
def test_bucket_name_rules(name: str, reason: str) -> None:
    assert reason in bucket_name_problem(name)


@pytest.mark.parametrize("name", ["abc", "lab-results", "lab.results.2024", "a" * 63, "0ab"])
def test_valid_bucket_names(name: str) -> None:
    assert bucket_name_problem(name) == ""


@pytest.mark.parametrize("s3_out", [True, False])
def test_input_named_out_fails(s3_out: bool) -> None:
    problem = only_problem(spec_with(pfs("out", s3=True), s3_out=s3_out))
    assert problem.path == "input.pfs.name"
    assert 'cannot be named "out"' in problem.message
    assert ("output bucket" in problem.message) == s3_out


def test_repo_named_out_passes_with_another_name() -> None:
    spec = parse_spec(spec_with(pfs("out", s3=True, name="previous"), s3_out=True))
    assert bucket_layout(spec).bucket_names == ("previous", "out")


# ---------------------------------------------------------------------------------------------
# Collecting every problem, with paths


def test_all_problems_are_reported_together() -> None:
    data = {
        "pipeline": {"name": "bad name"},
        "transform": {"cmd": "sh", "env": {"N": 1}},
        "input": {
            "cross": [
                pfs("Lab_Results", "/*", s3=True, lazy=True),
                {"join": [pfs("x1x", s3=True)]},
                {"pfs": {"glob": "/*"}},
            ]
        },
        "s3_out": True,
        "enable_stats": True,
    }
    paths = paths_of(data)
    assert set(paths) == {
        "pipeline.name",
        "transform.cmd",
        "transform.env.N",
        "input.cross[0].pfs.glob",
        "input.cross[0].pfs.lazy",
        "input.cross[0].pfs.name",
        "input.cross[1].join[0].pfs.s3",
        "input.cross[2].pfs.repo",
        "enable_stats",
    }
    assert len(paths) == len(set(paths))


def test_spec_error_is_a_value_error_listing_each_problem() -> None:
    with pytest.raises(ValueError, match=r"2 problems in p\.json") as info:
        load_spec(json.dumps(spec_with(pfs("ab", "/*", s3=True))), source="p.json")
    text = str(info.value)
    assert "input.pfs.glob:" in text
    assert "input.pfs.name:" in text


# ---------------------------------------------------------------------------------------------
# Text formats and syntax errors


def test_invalid_json_reports_line_and_column() -> None:
    text = '{\n  "pipeline": {"name": "p"},\n  "input": ,\n}'
    with pytest.raises(SpecError) as info:
        load_spec(text, source="pipeline.json")
    (problem,) = info.value.problems
    assert problem.path == ""
    assert problem.message.startswith("invalid JSON at line 3, column 12:")


def test_yaml_spec_loads() -> None:
    text = """
pipeline:
  name: yaml_pipeline
input:
  cross:
    - pfs: {repo: labresults, glob: /, s3: true}
    - pfs: {repo: images, glob: "/*"}
transform:
  cmd: [python3, main.py]
  env: {MODE: fast}
s3_out: true
"""
    spec = load_spec(text, source="pipeline.yaml")
    assert spec.pipeline.name == "yaml_pipeline"
    assert dict(spec.transform.env) == {"MODE": "fast"}
    assert bucket_layout(spec).bucket_names == ("labresults", "out")


def test_yaml_is_detected_without_a_suffix() -> None:
    spec = load_spec(
        "pipeline: {name: p}\ninput: {pfs: {repo: abc, glob: /}}\ntransform: {cmd: [sh]}"
    )
    assert spec.pipeline.name == "p"


def test_invalid_yaml_reports_line_and_column() -> None:
    with pytest.raises(SpecError, match=r"invalid YAML at line 2, column 10: found character"):
        load_spec("pipeline:\n  name: p\tq: [\n", source="p.yml")


def test_several_yaml_documents_are_refused() -> None:
    with pytest.raises(SpecError, match="exactly one pipeline spec, found 2"):
        load_spec("pipeline: {name: a}\n---\npipeline: {name: b}\n", format="yaml")


@pytest.mark.parametrize("data", [[], "text", 3, None])
def test_a_spec_must_be_an_object(data: object) -> None:
    problem = only_problem(data)
    assert problem.path == ""
    assert "must be an object" in problem.message


# ---------------------------------------------------------------------------------------------
# Required fields and types


@pytest.mark.parametrize(
    ("drop", "path"),
    [
        ("pipeline", "pipeline"),
        ("transform", "transform"),
        ("input", "input"),
    ],
)
def test_required_sections(drop: str, path: str) -> None:
    data = spec_with()
    del data[drop]
    problem = only_problem(data)
    assert problem.path == path
    assert "is required" in problem.message


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d["pipeline"].pop("name"), "pipeline.name", "is required"),
        (lambda d: d["transform"].pop("cmd"), "transform.cmd", "is required"),
        (lambda d: d["transform"].update(cmd=[]), "transform.cmd", "must not be empty"),
        (lambda d: d["input"]["pfs"].pop("repo"), "input.pfs.repo", "is required"),
        (lambda d: d["input"]["pfs"].update(s3="true"), "input.pfs.s3", 'the string "true"'),
        (lambda d: d["input"]["pfs"].update(glob=1), "input.pfs.glob", "must be a string"),
        (lambda d: d.update(s3_out="yes"), "s3_out", "true or false"),
        (lambda d: d["transform"].update(stdin="echo"), "transform.stdin", "list of strings"),
        (lambda d: d["transform"].update(env=["A=1"]), "transform.env", "must be an object"),
        (lambda d: d.update(input={"cross": {}}), "input.cross", "non-empty list"),
        (lambda d: d.update(input={"cross": []}), "input.cross", "non-empty list"),
        (lambda d: d.update(input={}), "input", "exactly one of"),
        (lambda d: d["input"].update(union=[]), "input", "found pfs, union"),
        (
            lambda d: d["input"].update(pfs={"repo": "a/b", "glob": "/"}),
            "input.pfs.repo",
            "repo name",
        ),
    ],
)
def test_missing_and_mistyped_fields(mutate: Any, path: str, words: str) -> None:
    data = copy.deepcopy(spec_with())
    mutate(data)
    problem = only_problem(data)
    assert problem.path == path
    assert words in problem.message


# ---------------------------------------------------------------------------------------------
# Defaults, extras, other input kinds


def test_defaults() -> None:
    spec = parse_spec(spec_with(pfs("labresults")))
    assert spec.input == PfsInput(name="labresults", repo="labresults", glob="/")
    assert isinstance(spec.input, PfsInput)
    assert (spec.input.branch, spec.input.project, spec.input.commit) == ("master", "default", None)
    assert (spec.output_branch, spec.s3_out, spec.enable_stats) == ("master", False, False)
    assert spec.pipeline.project == "default"


def test_pinned_commit_and_branch_reach_the_layout() -> None:
    spec = parse_spec(spec_with(pfs("labresults", s3=True, branch="dev", commit="abc123")))
    bucket = bucket_layout(spec).buckets[0]
    assert (bucket.branch, bucket.commit, bucket.ref) == ("dev", "abc123", "labresults@abc123")


def test_project_object_form() -> None:
    data = spec_with()
    data["pipeline"]["project"] = {"name": "research"}
    assert parse_spec(data).pipeline.project == "research"


def test_unknown_fields_are_kept_and_not_fatal() -> None:
    data = spec_with(
        {"pfs": {"repo": "labresults", "glob": "/", "s3": True, "trigger": {"size": "1M"}}},
        parallelism_spec={"constant": 2},
        datum_tries=3,
    )
    data["transform"]["user"] = "root"
    spec = parse_spec(data)
    assert spec.extra["parallelism_spec"] == {"constant": 2}
    assert spec.transform.extra["user"] == "root"
    assert isinstance(spec.input, PfsInput)
    assert spec.input.extra["trigger"] == {"size": "1M"}
    assert set(spec.ignored_fields()) == {
        "parallelism_spec",
        "datum_tries",
        "transform.user",
        "input.pfs.trigger",
    }


def test_other_input_kinds_are_kept_and_their_names_count() -> None:
    data = spec_with(
        {"cross": [pfs("labresults", s3=True), {"cron": {"name": "tick", "spec": "@every 1m"}}]}
    )
    spec = parse_spec(data)
    assert isinstance(spec.input, CrossInput)
    other = spec.input.inputs[1]
    assert other == OtherInput(
        kind="cron",
        name="tick",
        raw={"name": "tick", "spec": "@every 1m"},
        path="input.cross[1].cron",
    )
    clash = spec_with({"cross": [pfs("abc", s3=True, name="tick"), {"cron": {"name": "tick"}}]})
    assert paths_of(clash) == ["input.cross[1].cron.name"]


def test_union_model() -> None:
    spec = parse_spec(spec_with({"union": [pfs("a1a", "/*"), pfs("b1b", "/*")]}))
    assert isinstance(spec.input, UnionInput)
    assert [child.path for child in spec.input.inputs] == [
        "input.union[0].pfs",
        "input.union[1].pfs",
    ]
