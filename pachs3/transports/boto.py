"""An in-process boto3 endpoint: S3 calls go straight to ``Handler.handle``, no socket.

``attach(client, handler)`` registers a ``before-send`` hook on *that* client's own event system
(nothing global is patched, no private botocore attribute is touched). botocore emits
``before-send`` with the fully prepared request (signed, headers final) just before it would
open a connection; the first hook that returns a response replaces the network round trip.
The hook turns the prepared request into a ``RequestHead`` and a lazy body iterator, calls the
handler, and returns an ``AWSResponse`` whose ``raw`` streams the handler's response body, so
``get_object()["Body"].read(n)`` and ``download_file`` handle objects of any size in bounded
memory.

What stays true to the wire:

* ``RequestHead`` carries the URL's scheme and host and the headers botocore would send
  (plus ``Host``, which urllib3 would add). botocore adds ``Expect: 100-continue`` to
  PutObject/UploadPart: harmless here, there is no connection to wait on.
* Over an ``https`` endpoint botocore sends aws-chunked bodies with checksum trailers
  (``Content-Encoding: aws-chunked``, no Content-Length); ``make_client`` uses ``http`` so the
  body is plain, but an attached https client works too: the gateway decodes aws-chunked.
* Retries are botocore's, left as configured (botocore 1.44 defaults to "standard" mode: up
  to 3 attempts with jittered backoff for 500/502/503/504 and throttling codes; every attempt
  calls the handler again, after botocore rewinds a seekable body). A gateway
  ``InternalError`` thus reaches the caller only after the retries and their backoff (a second
  or more); pass ``config=Config(retries={"total_max_attempts": 1})`` to see it at once, as
  tests do. A non-seekable body cannot be retried: botocore raises ``UnseekableStreamError``
  rather than resend a partial body.
* ``upload_file``/``download_file`` go through s3transfer on top of this client, so they are
  served in-process too, unless boto3 picks its CRT transfer client (only with ``awscrt``
  installed, on EC2 instance types the CRT is optimised for, or when asked for), which has
  its own HTTP stack and ignores botocore hooks: pass
  ``Config=TransferConfig(preferred_transfer_client="classic")`` where that matters.
* A request body that raises while the handler reads it (the caller's file failing) is
  re-raised to the caller, as urllib3 would, instead of whatever error response the gateway
  made of the truncated body.

boto3/botocore are optional (extra ``boto``) and imported only in this module.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from urllib3.exceptions import ProtocolError

from pachs3.core.http import ByteStream, EmptyStream, RequestHead
from pachs3.transports.base import Handler, join_headers, normalize_raw_path, parse_query

if TYPE_CHECKING:
    import boto3.session
    from botocore.client import BaseClient
    from mypy_boto3_s3 import S3Client
    from typing_extensions import Buffer

__all__ = ["DEFAULT_ENDPOINT_URL", "Detach", "attach", "before_send_hook", "make_client"]

DEFAULT_ENDPOINT_URL = "http://pachs3.local"

READ_SIZE = 1 << 20
"""Bytes per ``read()`` of a file-like request body (never read whole)."""

_EVENT = "before-send.s3"


class Detach:
    """Unregisters the hook ``attach`` installed; call it (or use it as a context manager).

    Calling it twice is harmless.
    """

    def __init__(self, client: BaseClient, hook: Callable[..., AWSResponse | None]) -> None:
        self._client: BaseClient | None = client
        self._hook = hook

    @property
    def attached(self) -> bool:
        return self._client is not None

    def __call__(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.meta.events.unregister(_EVENT, cast("Callable[..., None]", self._hook))

    def __enter__(self) -> Detach:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self()


def attach(
    client: BaseClient,
    handler: Handler,
    *,
    endpoint_host: str | None = "pachs3.local",
) -> Detach:
    """Serve ``client``'s S3 requests with ``handler``, in-process.

    Only requests to ``endpoint_host`` (or a virtual-hosted ``bucket.endpoint_host``) are
    intercepted; ``endpoint_host=None`` intercepts every S3 request of the client. The client's
    ``endpoint_url`` must point at ``endpoint_host`` (checked here, so a client aimed elsewhere
    fails loudly instead of silently going to the network).
    """
    if endpoint_host is not None:
        endpoint_host = endpoint_host.lower()
        configured = urlsplit(client.meta.endpoint_url).hostname or ""
        if not _host_matches(configured, endpoint_host):
            raise ValueError(
                f"client endpoint {client.meta.endpoint_url!r} is not {endpoint_host!r}; "
                "create it with that endpoint_url or pass endpoint_host=None"
            )

    before_send = before_send_hook(handler, endpoint_host=endpoint_host)
    # register_first: an explicitly attached handler answers before any other before-send
    # hook on this client (moto's mock_aws installs one for every client it sees). The stubs
    # type hooks as returning None; before-send hooks return the response by design.
    client.meta.events.register_first(_EVENT, cast("Callable[..., None]", before_send))
    return Detach(client, before_send)


def before_send_hook(
    handler: Handler, *, endpoint_host: str | None
) -> Callable[..., AWSResponse | None]:
    """The ``before-send`` hook that answers requests to ``endpoint_host`` with ``handler``.

    ``attach`` registers it on one client; registered on a boto3 session's ``events`` before
    clients are made, every client that session creates starts with a copy of it (botocore
    copies the session's event emitter into each new client), which is how
    ``pachs3.testing`` serves code that calls ``boto3.client("s3")`` itself. Requests to any
    other host pass on (the hook returns None).
    """
    host = endpoint_host.lower() if endpoint_host is not None else None

    def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        return _serve(handler, request, host)

    return before_send


def make_client(
    handler: Handler,
    *,
    session: boto3.session.Session | None = None,
    **boto3_kwargs: Any,
) -> S3Client:
    """A boto3 S3 client served in-process by ``handler``.

    Defaults (each overridable through ``boto3_kwargs``): ``endpoint_url`` ``http://pachs3.local``,
    fixed dummy credentials (the gateway accepts any unless strict SigV4 is configured),
    ``region_name`` ``us-east-1``, path-style addressing and SigV4 (boto3 would presign with
    SigV2 for a custom endpoint). A ``config`` given is merged over these defaults.
    """
    import boto3.session
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "endpoint_url": DEFAULT_ENDPOINT_URL,
        "aws_access_key_id": "pachs3",
        "aws_secret_access_key": "pachs3",
        "region_name": "us-east-1",
    }
    config = Config(s3={"addressing_style": "path"}, signature_version="s3v4")
    user_config = boto3_kwargs.pop("config", None)
    if user_config is not None:
        config = config.merge(user_config)
    kwargs.update(boto3_kwargs)
    kwargs["config"] = config
    # A session of our own: boto3's default session is shared and not safe to create clients
    # from concurrently.
    client = (session or boto3.session.Session()).client("s3", **kwargs)
    host = urlsplit(client.meta.endpoint_url).hostname
    attach(client, handler, endpoint_host=host)
    return client


def _host_matches(host: str, endpoint_host: str) -> bool:
    host = host.lower()
    return host == endpoint_host or host.endswith("." + endpoint_host)


def _serve(
    handler: Handler, request: AWSPreparedRequest, endpoint_host: str | None
) -> AWSResponse | None:
    url = urlsplit(request.url)
    if endpoint_host is not None and not _host_matches(url.hostname or "", endpoint_host):
        return None
    headers = [(_text(name).lower(), _text(value)) for name, value in request.headers.items()]
    if not any(name == "host" for name, _ in headers):
        headers.insert(0, ("host", url.netloc))  # urllib3 sends Host first
    head = RequestHead(
        method=request.method.upper(),
        path=normalize_raw_path(url.path),
        query=parse_query(url.query),
        headers=tuple(headers),
        host=url.netloc,
        scheme=url.scheme,
    )
    body = _RequestBody(request.body)
    response = handler.handle(head, body)
    stream = response.body
    if body.error is not None:
        stream.close()
        raise body.error
    if head.method == "HEAD" or response.status in (204, 304):
        # No body for HEAD, 204 or 304, whatever the handler returned (botocore still reads
        # ``content``, which must then be empty).
        stream.close()
        stream = EmptyStream()
    raw = _ResponseRaw(stream)
    http_headers = HTTPHeaders()
    for name, value in join_headers(response.headers).items():
        http_headers[name] = value
    return AWSResponse(request.url, response.status, http_headers, raw)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class _RequestBody(Iterator[bytes]):
    """A botocore request body (None, bytes, str, file-like, iterable) as byte chunks.

    File-likes are read ``READ_SIZE`` at a time. An exception from the caller's body is kept
    so ``_serve`` re-raises it after the handler gave up on the truncated body.
    """

    def __init__(self, body: object) -> None:
        self.error: BaseException | None = None
        self._chunks = self._generate(body)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            raise
        except Exception as exc:
            self.error = exc
            raise

    @staticmethod
    def _generate(body: object) -> Iterator[bytes]:
        if body is None:
            return
        if isinstance(body, bytes | bytearray | memoryview):
            if len(body):
                yield bytes(body)
            return
        if isinstance(body, str):
            if body:
                yield body.encode("utf-8")
            return
        read = getattr(body, "read", None)
        if callable(read):
            while True:
                chunk = read(READ_SIZE)
                if not chunk:
                    return
                yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        elif isinstance(body, Iterable):
            for chunk in body:
                if chunk:
                    yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        else:
            raise TypeError(f"unsupported request body type {type(body).__name__}")


class _ResponseRaw(io.RawIOBase):
    """The handler's ``ByteStream`` as the file-like ``raw`` of an ``AWSResponse``.

    Offers what botocore uses of a urllib3 response: ``read(amt)`` (full ``amt`` bytes unless
    at the end, as urllib3 does), ``readinto``, ``stream(amt)`` (``AWSResponse.content``) and
    ``close``. The stream is closed when exhausted, when closed, or when garbage-collected
    unread. A stream that fails mid-body raises urllib3's ``ProtocolError``, which botocore turns
    into ``ResponseStreamingError`` and s3transfer retries, as for a connection cut mid-body.
    """

    def __init__(self, stream: ByteStream) -> None:
        super().__init__()
        self._stream: ByteStream | None = stream
        self._buffer = b""
        self._offset = 0
        self._position = 0

    # -- file protocol --------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0:
            return self.readall()
        pieces: list[bytes] = []
        wanted = size
        while wanted > 0 and self._fill():
            available = len(self._buffer) - self._offset
            if self._offset == 0 and available <= wanted:
                piece = self._buffer  # the whole chunk: no copy
            else:
                piece = self._buffer[self._offset : self._offset + wanted]
            self._offset += len(piece)
            wanted -= len(piece)
            pieces.append(piece)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        pieces: list[bytes] = []
        while self._fill():
            pieces.append(self._buffer[self._offset :] if self._offset else self._buffer)
            self._offset = len(self._buffer)
        data = b"".join(pieces)
        self._position += len(data)
        return data

    def readinto(self, buffer: Buffer, /) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._fill():
            count = min(len(view) - filled, len(self._buffer) - self._offset)
            view[filled : filled + count] = self._buffer[self._offset : self._offset + count]
            self._offset += count
            filled += count
        self._position += filled
        return filled

    def stream(self, amt: int = 1 << 16, decode_content: bool | None = None) -> Iterator[bytes]:
        """urllib3's ``HTTPResponse.stream``: chunks of up to ``amt`` bytes until the end."""
        while True:
            data = self.read(amt)
            if not data:
                return
            yield data

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._buffer = b""
        self._offset = 0
        try:
            if stream is not None:
                stream.close()
        finally:
            super().close()

    # -- internals ------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Make unread bytes available in the buffer; False at the end (stream then closed)."""
        if self._offset < len(self._buffer):
            return True
        stream = self._stream
        if stream is None:
            if self.closed:
                raise ValueError("read from a closed response body")
            return False
        while True:
            try:
                chunk = next(stream)
            except StopIteration:
                self._stream = None
                self._buffer, self._offset = b"", 0
                stream.close()  # exhausted: release the backend read now, not at GC
                return False
            except Exception as exc:
                self._stream = None
                stream.close()
                # The cause stays chained for logs, but botocore prints the arguments: no internals.
                raise ProtocolError("response body failed mid-stream") from exc
            if chunk:
                self._buffer = chunk if isinstance(chunk, bytes) else bytes(chunk)
                self._offset = 0
                return True
