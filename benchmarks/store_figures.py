"""Figures of the local store for docs/store.md.

    python benchmarks/store_figures.py [--files 1000000] [--big-mib 1024] [--dir DIR]

Measures, on this machine:

- listing: files walked per second in one commit of ``--files`` files, and directory seeks per
  second for a delimiter-style walk (one seek per common prefix);
- commit start on a branch of 10 files vs one of ``--files`` files (median), and the cost of a
  one-file commit (start, put, finish) on each, for both durability settings;
- small writes: 4 KiB ``put_file`` calls per second and one-file commits per second;
- small objects: median microseconds of ``put_file``, ``inspect_file`` and a whole ``read_file``
  for a 4 KiB file (kept inline in the database) and for one just above the inline threshold
  (a blob file); ``--small`` measures only these;
- one ``--big-mib`` file: write and read MB/s (read both from the page cache and, after evicting
  the blob's pages, from disk) and the process's peak RSS before and after, each durability in a
  fresh process so the peak belongs to that run alone. A plain sequential write of the same
  size (no store) is the disk's baseline.

Prints a Markdown table; ``--json`` prints the raw figures instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pachs3.backends import CommitRef, LocalStore  # noqa: E402
from pachs3.backends.local.blobs import INLINE_MAX  # noqa: E402

DURABILITIES = ("process-crash", "power-loss")
MIB = 1 << 20


def key(n: int, per_dir: int = 1000) -> str:
    return f"dir{n // per_dir:05d}/file{n % per_dir:04d}"


def medians(actions: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each action, run in turn round after round (so that a slow moment of
    the machine or the disk hits all of them alike)."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(spent) for name, spent in times.items()}


# --------------------------------------------------------------------------------------------
# Many files


def build(path: Path, files: int) -> dict[str, float]:
    """One commit of ``files`` small files (and one of 10), sharing 1000 distinct blobs."""
    rates = []
    with LocalStore(path) as store:
        for repo, count in (("big", files), ("small", 10)):
            store.create_repo(repo)
            info = store.start_commit(repo, "master")
            start = time.perf_counter()
            store.put_files(info.ref, ((key(n), b"%d" % (n % 1000)) for n in range(count)))
            rates.append(count / (time.perf_counter() - start))
            store.finish_commit(repo, info.id)
    return {"bulk_put_files_per_s": rates[0]}


def listing(path: Path, files: int) -> dict[str, float]:
    with LocalStore(path) as store:
        ref = CommitRef(repo="big", id="master")
        start = time.perf_counter()
        count = sum(1 for _ in store.walk_files(ref))
        walk = time.perf_counter() - start
        assert count == files
        start = time.perf_counter()
        seeks, after = 0, ""
        while (first := next(iter(store.walk_files(ref, start_after=after)), None)) is not None:
            after = first.path.split("/")[0] + "/\U0010ffff"
            seeks += 1
        seek = time.perf_counter() - start
    return {"files_listed_per_s": files / walk, "walk_s": walk, "prefix_seeks_per_s": seeks / seek}


def commits(path: Path, durability: str) -> dict[str, float]:
    out: dict[str, float] = {}
    with LocalStore(path, durability=durability) as store:  # type: ignore[arg-type]
        opened: list[tuple[str, str]] = []

        def start(repo: str) -> Callable[[], object]:
            return lambda: opened.append((repo, store.start_commit(repo, "master").id))

        medians({"warm-up": start("small")}, 5)
        starts = medians({"small": start("small"), "big": start("big")}, 41)
        out["start_10_files_ms"] = starts["small"] * 1000
        out["start_1m_files_ms"] = starts["big"] * 1000
        for repo, commit_id in opened:
            store.discard_commit(repo, commit_id)

        def one_file_commit(repo: str) -> Callable[[], object]:
            head = store.inspect_commit(repo, "master").id

            def action() -> None:
                info = store.start_commit(repo, f"scratch-{durability}", parent=head)
                store.put_file(info.ref, "dir00000/new", [b"n"])
                store.finish_commit(repo, info.id)

            return action

        cycles = medians({"small": one_file_commit("small"), "big": one_file_commit("big")}, 21)
        out["one_file_commit_10_files_ms"] = cycles["small"] * 1000
        out["one_file_commit_1m_files_ms"] = cycles["big"] * 1000

        store.create_repo(f"puts-{durability}")
        info = store.start_commit(f"puts-{durability}", "master")
        payload = os.urandom(4096)
        start_time = time.perf_counter()
        for n in range(500):
            store.put_file(info.ref, f"f{n}", [payload[:-4] + n.to_bytes(4, "big")])
        out["put_4k_per_s"] = 500 / (time.perf_counter() - start_time)
        store.finish_commit(f"puts-{durability}", info.id)
    return out


def small_objects(path: Path, durability: str, count: int = 2000) -> dict[str, float]:
    """Median µs per call on small files: 4 KiB (inline) and INLINE_MAX + 1 bytes (a blob file).

    Medians, not means: on a shared machine a few calls stall on the disk or the scheduler, and
    the mean then measures the neighbours."""
    out: dict[str, float] = {}
    with LocalStore(path, durability=durability) as store:  # type: ignore[arg-type]
        for label, size in (("4k", 4096), ("file", INLINE_MAX + 1)):
            repo = f"small-{label}-{durability}"
            store.create_repo(repo)
            info = store.start_commit(repo, "master")
            body = os.urandom(size - 4)
            calls = count if durability == "process-crash" else count // 10
            spent: dict[str, list[float]] = {"put": [], "inspect": [], "read": []}
            for n in range(calls):
                data = body + n.to_bytes(4, "big")  # distinct contents: no deduplication
                start = time.perf_counter()
                store.put_file(info.ref, f"f{n}", [data])
                spent["put"].append(time.perf_counter() - start)
            for n in range(calls):
                start = time.perf_counter()
                store.inspect_file(info.ref, f"f{n}")
                spent["inspect"].append(time.perf_counter() - start)
                start = time.perf_counter()
                for _chunk in store.read_file(info.ref, f"f{n}"):
                    pass
                spent["read"].append(time.perf_counter() - start)
            store.finish_commit(repo, info.id)
            for op, times in spent.items():
                out[f"{op}_{label}_us"] = statistics.median(times) * 1e6
    return out


# --------------------------------------------------------------------------------------------
# One big file (run in a child process per durability: ru_maxrss is a process-wide peak)


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def chunks(block: bytes, count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield block


def evict(path: Path) -> None:
    """Drop one file's pages from the page cache (clean pages only: sync first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def big_file_child(path: Path, durability: str, mib: int) -> dict[str, float]:
    block = os.urandom(MIB)
    with LocalStore(path, durability=durability) as store:  # type: ignore[arg-type]
        store.create_repo("big")
        info = store.start_commit("big", "master")
        store.put_file(info.ref, "warm", chunks(block[:1000], 3))  # first-use allocations
        before = peak_rss()
        start = time.perf_counter()
        store.put_file(info.ref, "file.bin", chunks(block, mib))
        write = time.perf_counter() - start
        after_write = peak_rss()
        start = time.perf_counter()
        size = sum(len(chunk) for chunk in store.read_file(info.ref, "file.bin"))
        warm_read = time.perf_counter() - start
        assert size == mib * MIB
        [blob] = [p for p in (path / "blobs").rglob("*") if p.is_file() and p.stat().st_size > MIB]
        evict(blob)
        start = time.perf_counter()
        size = sum(len(chunk) for chunk in store.read_file(info.ref, "file.bin"))
        cold_read = time.perf_counter() - start
        after_read = peak_rss()
    return {
        "write_mb_s": mib / write,
        "read_warm_mb_s": mib / warm_read,
        "read_cold_mb_s": mib / cold_read,
        "rss_before_mib": before / MIB,
        "rss_peak_write_mib": after_write / MIB,
        "rss_peak_read_mib": after_read / MIB,
    }


