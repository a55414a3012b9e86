"""Small objects (4 KiB): PUT, GET and HEAD per second, 1 and 8 client threads.

In-process: the client floor (canned replies), pachs3 ``attach`` at both durabilities, moto's
``mock_aws``. Over HTTP on loopback: the framework ceiling (bare Starlette on pachs3's
``ThreadedServer``), pachs3 ``serve()``, moto's ``ThreadedMotoServer``. Servers run in this
process (as a test suite would run them), so client and server share the GIL alike for all.

PUTs write new keys to ``out``; GETs and HEADs read ``small_keys`` keys of the input bucket in
turn.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Json,
    Preset,
    Rate,
    interleave,
    paired_ratio,
    rate,
    settle,
    summary,
)
from benchmarks.targets import (
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    CannedReplies,
    ceiling_app,
    fill_input,
    floor_client,
    input_gateway,
    moto_in_process,
    moto_server,
    new_client,
    pachs3_client,
)

OPS = ("put", "get", "head")
WARMUP = 30

IN_PROCESS_RATIOS = (
    ("pachs3", "floor"),
    ("pachs3_power_loss", "floor"),
    ("moto", "floor"),
    ("pachs3", "moto"),
)
HTTP_RATIOS = (("pachs3", "ceiling"), ("moto", "ceiling"), ("pachs3", "moto"))

Op = Callable[[int], object]


def operations(client: Any, body: bytes, keys: Sequence[str]) -> dict[str, Op]:
    written = itertools.count()  # PUTs write new keys (shared by the threads; next() is atomic)
    count = len(keys)

    def put(i: int) -> object:
        return client.put_object(Bucket=OUTPUT_BUCKET, Key=f"put/{next(written)}", Body=body)

    def get(i: int) -> object:
        return client.get_object(Bucket=INPUT_BUCKET, Key=keys[i % count])["Body"].read()

    def head(i: int) -> object:
        return client.head_object(Bucket=INPUT_BUCKET, Key=keys[i % count])

    return {"put": put, "get": get, "head": head}


def matrix(
    targets: Mapping[str, Mapping[str, Op]],
    preset: Preset,
    ratios: Sequence[tuple[str, str]],
) -> Json:
    """ops/s of every target for every (operation, threads), interleaved; ratios per cell."""
    result: Json = {}
    settle()
    for op in OPS:
        for calls in targets.values():
            for i in range(WARMUP):
                calls[op](i)
        for threads in preset.small_threads:

            def measure(name: str, threads: int = threads, op: str = op) -> Callable[[], Rate]:
                return lambda: rate(
                    targets[name][op], threads=threads, seconds=preset.small_seconds
                )

            runs = interleave({name: measure(name) for name in targets}, preset.small_rounds)
            speed = {name: [r.per_second for r in done] for name, done in runs.items()}
            cpu = {name: [r.cpu_us_per_op for r in done] for name, done in runs.items()}
            pairs = [(a, b) for a, b in ratios if a in runs and b in runs]
            result.setdefault(op, {})[str(threads)] = {
                "ops_per_second": {name: summary(values) for name, values in speed.items()},
                "ratios": {f"{a}/{b}": paired_ratio(speed[a], speed[b]) for a, b in pairs},
                # Process CPU per operation (client + in-process server), and the same ratios
                # computed from it (b's CPU / a's CPU: higher is better, as for throughput).
                "cpu_us_per_op": {name: summary(values) for name, values in cpu.items()},
                "cpu_ratios": {f"{a}/{b}": paired_ratio(cpu[b], cpu[a]) for a, b in pairs},
                "errors": {name: sum(r.errors for r in done) for name, done in runs.items()},
            }
    return result


def run(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore
    from pachs3.transports.threaded import ThreadedServer

    body = os.urandom(preset.small_size)
    keys = [f"obj/{n:05d}" for n in range(preset.small_keys)]
    files = [(key, body) for key in keys]
    result: Json = {
        "size": preset.small_size,
        "keys": preset.small_keys,
        "seconds_per_measurement": preset.small_seconds,
        "rounds": preset.small_rounds,
        "threads": list(preset.small_threads),
    }

    with contextlib.ExitStack() as stack:
        targets: dict[str, dict[str, Op]] = {
            "floor": operations(floor_client(CannedReplies(body=body)), body, keys)
        }
        for name, durability in (("pachs3", "process-crash"), ("pachs3_power_loss", "power-loss")):
            store = LocalStore(workdir / f"small-{durability}", durability=durability)
            stack.callback(store.close)
            fill_input(store, files)
            gateway = stack.enter_context(input_gateway(store))
            targets[name] = operations(pachs3_client(gateway), body, keys)
        moto = stack.enter_context(moto_in_process())
        _fill_moto(moto, files)
        targets["moto"] = operations(moto, body, keys)
        result["inprocess"] = matrix(targets, preset, IN_PROCESS_RATIOS)

    with contextlib.ExitStack() as stack:
        ceiling = stack.enter_context(ThreadedServer(ceiling_app(body)))
        targets = {"ceiling": operations(new_client(ceiling.endpoint_url), body, keys)}
        store = LocalStore(workdir / "small-http")
        stack.callback(store.close)
        fill_input(store, files)
        gateway = stack.enter_context(input_gateway(store))
        server = gateway.serve()
        targets["pachs3"] = operations(new_client(server.endpoint_url), body, keys)
        endpoint = stack.enter_context(moto_server())
        moto = new_client(endpoint)
        _fill_moto(moto, files)
        targets["moto"] = operations(moto, body, keys)
        result["http"] = matrix(targets, preset, HTTP_RATIOS)
    return result


def _fill_moto(client: Any, files: Sequence[tuple[str, bytes]]) -> None:
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        client.create_bucket(Bucket=bucket)
    for key, data in files:
        client.put_object(Bucket=INPUT_BUCKET, Key=key, Body=data)
