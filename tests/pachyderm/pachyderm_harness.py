"""Backends for tests: PachydermBackend over the PFS double, or over a live cluster.

``conformance_backend`` is what tests/backends/conftest.py registers as the "pachyderm" param
of the conformance suite. ``mark_deviations`` xfails (strictly) the conformance tests whose
contract PFS cannot keep; each entry says why (docs/pachyderm.md, "Limits").

Live cluster: with ``PACHS3_PACHD_ADDRESS=host:port`` (and ``PACHS3_PACHD_TOKEN`` when auth is
on) the tests marked ``live`` in tests/pachyderm/ (the gateway smoke) also run against that
cluster, in repos named ``pachs3-test-<random>-*`` that they delete afterwards.

Scratch pachd: with ``PACHS3_SCRATCH_PACHD=host:port`` the conformance suite and the boto3
gateway suite run their PachydermBackend params against that pachd instead of the double
(``suite_backend``). They DELETE EVERYTHING in it before each test (PFS ``DeleteAll``), so name
only a throwaway pachd there, such as the one tests/pachyderm/live/run_live.sh starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

# Import errors here mean "the pachyderm extra is not installed": callers skip.
import grpc
import pytest
import python_pachyderm  # noqa: F401
from pfs_double import PFSServer

from pachs3.backends.base import Backend
from pachs3.backends.pachyderm import PachydermBackend

_PATHS = "PFS cannot hold both a file and a directory of one name, nor a trailing '/' key"

DEVIATIONS: dict[str, str] = {
    "test_walk_is_in_utf8_byte_order": _PATHS,
    "test_walk_with_prefix": _PATHS,
    "test_walk_with_start_after": _PATHS,
    "test_walk_with_prefix_and_start_after": _PATHS,
}
"""Conformance test name (without parameters) -> why PachydermBackend cannot pass it."""


@contextlib.contextmanager
def double_backend(**options: object) -> Iterator[tuple[PachydermBackend, PFSServer]]:
    with (
        PFSServer() as server,
        PachydermBackend(
            server.address,
            timeout=10.0,
            connect_timeout=5.0,
            **options,  # type: ignore[arg-type]
        ) as backend,
    ):
        yield backend, server


SCRATCH_PACHD = "PACHS3_SCRATCH_PACHD"


@contextlib.contextmanager
def scratch_backend(address: str) -> Iterator[PachydermBackend]:
    """PachydermBackend on a throwaway pachd, emptied (every repo and project) before and after."""
    from google.protobuf import empty_pb2  # type: ignore[import-untyped,unused-ignore]
    from python_pachyderm.proto.v2.pfs import pfs_pb2_grpc

    def delete_all() -> None:
        with grpc.insecure_channel(address.split("://", 1)[-1]) as channel:
            pfs_pb2_grpc.APIStub(channel).DeleteAll(empty_pb2.Empty(), timeout=60)

    with PachydermBackend(address, timeout=60.0, connect_timeout=10.0) as backend:
        delete_all()
        try:
            yield backend
        finally:
            delete_all()  # leave it empty for whatever runs next on it


@contextlib.contextmanager
def suite_backend() -> Iterator[PachydermBackend]:
    """The suites' PachydermBackend: over the double, or the scratch pachd if one is named."""
    address = os.environ.get(SCRATCH_PACHD, "").strip()
    if address:
        with scratch_backend(address) as backend:
            yield backend
    else:
        with double_backend() as (backend, _server):
            yield backend


@contextlib.contextmanager
def conformance_backend(_tmp: Path) -> Iterator[Backend]:
    with suite_backend() as backend:
        yield backend


def mark_deviations(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("backend") != "pachyderm":
            continue
        name = getattr(item, "originalname", item.name)
        reason = DEVIATIONS.get(name)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
