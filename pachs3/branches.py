"""Branches as buckets, against a backend: the global gateway's I/O.

- ``resolve``: the buckets one request names, looked up in the store just before planning (a
  repo and a branch lookup each, and the head commit for its provenance), as a ``GlobalLayout``
  snapshot; ListBuckets looks up every branch of every repo.
- ``create_branch`` / ``delete_branch``: CreateBucket and DeleteBucket.
- ``commit_on_branch``: one write as one finished commit on its branch. Writers of one branch
  take turns (``BranchLocks``): PFS starts a commit from the branch head and moves the head when
  it finishes, so two commits started side by side would each drop the other's write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from pachs3.backends.base import Backend, BranchRemover, NotFound, RepoInfo, commit
from pachs3.core import errors, headers
from pachs3.core.body import IncomingBody
from pachs3.core.bucket_names import BucketName, listed_name, parse_bucket_name
from pachs3.core.global_layout import BranchBucket, GlobalLayout, write_target
from pachs3.core.http import S3Response
from pachs3.core.layout import Bucket
from pachs3.core.outcomes import BranchCreated, BranchDeleted, Outcome
from pachs3.core.plans import (
    BranchWrite,
    CommitOnBranch,
    ComposeParts,
    CopyFile,
    CreateBranch,
    DeleteBranch,
    DeleteFile,
    DeleteFiles,
    WriteFile,
)
from pachs3.core.refs import CommitRef
from pachs3.core.request import S3Request
from pachs3.core.routing import Operation
from pachs3.defaults import DEFAULT_PROJECT

Body = IncomingBody

PINNED = "it is pinned to one commit"
OUTPUT = "its head commit has provenance (a pipeline's output); only the pipeline writes it"
CREATED_DESCRIPTION = "CreateBucket {bucket} (pachs3 global gateway)"


# ---------------------------------------------------------------------------------------------
# Resolving the buckets of one request


def resolve(
    backend: Backend,
    request: S3Request,
    operation: Operation,
    *,
    staging_repo: str,
    empty: Callable[[], CommitRef],
) -> GlobalLayout:
    """The buckets ``request`` names, as the store has them now (missing ones left out).

    ``empty`` gives a finished commit holding nothing: what a branch without a commit reads as.
    """
    if operation == "ListBuckets":
        return GlobalLayout.of(_every_branch(backend, staging_repo), staging_repo=staging_repo)
    names = [request.bucket] if request.bucket is not None else []
    if request.header("x-amz-copy-source") is not None:
        names.append(headers.copy_source(request)[0])
    found = [_lookup(backend, name, staging_repo, empty) for name in dict.fromkeys(names)]
    return GlobalLayout.of([b for b in found if b is not None], staging_repo=staging_repo)


def check_names(request: S3Request) -> None:
    """The pure part of ``resolve``: a name that cannot address anything is refused before the
    store is asked and before the body is read (400 InvalidBucketName)."""
    if request.bucket is not None:
        parse_bucket_name(request.bucket)


def _lookup(
    backend: Backend, name: str, staging_repo: str, empty: Callable[[], CommitRef]
) -> BranchBucket | None:
    parsed = parse_bucket_name(name)
    if parsed.project != DEFAULT_PROJECT or parsed.repo == staging_repo:
        return None
    try:
        repo = backend.inspect_repo(parsed.repo)
        if parsed.commit is not None:
            return _pinned(backend, name, parsed, repo)
        head = backend.inspect_branch(parsed.repo, parsed.branch).head
        return _branch_bucket(backend, name, repo, parsed.branch, head, empty=empty)
    except NotFound:
        return None


def _pinned(backend: Backend, name: str, parsed: BucketName, repo: RepoInfo) -> BranchBucket:
    assert parsed.commit is not None
    info = backend.inspect_commit(parsed.repo, parsed.commit)
    bucket = Bucket(name=name, ref=info.ref, writable=False, created=repo.created)
    return BranchBucket(bucket=bucket, repo=repo.name, branch=parsed.branch, read_only=PINNED)


def _branch_bucket(
    backend: Backend,
    name: str,
    repo: RepoInfo,
    branch: str,
    head: str | None,
    *,
    empty: Callable[[], CommitRef],
) -> BranchBucket:
    read_only = None
    if head is not None and backend.inspect_commit(repo.name, head).provenance:
        read_only = OUTPUT
    # A branch without a commit yet is an empty bucket (its first write gives it a commit).
    ref = CommitRef(repo=repo.name, id=head) if head is not None else empty()
    bucket = Bucket(name=name, ref=ref, writable=read_only is None, created=_created(repo))
    return BranchBucket(bucket=bucket, repo=repo.name, branch=branch, read_only=read_only)


def _every_branch(backend: Backend, staging_repo: str) -> list[BranchBucket]:
    found: list[BranchBucket] = []
    for repo in backend.list_repos():
        if repo.name == staging_repo or repo.project != DEFAULT_PROJECT:
            continue
        try:
            branches = backend.list_branches(repo.name)
            created = _branch_creation(backend, repo)
        except NotFound:  # deleted since it was listed
            continue
        for branch in branches:
            name = listed_name(repo.name, branch.name)
            # Without the provenance lookup: a listing only names buckets.
            ref = CommitRef(repo=repo.name, id=branch.head or branch.name)
            when = created.get(branch.name, repo.created)
            bucket = Bucket(name=name, ref=ref, writable=True, created=when)
            found.append(BranchBucket(bucket=bucket, repo=repo.name, branch=branch.name))
    return found


def _created(repo: RepoInfo) -> datetime:
    """The repo's creation time (a bucket looked up for one request needs no more)."""
    return repo.created


