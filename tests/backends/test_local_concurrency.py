"""Many writers and readers on one store at once: threads of one process, and processes.

Writers commit random puts, deletes, copies and composes on their own branches; readers keep
re-reading commits that writers have reported finished; ``gc()`` runs throughout (the race it
must win: a blob renamed into place whose entry is not committed yet). Every byte is verified.
"""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import store_workload as wl

from pachs3.backends import LocalStore

WORKLOAD = Path(wl.__file__)
ROOT = WORKLOAD.parents[2]


class Published:
    """Commits reported finished, shared between writer and reader threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.views: dict[str, dict[str, str]] = {}

    def add(self, commit_id: str, view: dict[str, str]) -> None:
        with self.lock:
            self.views[commit_id] = view

    def pick(self, rng: random.Random) -> tuple[str, dict[str, str]] | None:
        with self.lock:
            if not self.views:
                return None
            commit_id = rng.choice(sorted(self.views))
            return commit_id, self.views[commit_id]


def run_threads(targets: list[threading.Thread]) -> None:
    for thread in targets:
        thread.start()
    for thread in targets:
        thread.join(timeout=120)
        assert not thread.is_alive()


def test_threads_write_read_and_collect_at_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.create_repo(wl.REPO)
    published = Published()
    errors: list[BaseException] = []
    writers_done = threading.Event()

    def guarded(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                errors.append(exc)

        return run

    def writer(n: int) -> None:
        work = wl.Writer(store, f"t{n}", f"branch-{n}", big=False)
        for _ in range(12):
            commit_id, view = work.commit()
            published.add(commit_id, view)

    def reader(n: int) -> None:
        rng = random.Random(n)
        while not writers_done.is_set():
            picked = published.pick(rng)
            if picked is None:
                time.sleep(0.001)
                continue
            commit_id, view = picked
            ref = store.inspect_commit(wl.REPO, commit_id).ref
            assert wl.verify_commit(store, ref) == view

    def collector() -> None:
        while not writers_done.is_set():
            store.gc()
            time.sleep(0.02)

    writers = [threading.Thread(target=guarded(functools.partial(writer, n))) for n in range(6)]
    others = [threading.Thread(target=guarded(functools.partial(reader, n))) for n in range(3)]
    others.append(threading.Thread(target=guarded(collector)))
    for thread in others:
        thread.start()
    run_threads(writers)
    writers_done.set()
    for thread in others:
        thread.join(timeout=60)
    assert errors == []
    assert len(published.views) == 72
    store.gc()
    for commit_id, view in published.views.items():
        assert wl.verify_commit(store, store.inspect_commit(wl.REPO, commit_id).ref) == view
    store.close()


def test_processes_write_while_this_one_reads_and_collects(tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    store = LocalStore(store_path)
    store.create_repo(wl.REPO)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reports = [tmp_path / f"report-{n}.jsonl" for n in range(3)]
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKLOAD),
                "load-writer",
                str(store_path),
                str(report),
                f"p{n}",
                f"branch-{n}",
                "15",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, report in enumerate(reports)
    ]
    verified: set[str] = set()
    rng = random.Random(3)
    while any(child.poll() is None for child in children):
        lines = [line for report in reports for line in wl.read_reports(report)]
        fresh = [line for line in lines if line["id"] not in verified]
        for line in rng.sample(fresh, min(len(fresh), 5)):
            ref = store.inspect_commit(wl.REPO, line["id"]).ref
            assert wl.verify_commit(store, ref) == line["files"]
            verified.add(line["id"])
        store.gc()
    for child in children:
        _, err = child.communicate()
        assert child.returncode == 0, err
    lines = [line for report in reports for line in wl.read_reports(report)]
    assert len(lines) == 45
    store.gc()
    for line in lines:
        ref = store.inspect_commit(wl.REPO, line["id"]).ref
        assert wl.verify_commit(store, ref) == line["files"]
    heads = {store.inspect_branch(wl.REPO, f"branch-{n}").head for n in range(3)}
    assert heads == {wl.read_reports(report)[-1]["id"] for report in reports}
    store.close()
