"""ListObjectVersions at a deep history: what one page costs as the history grows.

A branch of a fresh ``LocalStore`` gets ``depth`` commits, each rewriting one key (``deep``);
the first commit also writes ``KEYS`` other keys once. Through the global gateway (boto3 in
process, ``gateway.client()``), per depth:

* the first page (no markers) and a page resumed inside ``deep``'s history, half way down
  (``KeyMarker=deep``, ``VersionIdMarker`` = its version at depth/2): seconds per page
  (median of ``ROUNDS``);
* the store reads of each of those pages, counted around ``pachs3.versions.list_versions``
  (the function the gateway runs for the page): backend calls (``walk_files`` per commit over
  the base protocol, ``walk_history`` for LocalStore's own walk from its history index),
  entries the walks handed out, and LocalStore's seeks in its path and history indexes
  (``range_scans``);
* every version of ``deep`` read page by page (pages of ``PAGE`` lines): pages and seconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import Json, Preset
from pachs3 import GlobalGateway, LocalStore, versions
from pachs3.core.plans import ListVersions
from pachs3.core.refs import CommitRef

REPO = "deep"
KEY = "deep"
KEYS = 20
PAGE = 100
ROUNDS = 3
READS = ("list_commits", "inspect_commit", "inspect_file", "walk_files", "walk_history")


def depths(preset: Preset) -> tuple[int, ...]:
    if preset.name == "smoke":
        return (10,)
    if preset.name == "quick":
        return (100, 1000)
    return (100, 1000, 3000)


class Counting:
    """Delegates to a backend; counts calls of its read methods and what walks yield (files,
    or changes for a backend's own ``walk_history``)."""

    def __init__(self, inner: LocalStore) -> None:
        self._inner = inner
        self.calls: dict[str, int] = dict.fromkeys(READS, 0)
        self.entries = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in READS:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            result = attribute(*args, **kwargs)
            return self._walk(result) if name.startswith("walk_") else result

        return counted

    def _walk(self, walk: Iterator[Any]) -> Iterator[Any]:
        try:
            for item in walk:
                self.entries += 1
                yield item
        finally:
            close = getattr(walk, "close", None)
            if close is not None:
                close()


def build(store: LocalStore, depth: int) -> list[str]:
    """The branch's commits, oldest first: ``deep`` written in each, the others in the first."""
    store.create_repo(REPO, exist_ok=True)
    ids = []
    for n in range(depth):
        info = store.start_commit(REPO, "master")
        store.put_file(info.ref, KEY, [str(n).encode()])
        if n == 0:
            for k in range(KEYS):
                store.put_file(info.ref, f"k{k:03}", [b"0"])
        ids.append(store.finish_commit(REPO, info.id).id)
    return ids


def page_reads(store: LocalStore, head: str, key_marker: str, version_marker: str) -> Json:
    counting = Counting(store)
    scans = store.range_scans
    listing = ListVersions(
        ref=CommitRef(repo=REPO, id=head),
        bucket=REPO,
        ancestry=True,
        max_keys=PAGE,
        key_marker=key_marker,
        version_id_marker=version_marker,
    )
    page = versions.list_versions(listing, counting, iter(()))  # type: ignore[arg-type]
    return {
        **counting.calls,
        "entries": counting.entries,
        "range_scans": store.range_scans - scans,
        "lines": len(page.entries),
    }


def measure(store_dir: Path, depth: int) -> Json:
    with LocalStore(store_dir) as store, GlobalGateway(store) as gateway:
        started = time.perf_counter()
        ids = build(store, depth)
        built = time.perf_counter() - started
        s3 = gateway.client()
        middle = ids[depth // 2]
        pages = {"first": ("", ""), "resumed": (KEY, middle)}
        seconds: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(ROUNDS):
            for name, (key_marker, version_marker) in pages.items():
                kwargs: dict[str, Any] = {"Bucket": REPO, "MaxKeys": PAGE}
                if key_marker:
                    kwargs |= {"KeyMarker": key_marker, "VersionIdMarker": version_marker}
                began = time.perf_counter()
                answer = s3.list_object_versions(**kwargs)
                seconds[name].append(time.perf_counter() - began)
                assert len(answer.get("Versions", [])) == min(PAGE, _lines(depth, key_marker))
        reads = {name: page_reads(store, ids[-1], *marks) for name, marks in pages.items()}

        began = time.perf_counter()
        listed, count, kwargs = 0, 0, {"Bucket": REPO, "Prefix": KEY, "MaxKeys": PAGE}
        while True:
            answer = s3.list_object_versions(**kwargs)
            count += 1
            listed += len(answer.get("Versions", []))
            if not answer.get("IsTruncated"):
                break
            kwargs |= {
                "KeyMarker": answer["NextKeyMarker"],
                "VersionIdMarker": answer["NextVersionIdMarker"],
            }
        whole = time.perf_counter() - began
        assert listed == depth, (listed, depth)
    return {
        "depth": depth,
        "build_seconds": built,
        "page_lines": PAGE,
        "first_page_s": statistics.median(seconds["first"]),
        "resumed_page_s": statistics.median(seconds["resumed"]),
        "first_page_reads": reads["first"],
        "resumed_page_reads": reads["resumed"],
        "every_version_pages": count,
        "every_version_s": whole,
    }


def _lines(depth: int, key_marker: str) -> int:
    if not key_marker:  # deep's versions, then the other keys' one each
        return depth + KEYS
    return depth // 2 + KEYS  # deep's versions older than the marker, then the others


def run(preset: Preset, workdir: Path) -> Json:
    return {"rows": [measure(workdir / f"depth-{d}", d) for d in depths(preset)]}


def _print(rows: list[Json]) -> None:
    print("depth  first page   resumed page  walk_files/page  seeks/page  every version")
    for r in rows:
        first, resumed = r["first_page_reads"], r["resumed_page_reads"]
        print(
            f"{r['depth']:5}  {r['first_page_s'] * 1000:8.1f} ms  "
            f"{r['resumed_page_s'] * 1000:9.1f} ms"
            f"  {first['walk_files']:9}/{resumed['walk_files']:<5}  "
            f"{first['range_scans']:5}/{resumed['range_scans']:<5}  "
            f"{r['every_version_pages']} pages {r['every_version_s']:.2f} s"
        )


if __name__ == "__main__":
    import argparse
    import json
    import tempfile

    from benchmarks.harness import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pachs3-versions-") as scratch:
        result = run(PRESETS[args.preset], Path(scratch))
    _print(result["rows"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
