"""Repos and branches of the Pachyderm backend, and the reading of commits they rest on: a
branch's head as reported here is its newest finished commit without an error."""

from __future__ import annotations

import contextlib
from typing import Any

from python_pachyderm.proto.v2.pfs import pfs_pb2

from ..base import (
    DEFAULT_PROJECT,
    AlreadyExists,
    BranchInfo,
    CommitRef,
    NotFound,
    PermissionDenied,
    RepoInfo,
)
from .paths import HIDDEN_BRANCH_PREFIX, is_commit_id
from .rpc import _AUTO, _USER_REPO, PfsRpc, _time

_MAX_HEAD_WALK = 1000


class RepoLayer(PfsRpc):
    # ----------------------------------------------------------------------------------------
    # Repos and branches

    def create_repo(self, repo: str, *, description: str = "", exist_ok: bool = False) -> RepoInfo:
        if exist_ok:
            with contextlib.suppress(NotFound):
                return self.inspect_repo(repo)
        try:
            self._call(
                "CreateRepo",
                pfs_pb2.CreateRepoRequest(repo=self._repo(repo), description=description),
                what="repo",
                name=repo,
            )
        except AlreadyExists:
            if not exist_ok:
                raise AlreadyExists(f"repo already exists: {repo}") from None
        except PermissionDenied as exc:
            raise PermissionDenied(
                f"pachd refused to create the repo {repo!r}: creating a repo needs the "
                f"PROJECT_CREATE_REPO permission in project {self.project!r} ({exc})"
            ) from exc
        return self.inspect_repo(repo)

    def inspect_repo(self, repo: str) -> RepoInfo:
        info = self._call(
            "InspectRepo",
            pfs_pb2.InspectRepoRequest(repo=self._repo(repo)),
            what="repo",
            name=repo,
        )
        return self._repo_info(info)

    def _repo_info(self, info: Any) -> RepoInfo:
        return RepoInfo(
            name=info.repo.name,
            created=_time(info.created),
            description=info.description,
            project=self._shown_project(info.repo.project.name),
        )

    def list_repos(self) -> list[RepoInfo]:
        request = pfs_pb2.ListRepoRequest(
            type=_USER_REPO, projects=[pfs_pb2.Project(name=self.project)]
        )
        repos = [
            self._repo_info(info)
            for info in self._stream("ListRepo", request, what="repo")
            if info.repo.project.name in ("", self.project) and info.repo.type == _USER_REPO
        ]
        return sorted(repos, key=lambda r: r.name)

    def delete_repo(self, repo: str) -> None:
        self.inspect_repo(repo)  # some pachd versions delete a missing repo without complaint
        self._call(
            "DeleteRepo", pfs_pb2.DeleteRepoRequest(repo=self._repo(repo)), what="repo", name=repo
        )

    def create_branch(self, repo: str, branch: str, *, head: str | None = None) -> BranchInfo:
        head_id = None if head is None else self._resolve(CommitRef(repo=repo, id=head))
        if head_id is None:
            with contextlib.suppress(NotFound):
                self.inspect_branch(repo, branch)
                # PFS cannot point a branch at nothing: recreate it empty.
                self._call(
                    "DeleteBranch",
                    pfs_pb2.DeleteBranchRequest(branch=self._branch(repo, branch), force=True),
                    what="branch",
                )
            request = pfs_pb2.CreateBranchRequest(branch=self._branch(repo, branch))
        else:
            request = pfs_pb2.CreateBranchRequest(
                branch=self._branch(repo, branch), head=self._commit(repo, head_id)
            )
        try:
            self._call("CreateBranch", request, what="repo", name=repo)
        except NotFound as exc:
            if head_id is None:
                raise
            raise self._missing(repo, head_id, DEFAULT_PROJECT, exc) from exc
        return BranchInfo(repo=repo, name=branch, head=head_id)

    def delete_branch(self, repo: str, branch: str) -> None:
        """The global gateway's DeleteBucket: the branch name goes, its commits stay."""
        self.inspect_branch(repo, branch)  # NotFound('repo') or NotFound('branch'), as promised
        self._call(
            "DeleteBranch",
            pfs_pb2.DeleteBranchRequest(branch=self._branch(repo, branch), force=True),
            what="branch",
            name=f"{repo}@{branch}",
        )

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        return BranchInfo(repo=repo, name=branch, head=self._branch_head(repo, branch))

    def list_branches(self, repo: str) -> list[BranchInfo]:
        request = pfs_pb2.ListBranchRequest(repo=self._repo(repo))
        names = sorted(
            info.branch.name
            for info in self._stream("ListBranch", request, what="repo", name=repo)
            if not info.branch.name.startswith(HIDDEN_BRANCH_PREFIX)
        )
        return [
            BranchInfo(repo=repo, name=name, head=self._branch_head(repo, name)) for name in names
        ]

    def _branch_head(self, repo: str, branch: str, project: str = DEFAULT_PROJECT) -> str | None:
        """The branch's newest finished commit without an error (None: none yet).

        NotFound('branch') if the branch does not exist.
        """
        try:
            info = self._call(
                "InspectBranch",
                pfs_pb2.InspectBranchRequest(branch=self._branch(repo, branch, project)),
                what="branch",
                name=f"{repo}@{branch}",
            )
        except NotFound as exc:
            if exc.what == "branch":  # pachd says "branch not found" in a missing repo too
                self._call(
                    "InspectRepo",
                    pfs_pb2.InspectRepoRequest(repo=self._repo(repo, project)),
                    what="repo",
                    name=repo,
                )
            raise
        current = info.head.id if info.HasField("head") else ""
        for _ in range(_MAX_HEAD_WALK):
            if not current:
                return None
            commit = self._raw_commit(repo, current, project)
            if commit.HasField("finished") and not commit.error and not _placeholder(commit):
                return current
            current = commit.parent_commit.id if commit.HasField("parent_commit") else ""
        return None

    # ----------------------------------------------------------------------------------------
    # Commits

    def _raw_commit(self, repo: str, commit_id: str, project: str = DEFAULT_PROJECT) -> Any:
        request = pfs_pb2.InspectCommitRequest(commit=self._commit(repo, commit_id, project))
        try:
            return self._call("InspectCommit", request, what="commit", name=f"{repo}@{commit_id}")
        except NotFound as exc:
            if exc.what == "repo":
                raise
            # pachd names the commit even when its repo is missing ("commit default/r@id not
            # found"): ask for the repo, so that a missing repo says so. And it takes an id
            # that is not a UUID v4 for a branch name: a missing commit all the same.
            self._call(
                "InspectRepo",
                pfs_pb2.InspectRepoRequest(repo=self._repo(repo, project)),
                what="repo",
                name=repo,
            )
            if exc.what == "branch" and is_commit_id(commit_id):
                raise NotFound("commit", f"{repo}@{commit_id}") from exc
            raise

    def _missing(self, repo: str, commit_id: str, project: str, exc: NotFound) -> NotFound:
        """What a NotFound from a call naming ``repo@commit_id`` means in the backend's terms:
        pachd answers "commit ... not found" for a missing repo, and "branch ... not found" for
        an id that is not a UUID v4 (seen on pachd 2.6.0), so ask ``_raw_commit``."""
        if exc.what in ("file", "repo"):
            return exc
        try:
            self._raw_commit(repo, commit_id, project)
        except NotFound as better:
            return better
        return exc

    def _resolve(self, ref: CommitRef) -> str:
        """A commit id for ``ref`` (an id, or a branch meaning its head as reported here)."""
        if is_commit_id(ref.id):
            return ref.id
        try:
            head = self._branch_head(ref.repo, ref.id, ref.project)
        except NotFound as exc:
            if exc.what == "branch":
                raise NotFound("commit", f"{ref.repo}@{ref.id}") from None
            raise
        if head is None:
            raise NotFound("commit", f"{ref.repo}@{ref.id}")
        return head


def _placeholder(raw: Any) -> bool:
    """The empty commit PFS 2.x makes for a new branch (or when a branch's head is dropped):
    made by PFS itself, with no parent and no provenance. It stands for "no head yet"."""
    return (
        raw.origin.kind == _AUTO
        and not raw.HasField("parent_commit")
        and len(raw.direct_provenance) == 0
    )


_GLOB_SPECIAL = frozenset("*?[]{}\\!")
