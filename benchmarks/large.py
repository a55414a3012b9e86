"""Large objects: 1 GiB upload (multipart) and download through boto3's transfer manager.

Each server runs in its own process so its memory can be read from ``/proc/PID/status``:

* pachs3: ``python -m pachs3 serve --store DIR --output pipeline --input input=input@master``;
  GET reads the object written to the input repo beforehand (through the backend API), PUT
  writes a new object to ``out``;
* static: a tiny uvicorn app on the same ``ThreadedServer`` streaming the source file (HEAD and
  Range), the ceiling for GET;
* moto: its threaded server; it keeps objects in memory (and in spooled temp files), so its
  resident memory after the upload is reported too.

Memory: before each transfer the kernel's high-water mark is cleared (``clear_refs`` 5) and a
sampler reads VmRSS every 5 ms; growth = peak - RSS before the transfer. CPU: the server's
user+system seconds during the transfer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from benchmarks import servers
from benchmarks.harness import Json, MiB, PeakMemory, Preset, interleave, paired_ratio, summary
from benchmarks.targets import (
    INPUT_BUCKET,
    INPUT_REPO,
    OUTPUT_BUCKET,
    OUTPUT_REPO,
    fill_input_stream,
    new_client,
)

KEY = "large.bin"
BLOCK = 8 * MiB


def write_source(path: Path, size: int) -> None:
    """``size`` random bytes (incompressible, and no repeated part a store could deduplicate)."""
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(BLOCK, left))
            out.write(block)
            left -= len(block)


def file_chunks(path: Path, size: int = MiB) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


def md5_rate(size: int) -> float:
    """MB/s of one core computing MD5 over ``size`` bytes in memory (8 MiB blocks): the ETag's
    inherent cost, the ceiling of a single-part-at-a-time upload that must hash every byte."""
    block = os.urandom(BLOCK)
    digest = hashlib.md5()
    began = time.perf_counter()
    for _ in range(max(1, size // BLOCK)):
        digest.update(block)
    return max(1, size // BLOCK) * BLOCK / MiB / (time.perf_counter() - began)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Transfer:
    """Times one transfer against a server process and records its memory and CPU."""

    def __init__(self, pid: int, size: int) -> None:
        self.pid = pid
        self.size = size

    def __call__(self, action: Callable[[], object]) -> Json:
        with PeakMemory(self.pid) as memory:
            cpu = cpu_seconds(self.pid)
            began = time.perf_counter()
            action()
            seconds = time.perf_counter() - began
            cpu = cpu_seconds(self.pid) - cpu
        return {
            "seconds": seconds,
            "mb_per_second": self.size / MiB / seconds,
            "server_cpu_seconds": cpu,
            "memory": memory.result(),
        }


def _same_file(a: Path, b: Path) -> None:
    if a.stat().st_size != b.stat().st_size:
        raise AssertionError(f"{b} has {b.stat().st_size} bytes, expected {a.stat().st_size}")
    with a.open("rb") as x, b.open("rb") as y:
        for offset in (0, max(0, a.stat().st_size - MiB)):
            x.seek(offset)
            y.seek(offset)
            if x.read(MiB) != y.read(MiB):
                raise AssertionError(f"{b} differs from {a} at offset {offset}")


def run(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore

    source = workdir / "large-source.bin"
    write_source(source, preset.large_size)
    store_dir = workdir / "large-store"
    with LocalStore(store_dir) as store:
        fill_input_stream(store, KEY, file_chunks(source))
    result: Json = {
        "size": preset.large_size,
        "part_size": preset.large_part_size,
        "concurrency": preset.large_concurrency,
        "rounds": preset.large_rounds,
    }
    try:
        rounds = _measure(preset, source, store_dir, workdir / "large-download.bin", result)
    finally:
        with contextlib.suppress(FileNotFoundError):
            source.unlink()
    return _summarize(result, rounds)


def _measure(preset: Preset, source: Path, store_dir: Path, target: Path, result: Json) -> Json:
    size = preset.large_size
    config = TransferConfig(
        multipart_threshold=preset.large_part_size,
        multipart_chunksize=preset.large_part_size,
        max_concurrency=preset.large_concurrency,
    )

    def upload(client: Any, key: str) -> None:
        client.upload_file(str(source), OUTPUT_BUCKET, key, Config=config)

    def download(client: Any, bucket: str, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        client.download_file(bucket, key, str(target), Config=config)
        _same_file(source, target)
        target.unlink()

    commands = {
        "pachs3": servers.pachs3_command(
            store_dir, output=OUTPUT_REPO, inputs={INPUT_BUCKET: f"{INPUT_REPO}@master"}
        ),
        "static": ["-m", "benchmarks.servers", "static", str(source)],
    }
    if preset.large_moto:
        commands["moto"] = ["-m", "benchmarks.servers", "moto"]
    with contextlib.ExitStack() as stack:
        started = {
            name: stack.enter_context(servers.start(cmd, target.parent / f"{name}.stderr"))
            for name, cmd in commands.items()
        }
        result["server_rss_at_start"] = {name: _rss(server.pid) for name, server in started.items()}
        clients = {name: new_client(server.endpoint_url) for name, server in started.items()}
        clients["pachs3"].head_object(Bucket=INPUT_BUCKET, Key=KEY)  # warm: imports, pools
        if "moto" in clients:
            clients["moto"].create_bucket(Bucket=OUTPUT_BUCKET)
        keys = (f"upload-{n}.bin" for n in range(1_000_000))

        def pachs3_round() -> Json:
            client, transfer, key = (
                clients["pachs3"],
                Transfer(started["pachs3"].pid, size),
                next(keys),
            )
            put = transfer(lambda: upload(client, key))
            get = transfer(lambda: download(client, INPUT_BUCKET, KEY))
            return {"put": put, "get": get}

        def static_round() -> Json:
            transfer = Transfer(started["static"].pid, size)
            return {"get": transfer(lambda: download(clients["static"], "files", KEY))}

        def moto_round() -> Json:
            client, transfer, key = clients["moto"], Transfer(started["moto"].pid, size), next(keys)
            put = transfer(lambda: upload(client, key))
            get = transfer(lambda: download(client, OUTPUT_BUCKET, key))
            holding = _rss(started["moto"].pid)
            client.delete_object(Bucket=OUTPUT_BUCKET, Key=key)
            return {"put": put, "get": get, "rss_holding_object": holding}

        measures: dict[str, Callable[[], Json]] = {
            "pachs3": pachs3_round,
            "static": static_round,
            "md5": lambda: {"md5_mb_per_second": md5_rate(size)},
        }
        if "moto" in clients:
            measures["moto"] = moto_round
        return interleave(measures, preset.large_rounds, budgets={"moto": preset.large_peer_budget})


def _summarize(result: Json, rounds: Json) -> Json:
    result["rounds_detail"] = rounds
    transfers = [
        (f"{name}_{op}", [r[op] for r in runs])
        for name, runs in rounds.items()
        for op in ("put", "get")
        if op in runs[0]
    ]
    result["mb_per_second"] = {
        key: summary([t["mb_per_second"] for t in done]) for key, done in transfers
    }
    result["memory_growth"] = {
        key: max(t["memory"]["growth"] for t in done) for key, done in transfers
    }
    speeds = {key: value["samples"] for key, value in result["mb_per_second"].items()}
    md5 = [r["md5_mb_per_second"] for r in rounds.pop("md5", [])]
    result["md5_mb_per_second"] = summary(md5)
    result["ratios"] = {
        "pachs3_get/static_get": paired_ratio(speeds["pachs3_get"], speeds["static_get"]),
        "pachs3_put/md5": paired_ratio(speeds["pachs3_put"], md5),
    }
    if "moto" in rounds:
        for op in ("put", "get"):
            result["ratios"][f"pachs3_{op}/moto_{op}"] = paired_ratio(
                speeds[f"pachs3_{op}"], speeds[f"moto_{op}"]
            )
        result["moto_rss_holding_object"] = max(r["rss_holding_object"] for r in rounds["moto"])
    return result


def _rss(pid: int) -> int:
    from benchmarks.harness import proc_status

    return proc_status(pid)["VmRSS"]
