"""PFS backends: the contract (``base``) and the stores that implement it.

``LocalStore`` is the embedded on-disk store, ``MemoryBackend`` the in-memory reference.
"""

from .base import (
    DEFAULT_PROJECT,
    AlreadyExists,
    Backend,
    BackendError,
    BranchInfo,
    BranchRemover,
    ByteStream,
    CommitAdmin,
    CommitInfo,
    CommitRef,
    Conflict,
    FileInfo,
    FileLister,
    FileReader,
    FileWriter,
    NotFound,
    NotFoundKind,
    NotSupported,
    PermissionDenied,
    RepoAdmin,
    RepoInfo,
    Truncated,
    Unavailable,
    commit,
)
from .contents import CommitReader, read_commit
from .local import GcReport, LocalStore, StoreError
from .memory import MemoryBackend

__all__ = [
    "DEFAULT_PROJECT",
    "AlreadyExists",
    "Backend",
    "BackendError",
    "BranchInfo",
    "BranchRemover",
    "ByteStream",
    "CommitAdmin",
    "CommitInfo",
    "CommitReader",
    "CommitRef",
    "Conflict",
    "FileInfo",
    "FileLister",
    "FileReader",
    "FileWriter",
    "GcReport",
    "LocalStore",
    "MemoryBackend",
    "NotFound",
    "NotFoundKind",
    "NotSupported",
    "PermissionDenied",
    "RepoAdmin",
    "RepoInfo",
    "StoreError",
    "Truncated",
    "Unavailable",
    "commit",
    "read_commit",
]
