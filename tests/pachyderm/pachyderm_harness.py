"""Backends for tests: PachydermBackend over the PFS double, or over a live cluster.

``conformance_backend`` is what tests/backends/conftest.py registers as the "pachyderm" param
of the conformance suite. ``mark_deviations`` xfails (strictly) the conformance tests whose
contract PFS cannot keep; each entry says why (docs/pachyderm.md, "Limits").

Live cluster: with ``PACHS3_PACHD_ADDRESS=host:port`` (and ``PACHS3_PACHD_TOKEN`` when auth is
on) the tests marked ``live`` in tests/pachyderm/ (the gateway smoke) also run against that
cluster, in repos named ``pachs3-test-<random>-*`` that they delete afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

# Import errors here mean "the pachyderm extra is not installed": callers skip.
import grpc  # noqa: F401
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


@contextlib.contextmanager
def conformance_backend(_tmp: Path) -> Iterator[Backend]:
    with double_backend() as (backend, _server):
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
