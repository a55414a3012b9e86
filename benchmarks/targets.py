"""The systems measured: one boto3 client recipe, and pachs3, moto and the ceilings behind it.

Every target is driven by a client from ``new_client``: same botocore configuration (path-style
addressing, SigV4, us-east-1, the same dummy credentials, default retries and checksums), only
the endpoint differs. pachs3's in-process hook is attached to such a client with
``SidecarGateway.attach`` rather than built by ``gateway.client()``, so nothing about the client
differs between pachs3 and its peers.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config

PACHS3_ENDPOINT = "http://pachs3.local"
FLOOR_ENDPOINT = "http://floor.local"
INPUT_BUCKET = "input"  # moto refuses bucket names shorter than 3 characters
OUTPUT_BUCKET = "out"
INPUT_REPO = "input"
OUTPUT_REPO = "pipeline"
LAST_MODIFIED = "Tue, 25 Nov 2025 19:00:00 GMT"


def new_client(endpoint_url: str | None, *, pool: int = 32) -> Any:
    """The one client recipe. ``endpoint_url=None`` aims at AWS (what moto's mock intercepts)."""
    config = Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        max_pool_connections=pool,
    )
    session = boto3.session.Session()  # boto3's default session is not thread-safe to share
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=config,
    )


# --------------------------------------------------------------------------------------------
# pachs3


def input_gateway(store: Any) -> Any:
    """A SidecarGateway over ``store`` with ``input`` (read-only) and ``out`` (the output)."""
    from pachs3 import SidecarGateway

    return SidecarGateway(store, inputs={INPUT_BUCKET: f"{INPUT_REPO}@master"}, output=OUTPUT_REPO)


def pachs3_client(gateway: Any) -> Any:
    client = new_client(PACHS3_ENDPOINT)
    gateway.attach(client)
    return client


def fill_input(
    store: Any, files: Sequence[tuple[str, bytes]] | Iterator[tuple[str, bytes]]
) -> None:
    """Write files to the input repo's master in one commit, through the backend API."""
    from pachs3.backends.base import commit

    store.create_repo(INPUT_REPO, exist_ok=True)
    with commit(store, INPUT_REPO, "master") as info:
        put_files = getattr(store, "put_files", None)
        if put_files is not None:
            put_files(info.ref, files)
        else:
            for path, data in files:
                store.put_file(info.ref, path, [data])


def fill_input_stream(store: Any, path: str, chunks: Iterator[bytes]) -> None:
    from pachs3.backends.base import commit

    store.create_repo(INPUT_REPO, exist_ok=True)
    with commit(store, INPUT_REPO, "master") as info:
        store.put_file(info.ref, path, chunks)


# --------------------------------------------------------------------------------------------
# The client floor: canned replies from a before-send hook


