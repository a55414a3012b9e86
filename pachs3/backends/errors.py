"""The one error family every backend raises, and the check of a conditional change.

Error family (the executor maps each to one S3 error in a table)::

    BackendError
    ├── NotFound          what was asked for does not exist (``.what`` says which kind)
    ├── AlreadyExists     create of something that exists (also ``expect=Absent()``)
    ├── ConditionFailed   a conditional change found another version than it expected
    ├── Conflict          the operation contradicts the state (e.g. write to a finished commit)
    ├── NotSupported      the backend cannot do this (e.g. a path it cannot represent)
    ├── PermissionDenied  the backend refuses the caller
    ├── Unavailable       the backend cannot be reached now; retrying may help
    └── Truncated         a read ended before the length the backend promised
"""

from __future__ import annotations

from typing import Literal

from pachs3.core.expectations import Expectation, judge
from pachs3.core.refs import FileInfo

NotFoundKind = Literal["repo", "branch", "commit", "file", "upload"]


class BackendError(Exception):
    """Base of every error a backend raises on purpose."""


class NotFound(BackendError):
    def __init__(self, what: NotFoundKind, name: str) -> None:
        super().__init__(f"{what} not found: {name}")
        self.what: NotFoundKind = what
        self.name = name


class AlreadyExists(BackendError):
    pass


class ConditionFailed(BackendError):
    pass


class Conflict(BackendError):
    pass


class NotSupported(BackendError):
    pass


class PermissionDenied(BackendError):
    pass


class Unavailable(BackendError):
    pass


class Truncated(BackendError):
    pass


def check_expectation(expect: Expectation | None, path: str, current: FileInfo | None) -> None:
    """Raise the error a conditional change meets when ``current`` (the file at ``path`` now,
    or None) is not what ``expect`` wants. A backend calls it inside the transaction or lock
    that makes the change, so that nothing can change the file in between."""
    verdict = judge(expect, current)
    if verdict == "exists":
        raise AlreadyExists(f"file already exists: {path}")
    if verdict == "missing":
        raise NotFound("file", path)
    if verdict == "differs":
        raise ConditionFailed(f"file is not the version expected: {path}")
