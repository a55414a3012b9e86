"""Open commits of a process that died: real SIGKILLs of ``pachs3 serve`` and ``pachs3 run``,
then the next command finds the commit failed, saying why."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import cli_env, pachs3_cli, stop, wait_for_line

from pachs3.backends.base import Conflict
from pachs3.backends.local import LocalStore
from pachs3.backends.local.owners import Owner, current_owner, is_alive, start_ticks

DEAD = "the process serving this job died"


def _log_of(store: Path, repo: str) -> str:
    result = pachs3_cli("log", repo, "--store", str(store))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_killed_serve_leaves_a_failed_commit_not_an_open_one(tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "serve", "--store", str(store), "--output", "served"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        assert wait_for_line(proc, "S3_ENDPOINT=", timeout=60)
        with LocalStore(store) as backend:  # this process is alive: the commit stays open
            (open_commit,) = backend.list_commits("served")
            assert open_commit.is_open
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(proc)
    log = _log_of(store, "served")
    head, error = log.splitlines()[:2]
    assert head.startswith(f"{open_commit.id[:12]}  master  FAILED  started ")
    assert error == (f"    error       {DEAD} (pid {proc.pid} on {socket.gethostname()})")
    with LocalStore(store) as backend:
        (failed,) = backend.list_commits("served")
        assert failed.finished is not None
        assert backend.inspect_branch("served", "master").head is None  # the branch did not move


def test_a_killed_run_leaves_a_failed_output_commit(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "a.csv").write_text("1,2\n")
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps({
        "pipeline": {"name": "job"},
        "input": {"pfs": {"repo": "labresults", "glob": "/", "s3": True}},
        # exec: the pid printed is the sleeping process, which this test must stop itself
        # (killing pachs3 with SIGKILL leaves its transform running, as a power cut would not).
        "transform": {"cmd": ["sh"], "stdin": ["echo transform pid $$", "exec sleep 60"]},
        "s3_out": True,
    }))  # fmt: skip
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "run", "--store", str(store), str(spec),
         "--input", f"labresults={seed}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    transform_pid = None
    try:
        line = wait_for_line(proc, "transform pid", timeout=60)
        assert line is not None
        transform_pid = int(line.split()[-1])
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(proc)
        if transform_pid is not None:
            os.kill(transform_pid, signal.SIGKILL)
    log = _log_of(store, "job")
    assert " FAILED " in log.splitlines()[0]
    assert f"    error       {DEAD} (pid {proc.pid} on {socket.gethostname()})\n" in log
    files = pachs3_cli("files", "job", "--store", str(store))
    assert files.returncode == 1
    assert f"failed ({DEAD} (pid {proc.pid}" in files.stderr


def test_a_live_owner_keeps_its_commit_open(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as first:
        first.create_repo("r")
        info = first.start_commit("r", "master")
        first.claim_commit("r", info.id)
        with LocalStore(tmp_path / "s") as second:  # opening reaps only dead owners
            assert second.inspect_commit("r", info.id).is_open
        first.finish_commit("r", info.id)
        assert first.inspect_commit("r", info.id).error is None


def test_a_reused_pid_is_not_taken_for_the_owner() -> None:
    me = current_owner()
    assert me.start_ticks == start_ticks(os.getpid())
    assert is_alive(me) is True
    # The same pid, started at another time: the owner died and its pid was given again.
    assert is_alive(me._replace(start_ticks=(me.start_ticks or 0) + 1)) is False
    assert is_alive(me._replace(boot_id="another boot")) is False  # the machine restarted
    assert is_alive(me._replace(host=me.host + "-elsewhere")) is None  # not ours to judge
    # Above the largest pid Linux hands out (2**22): no such process, and no start time known.
    assert is_alive(Owner(me.host, me.boot_id, 2**22 + 1, None)) is False


def test_a_store_made_before_owners_were_recorded_gains_the_table(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as backend:
        backend.create_repo("r")
    con = sqlite3.connect(tmp_path / "s" / "store.db")
    con.execute("DROP TABLE commit_owners")
    con.close()
    with LocalStore(tmp_path / "s") as backend:
        info = backend.start_commit("r", "master")
        backend.claim_commit("r", info.id)
        backend.finish_commit("r", info.id)
    con = sqlite3.connect(tmp_path / "s" / "store.db")
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
    finally:
        con.close()
    assert "commit_owners" in tables


def test_claiming_a_finished_commit_is_a_conflict(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as backend:
        backend.create_repo("r")
        info = backend.start_commit("r", "master")
        backend.finish_commit("r", info.id)
        with pytest.raises(Conflict, match="nothing to own"):
            backend.claim_commit("r", info.id)