class _CannedRaw(io.BytesIO):
    """A canned body with what botocore uses of a urllib3 response (``read``, ``stream``)."""

    def stream(self, amt: int = 1 << 16, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def s3_headers(**extra: str) -> list[tuple[str, str]]:
    """Response headers as S3 (and pachs3) sends them, so the client parses the same fields."""
    return [
        *extra.items(),
        ("x-amz-request-id", "0123456789ABCDEF"),
        ("x-amz-id-2", "0123456789ABCDEF"),
        ("server", "canned"),
    ]


def object_headers(size: int) -> list[tuple[str, str]]:
    return s3_headers(
        **{
            "etag": '"20439f79e4e9dc95be34b21029221f80"',
            "last-modified": LAST_MODIFIED,
            "accept-ranges": "bytes",
            "content-type": "binary/octet-stream",
            "content-length": str(size),
        }
    )


def put_headers(body: bytes) -> list[tuple[str, str]]:
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    return s3_headers(
        **{
            "etag": '"19dfeac83f3867aac6c76316b8041eb8"',
            "x-amz-checksum-crc32": crc,
            "content-length": "0",
        }
    )


def list_page(keys: Sequence[str], *, truncated: bool) -> bytes:
    """A ListObjectsV2 page as S3 writes it."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{INPUT_BUCKET}</Name><Prefix></Prefix><KeyCount>{len(keys)}</KeyCount>"
        f"<MaxKeys>1000</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
    ]
    if truncated:
        parts.append("<NextContinuationToken>bmV4dA==</NextContinuationToken>")
    parts.extend(
        f"<Contents><Key>{key}</Key><LastModified>2025-11-25T19:00:00.000Z</LastModified>"
        '<ETag>"9e3669d19b675bd57058fd4664205d2a"</ETag><Size>1</Size>'
        "<StorageClass>STANDARD</StorageClass></Contents>"
        for key in keys
    )
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


class CannedReplies:
    """``before-send`` hook answering PUT, GET, HEAD and ListObjectsV2 with fixed replies."""

    def __init__(self, *, body: bytes, list_keys: Sequence[str] = ()) -> None:
        self.body = body
        self.put = put_headers(body)
        self.get = object_headers(len(body))
        self.listing = list_page(list_keys, truncated=True) if list_keys else b""
        self.list_headers = s3_headers(
            **{"content-type": "application/xml", "content-length": str(len(self.listing))}
        )

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        method = request.method.upper()
        if method == "PUT":
            # botocore streams the body to a real server; a canned server still reads it.
            _consume(request.body)
            return _response(request.url, self.put, b"")
        if method == "HEAD":
            return _response(request.url, self.get, b"")
        if "list-type=2" in request.url:
            return _response(request.url, self.list_headers, self.listing)
        return _response(request.url, self.get, self.body)


def _consume(body: object) -> None:
    read = getattr(body, "read", None)
    if callable(read):
        while read(1 << 20):
            pass


def _response(url: str, headers: list[tuple[str, str]], body: bytes) -> AWSResponse:
    http_headers = HTTPHeaders()
    for name, value in headers:
        http_headers[name] = value
    return AWSResponse(url, 200, http_headers, _CannedRaw(body))


def floor_client(replies: CannedReplies) -> Any:
    client = new_client(FLOOR_ENDPOINT)
    client.meta.events.register_first("before-send.s3", replies)
    return client


# --------------------------------------------------------------------------------------------
# The framework ceiling: bare Starlette on pachs3's ThreadedServer


def ceiling_app(body: bytes, list_keys: Sequence[str] = ()) -> Any:
    """A bare Starlette app answering object PUT/GET/HEAD with canned bytes and S3's headers,
    and any bucket GET (ListObjectsV2) with one canned page of ``list_keys``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    put = dict(put_headers(body))
    get = dict(object_headers(len(body)))
    listing = list_page(list_keys, truncated=True)
    listed = dict(s3_headers(**{"content-type": "application/xml"}))

    async def obj(request: Request) -> Response:
        if request.method == "PUT":
            async for _ in request.stream():
                pass
            return Response(b"", headers=put)
        return Response(body, headers=get)

    async def bucket(request: Request) -> Response:
        return Response(listing, headers=listed)

    return Starlette(
        routes=[
            Route("/{bucket}/{key:path}", obj, methods=["GET", "HEAD", "PUT"]),
            Route("/{bucket}", bucket, methods=["GET"]),
        ]
    )


def static_file_app(path: Path) -> Any:
    """A tiny Starlette app serving one file (HEAD, GET, Range) at any object path."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Route

    async def obj(request: Request) -> Response:
        return FileResponse(path, media_type="binary/octet-stream")

    return Starlette(routes=[Route("/{bucket}/{key:path}", obj, methods=["GET", "HEAD"])])


# --------------------------------------------------------------------------------------------
# moto


def quiet_moto() -> None:
    """werkzeug logs every request of moto's server to stderr unless told not to."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


@contextlib.contextmanager
def moto_in_process() -> Iterator[Any]:
    """moto's ``mock_aws`` for the duration of the block; yields a client it answers."""
    from moto import mock_aws

    with mock_aws():
        yield new_client(None)


def moto_backend() -> Any:
    """moto's S3 backend of the default account (to fill buckets without S3 requests)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's ``ThreadedMotoServer`` on 127.0.0.1 (a free port); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    quiet_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
