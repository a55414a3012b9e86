"""The XML documents S3 answers with, built as ordered mappings and rendered by core/xml.py.

Element order follows AWS's own responses; values are strings (numbers and booleans are
spelled the way AWS spells them: ``true``/``false``). One exception, for speed: the up to 1000
``<Contents>`` of a listing page are written directly, one f-string each (``_contents``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from pachs3.core.dates import format_iso8601
from pachs3.core.headers import CHECKSUM_HEADER_PREFIX
from pachs3.core.layout import Layout
from pachs3.core.listing import encode_key_url, encode_token
from pachs3.core.outcomes import Listed, PartsListed, UploadsListed
from pachs3.core.plans import ListFiles, ListUploads, UploadRef
from pachs3.core.refs import FileInfo
from pachs3.core.xml import Prerendered, escape_text, render_document

OWNER_ID = "0" * 64
OWNER_NAME = "pachs3"
STORAGE_CLASS = "STANDARD"

Document = dict[str, Any]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


def _owner() -> Document:
    return {"ID": OWNER_ID, "DisplayName": OWNER_NAME}


def list_buckets(layout: Layout) -> bytes:
    buckets = [
        {"Name": b.name, "CreationDate": format_iso8601(b.created)}
        for b in sorted(layout.buckets.values(), key=lambda b: b.name)
    ]
    return render_document(
        "ListAllMyBucketsResult", {"Owner": _owner(), "Buckets": {"Bucket": buckets}}
    )


def location() -> bytes:
    # An empty LocationConstraint means us-east-1; minio-py asks before its first request and
    # S3A probes it (clients.md §3.20). Any region is accepted in signatures.
    return render_document("LocationConstraint", {})


def versioning() -> bytes:
    return render_document("VersioningConfiguration", {})


def access_control_policy() -> bytes:
    grant = {
        "Grantee": {
            # As AWS sends it; s3cmd's ACL parser fails with a KeyError without xsi:type.
            "@xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "@xsi:type": "CanonicalUser",
            "ID": OWNER_ID,
            "DisplayName": OWNER_NAME,
        },
        "Permission": "FULL_CONTROL",
    }
    return render_document(
        "AccessControlPolicy",
        {"Owner": _owner(), "AccessControlList": {"Grant": [grant]}},
    )


def empty_tagging() -> bytes:
    return render_document("Tagging", {"TagSet": {}})


def _listing_encoder(plan: ListFiles | ListUploads) -> Any:
    if plan.encode_url:
        return encode_key_url
    return lambda value: value


def list_objects(plan: ListFiles, listed: Listed) -> bytes:
    """ListObjects V1 and V2 share one shape; V2 adds KeyCount and continuation tokens."""
    enc = _listing_encoder(plan)
    # V1 echoes Prefix as sent even under encoding-type=url; V2 encodes it. botocore decodes
    # exactly those fields (V1: Delimiter, Marker, NextMarker; V2: Delimiter, Prefix, StartAfter),
    # so a prefix such as "\n" comes back as sent in both (s3-tests prefix_unreadable).
    doc: Document = {
        "Name": plan.bucket,
        "Prefix": enc(plan.prefix) if plan.version == 2 else plan.prefix,
    }
    if plan.version == 1:
        doc["Marker"] = enc(plan.marker)
    if plan.delimiter:
        doc["Delimiter"] = enc(plan.delimiter)
    doc["MaxKeys"] = str(plan.max_keys)
    if plan.encode_url:
        doc["EncodingType"] = "url"
    if plan.version == 2:
        doc["KeyCount"] = str(len(listed.files) + len(listed.prefixes))
    doc["IsTruncated"] = _bool(listed.truncated)
    if plan.version == 1:
        if listed.truncated and listed.last is not None:
            # AWS sends NextMarker only with a delimiter; rclone and s3cmd page with it, and it
            # is always right, so it is always sent when the page is truncated.
            doc["NextMarker"] = enc(listed.last)
    else:
        if plan.continuation_token is not None:
            doc["ContinuationToken"] = plan.continuation_token
        if listed.truncated and listed.last is not None:
            doc["NextContinuationToken"] = encode_token(listed.last)
        if plan.start_after_param:
            doc["StartAfter"] = enc(plan.start_after_param)
    with_owner = plan.version == 1 or plan.fetch_owner
    doc["Contents"] = Prerendered(_contents(listed.files, plan.encode_url, with_owner=with_owner))
    doc["CommonPrefixes"] = [{"Prefix": enc(p)} for p in listed.prefixes]
    return render_document("ListBucketResult", doc)


def _contents(files: Iterable[FileInfo], encode_url: bool, *, with_owner: bool) -> str:
    """The ``<Contents>`` of a page, one f-string per key (a page has up to 1000 of them).

    The bytes are those the generic builder writes for ``{"Key": ..., "LastModified": ...,
    "ETag": ..., "Size": ..., "StorageClass": ..., ["ChecksumAlgorithm": [...],
    "ChecksumType": ...], ["Owner": ...]}`` (tests/core/test_listing_render_equivalence.py
    holds that version and compares). Only text that may hold ``&<>`` or control characters is
    escaped: the key (unless URL-encoded: ``quote`` writes only ``A-Za-z0-9_.~/%-``), the
    ETag (whatever the backend keeps; quotes stay literal) and checksum names. LastModified is
    digits and ``-:.TZ``, Size an ``int``, StorageClass and Owner constants.
    """
    key_text: Callable[[str], str] = encode_key_url if encode_url else escape_text
    owner = _OWNER_XML if with_owner else ""
    iso = format_iso8601
    return "".join(
        [
            f"<Contents><Key>{key_text(info.path)}</Key>"
            f"<LastModified>{iso(info.modified)}</LastModified>"
            f'<ETag>"{escape_text(info.etag)}"</ETag><Size>{info.size!s}</Size>'
            f"<StorageClass>{STORAGE_CLASS}</StorageClass>"
            f"{_checksum_xml(info.metadata) if info.metadata else ''}{owner}</Contents>"
            for info in files
        ]
    )


def _checksum_xml(metadata: Mapping[str, str]) -> str:
    # AWS lists the algorithm of an object stored with a checksum (boto3 >= 1.36 sends CRC32 by
    # default), and the checksum's type.
    algorithms = "".join(
        f"<ChecksumAlgorithm>{escape_text(name.removeprefix(CHECKSUM_HEADER_PREFIX).upper())}"
        "</ChecksumAlgorithm>"
        for name in metadata
        if name.startswith(CHECKSUM_HEADER_PREFIX)
    )
    return f"{algorithms}<ChecksumType>FULL_OBJECT</ChecksumType>" if algorithms else ""


_OWNER_XML: Final = (
    f"<Owner><ID>{escape_text(OWNER_ID)}</ID>"
    f"<DisplayName>{escape_text(OWNER_NAME)}</DisplayName></Owner>"
)


def copy_result(etag: str, modified: datetime, *, part: bool = False) -> bytes:
    root = "CopyPartResult" if part else "CopyObjectResult"
    return render_document(
        root, {"LastModified": format_iso8601(modified), "ETag": quote_etag(etag)}
    )


def initiate_upload(bucket: str, key: str, upload_id: str) -> bytes:
    return render_document(
        "InitiateMultipartUploadResult", {"Bucket": bucket, "Key": key, "UploadId": upload_id}
    )


def complete_upload(bucket: str, key: str, etag: str) -> bytes:
    return render_document(
        "CompleteMultipartUploadResult",
        {
            "Location": f"/{bucket}/{key}",
            "Bucket": bucket,
            "Key": key,
            "ETag": quote_etag(etag),
        },
    )


def delete_result(deleted: Iterable[str], failed: Iterable[tuple[str, str, str]]) -> bytes:
    return render_document(
        "DeleteResult",
        {
            "Deleted": [{"Key": key} for key in deleted],
            "Error": [{"Key": key, "Code": code, "Message": msg} for key, code, msg in failed],
        },
    )


def list_parts(upload: UploadRef, listed: PartsListed, plan_max: int, marker: int) -> bytes:
    doc: Document = {
        "Bucket": upload.bucket,
        "Key": upload.key,
        "UploadId": upload.staging.id,
        "Initiator": _owner(),
        "Owner": _owner(),
        "StorageClass": STORAGE_CLASS,
        "PartNumberMarker": str(marker),
        "NextPartNumberMarker": str(listed.next_marker),
        "MaxParts": str(plan_max),
        "IsTruncated": _bool(listed.truncated),
        "Part": [
            {
                "PartNumber": str(p.number),
                "LastModified": format_iso8601(p.modified),
                "ETag": quote_etag(p.etag),
                "Size": str(p.size),
            }
            for p in listed.parts
        ],
    }
    return render_document("ListPartsResult", doc)


def list_uploads(plan: ListUploads, listed: UploadsListed) -> bytes:
    enc = _listing_encoder(plan)
    last = listed.uploads[-1] if listed.uploads else None
    doc: Document = {
        "Bucket": plan.bucket,
        "KeyMarker": enc(plan.key_marker),
        "UploadIdMarker": plan.upload_id_marker,
        "NextKeyMarker": enc(last.key) if last and listed.truncated else "",
        "NextUploadIdMarker": last.upload_id if last and listed.truncated else "",
        "Prefix": enc(plan.prefix),
        "MaxUploads": str(plan.max_uploads),
        "IsTruncated": _bool(listed.truncated),
        "Upload": [
            {
                "Key": enc(u.key),
                "UploadId": u.upload_id,
                "Initiator": _owner(),
                "Owner": _owner(),
                "StorageClass": STORAGE_CLASS,
                "Initiated": format_iso8601(u.initiated),
            }
            for u in listed.uploads
        ],
    }
    if plan.encode_url:
        doc["EncodingType"] = "url"
    return render_document("ListMultipartUploadsResult", doc)
