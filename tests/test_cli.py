"""The ``pachs3`` command line, run as a real subprocess against a store in a temp directory."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from cli_support import cli_env, pachs3_cli, stop, wait_for_line

from pachs3.backends.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def open_store(path: Path) -> LocalStore:
    return LocalStore(path)


def s3_client(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="default",
        aws_secret_access_key="default",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )


# ---------------------------------------------------------------------------------------------
# store commands


def test_put_repos_commits_files_cat(store: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_bytes(b"x,y\n1,2\n")
    (data / "sub" / "b.bin").write_bytes(bytes(range(256)))
    put = pachs3_cli("put", "--store", str(store), "labresults@dev", str(data))
    assert put.returncode == 0, put.stderr
    commit_id = put.stdout.strip()
    assert len(commit_id) >= 8
    assert "committed 2 files (264 bytes) to labresults@dev" in put.stderr

    repos = pachs3_cli("repos", "--store", str(store))
    assert repos.returncode == 0, repos.stderr
    assert "labresults" in repos.stdout
    assert f"dev@{commit_id[:12]}" in repos.stdout

    commits = pachs3_cli("commits", "--store", str(store), "labresults", "--branch", "dev")
    assert commits.returncode == 0, commits.stderr
    assert commits.stdout.startswith(f"{commit_id}  dev  started ")
    assert "finished" in commits.stdout

    files = pachs3_cli("files", "--store", str(store), f"labresults@{commit_id}")
    assert files.returncode == 0, files.stderr
    assert files.stdout.split() == ["8", "a.csv", "256", "sub/b.bin"]
    prefixed = pachs3_cli("files", "--store", str(store), "labresults@dev", "sub/")
    assert prefixed.stdout.split() == ["256", "sub/b.bin"]

    cat = subprocess.run(
        [sys.executable, "-m", "pachs3.cli", "cat", "--store", str(store), "labresults@dev",
         "sub/b.bin"],
        capture_output=True, env=cli_env(), timeout=60, check=False,
    )  # fmt: skip
    assert cat.returncode == 0
    assert cat.stdout == bytes(range(256))


def test_store_defaults_to_the_environment_variable(store: Path, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("hi")
    put = pachs3_cli("put", "repo", str(tmp_path / "f.txt"), PACHS3_STORE=str(store))
    assert put.returncode == 0, put.stderr
    assert store.exists()
    cat = pachs3_cli("cat", "repo", "f.txt", PACHS3_STORE=str(store))
    assert cat.stdout == "hi"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["cat", "nope@master", "x"], "not found"),
        (["files", "nope"], "not found"),
        (["commits", "nope"], "not found"),
    ],
)
def test_missing_things_fail_with_exit_1(store: Path, args: list[str], words: str) -> None:
    result = pachs3_cli(*args, "--store", str(store))
    assert result.returncode == 1
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_put_of_a_missing_path_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    result = pachs3_cli("put", "--store", str(store), "repo", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "no such file or directory" in result.stderr


def test_help_and_usage_errors() -> None:
    assert pachs3_cli("--help").returncode == 0
    no_command = pachs3_cli()
    assert no_command.returncode == 2
    assert "usage: pachs3" in no_command.stderr


# ---------------------------------------------------------------------------------------------
# run


def write_spec(tmp_path: Path, spec: dict[str, object], name: str = "pipeline.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec, indent=2))
    return path


def s3_spec(stdin: list[str], **top: object) -> dict[str, object]:
    return {
        "pipeline": {"name": "job"},
        "input": {"pfs": {"repo": "labresults", "glob": "/", "s3": True}},
        "transform": {"cmd": ["sh"], "stdin": stdin},
        "s3_out": True,
        **top,
    }


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "a.csv").write_text("1,2\n")
    return seed


def test_run_spec_errors_exit_2_listing_every_problem(store: Path, tmp_path: Path) -> None:
    spec = s3_spec(["true"], enable_stats=True)
    spec["input"] = {"pfs": {"repo": "Lab_Results", "glob": "/*", "s3": True}}
    path = write_spec(tmp_path, spec)
    result = pachs3_cli("run", "--store", str(store), str(path))
    assert result.returncode == 2
    assert f"spec error: 3 problems in {path}" in result.stderr
    for field in ("input.pfs.glob", "input.pfs.name", "enable_stats"):
        assert f"  {field}: " in result.stderr
    assert "Traceback" not in result.stderr
    assert not store.exists()  # refused before the store was opened


def test_run_invalid_json_names_line_and_column(store: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "pipeline": {"name": "p"}\n  "input": {}\n}\n')
    result = pachs3_cli("run", "--store", str(store), str(path))
    assert result.returncode == 2
    assert "invalid JSON at line 3, column 3" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "missing.json"], "cannot read missing.json: No such file or directory; give"),
        (["run", "pipeline.json", "--input", "labresults"], "expected NAME=DIR"),
        (["run", "pipeline.json", "--input", "nope=seed"], "no input named 'nope'"),
        (["run", "pipeline.json"], "labresults@master does not exist"),
        (["serve"], "nothing to serve"),
        (["serve", "--input", "bad input"], "NAME=REPO"),
    ],
)
def test_usage_errors_exit_2(store: Path, tmp_path: Path, args: list[str], words: str) -> None:
    write_spec(tmp_path, s3_spec(["true"]))
    (tmp_path / "seed").mkdir()
    result = pachs3_cli(*args, "--store", str(store), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_run_failing_transform_exits_1_with_the_error_recorded(
    store: Path, tmp_path: Path, seed_dir: Path
) -> None:
    stdin = [
        'aws --endpoint-url "$S3_ENDPOINT" s3 cp s3://labresults/a.csv s3://out/a.csv',
        "exit 4",
    ]
    path = write_spec(tmp_path, s3_spec(stdin))
    result = pachs3_cli(
        "run", "--store", str(store), str(path), "--input", f"labresults={seed_dir}"
    )
    assert result.returncode == 1, result.stderr
    assert "status         failure: transform exited with status 4" in result.stdout
    assert "transform exit 4" in result.stdout
    repos = pachs3_cli("repos", "--store", str(store))
    assert [line.split()[0] for line in repos.stdout.splitlines()] == ["REPO", "job", "labresults"]
    every = pachs3_cli("repos", "--store", str(store), "--all")
    # The staging repo is made by the first multipart upload; this job made none.
    assert "_pachs3_multipart" not in every.stdout
    commits = pachs3_cli("commits", "--store", str(store), "job")
    assert "FAILED" in commits.stdout
    assert "error       transform exited with status 4" in commits.stdout
    assert "provenance  labresults@" in commits.stdout
    with open_store(store) as backend:
        (output,) = backend.list_commits("job")
        assert output.finished is not None
        assert output.error is not None
        assert [f.path for f in backend.walk_files(output.ref)] == ["a.csv"]


def test_run_interrupted_by_sigterm_finishes_the_output_commit(
    store: Path, tmp_path: Path, seed_dir: Path
) -> None:
    path = write_spec(tmp_path, s3_spec(["echo transform running", "sleep 60"]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "run", "--store", str(store), str(path),
         "--input", f"labresults={seed_dir}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        assert wait_for_line(proc, "transform running", timeout=60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 130
    assert "interrupted" in err
    with open_store(store) as backend:
        (output,) = backend.list_commits("job")
        assert output.finished is not None
        assert output.error == "job interrupted"


# ---------------------------------------------------------------------------------------------
# serve


@pytest.fixture
def served(store: Path, seed_dir: Path) -> Iterator[subprocess.Popen[str]]:
    put = pachs3_cli("put", "--store", str(store), "labresults", str(seed_dir))
    assert put.returncode == 0, put.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "serve", "--store", str(store),
         "--input", "labresults=labresults@master", "--output", "served"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        yield proc
    finally:
        stop(proc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_the_endpoint_first_and_finishes_on_signal(
    served: subprocess.Popen[str], store: Path, sig: signal.Signals
) -> None:
    assert served.stdout is not None
    ready, _, _ = select.select([served.stdout], [], [], 60)
    assert ready, "serve printed nothing"
    first = served.stdout.readline()
    assert first.startswith("S3_ENDPOINT=http://127.0.0.1:"), first
    endpoint = first.strip().split("=", 1)[1]
    s3 = s3_client(endpoint)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    assert names == ["labresults", "out"]
    s3.put_object(Bucket="out", Key="result.txt", Body=b"done")  # type: ignore[attr-defined]
    served.send_signal(sig)
    # wait, then read: readline() above may have buffered the lines that follow the first.
    returncode = served.wait(timeout=60)
    assert served.stderr is not None
    out, err = first + served.stdout.read(), served.stderr.read()
    assert returncode == 0, err
    assert "PACH_JOB_ID=" in out
    assert "PACH_OUTPUT_COMMIT_ID=" in out
    assert "labresults_COMMIT=" in out
    assert "finished served@" in err
    with open_store(store) as backend:
        (output,) = backend.list_commits("served")
        labresults = backend.inspect_commit("labresults", "master")
        assert output.finished is not None
        assert output.error is None
        assert output.provenance == (labresults.ref,)
        assert b"".join(backend.read_file(output.ref, "result.txt")) == b"done"
        assert f"PACH_OUTPUT_COMMIT_ID={output.id}" in out


def test_serve_unknown_input_repo_fails_cleanly(store: Path) -> None:
    result = pachs3_cli("serve", "--store", str(store), "--input", "x1x=nope", timeout=60)
    assert result.returncode == 1
    assert "not found" in result.stderr
    assert "S3_ENDPOINT" not in result.stdout


def test_python_transform_output_streams_before_the_job_ends(
    store: Path, tmp_path: Path, seed_dir: Path
) -> None:
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            print("first line")
            sys.stdin.read()
            time.sleep(60)
            """
        )
    )
    spec = s3_spec([])
    spec["transform"] = {"cmd": [sys.executable, str(script)]}
    path = write_spec(tmp_path, spec)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "run", "--store", str(store), str(path),
         "--input", f"labresults={seed_dir}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        # PYTHONUNBUFFERED is set for the transform, so its line arrives while it still runs.
        assert wait_for_line(proc, "first line", timeout=60)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 130


def test_pachd_and_store_together_is_a_usage_error(store: Path) -> None:
    result = pachs3_cli("repos", "--store", str(store), "--pachd", "127.0.0.1:1")
    assert result.returncode == 2
    assert "--store and --pachd cannot be used together" in result.stderr


def test_unreachable_pachd_fails_fast_and_clearly() -> None:
    started = time.monotonic()
    result = pachs3_cli("repos", "--pachd", "127.0.0.1:1")
    assert result.returncode != 0
    assert "unavailable" in result.stderr.lower()
    assert time.monotonic() - started < 30
