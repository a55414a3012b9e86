"""What the runner needs from a job's gateway: ``SidecarGateway`` has it; tests may pass a fake.

Stated as Protocols, so that a fake need not subclass anything; ``sidecar_gateway``, the
default factory, makes the real one.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol

from pachs3.backends.base import Backend, CommitInfo, CommitRef
from pachs3.job_request import JobRequest

__all__ = ["GatewayFactory", "JobGateway", "sidecar_gateway"]


class _Server(Protocol):
    @property
    def endpoint_url(self) -> str: ...


class _Stats(Protocol):
    @property
    def files_written(self) -> int: ...

    @property
    def bytes_written(self) -> int: ...


class JobGateway(Protocol):
    @property
    def job_id(self) -> str | None: ...

    @property
    def input_commits(self) -> Mapping[str, CommitRef]: ...

    @property
    def output_commit(self) -> CommitInfo | None: ...

    @property
    def stats(self) -> _Stats: ...

    def serve(self, host: str = ..., port: int = ...) -> AbstractContextManager[_Server]: ...

    def fail(self, reason: str) -> None: ...

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


class GatewayFactory(Protocol):
    """How the runner makes a job's gateway (tests may pass one that makes a fake), for the
    job that ``job`` describes (``pachs3.job_request.JobRequest``)."""

    def __call__(self, backend: Backend, job: JobRequest) -> JobGateway: ...


def sidecar_gateway(backend: Backend, job: JobRequest) -> JobGateway:
    """The default GatewayFactory: a ``SidecarGateway``."""
    from pachs3.gateway import SidecarGateway

    return SidecarGateway(backend, job=job)
