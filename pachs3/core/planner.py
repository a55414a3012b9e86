"""plan: (operation, request, layout) -> Plan. Bucket policy is decided here, purely.

One short function per operation, found through ``PLANNERS``. Reads resolve their bucket with
``layout.readable``; writes with ``layout.writable`` (a sidecar's ``out`` only; a global
gateway's branches without provenance), so a write to a read-only bucket is refused before
anything is read or stored. Bucket creation and deletion are the layout's own decisions, and
the layout may wrap a write (``commit_writes``: the global gateway commits each one).
"""

from __future__ import annotations

from collections.abc import Callable

from pachs3.core import documents, errors, headers, multipart_planner, versions
from pachs3.core.expectations import Expectation, delete_expectation, write_expectation
from pachs3.core.layout import Layout
from pachs3.core.listing.params import list_objects_plan, list_uploads_plan
from pachs3.core.listing.versions import list_versions_plan
from pachs3.core.plans import (
    Answer,
    CopyFile,
    DeleteFile,
    DeleteFiles,
    Plan,
    ReadFile,
    SetVersioning,
    WriteFile,
)
from pachs3.core.refs import CommitRef
from pachs3.core.request import S3Request
from pachs3.core.routing import Operation

Planner = Callable[[S3Request, Layout], Plan]


def plan(operation: Operation, request: S3Request, layout: Layout) -> Plan:
    return layout.commit_writes(PLANNERS[operation](request, layout), _describe(operation, request))


def _describe(operation: Operation, request: S3Request) -> str:
    """What a write was, for the description of the commit it may become (global gateway)."""
    if operation == "PutObject" and request.header("x-amz-copy-source") is not None:
        operation_name = "CopyObject"
    else:
        operation_name = operation
    return f"{operation_name} {request.resource} (pachs3 global gateway)"


# ---------------------------------------------------------------------------------------------
# Service and buckets


def _list_buckets(request: S3Request, layout: Layout) -> Plan:
    return Answer(document=documents.list_buckets(layout.listed()))


def _head_bucket(request: S3Request, layout: Layout) -> Plan:
    layout.readable(_bucket(request))
    # us-east-1, as GetBucketLocation says; S3A and minio-py read it to pick a signing region.
    return Answer(headers=(("x-amz-bucket-region", "us-east-1"),))


def _create_bucket(request: S3Request, layout: Layout) -> Plan:
    return layout.create_bucket(_bucket(request), request.resource)


def _delete_bucket(request: S3Request, layout: Layout) -> Plan:
    return layout.delete_bucket(_bucket(request), request.resource)


def _get_bucket_location(request: S3Request, layout: Layout) -> Plan:
    layout.readable(_bucket(request))
    return Answer(document=documents.location())


def _get_bucket_versioning(request: S3Request, layout: Layout) -> Plan:
    layout.readable(_bucket(request))
    return Answer(document=documents.versioning())


def _put_bucket_versioning(request: S3Request, layout: Layout) -> Plan:
    bucket = layout.writable(_bucket(request))
    return SetVersioning(bucket=bucket.name, body=headers.body_spec(request))


def _list_versions(request: S3Request, layout: Layout) -> Plan:
    return list_versions_plan(request, layout.readable(_bucket(request)))


def _not_implemented(request: S3Request, layout: Layout) -> Plan:
    layout.readable(_bucket(request))
    raise errors.NotImplementedByGateway(resource=request.resource)


def _get_bucket_acl(request: S3Request, layout: Layout) -> Plan:
    """A canned private ACL: s3cmd ``info`` and ``cp`` read it, and nothing else is true."""
    layout.readable(_bucket(request))
    return Answer(document=documents.access_control_policy())


def _get_object_acl(request: S3Request, layout: Layout) -> Plan:
    """The same canned ACL, for an object that exists (AWS: NoSuchKey for a missing one)."""
    return _about_object(request, layout, documents.access_control_policy())


def _about_object(
    request: S3Request, layout: Layout, document: bytes, *, must_exist: bool = True
) -> Plan:
    """An answer about an object; of the version ``versionId`` names, if any (which must then
    hold it: NoSuchVersion otherwise)."""
    bucket = layout.readable(_bucket(request))
    version = versions.requested_version(request, bucket)
    checked = must_exist or version is not None
    return Answer(
        document=document,
        file_must_exist=(bucket.ref, _key(request)) if checked else None,
        file_version=version,
    )


def _put_acl(request: S3Request, layout: Layout) -> Plan:
    """Accepted and ignored on ``out`` (s3cmd sends ``PUT ?acl`` after each copy, rclone
    ``x-amz-acl: private`` on uploads); refused on inputs like every other write."""
    layout.writable(_bucket(request))
    return Answer()


def _get_bucket_configuration(request: S3Request, layout: Layout) -> Plan:
    """Configurations a sidecar bucket never has: the "no such ..." error AWS gives for a bucket
    without one (s3cmd ``info`` reads policy and CORS and expects exactly these codes)."""
    layout.readable(_bucket(request))
    subresource = next(n for n in NO_SUCH_CONFIGURATION if n in request.query)
    raise NO_SUCH_CONFIGURATION[subresource](resource=request.resource)


NO_SUCH_CONFIGURATION: dict[str, type[errors.S3Error]] = {
    "policy": errors.NoSuchBucketPolicy,
    "cors": errors.NoSuchCORSConfiguration,
    "lifecycle": errors.NoSuchLifecycleConfiguration,
    "website": errors.NoSuchWebsiteConfiguration,
    "encryption": errors.ServerSideEncryptionConfigurationNotFoundError,
    "tagging": errors.NoSuchTagSet,
}


def _list_objects(request: S3Request, layout: Layout) -> Plan:
    bucket = layout.readable(_bucket(request))
    return list_objects_plan(request, bucket)


