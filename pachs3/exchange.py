"""One S3 request answered in two steps: decide from the head, then run with the body.

``prepare`` does everything that needs only the request head and no I/O: the SigV4 check (when
the gateway has credentials), parse, classify, plan. Its result either carries the answer
already (``refusal``: an unknown bucket, a write to an input, a bad argument, a bad signature)
or is ready to ``run`` against the backend with the body. ``SidecarGateway.handle`` is the two
steps back to back; a transport that can do better calls them apart: the ASGI app prepares on
the event loop, so a refusal goes out without a worker-thread hop and without reading the body
(no ``100 Continue``), and a small accepted body is read before the hop instead of from the
worker thread, one event-loop round trip per chunk.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Protocol, runtime_checkable

from typing_extensions import TypeIs

from pachs3.backend_errors import s3_error_for
from pachs3.backends.base import BackendError
from pachs3.core import errors, presigned, sigv4
from pachs3.core.body import IncomingBody
from pachs3.core.http import (
    BytesStream,
    ByteStream,
    EmptyStream,
    RequestHead,
    ResponseBodyFailed,
    S3Response,
)
from pachs3.core.layout import Layout
from pachs3.core.outcomes import Outcome
from pachs3.core.planner import plan
from pachs3.core.plans import Plan
from pachs3.core.request import S3Request, parse
from pachs3.core.respond import error_response
from pachs3.core.routing import Operation, classify
from pachs3.executor import Store, execute
from pachs3.hash_thread import ThreadHashFeed

log = logging.getLogger("pachs3")

Count = Callable[[Outcome | None, bool], None]
"""Where a finished exchange reports its outcome and whether it failed (gateway statistics)."""


@runtime_checkable
class LayoutResolver(Protocol):
    """A bucket policy whose buckets come and go with the store (the global gateway): its
    layout is looked up per request, in ``run`` (I/O, so off the event loop), and planning
    waits for it. ``check`` is the part that needs no I/O, done in ``prepare``."""

    def check(self, request: S3Request, operation: Operation) -> None: ...

    def resolve(self, request: S3Request, operation: Operation) -> Layout: ...


_RESOLVER_TYPES: dict[type, bool] = {}


def _is_resolver(layout: Layout | LayoutResolver) -> TypeIs[LayoutResolver]:
    """``isinstance(layout, LayoutResolver)``, decided once per class: the runtime Protocol
    check walks the protocol's members every time (10-40 us here, on every request)."""
    kind = type(layout)
    known = _RESOLVER_TYPES.get(kind)
    if known is None:
        known = _RESOLVER_TYPES[kind] = isinstance(layout, LayoutResolver)
    return known


def prepare(
    head: RequestHead,
    *,
    layout: Layout | LayoutResolver,
    store: Store,
    credentials: Mapping[str, str] | None,
    now: Callable[[], datetime],
    count: Count,
) -> Exchange:
    """Decide what ``head`` asks for, without I/O: fast enough to run on an event loop."""
    exchange = Exchange(head, store, count)
    exchange.decide(layout, credentials, now)
    return exchange


