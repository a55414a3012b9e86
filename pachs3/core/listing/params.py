"""Listing requests: ListObjects V1 and V2, ListMultipartUploads -> plans."""

from __future__ import annotations

from typing import Literal

from pachs3.core import errors, headers
from pachs3.core.layout import Bucket
from pachs3.core.listing.pages import decode_token
from pachs3.core.plans import ListFiles, ListUploads
from pachs3.core.request import S3Request

MAX_KEYS = 1000
"""AWS returns at most 1000 keys a page and silently lowers larger ``max-keys``."""


def encode_url_requested(request: S3Request) -> bool:
    """``encoding-type=url`` (any other value: 400 InvalidArgument)."""
    return _encode_url(request)


def max_keys_of(request: S3Request, name: str) -> int:
    """``name`` (``max-keys``, ...) lowered to 1000 as AWS does; not a number: 400."""
    return _max(request, name)


def _encode_url(request: S3Request) -> bool:
    encoding = request.query.get("encoding-type")
    if encoding is None or encoding == "":
        return False
    if encoding.lower() != "url":
        raise errors.InvalidArgument(
            "Invalid Encoding Method specified in Request", resource=request.resource
        )
    return True


def _max(request: S3Request, name: str) -> int:
    value = headers.optional_int(request.query.get(name), name=name)
    return MAX_KEYS if value is None else min(value, MAX_KEYS)


def list_objects_plan(request: S3Request, bucket: Bucket) -> ListFiles:
    query = request.query
    version: Literal[1, 2] = 2 if query.get("list-type") == "2" else 1
    prefix = query.get("prefix", "")
    # s3fs, minio-py and rclone send an empty "delimiter=" for recursive listings: no delimiter.
    delimiter = query.get("delimiter", "")
    token = query.get("continuation-token")
    if version == 2:
        start_after_param = query.get("start-after", "")
        marker = ""
        # A continuation token supersedes start-after (AWS ListObjectsV2 docs). An empty one
        # lists from the start and is echoed (s3-tests test_bucket_listv2_continuationtoken_empty).
        start_after = decode_token(token) if token else start_after_param
    else:
        start_after_param = ""
        marker = query.get("marker", "")
        start_after = marker
        token = None
    return ListFiles(
        ref=bucket.ref,
        bucket=bucket.name,
        version=version,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        max_keys=_max(request, "max-keys"),
        encode_url=_encode_url(request),
        fetch_owner=query.get("fetch-owner", "").lower() == "true",
        marker=marker,
        continuation_token=token,
        start_after_param=start_after_param,
    )


def list_uploads_plan(request: S3Request, bucket: Bucket, staging_repo: str) -> ListUploads:
    query = request.query
    return ListUploads(
        dst=bucket.ref,
        bucket=bucket.name,
        staging_repo=staging_repo,
        prefix=query.get("prefix", ""),
        key_marker=query.get("key-marker", ""),
        upload_id_marker=query.get("upload-id-marker", ""),
        max_uploads=_max(request, "max-uploads"),
        encode_url=_encode_url(request),
    )
