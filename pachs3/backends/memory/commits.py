"""Repos, branches and commits of the memory backend."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from types import MappingProxyType

from pachs3.backends.base import (
    AlreadyExists,
    BranchInfo,
    CommitInfo,
    CommitRef,
    Conflict,
    NotFound,
    RepoInfo,
)
from pachs3.backends.memory.state import NO_FILES, CommitState, MemoryState, RepoState, now


class RepoAndCommitOps(MemoryState):
    """``RepoAdmin``, ``BranchRemover`` and ``CommitAdmin`` in memory."""

    # Repos and branches

    def create_repo(self, repo: str, *, description: str = "", exist_ok: bool = False) -> RepoInfo:
        with self._lock:
            if repo in self._repos:
                if exist_ok:
                    return self._repos[repo].info
                raise AlreadyExists(f"repo already exists: {repo}")
            info = RepoInfo(name=repo, created=now(), description=description)
            self._repos[repo] = RepoState(info)
            return info

    def inspect_repo(self, repo: str) -> RepoInfo:
        with self._lock:
            return self._repo(repo).info

    def list_repos(self) -> list[RepoInfo]:
        with self._lock:
            return [self._repos[name].info for name in sorted(self._repos)]

    def delete_repo(self, repo: str) -> None:
        with self._lock:
            self._repo(repo)
            del self._repos[repo]

    def create_branch(self, repo: str, branch: str, *, head: str | None = None) -> BranchInfo:
        with self._lock:
            found = self._repo(repo)
            head_id = None if head is None else self._commit(found, head).info.id
            found.branches[branch] = head_id
            return BranchInfo(repo=repo, name=branch, head=head_id)

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        with self._lock:
            found = self._repo(repo)
            if branch not in found.branches:
                raise NotFound("branch", f"{repo}@{branch}")
            return BranchInfo(repo=repo, name=branch, head=found.branches[branch])

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete the branch name; its commits stay in the repo (readable by id)."""
        with self._lock:
            found = self._repo(repo)
            if branch not in found.branches:
                raise NotFound("branch", f"{repo}@{branch}")
            del found.branches[branch]

    def list_branches(self, repo: str) -> list[BranchInfo]:
        with self._lock:
            found = self._repo(repo)
            return [
                BranchInfo(repo=repo, name=name, head=found.branches[name])
                for name in sorted(found.branches)
            ]

    # Commits

    def start_commit(
        self,
        repo: str,
        branch: str | None,
        *,
        parent: str | None = None,
        provenance: Sequence[CommitRef] = (),
        description: str = "",
        empty: bool = False,
    ) -> CommitInfo:
        with self._lock:
            found = self._repo(repo)
            sources = self._provenance(provenance)
            head = None if branch is None else found.branches.setdefault(branch, None)
            base_ref = parent if parent is not None else head
            base = None if base_ref is None else self._commit(found, base_ref)
            if base is not None and base.files is None:
                raise Conflict(f"parent commit {base.info.id} is not finished")
            info = CommitInfo(
                repo=repo,
                id=uuid.uuid4().hex,
                branch=branch,
                parent=None if base is None else base.info.id,
                started=now(),
                finished=None,
                provenance=sources,
                description=description,
            )
            files = NO_FILES if base is None or empty else base.view()
            found.commits[info.id] = CommitState(info, files)
            return info

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        with self._lock:
            found = self._repo(repo)
            target = self._commit(found, commit)
            if target.files is not None:
                raise Conflict(f"commit {target.info.id} is already finished")
            target.files = MappingProxyType(target.view())
            target.base, target.changes = NO_FILES, {}
            target.info = replace(target.info, finished=now(), error=error)
            if target.info.branch is not None and error is None:
                found.branches[target.info.branch] = target.info.id
            return target.info

    def discard_commit(self, repo: str, commit: str) -> None:
        with self._lock:
            found = self._repo(repo)
            target = self._commit(found, commit)
            if target.files is not None:
                raise Conflict(f"commit {target.info.id} is finished and cannot be discarded")
            del found.commits[target.info.id]
            for name, head in found.branches.items():
                if head == target.info.id:
                    found.branches[name] = target.info.parent

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        with self._lock:
            return self._commit(self._repo(repo), commit).info

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        with self._lock:
            found = self._repo(repo)
            if branch is not None and branch not in found.branches:
                raise NotFound("branch", f"{repo}@{branch}")
            return [
                c.info
                for c in reversed(found.commits.values())
                if branch is None or c.info.branch == branch
            ]
