"""Crash consistency: a writer process is SIGKILLed at random instants, over and over.

After every kill the store must reopen without repair, every commit the writer reported as
finished must be there byte for byte, and no file anywhere may be partial. The writer reports a
commit only after ``finish_commit`` returned, and fsyncs the report, so the report is a lower
bound of what was acknowledged.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import store_workload as wl

from pachs3.backends import LocalStore
from pachs3.backends.local.blobs import INLINE_MAX

KILLS = 24
WORKLOAD = Path(wl.__file__)
ROOT = WORKLOAD.parents[2]


def spawn_writer(store: Path, report: Path, seed: str, durability: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [str(store), str(report), seed, durability]
    return subprocess.Popen(
        [sys.executable, str(WORKLOAD), "crash-writer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def check_after_kill(store_path: Path, reports: list[dict[str, object]]) -> None:
    """Cheap checks after each kill: the store opens, the newest acknowledged commit is intact,
    the branch head is that commit or a later finished one, and open leftovers are consistent."""
    with LocalStore(store_path) as store:
        head = store.inspect_commit(wl.REPO, "master")
        assert head.finished is not None
        if reports:
            last = reports[-1]
            info = store.inspect_commit(wl.REPO, str(last["id"]))
            assert info.finished is not None
            assert info.error is None
            assert wl.verify_commit(store, info.ref) == last["files"]
            # Finished after the last report line was written, before the kill: allowed.
            assert info.id in (head.id, head.parent)
        for info in store.list_commits(wl.REPO):
            if info.is_open:
                wl.verify_commit(store, info.ref)


def test_the_workload_writes_both_inline_and_file_contents() -> None:
    """The kills must land in small writes (content inline, committed with its entry) as well as
    in big ones (blob file renamed before the entry commits), and in composes mixing both."""
    assert any(0 < size <= INLINE_MAX for size in wl.SIZES)
    assert any(size > INLINE_MAX for size in wl.SIZES)


@pytest.mark.slow
def test_sigkill_at_random_instants_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    rng = random.Random(20240607)
    store_path = tmp_path / "store"
    report = tmp_path / "report.jsonl"
    for kill in range(KILLS):
        durability = "power-loss" if kill % 2 else "process-crash"
        child = spawn_writer(store_path, report, f"s{kill}", durability)
        assert child.stdout is not None
        ready = child.stdout.readline()
        if ready.strip() != "ready":
            child.kill()
            _, err = child.communicate()
            pytest.fail(f"writer failed to start: {err}")
        time.sleep(rng.uniform(0.02, 0.4))
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate()
        assert child.returncode == -signal.SIGKILL, err
        check_after_kill(store_path, wl.read_reports(report))

    reports = wl.read_reports(report)
    assert len(reports) > KILLS, "the writer should have finished commits between kills"
    with LocalStore(store_path) as store:
        for line in reports:
            ref = store.inspect_commit(wl.REPO, str(line["id"])).ref
            assert wl.verify_commit(store, ref) == line["files"]
        every = store.list_commits(wl.REPO)
        assert {str(line["id"]) for line in reports} <= {c.id for c in every}
        seen: dict[object, str] = {}
        for info in every:
            wl.verify_commit(store, info.ref, seen)
        # Open commits of killed writers are abandoned work; discarding them and collecting
        # garbage reclaims their blobs and leaves the finished history untouched.
        for info in every:
            if info.is_open:
                store.discard_commit(wl.REPO, info.id)
        store.gc(temp_min_age=0)
        assert os.listdir(store_path / "tmp") == []
        # gc kept every blob a finished commit needs (each entry is read once more).
        seen.clear()
        for line in reports:
            ref = store.inspect_commit(wl.REPO, str(line["id"])).ref
            assert wl.verify_commit(store, ref, seen) == line["files"]
