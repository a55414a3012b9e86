"""A PFS v2 service double: the part of pachd's ``pfs_v2.API`` that PachydermBackend uses, on a
real ``grpc.server`` (127.0.0.1, a random port), keeping everything in its own dictionaries.

It models PFS 2.x where the backend depends on it, from pachd 2.6's source (file references in
``pfs_model.py`` and docs/pachyderm.md):

- every branch has a head: creating a branch without one makes an empty, finished commit of
  origin AUTO (``makeEmptyCommit``); starting a commit moves the branch head to the new, open
  commit at once; a commit's parent must be finished ("parent commit ... has not been
  finished");
- commits are parent + diffs (``pfs_model``): one diff per ModifyFile call, applied whole when
  the client half-closes the stream and not at all when it cancels; an open commit reads as its
  nearest ancestor without an error plus its diffs; ``ClearCommit`` drops the diffs only;
- files are keyed by (path, datum): DeleteFile deletes entries of its own datum only, and a
  path ending in ``/`` (or ``/``) deletes the tree, any other path one file; finishing fails
  the commit with pachd's messages for "duplicate path output by different datums" and "file /
  directory path collision";
- every AddFile and DeleteFile path passes pachd's ``ValidateFilename`` (printable ASCII, no
  glob characters, no ``.``/``..`` segment), else the call fails with pachd's message;
- several CopyFile(append) of one path in one ModifyFile leave one entry per copy (as pachd
  2.6.0 was seen to): WalkFile lists the path once per entry, GetFile answers "matched multiple
  files", and finishing fails the commit, as for a path held by several datums;
- ids that are not a dash-less UUID v4 name branches; an unknown id given with a branch is
  "invalid"; a commit of a missing repo is a missing commit; DeleteRepo of a missing repo
  succeeds;
- GetFile takes a glob pattern behind pachd's literal-prefix filter (so a ``\\`` in a file
  name cannot be read back by name); InspectFile and WalkFile take literal paths; WalkFile's
  pagination marker is an inclusive lower bound, reversed an exclusive upper one
  (``index/reader.go``);
- FileInfo.file.commit is the commit that was read; ``committed`` is the commit's finishing
  time (unset while open); finishing is separate from finished (``faults.finish_delay``), and
  ``InspectCommit(wait=FINISHED)`` blocks until finished;
- errors carry pachd's messages with pachd's codes: NOT_FOUND / ALREADY_EXISTS only where pachd
  has a typed error (repo, branch, commit, file, project), UNKNOWN for everything else.

Known differences from pachd (none of which the backend relies on):

- the hash is SHA-256 of the content (pachd: BLAKE2b over chunk hashes, which may differ
  between an open and a finished commit);
- reads ignore ``File.datum``; InspectFile of a path with several entries answers one of them;
- no auth, no projects besides ``default``, no transactions, no PPS; branch provenance and
  ``direct_provenance`` are not modelled;
- no growth of read cost with the number of diffs beyond replaying them; no compaction;
- DropCommitSet drops the named commit only (pachd: the whole commit set across repos).

Fault injection for tests: ``faults.truncate_after`` (GetFile ends early, cleanly),
``faults.abort_after`` (GetFile fails mid-stream), ``faults.delay`` (every unary call sleeps),
``faults.finish_delay`` (seconds between finishing and finished), ``faults.deny_create_repo``,
``faults.rehash_finished``. ``calls`` counts RPCs by method.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

# protobuf 3.20 ships no type hints (types-protobuf is not a dependency)
from google.protobuf import (  # type: ignore[import-untyped,unused-ignore]
    empty_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from pfs_model import (
    Commit,
    File,
    Files,
    Operation,
    Repo,
    add,
    clean,
    copy,
    delete,
    finish_error,
    glob_matcher,
    merged,
    validate_filename,
)
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

__all__ = ["File", "PFSDouble", "PFSServer"]

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


def now() -> datetime:
    return datetime.now(UTC)


class PFSDouble(pfs_pb2_grpc.APIServicer):  # type: ignore[misc]
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

    # -- repos ---------------------------------------------------------------------------------

    def CreateRepo(self, request: Any, context: Any) -> Any:
        self._count("CreateRepo")
        if self.faults.deny_create_repo:
            # auth's ErrNotAuthorized has no gRPC status of its own: UNKNOWN
            raise unknown(
                "pipeline:default/p is not authorized to perform this operation - needs "
                "permissions [PROJECT_CREATE_REPO] on PROJECT default. Run `pachctl auth "
                "roles-for-permission` to find roles that grant a given permission."
            )
        with self.lock:
            name = request.repo.name
            if not NAME.match(name):
                raise unknown(
                    f"repo name ({name}) invalid: only alphanumeric characters, underscores, "
                    "and dashes are allowed"
                )
            key = (self._project(request.repo), name)
            if key in self.repos:
                if not request.update:
                    raise Abort(
                        grpc.StatusCode.ALREADY_EXISTS, f"repo {key[0]}/{name} already exists"
                    )
                self.repos[key].description = request.description
            else:
                if key[0] != "default":
                    raise not_found(f'project "{key[0]}" not found')
                self.repos[key] = Repo(
                    name=name, project=key[0], created=now(), description=request.description
                )
        return empty_pb2.Empty()

    def _repo_info(self, repo: Repo) -> Any:
        pb_repo = pfs_pb2.Repo(
            name=repo.name, type="user", project=pfs_pb2.Project(name=repo.project)
        )
        return pfs_pb2.RepoInfo(
            repo=pb_repo,
            created=stamp(repo.created),
            description=repo.description,
            branches=[pfs_pb2.Branch(repo=pb_repo, name=b) for b in sorted(repo.branches)],
        )

    def InspectRepo(self, request: Any, context: Any) -> Any:
        self._count("InspectRepo")
        with self.lock:
            return self._repo_info(self._repo(request.repo))

    def ListRepo(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("ListRepo")
        with self.lock:
            projects = {p.name for p in request.projects}
            infos = [
                self._repo_info(r)
                for r in self.repos.values()
                if not projects or r.project in projects
            ]
        yield from infos

    def DeleteRepo(self, request: Any, context: Any) -> Any:
        self._count("DeleteRepo")
        with self.lock:
            key = (self._project(request.repo), request.repo.name)
            self.repos.pop(key, None)  # pachd deletes a missing repo without complaint
        return empty_pb2.Empty()

    # -- commits -------------------------------------------------------------------------------

    def StartCommit(self, request: Any, context: Any) -> Any:
        self._count("StartCommit")
        with self.lock:
            repo = self._repo(request.branch.repo)
            branch = request.branch.name
            if not branch:
                raise unknown("branch must be specified")
            parent: Commit | None = None
            if request.HasField("parent") and (request.parent.id or request.parent.branch.name):
                try:
                    parent = self._commit(request.parent)
                except Abort as exc:
                    if exc.code != grpc.StatusCode.NOT_FOUND:
                        raise
                    raise not_found(f"parent commit not found: {exc.message}") from None
            elif branch in repo.branches:
                parent = repo.commits[repo.branches[branch]]
            if parent is not None and parent.finishing is None:
                raise unknown(
                    f"parent commit {repo.project}/{repo.name}@{parent.id} has not been finished"
                )
            commit = self._new_commit(repo, branch, parent, USER, request.description)
            return self._pb_commit(repo, commit)

    def FinishCommit(self, request: Any, context: Any) -> Any:
        self._count("FinishCommit")
        with self.lock:
            repo = self._commit_repo(request.commit)
            commit = self._commit(request.commit)
            if commit.finishing is not None:
                raise self._finished_already(repo, commit)
            if request.description:
                commit.description = request.description
            commit.finishing = now()
            files = self._files(repo, commit)
            commit.error = request.error or finish_error(files)
            if not commit.error:
                commit.total = files
            delay = self.faults.finish_delay
        if delay:
            threading.Timer(delay, self._finished, args=(commit,)).start()
        else:
            self._finished(commit)
        return empty_pb2.Empty()

    def _finished(self, commit: Commit) -> None:
        with self.changed:
            assert commit.finishing is not None
            # Compaction takes time even for a small commit: finished comes after finishing.
            commit.finished = max(now(), commit.finishing + timedelta(milliseconds=5))
            self.changed.notify_all()

    def ClearCommit(self, request: Any, context: Any) -> Any:
        self._count("ClearCommit")
        with self.lock:
            commit = self._commit(request.commit)
            if commit.finishing is not None:
                raise unknown("cannot clear finished commit")
            commit.diffs = []  # DropFileSets: the commit's own diffs; its parent stays
        return empty_pb2.Empty()

    def InspectCommit(self, request: Any, context: Any) -> Any:
        self._count("InspectCommit")
        with self.changed:
            repo = self._commit_repo(request.commit)
            commit = self._commit(request.commit)
            if request.wait == FINISHED:
                while commit.finished is None:
                    remaining = context.time_remaining()
                    if remaining is not None and remaining <= 0:
                        break
                    self.changed.wait(timeout=min(remaining or 1.0, 1.0))
            return self._commit_info(repo, commit)

    def ListCommit(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("ListCommit")
        with self.lock:
            repo = self._repo(request.repo)
            commits = sorted(repo.commits.values(), key=lambda c: c.started, reverse=True)
            infos = [
                self._commit_info(repo, c)
                for c in commits
                if not request.origin_kind or c.origin == request.origin_kind
            ]
        yield from infos

    def DropCommitSet(self, request: Any, context: Any) -> Any:
        self._count("DropCommitSet")
        with self.lock:
            target = request.commit_set.id
            found = [(r, r.commits[target]) for r in self.repos.values() if target in r.commits]
            if not found:
                raise not_found(f"no commits found for commitset {target}")
            for repo, commit in found:
                if any(child in repo.commits for child in commit.children):
                    raise unknown(
                        "cannot drop a commit that has children: "
                        f"{repo.project}/{repo.name}@{commit.id}"
                    )
            for repo, commit in found:
                del repo.commits[commit.id]
                if repo.branches.get(commit.branch) == commit.id:
                    parent = repo.commits.get(commit.parent or "")
                    if parent is not None and parent.branch == commit.branch:
                        repo.branches[commit.branch] = parent.id
                    else:
                        self._empty_head(repo, commit.branch)
        return empty_pb2.Empty()

    # -- branches ------------------------------------------------------------------------------

    def CreateBranch(self, request: Any, context: Any) -> Any:
        self._count("CreateBranch")
        with self.lock:
            repo = self._repo(request.branch.repo)
            name = request.branch.name
            if not NAME.match(name):
                raise unknown(f"branch name ({name}) invalid")
            if request.HasField("head") and (request.head.id or request.head.branch.name):
                try:
                    repo.branches[name] = self._commit(request.head).id
                except Abort as exc:
                    if exc.code != grpc.StatusCode.NOT_FOUND:
                        raise
                    named = request.head.id or request.head.branch.name
                    raise not_found(
                        f"unable to inspect {repo.project}/{repo.name}@{named}: {exc.message}"
                    ) from None
            elif name not in repo.branches:
                self._empty_head(repo, name)
        return empty_pb2.Empty()

    def _branch_info(self, repo: Repo, name: str) -> Any:
        pb_repo = pfs_pb2.Repo(
            name=repo.name, type="user", project=pfs_pb2.Project(name=repo.project)
        )
        return pfs_pb2.BranchInfo(
            branch=pfs_pb2.Branch(repo=pb_repo, name=name),
            head=self._pb_commit(repo, repo.commits[repo.branches[name]]),
        )

    def _branch_not_found(self, repo: Repo, name: str) -> Abort:
        return not_found(f'branch "{name}" not found in repo {repo.project}/{repo.name}')

    def InspectBranch(self, request: Any, context: Any) -> Any:
        self._count("InspectBranch")
        with self.lock:
            repo = self._repo(request.branch.repo)
            if request.branch.name not in repo.branches:
                raise self._branch_not_found(repo, request.branch.name)
            return self._branch_info(repo, request.branch.name)

    def ListBranch(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("ListBranch")
        with self.lock:
            repo = self._repo(request.repo)
            infos = [self._branch_info(repo, name) for name in repo.branches]
        yield from infos

    def DeleteBranch(self, request: Any, context: Any) -> Any:
        self._count("DeleteBranch")
        with self.lock:
            repo = self._repo(request.branch.repo)
            if request.branch.name not in repo.branches:
                raise self._branch_not_found(repo, request.branch.name)
            del repo.branches[request.branch.name]
        return empty_pb2.Empty()

    # -- files ---------------------------------------------------------------------------------

    def ModifyFile(self, request_iterator: Iterator[Any], context: Any) -> Any:
        """One ModifyFile stream: its operations are collected while the stream runs and added
        to the commit as one diff when it ends, like pachd (``withCommitUnorderedWriter`` ->
        ``AddFileSet``). Concurrent calls into one commit therefore all land (the parts of a
        multipart upload are written in parallel). Paths are validated as they arrive."""
        self._count("ModifyFile")
        target: tuple[Repo, Commit] | None = None
        operations: list[Operation] = []
        written: set[tuple[str, str]] = set()  # (path, datum) this call wrote so far
        body = False
        try:
            for request in request_iterator:
                op = request.WhichOneof("body")
                if op == "set_commit":
                    with self.lock:
                        target = (
                            self._commit_repo(request.set_commit),
                            self._commit(request.set_commit),
                        )
                        if target[1].finishing is not None:
                            raise self._finished_already(*target)
                    continue
                if target is None:
                    raise unknown("no commit set")
                if op == "add_file":
                    add_file = request.add_file
                    self._validate(add_file.path)
                    if add_file.WhichOneof("source") not in ("raw", None):
                        raise Abort(grpc.StatusCode.UNIMPLEMENTED, "only raw sources")
                    data = add_file.raw.value
                    body = body or bool(data)
                    operations.append(
                        functools.partial(
                            add, path=clean(add_file.path), datum=add_file.datum, data=data
                        )
                    )
                    written.add((clean(add_file.path), add_file.datum))
                elif op == "delete_file":
                    self._validate(request.delete_file.path)
                    gone = request.delete_file.path
                    written -= {
                        k
                        for k in written
                        if k[1] == request.delete_file.datum
                        and (k[0] == clean(gone) or (gone.endswith("/") and k[0].startswith(gone)))
                    }
                    operations.append(
                        functools.partial(
                            delete, path=request.delete_file.path, datum=request.delete_file.datum
                        )
                    )
                elif op == "copy_file":
                    operations.append(self._copy_operation(request.copy_file, written))
        except grpc.RpcError:
            return empty_pb2.Empty()  # the client went away: nothing is applied
        if body and self._cancelled(context):
            return empty_pb2.Empty()
        if target is not None and operations:
            with self.lock:
                if target[1].finishing is not None:
                    raise self._finished_already(*target)
                target[1].diffs.append(operations)
        return empty_pb2.Empty()

    @staticmethod
    def _validate(path: str) -> None:
        problem = validate_filename(path)
        if problem is not None:
            raise unknown(problem)

    @staticmethod
    def _cancelled(context: Any) -> bool:
        """Whether the client cancelled rather than half-closed the stream.

        Go's Recv tells the two apart; Python's server ends the request iterator the same way
        for both and learns of a cancellation a moment later, so look for a few milliseconds
        (only for streams that carried a body: those are the ones a client abandons).
        """
        deadline = time.monotonic() + 0.005
        while time.monotonic() < deadline:
            if not context.is_active():
                return True
            time.sleep(0.0005)
        return not context.is_active()

    def _copy_operation(self, request: Any, written: set[tuple[str, str]]) -> Operation:
        """CopyFile: the source (a path and everything under it, every datum) is read when the
        request arrives; applying it writes (or appends) the copies under the destination, in
        the request's datum."""
        with self.lock:
            repo = self._commit_repo(request.src.commit)
            files = self._files(repo, self._commit(request.src.commit))
        src = clean(request.src.path)
        dst = clean(request.dst)
        copies: dict[tuple[str, str], bytes] = {}
        for (path, _datum), file in sorted(files.items()):
            if path == src or path.startswith(src.rstrip("/") + "/"):
                key = (dst + path[len(src) :], request.datum)
                copies[key] = copies.get(key, b"") + file.data
        again = set(copies) & written
        written.update(copies)
        return functools.partial(copy, copies=copies, append=request.append, again=again)

    def _read_view(
        self, pb_file: Any
    ) -> tuple[Repo, Commit, dict[str, tuple[int, bytes]], dict[str, int]]:
        """The commit's entries, and how many index entries pachd keeps per path (more than
        one: several datums, or several CopyFile(append) of it in one call)."""
        repo = self._commit_repo(pb_file.commit)
        commit = self._commit(pb_file.commit)
        files = self._files(repo, commit)
        counts: dict[str, int] = {}
        for (path, _datum), file in files.items():
            counts[path] = counts.get(path, 0) + file.entries
        return repo, commit, self._entries(files), counts

    @staticmethod
    def _file_not_found(repo: Repo, commit: Commit, path: str) -> Abort:
        return not_found(
            f"file {path} not found in repo {repo.project}/{repo.name} at commit {commit.id}"
        )

    def InspectFile(self, request: Any, context: Any) -> Any:
        self._count("InspectFile")
        with self.lock:
            repo, commit, entries, _ = self._read_view(request.file)
            path = clean(request.file.path)
            for candidate in (path, path.rstrip("/") + "/"):
                if candidate in entries:
                    return self._file_info(repo, commit, entries, candidate)
            raise self._file_not_found(repo, commit, path)

    def WalkFile(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("WalkFile")
        with self.lock:
            repo, commit, entries, counts = self._read_view(request.file)
            root = clean(request.file.path)
            root = "" if root == "/" else root
            marker = request.paginationMarker.path if request.HasField("paginationMarker") else None
            selected = [
                path
                for path in sorted(entries, key=lambda p: p.encode())
                if path == root or path == root + "/" or path.startswith(root + "/")
            ]
            if not selected and root:
                raise not_found(f"commit/{commit.id} does not contain item: ({root})")
            if marker is not None:
                # The marker bounds a path range (index/reader.go): the lower bound, itself
                # included; reversed, the upper bound, itself excluded.
                bound = marker.encode()
                if request.reverse:
                    selected = [p for p in selected if p.encode() < bound]
                else:
                    selected = [p for p in selected if p.encode() >= bound]
            if request.reverse:
                selected.reverse()
            infos = []
            for path in selected:
                info = self._file_info(repo, commit, entries, path)
                infos += [info] * counts.get(path, 1)
            if request.number:
                infos = infos[: request.number]
        yield from infos

    def GetFile(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("GetFile")
        with self.lock:
            repo, commit, entries, counts = self._read_view(request.file)
            pattern = clean(request.file.path)
            match = glob_matcher(pattern)
            matched = [p for p, (kind, _) in sorted(entries.items()) if kind == FILE and match(p)]
            if not matched:
                raise self._file_not_found(repo, commit, pattern)
            if len(matched) == 1 and counts.get(matched[0], 1) > 1:
                raise unknown("matched multiple files. Use GetFileTAR instead")
            data = b"".join(entries[p][1] for p in matched)[request.offset :]
        faults = self.faults
        sent = 0
        for start in range(0, len(data), READ_CHUNK):
            piece = data[start : start + READ_CHUNK]
            if faults.truncate_after is not None and sent + len(piece) > faults.truncate_after:
                piece = piece[: max(0, faults.truncate_after - sent)]
                if piece:
                    yield wrappers_pb2.BytesValue(value=piece)
                return
            if faults.abort_after is not None and sent + len(piece) > faults.abort_after:
                piece = piece[: max(0, faults.abort_after - sent)]
                if piece:
                    yield wrappers_pb2.BytesValue(value=piece)
                raise Abort(grpc.StatusCode.INTERNAL, "storage backend read failed")
            sent += len(piece)
            yield wrappers_pb2.BytesValue(value=piece)


class _AbortInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Turn ``Abort`` raised by a handler into the gRPC status it names; note each call's
    metadata (``PFSDouble.metadata``)."""

    def __init__(self, service: PFSDouble) -> None:
        self.service = service

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        self.service.metadata.append(
            (handler_call_details.method, dict(handler_call_details.invocation_metadata or ()))
        )
        handler = continuation(handler_call_details)
        if handler is None:
            return None

        def wrap_unary(behavior: Any) -> Any:
            def call(request: Any, context: Any) -> Any:
                try:
                    return behavior(request, context)
                except Abort as exc:
                    context.abort(exc.code, exc.message)

            return call

        def wrap_stream(behavior: Any) -> Any:
            def call(request: Any, context: Any) -> Any:
                try:
                    yield from behavior(request, context)
                except Abort as exc:
                    context.abort(exc.code, exc.message)

            return call

        if handler.unary_unary:
            return handler._replace(unary_unary=wrap_unary(handler.unary_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=wrap_stream(handler.unary_stream))
        if handler.stream_unary:
            return handler._replace(stream_unary=wrap_unary(handler.stream_unary))
        return handler


class PFSServer:
    """The double on a real gRPC server at 127.0.0.1:<random port>."""

    def __init__(self, *, unix_socket: str | None = None) -> None:
        self.service = PFSDouble()
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32),
            interceptors=[_AbortInterceptor(self.service)],
        )
        pfs_pb2_grpc.add_APIServicer_to_server(self.service, self.server)
        if unix_socket is not None:
            self.server.add_insecure_port(f"unix://{unix_socket}")
            self.port = 0
            self.address = f"unix://{unix_socket}"
        else:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
            self.address = f"grpc://127.0.0.1:{self.port}"

    def __enter__(self) -> PFSServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)
