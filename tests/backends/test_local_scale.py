"""The local store at scale: a million files in one commit, O(1) commit start, flat memory.

Timings are compared as ratios on the same machine and store (never against absolute limits);
absolute figures are produced by ``benchmarks/store_figures.py`` and recorded in docs/store.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pachs3.backends import CommitRef, LocalStore

ROOT = Path(__file__).resolve().parents[2]
FILES = 1_000_000
DIRS = 1000


def key(n: int) -> str:
    return f"dir{n // (FILES // DIRS):04d}/file{n % (FILES // DIRS):04d}"


@dataclass
class Million:
    store: LocalStore
    big: CommitRef  # master of repo "big": FILES files
    small: CommitRef  # master of repo "small": 10 files


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Million]:
    store = LocalStore(tmp_path_factory.mktemp("million") / "store")
    for repo, count in (("big", FILES), ("small", 10)):
        store.create_repo(repo)
        info = store.start_commit(repo, "master")
        store.put_files(info.ref, ((key(n), b"%d" % (n % 7)) for n in range(count)))
        store.finish_commit(repo, info.id)
    yield Million(store, CommitRef(repo="big", id="master"), CommitRef(repo="small", id="master"))
    store.close()


@pytest.mark.slow
def test_walk_a_million_files_in_order(million: Million) -> None:
    count = 0
    for n, info in enumerate(million.store.walk_files(million.big)):
        assert info.path == key(n)
        count += 1
    assert count == FILES


@pytest.mark.slow
def test_delimiter_style_walk_seeks_past_each_directory(million: Million) -> None:
    store, ref = million.store, million.big
    directories = []
    after = ""
    while True:
        first = next(iter(store.walk_files(ref, start_after=after)), None)
        if first is None:
            break
        directory = first.path.split("/")[0] + "/"
        directories.append(directory)
        after = directory + "\U0010ffff"
    assert directories == [f"dir{d:04d}/" for d in range(DIRS)]
    inside = [i.path for i in store.walk_files(ref, prefix="dir0999/", start_after="dir0999/f")]
    assert inside == [key(n) for n in range(FILES - 1000, FILES)]
    assert b"".join(store.read_file(ref, key(123_456))) == b"%d" % (123_456 % 7)


def median_time(action: Callable[[], object], rounds: int = 25) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.slow
def test_starting_a_commit_costs_the_same_on_10_and_on_a_million_files(million: Million) -> None:
    store = million.store
    opened: list[tuple[str, str]] = []

    def start(repo: str) -> Callable[[], object]:
        def action() -> None:
            info = store.start_commit(repo, "master")
            opened.append((repo, info.id))

        return action

    median_time(start("small"), 5)  # warm up
    small = median_time(start("small"))
    big = median_time(start("big"))
    small_again = median_time(start("small"))
    for repo, commit_id in opened:
        store.discard_commit(repo, commit_id)
    ratio = big / min(small, small_again)
    assert ratio < 5, f"start on 1M files took {ratio:.1f}x the time on 10 files"


@pytest.mark.slow
def test_finishing_a_small_commit_on_a_million_files_is_cheap_too(million: Million) -> None:
    store = million.store

    def cycle(repo: str) -> Callable[[], object]:
        head = store.inspect_commit(repo, "master").id

        def action() -> None:
            info = store.start_commit(repo, "scratch", parent=head)
            store.put_file(info.ref, "dir0000/new", [b"n"])
            store.finish_commit(repo, info.id)

        return action

    small = median_time(cycle("small"), 15)
    big = median_time(cycle("big"), 15)
    assert big / small < 5, f"a small commit on 1M files took {big / small:.1f}x"
    assert store.inspect_branch("big", "master").head == store.inspect_commit("big", "master").id


MEMORY_PROBE = """
import hashlib, json, resource, sys
from pachs3.backends import LocalStore

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

def chunks(mib):
    for i in range(mib):
        yield hashlib.sha256(i.to_bytes(8, "big")).digest() * 32768  # 1 MiB each

store = LocalStore(sys.argv[1], durability=sys.argv[3])
store.create_repo("r")
info = store.start_commit("r", "master")
store.put_file(info.ref, "warm", chunks(2))  # first use allocates what later uses reuse
for _ in store.read_file(info.ref, "warm"):
    pass
mib = int(sys.argv[2])
expected = hashlib.sha256()
for chunk in chunks(mib):
    expected.update(chunk)
before = peak()
written = store.put_file(info.ref, "big", chunks(mib))
after_write = peak()
got = hashlib.sha256()
for chunk in store.read_file(info.ref, "big"):
    got.update(chunk)
after_read = peak()
print(json.dumps({"before": before, "after_write": after_write, "after_read": after_read,
                  "size": written.size, "same": got.hexdigest() == expected.hexdigest()}))
"""


@pytest.mark.parametrize("durability", ["process-crash", "power-loss"])
def test_memory_stays_flat_writing_and_reading_256_mib(tmp_path: Path, durability: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "s"), "256", durability],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    probe = json.loads(out)
    assert probe["size"] == 256 << 20
    assert probe["same"]
    mib = 1 << 20
    assert probe["after_write"] - probe["before"] < 24 * mib, probe
    assert probe["after_read"] - probe["before"] < 24 * mib, probe
