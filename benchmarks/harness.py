"""What every workload shares: presets, timed loops, interleaved rounds, medians, the machine.

Method (why the numbers can be trusted on a busy 2-core machine):

* one measurement of a target is a short timed loop (``rate``) or a single timed call;
* a *round* measures every target once, in an order that rotates from round to round, so no
  target always runs first (cold) or last (after the others warmed the caches);
* a figure is the median over rounds; a ratio A/B is the median over rounds of A_r / B_r, each
  pair measured seconds apart under the same background load.
"""

from __future__ import annotations

import gc
import itertools
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

Json = dict[str, Any]
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Presets


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    """Sizes and repetitions of one run. ``full`` is the published run (about 15 minutes)."""

    name: str
    # server cost per small request (raw HTTP client, servers in their own processes)
    server_connections: tuple[int, ...] = (1, 8, 64)
    server_seconds: float = 1.5
    server_rounds: int = 3
    server_objects: int = 100
    server_list_keys: int = 1000
    # concurrency: boto3 clients at once against servers in their own processes
    concurrency_clients: tuple[int, ...] = (1, 8, 64)
    concurrency_seconds: float = 2.0
    concurrency_rounds: int = 3
    # a whole job: (files, bytes each) per input shape
    job_inputs: tuple[tuple[int, int], ...] = ((10_000, 4 * KiB), (20, 50 * MiB))
    job_rounds: int = 1
    # small objects
    small_size: int = 4 * KiB
    small_keys: int = 100
    small_threads: tuple[int, ...] = (1, 8)
    small_seconds: float = 1.0
    small_rounds: int = 5
    # listing
    list_sizes: tuple[int, ...] = (10_000, 100_000)
    list_prefixes: int = 100
    list_rounds: int = 3
    list_peer_budget: float = 60.0
    delimiter_keys: int = 1_000_000
    delimiter_prefixes: int = 100
    # listing over HTTP (raw client, servers in their own processes)
    list_http_sizes: tuple[int, ...] = (100_000, 1_000_000)
    list_http_moto_keys: int = 100_000
    list_http_rounds: int = 2
    # large objects
    large_size: int = GiB
    large_rounds: int = 2
    large_part_size: int = 8 * MiB
    large_concurrency: int = 10
    large_moto: bool = True
    large_peer_budget: float = 90.0  # moto's 1 GiB GET runs at ~10 MB/s: one round is enough
    # copy / complete cost against object size
    flat_sizes: tuple[int, ...] = (MiB, 64 * MiB, 512 * MiB)
    flat_rounds: int = 5
    flat_part_size: int = 8 * MiB


PRESETS: dict[str, Preset] = {
    "full": Preset(name="full"),
    "quick": Preset(
        name="quick",
        server_seconds=0.75,
        server_rounds=2,
        concurrency_seconds=1.0,
        concurrency_rounds=2,
        job_inputs=((2_000, 4 * KiB), (4, 50 * MiB)),
        list_http_sizes=(30_000, 200_000),
        list_http_moto_keys=30_000,
        list_http_rounds=1,
        small_seconds=0.5,
        small_rounds=3,
        list_sizes=(10_000, 30_000),
        list_rounds=2,
        list_peer_budget=20.0,
        delimiter_keys=200_000,
        large_size=256 * MiB,
        large_rounds=1,
        flat_sizes=(MiB, 16 * MiB, 64 * MiB),
        flat_rounds=2,
    ),
    # A few seconds per workload: proves the harness works end to end (tests/).
    "smoke": Preset(
        name="smoke",
        server_connections=(1, 8),
        server_seconds=0.2,
        server_rounds=1,
        server_objects=5,
        concurrency_clients=(1, 4),
        concurrency_seconds=0.2,
        concurrency_rounds=1,
        job_inputs=((30, 4 * KiB),),
        list_http_sizes=(2_500,),
        list_http_moto_keys=2_500,
        list_http_rounds=1,
        small_keys=5,
        small_threads=(1, 2),
        small_seconds=0.05,
        small_rounds=2,
        list_sizes=(300, 700),
        list_prefixes=10,
        list_rounds=1,
        list_peer_budget=5.0,
        delimiter_keys=2_000,
        delimiter_prefixes=10,
        large_size=12 * MiB,
        large_rounds=1,
        large_part_size=5 * MiB,
        large_concurrency=2,
        flat_sizes=(MiB, 6 * MiB),
        flat_rounds=1,
        flat_part_size=5 * MiB,
    ),
}


# --------------------------------------------------------------------------------------------
# Timing


