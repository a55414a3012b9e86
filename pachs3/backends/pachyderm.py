"""PachydermBackend: the backend protocols over a real Pachyderm 2.x cluster (pachd over gRPC).

This is the only pachs3 module that imports ``grpc`` and ``python_pachyderm``. It speaks the PFS
v2 API through python-pachyderm's generated protocol (``pfs_pb2`` / ``pfs_pb2_grpc``) on a
channel of its own, not through ``python_pachyderm.Client``'s methods: those set no deadlines
(an unreachable cluster would hang a request) and their file reader swallows gRPC errors (a
broken read would look like a short object). Every gRPC error is translated once, in
``_translate``, into the backend error family.

How the backend contract maps onto PFS (details in ``docs/pachyderm.md`` and
``pachyderm_paths``):

- Commits: each commit is started on a hidden branch of its own (``pachs3_commit_<nonce>``)
  with its parent given explicitly, and the target branch is moved to it when it is finished
  without an error. So readers of a branch never see an open commit, concurrent commits "for"
  one branch are possible (the last finish wins) and a discarded commit never touched the
  branch. Detached commits (multipart staging) are simply never moved onto a branch. A commit
  pachs3 did not make is shown as PFS has it. Provenance is noted in the commit description
  (PFS 2.x derives provenance from branches; it cannot be set per commit).
- A branch's head, as this backend reports it, is its newest finished commit without an error;
  the empty commit PFS 2.x creates for a new branch counts as no head.
- Keys: ``/`` + the key, refused (``NotSupported``) when PFS would clean it into another path
  or when PFS could not hold it next to an existing file (a file and a directory of one name).
- ETags: MD5 (``md5-of-md5s-N`` for multipart) for objects written through the gateway, kept in
  a hidden record next to the object; PFS's own hash for files written by other means.
- Reads are checked against the file's size: a stream that ends early raises ``Truncated``.
- Inside a pipeline worker the job's output commit belongs to Pachyderm: ``adopt`` it and
  ``start_commit`` on its repo returns it instead of starting another, and finishing it is left
  to the worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

from .base import (
    DEFAULT_PROJECT,
    AlreadyExists,
    BackendError,
    BranchInfo,
    CommitInfo,
    CommitRef,
    Conflict,
    FileInfo,
    NotFound,
    NotFoundKind,
    NotSupported,
    PermissionDenied,
    RepoInfo,
    Truncated,
    Unavailable,
)
from .pachyderm_paths import (
    HIDDEN_BRANCH_PREFIX,
    META_ROOT,
    RESERVED_DIR,
    Connection,
    MetaRecord,
    connection_from_environment,
    decode_note,
    encode_note,
    is_commit_id,
    is_reserved_path,
    key_problem,
    meta_path,
    parse_pachd_address,
    pfs_path,
)

__all__ = ["PachydermBackend"]

log = logging.getLogger("pachs3.pachyderm")

MiB = 1 << 20
MAX_MESSAGE = 20 * MiB
"""pachd's gRPC message limit (its grpcutil.MaxMsgSize)."""
UPLOAD_CHUNK = 2 * MiB
"""Largest piece of a body sent in one ModifyFile message."""

_FILE = pfs_pb2.FileType.Value("FILE")
_DIR = pfs_pb2.FileType.Value("DIR")
_AUTO = pfs_pb2.OriginKind.Value("AUTO")
_FINISHED = pfs_pb2.CommitState.Value("FINISHED")
_USER_REPO = "user"
_RESERVED_END = f"/{RESERVED_DIR}/\U0010ffff"
_MAX_HEAD_WALK = 1000


# --------------------------------------------------------------------------------------------
# gRPC errors -> backend errors (the one place)

_UNAVAILABLE_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_KIND_WORDS: dict[str, NotFoundKind] = {
    "file": "file",
    "files": "file",
    "repo": "repo",
    "repos": "repo",
    "project": "repo",
    "projects": "repo",
    "branch": "branch",
    "branches": "branch",
    "commit": "commit",
    "commits": "commit",
}


def _not_found_kind(details: str, default: NotFoundKind) -> NotFoundKind:
    """The kind of thing a PFS 'not found' message is about: its first kind word."""
    if "has no head" in details:
        return "commit"
    for word in details.replace("/", " ").split():
        kind = _KIND_WORDS.get(word.strip("\"'():,").lower())
        if kind is not None:
            return kind
    return default


def _translate(exc: grpc.RpcError, what: NotFoundKind, name: str) -> BackendError:
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if callable(getattr(exc, "details", None)) else None) or str(exc)
    lowered = details.lower()
    if code in _UNAVAILABLE_CODES:
        return Unavailable(f"pachd is unavailable ({code.name}): {details}")
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return PermissionDenied(f"pachd refused the request: {details}")
    if (
        code == grpc.StatusCode.NOT_FOUND
        or "not found" in lowered
        or "has no head" in lowered
        or "was deleted" in lowered
    ):
        return NotFound(_not_found_kind(lowered, what), name or details)
    if code == grpc.StatusCode.ALREADY_EXISTS or "already exists" in lowered:
        return AlreadyExists(details)
    if (
        code == grpc.StatusCode.FAILED_PRECONDITION
        or "already finished" in lowered
        or "not finished" in lowered
        or "has not been finished" in lowered
    ):
        return Conflict(details)
    if (
        code
        in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.StatusCode.OUT_OF_RANGE,
        )
        or "invalid" in lowered
    ):
        return NotSupported(details)
    return BackendError(f"pachd error ({code.name}): {details}")