def _list_uploads(request: S3Request, layout: Layout) -> Plan:
    bucket = layout.writable(_bucket(request))
    return list_uploads_plan(request, bucket, layout.staging_repo)


def _delete_objects(request: S3Request, layout: Layout) -> Plan:
    bucket = layout.writable(_bucket(request))
    return DeleteFiles(ref=bucket.ref, bucket=bucket.name, body=headers.body_spec(request))


# ---------------------------------------------------------------------------------------------
# Objects


def _get_object(request: S3Request, layout: Layout, *, head_only: bool = False) -> Plan:
    bucket = layout.readable(_bucket(request))
    key = _key(request)
    mode = request.header("x-amz-checksum-mode") or request.query.get("x-amz-checksum-mode", "")
    part_number = multipart_planner.part_number(request) if "partNumber" in request.query else None
    if part_number is not None and request.header("range") is not None:
        raise errors.InvalidRequest(
            "Cannot specify both Range header and partNumber query parameter.",
            resource=request.resource,
        )
    return ReadFile(
        ref=bucket.ref,
        bucket=bucket.name,
        path=key,
        range_header=request.header("range"),
        conditions=headers.read_conditions(request),
        head_only=head_only,
        # boto3 sends "ENABLED", pyarrow "enabled" (clients.md §1b).
        checksum_mode=mode.upper() == "ENABLED",
        part_number=part_number,
        overrides=headers.response_overrides(request),
        version=versions.requested_version(request, bucket),
    )


def _head_object(request: S3Request, layout: Layout) -> Plan:
    return _get_object(request, layout, head_only=True)


def _put_object(request: S3Request, layout: Layout) -> Plan:
    bucket = layout.writable(_bucket(request))
    key = _key(request)
    if request.header("x-amz-copy-source") is not None:
        return _copy_object(request, layout, bucket.ref, bucket.name, key)
    return WriteFile(
        ref=bucket.ref,
        bucket=bucket.name,
        path=key,
        body=headers.body_spec(request),
        metadata=headers.object_metadata(request),
        expect=_write_expectation(request),
    )


def _write_expectation(request: S3Request) -> Expectation | None:
    """``If-Match`` / ``If-None-Match`` of a write, refused before its body is read."""
    return write_expectation(request.header("if-match"), request.header("if-none-match"))


def _copy_object(
    request: S3Request, layout: Layout, dst: CommitRef, dst_bucket: str, dst_key: str
) -> Plan:
    src_bucket_name, src_key = headers.copy_source(request)
    src_bucket = layout.readable(src_bucket_name)
    directive = (request.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown metadata directive.", resource=request.resource)
    src_version = versions.copy_source_version(request, src_bucket)
    # Copying an old version onto its own key is a restore, which AWS allows.
    onto_itself = src_bucket.name == dst_bucket and src_key == dst_key and src_version is None
    if directive == "COPY" and onto_itself:
        raise errors.InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes.",
            resource=request.resource,
        )
    return CopyFile(
        src=src_bucket.ref,
        src_bucket=src_bucket.name,
        src_path=src_key,
        dst=dst,
        dst_bucket=dst_bucket,
        dst_path=dst_key,
        metadata=headers.object_metadata(request) if directive == "REPLACE" else None,
        source_conditions=headers.read_conditions(request, prefix="x-amz-copy-source-"),
        expect=_write_expectation(request),
        src_version=src_version,
    )


def _delete_object(request: S3Request, layout: Layout) -> Plan:
    bucket = layout.writable(_bucket(request))
    expect = delete_expectation(
        if_match=request.header("if-match"),
        size=request.header("x-amz-if-match-size"),
        modified=request.header("x-amz-if-match-last-modified-time"),
    )
    version = request.query.get("versionId")
    if version is not None:
        version = versions.check_version_id(version, resource=request.resource)
    return DeleteFile(
        ref=bucket.ref, bucket=bucket.name, path=_key(request), expect=expect, version=version
    )


def _get_object_tagging(request: S3Request, layout: Layout) -> Plan:
    return _about_object(request, layout, documents.empty_tagging(), must_exist=False)


def _bucket(request: S3Request) -> str:
    assert request.bucket is not None  # routing gives bucket and object scopes only
    return request.bucket


def _key(request: S3Request) -> str:
    assert request.key is not None  # routing gives object scope only
    return request.key


PLANNERS: dict[Operation, Planner] = {
    "ListBuckets": _list_buckets,
    "HeadBucket": _head_bucket,
    "CreateBucket": _create_bucket,
    "DeleteBucket": _delete_bucket,
    "GetBucketLocation": _get_bucket_location,
    "GetBucketVersioning": _get_bucket_versioning,
    "PutBucketVersioning": _put_bucket_versioning,
    "ListObjects": _list_objects,
    "ListObjectVersions": _list_versions,
    "ListMultipartUploads": _list_uploads,
    "DeleteObjects": _delete_objects,
    "GetBucketAcl": _get_bucket_acl,
    "PutBucketAcl": _put_acl,
    "GetBucketConfiguration": _get_bucket_configuration,
    "GetObject": _get_object,
    "HeadObject": _head_object,
    "PutObject": _put_object,
    "DeleteObject": _delete_object,
    "CreateMultipartUpload": multipart_planner.plan_create_upload,
    "UploadPart": multipart_planner.plan_upload_part,
    "CompleteMultipartUpload": multipart_planner.plan_complete_upload,
    "AbortMultipartUpload": multipart_planner.plan_abort_upload,
    "ListParts": multipart_planner.plan_list_parts,
    "GetObjectAcl": _get_object_acl,
    "PutObjectAcl": _put_acl,
    "GetObjectTagging": _get_object_tagging,
}
