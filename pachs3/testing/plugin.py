"""The pytest plugin: ``pachs3_store`` and ``pachs3_job``, found by name in any test.

Registered through the ``pytest11`` entry point ``pachs3``, so pytest loads it whenever pachs3
is installed (``-p no:pachs3`` turns it off). Loading it imports pachs3's core only: boto3 and
uvicorn are imported by a job when it starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from pachs3.backends.base import Backend
from pachs3.backends.local import LocalStore
from pachs3.testing.job import InputSource, SidecarJob

__all__ = ["JobFactory", "pachs3_job", "pachs3_store"]


class JobFactory(Protocol):
    """What ``pachs3_job`` is: ``SidecarJob``'s arguments, on the test's store."""

    def __call__(
        self,
        inputs: Mapping[str, InputSource] | None = None,
        output: str = "output",
        *,
        in_process: bool = False,
        job_id: str | None = None,
        description: str = "",
    ) -> SidecarJob: ...


@pytest.fixture
def pachs3_store(tmp_path: Path) -> Iterator[Backend]:
    """An empty ``LocalStore`` in the test's ``tmp_path``; override it for another backend."""
    with LocalStore(tmp_path / "pachs3-store") as store:
        yield store


@pytest.fixture
def pachs3_job(pachs3_store: Backend) -> JobFactory:
    """Make a job on ``pachs3_store``: ``with pachs3_job(inputs=..., output=...) as job:``.

    ``inputs`` maps each bucket name to ``{path: bytes}``, a directory ``Path`` or an existing
    ``"repo@ref"``/commit; ``output`` names the output repo (bucket ``out``). In the block,
    ``boto3.client("s3")`` and every SDK that reads ``AWS_ENDPOINT_URL_S3`` reach the gateway;
    after it, ``job.files`` is the output as ``{path: bytes}`` and ``job.commit`` the finished
    commit. See ``SidecarJob``.
    """

    def make(
        inputs: Mapping[str, InputSource] | None = None,
        output: str = "output",
        *,
        in_process: bool = False,
        job_id: str | None = None,
        description: str = "",
    ) -> SidecarJob:
        return SidecarJob(
            pachs3_store,
            inputs=inputs,
            output=output,
            in_process=in_process,
            job_id=job_id,
            description=description,
        )

    return make
