"""Listing, server-side: ListObjectsV2 keys/s over HTTP with a client that costs almost nothing.

``pachs3 serve`` over a local store of N keys (100 k and 1 M in the full run) and moto's server
holding the smaller size (filled through its backend) are listed page after page (1000 keys,
continuation tokens) over one keep-alive ``http.client`` connection, without parsing more of
each page than its token and a count of its keys: keys/s and the server's CPU per page. The
in-process ``listing`` group measures the same through boto3, whose parsing bounds it.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from benchmarks import servers
from benchmarks.harness import Json, Preset, interleave, median, paired_ratio
from benchmarks.rawhttp import HEADERS, server_cpu_seconds
from benchmarks.targets import INPUT_BUCKET, INPUT_REPO, OUTPUT_REPO, fill_input

TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")


def list_all(endpoint_url: str, pid: int, expected: int) -> Json:
    """List every key under ``list/``; keys/s and the server's CPU seconds meanwhile."""
    parts = urlsplit(endpoint_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=600)
    base = f"/{INPUT_BUCKET}?list-type=2&prefix=list%2F"
    keys = pages = 0
    token: bytes | None = None
    try:
        cpu = server_cpu_seconds(pid)
        began = time.perf_counter()
        while True:
            target = base if token is None else f"{base}&continuation-token={quote(token)}"
            connection.request("GET", target, headers=HEADERS)
            response = connection.getresponse()
            page = response.read()
            if response.status != 200:
                raise AssertionError(f"page {pages}: HTTP {response.status}: {page[:300]!r}")
            keys += page.count(b"<Key>")
            pages += 1
            found = TOKEN.search(page)
            if found is None:
                break
            token = found.group(1)
        seconds = time.perf_counter() - began
        cpu = server_cpu_seconds(pid) - cpu
    finally:
        connection.close()
    if keys != expected:
        raise AssertionError(f"listed {keys} keys, expected {expected}")
    return {
        "keys": keys,
        "pages": pages,
        "seconds": seconds,
        "keys_per_second": keys / seconds,
        "server_cpu_ms_per_page": cpu / pages * 1e3,
    }


def run(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore

    result: Json = {"sizes": {}, "moto_size": preset.list_http_moto_keys}
    for count in preset.list_http_sizes:
        store_dir = workdir / f"list-{count}"
        began = time.perf_counter()
        with LocalStore(store_dir) as store:
            fill_input(store, servers.fill_keys(0, 0, count))
        fill = time.perf_counter() - began
        commands = {
            "pachs3": servers.pachs3_command(
                store_dir, output=OUTPUT_REPO, inputs={INPUT_BUCKET: f"{INPUT_REPO}@master"}
            )
        }
        if count == preset.list_http_moto_keys:
            commands["moto"] = ["-m", "benchmarks.servers", "moto", "0", "0", str(count)]
        with contextlib.ExitStack() as stack:
            started = {
                name: stack.enter_context(servers.start(cmd, workdir / f"{name}.stderr"))
                for name, cmd in commands.items()
            }
            passes = interleave(
                {
                    name: (lambda s=server, n=count: list_all(s.endpoint_url, s.pid, n))
                    for name, server in started.items()
                },
                preset.list_http_rounds,
                budgets={"moto": preset.list_peer_budget},
            )
        rates = {name: [p["keys_per_second"] for p in done] for name, done in passes.items()}
        cell: Json = {
            "pachs3_fill_seconds": fill,
            "passes": passes,
            "keys_per_second": {name: median(values) for name, values in rates.items()},
            "server_cpu_ms_per_page": {
                name: median([p["server_cpu_ms_per_page"] for p in done])
                for name, done in passes.items()
            },
        }
        if "moto" in rates:
            cell["pachs3/moto"] = paired_ratio(rates["pachs3"], rates["moto"])
        result["sizes"][str(count)] = cell
    return result
