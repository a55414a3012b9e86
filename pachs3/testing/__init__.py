"""Test code that speaks S3 against a real sidecar job, the way moto users test.

With pachs3 installed, pytest finds the fixtures by name (``pachs3.testing.plugin``, a
``pytest11`` entry point); nothing to import::

    def test_summary(pachs3_job):
        with pachs3_job(inputs={"labresults": {"a.csv": b"t,1\\n"}}, output="stats") as job:
            summarise()           # calls boto3.client("s3") itself: reaches the gateway
        assert job.files == {"summary.csv": b"t,1\\n"}

Outside pytest, ``SidecarJob(store, inputs=..., output=...)`` is the same job. See
docs/testing.md.

Importing this package imports neither boto3 nor uvicorn: a job imports them when it starts.
"""

from pachs3.testing.environment import (
    CLEARED_VARIABLES,
    DefaultSessionHook,
    EnvironmentPatch,
    forget_cached_filesystems,
)
from pachs3.testing.job import IN_PROCESS_ENDPOINT, InputSource, SidecarJob

__all__ = [
    "CLEARED_VARIABLES",
    "IN_PROCESS_ENDPOINT",
    "DefaultSessionHook",
    "EnvironmentPatch",
    "InputSource",
    "SidecarJob",
    "forget_cached_filesystems",
]
