"""``log``, ``inspect``, ``diff``, commit id prefixes and the messages around empty or failed
branches, through the real command line on a real store."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from cli_support import cli_env, pachs3_cli, stop, wait_for_line

from pachs3.backends.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def put(store: Path, target: str, *paths: Path) -> str:
    result = pachs3_cli("put", "--store", str(store), target, *map(str, paths))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def cli(store: Path, *args: str, code: int = 0) -> tuple[str, str]:
    result = pachs3_cli(*args, "--store", str(store))
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout, result.stderr


def test_log_lists_newest_first_with_status_and_provenance(store: Path, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    first = put(store, "labresults", tmp_path / "a.txt")
    with LocalStore(store) as backend:
        backend.create_repo("job")
        ok = backend.start_commit("job", "master", provenance=[backend.inspect_commit(
            "labresults", first).ref], description="output of job 1")  # fmt: skip
        backend.finish_commit("job", ok.id)
        failed = backend.start_commit("job", "master", description="output of job 2")
        backend.finish_commit("job", failed.id, error="transform exited with status 4")
        still_open = backend.start_commit("job", "master")
    out, _ = cli(store, "log", "job")
    heads = [line for line in out.splitlines() if not line.startswith(" ")]
    assert [line.split()[:2] for line in heads] == [
        [still_open.id[:12], "master"],
        [failed.id[:12], "master"],
        [ok.id[:12], "master"],
    ]
    assert " open  started " in heads[0]
    assert " FAILED  started " in heads[1]
    assert " took " in heads[1]
    assert heads[2].startswith(f"{ok.id[:12]}  master (head)  finished  started ")
    assert "    error       transform exited with status 4\n" in out
    assert f"    provenance  labresults@{first[:12]}\n" in out
    only_branch, _ = cli(store, "log", "labresults@master")
    assert only_branch.startswith(f"{first[:12]}  master (head)  finished")


def test_inspect_by_prefix_shows_everything_and_file_totals(store: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_bytes(b"x" * 2000)
    (data / "b.csv").write_bytes(b"y")
    commit_id = put(store, "labresults@dev", data)
    out, _ = cli(store, "inspect", f"labresults@{commit_id[:12]}")
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["commit"] == f"labresults@{commit_id}"
    assert fields["branch"] == "dev (its head)"
    assert fields["status"] == "finished"
    assert fields["files"] == "2 files, 2.0 KiB"
    assert fields["provenance"] == "(none)"


def test_diff_says_what_was_added_changed_and_removed(store: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "same.txt").write_text("same")
    (old / "changed.txt").write_text("v1")
    (old / "gone.txt").write_text("bye!")
    first = put(store, "repo", old)
    new = tmp_path / "new"
    new.mkdir()
    (new / "same.txt").write_text("same")
    (new / "changed.txt").write_text("v2 longer")
    (new / "added.bin").write_bytes(b"\0" * 10)
    with LocalStore(store) as backend:  # a replacing commit, as a seed makes
        from pachs3.runner import commit_paths

        second = commit_paths(backend, "repo", "master", [new], replace=True).commit.id
    out, err = cli(store, "diff", f"repo@{first[:8]}", f"repo@{second[:8]}")
    rows = [line.split() for line in out.splitlines()]
    assert rows == [
        ["added", "10", "added.bin"],
        ["changed", "2", "->", "9", "changed.txt"],
        ["removed", "4", "gone.txt"],
    ]
    assert err.strip() == (
        f"pachs3: repo@{first[:12]} -> repo@{second[:12]}: 1 added, 1 changed, 1 removed"
    )
    same, err = cli(store, "diff", "repo@master", f"repo@{second}")
    assert same == ""
    assert "0 added, 0 changed, 0 removed" in err


def test_an_ambiguous_prefix_is_one_clear_line(store: Path, tmp_path: Path) -> None:
    with LocalStore(store) as backend:
        backend.create_repo("r")
        # 17 commits: two of them must share their first hex digit (16 possible).
        ids = []
        for _ in range(17):
            info = backend.start_commit("r", "master")
            backend.finish_commit("r", info.id)
            ids.append(info.id)
    digit, count = Counter(i[0] for i in ids).most_common(1)[0]
    assert count >= 2
    _, err = cli(store, "files", f"r@{digit}", code=2)
    assert err.startswith(f"pachs3: error: r@{digit} is ambiguous: {count} commits start with")
    assert err.strip().endswith("give more of the commit id")
    assert len(err.strip().splitlines()) == 1
    unique = ids[0][:12]
    cli(store, "cat", f"r@{unique}", "nothing", code=1)  # resolved: the file is what is missing


def test_files_says_when_a_commit_is_empty(store: Path) -> None:
    with LocalStore(store) as backend:
        backend.create_repo("r")
        info = backend.start_commit("r", "master")
        backend.finish_commit("r", info.id)
    out, err = cli(store, "files", "r")
    assert out == ""
    assert err == f"pachs3: r@{info.id[:12]} has no files\n"
    _, err = cli(store, "files", "r", "sub/")
    assert err == f"pachs3: r@{info.id[:12]} has no files under 'sub/'\n"


def test_a_branch_with_only_a_failed_commit_is_not_missing(store: Path) -> None:
    with LocalStore(store) as backend:
        backend.create_repo("job")
        info = backend.start_commit("job", "master")
        backend.put_file(info.ref, "partial.csv", [b"1,2\n"])
        backend.finish_commit("job", info.id, error="transform exited with status 4")
    _, err = cli(store, "files", "job", code=1)
    short = info.id[:12]
    assert err == (
        f"pachs3: error: job@master has no successful commit: its only commit, {short}, "
        f"failed (transform exited with status 4); read it with `pachs3 files job@{short}`, "
        "or see `pachs3 log job`\n"
    )
    out, _ = cli(store, "files", f"job@{short}")
    assert out.split() == ["4", "partial.csv"]


def test_an_empty_branch_says_how_to_fill_it(store: Path) -> None:
    with LocalStore(store) as backend:
        backend.create_repo("r")
        backend.create_branch("r", "master")
    _, err = cli(store, "cat", "r", "x", code=1)
    assert (
        err
        == "pachs3: error: r@master has no commits yet; `pachs3 put r@master PATH...` makes one\n"
    )


def test_serve_pins_an_input_given_by_prefix(store: Path, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    commit_id = put(store, "labresults", tmp_path / "a.txt")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "serve", "--store", str(store),
         "--input", f"labresults=labresults@{commit_id[:12]}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        line = wait_for_line(proc, "labresults_COMMIT=", timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        stop(proc)
    assert line == f"labresults_COMMIT={commit_id}"
