"""Environment errors: one line saying what to do, exit 2, no traceback, nothing changed.

Every case runs the real command in a subprocess against a real directory or socket.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cli_env, pachs3_cli

from pachs3.backends.local import LocalStore


def one_line_error(result: subprocess.CompletedProcess[str], *, code: int = 2) -> str:
    """The single stderr line of a failed command, after checking the exit status."""
    stderr = result.stderr
    assert result.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pachs3: error: ")
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "a.csv").write_text("1,2\n")
    return directory


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_on_a_busy_port_says_so_and_creates_nothing(
    tmp_path: Path, data: Path, busy_port: int
) -> None:
    store = tmp_path / "store"
    assert pachs3_cli("put", "--store", str(store), "labresults", str(data)).returncode == 0
    result = pachs3_cli(
        "serve", "--store", str(store), "--port", str(busy_port),
        "--input", "labresults=labresults", "--output", "served",
    )  # fmt: skip
    line = one_line_error(result)
    assert f"127.0.0.1:{busy_port} is already in use; choose another --port" in line
    assert result.stdout == ""
    with LocalStore(store) as backend:
        # No output repo, no failed commit, not even the gateway's staging repo.
        assert [repo.name for repo in backend.list_repos()] == ["labresults"]


def test_serve_on_an_address_of_another_machine(tmp_path: Path, data: Path) -> None:
    result = pachs3_cli(
        "serve", "--store", str(tmp_path / "store"), "--host", "192.0.2.1", "--output", "o"
    )
    line = one_line_error(result)
    assert "192.0.2.1:0 is not an address of this machine; use --host 127.0.0.1" in line
    with LocalStore(tmp_path / "store") as backend:
        assert backend.list_repos() == []


def test_a_store_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    line = one_line_error(pachs3_cli("repos", "--store", str(path)))
    assert "exists and is not a directory" in line
    assert "choose another directory with --store DIR" in line
    assert path.read_text() == "mine"


def test_a_directory_that_holds_something_else(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "main.py").write_text("")
    line = one_line_error(pachs3_cli("repos", "--store", str(tmp_path / "project")))
    assert "is not a pachs3 store (it holds main.py)" in line


def _without_override(args: list[str]) -> list[str]:
    """As root, permissions do not stop a write; drop the capabilities that let it through."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be made")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *args]


def _run_restricted(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _without_override([sys.executable, "-m", "pachs3.cli", *args]),
        capture_output=True, text=True, env=cli_env(), timeout=120, check=False,
    )  # fmt: skip


def _read_only(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            Path(root, name).chmod(stat.S_IREAD | stat.S_IEXEC)
    path.chmod(stat.S_IREAD | stat.S_IEXEC)


def _writable(path: Path) -> None:
    path.chmod(0o755)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            Path(root, name).chmod(0o755)


@pytest.mark.parametrize("command", [["repos"], ["files", "labresults"], ["put", "labresults"]])
def test_a_read_only_store_is_called_read_only(
    tmp_path: Path, data: Path, command: list[str]
) -> None:
    store = tmp_path / "store"
    assert pachs3_cli("put", "--store", str(store), "labresults", str(data)).returncode == 0
    before = sorted(p.name for p in store.rglob("*"))
    _read_only(store)
    try:
        extra = [str(data)] if command[0] == "put" else []
        line = one_line_error(_run_restricted(*command, "--store", str(store), *extra))
    finally:
        _writable(store)
    assert f"the store {store} is read-only" in line
    assert "make it writable, or copy it somewhere writable" in line
    assert "not a pachs3 store" not in line
    assert sorted(p.name for p in store.rglob("*")) == before


def test_a_store_in_a_read_only_directory(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(stat.S_IREAD | stat.S_IEXEC)
    try:
        line = one_line_error(_run_restricted("repos", "--store", str(parent / "store")))
    finally:
        parent.chmod(0o755)
    assert f"the store {parent / 'store'} cannot be written (Permission denied" in line
    assert not (parent / "store").exists()


def test_put_of_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    line = one_line_error(pachs3_cli("put", "--store", str(tmp_path / "s"), "r", str(missing)))
    assert f"{missing}: no such file or directory; give existing files or directories" in line


@pytest.mark.parametrize(("make", "words"), [(None, "does not exist"), ("file", "is a file")])
def test_run_with_a_missing_input_directory(tmp_path: Path, make: str | None, words: str) -> None:
    spec = tmp_path / "pipeline.json"
    spec.write_text(
        '{"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]},'
        ' "input": {"pfs": {"repo": "labresults", "glob": "/", "s3": true}}}'
    )
    if make == "file":
        (tmp_path / "seed").write_text("")
    store = tmp_path / "store"
    result = pachs3_cli("run", str(spec), "--store", str(store), "--input", "labresults=seed",
                        cwd=tmp_path)  # fmt: skip
    line = one_line_error(result)
    assert f"--input labresults=seed: seed {words}; give the directory" in line
    with LocalStore(store) as backend:
        assert backend.list_repos() == []


def test_a_missing_repo_says_how_to_find_one(tmp_path: Path) -> None:
    line = one_line_error(pachs3_cli("files", "--store", str(tmp_path / "s"), "nope"), code=1)
    assert line == (
        "pachs3: error: repo not found: nope; `pachs3 repos` lists the repos; "
        "`pachs3 put REPO PATH...` makes one"
    )


def test_the_library_calls_a_read_only_store_read_only_too(tmp_path: Path, data: Path) -> None:
    store = tmp_path / "store"
    assert pachs3_cli("put", "--store", str(store), "labresults", str(data)).returncode == 0
    _read_only(store)
    try:
        opened = subprocess.run(
            _without_override([sys.executable, "-c",
                               "import sys; from pachs3.backends.local import LocalStore; "
                               "LocalStore(sys.argv[1])", str(store)]),
            capture_output=True, text=True, env=cli_env(), timeout=120, check=False,
        )  # fmt: skip
    finally:
        _writable(store)
    assert opened.returncode == 1
    last = opened.stderr.strip().splitlines()[-1]
    assert last.startswith(f"pachs3.backends.local.database.StoreError: {store}/store.db cannot")
    assert last.endswith("the store is read-only, and pachs3 writes to its store even to read it")