class Exchange:
    """A prepared request: either refused already or ready to run once. Not thread-shared."""

    __slots__ = (
        "_count",
        "_head",
        "_pending",
        "_plan",
        "_request_id",
        "_resource",
        "_signatures",
        "_store",
        "refusal",
    )

    def __init__(self, head: RequestHead, store: Store, count: Count) -> None:
        self._head = head
        self._store = store
        self._count = count
        self._request_id = secrets.token_hex(8).upper()
        self._resource = head.path
        self._plan: Plan | None = None
        self._pending: tuple[LayoutResolver, S3Request, Operation] | None = None
        """Set when planning waits for a resolved layout (``run`` plans first)."""
        self._signatures: sigv4.SignatureContext | None = None
        self.refusal: S3Response | None = None
        """The whole answer, when the head alone decided it; the body must then not be read."""

    def decide(
        self,
        layout: Layout | LayoutResolver,
        credentials: Mapping[str, str] | None,
        now: Callable[[], datetime],
    ) -> None:
        """Check the signature, parse and plan; on failure the answer becomes ``refusal``."""
        head = self._head
        try:
            if credentials is not None:
                # First: an unauthenticated client learns nothing (not even which buckets
                # exist), and a refused upload's body is never read (no 100 Continue).
                self._signatures = sigv4.verify_request(head, credentials, now())
            elif presigned.is_presigned(head):
                # An expired presigned URL stops working even when signatures go unchecked.
                presigned.check_not_expired(head, now())
            if _is_resolver(layout):
                request = parse(head)
                self._resource = request.resource
                operation = classify(request)
                layout.check(request, operation)
                self._pending = (layout, request, operation)
            else:
                request = parse(head, virtual_host_buckets=layout.host_buckets)
                self._resource = request.resource
                self._plan = plan(classify(request), request, layout)
        except errors.S3Error as exc:
            self.refusal = self._finish(self._error(exc), None)
        except Exception:
            log.exception("request %s %s failed", head.method, head.path)
            self.refusal = self._finish(self._error(errors.InternalError()), None)

    def run(self, body: Iterator[bytes]) -> S3Response:
        """Execute the plan with ``body`` (blocking: the backend's I/O) and answer."""
        if self.refusal is not None:
            return self.refusal
        outcome: Outcome | None = None
        try:
            if self._pending is not None:
                resolver, request, operation = self._pending
                self._plan = plan(operation, request, resolver.resolve(request, operation))
            assert self._plan is not None, "prepare() makes a plan, a refusal or a pending plan"
            # The body is decoded once, where a handler reads it: the signature chain listens
            # to that decoder (core/body.py), no second pass over the raw bytes.
            incoming = IncomingBody(body, self._signatures, offload=ThreadHashFeed)
            outcome, response = execute(self._plan, self._store, incoming)
            return self._finish(response, outcome)
        except errors.S3Error as exc:
            return self._finish(self._error(exc), outcome)
        except Exception:
            # Never leak internals (paths, tracebacks) to the client; the log has them.
            log.exception("request %s %s failed", self._head.method, self._head.path)
            return self._finish(self._error(errors.InternalError()), outcome)

    def _error(self, exc: errors.S3Error) -> S3Response:
        return error_response(
            exc,
            resource=self._resource,
            request_id=self._request_id,
            head_only=self._head.method.upper() == "HEAD",
        )

    def _finish(self, response: S3Response, outcome: Outcome | None) -> S3Response:
        self._count(outcome, response.status >= 400)
        body = response.body
        if not isinstance(body, BytesStream | EmptyStream):  # streamed: it can still fail
            body = _MappedBody(body, self)
        return self._identified(
            S3Response(status=response.status, headers=response.headers, body=body)
        )

    def _identified(self, response: S3Response) -> S3Response:
        request_id = self._request_id
        return S3Response(
            status=response.status,
            headers=(
                *response.headers,
                ("x-amz-request-id", request_id),
                ("x-amz-id-2", request_id),
                ("server", "pachs3"),
            ),
            body=response.body,
        )

    def body_failed(self, exc: Exception) -> ResponseBodyFailed:
        """An error raised while a response body streams, mapped as ``run`` maps errors: a
        backend error to its S3 error, anything unexpected to InternalError (logged, its text
        never sent). The request was counted when its answer was decided."""
        if isinstance(exc, BackendError):
            error = s3_error_for(exc)
        elif isinstance(exc, errors.S3Error):
            error = exc
        else:
            error = errors.InternalError()
        log.error(
            "response body of %s %s failed",
            self._head.method,
            self._head.path,
            exc_info=not isinstance(exc, BackendError | errors.S3Error),
        )
        return ResponseBodyFailed(self._identified(self._error(error)))


class _MappedBody:
    """A streamed response body whose failures reach the transport mapped, as
    ``ResponseBodyFailed`` (see there for what the transport does with it)."""

    __slots__ = ("_exchange", "_stream")

    def __init__(self, stream: ByteStream, exchange: Exchange) -> None:
        self._stream = stream
        self._exchange = exchange

    def __iter__(self) -> _MappedBody:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._stream)
        except StopIteration:
            raise
        except Exception as exc:
            raise self._exchange.body_failed(exc) from exc

    def close(self) -> None:
        self._stream.close()
