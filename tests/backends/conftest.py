"""The ``backend`` fixture: one fresh backend per test, for every backend in ``BACKENDS``.

To run the conformance suite against another backend (e.g. a PachydermBackend on a test
cluster), add a factory to ``BACKENDS``: a context manager taking a scratch directory and
yielding a backend with no repos. Skip it with ``pytest.skip`` inside the factory when its
service is not available.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pachs3.backends import Backend, LocalStore, MemoryBackend


@contextlib.contextmanager
def _memory(_tmp: Path) -> Iterator[Backend]:
    yield MemoryBackend()


@contextlib.contextmanager
def _local_process_crash(tmp: Path) -> Iterator[Backend]:
    with LocalStore(tmp / "store", durability="process-crash") as store:
        yield store


@contextlib.contextmanager
def _local_power_loss(tmp: Path) -> Iterator[Backend]:
    with LocalStore(tmp / "store", durability="power-loss") as store:
        yield store


BACKENDS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Backend]]] = {
    "memory": _memory,
    "local": _local_process_crash,
    "local-power-loss": _local_power_loss,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrized at collection time, not when the fixture is defined: a backend registered
    # in BACKENDS anywhere in this conftest (or by a plugin imported from it) is included.
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", list(BACKENDS), indirect=True)


@pytest.fixture
def backend(request: Any, tmp_path: Path) -> Iterator[Backend]:
    with BACKENDS[request.param](tmp_path) as fresh:
        yield fresh


# --------------------------------------------------------------------------------------------
# PachydermBackend (issue 7): over the PFS service double in tests/pachyderm/ (a real gRPC
# server on 127.0.0.1), only when grpc and python_pachyderm import. Its known deviations from
# the contract are xfailed (strict), see tests/pachyderm/pachyderm_harness.py. Additive block: it
# touches nothing above.

try:
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pachyderm"))
    import pachyderm_harness as _pachyderm_harness
except ImportError:  # pragma: no cover - the pachyderm extra is not installed
    _pachyderm_harness = None
else:
    BACKENDS["pachyderm"] = _pachyderm_harness.conformance_backend

    def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
        _pachyderm_harness.mark_deviations(items)
