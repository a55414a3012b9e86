"""Server cost per small request, measured with a client that costs almost nothing.

Three servers, each in a process of its own so its CPU can be read from ``/proc/PID/stat``:

* ``pachs3``  -- ``python -m pachs3 serve`` over a local store (``input`` read-only, ``out``);
* ``ceiling`` -- a bare Starlette app on the same ``ThreadedServer`` (uvicorn) answering with
  canned bytes and S3's headers: what the framework costs with nothing behind it;
* ``moto``    -- moto's threaded server, buckets filled through its backend.

Requests come from ``benchmarks.rawhttp`` (keep-alive sockets driven from one thread, unsigned):
GET and HEAD of a 4 KiB object (``obj/N`` in ``input``), PUT of 4 KiB (``put/N`` in ``out``),
and ListObjectsV2 of one 1000-key page (``list/`` in ``input``). For each operation and number
of connections, every server is measured once per round, the order rotating; the figures are
requests/s and the server's CPU microseconds per request (medians), and ratios of the latter
(median of per-round ratios).
"""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import servers
from benchmarks.harness import Json, Preset, interleave, paired_ratio, summary
from benchmarks.rawhttp import HEADERS, Request, Result, drive, request
from benchmarks.targets import INPUT_BUCKET, INPUT_REPO, OUTPUT_BUCKET, OUTPUT_REPO, fill_input

OPS = ("get", "put", "head", "list")
TARGETS = ("pachs3", "ceiling", "moto")
RATIOS = (("pachs3", "ceiling"), ("moto", "ceiling"), ("moto", "pachs3"))
SIZE = 4 << 10
LIST_PREFIX = "list/"


def requests_for(op: str, host: str, objects: int) -> Callable[[int], Request]:
    """The request of the ``i``-th call of ``op`` (pre-built: the client only picks one)."""
    body = b"p" * SIZE
    built: dict[str, list[Request]] = {
        "get": [request("GET", f"/{INPUT_BUCKET}/obj/{n:05d}", host=host) for n in range(objects)],
        "head": [
            request("HEAD", f"/{INPUT_BUCKET}/obj/{n:05d}", host=host) for n in range(objects)
        ],
        "put": [
            request("PUT", f"/{OUTPUT_BUCKET}/put/{n:05d}", host=host, body=body)
            for n in range(objects)
        ],
        "list": [request("GET", f"/{INPUT_BUCKET}?list-type=2&prefix=list%2F", host=host)],
    }
    chosen = built[op]
    return lambda i: chosen[i % len(chosen)]


def check(endpoint_url: str, list_keys: int) -> None:
    """Every server answers what the workload assumes: a 4 KiB object, a full 1000-key page."""
    parts = urlsplit(endpoint_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", f"/{INPUT_BUCKET}/obj/00000", headers=HEADERS)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200 or len(body) != SIZE:
            raise AssertionError(f"{endpoint_url}: GET answered {response.status}, {len(body)} B")
        connection.request("GET", f"/{INPUT_BUCKET}?list-type=2&prefix=list%2F", headers=HEADERS)
        response = connection.getresponse()
        page = response.read()
        want = min(list_keys, 1000)
        if response.status != 200 or page.count(b"<Key>") != want:
            raise AssertionError(
                f"{endpoint_url}: listing answered {response.status} with "
                f"{page.count(b'<Key>')} keys, expected {want}"
            )
    finally:
        connection.close()


def run(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore

    objects, list_keys = preset.server_objects, preset.server_list_keys
    store_dir = workdir / "server-store"
    with LocalStore(store_dir) as store:
        fill_input(store, servers.fill_keys(objects, SIZE, list_keys))
    commands = {
        "pachs3": servers.pachs3_command(
            store_dir, output=OUTPUT_REPO, inputs={INPUT_BUCKET: f"{INPUT_REPO}@master"}
        ),
        "ceiling": ["-m", "benchmarks.servers", "ceiling", str(SIZE), str(list_keys)],
        "moto": ["-m", "benchmarks.servers", "moto", str(objects), str(SIZE), str(list_keys)],
    }
    result: Json = {
        "object_size": SIZE,
        "list_keys": list_keys,
        "connections": list(preset.server_connections),
        "seconds_per_measure": preset.server_seconds,
        "rounds": preset.server_rounds,
        "ops": {},
    }
    with contextlib.ExitStack() as stack:
        started = {
            name: stack.enter_context(servers.start(cmd, workdir / f"{name}.stderr"))
            for name, cmd in commands.items()
        }
        for server in started.values():
            check(server.endpoint_url, list_keys)
        makers = {
            name: {
                op: requests_for(op, urlsplit(server.endpoint_url).netloc, objects) for op in OPS
            }
            for name, server in started.items()
        }
        for name, server in started.items():  # warm: imports, caches, thread pools
            for op in OPS:
                drive(
                    server.endpoint_url,
                    makers[name][op],
                    connections=2,
                    seconds=0.1,
                    pid=server.pid,
                )
        for op in OPS:
            result["ops"][op] = {}
            for conns in preset.server_connections:

                def measure(name: str, op: str = op, conns: int = conns) -> Callable[[], Result]:
                    server = started[name]
                    return lambda: drive(
                        server.endpoint_url,
                        makers[name][op],
                        connections=conns,
                        seconds=preset.server_seconds,
                        pid=server.pid,
                    )

                runs = interleave({name: measure(name) for name in TARGETS}, preset.server_rounds)
                result["ops"][op][str(conns)] = _cell(runs)
    return result


def _cell(runs: dict[str, list[Result]]) -> Json:
    rps = {name: [r.per_second for r in done] for name, done in runs.items()}
    cpu = {name: [r.server_cpu_us for r in done] for name, done in runs.items()}
    return {
        "requests_per_second": {name: summary(values) for name, values in rps.items()},
        "server_cpu_us": {name: summary(values) for name, values in cpu.items()},
        "server_busy": {
            name: summary([r.server_cpu_seconds / r.seconds for r in done])
            for name, done in runs.items()
        },
        "cpu_ratios": {f"{a}/{b}": paired_ratio(cpu[a], cpu[b]) for a, b in RATIOS},
        "rps_ratios": {f"{b}/{a}": paired_ratio(rps[b], rps[a]) for a, b in RATIOS},
        "errors": {name: sum(r.errors for r in done) for name, done in runs.items()},
        "first_error": {
            name: next((r.first_error for r in done if r.first_error), None)
            for name, done in runs.items()
        },
        "reconnects": {name: sum(r.reconnects for r in done) for name, done in runs.items()},
    }
