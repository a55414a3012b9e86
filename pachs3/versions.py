"""Versions against a backend: which commits a bucket answers, and ListObjectVersions.

A bucket answers the commit it reads and, unless it is a job's ``out``, that commit's
ancestors (``core/versions.py``). The ancestry comes from one ``list_commits`` of the repo (one
store read, whatever the depth), followed through the parent ids in memory. ListObjectVersions
walks the history of each path along that line (``backends/history.py``) into a page
(``core/listing/versions.py``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import replace
from typing import TypeVar

from pachs3.backends.base import Backend, CommitInfo, NotFound
from pachs3.backends.history import FileChange, history_of
from pachs3.core import errors
from pachs3.core.body import IncomingBody
from pachs3.core.listing.versions import VersionPage
from pachs3.core.outcomes import Answered, VersionsListed
from pachs3.core.plans import CopyFile, CopyPart, ListVersions, SetVersioning
from pachs3.core.refs import CommitRef
from pachs3.core.versions import VersionPin, check_version_id, is_commit_id, versioning_change

Body = IncomingBody


def resolve(backend: Backend, pin: VersionPin, *, resource: str) -> CommitRef:
    """The commit a read of version ``pin`` goes to; NoSuchVersion if the bucket does not
    answer that id (not a commit, a commit of another repo, one outside the ancestry)."""
    if pin.id == pin.bucket.id:
        return pin.bucket
    answered = pin.ancestry and is_commit_id(pin.id)
    if answered and any(info.id == pin.id for info in ancestry(backend, pin.bucket)):
        return pin.ref()
    raise errors.NoSuchVersion(resource=resource)


def ancestry(backend: Backend, ref: CommitRef) -> Iterator[CommitInfo]:
    """``ref``'s commit, then its parent, and so on to the first commit: newest first."""
    try:
        commits = {info.id: info for info in backend.list_commits(ref.repo)}
    except NotFound:  # the repo went away since the bucket was resolved
        return
    current = commits.get(ref.id)
    seen: set[str] = set()
    while current is not None and current.id not in seen:
        seen.add(current.id)
        yield current
        current = None if current.parent is None else commits.get(current.parent)


def holding(backend: Backend, pin: VersionPin, path: str, *, resource: str) -> CommitRef:
    """``resolve``, and the version must hold a file at ``path`` (NoSuchVersion if not)."""
    ref = resolve(backend, pin, resource=resource)
    try:
        backend.inspect_file(ref, path)
    except NotFound as exc:
        if exc.what != "file":
            raise
        raise errors.NoSuchVersion(resource=resource) from exc
    return ref


def list_versions(listing: ListVersions, backend: Backend, body: Body) -> VersionsListed:
    """One page: first the rest of ``key-marker``'s history after ``version-id-marker`` (when
    both are given), then the paths after ``key-marker``."""
    line = _line(backend, listing)
    page = VersionPage(listing)
    if listing.version_id_marker:
        older = _key_history(backend, line, listing.key_marker, listing.version_id_marker)
        with closing(older):
            for change in older:
                if not _offer(page, change):
                    return page.result()
    walk = history_of(backend, line, prefix=listing.prefix, start_after=listing.key_marker)
    with closing(walk):
        for change in walk:
            if not _offer(page, change):
                break
    return page.result()


def _line(backend: Backend, listing: ListVersions) -> list[CommitInfo]:
    if listing.ancestry:
        return list(ancestry(backend, listing.ref))
    return [backend.inspect_commit(listing.ref.repo, listing.ref.id)]


def _key_history(
    backend: Backend, line: Sequence[CommitInfo], key: str, marker: str
) -> Generator[FileChange, None, None]:
    """The changes of exactly ``key`` older than its change in the commit ``marker`` (none if
    ``marker`` did not change it). The walk starts at the marker's commit: a commit's change is
    decided by it and its parent alone, so the commits above it need not be read (a walk under
    the prefix ``key`` starts with ``key``)."""
    start = next((n for n, info in enumerate(line) if info.id == marker), None)
    if start is None:
        return
    with closing(history_of(backend, line[start:], prefix=key)) as walk:
        first = next(walk, None)
        if first is None or first.path != key or first.commit.id != marker:
            return
        for change in walk:
            if change.path != key:
                return
            yield replace(change, latest=False)  # the marker's change is newer


def _offer(page: VersionPage, change: FileChange) -> bool:
    commit = change.commit
    return page.offer(
        change.path,
        commit.id,
        latest=change.latest,
        info=change.info,
        when=commit.finished or commit.started,
    )


def set_versioning(change: SetVersioning, backend: Backend, body: Body) -> Answered:
    versioning_change(body.document(change.body), resource=f"/{change.bucket}")
    return Answered()


def check_deletable(backend: Backend, ref: CommitRef, path: str, version: str) -> None:
    """DeleteObject (or a DeleteObjects entry) with ``versionId``: a version is a commit, and
    a finished commit never changes (PFS history is immutable), so deleting an old version is
    refused with 403 AccessDenied, the error AWS gives for a version it must keep (Object
    Lock). The key's *current* version is the exception: deleting it removes the key from the
    branch as a plain delete does (a new commit; the version stays in history), since sync tools
    (rclone) delete by version id on a versioned bucket. So is the id of a job's own open
    output commit (``ref``), which is not history yet."""
    check_version_id(version, resource=f"/{path}")
    if version == ref.id:
        return
    try:
        current = backend.inspect_file(ref, path).commit
    except NotFound as exc:
        if exc.what != "file":
            raise
        current = None
    if current != version:
        raise errors.AccessDenied(
            f"Version {version!r} cannot be deleted: versions are PFS commits, and a finished "
            "commit is immutable; only the key's current version can be (as a new commit).",
            resource=f"/{path}",
        )


SourcedT = TypeVar("SourcedT", CopyFile, CopyPart)


def pin_source(plan: SourcedT, backend: Backend) -> SourcedT:
    """A copy from ``?versionId=``: its source, as of that commit (NoSuchVersion when the
    bucket does not answer that version or the version does not hold the key)."""
    if plan.src_version is None:
        return plan
    resource = f"/{plan.src_bucket}/{plan.src_path}"
    src = holding(backend, plan.src_version, plan.src_path, resource=resource)
    return replace(plan, src=src)
