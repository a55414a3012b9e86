"""Strict SigV4 (pachs3/core/sigv4/) against AWS's documented examples, against requests
signed by botocore (header form with signed and UNSIGNED payloads, aws-chunked trailers over
https, presigned URLs for every method), against signed aws-chunked bodies (chunk and trailer
signatures), and against every way of tampering with a signed request.

``SigningGateway`` below does what ``SidecarGateway(credentials=...)`` does (docs/reliability.md,
"SigV4"), with a pinned clock for AWS's dated examples; tests/gateway/test_strict_sigv4.py drives
the gateway's own option with real boto3 clients.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from hostile_support import budget, check_answer, memory_gateway
from hypothesis import given, settings
from hypothesis import strategies as st

from pachs3 import SidecarGateway
from pachs3.core import errors
from pachs3.core.http import RequestHead, S3Response
from pachs3.core.sigv4 import (
    EMPTY_SHA256,
    SignatureContext,
    verify_request,
)
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


# ---------------------------------------------------------------------------------------------
# AWS's documented examples (S3 API reference, "Examples: Signature Calculations")

DOC_EXAMPLES = {
    "get-object-range": RequestHead(
        method="GET",
        path="/test.txt",
        headers=(
            ("host", DOC_HOST),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            authorization(
                "host;range;x-amz-content-sha256;x-amz-date",
                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            ),
        ),
    ),
    "put-object": RequestHead(
        method="PUT",
        path="/test%24file.text",
        headers=(
            ("host", DOC_HOST),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()),
            authorization(
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
        ),
    ),
    "get-lifecycle": RequestHead(
        method="GET",
        path="/",
        query=(("lifecycle", ""),),
        headers=(
            ("host", DOC_HOST),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            authorization(
                "host;x-amz-content-sha256;x-amz-date",
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            ),
        ),
    ),
    "list-objects": RequestHead(
        method="GET",
        path="/",
        query=(("max-keys", "2"), ("prefix", "J")),
        headers=(
            ("host", DOC_HOST),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            authorization(
                "host;x-amz-content-sha256;x-amz-date",
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            ),
        ),
    ),
    "presigned-get": RequestHead(
        method="GET",
        path="/test.txt",
        query=(
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", f"{AKID}/20130524/us-east-1/s3/aws4_request"),
            ("X-Amz-Date", "20130524T000000Z"),
            ("X-Amz-Expires", "86400"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
        ),
        headers=(("host", DOC_HOST),),
    ),
}


@pytest.mark.parametrize("name", sorted(DOC_EXAMPLES))
def test_aws_documented_examples_verify(name: str) -> None:
    context = verify_request(DOC_EXAMPLES[name], KEYS, DOC_TIME)
    assert context.access_key == AKID
    assert context.region == "us-east-1"
    assert context.presigned == name.startswith("presigned")


@pytest.mark.parametrize("name", sorted(DOC_EXAMPLES))
def test_aws_documented_examples_refuse_the_wrong_secret(name: str) -> None:
    with pytest.raises(errors.SignatureDoesNotMatch):
        verify_request(DOC_EXAMPLES[name], {AKID: SECRET + "x"}, DOC_TIME)


def test_presigned_url_expiry() -> None:
    head = DOC_EXAMPLES["presigned-get"]
    verify_request(head, KEYS, DOC_TIME + timedelta(seconds=86400))
    with pytest.raises(errors.AccessDenied, match="expired"):
        verify_request(head, KEYS, DOC_TIME + timedelta(seconds=86401))
    with pytest.raises(errors.AccessDenied, match="not valid yet"):
        verify_request(head, KEYS, DOC_TIME - timedelta(minutes=16))


def test_clock_skew() -> None:
    head = DOC_EXAMPLES["get-object-range"]
    verify_request(head, KEYS, DOC_TIME + timedelta(minutes=15))
    verify_request(head, KEYS, DOC_TIME - timedelta(minutes=15))
    for skew in (timedelta(minutes=15, seconds=1), -timedelta(minutes=15, seconds=1)):
        with pytest.raises(errors.RequestTimeTooSkewed):
            verify_request(head, KEYS, DOC_TIME + skew)
    verify_request(head, KEYS, (DOC_TIME + timedelta(minutes=1)).replace(tzinfo=None))


# -- aws-chunked with chunk signatures (S3 API reference, sigv4-streaming[-trailers]) --------

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


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("trailers", [False, True])
@pytest.mark.parametrize("piece", [1 << 20, 1000, 7])
def test_aws_documented_chunk_signatures_verify(trailers: bool, piece: int) -> None:
    head, body = doc_chunked_request(trailers)
    context = verify_request(head, KEYS, DOC_TIME)
    assert context.streaming_signed
    assert b"".join(context.verify_body(pieces(body, piece))) == body


@pytest.mark.parametrize("trailers", [False, True])
@pytest.mark.parametrize(
    "tamper",
    [
        "payload",
        "chunk-signature",
        "final-signature",
        "drop-final",
        "trailer",
        "trailer-signature",
        "extra-chunk",
    ],
)
def test_tampered_chunked_bodies_are_refused(trailers: bool, tamper: str) -> None:
    head, body = doc_chunked_request(trailers)
    first, _, final = CHUNK_SIGNATURES[trailers]
    if tamper == "payload":
        body = body.replace(b"a" * 10, b"a" * 9 + b"b", 1)
    elif tamper == "chunk-signature":
        body = body.replace(first.encode(), first[:-1].encode() + b"0")
    elif tamper == "final-signature":
        body = body.replace(final.encode(), final[:-1].encode() + b"0")
    elif tamper == "drop-final":
        body = body[: body.index(b"0;chunk-signature")]
    elif tamper == "trailer":
        if not trailers:
            pytest.skip("no trailer to change")
        body = body.replace(b"sOO8/Q==", b"AAAAAA==")
    elif tamper == "trailer-signature":
        if not trailers:
            pytest.skip("no trailer signature")
        body = body.replace(TRAILER_SIGNATURE.encode(), b"0" * 64)
    else:
        at = body.index(b"0;chunk-signature")
        body = body[:at] + f"1;chunk-signature={first}\r\nx\r\n".encode() + body[at:]
    context = verify_request(head, KEYS, DOC_TIME)
    with pytest.raises((errors.SignatureDoesNotMatch, errors.IncompleteBody)):
        for _ in context.verify_body(pieces(body, 4096)):
            pass


def test_a_missing_trailer_signature_is_refused() -> None:
    head, body = doc_chunked_request(True)
    body = body.replace(f"x-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n".encode(), b"")
    context = verify_request(head, KEYS, DOC_TIME)
    with pytest.raises(errors.SignatureDoesNotMatch):
        list(context.verify_body([body]))


# -- a test-side chunk signer, checked against AWS's example, for property tests --------------


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


@pytest.mark.parametrize("trailers", [False, True])
def test_the_test_signer_reproduces_aws_example(trailers: bool) -> None:
    head, body = doc_chunked_request(trailers)
    context = verify_request(head, KEYS, DOC_TIME)
    extra = {"x-amz-checksum-crc32c": "sOO8/Q=="} if trailers else {}
    assert sign_chunks(context, b"a" * 66560, [65536, 1024], extra) == body


@settings(max_examples=budget(60, share=0.01), deadline=None, database=None)
@given(
    payload=st.binary(max_size=3000),
    sizes=st.lists(st.integers(1, 900), max_size=6),
    trailers=st.booleans(),
    flip=st.none() | st.integers(0, 10_000),
    piece=st.integers(1, 5000),
)
def test_signed_chunked_bodies_verify_and_any_flip_is_caught(
    payload: bytes, sizes: list[int], trailers: bool, flip: int | None, piece: int
) -> None:
    head, _ = doc_chunked_request(trailers)
    context = verify_request(head, KEYS, DOC_TIME)
    extra = {"x-amz-checksum-crc32": "AAAAAA=="} if trailers else {}
    body = sign_chunks(context, payload, sizes, extra)
    if flip is None:
        assert b"".join(context.verify_body(pieces(body, piece))) == body
        return
    at = flip % len(body)
    tampered = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]
    with pytest.raises(
        (errors.SignatureDoesNotMatch, errors.IncompleteBody, errors.InvalidChunkSizeError)
    ):
        list(context.verify_body(pieces(tampered, piece)))


# ---------------------------------------------------------------------------------------------
# Requests signed by botocore


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


def capturing_client(endpoint: str, **config: Any) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        region_name="eu-west-3",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, **config),
    )

    def capture(request: AWSPreparedRequest, **_: Any) -> None:
        raise Captured(*head_of(request))

    client.meta.events.register_last("before-send.s3", capture)
    return client


def signed_by_botocore(client: Any, operation: str, **params: Any) -> tuple[RequestHead, bytes]:
    with pytest.raises(Captured) as captured:
        getattr(client, operation)(**params)
    return captured.value.head, captured.value.body


KEYS_TO_SIGN = [
    "plain.txt",
    "sp ace+plus",
    "caf\u00e9/\u20ac",
    "~!*'()$&=,;:@",
    "a%2Fb",
    "//x/../y",
    "\U0001f600",
]

OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("get_object", {"Range": "bytes=0-9"}),
    ("head_object", {}),
    ("put_object", {"Body": b"hello world", "Metadata": {"a": "b c"}, "ContentType": "text/x"}),
    ("delete_object", {}),
    ("copy_object", {"CopySource": {"Bucket": "in", "Key": "sp ace+\u20ac"}}),
    ("create_multipart_upload", {}),
    ("upload_part", {"UploadId": "abc", "PartNumber": 3, "Body": b"part"}),
    ("list_parts", {"UploadId": "a b+c"}),
]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("key", KEYS_TO_SIGN)
@pytest.mark.parametrize(("operation", "params"), OPERATIONS, ids=[op for op, _ in OPERATIONS])
def test_botocore_signed_requests_verify(
    scheme: str, key: str, operation: str, params: dict[str, Any]
) -> None:
    client = capturing_client(f"{scheme}://127.0.0.1:9000")
    head, body = signed_by_botocore(client, operation, Bucket="out", Key=key, **params)
    context = verify_request(head, KEYS, datetime.now(UTC))
    assert context.region == "eu-west-3"
    if len(context.payload_hash) == 64:  # a signed payload: the body chain checks it
        assert hashlib.sha256(body).hexdigest() == context.payload_hash
    tampered = RequestHead(
        method=head.method,
        path=head.path + "x",
        query=head.query,
        headers=head.headers,
        host=head.host,
    )
    with pytest.raises(errors.SignatureDoesNotMatch):
        verify_request(tampered, KEYS, datetime.now(UTC))


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        (
            "list_objects_v2",
            {"Prefix": "a b+c/\u20ac", "Delimiter": "/", "StartAfter": "~x", "MaxKeys": 7},
        ),
        ("list_objects", {"Prefix": "%2F", "Marker": "m&n=o"}),
        ("delete_objects", {"Delete": {"Objects": [{"Key": "a"}, {"Key": "b c"}], "Quiet": True}}),
        ("list_multipart_uploads", {"Prefix": "p q"}),
        ("get_bucket_location", {}),
        ("head_bucket", {}),
    ],
)
def test_botocore_signed_bucket_requests_verify(operation: str, params: dict[str, Any]) -> None:
    for scheme in ("http", "https"):
        client = capturing_client(f"{scheme}://127.0.0.1:9000")
        head, _ = signed_by_botocore(client, operation, Bucket="out", **params)
        verify_request(head, KEYS, datetime.now(UTC))
    head, _ = signed_by_botocore(capturing_client("http://127.0.0.1:9000"), "list_buckets")
    verify_request(head, KEYS, datetime.now(UTC))


def test_botocore_streaming_trailer_upload_verifies() -> None:
    """boto3 over https sends STREAMING-UNSIGNED-PAYLOAD-TRAILER aws-chunked for a file-like
    body with a checksum: the headers are signed, the body is not (nothing to verify)."""
    import io

    client = capturing_client("https://127.0.0.1:9000")
    head, body = signed_by_botocore(
        client,
        "put_object",
        Bucket="out",
        Key="k",
        Body=io.BytesIO(b"x" * 5000),
        ChecksumAlgorithm="CRC32",
    )
    context = verify_request(head, KEYS, datetime.now(UTC))
    assert context.payload_hash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert not context.streaming_signed
    assert list(context.verify_body([body])) == [body]


@pytest.mark.parametrize("method", ["get_object", "put_object", "delete_object", "head_object"])
@pytest.mark.parametrize("key", ["plain", "sp ace+plus/\u20ac", "~!*'()"])
def test_botocore_presigned_urls_verify(method: str, key: str) -> None:
    client = capturing_client("http://127.0.0.1:9000")
    params: dict[str, Any] = {"Bucket": "out", "Key": key}
    if method == "get_object":
        params["ResponseContentType"] = "text/x y"
    url = client.generate_presigned_url(method, Params=params, ExpiresIn=300)
    parts = urlsplit(url)
    verb = {
        "get_object": "GET",
        "put_object": "PUT",
        "delete_object": "DELETE",
        "head_object": "HEAD",
    }
    head = RequestHead(
        method=verb[method],
        path=normalize_raw_path(parts.path),
        query=parse_query(parts.query),
        headers=(("host", parts.netloc),),
        host=parts.netloc,
    )
    now = datetime.now(UTC)
    context = verify_request(head, KEYS, now)
    assert context.presigned
    assert context.payload_hash == "UNSIGNED-PAYLOAD"
    with pytest.raises(errors.AccessDenied, match="expired"):
        verify_request(head, KEYS, now + timedelta(seconds=301))
    other_verb = RequestHead(
        method="POST", path=head.path, query=head.query, headers=head.headers, host=head.host
    )
    with pytest.raises(errors.SignatureDoesNotMatch):
        verify_request(other_verb, KEYS, now)
    widened = RequestHead(
        method=head.method,
        path=head.path,
        query=(*head.query, ("versionId", "1")),
        headers=head.headers,
        host=head.host,
    )
    with pytest.raises(errors.SignatureDoesNotMatch):
        verify_request(widened, KEYS, now)


# ---------------------------------------------------------------------------------------------
# Refusals, each with AWS's code

GOOD = DOC_EXAMPLES["get-object-range"]


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


AUTH = GOOD.header("authorization") or ""
REFUSALS: list[tuple[str, RequestHead, type[errors.S3Error]]] = [
    ("no credentials", with_header(GOOD, "authorization", None), errors.AccessDenied),
    (
        "unknown key",
        with_header(GOOD, "authorization", AUTH.replace(AKID, "AKIDNOPE")),
        errors.InvalidAccessKeyId,
    ),
    ("changed range", with_header(GOOD, "range", "bytes=0-10"), errors.SignatureDoesNotMatch),
    (
        "changed host",
        with_header(GOOD, "host", "other.s3.amazonaws.com"),
        errors.SignatureDoesNotMatch,
    ),
    ("changed path", variant(GOOD, path="/test.txu"), errors.SignatureDoesNotMatch),
    ("changed method", variant(GOOD, method="DELETE"), errors.SignatureDoesNotMatch),
    ("added query", variant(GOOD, query=(("acl", ""),)), errors.SignatureDoesNotMatch),
    (
        "changed date",
        with_header(GOOD, "x-amz-date", "20130524T000001Z"),
        errors.SignatureDoesNotMatch,
    ),
    ("unsigned x-amz header", with_header(GOOD, "x-amz-meta-evil", "1"), errors.AccessDenied),
    (
        "payload hash changed",
        with_header(GOOD, "x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        errors.SignatureDoesNotMatch,
    ),
    ("bad payload hash", with_header(GOOD, "x-amz-content-sha256", "nope"), errors.InvalidArgument),
    ("no payload hash", with_header(GOOD, "x-amz-content-sha256", None), errors.InvalidRequest),
    ("no date", with_header(GOOD, "x-amz-date", None), errors.AccessDenied),
    (
        "credential date",
        with_header(GOOD, "authorization", AUTH.replace("/20130524/", "/20130525/")),
        errors.AuthorizationHeaderMalformed,
    ),
    (
        "service",
        with_header(GOOD, "authorization", AUTH.replace("/s3/", "/iam/")),
        errors.AuthorizationHeaderMalformed,
    ),
    (
        "terminator",
        with_header(GOOD, "authorization", AUTH.replace("aws4_request", "aws5_request")),
        errors.AuthorizationHeaderMalformed,
    ),
    (
        "no host signed",
        with_header(GOOD, "authorization", AUTH.replace("host;", "")),
        errors.AuthorizationHeaderMalformed,
    ),
    (
        "signature shape",
        with_header(GOOD, "authorization", AUTH[:-1]),
        errors.AuthorizationHeaderMalformed,
    ),
    (
        "missing component",
        with_header(GOOD, "authorization", AUTH.split(",Signature")[0]),
        errors.AuthorizationHeaderMalformed,
    ),
    (
        "sigv2",
        with_header(GOOD, "authorization", f"AWS {AKID}:c2lnbmF0dXJl"),
        errors.InvalidRequest,
    ),
    (
        "sigv4a",
        with_header(
            GOOD, "authorization", AUTH.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")
        ),
        errors.InvalidRequest,
    ),
    (
        "two mechanisms",
        variant(GOOD, query=(("X-Amz-Signature", "0" * 64),)),
        errors.InvalidArgument,
    ),
    (
        "presigned missing",
        variant(
            DOC_EXAMPLES["presigned-get"],
            query=(*DOC_EXAMPLES["presigned-get"].query[:-1], ("X-Amz-Signature", "0")),
        ),
        errors.AuthorizationQueryParametersError,
    ),
    (
        "presigned expires",
        variant(
            DOC_EXAMPLES["presigned-get"],
            query=tuple(
                (n, "604801" if n == "X-Amz-Expires" else v)
                for n, v in DOC_EXAMPLES["presigned-get"].query
            ),
        ),
        errors.AuthorizationQueryParametersError,
    ),
    (
        "sigv2 presigned",
        variant(
            GOOD,
            headers=GOOD.headers[:-1],
            query=(("AWSAccessKeyId", AKID), ("Signature", "x"), ("Expires", "1")),
        ),
        errors.InvalidRequest,
    ),
]


@pytest.mark.parametrize(("case", "head", "error"), REFUSALS, ids=[c for c, _, _ in REFUSALS])
def test_refusals_use_aws_codes(case: str, head: RequestHead, error: type[errors.S3Error]) -> None:
    with pytest.raises(error):
        verify_request(head, KEYS, DOC_TIME)


def test_region_can_be_pinned() -> None:
    verify_request(GOOD, KEYS, DOC_TIME, region="us-east-1")
    with pytest.raises(errors.AuthorizationHeaderMalformed, match="region"):
        verify_request(GOOD, KEYS, DOC_TIME, region="eu-west-1")


# ---------------------------------------------------------------------------------------------
# The proposed integration, end to end through SidecarGateway.handle


class SigningGateway:
    """What ``SidecarGateway.handle`` does with ``credentials=`` (docs/reliability.md): verify
    first, answer the S3 error without touching the body, else pass the body through
    ``verify_body`` so a bad chunk signature fails the write before it is committed."""

    def __init__(self, gateway: SidecarGateway, credentials: dict[str, str], now: datetime):
        self.gateway = gateway
        self.credentials = credentials
        self.now = now

    def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
        from pachs3.core.respond import error_response

        try:
            context = verify_request(head, self.credentials, self.now)
        except errors.S3Error as exc:
            return error_response(
                exc, resource=head.path, request_id="0", head_only=head.method == "HEAD"
            )
        return self.gateway.handle(head, context.verify_body(body))


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


def test_integration_signed_chunked_upload_end_to_end() -> None:
    payload = bytes(range(256)) * 300
    with memory_gateway() as gateway:
        signing = SigningGateway(gateway, KEYS, datetime.now(UTC))
        # Sign once to learn the seed, then the body from it; the length is the body's own.
        probe = botocore_signed_streaming_head("/out/obj", len(payload), 0)
        body_length = len(
            sign_chunks(verify_request(probe, KEYS, datetime.now(UTC)), payload, [8192] * 9, {})
        )
        head = botocore_signed_streaming_head("/out/obj", len(payload), body_length)
        context = verify_request(head, KEYS, datetime.now(UTC))
        good = sign_chunks(context, payload, [8192] * 9, {})
        assert len(good) == body_length
        answer = check_answer(head, signing.handle(head, iter(pieces(good, 5000))))
        assert answer.status == 200
        stored = gateway.handle(RequestHead(method="GET", path="/out/obj"), iter([]))
        assert b"".join(stored.body) == payload
        # The same upload with one payload byte changed: refused, and nothing stored.
        gateway.handle(RequestHead(method="DELETE", path="/out/obj"), iter([]))
        at = good.index(bytes(range(256)))
        bad = good[:at] + b"\xff" + good[at + 1 :]
        answer = check_answer(head, signing.handle(head, iter(pieces(bad, 5000))))
        assert answer.code == "SignatureDoesNotMatch"
        missing = gateway.handle(RequestHead(method="HEAD", path="/out/obj"), iter([]))
        assert missing.status == 404
        # Unsigned and wrongly signed requests are refused before the body is read.
        for refused in (
            RequestHead(method="GET", path="/in/a.txt"),
            with_header(head, "x-amz-decoded-content-length", "1"),
        ):
            answer = check_answer(refused, signing.handle(refused, iter(())))
            assert answer.status == 403