# --------------------------------------------------------------------------------------------
# Small helpers


def _time(stamp: Any) -> datetime:
    return stamp.ToDatetime().replace(tzinfo=UTC)  # type: ignore[no-any-return]


def _now() -> datetime:
    return datetime.now(UTC)


def _hex(digest: bytes) -> str:
    return digest.hex()


def _split(chunk: bytes, size: int) -> Iterator[bytes]:
    view = memoryview(chunk)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


class PachydermBackend:
    """The whole ``Backend`` protocol against pachd.

    ``address`` is ``[grpc|grpcs]://host[:port]`` (port 30650 by default). ``timeout`` bounds
    every single request/response call, ``stream_timeout`` every listing stream (walks, lists);
    ``connect_timeout`` bounds one connection attempt, and while there is no connection calls
    fail at once: an unreachable cluster gives ``Unavailable``, never a hang. Object bodies
    (reads and uploads) have no overall deadline (they may be large); gRPC keepalive pings
    detect a peer that went away under them (``keepalive`` seconds; pachd permits pings every
    5 s).

    ``project`` is the PFS project whose repos this backend serves (pachs3's ``"default"``
    project means this one). ``adopt`` names an open commit that belongs to someone else (a
    pipeline job's output commit): see the module docstring. ``object_records=False`` keeps no
    hidden records: every file then shows PFS's hash as its ETag and no metadata.
    """

    def __init__(
        self,
        address: str = "localhost:30650",
        *,
        auth_token: str | None = None,
        root_certs: bytes | None = None,
        tls: bool | None = None,
        project: str = DEFAULT_PROJECT,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        finish_timeout: float = 600.0,
        stream_timeout: float | None = 600.0,
        keepalive: float | None = 30.0,
        adopt: CommitRef | None = None,
        object_records: bool = True,
        read_chunk_size: int = MiB,
        prefetch: int = 8,
    ) -> None:
        target, scheme_tls = parse_pachd_address(address)
        use_tls = scheme_tls if tls is None else tls
        if root_certs is not None:
            use_tls = True
        self.address = target
        self.project = project
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._finish_timeout = finish_timeout
        self._adopt = adopt
        self._adopt_cleared = False
        self._records = object_records
        self._chunk = read_chunk_size
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.primary_user_agent", "pachs3"),
            # A connection attempt (TCP + HTTP/2 handshake) gives up after connect_timeout;
            # meanwhile and between attempts calls fail at once with UNAVAILABLE.
            ("grpc.min_reconnect_backoff_ms", int(connect_timeout * 1000)),
            ("grpc.initial_reconnect_backoff_ms", int(min(connect_timeout, 1.0) * 1000)),
            ("grpc.max_reconnect_backoff_ms", int(max(connect_timeout, 1.0) * 1000)),
        ]
        if keepalive:
            options += [
                ("grpc.keepalive_time_ms", int(keepalive * 1000)),
                ("grpc.keepalive_timeout_ms", int(min(keepalive, 20.0) * 1000)),
                ("grpc.keepalive_permit_without_calls", 0),
                ("grpc.http2.max_pings_without_data", 0),
            ]
        if use_tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certs)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authn-token", auth_token),) if auth_token else ()
        )
        self._stub = pfs_pb2_grpc.APIStub(self._channel)
        self._stream_timeout = stream_timeout
        self._pool = ThreadPoolExecutor(max_workers=max(1, prefetch), thread_name_prefix="pachs3")
        self._prefetch = max(1, prefetch)
        self._closed = False

    # ----------------------------------------------------------------------------------------
    # Construction from what users already have

    @classmethod
    def from_connection(cls, connection: Connection, **options: Any) -> PachydermBackend:
        scheme = "grpcs" if connection.tls else "grpc"
        return cls(
            f"{scheme}://{connection.target}",
            auth_token=options.pop("auth_token", connection.auth_token),
            root_certs=options.pop("root_certs", connection.root_certs),
            **options,
        )

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, **options: Any
    ) -> PachydermBackend:
        """Connect the way Pachyderm users already do (see ``connection_from_environment``).

        Inside a pipeline worker (``PACH_JOB_ID`` and ``PPS_PIPELINE_NAME`` set) the job's
        output commit (``PACH_OUTPUT_COMMIT_ID``, else the job id: in PFS 2.x the output commit
        has the job's id) in the pipeline's repo is adopted, and ``PPS_PROJECT_NAME`` is the
        project. ``options`` override any of these.
        """
        env = os.environ if environ is None else environ
        connection = connection_from_environment(env)
        if "project" not in options and env.get("PPS_PROJECT_NAME"):
            options["project"] = env["PPS_PROJECT_NAME"]
        pipeline = env.get("PPS_PIPELINE_NAME", "").strip()
        output = (env.get("PACH_OUTPUT_COMMIT_ID") or env.get("PACH_JOB_ID") or "").strip()
        if "adopt" not in options and pipeline and output:
            options["adopt"] = CommitRef(repo=pipeline, id=output)
        return cls.from_connection(connection, **options)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._channel.close()

    def __enter__(self) -> PachydermBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PachydermBackend({self.address!r}, project={self.project!r})"

    # ----------------------------------------------------------------------------------------
    # Calls

    def _ready(self) -> None:
        if self._closed:
            raise Unavailable("the Pachyderm backend is closed")

    def _call(
        self,
        method: str,
        request: Any,
        *,
        what: NotFoundKind = "commit",
        name: str = "",
        timeout: float | None = None,
    ) -> Any:
        self._ready()
        try:
            return getattr(self._stub, method)(
                request, timeout=timeout or self._timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise _translate(exc, what, name) from exc

    def _stream(
        self, method: str, request: Any, *, what: NotFoundKind = "commit", name: str = ""
    ) -> Generator[Any, None, None]:
        """A server stream, lazily; closing the generator cancels the call."""
        self._ready()
        call = getattr(self._stub, method)(
            request, timeout=self._stream_timeout, metadata=self._metadata
        )
        try:
            yield from call
        except grpc.RpcError as exc:
            raise _translate(exc, what, name) from exc
        finally:
            call.cancel()

    def _modify(self, requests: Iterator[Any], *, what: NotFoundKind = "commit") -> None:
        """One ModifyFile call: atomic in PFS, it applies whole or not at all.

        If producing the requests raises (the client's body broke, a condition failed), the
        call is cancelled, so nothing of it is applied, and that exception propagates.
        """
        self._ready()
        failures: list[BaseException] = []
        started = threading.Event()
        holder: list[Any] = []

        def guarded() -> Iterator[Any]:
            try:
                yield from requests
            except Exception as exc:
                failures.append(exc)
                started.wait()
                holder[0].cancel()  # the stream never half-closes: pachd applies nothing

        future = self._stub.ModifyFile.future(guarded(), metadata=self._metadata)
        holder.append(future)
        started.set()
        try:
            future.result()
        except grpc.FutureCancelledError:
            pass
        except grpc.RpcError as exc:
            if failures:
                raise failures[0] from None
            raise _translate(exc, what, "") from exc
        if failures:
            raise failures[0]

    # ----------------------------------------------------------------------------------------
    # Names

    def _project(self, project: str = DEFAULT_PROJECT) -> str:
        return self.project if project == DEFAULT_PROJECT else project

    def _shown_project(self, project: str) -> str:
        return DEFAULT_PROJECT if project in ("", self.project) else project

    def _repo(self, repo: str, project: str = DEFAULT_PROJECT) -> Any:
        return pfs_pb2.Repo(
            name=repo, type=_USER_REPO, project=pfs_pb2.Project(name=self._project(project))
        )

    def _branch(self, repo: str, branch: str, project: str = DEFAULT_PROJECT) -> Any:
        return pfs_pb2.Branch(repo=self._repo(repo, project), name=branch)

    def _commit(self, repo: str, commit_id: str, project: str = DEFAULT_PROJECT) -> Any:
        pb_repo = self._repo(repo, project)
        return pfs_pb2.Commit(repo=pb_repo, id=commit_id, branch=pfs_pb2.Branch(repo=pb_repo))

    def _file(self, repo: str, commit_id: str, path: str, project: str = DEFAULT_PROJECT) -> Any:
        return pfs_pb2.File(commit=self._commit(repo, commit_id, project), path=path)

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
        self._call("CreateBranch", request, what="repo", name=repo)
        return BranchInfo(repo=repo, name=branch, head=head_id)

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
        info = self._call(
            "InspectBranch",
            pfs_pb2.InspectBranchRequest(branch=self._branch(repo, branch, project)),
            what="branch",
            name=f"{repo}@{branch}",
        )
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

    def _raw_commit(
        self, repo: str, commit_id: str, project: str = DEFAULT_PROJECT, *, wait: bool = False
    ) -> Any:
        request = pfs_pb2.InspectCommitRequest(commit=self._commit(repo, commit_id, project))
        if wait:
            request.wait = _FINISHED
        return self._call(
            "InspectCommit",
            request,
            what="commit",
            name=f"{repo}@{commit_id}",
            timeout=self._finish_timeout if wait else None,
        )

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

    def _commit_info(self, raw: Any) -> CommitInfo:
        note = decode_note(raw.description)
        repo = raw.commit.repo.name or raw.commit.branch.repo.name
        project = raw.commit.repo.project.name or raw.commit.branch.repo.project.name
        pfs_branch = raw.commit.branch.name
        if note.noted:
            branch = note.branch
        else:
            branch = None if pfs_branch.startswith(HIDDEN_BRANCH_PREFIX) else pfs_branch or None
        provenance: list[CommitRef] = [
            CommitRef(repo=r, id=c, project=self._shown_project(p)) for p, r, c in note.provenance
        ]
        for source in raw.direct_provenance:
            source_repo = source.repo if source.HasField("repo") else source.branch.repo
            if source_repo.type not in ("", _USER_REPO):
                continue  # spec and meta repos are Pachyderm's bookkeeping
            ref = CommitRef(
                repo=source_repo.name,
                id=source.id,
                project=self._shown_project(source_repo.project.name),
            )
            if ref not in provenance:
                provenance.append(ref)
        return CommitInfo(
            repo=repo,
            id=raw.commit.id,
            branch=branch,
            parent=raw.parent_commit.id if raw.HasField("parent_commit") else None,
            started=_time(raw.started),
            finished=_time(raw.finished) if raw.HasField("finished") else None,
            provenance=tuple(provenance),
            description=note.description,
            error=raw.error or None,
            project=self._shown_project(project),
        )

    def _adopted(self, repo: str, commit_id: str | None = None) -> bool:
        adopt = self._adopt
        if adopt is None or adopt.repo != repo:
            return False
        return commit_id is None or commit_id == adopt.id

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
        if self._adopted(repo) and branch is not None and self._adopt is not None:
            return self._start_adopted(self._adopt, empty=empty)
        self.inspect_repo(repo)
        sources: list[tuple[str, str, str]] = []
        for ref in provenance:
            exact = (self._project(ref.project), ref.repo, self._resolve(ref))
            self._raw_commit(ref.repo, exact[2], ref.project)  # it must exist
            if exact not in sources:
                sources.append(exact)
        if parent is not None:
            parent_id: str | None = self._resolve(CommitRef(repo=repo, id=parent))
            parent_raw = self._raw_commit(repo, parent_id or "")
            if not parent_raw.HasField("finished"):
                raise Conflict(f"parent commit {repo}@{parent_id} is not finished")
        elif branch is not None:
            try:
                parent_id = self._branch_head(repo, branch)
            except NotFound as exc:
                if exc.what != "branch":
                    raise
                self._call(
                    "CreateBranch",
                    pfs_pb2.CreateBranchRequest(branch=self._branch(repo, branch)),
                    what="repo",
                    name=repo,
                )
                parent_id = None
        else:
            parent_id = None
        hidden = f"{HIDDEN_BRANCH_PREFIX}{uuid.uuid4().hex}"
        request = pfs_pb2.StartCommitRequest(
            branch=self._branch(repo, hidden),
            description=encode_note(description, branch, sources),
        )
        if parent_id is not None:
            request.parent.CopyFrom(self._commit(repo, parent_id))
        started = self._call("StartCommit", request, what="repo", name=repo)
        if empty and parent_id is not None:
            self._call("ClearCommit", pfs_pb2.ClearCommitRequest(commit=started), what="commit")
        return self._commit_info(self._raw_commit(repo, started.id))

    def _start_adopted(self, adopt: CommitRef, *, empty: bool) -> CommitInfo:
        raw = self._raw_commit(adopt.repo, adopt.id, adopt.project)
        if raw.HasField("finished") or raw.HasField("finishing"):
            raise Conflict(f"the adopted commit {adopt} is already finished")
        if empty and not self._adopt_cleared:
            self._call("ClearCommit", pfs_pb2.ClearCommitRequest(commit=raw.commit))
            self._adopt_cleared = True
        return self._commit_info(raw)

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        commit_id = self._resolve(CommitRef(repo=repo, id=commit))
        raw = self._raw_commit(repo, commit_id)
        if self._adopted(repo, commit_id):
            # The job's output commit is the worker's to finish (with the job's error if any).
            if error:
                log.warning("job failed, leaving %s@%s to the worker: %s", repo, commit_id, error)
            return self._commit_info(raw)
        if raw.HasField("finished") or raw.HasField("finishing"):
            raise Conflict(f"commit {repo}@{commit_id} is already finished")
        self._call(
            "FinishCommit",
            pfs_pb2.FinishCommitRequest(commit=raw.commit, error=error or ""),
            what="commit",
            name=f"{repo}@{commit_id}",
        )
        done = self._raw_commit(repo, commit_id, wait=True)
        info = self._commit_info(done)
        if info.branch is not None and not done.error:
            self._call(
                "CreateBranch",
                pfs_pb2.CreateBranchRequest(
                    branch=self._branch(repo, info.branch), head=self._commit(repo, commit_id)
                ),
                what="branch",
            )
        self._drop_hidden_branch(raw)
        return info

    def _drop_hidden_branch(self, raw: Any) -> None:
        name = raw.commit.branch.name
        if not name.startswith(HIDDEN_BRANCH_PREFIX):
            return
        try:
            self._call(
                "DeleteBranch",
                pfs_pb2.DeleteBranchRequest(branch=raw.commit.branch, force=True),
                what="branch",
            )
        except NotFound:
            pass
        except BackendError as exc:  # cosmetic: a leftover hidden branch hides itself
            log.warning("could not delete hidden branch %s: %s", name, exc)

    def discard_commit(self, repo: str, commit: str) -> None:
        commit_id = self._resolve(CommitRef(repo=repo, id=commit))
        raw = self._raw_commit(repo, commit_id)
        if raw.HasField("finished") or raw.HasField("finishing"):
            raise Conflict(f"commit {repo}@{commit_id} is finished and cannot be discarded")
        if self._adopted(repo, commit_id):
            self._call("ClearCommit", pfs_pb2.ClearCommitRequest(commit=raw.commit))
            return
        # The hidden branch goes first, so that PFS does not replace the dropped head with an
        # empty commit of its own.
        self._drop_hidden_branch(raw)
        self._call(
            "DropCommitSet",
            pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=commit_id)),
            what="commit",
            name=f"{repo}@{commit_id}",
        )

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        commit_id = self._resolve(CommitRef(repo=repo, id=commit))
        return self._commit_info(self._raw_commit(repo, commit_id))

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        if branch is not None:
            self._branch_head(repo, branch)  # NotFound('branch') when missing
        request = pfs_pb2.ListCommitRequest(repo=self._repo(repo), all=True)
        infos = []
        for raw in self._stream("ListCommit", request, what="repo", name=repo):
            if _placeholder(raw):
                continue
            info = self._commit_info(raw)
            if branch is None or info.branch == branch:
                infos.append(info)
        infos.sort(key=lambda i: i.started, reverse=True)
        return infos

    # ----------------------------------------------------------------------------------------
    # Files: reading

    def _raw_file(self, repo: str, commit_id: str, path: str, project: str) -> Any | None:
        """PFS's FileInfo for ``path`` (a file or a directory), None when there is none."""
        try:
            return self._call(
                "InspectFile",
                pfs_pb2.InspectFileRequest(file=self._file(repo, commit_id, path, project)),
                what="file",
                name=f"{repo}@{commit_id}:{path}",
            )
        except NotFound as exc:
            if exc.what == "file":
                return None
            raise

    def _read_small(self, repo: str, commit_id: str, path: str, project: str) -> bytes | None:
        request = pfs_pb2.GetFileRequest(
            file=self._file(repo, commit_id, _glob_escape(path), project)
        )
        try:
            call = self._call("GetFile", request, what="file")
            return b"".join(message.value for message in call)
        except grpc.RpcError as exc:
            error = _translate(exc, "file", path)
            if isinstance(error, NotFound) and error.what == "file":
                return None
            raise error from exc
        except NotFound as exc:
            if exc.what == "file":
                return None
            raise

    def _record(self, repo: str, commit_id: str, key: str, project: str) -> MetaRecord | None:
        if not self._records:
            return None
        data = self._read_small(repo, commit_id, meta_path(key), project)
        return None if data is None else MetaRecord.decode(data)

    def _file_info(
        self,
        raw: Any,
        key: str,
        record: MetaRecord | None,
        started: Callable[[], datetime],
    ) -> FileInfo:
        size = int(raw.size_bytes)
        pfs_hash = _hex(raw.hash)
        if record is not None and record.size == size and record.pfs_hash == pfs_hash:
            return FileInfo(
                path=key,
                size=size,
                etag=record.etag,
                md5=record.md5,
                modified=record.modified,
                commit=record.commit,
                metadata=record.metadata,
            )
        modified = _time(raw.committed) if raw.HasField("committed") else started()
        return FileInfo(
            path=key,
            size=size,
            etag=pfs_hash or hashlib.md5(b"", usedforsecurity=False).hexdigest(),
            md5=None,
            modified=modified,
            commit=raw.file.commit.id,
        )

    def _started(self, repo: str, commit_id: str, project: str) -> Callable[[], datetime]:
        cache: list[datetime] = []

        def started() -> datetime:
            if not cache:
                cache.append(_time(self._raw_commit(repo, commit_id, project).started))
            return cache[0]

        return started

    def inspect_file(self, ref: CommitRef, path: str) -> FileInfo:
        commit_id = self._resolve(ref)
        if key_problem(path) is not None:
            self._raw_commit(ref.repo, commit_id, ref.project)  # a missing commit says so
            raise NotFound("file", f"{ref}:{path}")
        raw = self._raw_file(ref.repo, commit_id, pfs_path(path), ref.project)
        if raw is None or raw.file_type != _FILE:
            raise NotFound("file", f"{ref}:{path}")
        record = self._record(ref.repo, commit_id, path, ref.project)
        return self._file_info(raw, path, record, self._started(ref.repo, commit_id, ref.project))

    def read_file(
        self,
        ref: CommitRef,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        etag: str | None = None,
    ) -> Generator[bytes, None, None]:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        if etag is not None and self.inspect_file(ref, path).etag != etag:
            # PFS has no conditional read: this narrows the window, it cannot close it (a
            # write between this check and GetFile is still possible in an open commit).
            raise Conflict(f"{path} changed: it is no longer the version {etag}")
        commit_id = self._resolve(ref)
        if key_problem(path) is not None:
            self._raw_commit(ref.repo, commit_id, ref.project)
            raise NotFound("file", f"{ref}:{path}")
        raw = self._raw_file(ref.repo, commit_id, pfs_path(path), ref.project)
        if raw is None or raw.file_type != _FILE:
            raise NotFound("file", f"{ref}:{path}")
        size = int(raw.size_bytes)
        start = min(offset, size)
        count = size - start if length is None else min(length, size - start)
        request = pfs_pb2.GetFileRequest(
            file=self._file(ref.repo, commit_id, _glob_escape(pfs_path(path)), ref.project),
            offset=start,
        )
        return self._read_stream(request, count, f"{ref}:{path}")

    def _read_stream(self, request: Any, count: int, name: str) -> Generator[bytes, None, None]:
        """Exactly ``count`` bytes, or Truncated: never a silently short object."""
        if count == 0:
            return
        self._ready()
        call = self._stub.GetFile(request, metadata=self._metadata)
        received = 0
        try:
            for message in call:
                data = message.value
                if len(data) > count - received:
                    data = data[: count - received]
                for piece in _split(data, self._chunk):
                    received += len(piece)
                    yield piece
                if received >= count:
                    return
        except grpc.RpcError as exc:
            if received == 0:
                raise _translate(exc, "file", name) from exc
            raise Truncated(
                f"reading {name} failed after {received} of {count} bytes: "
                f"{_translate(exc, 'file', name)}"
            ) from exc
        finally:
            call.cancel()
        raise Truncated(f"pachd sent {received} of the {count} bytes of {name}")

    def walk_files(
        self, ref: CommitRef, *, prefix: str = "", start_after: str = ""
    ) -> Iterator[FileInfo]:
        return self._walk(ref, prefix, start_after)

    def _walk(
        self, ref: CommitRef, prefix: str, start_after: str
    ) -> Generator[FileInfo, None, None]:
        commit_id = self._resolve(ref)
        started = self._started(ref.repo, commit_id, ref.project)
        records = self._record_names(ref, commit_id, prefix, start_after)
        pending: list[tuple[Any, str, Future[MetaRecord | None] | None]] = []
        try:
            for raw, key in self._walk_raw(ref, commit_id, prefix, start_after):
                future = None
                if records.has(key):
                    future = self._pool.submit(self._record, ref.repo, commit_id, key, ref.project)
                pending.append((raw, key, future))
                if len(pending) >= self._prefetch:
                    yield self._finish_entry(pending.pop(0), started)
            while pending:
                yield self._finish_entry(pending.pop(0), started)
        finally:
            records.close()
            for _, _, future in pending:
                if future is not None:
                    future.cancel()

    def _finish_entry(
        self,
        entry: tuple[Any, str, Future[MetaRecord | None] | None],
        started: Callable[[], datetime],
    ) -> FileInfo:
        raw, key, future = entry
        record = None if future is None else future.result()
        return self._file_info(raw, key, record, started)

    def _walk_raw(
        self, ref: CommitRef, commit_id: str, prefix: str, start_after: str
    ) -> Generator[tuple[Any, str], None, None]:
        """PFS files (not directories) whose keys start with ``prefix``, after ``start_after``,
        in path order, skipping the reserved directory with a fresh seek."""
        root = pfs_path(prefix.rpartition("/")[0]) if "/" in prefix else "/"
        after = start_after if start_after >= prefix else ""
        if prefix and not after:
            # The walk's marker excludes the marker itself: a file named exactly ``prefix``
            # comes first, on its own.
            if key_problem(prefix) is None:
                raw = self._raw_file(ref.repo, commit_id, pfs_path(prefix), ref.project)
                if raw is not None and raw.file_type == _FILE:
                    yield raw, prefix
            after = prefix
        marker: str | None = pfs_path(after) if after else None
        while True:
            resume = None
            for raw, key in self._walk_once(
                ref, commit_id, root=root, marker=marker, prefix=prefix, after=after
            ):
                if key is None:
                    resume = _RESERVED_END
                    break
                yield raw, key
            if resume is None:
                return
            marker = resume

    def _walk_once(
        self,
        ref: CommitRef,
        commit_id: str,
        *,
        root: str,
        marker: str | None,
        prefix: str,
        after: str,
    ) -> Generator[tuple[Any, str | None], None, None]:
        request = pfs_pb2.WalkFileRequest(file=self._file(ref.repo, commit_id, root, ref.project))
        if marker is not None:
            request.paginationMarker.CopyFrom(self._file(ref.repo, commit_id, marker, ref.project))
        stream = self._stream("WalkFile", request, what="file", name=f"{ref}:{root}")
        try:
            for raw in stream:
                if raw.file_type != _FILE:
                    continue
                path = raw.file.path
                if is_reserved_path(path):
                    if marker is None or marker < _RESERVED_END:
                        yield raw, None  # seek past pachs3's records
                        return
                    continue
                key = path[1:]
                if key <= after:
                    continue  # a pachd that ignores pagination markers walks from the start
                if not key.startswith(prefix):
                    if key > prefix:
                        return
                    continue
                yield raw, key
        except NotFound as exc:
            if exc.what != "file":
                raise
        finally:
            stream.close()

    def _record_names(
        self, ref: CommitRef, commit_id: str, prefix: str, start_after: str
    ) -> _RecordNames:
        """The keys under ``prefix`` that have records, walked alongside the files."""
        if not self._records:
            return _RecordNames(iter(()))
        root_key = prefix.rpartition("/")[0] if "/" in prefix else ""
        root = f"{META_ROOT}/{root_key}" if root_key else META_ROOT
        request = pfs_pb2.WalkFileRequest(file=self._file(ref.repo, commit_id, root, ref.project))
        after = start_after if start_after >= prefix else ""
        if after:
            request.paginationMarker.CopyFrom(
                self._file(ref.repo, commit_id, meta_path(after), ref.project)
            )
        base = len(META_ROOT) + 1

        def names() -> Generator[str, None, None]:
            stream = self._stream("WalkFile", request, what="file")
            try:
                for raw in stream:
                    if raw.file_type == _FILE:
                        yield raw.file.path[base:]
            except NotFound as exc:
                if exc.what != "file":
                    raise
            finally:
                stream.close()

        return _RecordNames(names())

    # ----------------------------------------------------------------------------------------
    # Files: writing

    def _writable(self, ref: CommitRef) -> str:
        commit_id = self._resolve(ref)
        raw = self._raw_commit(ref.repo, commit_id, ref.project)
        if raw.HasField("finished") or raw.HasField("finishing"):
            raise Conflict(f"commit {ref.repo}@{commit_id} is finished; it cannot be written")
        return commit_id

    def _placement(self, ref: CommitRef, commit_id: str, key: str) -> Any | None:
        """Refuse a key PFS cannot hold here (a file and a directory of one name would fail
        the commit when it is finished); returns PFS's FileInfo of the key's current file."""
        problem = key_problem(key)
        if problem is not None:
            raise NotSupported(problem)
        current = self._raw_file(ref.repo, commit_id, pfs_path(key), ref.project)
        if current is not None and current.file_type == _DIR:
            raise NotSupported(
                f"{key!r} is a directory in PFS (other keys start with {key + '/'!r}); "
                "PFS cannot hold a file of the same name"
            )
        parts = key.split("/")
        for depth in range(len(parts) - 1, 0, -1):
            ancestor = "/".join(parts[:depth])
            found = self._raw_file(ref.repo, commit_id, pfs_path(ancestor), ref.project)
            if found is None:
                continue
            if found.file_type == _FILE:
                raise NotSupported(
                    f"{ancestor!r} is a file in PFS; it cannot also be the directory of {key!r}"
                )
            break
        return current

    def _set_commit(self, ref: CommitRef, commit_id: str) -> Any:
        return pfs_pb2.ModifyFileRequest(set_commit=self._commit(ref.repo, commit_id, ref.project))

    @staticmethod
    def _delete(path: str) -> Any:
        return pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))

    @staticmethod
    def _add(path: str, data: bytes) -> Any:
        return pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=path, raw={"value": data}))

    def _copy(self, src: CommitRef, src_id: str, src_path: str, dst_path: str, append: bool) -> Any:
        return pfs_pb2.ModifyFileRequest(
            copy_file=pfs_pb2.CopyFile(
                dst=dst_path,
                src=self._file(src.repo, src_id, src_path, src.project),
                append=append,
            )
        )

    def _save_record(
        self, ref: CommitRef, commit_id: str, key: str, record_of: Callable[[str], MetaRecord]
    ) -> FileInfo:
        """Record the S3 view of the file just written at ``key`` (see pachyderm_paths)."""
        raw = self._raw_file(ref.repo, commit_id, pfs_path(key), ref.project)
        if raw is None or raw.file_type != _FILE:
            raise BackendError(f"pachd lost the file it just wrote: {ref}:{key}")
        record = record_of(_hex(raw.hash))
        if record.size != int(raw.size_bytes):
            raise Truncated(
                f"pachd holds {raw.size_bytes} bytes at {ref}:{key}, {record.size} were written"
            )
        if self._records:
            self._modify(
                iter(
                    (
                        self._set_commit(ref, commit_id),
                        self._delete(meta_path(key)),
                        self._add(meta_path(key), record.encode()),
                    )
                )
            )
        return self._file_info(raw, key, record, lambda: record.modified)

    def put_file(
        self,
        ref: CommitRef,
        path: str,
        chunks: Iterable[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        if_absent: bool = False,
    ) -> FileInfo:
        problem = key_problem(path)
        if problem is not None:
            raise NotSupported(problem)
        commit_id = self._writable(ref)
        current = self._placement(ref, commit_id, path)
        if if_absent and current is not None:
            raise AlreadyExists(f"file already exists: {path}")
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        target = pfs_path(path)

        def requests() -> Iterator[Any]:
            nonlocal size
            yield self._set_commit(ref, commit_id)
            yield self._delete(target)
            yield self._delete(meta_path(path))
            yield self._add(target, b"")  # an empty body still makes a file
            for chunk in chunks:
                if not chunk:
                    continue
                data = bytes(chunk)
                md5.update(data)
                size += len(data)
                yield from (self._add(target, piece) for piece in _split(data, UPLOAD_CHUNK))
            if if_absent:
                found = self._raw_file(ref.repo, commit_id, target, ref.project)
                if found is not None:
                    raise AlreadyExists(f"file already exists: {path}")

        self._modify(requests())
        digest = md5.hexdigest()
        meta = dict(metadata or {})
        return self._save_record(
            ref,
            commit_id,
            path,
            lambda pfs_hash: MetaRecord(
                etag=digest,
                md5=digest,
                size=size,
                pfs_hash=pfs_hash,
                modified=_now(),
                commit=commit_id,
                metadata=meta,
            ),
        )

    def delete_file(self, ref: CommitRef, path: str) -> bool:
        commit_id = self._writable(ref)
        if key_problem(path) is not None:
            return False
        raw = self._raw_file(ref.repo, commit_id, pfs_path(path), ref.project)
        if raw is None or raw.file_type != _FILE:
            return False  # a PFS delete of a directory would delete the whole tree
        self._modify(
            iter(
                (
                    self._set_commit(ref, commit_id),
                    self._delete(pfs_path(path)),
                    self._delete(meta_path(path)),
                )
            )
        )
        return True

    def copy_file(
        self,
        src: CommitRef,
        src_path: str,
        dst: CommitRef,
        dst_path: str,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> FileInfo:
        problem = key_problem(dst_path)
        if problem is not None:
            raise NotSupported(problem)
        source = self.inspect_file(src, src_path)
        src_id = self._resolve(src)
        commit_id = self._writable(dst)
        self._placement(dst, commit_id, dst_path)
        target = pfs_path(dst_path)
        self._modify(
            iter(
                (
                    self._set_commit(dst, commit_id),
                    self._delete(target),
                    self._delete(meta_path(dst_path)),
                    self._copy(src, src_id, pfs_path(src_path), target, append=False),
                )
            )
        )
        meta = dict(source.metadata if metadata is None else metadata)
        return self._save_record(
            dst,
            commit_id,
            dst_path,
            lambda pfs_hash: MetaRecord(
                etag=source.etag,
                md5=source.md5,
                size=source.size,
                pfs_hash=pfs_hash,
                modified=_now(),
                commit=commit_id,
                metadata=meta,
            ),
        )

    def compose_file(
        self,
        dst: CommitRef,
        dst_path: str,
        sources: Sequence[tuple[CommitRef, str]],
        *,
        etag: str,
        metadata: Mapping[str, str] | None = None,
    ) -> FileInfo:
        problem = key_problem(dst_path)
        if problem is not None:
            raise NotSupported(problem)
        commit_id = self._writable(dst)
        parts: list[tuple[CommitRef, str, str, int]] = []
        for ref, path in sources:
            info = self.inspect_file(ref, path)  # PFS would copy a missing file as nothing
            parts.append((ref, self._resolve(ref), path, info.size))
        self._placement(dst, commit_id, dst_path)
        target = pfs_path(dst_path)

        def requests() -> Iterator[Any]:
            yield self._set_commit(dst, commit_id)
            yield self._delete(target)
            yield self._delete(meta_path(dst_path))
            yield self._add(target, b"")
            for ref, ref_id, path, _ in parts:
                yield self._copy(ref, ref_id, pfs_path(path), target, append=True)

        self._modify(requests())
        meta = dict(metadata or {})
        total = sum(size for *_, size in parts)
        return self._save_record(
            dst,
            commit_id,
            dst_path,
            lambda pfs_hash: MetaRecord(
                etag=etag,
                md5=None,
                size=total,
                pfs_hash=pfs_hash,
                modified=_now(),
                commit=commit_id,
                metadata=meta,
            ),
        )


# --------------------------------------------------------------------------------------------


class _RecordNames:
    """A sorted stream of keys that have records, queried in ascending key order."""

    def __init__(self, names: Iterator[str]) -> None:
        self._names = names
        self._current: str | None = None
        self._done = False

    def has(self, key: str) -> bool:
        while not self._done and (self._current is None or self._current < key):
            try:
                self._current = next(self._names)
            except StopIteration:
                self._done = True
                self._current = None
        return self._current == key

    def close(self) -> None:
        close = getattr(self._names, "close", None)
        if close is not None:
            close()


def _placeholder(raw: Any) -> bool:
    """The empty commit PFS 2.x makes for a new branch (or when a branch's head is dropped):
    made by PFS itself, with no parent and no provenance. It stands for "no head yet"."""
    return (
        raw.origin.kind == _AUTO
        and not raw.HasField("parent_commit")
        and len(raw.direct_provenance) == 0
    )


_GLOB_SPECIAL = frozenset("*?[]{}\\!")


def _glob_escape(path: str) -> str:
    """GetFile treats its path as a glob pattern: escape a key's pattern characters."""
    if not any(ch in _GLOB_SPECIAL for ch in path):
        return path
    return "".join("\\" + ch if ch in _GLOB_SPECIAL else ch for ch in path)
