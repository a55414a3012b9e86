"""Point code under test at a gateway without changing it: the process environment, and
optionally boto3's default session.

Two ways in, both undone when the job ends:

- ``EnvironmentPatch``: the standard variables every AWS SDK reads (``AWS_ENDPOINT_URL_S3``,
  ``AWS_ENDPOINT_URL``, credentials, region) plus Pachyderm's own (``S3_ENDPOINT``,
  ``PACH_JOB_ID``...). Variables that would take precedence over them, or make a developer's
  profile leak into a test, are removed for the duration.
- ``DefaultSessionHook``: a ``before-send`` hook on a fresh ``boto3.DEFAULT_SESSION``. botocore
  copies a session's event emitter into every client the session creates, so each client made
  by ``boto3.client(...)``/``boto3.resource(...)`` inside the block is answered in-process, by
  the public event API alone. Clients made from another ``boto3.Session`` are not reached.

s3fs (and so pandas' ``s3://`` paths) caches each ``S3FileSystem`` with the endpoint it read from
the environment; ``forget_cached_filesystems`` drops those instances at both ends of a job, so
the next job's ``pandas.read_csv("s3://...")`` reaches the next job's gateway.

boto3 is imported only when a hook is installed; nothing else is imported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = [
    "CLEARED_VARIABLES",
    "DefaultSessionHook",
    "EnvironmentPatch",
    "forget_cached_filesystems",
]

CLEARED_VARIABLES = (
    # Would replace the credentials set here, or name a profile that may not exist here.
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    # botocore ignores AWS_ENDPOINT_URL* entirely when this is true.
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
"""Removed while a job runs, restored after."""

_NO_FILE = os.devnull
"""``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` during a job: the developer's
``~/.aws`` (a default region, ``addressing_style``, a profile's endpoint) stays out of tests.
botocore reads a path that is not a regular file as an empty config."""


class EnvironmentPatch:
    """Set ``variables`` in ``environ`` (and clear ``CLEARED_VARIABLES``) until ``restore()``."""

    def __init__(
        self, variables: Mapping[str, str], environ: MutableMapping[str, str] | None = None
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self.variables = {
            "AWS_CONFIG_FILE": _NO_FILE,
            "AWS_SHARED_CREDENTIALS_FILE": _NO_FILE,
            **variables,
        }
        self._saved: dict[str, str | None] | None = None

    def apply(self) -> None:
        names = [*self.variables, *CLEARED_VARIABLES]
        self._saved = {name: self._environ.get(name) for name in names}
        for name in CLEARED_VARIABLES:
            self._environ.pop(name, None)
        self._environ.update(self.variables)

    def restore(self) -> None:
        saved, self._saved = self._saved, None
        for name, value in (saved or {}).items():
            if value is None:
                self._environ.pop(name, None)
            else:
                self._environ[name] = value


_EVENT = "before-send.s3"


class DefaultSessionHook:
    """Replace ``boto3.DEFAULT_SESSION`` for the block; with a hook, its clients are served.

    The previous default session is put back afterwards, so a session built from the job's
    environment never outlives the job (boto3 caches credentials in its default session).
    """

    def __init__(self, hook: Callable[..., Any] | None) -> None:
        self._hook = hook
        self._saved: Any = None
        self._session: Any = None
        self._active = False

    def apply(self) -> None:
        boto3 = _boto3(imported_only=self._hook is None)
        if boto3 is None:
            # boto3 is not imported yet: there is no default session to replace; one made in
            # the block is dropped by restore().
            self._active = True
            return
        self._saved = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = None
        if self._hook is not None:
            boto3.setup_default_session()  # reads the environment just set
            self._session = boto3.DEFAULT_SESSION
            self._session.events.register_first(_EVENT, self._hook)
        self._active = True

    def restore(self) -> None:
        if not self._active:
            return
        self._active = False
        if self._session is not None:
            self._session.events.unregister(_EVENT, self._hook)
            self._session = None
        boto3 = _boto3(imported_only=True)
        if boto3 is not None:
            boto3.DEFAULT_SESSION, self._saved = self._saved, None


def _boto3(*, imported_only: bool) -> Any:
    if imported_only:
        return sys.modules.get("boto3")
    import boto3

    return boto3


def forget_cached_filesystems() -> None:
    """Drop s3fs's cached ``S3FileSystem`` instances (fsspec's public ``clear_instance_cache``);
    nothing to do when s3fs was never imported."""
    s3fs = sys.modules.get("s3fs")
    if s3fs is not None:
        s3fs.S3FileSystem.clear_instance_cache()
