"""Fixtures for PachydermBackend's own tests: the backend over the PFS double (a real gRPC
server on 127.0.0.1), and the ``live`` marker for tests that also run against a real cluster
named by ``PACHS3_PACHD_ADDRESS``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("grpc")
pytest.importorskip("python_pachyderm")

from pachyderm_harness import double_backend
from pfs_double import PFSServer

from pachs3.backends.pachyderm import PachydermBackend


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "live: also runs against the Pachyderm cluster named by PACHS3_PACHD_ADDRESS",
    )


@pytest.fixture
def served() -> Iterator[tuple[PachydermBackend, PFSServer]]:
    with double_backend() as pair:
        yield pair


@pytest.fixture
def pfs(served: tuple[PachydermBackend, PFSServer]) -> PachydermBackend:
    return served[0]


@pytest.fixture
def server(served: tuple[PachydermBackend, PFSServer]) -> PFSServer:
    return served[1]