def raw_disk(path: Path, mib: int) -> dict[str, float]:
    block = os.urandom(MIB)
    target = path / "raw.bin"
    start = time.perf_counter()
    with target.open("wb") as f:
        for _ in range(mib):
            f.write(block)
    buffered = time.perf_counter() - start
    fd = os.open(target, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    synced = time.perf_counter() - start
    target.unlink()
    return {"raw_write_mb_s": mib / buffered, "raw_write_fsync_mb_s": mib / synced}


def big_file(path: Path, durability: str, mib: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--big-child", str(path), durability, str(mib)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, float] = json.loads(out)
    return figures


# --------------------------------------------------------------------------------------------


def measure(files: int, mib: int, where: str | None) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "files": files,
        "big_mib": mib,
        "cpus": os.cpu_count(),
        "inline_max_plus_1": INLINE_MAX + 1,
    }
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = Path(tmp)
        store = root / "million"
        figures |= build(store, files)
        figures |= listing(store, files)
        for durability in DURABILITIES:
            figures[durability] = commits(store, durability)
            figures[durability] |= small_objects(root / "small", durability)
        figures |= raw_disk(root, mib)
        for durability in DURABILITIES:
            figures[durability] |= big_file(root / f"big-{durability}", durability, mib)
    return figures


ROWS: list[tuple[str, str, str]] = [
    # (label, key in a durability's figures, format)
    ("start_commit, branch of 10 files (ms)", "start_10_files_ms", ".3f"),
    ("start_commit, branch of {files:,} files (ms)", "start_1m_files_ms", ".3f"),
    ("one-file commit (start, put, finish) on 10 files (ms)", "one_file_commit_10_files_ms", ".2f"),
    ("one-file commit on {files:,} files (ms)", "one_file_commit_1m_files_ms", ".2f"),
    ("4 KiB put_file calls per second", "put_4k_per_s", ",.0f"),
    ("4 KiB put_file, median (µs)", "put_4k_us", ".0f"),
    ("4 KiB inspect_file, median (µs)", "inspect_4k_us", ".0f"),
    ("4 KiB read_file, whole, median (µs)", "read_4k_us", ".0f"),
    ("{inline_max_plus_1:,} B (a blob file) put_file, median (µs)", "put_file_us", ".0f"),
    ("{inline_max_plus_1:,} B inspect_file, median (µs)", "inspect_file_us", ".0f"),
    ("{inline_max_plus_1:,} B read_file, whole, median (µs)", "read_file_us", ".0f"),
    ("write a {big_mib} MiB file (MB/s)", "write_mb_s", ".0f"),
    ("read it back from the page cache (MB/s)", "read_warm_mb_s", ".0f"),
    ("read it back from disk (MB/s)", "read_cold_mb_s", ".0f"),
    ("process peak RSS before the big file (MiB)", "rss_before_mib", ".1f"),
    ("process peak RSS after writing it (MiB)", "rss_peak_write_mib", ".1f"),
    ("process peak RSS after reading it (MiB)", "rss_peak_read_mib", ".1f"),
]


def small_markdown(f: dict[str, Any]) -> str:
    lines = ["| figure | process-crash | power-loss |", "|---|---:|---:|"]
    for label, name, spec in ROWS:
        if name in f[DURABILITIES[0]]:
            cells = [format(f[d][name], spec) for d in DURABILITIES]
            lines.append(f"| {label.format(**f)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def markdown(f: dict[str, Any]) -> str:
    lines = [
        f"Listing one commit of {f['files']:,} files: {f['files_listed_per_s']:,.0f} files per "
        f"second ({f['walk_s']:.1f} s for all); a delimiter-style walk seeks past "
        f"{f['prefix_seeks_per_s']:,.0f} common prefixes per second. Loading them with the bulk "
        f"`put_files`: {f['bulk_put_files_per_s']:,.0f} files per second.",
        "",
        "| figure | process-crash | power-loss |",
        "|---|---:|---:|",
    ]
    for label, name, spec in ROWS:
        cells = [format(f[d][name], spec) for d in DURABILITIES]
        lines.append(f"| {label.format(**f)} | {cells[0]} | {cells[1]} |")
    lines.append(
        f"\nBaseline, a plain sequential write of {f['big_mib']} MiB from Python on the same disk: "
        f"{f['raw_write_mb_s']:.0f} MB/s buffered, {f['raw_write_fsync_mb_s']:.0f} MB/s "
        f"including the final fsync. {f['cpus']} CPUs."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--dir", default=None, help="where to create the scratch stores")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--small", action="store_true", help="only the small-object figures")
    parser.add_argument("--big-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big_child:
        path, durability, mib = args.big_child
        print(json.dumps(big_file_child(Path(path), durability, int(mib))))
        return
    if args.small:
        small: dict[str, Any] = {"inline_max_plus_1": INLINE_MAX + 1}
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            for durability in DURABILITIES:
                small[durability] = small_objects(Path(tmp) / "small", durability)
        print(json.dumps(small, indent=2) if args.json else small_markdown(small))
        return
    figures = measure(args.files, args.big_mib, args.dir)
    print(json.dumps(figures, indent=2) if args.json else markdown(figures))


if __name__ == "__main__":
    main()
