"""The job runner and the worker environment: globs, datums, env, lifecycle, end to end.

The end-to-end tests run jobs in-process on a real LocalStore with the real SidecarGateway on
127.0.0.1; the transforms are real processes (``sh``, this interpreter with boto3).
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pachs3 import JobRequest, read_commit
from pachs3.backends.base import CommitRef
from pachs3.backends.local import LocalStore
from pachs3.gateway import SidecarGateway
from pachs3.runner import (
    Datum,
    JobResult,
    RunError,
    commit_paths,
    datums_for,
    glob_matches,
    run_job,
)
from pachs3.spec import PipelineSpec, parse_spec
from pachs3.worker import (
    gateway_from_environment,
    parse_input_assignment,
    parse_inputs,
    worker_environment,
)

# ---------------------------------------------------------------------------------------------
# Globs (Pachyderm semantics: match files and directories, absolute paths)

TREE = ["a.csv", "b.txt", "dir/c.csv", "dir/sub/d.csv", "other/e.bin"]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("/", ["/"]),
        ("", ["/"]),
        ("/*", ["/a.csv", "/b.txt", "/dir", "/other"]),
        ("/*/*", ["/dir/c.csv", "/dir/sub", "/other/e.bin"]),
        ("/*.csv", ["/a.csv"]),
        ("*.csv", ["/a.csv"]),
        ("/dir/*", ["/dir/c.csv", "/dir/sub"]),
        ("/dir/", ["/dir"]),
        ("/**.csv", ["/a.csv", "/dir/c.csv", "/dir/sub/d.csv"]),
        ("/?.txt", ["/b.txt"]),
        ("/[ab].*", ["/a.csv", "/b.txt"]),
        ("/[!a]*", ["/b.txt", "/dir", "/other"]),
        ("/{dir,other}", ["/dir", "/other"]),
        ("/nothing*", []),
    ],
)
def test_glob_matches(glob: str, expected: list[str]) -> None:
    assert glob_matches(TREE, glob) == expected


def test_root_glob_of_an_empty_commit_has_no_datum() -> None:
    assert glob_matches([], "/") == []


# ---------------------------------------------------------------------------------------------
# Datums


def _spec(input_: dict[str, Any], **top: Any) -> PipelineSpec:
    return parse_spec(
        {"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": input_, **top}
    )


def _pfs(repo: str, glob: str = "/", **fields: Any) -> dict[str, Any]:
    return {"pfs": {"repo": repo, "glob": glob, **fields}}


FILES = {"images": ["x.png", "y.png", "z.png"], "masks": ["m1", "m2"], "empty": []}
COMMITS = {name: CommitRef(repo=name, id=f"{name}-commit") for name in FILES}


def _datums(spec: PipelineSpec) -> list[Datum]:
    return datums_for(spec.input, COMMITS, lambda ref: FILES[ref.repo])


def test_an_s3_input_alone_is_one_datum() -> None:
    assert _datums(_spec(_pfs("labresults", s3=True))) == [Datum()]


def test_a_cross_with_an_s3_input_runs_once_per_datum_of_the_other_side() -> None:
    datums = _datums(_spec({"cross": [_pfs("labresults", s3=True), _pfs("images", "/*")]}))
    assert [d.describe() for d in datums] == ["images:/x.png", "images:/y.png", "images:/z.png"]


def test_a_cross_of_file_inputs_is_their_product_and_a_union_their_sum() -> None:
    cross = _datums(_spec({"cross": [_pfs("images", "/*"), _pfs("masks", "/*")]}))
    assert len(cross) == 6
    assert cross[0].describe() == "images:/x.png, masks:/m1"
    union = _datums(_spec({"union": [_pfs("images", "/*"), _pfs("masks", "/*")]}))
    assert len(union) == 5


def test_an_empty_side_of_a_cross_means_no_datum() -> None:
    assert _datums(_spec({"cross": [_pfs("labresults", s3=True), _pfs("empty", "/*")]})) == []


def test_datum_ids_are_stable_and_depend_on_commits() -> None:
    datum = _datums(_spec(_pfs("images", "/*")))[0]
    bucket = {"labresults": CommitRef(repo="labresults", id="c1")}
    assert datum.id(bucket) == datum.id(dict(bucket))
    assert datum.id(bucket) != datum.id({"labresults": CommitRef(repo="labresults", id="c2")})
    assert len(datum.id()) == 64


@pytest.mark.parametrize("kind", ["join", "group"])
def test_join_and_group_are_refused_by_the_runner(kind: str) -> None:
    spec = _spec({kind: [_pfs("images", "/*"), _pfs("masks", "/*")]})
    with pytest.raises(RunError, match=f"does not run {kind} inputs"):
        _datums(spec)


# ---------------------------------------------------------------------------------------------
# Worker environment


def test_worker_environment_has_pachyderms_variables() -> None:
    env = worker_environment(
        job_id="j1",
        pipeline="p",
        project="proj",
        endpoint_url="http://127.0.0.1:9",
        input_commits={"labresults": "c1", "images": "c2"},
        output_commit="o1",
        datum_id="d1",
        datum_paths={"images": "/tmp/job/pfs/images/x.png"},
    )
    assert env == {
        "S3_ENDPOINT": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "default",
        "AWS_SECRET_ACCESS_KEY": "default",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "PACH_JOB_ID": "j1",
        "PPS_PIPELINE_NAME": "p",
        "PPS_PROJECT_NAME": "proj",
        "labresults_COMMIT": "c1",
        "images_COMMIT": "c2",
        "images": "/tmp/job/pfs/images/x.png",
        "PACH_OUTPUT_COMMIT_ID": "o1",
        "PACH_DATUM_ID": "d1",
    }


def test_worker_environment_leaves_out_what_has_no_value() -> None:
    env = worker_environment(job_id="j1", pipeline="p")
    assert "S3_ENDPOINT" not in env
    assert "PACH_OUTPUT_COMMIT_ID" not in env
    assert "PACH_DATUM_ID" not in env


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("labresults=labresults", ("labresults", "labresults@master")),
        ("lab=Lab_Results@dev", ("lab", "Lab_Results@dev")),
        ("in=repo@0123abcd", ("in", "repo@0123abcd")),
    ],
)
def test_parse_input_assignment(text: str, expected: tuple[str, str]) -> None:
    assert parse_input_assignment(text) == expected


@pytest.mark.parametrize("text", ["labresults", "=repo", "a=", "a=re po", "a=repo@"])
def test_parse_input_assignment_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="NAME=REPO"):
        parse_input_assignment(text)


def test_parse_inputs_refuses_a_repeated_name() -> None:
    with pytest.raises(ValueError, match="given twice"):
        parse_inputs(["a=x", "a=y"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    backend = LocalStore(tmp_path / "store")
    try:
        yield backend
    finally:
        backend.close()


def _seed_repo(store: LocalStore, tmp_path: Path, repo: str, files: dict[str, bytes]) -> str:
    root = tmp_path / f"seed-{repo}"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return commit_paths(store, repo, "master", [root], replace=True).commit.id


def test_gateway_from_environment(store: LocalStore, tmp_path: Path) -> None:
    first = _seed_repo(store, tmp_path, "labresults", {"a.csv": b"1"})
    _seed_repo(store, tmp_path, "images", {"x.png": b"2"})
    environ = {
        "PACHS3_INPUTS": f"labresults=labresults@{first}, pics=images",
        "PPS_PIPELINE_NAME": "my_pipeline",
        "PACH_JOB_ID": "job123",
    }
    with gateway_from_environment(store, environ) as gateway:
        assert gateway.job_id == "job123"
        assert {n: ref.repo for n, ref in gateway.input_commits.items()} == {
            "labresults": "labresults",
            "pics": "images",
        }
        assert gateway.input_commits["labresults"].id == first
    finished = gateway.finished_commit
    assert finished is not None
    assert finished.repo == "my_pipeline"
    assert finished.finished is not None
    assert {ref.repo for ref in finished.provenance} == {"labresults", "images"}


def test_gateway_from_environment_output_choices(store: LocalStore, tmp_path: Path) -> None:
    _seed_repo(store, tmp_path, "labresults", {"a.csv": b"1"})
    base = {"PACHS3_INPUTS": "labresults=labresults", "PPS_PIPELINE_NAME": "p"}
    with gateway_from_environment(store, {**base, "PACHS3_OUTPUT": ""}) as gateway:
        assert gateway.output_commit is None
    explicit = {**base, "PACHS3_OUTPUT": "results", "PACHS3_OUTPUT_BRANCH": "dev"}
    with gateway_from_environment(store, explicit) as gateway:
        output = gateway.output_commit
        assert output is not None
        assert (output.repo, output.branch) == ("results", "dev")


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({}, "nothing to serve"),
        ({"PACHS3_INPUTS": "broken"}, "PACHS3_INPUTS"),
        ({"PACHS3_INPUTS": "a=x,a=y"}, "given twice"),
    ],
)
def test_gateway_from_environment_errors(
    store: LocalStore, environ: dict[str, str], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        gateway_from_environment(store, environ)


# ---------------------------------------------------------------------------------------------
# Committing local files


def test_commit_paths_files_by_name_and_directories_by_relative_path(
    store: LocalStore, tmp_path: Path
) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "sub" / "a.txt").write_bytes(b"aaa")
    (tmp_path / "data" / "b.txt").write_bytes(b"bb")
    (tmp_path / "single.txt").write_bytes(b"s")
    info, files, size, unchanged = commit_paths(
        store, "repo", "master", [tmp_path / "data", tmp_path / "single.txt"]
    )
    assert (files, size, unchanged) == (3, 6, False)
    assert info.finished is not None
    assert [f.path for f in store.walk_files(info.ref)] == ["b.txt", "single.txt", "sub/a.txt"]
    assert store.inspect_branch("repo", "master").head == info.id


def test_commit_paths_adds_over_the_head_unless_replacing(
    store: LocalStore, tmp_path: Path
) -> None:
    _seed_repo(store, tmp_path, "repo", {"old.txt": b"o"})
    (tmp_path / "new.txt").write_bytes(b"n")
    added = commit_paths(store, "repo", "master", [tmp_path / "new.txt"]).commit
    assert [f.path for f in store.walk_files(added.ref)] == ["new.txt", "old.txt"]
    replaced = commit_paths(store, "repo", "master", [tmp_path / "new.txt"], replace=True).commit
    assert [f.path for f in store.walk_files(replaced.ref)] == ["new.txt"]


@pytest.mark.parametrize("replace", [True, False])
def test_identical_files_make_no_commit(store: LocalStore, tmp_path: Path, replace: bool) -> None:
    first = _seed_repo(store, tmp_path, "repo", {"a.txt": b"a", "sub/b.txt": b"b"})
    again = commit_paths(store, "repo", "master", [tmp_path / "seed-repo"], replace=replace)
    assert again.unchanged
    assert again.commit.id == first
    assert (again.files, again.size) == (2, 2)
    assert [info.id for info in store.list_commits("repo")] == [first]  # the new one discarded


def test_a_changed_or_missing_file_makes_a_commit(store: LocalStore, tmp_path: Path) -> None:
    first = _seed_repo(store, tmp_path, "repo", {"a.txt": b"a", "b.txt": b"b"})
    (tmp_path / "seed-repo" / "b.txt").write_bytes(b"B")  # same size, other content
    changed = commit_paths(store, "repo", "master", [tmp_path / "seed-repo"], replace=True)
    assert not changed.unchanged
    assert changed.commit.id != first
    (tmp_path / "seed-repo" / "b.txt").unlink()  # replacing: a file fewer is a change
    fewer = commit_paths(store, "repo", "master", [tmp_path / "seed-repo"], replace=True)
    assert not fewer.unchanged
    assert [f.path for f in store.walk_files(fewer.commit.ref)] == ["a.txt"]
    # Adding over the head: a.txt alone is already there, so nothing changes.
    same = commit_paths(store, "repo", "master", [tmp_path / "seed-repo" / "a.txt"])
    assert same.unchanged
    assert same.commit.id == fewer.commit.id


def test_commit_paths_refuses_clashes_and_missing_paths(store: LocalStore, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1")
    (tmp_path / "x").write_bytes(b"2")
    with pytest.raises(RunError, match="both be stored as 'x'"):
        commit_paths(store, "repo", "master", [tmp_path / "a", tmp_path / "x"])
    with pytest.raises(RunError, match="no such file"):
        commit_paths(store, "repo", "master", [tmp_path / "missing"])


# ---------------------------------------------------------------------------------------------
# Jobs, end to end

PROBE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import boto3

    keys = ["S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
            "PACH_JOB_ID", "PPS_PIPELINE_NAME", "PPS_PROJECT_NAME", "PACH_OUTPUT_COMMIT_ID",
            "PACH_DATUM_ID", "PFS_ROOT", "labresults_COMMIT", "images_COMMIT", "images",
            "FROM_SPEC", "PATH"]
    report = {key: os.environ.get(key) for key in keys}
    report["stdin"] = sys.stdin.read()
    report["cwd"] = os.getcwd()
    root = Path(os.environ["PFS_ROOT"])
    report["pfs"] = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    if os.environ.get("images"):
        report["datum_bytes"] = Path(os.environ["images"]).read_bytes().decode()
    name = "report-" + os.environ["PACH_DATUM_ID"][:12] + ".json"
    data = json.dumps(report).encode()
    if (root / "out").is_dir():  # no s3_out: write to /pfs/out
        (root / "out" / name).write_bytes(data)
    else:
        s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
        report["buckets"] = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
        s3.put_object(Bucket="out", Key=name, Body=json.dumps(report).encode())
    print("probe done", name)
    sys.exit(int(os.environ.get("EXIT_WITH", "0")))
    """
)


