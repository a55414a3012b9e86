"""PFS values shared by the pure core (plans, outcomes) and the backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pachs3.defaults import DEFAULT_PROJECT as DEFAULT_PROJECT


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRef:
    """One commit of one repo: the unit of provenance and the thing a bucket is pinned to."""

    repo: str
    id: str
    project: str = DEFAULT_PROJECT

    def __str__(self) -> str:
        return f"{self.repo}@{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInfo:
    """One file of one commit.

    ``etag`` is what S3 clients see (unquoted): the MD5 hex of the bytes for a file written in one
    piece, ``<md5 of part md5s>-N`` for a composed one, or whatever hash the backend keeps for
    files written by other means. ``md5`` is the MD5 hex of the whole content when the backend
    knows it (it is computed while writing), else None (composed files).

    ``metadata`` is opaque to the backend: lower-case header names and values that the gateway
    wants back on reads (content-type, x-amz-meta-*, stored checksums ...).
    """

    path: str
    size: int
    etag: str
    modified: datetime
    commit: str
    """The id of the commit that last changed this file."""
    md5: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
