"""The global gateway's commits: one per write vs batched (``GlobalGateway(batch_ms=...)``).

Writers (boto3 clients, in process: ``gateway.client()``) put small objects to one branch of a
fresh ``LocalStore``; each put is answered only once its commit finished, in both modes. Per
mode and writer count: objects written per second, commits made, and commits per second. The
batched modes make fewer commits: a batch is finished once quiet (or at the end of its window),
and with W writers each waiting for its answer, it holds at most W writes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Json, Preset
from pachs3 import GlobalGateway, LocalStore

MODES: dict[str, float | None] = {"per-write": None, "batch-20ms": 20.0, "batch-100ms": 100.0}
BODY = b"x" * 1024


def sizes(preset: Preset) -> tuple[tuple[int, ...], int]:
    """(writer counts, objects per writer) for the preset."""
    if preset.name == "smoke":
        return (1, 4), 3
    if preset.name == "quick":
        return (1, 16), 20
    return (1, 16), 60


def measure(store_dir: Path, batch_ms: float | None, writers: int, each: int) -> Json:
    with LocalStore(store_dir) as store, GlobalGateway(store, batch_ms=batch_ms) as gateway:
        gateway.client().create_bucket(Bucket="bulk")
        before = len(store.list_commits("bulk", branch="master"))
        clients: list[Any] = [gateway.client() for _ in range(writers)]
        errors: list[BaseException] = []

        def write(number: int) -> None:
            try:
                for n in range(each):
                    clients[number].put_object(Bucket="bulk", Key=f"{number}/{n}", Body=BODY)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        if errors:
            raise errors[0]
        commits = len(store.list_commits("bulk", branch="master")) - before
    objects = writers * each
    return {
        "writers": writers,
        "objects": objects,
        "commits": commits,
        "seconds": seconds,
        "objects_per_s": objects / seconds,
        "commits_per_s": commits / seconds,
    }


def run(preset: Preset, workdir: Path) -> Json:
    writer_counts, each = sizes(preset)
    results: Json = {"modes": {}}
    for mode, batch_ms in MODES.items():
        rows = []
        for writers in writer_counts:
            store_dir = workdir / f"{mode}-{writers}"
            rows.append(measure(store_dir, batch_ms, writers, each))
        results["modes"][mode] = rows
    return results
