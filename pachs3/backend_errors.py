"""The one map from backend errors to S3 errors (``BACKEND_ERRORS``, ``NOT_FOUND_ERRORS``).

The executor translates every ``BackendError`` a handler lets through here; an operation that
gives one a more precise meaning (a missing staging commit is NoSuchUpload) decides that itself.
"""

from __future__ import annotations

from pachs3.backends.base import (
    AlreadyExists,
    BackendError,
    ConditionFailed,
    Conflict,
    NotFound,
    NotSupported,
    PermissionDenied,
    Truncated,
    Unavailable,
)
from pachs3.core import errors

__all__ = ["BACKEND_ERRORS", "NOT_FOUND_ERRORS", "s3_error_for"]


def s3_error_for(exc: BackendError) -> errors.S3Error:
    """The one map from backend errors to S3 errors."""
    if isinstance(exc, NotFound):
        return NOT_FOUND_ERRORS[exc.what]()
    for backend_error, s3_error in BACKEND_ERRORS.items():
        if isinstance(exc, backend_error):
            # AWS's own message, not the backend's: backend text can name store paths. A key
            # the backend cannot store, and a permission the caller lacks, are the exceptions,
            # since the client must learn why.
            explained = isinstance(exc, NotSupported | PermissionDenied)
            return s3_error(str(exc) if explained else None)
    return errors.InternalError()


NOT_FOUND_ERRORS: dict[str, type[errors.S3Error]] = {
    "file": errors.NoSuchKey,
    "upload": errors.NoSuchUpload,
    "repo": errors.NoSuchBucket,
    "branch": errors.NoSuchBucket,
    "commit": errors.NoSuchBucket,
}

BACKEND_ERRORS: dict[type[BackendError], type[errors.S3Error]] = {
    AlreadyExists: errors.PreconditionFailed,  # only If-None-Match: * writes can meet it
    ConditionFailed: errors.PreconditionFailed,  # If-Match (and a delete's size or time)
    Conflict: errors.OperationAborted,  # e.g. a write after the job's commit was finished
    NotSupported: errors.InvalidArgument,  # a key the backend cannot store
    PermissionDenied: errors.AccessDenied,
    Unavailable: errors.ServiceUnavailable,
    Truncated: errors.InternalError,
}
