"""``pachs3 serve --global`` on a fresh store, driven by the aws CLI: mb, sync, ls, rb.

A real ``pachs3 serve`` subprocess on 127.0.0.1 and real ``aws`` processes (``python -m
awscli``, the installed CLI); the server is stopped by the test. What the CLI printed is
checked, and so is the store afterwards: one commit per object written, the repo gone with
its last branch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cli_env, pachs3_cli, stop, wait_for_line

from pachs3 import CommitRef, LocalStore, read_commit

pytest.importorskip("awscli", reason="the aws CLI comes with the dev extra")


@pytest.fixture
def global_endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "serve", "--global", "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        line = wait_for_line(proc, "S3_ENDPOINT=", timeout=60)
        assert line is not None, "serve --global printed no endpoint"
        yield line.strip().split("=", 1)[1], store
    finally:
        stop(proc)


def aws(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(
        AWS_ACCESS_KEY_ID="default",
        AWS_SECRET_ACCESS_KEY="default",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_aws_cli_mb_sync_ls_rb(global_endpoint: tuple[str, Path], tmp_path: Path) -> None:
    endpoint, store = global_endpoint
    local = tmp_path / "data"
    (local / "sub").mkdir(parents=True)
    (local / "a.csv").write_text("1,2\n")
    (local / "b.csv").write_text("3,4\n")
    (local / "sub" / "c.txt").write_text("nested\n")

    made = aws(endpoint, "s3", "mb", "s3://images")
    assert made.returncode == 0, made.stderr
    assert "make_bucket: images" in made.stdout

    synced = aws(endpoint, "s3", "sync", str(local), "s3://images/")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.count("upload:") == 3

    buckets = aws(endpoint, "s3", "ls")
    assert buckets.returncode == 0, buckets.stderr
    assert [line.split()[-1] for line in buckets.stdout.splitlines()] == ["master.images.default"]

    listed = aws(endpoint, "s3", "ls", "--recursive", "s3://master.images.default/")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[-1] for line in listed.stdout.splitlines()] == [
        "a.csv",
        "b.csv",
        "sub/c.txt",
    ]

    again = aws(endpoint, "s3", "sync", str(local), "s3://images/")
    assert again.returncode == 0
    assert "upload:" not in again.stdout

    refused = aws(endpoint, "s3", "rb", "s3://images")
    assert refused.returncode != 0
    assert "BucketNotEmpty" in refused.stderr

    with LocalStore(store) as backend:
        commits = backend.list_commits("images", branch="master")
        assert len(commits) == 1 + 3  # CreateBucket, then one per uploaded file
        assert sorted(c.description.split()[0] for c in commits) == [
            "CreateBucket",
            "PutObject",
            "PutObject",
            "PutObject",
        ]

    removed = aws(endpoint, "s3", "rb", "--force", "s3://images")
    assert removed.returncode == 0, removed.stderr
    assert "remove_bucket: images" in removed.stdout
    empty = aws(endpoint, "s3", "ls")
    assert empty.returncode == 0
    assert empty.stdout == ""
    with LocalStore(store) as backend:
        assert [r.name for r in backend.list_repos() if r.name == "images"] == []


def test_serve_global_refuses_job_options(tmp_path: Path) -> None:
    result = pachs3_cli(
        "serve", "--global", "--store", str(tmp_path / "s"), "--output", "x", timeout=60
    )
    assert result.returncode == 2
    assert "--global serves every branch" in result.stderr
    assert "S3_ENDPOINT" not in result.stdout


def test_aws_cli_list_object_versions_shows_one_version_per_commit(
    global_endpoint: tuple[str, Path], tmp_path: Path
) -> None:
    """Three writes of one key and a delete through the CLI: list-object-versions shows one
    line per commit, newest first, the delete as the latest delete marker; and an old version
    reads back with s3api get-object --version-id."""
    endpoint, store_dir = global_endpoint
    assert aws(endpoint, "s3", "mb", "s3://notes").returncode == 0
    source = tmp_path / "note.txt"
    for text in ("first", "second", "third"):
        source.write_text(text)
        put = aws(endpoint, "s3", "cp", str(source), "s3://notes/note.txt")
        assert put.returncode == 0, put.stderr
    assert aws(endpoint, "s3", "rm", "s3://notes/note.txt").returncode == 0
    listed = aws(endpoint, "s3api", "list-object-versions", "--bucket", "notes", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    answer = json.loads(listed.stdout)
    versions = answer["Versions"]
    markers = answer["DeleteMarkers"]
    with LocalStore(store_dir) as store:
        commits = [c.id for c in store.list_commits("notes", branch="master")]  # newest first
    # CreateBucket's commit changed no file; each cp and the rm is one commit and one line.
    assert [m["VersionId"] for m in markers] == commits[:1]
    assert markers[0]["IsLatest"] is True
    assert [v["VersionId"] for v in versions] == commits[1:4]
    assert [v["IsLatest"] for v in versions] == [False, False, False]
    assert [v["Size"] for v in versions] == [5, 6, 5]
    oldest = tmp_path / "oldest.txt"
    got = aws(
        endpoint,
        "s3api",
        "get-object",
        "--bucket",
        "notes",
        "--key",
        "note.txt",
        "--version-id",
        versions[-1]["VersionId"],
        str(oldest),
    )
    assert got.returncode == 0, got.stderr
    assert oldest.read_text() == "first"


def test_serve_global_batch_ms_writes_share_commits(tmp_path: Path) -> None:
    """``--batch-ms``: an ``aws s3 sync`` of 12 files, each upload answered once committed,
    lands in fewer commits than files, every file on the branch."""
    store_dir = tmp_path / "store"
    command = [sys.executable, "-m", "pachs3.cli", "serve", "--global", "--batch-ms", "300"]
    proc = subprocess.Popen(
        [*command, "--store", str(store_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        line = wait_for_line(proc, "S3_ENDPOINT=", timeout=60)
        assert line is not None
        endpoint = line.strip().split("=", 1)[1]
        local = tmp_path / "data"
        local.mkdir()
        for n in range(12):
            (local / f"f{n:02}.txt").write_text(f"file {n}")
        assert aws(endpoint, "s3", "mb", "s3://bulk").returncode == 0
        synced = aws(endpoint, "s3", "sync", str(local), "s3://bulk/")
        assert synced.returncode == 0, synced.stderr
        with LocalStore(store_dir) as store:
            commits = store.list_commits("bulk", branch="master")
            assert all(not c.is_open for c in commits)  # every answered write was committed
            files = read_commit(store, CommitRef(repo="bulk", id="master"))
        assert sorted(files) == [f"f{n:02}.txt" for n in range(12)]
        assert len(commits) - 1 < 12  # CreateBucket's commit, then the batches
    finally:
        stop(proc)


def test_serve_batch_ms_is_for_global_only(tmp_path: Path) -> None:
    result = pachs3_cli(
        "serve", "--store", str(tmp_path / "s"), "--output", "out", "--batch-ms", "10", timeout=60
    )
    assert result.returncode == 2
    assert "--batch-ms is for --global" in result.stderr