def _probe_spec(tmp_path: Path, input_: dict[str, Any], **top: Any) -> PipelineSpec:
    (tmp_path / "probe.py").write_text(PROBE)
    return parse_spec(
        {
            "pipeline": {"name": "probe_pipeline"},
            "input": input_,
            "transform": {
                "cmd": [sys.executable, "probe.py"],
                "stdin": ["line one", "line two"],
                "env": {"FROM_SPEC": "yes"},
            },
            **top,
        }
    )


def _run(
    spec: PipelineSpec, store: LocalStore, tmp_path: Path, **kwargs: Any
) -> tuple[JobResult, str]:
    out = io.StringIO()
    result = run_job(spec, store, spec_dir=tmp_path, out=out, job_root=tmp_path, **kwargs)
    return result, out.getvalue()


def _reports(store: LocalStore, result: JobResult) -> list[dict[str, Any]]:
    assert result.output_commit is not None
    return [
        json.loads(data)
        for data in read_commit(store, result.output_commit, prefix="report-").values()
    ]


def test_job_environment_and_lifecycle(store: LocalStore, tmp_path: Path) -> None:
    labresults = _seed_repo(store, tmp_path, "labresults", {"a.csv": b"x,y\n"})
    spec = _probe_spec(tmp_path, _pfs("labresults", s3=True), s3_out=True)
    result, text = _run(spec, store, tmp_path)
    assert result.ok, text
    assert result.datums == result.datums_processed == 1
    (report,) = _reports(store, result)
    output = result.output_commit
    assert output is not None
    assert report["S3_ENDPOINT"] == result.endpoint_url
    assert report["S3_ENDPOINT"].startswith("http://127.0.0.1:")
    assert report["AWS_ACCESS_KEY_ID"] == report["AWS_SECRET_ACCESS_KEY"] == "default"
    assert report["AWS_DEFAULT_REGION"] == "us-east-1"
    assert report["PACH_JOB_ID"] == result.job_id
    assert report["PPS_PIPELINE_NAME"] == "probe_pipeline"
    assert report["PPS_PROJECT_NAME"] == "default"
    assert report["PACH_OUTPUT_COMMIT_ID"] == output.id
    assert report["labresults_COMMIT"] == labresults
    assert len(report["PACH_DATUM_ID"]) == 64
    assert report["FROM_SPEC"] == "yes"
    assert report["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert report["stdin"] == "line one\nline two\n"
    assert report["cwd"] == str(tmp_path)
    assert report["pfs"] == ["labresults"]  # S3 inputs get an empty /pfs/<name>, no out dir
    assert report["buckets"] == ["labresults", "out"]
    # The output commit is finished, on its branch, derived from the input commit.
    assert output.finished is not None
    assert output.error is None
    assert output.provenance == (CommitRef(repo="labresults", id=labresults),)
    assert store.inspect_branch("probe_pipeline", "master").head == output.id
    # Progress, transform output and the summary went to `out`; the job dir is gone.
    assert f"job {result.job_id} started" in text
    assert "probe done" in text
    assert f"job {result.job_id} succeeded" in text
    assert f"provenance     labresults@{labresults}" in text
    assert list(tmp_path.glob("pachs3-job-*")) == []


def test_failing_transform_finishes_the_output_commit_with_the_error(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labresults = _seed_repo(store, tmp_path, "labresults", {"a.csv": b"1"})
    monkeypatch.setenv("EXIT_WITH", "3")
    spec = _probe_spec(tmp_path, _pfs("labresults", s3=True), s3_out=True)
    result, text = _run(spec, store, tmp_path)
    assert not result.ok
    assert result.transform_exit == 3
    assert result.error is not None
    assert "transform exited with status 3" in result.error
    output = store.inspect_commit("probe_pipeline", result.output_commit.id)  # type: ignore[union-attr]
    assert output.finished is not None
    assert output.error == result.error
    assert output.provenance == (CommitRef(repo="labresults", id=labresults),)
    # What the job wrote before failing stays in its (errored) commit, as in Pachyderm.
    assert len(_reports(store, result)) == 1
    # A failed output commit does not move the branch.
    assert store.inspect_branch("probe_pipeline", "master").head != output.id
    assert f"job {result.job_id} failed" in text
    assert "status         failure: transform exited with status 3" in text


def test_missing_command_fails_the_job(store: LocalStore, tmp_path: Path) -> None:
    _seed_repo(store, tmp_path, "labresults", {"a.csv": b"1"})
    spec = parse_spec(
        {
            "pipeline": {"name": "p"},
            "input": _pfs("labresults", s3=True),
            "transform": {"cmd": ["pachs3-no-such-command"]},
            "s3_out": True,
        }
    )
    result, text = _run(spec, store, tmp_path)
    assert not result.ok
    assert result.transform_exit == 127
    assert "cannot start transform.cmd" in text


def test_cross_runs_once_per_datum_with_the_datum_laid_out(
    store: LocalStore, tmp_path: Path
) -> None:
    _seed_repo(store, tmp_path, "labresults", {"ref.csv": b"r"})
    images = _seed_repo(
        store, tmp_path, "images", {"x.png": b"xx", "y.png": b"yy", "dir/z.png": b"zz"}
    )
    spec = _probe_spec(
        tmp_path, {"cross": [_pfs("labresults", s3=True), _pfs("images", "/*.png")]}, s3_out=True
    )
    result, text = _run(spec, store, tmp_path)
    assert result.ok, text
    assert result.datums == 2
    reports = sorted(_reports(store, result), key=lambda r: r["images"])
    assert [Path(r["images"]).name for r in reports] == ["x.png", "y.png"]
    assert [r["datum_bytes"] for r in reports] == ["xx", "yy"]
    assert len({r["PACH_DATUM_ID"] for r in reports}) == 2
    assert all(r["images_COMMIT"] == images for r in reports)
    # Only the datum's own file is laid out under /pfs/images.
    assert reports[0]["pfs"] == ["images", "images/x.png", "labresults"]
    assert "datum 2/2" in text


def test_cross_provenance_covers_every_input(store: LocalStore, tmp_path: Path) -> None:
    labresults = _seed_repo(store, tmp_path, "labresults", {"ref.csv": b"r"})
    images = _seed_repo(store, tmp_path, "images", {"x.png": b"xx"})
    spec = _probe_spec(
        tmp_path, {"cross": [_pfs("labresults", s3=True), _pfs("images", "/*")]}, s3_out=True
    )
    result, _ = _run(spec, store, tmp_path)
    assert result.output_commit is not None
    assert set(result.output_commit.provenance) == {
        CommitRef(repo="labresults", id=labresults),
        CommitRef(repo="images", id=images),
    }


def test_directory_datums_and_pfs_out_without_s3_out(store: LocalStore, tmp_path: Path) -> None:
    labresults = _seed_repo(store, tmp_path, "labresults", {"ref.csv": b"r"})
    images = _seed_repo(store, tmp_path, "images", {"d1/a": b"1", "d1/b": b"2", "d2/c": b"3"})
    spec = parse_spec(
        {
            "pipeline": {"name": "copier"},
            "input": {"cross": [_pfs("labresults", s3=True), _pfs("images", "/*")]},
            "transform": {
                "cmd": ["sh"],
                "stdin": ['cp -r "$images" "$PFS_ROOT/out/"', 'echo "copied $images"'],
            },
        }
    )
    result, text = _run(spec, store, tmp_path)
    assert result.ok, text
    assert result.datums == 2
    output = result.output_commit
    assert output is not None
    assert [f.path for f in store.walk_files(output.ref)] == ["d1/a", "d1/b", "d2/c"]
    assert (result.files_written, result.bytes_written) == (3, 3)
    assert set(output.provenance) == {
        CommitRef(repo="labresults", id=labresults),
        CommitRef(repo="images", id=images),
    }
    assert "output /pfs/out -> copier@" in text


def test_seeding_replaces_the_branch_content(store: LocalStore, tmp_path: Path) -> None:
    _seed_repo(store, tmp_path, "labresults", {"stale.csv": b"old"})
    seed = tmp_path / "fresh"
    seed.mkdir()
    (seed / "new.csv").write_bytes(b"new")
    spec = _probe_spec(tmp_path, _pfs("labresults", s3=True), s3_out=True)
    result, text = _run(spec, store, tmp_path, seeds={"labresults": seed})
    assert result.ok, text
    head = store.inspect_commit("labresults", "master")
    assert [f.path for f in store.walk_files(head.ref)] == ["new.csv"]
    assert result.input_commits["labresults"].id == head.id
    assert "seeded labresults: 1 file (3 bytes) from" in text
    again, text = _run(spec, store, tmp_path, seeds={"labresults": seed})
    assert again.ok, text
    assert (
        f"seeded labresults: 1 file (3 bytes) from {seed}: unchanged, labresults@{head.id}" in text
    )
    assert len(store.list_commits("labresults")) == 2  # the stale seed and the fresh one


def test_summary_gives_durations_the_store_and_the_next_command(
    store: LocalStore, tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "a.csv").write_bytes(b"1")
    spec = _probe_spec(tmp_path, _pfs("labresults", s3=True), s3_out=True)
    result, text = _run(
        spec, store, tmp_path, seeds={"labresults": seed}, store_name="/data/st",
        store_option=" --store /data/st",
    )  # fmt: skip
    assert result.ok, text
    assert result.output_commit is not None
    summary = text[text.index(f"pachs3: job {result.job_id} succeeded") :]
    took = re.search(r"\n  took +(?:(\d+\.\d)s seeding, )?(\d+\.\d)s job\n", summary)
    assert took is not None, summary
    assert float(took[2]) == pytest.approx(result.seconds_running, abs=0.06)
    assert result.seconds_running > 0
    assert "\n  store          /data/st\n" in summary
    short = result.output_commit.id[:12]
    assert f"\n  look at it     pachs3 files --store /data/st probe_pipeline@{short}\n" in summary


@pytest.mark.parametrize(
    ("seeds", "words"),
    [
        ({"labresults": "dir", "nope": "dir"}, "no input named 'nope'"),
        ({"labresults": "missing-dir"}, "missing-dir does not exist; give the directory"),
    ],
)
def test_seed_errors(store: LocalStore, tmp_path: Path, seeds: dict[str, str], words: str) -> None:
    (tmp_path / "dir").mkdir()
    spec = _probe_spec(tmp_path, _pfs("labresults", s3=True), s3_out=True)
    with pytest.raises(RunError, match=words):
        _run(spec, store, tmp_path, seeds={k: tmp_path / v for k, v in seeds.items()})
    assert store.list_repos() == []  # no seed was committed


def test_seeding_a_pinned_input_is_refused(store: LocalStore, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    spec = _probe_spec(tmp_path, _pfs("labresults", s3=True, commit="abc"), s3_out=True)
    with pytest.raises(RunError, match="pins the input"):
        _run(spec, store, tmp_path, seeds={"labresults": tmp_path / "dir"})


def test_missing_input_repo_is_a_clear_error(store: LocalStore, tmp_path: Path) -> None:
    spec = _probe_spec(tmp_path, _pfs("labresults", s3=True), s3_out=True)
    with pytest.raises(RunError, match=r"input\.pfs: labresults@master does not exist.*pachs3 put"):
        _run(spec, store, tmp_path)
    assert store.list_repos() == []  # nothing was changed


def test_working_dir_must_exist(store: LocalStore, tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "pipeline": {"name": "p"},
            "input": _pfs("labresults", s3=True),
            "transform": {"cmd": ["true"], "working_dir": "nowhere"},
        }
    )
    with pytest.raises(RunError, match="working_dir"):
        _run(spec, store, tmp_path)


def test_a_gateway_is_made_only_when_the_job_uses_s3(store: LocalStore, tmp_path: Path) -> None:
    _seed_repo(store, tmp_path, "images", {"x": b"1"})
    made: list[JobRequest] = []

    def factory(backend: Any, job: JobRequest) -> SidecarGateway:
        made.append(job)
        raise AssertionError("no gateway expected")

    spec = parse_spec(
        {
            "pipeline": {"name": "plain"},
            "input": _pfs("images", "/*"),
            "transform": {"cmd": ["sh"], "stdin": ['test -z "$S3_ENDPOINT"']},
        }
    )
    result, text = _run(spec, store, tmp_path, gateway_factory=factory)
    assert result.ok, text
    assert made == []
    assert result.endpoint_url is None
