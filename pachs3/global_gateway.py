"""GlobalGateway: every branch of every repo as a bucket, as Pachyderm's global gateway serves them.

``SidecarGateway``'s sibling over the same core, executor and transports; only the bucket policy
differs (``core/global_layout.py``). Buckets come and go with the store, so each request's
buckets are looked up when it runs (``branches.resolve``: a few index lookups) and then planned
purely, as in a sidecar:

    RequestHead -> parse -> classify -> check names (prepare, no I/O)
                -> resolve buckets -> plan -> execute -> respond (run)

Bucket names: ``[commit.][branch.]repo[.project]`` (``core/bucket_names.py``). Each successful
PutObject, CopyObject, DeleteObject(s) and CompleteMultipartUpload is one finished commit on the
bucket's branch; writers of one branch take turns (one lock per branch in this gateway; two
gateways writing one branch of one store are not serialized with each other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType

from pachs3 import accel, branches
from pachs3.backend_errors import s3_error_for
from pachs3.backends.base import Backend, BackendError
from pachs3.batching import BatchedCommits
from pachs3.core.global_layout import GlobalLayout
from pachs3.core.http import RequestHead
from pachs3.core.multipart import STAGING_REPO
from pachs3.core.request import S3Request
from pachs3.core.routing import Operation
from pachs3.exchange import Exchange, prepare
from pachs3.executor import Store
from pachs3.transport_methods import Transports


class GlobalGateway(Transports):
    """Serve a whole store over S3: one bucket per branch, writes as commits.

    >>> with GlobalGateway(store) as gateway:
    ...     s3 = gateway.client()
    ...     s3.create_bucket(Bucket="images")          # repo images, branch master
    ...     s3.put_object(Bucket="images", Key="a.png", Body=b"...")   # one commit
    ...     s3.list_objects_v2(Bucket="master.images.default")

    ``client()``, ``attach()``, ``serve()`` and ``asgi()`` work as on ``SidecarGateway``;
    leaving the ``with`` block stops every transport the gateway started (the store stays open).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        staging_repo: str = STAGING_REPO,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_ms: float | None = None,
    ) -> None:
        """``credentials`` (access key -> secret) turns on strict SigV4, as for a sidecar.

        ``batch_ms``: the writes that arrive at one branch together share one commit, finished
        once no write has run in it for a few ms and at most ``batch_ms`` after it started
        (``pachs3/batching.py``); each write is still answered only once its commit finished.
        None (the default): each write is its own commit, as Pachyderm's global gateway does.
        """
        accel.install_once()
        self.backend = backend
        self._batches = None if batch_ms is None else BatchedCommits(backend, batch_ms)
        self._store = replace(Store.of(backend), batches=self._batches)
        self._resolver = _StoreBuckets(backend, staging_repo)
        self._credentials = dict(credentials) if credentials is not None else None
        self._clock = clock
        self._init_transports()

    def __enter__(self) -> GlobalGateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the transports, then finish the batches still open (their writes wait)."""
        super().close()
        if self._batches is not None:
            self._batches.flush()

    def prepare(self, head: RequestHead) -> Exchange:
        """Decide what ``head`` asks for as far as no I/O is needed (names, signature,
        operation); ``run(body)`` looks the buckets up, plans and executes."""
        return prepare(
            head,
            layout=self._resolver,
            store=self._store,
            credentials=self._credentials,
            now=self._clock,
            count=_no_count,
        )


class _StoreBuckets:
    """The global layout, looked up in the store per request (``exchange.LayoutResolver``)."""

    def __init__(self, backend: Backend, staging_repo: str) -> None:
        self._backend = backend
        self._staging_repo = staging_repo
        self._staging_ready = False
        self._empty = branches.EmptyCommit(backend, staging_repo)

    def check(self, request: S3Request, operation: Operation) -> None:
        branches.check_names(request)

    def resolve(self, request: S3Request, operation: Operation) -> GlobalLayout:
        try:
            if not self._staging_ready:
                # Multipart uploads stage their parts in this repo (never a bucket). Made on the
                # first request, not when the gateway is built: a server binds its port first.
                self._backend.create_repo(self._staging_repo, exist_ok=True)
                self._staging_ready = True
            return branches.resolve(
                self._backend,
                request,
                operation,
                staging_repo=self._staging_repo,
                empty=self._empty,
            )
        except BackendError as exc:
            raise s3_error_for(exc) from exc


def _no_count(outcome: object, failed: bool) -> None:
    """A global gateway keeps no per-job statistics."""
