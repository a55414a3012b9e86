"""A PFS v2 service double: the part of pachd's ``pfs_v2.API`` that PachydermBackend uses, on a
real ``grpc.server`` (127.0.0.1, a random port), keeping everything in its own dictionaries.

Modules: this one (repo, commit and branch RPCs; the server), ``pfs_double_core`` (state,
commit resolution, messages, faults), ``pfs_double_files`` (the file RPCs), ``pfs_model``
(files, diffs, path rules).

It models PFS 2.x where the backend depends on it, from pachd 2.6's source (file references in
``pfs_model.py`` and docs/pachyderm.md):

- every branch has a head: creating a branch without one makes an empty, finished commit of
  origin AUTO (``makeEmptyCommit``); starting a commit moves the branch head to the new, open
  commit at once; a commit's parent must be finished ("parent commit ... has not been
  finished");
- branch provenance: CreateBranch with provenance that changed to a non-empty one makes an
  open AUTO commit on the branch whose ``direct_provenance`` is the provenance's heads
  (``makeEmptyCommit``), creating missing provenance branches; removing it makes none;
  StartCommit on a branch with provenance is refused ("cannot start a commit on an output
  branch");
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
- no auth, no projects besides ``default``, no PPS; of the transaction API only
  ``BatchTransaction`` of CreateBranch requests (``TransactionDouble``); no propagation (pachd
  makes a new commit on a branch whose provenance's head moves) and no subvenance;
- no growth of read cost with the number of diffs beyond replaying them; no compaction;
- DropCommitSet drops the named commit only (pachd: the whole commit set across repos).

Fault injection for tests: ``faults.truncate_after`` (GetFile ends early, cleanly),
``faults.abort_after`` (GetFile fails mid-stream), ``faults.delay`` (every unary call sleeps),
``faults.finish_delay`` (seconds between finishing and finished), ``faults.deny_create_repo``,
``faults.rehash_finished``, ``faults.before`` (a callable run once before the next call of
an RPC). ``calls`` counts RPCs by method.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from datetime import timedelta
from typing import Any

import grpc

# protobuf 3.20 ships no type hints (types-protobuf is not a dependency)
from google.protobuf import empty_pb2  # type: ignore[import-untyped,unused-ignore]
from pfs_double_core import (
    AUTO,
    FINISHED,
    NAME,
    USER,
    Abort,
    Faults,
    not_found,
    now,
    stamp,
    unknown,
)
from pfs_double_files import FileRPCs
from pfs_model import Commit, File, Repo, finish_error
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc
from python_pachyderm.proto.v2.transaction import transaction_pb2, transaction_pb2_grpc

__all__ = ["Faults", "File", "PFSDouble", "PFSServer"]


class PFSDouble(FileRPCs, pfs_pb2_grpc.APIServicer):  # type: ignore[misc]
    """The double's repo, commit and branch RPCs; files in ``FileRPCs``, state in
    ``DoubleCore``."""

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
            if repo.provenance.get(branch):
                raise unknown(
                    "cannot start a commit on an output branch: "
                    f"{repo.project}/{repo.name}@{branch}"
                )
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
                subvenant = [
                    other.id
                    for r in self.repos.values()
                    for other in r.commits.values()
                    if other.id != target
                    and any(c == target for _, _, c in other.direct_provenance)
                ]
                if subvenant:  # commit_set.go dropCommitSet, ErrSquashWithSubvenance
                    raise unknown(
                        f'commit set "{target}" cannot be dropped because it has subvenant '
                        f"commit sets: {subvenant}"
                    )
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
        self.create_branch(request)
        return empty_pb2.Empty()

    def create_branch(self, request: Any) -> None:
        """CreateBranch's work, also run by ``TransactionDouble``."""
        with self.lock:
            repo = self._repo(request.branch.repo)
            name = request.branch.name
            if not NAME.match(name):
                raise unknown(f"branch name ({name}) invalid")
            provenance = self._provenance(repo, request)
            old = repo.provenance.get(name, [])
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
            if provenance:
                repo.provenance[name] = provenance
            else:
                repo.provenance.pop(name, None)
            # makeEmptyCommit, when the branch has no head or its provenance changed to a
            # non-empty one: open, of origin AUTO, provenant on the provenance's heads; closed
            # when there is no provenance (driver.go createBranch).
            if name not in repo.branches and not provenance:
                self._empty_head(repo, name)
            elif name not in repo.branches or (provenance and provenance != old):
                head = repo.commits.get(repo.branches.get(name, ""))
                made = self._new_commit(repo, name, head, AUTO)
                made.direct_provenance = [
                    (source, branch, self.repos[(repo.project, source)].branches[branch])
                    for source, branch in provenance
                ]

    def _provenance(self, repo: Repo, request: Any) -> list[tuple[str, str]]:
        """The request's provenance branches; missing ones are made with an empty head
        (fillNewBranches)."""
        provenance: list[tuple[str, str]] = []
        for branch in request.provenance:
            source = self._repo(branch.repo)
            if source is repo:
                raise unknown(
                    f"repo {repo.project}/{repo.name} cannot be in the provenance of its own branch"
                )
            if branch.name not in source.branches:
                self._empty_head(source, branch.name)
            if (source.name, branch.name) not in provenance:
                provenance.append((source.name, branch.name))
        return provenance

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
            pb_repo = request.branch.repo
            if (self._project(pb_repo), pb_repo.name) not in self.repos:
                # pachd looks the branch up by key only: a missing repo is a missing branch
                raise not_found(
                    f'branch "{request.branch.name}" not found in repo '
                    f"{self._project(pb_repo)}/{pb_repo.name}"
                )
            repo = self._repo(pb_repo)
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
            pb_repo = request.branch.repo
            if (self._project(pb_repo), pb_repo.name) not in self.repos:
                return empty_pb2.Empty()  # as pachd 2.6.0 answered (force=True): ok
            repo = self._repo(pb_repo)
            if request.branch.name not in repo.branches:
                raise self._branch_not_found(repo, request.branch.name)
            del repo.branches[request.branch.name]
        return empty_pb2.Empty()


class TransactionDouble(transaction_pb2_grpc.APIServicer):  # type: ignore[misc]
    """pachd's ``transaction_v2.API``, ``BatchTransaction`` only, for CreateBranch requests: run
    in order under the double's lock, all or nothing (pachd runs them in one SQL transaction,
    transaction/server/driver.go ``batchTransaction``). Other requests are refused."""

    def __init__(self, pfs: PFSDouble) -> None:
        self.pfs = pfs

    def BatchTransaction(self, request: Any, context: Any) -> Any:
        self.pfs._count("BatchTransaction")
        with self.pfs.lock:
            saved = copy.deepcopy(self.pfs.repos)
            try:
                for item in request.requests:
                    if not item.HasField("create_branch"):
                        raise unknown("the double runs only CreateBranch in a transaction")
                    self.pfs.create_branch(item.create_branch)
            except Abort:
                self.pfs.repos = saved
                raise
        return transaction_pb2.TransactionInfo(
            transaction=transaction_pb2.Transaction(id=uuid.uuid4().hex),
            requests=request.requests,
            responses=[transaction_pb2.TransactionResponse() for _ in request.requests],
        )


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
        transaction_pb2_grpc.add_APIServicer_to_server(TransactionDouble(self.service), self.server)
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
