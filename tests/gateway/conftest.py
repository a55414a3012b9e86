"""Fixtures for the gateway suites: a store, a seeded input, a job, and boto3 clients reaching the
gateway through each transport.

Backends and transports. The boto3 suite (``test_s3_boto3.py``: the fixtures ``backend``,
``seeded``, ``gateway`` and ``s3``) runs on every backend of ``BACKENDS``:

- ``local``: ``LocalStore`` on disk, through every transport of ``TRANSPORTS``;
- ``pachyderm``: ``PachydermBackend`` over gRPC to the PFS service double of tests/pachyderm
  (``pfs_double.py``, a real ``grpc.server`` on 127.0.0.1, started per test by
  ``pachyderm_harness.double_backend``), through ``inproc`` and ``threaded`` only: on all three
  transports this backend added about 68 s to a CI run of about 7 min on 2 cores, on these two
  it adds about 40 s. ``asgi-mounted`` differs from ``threaded`` only in the host app routing
  to the gateway's ASGI app, which no backend sees. Skipped, with the reason, when the
  pachyderm extra (grpc, python_pachyderm) is not installed.

``pytest_generate_tests`` parametrizes ``backend_name`` (with ``transport`` when the test uses
it) for every test whose fixtures reach ``backend``; ids read ``[local-inproc]``,
``[pachyderm-threaded]``, ...

The one known difference: PFS cannot store an S3 directory marker (``marker/``), so on
PachydermBackend the seeded input holds everything but the marker (``input_files``), and the
marker test asserts the documented refusal instead (docs/pachyderm.md, "Paths"). The other
suites here (body framing, strict SigV4) use ``store``, a LocalStore only.

tests/ has no packages and modules are imported by basename, so tests/pachyderm is appended to
``sys.path`` here (as tests/backends/conftest.py does) to reach ``pachyderm_harness`` and
``pfs_double``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from gateway_data import PFS_SPECIAL_KEY, SPECIAL_KEY, seeded_input

from pachs3 import LocalStore, SidecarGateway
from pachs3.backends.base import Backend, commit

_PACHYDERM_TESTS = str(Path(__file__).resolve().parent.parent / "pachyderm")
if _PACHYDERM_TESTS not in sys.path:
    sys.path.append(_PACHYDERM_TESTS)

PACHYDERM_MISSING: str | None
try:
    import pachyderm_harness  # noqa: F401  (imports grpc and python_pachyderm)
except ImportError as exc:  # pragma: no cover - the pachyderm extra is not installed
    PACHYDERM_MISSING = f"PachydermBackend needs the pachyderm extra ({exc})"
else:
    PACHYDERM_MISSING = None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    backend = LocalStore(tmp_path / "store")
    try:
        yield backend
    finally:
        backend.close()


TRANSPORTS = ("inproc", "threaded", "asgi-mounted")
BACKENDS: dict[str, tuple[str, ...]] = {
    "local": TRANSPORTS,
    "pachyderm": ("inproc", "threaded"),
}
"""Backend name -> the transports the boto3 suite reaches it through."""


def _backend_marks(name: str) -> list[pytest.MarkDecorator]:
    if name == "pachyderm" and PACHYDERM_MISSING is not None:
        return [pytest.mark.skip(reason=PACHYDERM_MISSING)]
    return []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" not in metafunc.fixturenames:
        return
    if "transport" in metafunc.fixturenames:
        combinations = [
            pytest.param(name, transport, id=f"{name}-{transport}", marks=_backend_marks(name))
            for name, transports in BACKENDS.items()
            for transport in transports
        ]
        metafunc.parametrize(("backend_name", "transport"), combinations, indirect=True)
    else:
        names = [pytest.param(name, id=name, marks=_backend_marks(name)) for name in BACKENDS]
        metafunc.parametrize("backend_name", names, indirect=True)


@pytest.fixture
def backend_name(request: pytest.FixtureRequest) -> str:
    """``local`` or ``pachyderm`` (parametrized by ``pytest_generate_tests``)."""
    return str(request.param)


@pytest.fixture
def backend(backend_name: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty backend of the kind ``backend_name`` names."""
    if backend_name == "local":
        with LocalStore(tmp_path / "store") as local:
            yield local
        return
    from pachyderm_harness import suite_backend  # the double, or $PACHS3_SCRATCH_PACHD

    with suite_backend() as pfs:
        yield pfs


@pytest.fixture
def holds_markers(backend_name: str) -> bool:
    """Whether the backend can store a directory marker (a key ending with ``/``)."""
    return backend_name != "pachyderm"


@pytest.fixture
def special_key(backend_name: str) -> str:
    """A key full of characters that need URL encoding, that the backend can store."""
    return PFS_SPECIAL_KEY if backend_name == "pachyderm" else SPECIAL_KEY


@pytest.fixture
def input_files(holds_markers: bool, special_key: str) -> dict[str, bytes]:
    """What the seeded input holds on this backend (key -> bytes)."""
    return seeded_input(holds_markers=holds_markers, special_key=special_key)


@pytest.fixture
def seeded(backend: Backend, input_files: dict[str, bytes]) -> Backend:
    backend.create_repo("labresults")
    with commit(backend, "labresults", "master") as info:
        for path, data in input_files.items():
            backend.put_file(info.ref, path, [data], metadata={"content-type": "text/plain"})
    return backend


@pytest.fixture
def pachs3_store(backend: Backend) -> Backend:
    """The pytest plugin's store is this suite's backend: a ``pachs3_job`` test runs on each."""
    return backend


@pytest.fixture
def gateway(seeded: Backend) -> Iterator[SidecarGateway]:
    with SidecarGateway(
        seeded, inputs={"labresults": "labresults@master"}, output="pipeline"
    ) as gw:
        yield gw


def boto_config() -> Config:
    return Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )


def http_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="default",
        aws_secret_access_key="default",
        region_name="us-east-1",
        config=boto_config(),
    )


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """One of ``TRANSPORTS`` (parametrized with ``backend_name`` by ``pytest_generate_tests``)."""
    return str(request.param)


@pytest.fixture
def s3(gateway: SidecarGateway, transport: str) -> Iterator[Any]:
    """A boto3 client reaching the gateway through one transport.

    - inproc: ``gateway.client()``, the botocore before-send hook, no socket;
    - threaded: ``gateway.serve()``, uvicorn on 127.0.0.1 in a thread;
    - asgi-mounted: a host's own Starlette app mounting ``gateway.asgi()``, served by the host.
    """
    if transport == "inproc":
        yield gateway.client(config=boto_config())
    elif transport == "threaded":
        server = gateway.serve()
        yield http_client(server.endpoint_url)
    else:
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from pachs3.transports.threaded import ThreadedServer

        host_app = Starlette(routes=[Mount("/", app=gateway.asgi())])
        with ThreadedServer(host_app, host="127.0.0.1", port=0) as server:
            yield http_client(server.endpoint_url)
