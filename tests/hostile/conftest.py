"""Fixtures of the hostile-input suite: a seeded job on each backend, and servers on loopback.

Every server a test starts is stopped by its fixture (leaving the gateway stops the servers it
started), so no thread or socket outlives its test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_support import (
    FUZZ_TALLIES,
    INPUT_BUCKET,
    OUTPUT_REPO,
    Serve,
    memory_gateway,
    report_fuzz_counts,
    seed_input,
)

from pachs3 import LocalStore, SidecarGateway
from pachs3.transports.threaded import ThreadedServer

try:
    import httptools  # noqa: F401

    HTTP_IMPLS = ["h11", "httptools"]
except ImportError:  # pragma: no cover - httptools is optional
    HTTP_IMPLS = ["h11"]


@pytest.fixture
def gw() -> Iterator[SidecarGateway]:
    """A job on the memory backend: ``in`` (seeded, read-only) and ``out``."""
    with memory_gateway() as gateway:
        yield gateway


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    backend = LocalStore(tmp_path / "store")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def local_gw(store: LocalStore) -> Iterator[SidecarGateway]:
    """A job on the embedded store (SQLite + blob files)."""
    seed_input(store)
    with SidecarGateway(
        store, inputs={INPUT_BUCKET: f"{INPUT_BUCKET}@master"}, output=OUTPUT_REPO
    ) as gateway:
        yield gateway


@pytest.fixture(params=HTTP_IMPLS)
def http_impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(gateway, **options)``: a started ThreadedServer on 127.0.0.1, stopped after."""
    started: list[ThreadedServer] = []

    def start(gateway: SidecarGateway, **options: Any) -> ThreadedServer:
        server = ThreadedServer(gateway, host="127.0.0.1", port=0, **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What each fuzz target ran (cases, statuses), for docs/reliability.md: reported after the
    run instead of by a test that could only print."""
    for engine, tallies in FUZZ_TALLIES:
        ran = {name: tally for name, tally in tallies.items() if tally.cases}
        if ran:
            report_fuzz_counts(engine, ran, write=terminalreporter.write_line)