def _branch_creation(backend: Backend, repo: RepoInfo) -> dict[str, datetime]:
    """ListBuckets' CreationDate per branch: when the branch's first commit was started (a
    bucket made by CreateBucket starts with one). Backends keep no creation time per branch; a
    branch on which no commit was ever started shows the repo's (as Pachyderm's global gateway
    shows for every branch). One ``list_commits`` per repo."""
    first: dict[str, datetime] = {}
    for info in backend.list_commits(repo.name):  # newest first: the oldest is written last
        if info.branch is not None:
            first[info.branch] = info.started
    return first


class EmptyCommit:
    """A finished, detached commit of the staging repo that holds nothing, made on first need
    (and found again by its description when a gateway starts on a store that has one)."""

    DESCRIPTION = "what a branch without a commit reads as (pachs3 global gateway)"

    def __init__(self, backend: Backend, staging_repo: str) -> None:
        self._backend = backend
        self._staging_repo = staging_repo
        self._lock = threading.Lock()
        self._ref: CommitRef | None = None

    def __call__(self) -> CommitRef:
        with self._lock:
            if self._ref is None:
                self._ref = self._find() or self._make()
            return self._ref

    def _find(self) -> CommitRef | None:
        for info in self._backend.list_commits(self._staging_repo):
            if info.description == self.DESCRIPTION and not info.is_open and info.error is None:
                return info.ref
        return None

    def _make(self) -> CommitRef:
        with commit(
            self._backend, self._staging_repo, None, description=self.DESCRIPTION, empty=True
        ) as info:
            return info.ref


# ---------------------------------------------------------------------------------------------
# CreateBucket and DeleteBucket


def create_branch(create: CreateBranch, backend: Backend, body: Body) -> BranchCreated:
    """The repo if missing, then the branch with a first, empty, finished commit."""
    repo_created = True
    try:
        backend.inspect_repo(create.repo)
        repo_created = False
    except NotFound:
        backend.create_repo(create.repo, exist_ok=True)
    try:
        backend.inspect_branch(create.repo, create.branch)
    except NotFound:
        pass
    else:  # made since the layout was resolved
        raise errors.BucketAlreadyOwnedByYou(resource=f"/{create.bucket}")
    description = CREATED_DESCRIPTION.format(bucket=create.bucket)
    with commit(backend, create.repo, create.branch, description=description, empty=True):
        pass
    return BranchCreated(repo_created=repo_created)


def delete_branch(delete: DeleteBranch, backend: Backend, body: Body) -> BranchDeleted:
    """The branch, if its head holds no file (409 BucketNotEmpty otherwise, as AWS answers);
    then the repo, if that was its last branch. A branch's commits stay in a repo that stays."""
    if not isinstance(backend, BranchRemover):
        raise errors.NotImplementedByGateway(
            "This backend cannot delete branches.", resource=f"/{delete.bucket}"
        )
    head = backend.inspect_branch(delete.repo, delete.branch).head
    if head is not None and _holds_files(backend, CommitRef(repo=delete.repo, id=head)):
        raise errors.BucketNotEmpty(resource=f"/{delete.bucket}")
    backend.delete_branch(delete.repo, delete.branch)
    if backend.list_branches(delete.repo):
        return BranchDeleted(repo_deleted=False)
    backend.delete_repo(delete.repo)
    return BranchDeleted(repo_deleted=True)


def _holds_files(backend: Backend, ref: CommitRef) -> bool:
    walk = backend.walk_files(ref)
    try:
        return next(iter(walk), None) is not None
    finally:
        close = getattr(walk, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------------------------------
# One write, one commit


class BranchLocks:
    """One lock per branch, made on first use (a gateway's writers of one branch take turns)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def of(self, repo: str, branch: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((repo, branch), threading.Lock())


Execute = Callable[[BranchWrite], tuple[Outcome, S3Response]]


def commit_on_branch(
    plan: CommitOnBranch, backend: Backend, locks: BranchLocks, execute: Execute
) -> tuple[Outcome, S3Response]:
    """Run the write in a new commit on the branch: finished when it succeeds, discarded (with
    everything it wrote) when it raises, so a failed write leaves the branch as it was."""
    with (
        locks.of(plan.repo, plan.branch),
        commit(backend, plan.repo, plan.branch, description=plan.description) as info,
    ):
        return execute(retarget(plan.write, info.ref))


def retarget(write: BranchWrite, ref: CommitRef) -> BranchWrite:
    """The write, aimed at the commit ``ref`` instead of its branch."""
    assert write_target(write).repo == ref.repo
    match write:
        case WriteFile() | DeleteFile() | DeleteFiles():
            return replace(write, ref=ref)
        case CopyFile() | ComposeParts():
            return replace(write, dst=ref)
