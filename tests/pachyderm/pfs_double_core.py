"""The PFS double's core (see ``pfs_double.py``): its state, pachd's commit resolution and how a
commit reads (parent + diffs), the messages it answers with, and its fault switches."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

# protobuf 3.20 ships no type hints (types-protobuf is not a dependency)
from google.protobuf import (  # type: ignore[import-untyped,unused-ignore]
    timestamp_pb2,
)
from pfs_model import (
    Commit,
    Files,
    Operation,
    Repo,
    add,
    delete,
    merged,
)
from python_pachyderm.proto.v2.pfs import pfs_pb2

FILE = pfs_pb2.FileType.Value("FILE")
DIR = pfs_pb2.FileType.Value("DIR")
USER = pfs_pb2.OriginKind.Value("USER")
AUTO = pfs_pb2.OriginKind.Value("AUTO")
FINISHED = pfs_pb2.CommitState.Value("FINISHED")
NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_UUID4 = re.compile(r"[0-9a-f]{12}4[0-9a-f]{19}")
"""pachd takes a commit id for a dash-less UUID v4 only (uuid.IsUUIDWithoutDashes)."""
READ_CHUNK = 64 * 1024


class Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def not_found(message: str) -> Abort:
    return Abort(grpc.StatusCode.NOT_FOUND, message)


def unknown(message: str) -> Abort:
    """pachd's plain errors reach the client as UNKNOWN with the error's text."""
    return Abort(grpc.StatusCode.UNKNOWN, message)


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(moment.replace(tzinfo=None))
    return out


@dataclass
class Faults:
    truncate_after: int | None = None
    abort_after: int | None = None
    delay: float = 0.0
    finish_delay: float = 0.0
    deny_create_repo: bool = False
    """CreateRepo is refused as pachd refuses a token without PROJECT_CREATE_REPO."""
    rehash_finished: bool = False
    """Finished commits report other file hashes than open ones (what pachd may do when it
    re-chunks files in an open commit, fileset/merge.go)."""
    before: dict[str, Callable[[], None]] = field(default_factory=dict)
    """RPC name -> something to do once, just before the next such call is served (e.g. move a
    branch between a client's read of it and its next call)."""


def now() -> datetime:
    return datetime.now(UTC)


class DoubleCore:
    """State and shared lookups of the double; the RPCs are in ``pfs_double_files.FileRPCs``
    and ``pfs_double.PFSDouble``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.faults = Faults()
        self.calls: dict[str, int] = {}
        self.metadata: list[tuple[str, dict[str, str]]] = []

    # -- for tests: what PFS holds, and writes by other means (as pachctl would make them) -------

    def files(self, repo: str, commit_id: str, *, project: str = "default") -> dict[str, bytes]:
        """Path -> content of a commit, as a reader of it sees it."""
        with self.lock:
            found = self.repos[(project, repo)]
            files = self._files(found, found.commits[commit_id])
        return {path: b"".join(f.data for _, f in e) for path, e in merged(files).items()}

    def write(
        self, repo: str, commit_id: str, path: str, data: bytes | None, *, datum: str = ""
    ) -> None:
        """One diff that puts ``data`` at ``path`` (None: deletes it), bypassing validation."""
        with self.lock:
            commit = self.repos[("default", repo)].commits[commit_id]
            operations: list[Operation] = [functools.partial(delete, path=path, datum=datum)]
            if data is not None:
                operations.append(functools.partial(add, path=path, datum=datum, data=data))
            commit.diffs.append(operations)

    # -- helpers -------------------------------------------------------------------------------

    def _count(self, name: str) -> None:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            hook = self.faults.before.pop(name, None)
        if hook is not None:
            hook()
        if self.faults.delay:
            time.sleep(self.faults.delay)

    @staticmethod
    def _project(pb_repo: Any) -> str:
        return pb_repo.project.name or "default"

    def _repo(self, pb_repo: Any) -> Repo:
        key = (self._project(pb_repo), pb_repo.name)
        found = self.repos.get(key)
        if found is None:
            raise not_found(f"repo {key[0]}/{key[1]} not found")
        return found

    def _commit_repo(self, pb_commit: Any) -> Repo:
        pb_repo = pb_commit.repo if pb_commit.repo.name else pb_commit.branch.repo
        if pb_commit.id and (self._project(pb_repo), pb_repo.name) not in self.repos:
            self._commit(pb_commit)  # pachd names the commit, not the repo
        return self._repo(pb_repo)

    def _commit(self, pb_commit: Any) -> Commit:
        """pachd's commit resolution: an id that is not a UUID v4 names a branch; an unknown id
        given with a branch name is invalid; a commit of a missing repo is a missing commit."""
        pb_repo = pb_commit.repo if pb_commit.repo.name else pb_commit.branch.repo
        project = self._project(pb_repo)
        commit_id, branch = pb_commit.id, pb_commit.branch.name
        if commit_id and not branch and not _UUID4.fullmatch(commit_id):
            commit_id, branch = "", commit_id
        repo = self.repos.get((project, pb_repo.name))
        if repo is None:
            if commit_id:
                raise not_found(f"commit {project}/{pb_repo.name}@{commit_id} not found")
            raise not_found(f"repo {project}/{pb_repo.name} not found")
        if commit_id:
            found = repo.commits.get(commit_id)
            if found is not None:
                return found
            if branch:
                raise unknown(
                    f"invalid commit ID given with a branch ({project}/{repo.name}@{branch}): "
                    f"{commit_id}\n"
                )
            raise not_found(f"commit {project}/{repo.name}@{commit_id} not found")
        if branch in repo.branches:
            return repo.commits[repo.branches[branch]]
        raise not_found(f'branch "{branch}" not found in repo {project}/{repo.name}')

    def _new_commit(
        self, repo: Repo, branch: str, parent: Commit | None, origin: int, description: str = ""
    ) -> Commit:
        commit = Commit(
            id=uuid.uuid4().hex,
            repo=repo.name,
            branch=branch,
            parent=parent.id if parent else None,
            origin=origin,
            started=now(),
            description=description,
        )
        if parent is not None:
            parent.children.append(commit.id)
        repo.commits[commit.id] = commit
        repo.branches[branch] = commit.id
        return commit

    def _empty_head(self, repo: Repo, branch: str) -> Commit:
        commit = self._new_commit(repo, branch, None, AUTO)
        commit.finishing = commit.finished = commit.started
        commit.total = {}
        return commit

    def _files(self, repo: Repo, commit: Commit) -> Files:
        """What a reader of ``commit`` sees (``getFileSet``)."""
        if commit.finished is not None and not commit.error and commit.total is not None:
            return commit.total
        files: Files = {}
        ancestor_id = commit.parent
        while ancestor_id is not None and ancestor_id in repo.commits:
            ancestor = repo.commits[ancestor_id]
            if not ancestor.error:
                if ancestor.finished is None:
                    raise unknown(
                        f"base commit {repo.project}/{repo.name}@{ancestor.id} for commit "
                        f"{repo.project}/{repo.name}@{commit.id} unfinished"
                    )
                files = dict(self._files(repo, ancestor))
                break
            ancestor_id = ancestor.parent
        for diff in commit.diffs:
            for operation in diff:
                operation(files)
        return files

    def _pb_commit(self, repo: Repo, commit: Commit) -> Any:
        pb_repo = pfs_pb2.Repo(
            name=repo.name, type="user", project=pfs_pb2.Project(name=repo.project)
        )
        return pfs_pb2.Commit(
            repo=pb_repo, id=commit.id, branch=pfs_pb2.Branch(repo=pb_repo, name=commit.branch)
        )

    def _commit_info(self, repo: Repo, commit: Commit) -> Any:
        info = pfs_pb2.CommitInfo(
            commit=self._pb_commit(repo, commit),
            origin=pfs_pb2.CommitOrigin(kind=commit.origin),
            description=commit.description,
            started=stamp(commit.started),
            error=commit.error,
        )
        if commit.parent is not None and commit.parent in repo.commits:
            info.parent_commit.CopyFrom(self._pb_commit(repo, repo.commits[commit.parent]))
        for child in commit.children:
            if child in repo.commits:
                info.child_commits.append(self._pb_commit(repo, repo.commits[child]))
        for source, branch, commit_id in commit.direct_provenance:
            pb_source = pfs_pb2.Repo(
                name=source, type="user", project=pfs_pb2.Project(name=repo.project)
            )
            info.direct_provenance.append(
                pfs_pb2.Commit(
                    repo=pb_source, id=commit_id, branch=pfs_pb2.Branch(repo=pb_source, name=branch)
                )
            )
        if commit.finishing is not None:
            info.finishing.CopyFrom(stamp(commit.finishing))
        if commit.finished is not None:
            info.finished.CopyFrom(stamp(commit.finished))
        return info

    @staticmethod
    def _entries(files: Files) -> dict[str, tuple[int, bytes]]:
        """Every file (its datums' contents concatenated) and implied directory (``/dir/``)."""
        entries: dict[str, tuple[int, bytes]] = {}
        for path, datums in merged(files).items():
            entries[path] = (FILE, b"".join(f.data for _, f in datums))
            parts = path.split("/")[1:-1]
            for depth in range(1, len(parts) + 1):
                entries.setdefault("/" + "/".join(parts[:depth]) + "/", (DIR, b""))
        return entries

    def _file_info(
        self, repo: Repo, commit: Commit, entries: dict[str, tuple[int, bytes]], path: str
    ) -> Any:
        kind, data = entries[path]
        if kind == FILE:
            salt = b"finished:" if self.faults.rehash_finished and commit.finished else b""
            size, digest = len(data), hashlib.sha256(salt + data).digest()
        else:
            under = [d for p, (k, d) in sorted(entries.items()) if k == FILE and p.startswith(path)]
            size = sum(len(d) for d in under)
            digest = hashlib.sha256(b"".join(hashlib.sha256(d).digest() for d in under)).digest()
        info = pfs_pb2.FileInfo(
            file=pfs_pb2.File(commit=self._pb_commit(repo, commit), path=path),
            file_type=kind,
            size_bytes=size,
            hash=digest,
        )
        if commit.finishing is not None:
            info.committed.CopyFrom(stamp(commit.finishing))  # source.go: the Finishing time
        return info

    @staticmethod
    def _finished_already(repo: Repo, commit: Commit) -> Abort:
        return unknown(f"commit {repo.project}/{repo.name}@{commit.id} has already finished")
