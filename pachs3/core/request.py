"""parse: a transport's ``RequestHead`` -> ``S3Request`` (bucket, key, query, typed headers).

Only path-style addressing is parsed from the path; a virtual-host request (bucket in the Host
header) is recognised when the gateway tells ``parse`` which names are buckets, because a Host
like ``s3.local`` must never be mistaken for a bucket.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

from pachs3.core import errors
from pachs3.core.http import RequestHead
from pachs3.core.presigned import hoisted_headers

MAX_HEADER_SECTION_BYTES = 8 * 1024
"""AWS: "The PUT request header is limited to 8 KB in size"; past it, a 400
RequestHeaderSectionTooLarge (uvicorn's httptools mode sets no limit of its own)."""

MAX_KEY_BYTES = 1024
"""AWS: "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at most
1,024 bytes long." Longer keys get KeyTooLongError."""


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Request:
    """A request with its S3 coordinates decoded.

    ``bucket`` None is the service (``GET /``); ``key`` None is the bucket itself (``/b`` and
    ``/b/`` alike: s3cmd addresses buckets with a trailing slash). ``query`` holds the first
    value of each parameter, blank values kept (``?uploads``, ``delimiter=``).
    """

    head: RequestHead
    method: str
    bucket: str | None
    key: str | None
    query: Mapping[str, str]
    headers: Mapping[str, str]
    """The first value of each header, by lower-case name: planning reads ~20 of them."""

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def resource(self) -> str:
        """What error documents name in ``<Resource>``: the decoded path."""
        if self.bucket is None:
            return "/"
        if self.key is None:
            return f"/{self.bucket}"
        return f"/{self.bucket}/{self.key}"


def parse(head: RequestHead, *, virtual_host_buckets: Collection[str] = ()) -> S3Request:
    """Split the raw path into bucket and key, decoding the key exactly once.

    ``+`` in a path is a literal plus (only query strings use form encoding), so ``unquote`` and
    never ``unquote_plus``: boto3 sends ``sp%20ace+plus`` for the key ``sp ace+plus``.
    """
    # A presigned URL may carry headers as query parameters (the JS SDK's presigner hoists
    # x-amz-meta-*, x-amz-checksum-* ...): from here on they are the headers they stand for.
    head = hoisted_headers(head)
    _check_header_section(head)
    path = _strip_absolute_uri(head.path)
    if not path.startswith("/"):
        raise errors.InvalidRequest("The request target must be an absolute path.")
    bucket_part, sep, key_part = path[1:].partition("/")
    bucket: str | None = _decode(bucket_part) or None
    key: str | None = _decode(key_part) if sep and key_part else None

    host_bucket = _virtual_host_bucket(head.host, virtual_host_buckets)
    if host_bucket is not None:
        # bucket.host/key: what was the bucket segment is the first part of the key.
        whole = path[1:]
        bucket, key = host_bucket, (_decode(whole) or None)

    if key is not None and len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise errors.KeyTooLongError(resource=f"/{bucket}/{key[:64]}...")
    query: dict[str, str] = {}
    for name, value in head.query:
        if not _is_text(name) or not _is_text(value):
            # Transports keep bytes that are not UTF-8 as lone surrogates so that this is the
            # one place that refuses them (they could reach XML or headers otherwise).
            raise errors.InvalidArgument("A query parameter is not valid UTF-8.")
        query.setdefault(name, value)
    headers: dict[str, str] = {}
    for name, value in head.headers:
        headers.setdefault(name, value)
    return S3Request(
        head=head,
        method=head.method.upper(),
        bucket=bucket,
        key=key,
        query=MappingProxyType(query),
        headers=MappingProxyType(headers),
    )


def _decode(raw: str) -> str:
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise errors.InvalidArgument("The key is not valid UTF-8 once percent-decoded.") from exc


def _strip_absolute_uri(target: str) -> str:
    """``GET http://host/b/k HTTP/1.1`` is legal HTTP/1.1; only its path addresses the object."""
    if target.startswith(("http://", "https://")):
        try:
            parts = urlsplit(target)
        except ValueError:  # an authority urlsplit refuses, such as "http://[::1/x"
            raise errors.InvalidRequest("The request target is not a valid URI.") from None
        return parts.path or "/"
    return target


def _check_header_section(head: RequestHead) -> None:
    size = sum(len(name) + len(value) + 4 for name, value in head.headers)
    if size > MAX_HEADER_SECTION_BYTES:
        raise errors.RequestHeaderSectionTooLarge()


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _virtual_host_bucket(host: str, buckets: Collection[str]) -> str | None:
    """The bucket named by a virtual-host Host header (``labresults.localhost:9000``), if any."""
    if not host or not buckets:
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    first, dot, _rest = name.partition(".")
    if dot and first in buckets:
        return first
    return None
