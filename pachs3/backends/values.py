"""The values a backend hands back about repos, branches and commits (files: ``core.refs``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pachs3.core.refs import DEFAULT_PROJECT, CommitRef


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoInfo:
    name: str
    created: datetime
    description: str = ""
    project: str = DEFAULT_PROJECT


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchInfo:
    repo: str
    name: str
    head: str | None
    """The id of the branch's newest commit, or None when the branch has none yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitInfo:
    repo: str
    id: str
    branch: str | None
    parent: str | None
    started: datetime
    finished: datetime | None
    provenance: tuple[CommitRef, ...] = ()
    description: str = ""
    error: str | None = None
    project: str = DEFAULT_PROJECT

    @property
    def ref(self) -> CommitRef:
        return CommitRef(repo=self.repo, id=self.id, project=self.project)

    @property
    def is_open(self) -> bool:
        return self.finished is None
