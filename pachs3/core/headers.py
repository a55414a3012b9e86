"""Typed readings of request headers: body framing, object metadata, copy sources, numbers."""

from __future__ import annotations

import re
from urllib.parse import unquote

from pachs3.core import errors
from pachs3.core.chunked import streaming_mode
from pachs3.core.digests import CHECKSUM_ALGORITHMS
from pachs3.core.http import TOKEN_PATTERN
from pachs3.core.metadata_text import store_value
from pachs3.core.plans import BodySpec, ReadConditions
from pachs3.core.request import S3Request

CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"

STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-language",
    "content-disposition",
    "cache-control",
    "expires",
)
"""Standard headers S3 stores with an object and returns on GET/HEAD."""

_TOKEN = re.compile(TOKEN_PATTERN)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
"""What AWS stores when a PUT names no Content-Type."""

INTERNAL_METADATA_PREFIX = "x-pachs3-"
"""Metadata the gateway keeps with an object for itself (a composed object's part sizes): never
sent to clients, and never taken from their headers (only STORED_HEADERS and x-amz-meta-* are)."""

USER_METADATA_PREFIX = "x-amz-meta-"
MAX_USER_METADATA_BYTES = 2048
"""AWS: "the user-defined metadata is limited to 2 KB in size" (names plus values)."""


def optional_int(value: str | None, *, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.InvalidArgument(f"{name} must be an integer, not {value!r}.") from None
    if number < 0:
        raise errors.InvalidArgument(f"{name} must not be negative.")
    return number


def body_spec(request: S3Request) -> BodySpec:
    """How the body of a PUT/POST arrives, and every digest it must match."""
    sha256 = request.header("x-amz-content-sha256")
    encoding = request.header("content-encoding") or ""
    streaming = streaming_mode(sha256)  # parsed here, once, for the decoder and the planner
    aws_chunked = streaming is not None or "aws-chunked" in _tokens(encoding)
    content_length = optional_int(request.header("content-length"), name="Content-Length")
    decoded = optional_int(
        request.header("x-amz-decoded-content-length"), name="x-amz-decoded-content-length"
    )
    http_chunked = "chunked" in _tokens(request.header("transfer-encoding") or "")
    if content_length is None and not http_chunked:
        # No length and no chunked framing: HTTP says the body is empty; S3 says 411.
        raise errors.MissingContentLength(resource=request.resource)
    checksums = {
        algorithm: value
        for algorithm in CHECKSUM_ALGORITHMS
        if (value := request.header(CHECKSUM_HEADER_PREFIX + algorithm)) is not None
    }
    trailers = tuple(
        name.removeprefix(CHECKSUM_HEADER_PREFIX)
        for name in _tokens(request.header("x-amz-trailer") or "")
        if name.startswith(CHECKSUM_HEADER_PREFIX)
        and name.removeprefix(CHECKSUM_HEADER_PREFIX) in CHECKSUM_ALGORITHMS
    )
    is_hex_hash = sha256 is not None and len(sha256) == 64 and _is_hex(sha256)
    return BodySpec(
        framing="aws-chunked" if aws_chunked else "plain",
        streaming=streaming,
        content_length=content_length,
        decoded_length=decoded,
        content_md5=request.header("content-md5"),
        content_sha256=sha256.lower() if is_hex_hash and sha256 else None,
        checksums=checksums,
        trailer_names=trailers if aws_chunked else (),
    )


def object_metadata(request: S3Request) -> dict[str, str]:
    """The headers S3 keeps with an object: standard ones, and ``x-amz-meta-*`` verbatim."""
    metadata: dict[str, str] = {}
    for name in STORED_HEADERS:
        value = request.header(name)
        if value is None:
            continue
        if name == "content-encoding":
            value = _without_aws_chunked(value)
            if not value:
                continue
        metadata[name] = value
    metadata.setdefault("content-type", DEFAULT_CONTENT_TYPE)
    user_bytes = 0
    for name, value in request.head.headers:
        if name.startswith(USER_METADATA_PREFIX):
            if not _TOKEN.fullmatch(name):
                # uvicorn refuses to send a header name that is not an RFC 9110 token, so the
                # object could never be read back over HTTP (botocore sends such names as is).
                raise errors.InvalidArgument(
                    "User metadata names must be HTTP tokens.", resource=request.resource
                )
            _check_header_value(value, request)
            stored = store_value(value)
            _check_header_value(stored, request)  # what an encoded word hid must pass too
            metadata[name] = stored
            user_bytes += len(name) - len(USER_METADATA_PREFIX) + _wire_length(value)
    if user_bytes > MAX_USER_METADATA_BYTES:
        raise errors.MetadataTooLarge(resource=request.resource)
    return metadata


def copy_source(request: S3Request) -> tuple[str, str]:
    """``x-amz-copy-source``: ``bucket/key`` URL-encoded, with (minio-py) or without (botocore,
    pyarrow, obstore) a leading ``/``, optionally ``?versionId=``."""
    raw = request.header("x-amz-copy-source") or ""
    raw = raw.split("?", 1)[0].lstrip("/")
    bucket, sep, key = raw.partition("/")
    bucket, key = unquote(bucket), unquote(key)
    if not bucket or not sep or not key:
        raise errors.InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            resource=request.resource,
        )
    return bucket, key


def read_conditions(request: S3Request, *, prefix: str = "") -> ReadConditions:
    """If-* headers (``prefix`` ``x-amz-copy-source-`` for a copy's source conditions)."""
    return ReadConditions(
        if_match=request.header(prefix + "if-match"),
        if_none_match=request.header(prefix + "if-none-match"),
        if_modified_since=request.header(prefix + "if-modified-since"),
        if_unmodified_since=request.header(prefix + "if-unmodified-since"),
    )


def response_overrides(request: S3Request) -> tuple[tuple[str, str], ...]:
    """GetObject's ``response-content-type=...`` family: force these headers on the answer."""
    query = request.query
    names = (
        "content-type",
        "content-language",
        "expires",
        "cache-control",
        "content-disposition",
        "content-encoding",
    )
    overrides = tuple(
        (name, value) for name in names if (value := query.get("response-" + name)) is not None
    )
    for _name, value in overrides:
        _check_header_value(value, request)
    return overrides


def _check_header_value(value: str, request: S3Request) -> None:
    """CR, LF or NUL in a value we would send back would split or break the response."""
    if _CONTROL.search(value):
        raise errors.InvalidArgument(
            "Header values must not contain control characters.", resource=request.resource
        )


def _wire_length(value: str) -> int:
    """The bytes a header value took on the wire. Transports hand values over latin-1 decoded
    (each byte one character), so latin-1 counts them; other text came in-process as UTF-8."""
    try:
        return len(value.encode("latin-1"))
    except UnicodeEncodeError:
        return len(value.encode("utf-8"))


def _without_aws_chunked(content_encoding: str) -> str:
    """The object's Content-Encoding: the request's, less ``aws-chunked``, the rest as sent.

    aws-chunked describes this request's framing, not the object: boto3 over TLS sends
    "aws-chunked" alone, or "gzip,aws-chunked" (ceph/s3-tests#671, aws/aws-cli#7663). S3 keeps
    every other coding exactly as written, spacing included ("gzip ,  br" stays so).
    """
    kept = [part for part in content_encoding.split(",") if part.strip().lower() != "aws-chunked"]
    return ",".join(kept).strip()


def _tokens(value: str) -> list[str]:
    return [t.strip().lower() for t in value.split(",") if t.strip()]


def _is_hex(value: str) -> bool:
    try:
        int(value, 16)
    except ValueError:
        return False
    return True