@dataclass(frozen=True, slots=True)
class Rate:
    ops: int
    seconds: float
    errors: int
    cpu_seconds: float
    """CPU time of this whole process (every thread: client, and in-process servers) meanwhile.
    Other processes' load moves it much less than wall time."""

    @property
    def per_second(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_op(self) -> float:
        return self.cpu_seconds / self.ops * 1e6 if self.ops else float("inf")


def rate(op: Callable[[int], object], *, threads: int, seconds: float) -> Rate:
    """Call ``op(i)`` with a fresh ``i`` from ``threads`` threads for ``seconds``; ops per second.

    Errors are counted (and the first re-raised after the loop when every call failed, so a
    broken target is reported instead of measured as fast).
    """
    counter = itertools.count()
    done = [0] * threads
    failed = [0] * threads
    first_error: list[BaseException] = []
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(slot: int) -> None:
        start.wait()
        end = deadline[0]
        while time.perf_counter() < end:
            try:
                op(next(counter))
            except Exception as exc:
                failed[slot] += 1
                if not first_error:
                    first_error.append(exc)
            else:
                done[slot] += 1

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for thread in pool:
        thread.start()
    cpu = time.process_time()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu
    if first_error and not sum(done):
        raise first_error[0]
    return Rate(ops=sum(done), seconds=elapsed, errors=sum(failed), cpu_seconds=cpu)


def timed(call: Callable[[], object]) -> float:
    """Seconds one call takes."""
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def interleave(
    measures: Mapping[str, Callable[[], T]],
    rounds: int,
    *,
    budgets: Mapping[str, float] | None = None,
) -> dict[str, list[T]]:
    """Run each measure once per round, rotating the order; their results per target.

    A target with a budget (seconds) is measured in the first round and then only while its
    cumulative time stays under the budget (moto listing 100 k keys takes a minute per pass).
    """
    names = list(measures)
    samples: dict[str, list[T]] = {name: [] for name in names}
    spent = dict.fromkeys(names, 0.0)
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            budget = (budgets or {}).get(name)
            if number and budget is not None and spent[name] >= budget:
                continue
            began = time.perf_counter()
            samples[name].append(measures[name]())
            spent[name] += time.perf_counter() - began
    return samples


def settle() -> None:
    """Collect, then freeze what setup left behind, so gen-2 collections during a measurement
    do not rescan it (moto's 100 k in-memory keys made a listing page take 0.5 s now and then,
    for whichever target happened to trigger the collection)."""
    gc.collect()
    gc.freeze()


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Median over rounds of a[r] / b[r] (rounds where both were measured)."""
    pairs = [x / y for x, y in zip(a, b, strict=False) if y]
    return statistics.median(pairs) if pairs else None


def summary(samples: Sequence[float]) -> Json:
    return {"median": median(samples), "samples": list(samples)}


# --------------------------------------------------------------------------------------------
# Processes


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (and friends) of a process, in bytes."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name.startswith("Vm") and rest.strip().endswith("kB"):
                values[name] = int(rest.split()[0]) * KiB
    return values


class PeakMemory:
    """Peak resident memory of another process over a stretch of time.

    ``reset()`` clears the kernel's high-water mark (``/proc/PID/clear_refs`` = 5) when allowed,
    and a sampler thread reads VmRSS every few milliseconds as a fallback and a cross-check;
    ``peak`` is the larger of the two.
    """

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid = pid
        self.interval = interval
        self.kernel_reset = False
        self.baseline = 0
        self._sampled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
            self.kernel_reset = True
        except OSError:
            self.kernel_reset = False
        self.baseline = proc_status(self.pid)["VmRSS"]
        self._sampled = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sampled = max(self._sampled, proc_status(self.pid)["VmRSS"])
            except (OSError, KeyError):
                return

    def result(self) -> Json:
        status = proc_status(self.pid)
        hwm = status.get("VmHWM", 0) if self.kernel_reset else 0
        peak = max(hwm, self._sampled, status["VmRSS"])
        return {
            "baseline_rss": self.baseline,
            "peak_rss": peak,
            "growth": peak - self.baseline,
            "rss_after": status["VmRSS"],
            "kernel_hwm_reset": self.kernel_reset,
        }


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float = 60.0) -> str:
    """The rest of the first stdout line starting with ``prefix`` (the server's endpoint)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"process {process.args!r} exited (rc={process.wait()})")
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise TimeoutError(f"no {prefix!r} line from {process.args!r}")


def stop_process(process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def drain(process: subprocess.Popen[str]) -> None:
    """Keep reading a server's stdout in the background so it never blocks on a full pipe."""

    def read() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    threading.Thread(target=read, daemon=True).start()


def python_env() -> dict[str, str]:
    """The environment for a server subprocess: this checkout first on the import path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --------------------------------------------------------------------------------------------
# The machine


PACKAGES = (
    "pachs3",
    "boto3",
    "botocore",
    "s3transfer",
    "awscrt",
    "moto",
    "werkzeug",
    "uvicorn",
    "httptools",
    "starlette",
    "anyio",
    "matplotlib",
)


def load() -> Json:
    one, five, fifteen = os.getloadavg()
    try:
        uptime = subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False, timeout=5
        ).stdout.strip()
    except OSError:
        uptime = ""
    return {"loadavg": [one, five, fifteen], "uptime": uptime, "at": now()}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def machine() -> Json:
    cpu = ""
    meminfo = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                "",
            )
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                name, _, rest = line.partition(":")
                meminfo[name] = int(rest.split()[0]) * KiB
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu or platform.processor(),
        "memory_total": meminfo.get("MemTotal"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "git": _git(),
        "pachs3_source": pachs3_source(),
    }


def pachs3_source() -> Json:
    """Where the pachs3 being measured lives, and a digest of its source: a run whose digest
    differs at the end measured code that changed under it (others edit the tree too)."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("pachs3")
    if spec is None or not spec.submodule_search_locations:
        return {"path": None, "sha256": None}
    root = Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return {"path": str(root), "sha256": digest.hexdigest()}


def _git() -> Json:
    root = Path(__file__).resolve().parent.parent

    def run(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=10
            ).stdout.strip()
        except OSError:
            return ""

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def preset_json(preset: Preset) -> Json:
    return asdict(preset)


def chunks_of(data: bytes, size: int, count: int) -> Iterator[bytes]:
    """``count`` chunks of ``size`` bytes cut from ``data`` (repeated), each slightly different."""
    for number in range(count):
        prefix = number.to_bytes(8, "big")
        yield prefix + data[: size - len(prefix)]
