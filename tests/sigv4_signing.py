"""Signing helpers shared by the SigV4 tests (tests/core/test_sigv4.py, and the hostile suite's
property and end-to-end tests): AWS's documented credentials and signed aws-chunked example,
a test-side chunk signer checked against that example, and requests signed by botocore."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest

from pachs3.core.body import CheckedPayload
from pachs3.core.chunked import streaming_mode
from pachs3.core.http import RequestHead
from pachs3.core.plans import BodySpec
from pachs3.core.sigv4 import EMPTY_SHA256, SignatureContext
from pachs3.transports.base import normalize_raw_path, parse_query

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEYS = {AKID: SECRET}
DOC_TIME = datetime(2013, 5, 24, tzinfo=UTC)
DOC_HOST = "examplebucket.s3.amazonaws.com"


def authorization(names: str, signature: str, *, date: str = "20130524") -> tuple[str, str]:
    return (
        "authorization",
        f"AWS4-HMAC-SHA256 Credential={AKID}/{date}/us-east-1/s3/aws4_request,"
        f"SignedHeaders={names},Signature={signature}",
    )


CHUNKED_NAMES = {
    False: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class",
    True: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
    "x-amz-storage-class;x-amz-trailer",
}
CHUNKED_SEEDS = {
    False: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    True: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
}
CHUNK_SIGNATURES = {
    False: (
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ),
    True: (
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ),
}
TRAILER = "x-amz-checksum-crc32c:sOO8/Q=="
TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def doc_chunked_request(trailers: bool) -> tuple[RequestHead, bytes]:
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailers else "")
    headers = [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", mode),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
    ]
    headers.append(
        ("x-amz-trailer", "x-amz-checksum-crc32c") if trailers else ("content-length", "66824")
    )
    headers.append(authorization(CHUNKED_NAMES[trailers], CHUNKED_SEEDS[trailers]))
    first, second, final = CHUNK_SIGNATURES[trailers]
    body = (
        f"10000;chunk-signature={first}\r\n".encode()
        + b"a" * 65536
        + b"\r\n"
        + f"400;chunk-signature={second}\r\n".encode()
        + b"a" * 1024
        + b"\r\n"
        + f"0;chunk-signature={final}\r\n".encode()
    )
    if trailers:
        body += f"{TRAILER}\r\nx-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n".encode()
    body += b"\r\n"
    return RequestHead(
        method="PUT", path="/examplebucket/chunkObject.txt", headers=tuple(headers)
    ), body


def signed_payload(context: SignatureContext, raw: Iterable[bytes]) -> bytes:
    """The payload of a signed aws-chunked body, read as the gateway reads it: one decoder,
    whose chunk signatures the request's verifier checks as they are decoded (core/body.py)."""
    spec = BodySpec(framing="aws-chunked", streaming=streaming_mode(context.payload_hash))
    return b"".join(CheckedPayload(spec, raw, signatures=context))


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def sign_chunks(
    context: SignatureContext, payload: bytes, sizes: list[int], trailers: dict[str, str]
) -> bytes:
    """An aws-chunked body with chunk (and trailer) signatures chained from ``context``."""
    key, previous = context.key, context.signature
    scope = context.scope

    def sign(kind: str, digest: str, *extra: str) -> str:
        text = "\n".join((kind, context.amz_date, scope, previous, *extra, digest))
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    out = bytearray()
    position = 0
    chunks: list[bytes] = []
    for size in [*sizes, len(payload)]:
        if position >= len(payload):
            break
        chunks.append(payload[position : position + max(size, 1)])
        position += max(size, 1)
    for chunk in [*chunks, b""]:
        previous = sign("AWS4-HMAC-SHA256-PAYLOAD", hashlib.sha256(chunk).hexdigest(), EMPTY_SHA256)
        out += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk
        out += b"\r\n" if chunk else b""
    if trailers:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailers.items())
        signature = sign("AWS4-HMAC-SHA256-TRAILER", hashlib.sha256(canonical.encode()).hexdigest())
        for name, value in trailers.items():
            out += f"{name}:{value}\r\n".encode()
        out += f"x-amz-trailer-signature:{signature}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


class Captured(Exception):
    def __init__(self, head: RequestHead, body: bytes) -> None:
        super().__init__("captured")
        self.head = head
        self.body = body


def head_of(request: AWSPreparedRequest) -> tuple[RequestHead, bytes]:
    """What a transport would build from what botocore sends (transports/base helpers)."""
    url = urlsplit(request.url)
    headers = [
        (str(k).lower(), v.decode("latin-1") if isinstance(v, bytes) else str(v))
        for k, v in request.headers.items()
    ]
    if not any(name == "host" for name, _ in headers):
        headers.insert(0, ("host", url.netloc))
    body: Any = request.body
    if body is None:
        data = b""
    elif isinstance(body, bytes | bytearray):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode()
    elif hasattr(body, "read"):
        read = body.read()
        data = read.encode() if isinstance(read, str) else bytes(read)
    else:
        data = b"".join(body)
    head = RequestHead(
        method=request.method or "GET",
        path=normalize_raw_path(url.path),
        query=parse_query(url.query),
        headers=tuple(headers),
        host=url.netloc,
        scheme=url.scheme,
    )
    return head, data


def variant(head: RequestHead, **changes: Any) -> RequestHead:
    fields: dict[str, Any] = {
        "method": head.method,
        "path": head.path,
        "query": head.query,
        "headers": head.headers,
        "host": head.host,
    }
    fields.update(changes)
    return RequestHead(**fields)


def with_header(head: RequestHead, name: str, value: str | None) -> RequestHead:
    headers = tuple((n, v) for n, v in head.headers if n != name)
    if value is not None:
        headers = (*headers, (name, value))
    return variant(head, headers=headers)


def botocore_signed_streaming_head(path: str, payload_length: int, body_length: int) -> RequestHead:
    """Headers signed by botocore's own SigV4 signer for a signed aws-chunked upload (botocore
    cannot make the chunk signatures; ``sign_chunks`` does, chained from this seed)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="PUT",
        url=f"http://127.0.0.1:9000{path}",
        headers={
            "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(payload_length),
            "Content-Length": str(body_length),
        },
    )
    SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    head, _ = head_of(request.prepare())
    return head
