"""Targets and document sections of the groups measured against servers in their own processes:
``server`` (raw-client cost per request), ``concurrency``, ``listing_http`` and ``job``.

Kept apart from ``benchmarks.report`` (the in-process groups) so each module stays small; the
report calls ``group_targets`` and ``group_sections``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.harness import Json

Make = Callable[..., Any]  # report.Target, passed in to avoid an import cycle


def _get(data: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _target_connections(server: Json) -> str | None:
    """The connection count the server-cost targets are judged at: 8 when measured (a few
    clients at once, as a job's transfer threads), else the largest measured."""
    counts = server.get("connections") or []
    if not counts:
        return None
    return "8" if 8 in counts else str(max(counts))


# --------------------------------------------------------------------------------------------
# Targets


def group_targets(work: Json, target: Make) -> Iterator[Any]:
    server = work.get("server", {})
    conns = _target_connections(server)
    for op in ("get", "put", "head", "list"):
        what = "1000-key ListObjectsV2 page" if op == "list" else f"4 KiB {op.upper()}"
        yield target(
            id=f"server-{op}-cpu-vs-ceiling",
            description=f"server CPU per {what}, {conns or '?'} connections: pachs3 / bare app",
            value=_get(server, "ops", op, conns or "", "cpu_ratios", "pachs3/ceiling"),
            comparison="<=",
            threshold=1.25,
        )
    concurrency = work.get("concurrency", {})
    for op in ("put", "get"):
        for ratio, value in (_get(concurrency, "ops", op, "paired") or {}).items():
            yield target(
                id=f"concurrency-{op}-{ratio}",
                description=f"boto3 {op.upper()} 4 KiB throughput, {ratio} clients: pachs3",
                value=value.get("pachs3"),
                comparison=">=",
                threshold=1.0,
            )
    large = work.get("large", {})
    for ratio, label, limit in (
        ("pachs3_put/md5", "PUT MB/s / one core's MD5 MB/s", 0.8),
        ("pachs3_get/static_get", "GET MB/s / static file server's", 1.0),
    ):
        yield target(
            id=f"large-{ratio.replace('/', '-vs-')}",
            description=f"large object ({large.get('size', 0) >> 20} MiB): pachs3 {label}",
            value=_get(large, "ratios", ratio),
            comparison=">=",
            threshold=limit,
        )
    listing = work.get("listing_http", {})
    moto_size = str(listing.get("moto_size", ""))
    yield target(
        id="list-http-vs-moto",
        description=f"ListObjectsV2 over HTTP, {int(moto_size or 0):,} keys: pachs3 / moto "
        "keys/s (raw client)",
        value=_get(listing, "sizes", moto_size, "pachs3/moto"),
        comparison=">=",
        threshold=10.0,
    )
    delimiter = _get(work, "listing", "delimiter_large") or {}
    seeks = delimiter.get("seeks")
    yield target(
        id="delimiter-seeks-per-prefix",
        description=f"delimiter listing, {delimiter.get('prefixes', 0):,} prefixes over "
        f"{delimiter.get('keys', 0):,} keys: store seeks per prefix",
        value=None if seeks is None else seeks / delimiter["prefixes"],
        comparison="<=",
        threshold=2.0,
    )
    for shape, cell in (_get(work, "job", "shapes") or {}).items():
        label = _shape(cell)
        yield target(
            id=f"job-{shape}-vs-null",
            description=f"whole job, {label}: pachs3 run (all in) / same job on the null server",
            value=_get(cell, "ratios", "pachs3_run/null"),
            comparison="<=",
            threshold=1.1,
        )
        yield target(
            id=f"job-{shape}-vs-moto",
            description=f"whole job, {label}: moto's server / pachs3 run (all in), time",
            value=_get(cell, "ratios", "moto/pachs3_run"),
            comparison=">=",
            threshold=1.0,
        )


def _shape(cell: Json) -> str:
    size = cell["file_size"]
    unit = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
    return f"{cell['files']:,} x {unit}"


# --------------------------------------------------------------------------------------------
# Sections


def group_sections(work: Json) -> Iterator[str]:
    if "server" in work and "error" not in work["server"]:
        yield _server_section(work["server"])
    if "concurrency" in work and "error" not in work["concurrency"]:
        yield _concurrency_section(work["concurrency"])
    if "listing_http" in work and "error" not in work["listing_http"]:
        yield _listing_http_section(work["listing_http"])
    if "job" in work and "error" not in work["job"]:
        if "not_run" in work["job"]:
            yield f"### A whole job\n\nNot run: {work['job']['not_run']}."
        else:
            yield _job_section(work["job"])


def _server_section(server: Json) -> str:
    rows = []
    for op, cells in server["ops"].items():
        for conns, cell in cells.items():
            rps, cpu, ratios = (
                cell["requests_per_second"],
                cell["server_cpu_us"],
                cell["cpu_ratios"],
            )
            rows.append(
                [
                    op.upper() if op != "list" else "LIST 1000",
                    conns,
                    *(_num(rps[n]["median"]) for n in ("ceiling", "pachs3", "moto")),
                    *(_num(cpu[n]["median"]) for n in ("ceiling", "pachs3", "moto")),
                    _ratio(ratios["pachs3/ceiling"]),
                    _ratio(ratios["moto/pachs3"]),
                    ", ".join(f"{n} {e}" for n, e in cell["errors"].items() if e) or "-",
                ]
            )
    return (
        "### Server cost per small request (raw HTTP client, servers in their own processes)\n\n"
        "A one-thread keep-alive client (`benchmarks/rawhttp.py`, no boto3) drives each server "
        "over N connections for "
        f"{server['seconds_per_measure']:g} s per measurement, {server['rounds']} interleaved "
        "round(s); server CPU is user + system time of the server's process from "
        "`/proc/PID/stat` (clock ticks, 10 ms) over the measurement. *bare app*: Starlette on "
        "the same uvicorn `ThreadedServer` answering with canned bytes. Objects are 4 KiB; "
        f"LIST is one ListObjectsV2 page of {min(server['list_keys'], 1000):,} keys.\n\n"
        + _table(
            [
                "op",
                "conns",
                "bare app req/s",
                "pachs3 req/s",
                "moto req/s",
                "bare app CPU us/req",
                "pachs3 CPU us/req",
                "moto CPU us/req",
                "pachs3/bare app (CPU)",
                "moto/pachs3 (CPU)",
                "errors",
            ],
            rows,
        )
    )


def _concurrency_section(concurrency: Json) -> str:
    rows = []
    for op, cells in concurrency["ops"].items():
        for count in [str(c) for c in concurrency["clients"]]:
            cell = cells[count]
            rows.append(
                [
                    op.upper(),
                    count,
                    *(
                        value
                        for name in ("ceiling", "pachs3")
                        for value in (
                            _num(cell[name]["ops_per_second"]["median"]),
                            _ratio(cell[name]["over_one_client"]),
                            _num(cell[name]["server_cpu_us"]["median"]),
                        )
                    ),
                    ", ".join(
                        f"{n} {cell[n]['errors']}"
                        for n in ("ceiling", "pachs3")
                        if cell[n]["errors"]
                    )
                    or "-",
                ]
            )
    return (
        "### Concurrency: N boto3 clients at once (4 KiB objects, servers in their own "
        "processes)\n\n"
        "Each client thread has its own boto3 client. The bare app's column shows what the "
        "clients (sharing this process's GIL) and the machine allow; pachs3's local store has "
        "no group commit (one SQLite transaction per PUT), so there is no group-commit ratio.\n\n"
        + _table(
            [
                "op",
                "clients",
                "bare app ops/s",
                "bare app N/1",
                "bare app CPU us/op",
                "pachs3 ops/s",
                "pachs3 N/1",
                "pachs3 CPU us/op",
                "errors",
            ],
            rows,
        )
    )


def _job_section(job: Json) -> str:
    rows = []
    for cell in job["shapes"].values():
        seconds = cell["seconds"]
        serve = cell["runs"]["pachs3_serve"][0]
        rows.append(
            [
                _shape(cell),
                *(_num(seconds[t], 2) for t in ("pachs3_run", "pachs3_noop", "pachs3_serve")),
                _num(serve["server_cpu_seconds"], 2),
                _num(serve["finish_seconds"], 2),
                _num(serve["seeding_seconds"], 2),
                *(_num(seconds[t], 2) for t in ("moto", "null", "cp")),
                _ratio(cell["ratios"]["pachs3_run/null"]),
                _ratio(cell["ratios"]["moto/pachs3_run"]),
            ]
        )
    return (
        "### A whole job (`aws s3 cp --recursive` input -> scratch -> out)\n\n"
        "Seconds, median of "
        f"{job['rounds']} round(s). *run*: `pachs3 run` all in (seeding, gateway, transform, "
        "output commit); *no-op run*: the same with a transform that does nothing; *serve*: the "
        "transform alone against `pachs3 serve` in its own process (its CPU meanwhile, the time "
        "to finish the output commit after SIGTERM, and the seeding done beforehand through the "
        "store's API); *moto*, *null*: the transform alone against moto's server and against a "
        "server that stores nothing (`benchmarks/null_s3.py`, the aws CLI's floor); *cp*: "
        "`cp -r` in and out.\n\n"
        + _table(
            [
                "input",
                "pachs3 run s",
                "no-op run s",
                "serve: transform s",
                "serve: server CPU s",
                "serve: finish s",
                "seeding s",
                "moto s",
                "null s",
                "cp -r s",
                "run / null",
                "moto / run",
            ],
            rows,
        )
    )


def _listing_http_section(listing: Json) -> str:
    rows = []
    for count, cell in listing["sizes"].items():
        rates, cpu = cell["keys_per_second"], cell["server_cpu_ms_per_page"]
        rows.append(
            [
                f"{int(count):,}",
                _num(rates.get("pachs3")),
                _num(cpu.get("pachs3"), 1),
                _num(rates.get("moto")),
                _num(cpu.get("moto"), 1),
                _ratio(cell.get("pachs3/moto")),
                _num(cell["pachs3_fill_seconds"], 1),
            ]
        )
    return (
        "### Listing over HTTP (raw client, servers in their own processes)\n\n"
        "Every key listed page after page (1000 keys, continuation tokens) over one keep-alive "
        "connection; the client only counts keys and finds the token. moto is measured at "
        f"{listing['moto_size']:,} keys (filled through its backend).\n\n"
        + _table(
            [
                "keys",
                "pachs3 keys/s",
                "pachs3 server CPU ms/page",
                "moto keys/s",
                "moto server CPU ms/page",
                "pachs3/moto",
                "pachs3 fill s",
            ],
            rows,
        )
    )
