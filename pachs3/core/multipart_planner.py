"""The plans of the multipart operations: create, upload a part (or copy one), complete,
abort, list parts. ``planner.PLANNERS`` finds them; the upload's lifecycle against a backend is
``pachs3/multipart.py``'s, its pure decisions ``core/multipart.py``'s.
"""

from __future__ import annotations

from dataclasses import replace

from pachs3.core import errors, headers, versions
from pachs3.core.checksum_types import upload_checksum
from pachs3.core.expectations import write_expectation
from pachs3.core.layout import Layout
from pachs3.core.plans import (
    AbortUpload,
    ComposeParts,
    CopyPart,
    ListParts,
    Plan,
    StartUpload,
    UploadRef,
    WritePart,
)
from pachs3.core.refs import CommitRef
from pachs3.core.request import S3Request

__all__ = [
    "MAX_PART_NUMBER",
    "part_number",
    "plan_abort_upload",
    "plan_complete_upload",
    "plan_create_upload",
    "plan_list_parts",
    "plan_upload_part",
]

MAX_PART_NUMBER = 10_000


def plan_create_upload(request: S3Request, layout: Layout) -> Plan:
    bucket = layout.writable(_bucket(request))
    checksum = upload_checksum(
        request.header("x-amz-checksum-algorithm"), request.header("x-amz-checksum-type")
    )
    return StartUpload(
        dst=bucket.ref,
        bucket=bucket.name,
        path=_key(request),
        staging_repo=layout.staging_repo,
        metadata=headers.object_metadata(request),
        checksum_algorithm=checksum[0] if checksum else None,
        checksum_type=checksum[1] if checksum else None,
    )


def _upload(request: S3Request, layout: Layout) -> tuple[UploadRef, CommitRef]:
    bucket = layout.writable(_bucket(request))
    upload_id = request.query.get("uploadId", "")
    if not upload_id:
        raise errors.NoSuchUpload(resource=request.resource)
    staging = CommitRef(repo=layout.staging_repo, id=upload_id)
    upload = UploadRef(staging=staging, bucket=bucket.name, key=_key(request), dst=bucket.ref)
    return upload, bucket.ref


def part_number(request: S3Request) -> int:
    number = headers.optional_int(request.query.get("partNumber"), name="partNumber")
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise errors.InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            resource=request.resource,
        )
    return number


def plan_upload_part(request: S3Request, layout: Layout) -> Plan:
    upload, _dst = _upload(request, layout)
    number = part_number(request)
    if request.header("x-amz-copy-source") is None:
        return WritePart(upload=upload, part_number=number, body=headers.body_spec(request))
    src_bucket_name, src_key = headers.copy_source(request)
    src_bucket = layout.readable(src_bucket_name)
    return CopyPart(
        upload=upload,
        part_number=number,
        src=src_bucket.ref,
        src_bucket=src_bucket.name,
        src_path=src_key,
        range_header=request.header("x-amz-copy-source-range"),
        source_conditions=headers.read_conditions(request, prefix="x-amz-copy-source-"),
        src_version=versions.copy_source_version(request, src_bucket),
    )


def plan_complete_upload(request: S3Request, layout: Layout) -> Plan:
    upload, dst = _upload(request, layout)
    spec = headers.body_spec(request)
    # On CompleteMultipartUpload an x-amz-checksum-<name> header is the whole object's
    # checksum (a FULL_OBJECT upload), not one of the XML body it carries.
    checksum_type = request.header("x-amz-checksum-type")
    return ComposeParts(
        upload=upload,
        dst=dst,
        body=replace(spec, checksums={}),
        expect=write_expectation(request.header("if-match"), request.header("if-none-match")),
        object_checksums=spec.checksums,
        checksum_type=checksum_type.strip().upper() if checksum_type else None,
    )


def plan_abort_upload(request: S3Request, layout: Layout) -> Plan:
    upload, _dst = _upload(request, layout)
    return AbortUpload(upload=upload)


def plan_list_parts(request: S3Request, layout: Layout) -> Plan:
    upload, _dst = _upload(request, layout)
    max_parts = headers.optional_int(request.query.get("max-parts"), name="max-parts")
    marker = headers.optional_int(
        request.query.get("part-number-marker"), name="part-number-marker"
    )
    return ListParts(
        upload=upload,
        max_parts=min(max_parts if max_parts is not None else 1000, 1000),
        part_number_marker=marker or 0,
    )


def _bucket(request: S3Request) -> str:
    assert request.bucket is not None  # routing gives object scope only here
    return request.bucket


def _key(request: S3Request) -> str:
    assert request.key is not None  # routing gives object scope only here
    return request.key
