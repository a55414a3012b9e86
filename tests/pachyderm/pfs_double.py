"""A PFS v2 service double: the part of pachd's ``pfs_v2.API`` that PachydermBackend uses, on a
real ``grpc.server`` (127.0.0.1, a random port), keeping everything in its own dictionaries.

It models PFS 2.x where the backend depends on it, from pachd's source:

- every branch has a head: creating a branch without one makes an empty, finished commit of
  origin AUTO (``makeEmptyCommit``); starting a commit moves the branch head to the new, open
  commit at once; a branch whose head is open cannot get another commit;
- paths are cleaned (``"/" + strings.Trim(path.Clean(p), "/")``); a directory is implied by
  the files under it and walks list it as ``/dir/``; finishing a commit that holds a file and a
  directory of one name records ``file / directory path collision`` as the commit's error;
- a ModifyFile stream applies whole when the client half-closes it, nothing when it is
  cancelled; it applies to the commit as it is when the stream ends (pachd adds one fileset
  per call to the commit), so concurrent calls into one commit all land; AddFile appends,
  DeleteFile removes a path and everything under it, CopyFile copies a path and everything
  under it (appending when asked), reading the source as it was before the call;
- GetFile takes a glob pattern (``*``, ``?``, ``[...]``, ``{a,b}``, ``\\`` escapes); InspectFile
  and WalkFile take literal paths; WalkFile's pagination marker is an inclusive lower bound
  whose own path is skipped;
- FileInfo.file.commit is the commit that was read; ``committed`` is unset in open commits;
  the hash is SHA-256 of the content;
- errors carry pachd's messages ("file /x not found in repo r at commit c", "commit c in repo r
  has already finished", ...) with NOT_FOUND / ALREADY_EXISTS / FAILED_PRECONDITION codes.

Fault injection for tests: ``faults.truncate_after`` (GetFile ends early, cleanly),
``faults.abort_after`` (GetFile fails mid-stream), ``faults.delay`` (every unary call sleeps).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import itertools
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

# protobuf 3.20 ships no type hints (types-protobuf is not a dependency)
from google.protobuf import (  # type: ignore[import-untyped,unused-ignore]
    empty_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

FILE = pfs_pb2.FileType.Value("FILE")
DIR = pfs_pb2.FileType.Value("DIR")
USER = pfs_pb2.OriginKind.Value("USER")
AUTO = pfs_pb2.OriginKind.Value("AUTO")
FINISHED = pfs_pb2.CommitState.Value("FINISHED")
NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
READ_CHUNK = 64 * 1024


class Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def not_found(message: str) -> Abort:
    return Abort(grpc.StatusCode.NOT_FOUND, message)


def clean(path: str) -> str:
    cleaned = posixpath.normpath("/" + path) if path else "/"
    return "/" + cleaned.strip("/")


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(moment.replace(tzinfo=None))
    return out


@dataclass(frozen=True)
class File:
    data: bytes

    @functools.cached_property
    def hash(self) -> bytes:
        return hashlib.sha256(self.data).digest()


@dataclass
class Commit:
    id: str
    repo: str
    branch: str
    parent: str | None
    origin: int
    started: datetime
    description: str = ""
    finished: datetime | None = None
    error: str = ""
    files: dict[str, File] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


@dataclass
class Repo:
    name: str
    project: str
    created: datetime
    description: str = ""
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)


@dataclass
class Faults:
    truncate_after: int | None = None
    abort_after: int | None = None
    delay: float = 0.0


def now() -> datetime:
    return datetime.now(UTC)


class PFSDouble(pfs_pb2_grpc.APIServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.faults = Faults()
        self.calls: dict[str, int] = {}
        self.metadata: list[tuple[str, dict[str, str]]] = []

    # -- helpers -------------------------------------------------------------------------------

    def _count(self, name: str) -> None:
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
            raise not_found(f"repos/ {key[0]}/{key[1]} not found")
        return found

    def _commit_repo(self, pb_commit: Any) -> Repo:
        pb_repo = pb_commit.repo if pb_commit.repo.name else pb_commit.branch.repo
        return self._repo(pb_repo)

    def _commit(self, pb_commit: Any) -> Commit:
        repo = self._commit_repo(pb_commit)
        ref = pb_commit.id or pb_commit.branch.name
        found = repo.commits.get(ref)
        if found is None and not pb_commit.id and ref in repo.branches:
            found = repo.commits.get(repo.branches[ref])
        if found is None and ref in repo.branches and not re.fullmatch(r"[0-9a-f]{32}", ref):
            found = repo.commits.get(repo.branches[ref])
        if found is None:
            if not pb_commit.id and pb_commit.branch.name:
                raise not_found(f"branch {pb_commit.branch.name} not found in repo {repo.name}")
            raise not_found(f"commit {ref} not found in repo {repo.name}")
        return found

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
            files=dict(parent.files) if parent else {},
        )
        if parent is not None:
            parent.children.append(commit.id)
        repo.commits[commit.id] = commit
        repo.branches[branch] = commit.id
        return commit

    def _empty_head(self, repo: Repo, branch: str) -> Commit:
        commit = self._new_commit(repo, branch, None, AUTO)
        commit.finished = commit.started
        return commit

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
        if commit.finished is not None:
            info.finishing.CopyFrom(stamp(commit.finished))
            info.finished.CopyFrom(stamp(commit.finished))
        return info

    def _entries(self, commit: Commit) -> dict[str, tuple[int, File | None]]:
        """Every file and implied directory (``/dir/``) of a commit."""
        entries: dict[str, tuple[int, File | None]] = {}
        for path, file in commit.files.items():
            entries[path] = (FILE, file)
            parts = path.split("/")[1:-1]
            for depth in range(1, len(parts) + 1):
                entries.setdefault("/" + "/".join(parts[:depth]) + "/", (DIR, None))
        return entries

    def _file_info(
        self, repo: Repo, commit: Commit, path: str, kind: int, file: File | None
    ) -> Any:
        if kind == FILE and file is not None:
            size, digest = len(file.data), file.hash
        else:
            under = [f for p, f in commit.files.items() if p.startswith(path)]
            size = sum(len(f.data) for f in under)
            digest = hashlib.sha256(b"".join(f.hash for f in under)).digest()
        info = pfs_pb2.FileInfo(
            file=pfs_pb2.File(commit=self._pb_commit(repo, commit), path=path),
            file_type=kind,
            size_bytes=size,
            hash=digest,
        )
        if commit.finished is not None:
            info.committed.CopyFrom(stamp(commit.finished))
        return info

    # -- repos ---------------------------------------------------------------------------------

    def CreateRepo(self, request: Any, context: Any) -> Any:
        self._count("CreateRepo")
        with self.lock:
            name = request.repo.name
            if not NAME.match(name):
                raise Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"repo name ({name}) invalid: only alphanumeric characters, underscores, "
                    "and dashes are allowed",
                )
            key = (self._project(request.repo), name)
            if key in self.repos:
                if not request.update:
                    raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"repo {name} already exists")
                self.repos[key].description = request.description
            else:
                if key[0] != "default":
                    raise not_found(f"projects/ {key[0]} not found")
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
            repo = self._repo(request.repo)
            del self.repos[(repo.project, repo.name)]
        return empty_pb2.Empty()

    # -- commits -------------------------------------------------------------------------------

    def StartCommit(self, request: Any, context: Any) -> Any:
        self._count("StartCommit")
        with self.lock:
            repo = self._repo(request.branch.repo)
            branch = request.branch.name
            if not branch:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "branch must be specified")
            parent: Commit | None = None
            if request.HasField("parent") and (request.parent.id or request.parent.branch.name):
                parent = self._commit(request.parent)
            elif branch in repo.branches:
                parent = repo.commits[repo.branches[branch]]
            if parent is not None and parent.finished is None:
                raise Abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"parent commit {parent.id} has not been finished",
                )
            commit = self._new_commit(repo, branch, parent, USER, request.description)
            return self._pb_commit(repo, commit)

    def FinishCommit(self, request: Any, context: Any) -> Any:
        self._count("FinishCommit")
        with self.lock:
            repo = self._commit_repo(request.commit)
            commit = self._commit(request.commit)
            if commit.finished is not None:
                raise Abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"commit {commit.id} in repo {repo.name} has already finished",
                )
            if request.description:
                commit.description = request.description
            error = request.error
            paths = sorted(commit.files)
            for previous, current in itertools.pairwise(paths):
                if current.startswith(previous + "/") and not error:
                    error = f"file / directory path collision ({current})"
            commit.error = error
            commit.finished = now()
        return empty_pb2.Empty()

    def ClearCommit(self, request: Any, context: Any) -> Any:
        self._count("ClearCommit")
        with self.lock:
            commit = self._commit(request.commit)
            if commit.finished is not None:
                raise Abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"commit {commit.id} in repo {commit.repo} has already finished",
                )
            commit.files = {}
        return empty_pb2.Empty()

    def InspectCommit(self, request: Any, context: Any) -> Any:
        self._count("InspectCommit")
        with self.lock:
            repo = self._commit_repo(request.commit)
            return self._commit_info(repo, self._commit(request.commit))

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
                raise not_found(f"commit set {target} not found")
            for repo, commit in found:
                if any(child in repo.commits for child in commit.children):
                    raise Abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"cannot drop commit {commit.id}: it has children",
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
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"branch name ({name}) invalid")
            if request.HasField("head") and (request.head.id or request.head.branch.name):
                repo.branches[name] = self._commit(request.head).id
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

    def InspectBranch(self, request: Any, context: Any) -> Any:
        self._count("InspectBranch")
        with self.lock:
            repo = self._repo(request.branch.repo)
            if request.branch.name not in repo.branches:
                raise not_found(
                    f"branches/ {repo.project}/{repo.name}@{request.branch.name} not found"
                )
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
                raise not_found(
                    f"branches/ {repo.project}/{repo.name}@{request.branch.name} not found"
                )
            del repo.branches[request.branch.name]
        return empty_pb2.Empty()

    # -- files ---------------------------------------------------------------------------------

    def ModifyFile(self, request_iterator: Iterator[Any], context: Any) -> Any:
        """One ModifyFile stream: its operations are collected while the stream runs and
        applied, in order, to the commit's files *as they are when the stream ends*, like
        pachd, which writes each call to a fileset of its own and adds it to the commit
        (``withCommitUnorderedWriter`` -> ``AddFileSet``). Concurrent calls into one commit
        therefore all land (the parts of a multipart upload are written in parallel)."""
        self._count("ModifyFile")
        target: Commit | None = None
        operations: list[Callable[[dict[str, File]], None]] = []
        body = False
        try:
            for request in request_iterator:
                op = request.WhichOneof("body")
                if op == "set_commit":
                    with self.lock:
                        target = self._commit(request.set_commit)
                        if target.finished is not None:
                            raise Abort(
                                grpc.StatusCode.FAILED_PRECONDITION,
                                f"commit {target.id} in repo {target.repo} has already finished",
                            )
                    continue
                if target is None:
                    raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "no commit set")
                if op == "add_file":
                    if request.add_file.WhichOneof("source") != "raw":
                        raise Abort(grpc.StatusCode.UNIMPLEMENTED, "only raw sources")
                    data = request.add_file.raw.value
                    body = body or bool(data)
                    operations.append(
                        functools.partial(_add, path=clean(request.add_file.path), data=data)
                    )
                elif op == "delete_file":
                    operations.append(
                        functools.partial(_delete, path=clean(request.delete_file.path))
                    )
                elif op == "copy_file":
                    operations.append(self._copy_operation(request.copy_file))
        except grpc.RpcError:
            return empty_pb2.Empty()  # the client went away: nothing is applied
        if body and self._cancelled(context):
            return empty_pb2.Empty()
        if target is not None:
            with self.lock:
                if target.finished is not None:
                    raise Abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"commit {target.id} in repo {target.repo} has already finished",
                    )
                files = dict(target.files)
                for operation in operations:
                    operation(files)
                target.files = files
        return empty_pb2.Empty()

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

    def _copy_operation(self, copy: Any) -> Callable[[dict[str, File]], None]:
        """CopyFile: the source (a path and everything under it) is read when the request
        arrives; applying it writes (or appends) the copies under the destination."""
        with self.lock:
            source = self._commit(copy.src.commit)
            src = clean(copy.src.path)
            copied = {
                p: f.data for p, f in source.files.items() if p == src or p.startswith(src + "/")
            }
        dst = clean(copy.dst)
        renamed = {dst + path[len(src) :]: data for path, data in copied.items()}

        def apply(files: dict[str, File]) -> None:
            for path, data in renamed.items():
                existing = files.get(path)
                if copy.append and existing is not None:
                    files[path] = File(existing.data + data)
                else:
                    files[path] = File(data)

        return apply

    def InspectFile(self, request: Any, context: Any) -> Any:
        self._count("InspectFile")
        with self.lock:
            repo = self._commit_repo(request.file.commit)
            commit = self._commit(request.file.commit)
            path = clean(request.file.path)
            entries = self._entries(commit)
            for candidate in (path, path.rstrip("/") + "/"):
                if candidate in entries:
                    kind, file = entries[candidate]
                    return self._file_info(repo, commit, candidate, kind, file)
            raise not_found(f"file {path} not found in repo {repo.name} at commit {commit.id}")

    def WalkFile(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("WalkFile")
        with self.lock:
            repo = self._commit_repo(request.file.commit)
            commit = self._commit(request.file.commit)
            root = clean(request.file.path)
            root = "" if root == "/" else root
            entries = self._entries(commit)
            marker = request.paginationMarker.path if request.HasField("paginationMarker") else None
            selected = []
            for path in sorted(entries, key=lambda p: p.encode()):
                if not (path == root or path.startswith(root + "/")):
                    continue
                selected.append(path)
            if not selected and root:
                raise not_found(f"file {root} not found in repo {repo.name} at commit {commit.id}")
            infos = []
            for path in selected:
                if marker is not None and (
                    path.encode() < marker.encode() or clean(path) == clean(marker)
                ):
                    continue
                kind, file = entries[path]
                infos.append(self._file_info(repo, commit, path, kind, file))
                if request.number and len(infos) >= request.number:
                    break
        yield from infos

    def GetFile(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("GetFile")
        with self.lock:
            repo = self._commit_repo(request.file.commit)
            commit = self._commit(request.file.commit)
            pattern = clean(request.file.path)
            match = glob_matcher(pattern)
            found = [f for p, f in sorted(commit.files.items()) if match(p)]
            if not found:
                raise not_found(
                    f"file {pattern} not found in repo {repo.name} at commit {commit.id}"
                )
            data = b"".join(f.data for f in found)[request.offset :]
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


def glob_matcher(pattern: str) -> Any:
    """PFS's glob (gobwas/glob with '/' as separator), enough of it for tests."""
    if not any(ch in pattern for ch in "*?[{\\"):
        return lambda path: path == pattern
    regex = []
    index = 0
    while index < len(pattern):
        ch = pattern[index]
        if ch == "\\" and index + 1 < len(pattern):
            regex.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if ch == "*":
            if pattern[index : index + 2] == "**":
                regex.append(".*")
                index += 2
                continue
            regex.append("[^/]*")
        elif ch == "?":
            regex.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                regex.append(re.escape(ch))
            else:
                body = pattern[index + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                regex.append(f"[{body}]")
                index = end
        elif ch == "{":
            end = pattern.find("}", index + 1)
            if end < 0:
                regex.append(re.escape(ch))
            else:
                options = pattern[index + 1 : end].split(",")
                regex.append("(?:" + "|".join(fnmatch.translate(o)[4:-3] for o in options) + ")")
                index = end
        else:
            regex.append(re.escape(ch))
        index += 1
    compiled = re.compile("".join(regex) + r"\Z", re.DOTALL)
    return lambda path: compiled.match(path) is not None


def _add(files: dict[str, File], *, path: str, data: bytes) -> None:
    """AddFile: appends to the file the commit already has at ``path``."""
    existing = files.get(path)
    files[path] = File((existing.data if existing else b"") + data)


def _delete(files: dict[str, File], *, path: str) -> None:
    """DeleteFile: the path and everything under it."""
    under = path.rstrip("/") + "/"
    for name in [p for p in files if p == path or p.startswith(under)]:
        del files[name]


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

    def __init__(self) -> None:
        self.service = PFSDouble()
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32),
            interceptors=[_AbortInterceptor(self.service)],
        )
        pfs_pb2_grpc.add_APIServicer_to_server(self.service, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"grpc://127.0.0.1:{self.port}"

    def __enter__(self) -> PFSServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)
