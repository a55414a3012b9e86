"""RPC plumbing of the Pachyderm backend: the gRPC channel, calls with deadlines, and the one
translation of gRPC errors into the backend error family."""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

from ..base import (
    DEFAULT_PROJECT,
    AlreadyExists,
    BackendError,
    CommitRef,
    Conflict,
    NotFound,
    NotFoundKind,
    NotSupported,
    PermissionDenied,
    Unavailable,
)
from .connection import parse_pachd_address

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
    if "does not contain item" in details:
        return "file"  # WalkFile of a missing path: "commit/<id> does not contain item: (/p)"
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
    # pachd's ErrNotAuthorized carries no gRPC status: it arrives as UNKNOWN with its text
    # (auth/auth.go), so the text decides.
    if (
        code
        in (
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.UNAUTHENTICATED,
        )
        or "not authorized to perform this operation" in lowered
    ):
        return PermissionDenied(f"pachd refused the request: {details}")
    if (
        code == grpc.StatusCode.NOT_FOUND
        or "not found" in lowered
        or "has no head" in lowered
        or "was deleted" in lowered
        or "does not contain item" in lowered
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


class PfsRpc:
    """The channel to pachd and the three ways of calling it (request/response, server
    stream, ModifyFile), with every gRPC error translated once (``_translate``), plus the PFS
    messages that name repos, branches, commits and files."""

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

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._channel.close()

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
