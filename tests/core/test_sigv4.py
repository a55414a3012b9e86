"""Strict SigV4 (pachs3/core/sigv4/) against AWS's documented examples, against requests
signed by botocore (header form with signed and UNSIGNED payloads, aws-chunked trailers over
https, presigned URLs for every method), against signed aws-chunked bodies (chunk and trailer
signatures), and against every way of tampering with a signed request.

The verifier is called directly, with a pinned clock for AWS's dated examples. Bit flips over
random signed bodies and a signed upload through ``SidecarGateway(credentials=...)`` are in
tests/hostile/test_hostile_sigv4.py; tests/gateway/test_strict_sigv4.py drives that option
with real boto3 clients.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from sigv4_signing import (
    AKID,
    CHUNK_SIGNATURES,
    DOC_HOST,
    DOC_TIME,
    KEYS,
    SECRET,
    TRAILER_SIGNATURE,
    Captured,
    authorization,
    doc_chunked_request,
    head_of,
    pieces,
    sign_chunks,
    signed_payload,
    variant,
    with_header,
)

from pachs3.core import errors
from pachs3.core.http import RequestHead
from pachs3.core.sigv4 import EMPTY_SHA256, verify_request
from pachs3.transports.base import normalize_raw_path, parse_query

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


@pytest.mark.parametrize("trailers", [False, True])
@pytest.mark.parametrize("piece", [1 << 20, 1000, 7])
def test_aws_documented_chunk_signatures_verify(trailers: bool, piece: int) -> None:
    head, body = doc_chunked_request(trailers)
    context = verify_request(head, KEYS, DOC_TIME)
    assert context.streaming_signed
    assert signed_payload(context, pieces(body, piece)) == b"a" * 66560


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
        signed_payload(context, pieces(body, 4096))


def test_a_missing_trailer_signature_is_refused() -> None:
    head, body = doc_chunked_request(True)
    body = body.replace(f"x-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n".encode(), b"")
    context = verify_request(head, KEYS, DOC_TIME)
    with pytest.raises(errors.SignatureDoesNotMatch):
        signed_payload(context, [body])


@pytest.mark.parametrize("trailers", [False, True])
def test_the_test_signer_reproduces_aws_example(trailers: bool) -> None:
    head, body = doc_chunked_request(trailers)
    context = verify_request(head, KEYS, DOC_TIME)
    extra = {"x-amz-checksum-crc32c": "sOO8/Q=="} if trailers else {}
    assert sign_chunks(context, b"a" * 66560, [65536, 1024], extra) == body


# ---------------------------------------------------------------------------------------------
# Requests signed by botocore


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
    assert context.chunk_verifier() is None  # no chain: the body is read unsigned
    assert signed_payload(context, [body]) == b"x" * 5000


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
