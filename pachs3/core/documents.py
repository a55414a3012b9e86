"""The XML documents S3 answers with, built as ordered mappings and rendered by core/xml/render.py.

Element order follows AWS's own responses; values are strings (numbers and booleans are
spelled the way AWS spells them: ``true``/``false``). The ListObjects page is
``core/listing/document.py``'s, beside the rest of listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pachs3.core.dates import format_iso8601
from pachs3.core.digests import CHECKSUM_ELEMENTS
from pachs3.core.layout import Bucket
from pachs3.core.listing import key_encoder
from pachs3.core.outcomes import PartsListed, UploadsListed
from pachs3.core.plans import ListUploads, UploadRef
from pachs3.core.xml.render import render_document

OWNER_ID = "0" * 64
OWNER_NAME = "pachs3"
STORAGE_CLASS = "STANDARD"

Document = dict[str, Any]


def aws_bool(value: bool) -> str:
    return "true" if value else "false"


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


def _owner() -> Document:
    return {"ID": OWNER_ID, "DisplayName": OWNER_NAME}


def list_buckets(listed: Sequence[Bucket]) -> bytes:
    buckets = [{"Name": b.name, "CreationDate": format_iso8601(b.created)} for b in listed]
    return render_document(
        "ListAllMyBucketsResult", {"Owner": _owner(), "Buckets": {"Bucket": buckets}}
    )


def location() -> bytes:
    # An empty LocationConstraint means us-east-1; minio-py asks before its first request and
    # S3A probes it (clients.md §3.20). Any region is accepted in signatures.
    return render_document("LocationConstraint", {})


def versioning() -> bytes:
    """Enabled, in both gateways: PFS keeps every commit, and a version is a commit."""
    return render_document("VersioningConfiguration", {"Status": "Enabled"})


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


def copy_result(
    etag: str, modified: datetime, *, part: bool = False, checksums: Mapping[str, str] | None = None
) -> bytes:
    """CopyObjectResult, or CopyPartResult with ``part``; ``checksums`` (algorithm name to
    value) follow the ETag as ``Checksum<NAME>``, as AWS lists them."""
    root = "CopyPartResult" if part else "CopyObjectResult"
    fields: dict[str, str] = {"LastModified": format_iso8601(modified), "ETag": quote_etag(etag)}
    for name, value in (checksums or {}).items():
        fields[CHECKSUM_ELEMENTS[name]] = value
    return render_document(root, fields)


def initiate_upload(bucket: str, key: str, upload_id: str) -> bytes:
    return render_document(
        "InitiateMultipartUploadResult", {"Bucket": bucket, "Key": key, "UploadId": upload_id}
    )


def complete_upload(
    bucket: str,
    key: str,
    etag: str,
    checksums: Mapping[str, str] | None = None,
    checksum_type: str | None = None,
) -> bytes:
    """``checksums`` maps algorithm names (``crc32``) to the object's values; AWS lists each as
    ``Checksum<NAME>`` after the ETag, then ``ChecksumType``."""
    fields: dict[str, object] = {
        "Location": f"/{bucket}/{key}",
        "Bucket": bucket,
        "Key": key,
        "ETag": quote_etag(etag),
    }
    for name, value in (checksums or {}).items():
        fields[CHECKSUM_ELEMENTS[name]] = value
    if checksum_type:
        fields["ChecksumType"] = checksum_type
    return render_document("CompleteMultipartUploadResult", fields)


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
        "IsTruncated": aws_bool(listed.truncated),
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
    enc = key_encoder(plan.encode_url)
    last = listed.uploads[-1] if listed.uploads else None
    doc: Document = {
        "Bucket": plan.bucket,
        "KeyMarker": enc(plan.key_marker),
        "UploadIdMarker": plan.upload_id_marker,
        "NextKeyMarker": enc(last.key) if last and listed.truncated else "",
        "NextUploadIdMarker": last.upload_id if last and listed.truncated else "",
        "Prefix": enc(plan.prefix),
        "MaxUploads": str(plan.max_uploads),
        "IsTruncated": aws_bool(listed.truncated),
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
