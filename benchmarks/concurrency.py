"""Concurrency: 1, 8 and 64 boto3 clients at once on 4 KiB objects, against servers in their
own processes.

Each client thread has a client of its own (its own session and connection pool), as separate
workers of a job would. Throughput with N clients over throughput with one shows whether the
server keeps up as clients are added or serializes them (a lock convoy would make it fall).
The bare Starlette app with canned replies (``ceiling``) is measured alike: its N/1 ratio is
what the clients and the machine allow when the server costs almost nothing. The server's CPU
per request (``/proc/PID/stat``) is reported beside.

pachs3's local store has no group commit: each PUT is its own SQLite write transaction (see
docs/benchmarks.md), so there is no group-commit ratio to report.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import servers
from benchmarks.harness import Json, Preset, interleave, paired_ratio, rate, summary
from benchmarks.rawhttp import server_cpu_seconds
from benchmarks.targets import (
    INPUT_BUCKET,
    INPUT_REPO,
    OUTPUT_BUCKET,
    OUTPUT_REPO,
    fill_input,
    new_client,
)

SIZE = 4 << 10
OPS = ("put", "get")
TARGETS = ("pachs3", "ceiling")


class ClientPool:
    """One boto3 client per thread, handed out the first time a thread asks; ``reset`` takes
    them all back (the threads of one measurement end with it)."""

    def __init__(self, endpoint_url: str, count: int) -> None:
        self._clients = [new_client(endpoint_url, pool=2) for _ in range(count)]
        self.reset()

    def reset(self) -> None:
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for client in self._clients:
            self._free.put(client)
        self._local = threading.local()

    def warm(self, call: Callable[[Any], object]) -> None:
        for client in self._clients:
            call(client)

    def client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._free.get_nowait()
        return client


def operation(pool: ClientPool, op: str, objects: int, body: bytes) -> Callable[[int], object]:
    written = itertools.count()

    def put(i: int) -> object:
        return pool.client().put_object(
            Bucket=OUTPUT_BUCKET, Key=f"conc/{next(written) % 1000:04d}", Body=body
        )

    def get(i: int) -> object:
        return (
            pool.client()
            .get_object(Bucket=INPUT_BUCKET, Key=f"obj/{i % objects:05d}")["Body"]
            .read()
        )

    return {"put": put, "get": get}[op]


def run(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore

    objects = preset.server_objects
    store_dir = workdir / "concurrency-store"
    with LocalStore(store_dir) as store:
        fill_input(store, servers.fill_keys(objects, SIZE, 0))
    commands = {
        "pachs3": servers.pachs3_command(
            store_dir, output=OUTPUT_REPO, inputs={INPUT_BUCKET: f"{INPUT_REPO}@master"}
        ),
        "ceiling": ["-m", "benchmarks.servers", "ceiling", str(SIZE), "0"],
    }
    body = os.urandom(SIZE)
    most = max(preset.concurrency_clients)
    result: Json = {"clients": list(preset.concurrency_clients), "ops": {}}
    with contextlib.ExitStack() as stack:
        started = {
            name: stack.enter_context(servers.start(cmd, workdir / f"{name}.stderr"))
            for name, cmd in commands.items()
        }
        pools = {name: ClientPool(server.endpoint_url, most) for name, server in started.items()}
        for pool in pools.values():  # warm: each client's connection, botocore's caches
            pool.warm(lambda client: client.head_object(Bucket=INPUT_BUCKET, Key="obj/00000"))
        for op in OPS:
            result["ops"][op] = {}
            for count in preset.concurrency_clients:

                def measure(name: str, op: str = op, count: int = count) -> Callable[[], Json]:
                    action = operation(pools[name], op, objects, body)

                    def once() -> Json:
                        pid = started[name].pid
                        pools[name].reset()
                        cpu = server_cpu_seconds(pid)
                        measured = rate(action, threads=count, seconds=preset.concurrency_seconds)
                        cpu = server_cpu_seconds(pid) - cpu
                        return {"rate": measured, "server_cpu_seconds": cpu}

                    return once

                runs = interleave(
                    {name: measure(name) for name in TARGETS}, preset.concurrency_rounds
                )
                result["ops"][op][str(count)] = {
                    name: {
                        "ops_per_second": summary([r["rate"].per_second for r in done]),
                        "server_cpu_us": summary(
                            [r["server_cpu_seconds"] / r["rate"].ops * 1e6 for r in done]
                        ),
                        "errors": sum(r["rate"].errors for r in done),
                    }
                    for name, done in runs.items()
                }
    for op, cells in result["ops"].items():
        one = cells[str(preset.concurrency_clients[0])]
        for cell in cells.values():
            for name in TARGETS:
                cell[name]["over_one_client"] = (
                    cell[name]["ops_per_second"]["median"] / one[name]["ops_per_second"]["median"]
                )
        result["ops"][op]["paired"] = {
            f"{count}/{preset.concurrency_clients[0]}": {
                name: paired_ratio(
                    cells[str(count)][name]["ops_per_second"]["samples"],
                    one[name]["ops_per_second"]["samples"],
                )
                for name in TARGETS
            }
            for count in preset.concurrency_clients[1:]
        }
    return result
