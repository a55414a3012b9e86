"""``read_commit`` and ``commit_files``: bytes in, bytes out, on both local backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pachs3 import Backend, MemoryBackend, read_commit
from pachs3.runner import commit_files


@pytest.fixture(params=["local", "memory"])
def backend(request: pytest.FixtureRequest, pachs3_store: Backend) -> Backend:
    return pachs3_store if request.param == "local" else MemoryBackend()


def test_a_commit_round_trips_as_bytes(backend: Backend, tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 + 5)  # more than one read chunk on every backend
    (tmp_path / "local.bin").write_bytes(b"from a file")
    files = {"a/big.bin": big, "a/x": b"x", "b": b"", "c/local.bin": tmp_path / "local.bin"}
    info, count, size, unchanged = commit_files(backend, "repo", "master", files)
    assert (count, size, unchanged) == (4, len(big) + 1 + len(b"from a file"), False)
    expected = {"a/big.bin": big, "a/x": b"x", "b": b"", "c/local.bin": b"from a file"}
    assert read_commit(backend, info) == expected
    assert list(read_commit(backend, info.ref)) == sorted(expected)
    assert read_commit(backend, info, prefix="a/") == {"a/big.bin": big, "a/x": b"x"}
    assert read_commit(backend, info, prefix="zzz") == {}


def test_commit_files_adds_over_the_head_unless_replacing(backend: Backend) -> None:
    commit_files(backend, "repo", "master", {"old": b"o"})
    added = commit_files(backend, "repo", "master", {"new": b"n"}).commit
    assert read_commit(backend, added) == {"new": b"n", "old": b"o"}
    replaced = commit_files(backend, "repo", "master", {"new": b"n"}, replace=True).commit
    assert read_commit(backend, replaced) == {"new": b"n"}
    # The same bytes again make no commit (the rule commit_paths has for re-seeds).
    again = commit_files(backend, "repo", "master", {"new": b"n"}, replace=True)
    assert again.unchanged
    assert again.commit.id == replaced.id
