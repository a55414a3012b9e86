"""classify: which S3 operation a request is, from one table.

The key is (method, scope, subresource). Subresources are looked at before anything else, so
``PUT /b/k?acl`` is PutObjectAcl and never a PutObject that would store the ACL document as the
object (s3cmd sends it after every copy; a router keyed on method and path alone overwrote the
copied object in our captures: clients.md §3.13).
"""

from __future__ import annotations

from typing import Literal

from pachs3.core import errors
from pachs3.core.request import S3Request

Scope = Literal["service", "bucket", "object"]

# Query names that select a different operation on the same path. Order matters only when a
# request carries several (``?uploadId=..&partNumber=..`` is UploadPart: uploadId decides).
SUBRESOURCES = (
    "uploadId",
    "uploads",
    "delete",
    "location",
    "versioning",
    "acl",
    "tagging",
    "policy",
    "policyStatus",
    "cors",
    "lifecycle",
    "website",
    "encryption",
    "versions",
    "logging",
    "notification",
    "replication",
    "requestPayment",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "object-lock",
    "publicAccessBlock",
    "ownershipControls",
    "legal-hold",
    "retention",
    "torrent",
    "restore",
    "select",
    "attributes",
    "session",
)

# Parameters that ride along with ordinary requests and select nothing: SDK routing hints
# (botocore adds ``x-id=PutObject``), presigned-URL authentication, listing and read options.
ORDINARY_PARAMETERS = frozenset(
    {
        "x-id",
        "list-type",
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "encoding-type",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "versionId",
        "partNumber",
        "key-marker",
        "upload-id-marker",
        "max-uploads",
        "max-parts",
        "part-number-marker",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "X-Amz-Content-Sha256",
        "AWSAccessKeyId",
        "Signature",
        "Expires",
        "x-amz-checksum-mode",
    }
)

Operation = Literal[
    "ListBuckets",
    "HeadBucket",
    "CreateBucket",
    "DeleteBucket",
    "GetBucketLocation",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "ListObjects",
    "ListObjectVersions",
    "ListMultipartUploads",
    "DeleteObjects",
    "GetBucketAcl",
    "PutBucketAcl",
    "GetBucketConfiguration",
    "GetObject",
    "HeadObject",
    "PutObject",
    "DeleteObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
]

ROUTES: dict[tuple[str, Scope, str], Operation] = {
    ("GET", "service", ""): "ListBuckets",
    # Pachyderm's worker probes ``GET /`` before each datum; HEAD / answers the same way.
    ("HEAD", "service", ""): "ListBuckets",
    ("HEAD", "bucket", ""): "HeadBucket",
    ("PUT", "bucket", ""): "CreateBucket",
    ("DELETE", "bucket", ""): "DeleteBucket",
    ("GET", "bucket", ""): "ListObjects",
    ("GET", "bucket", "location"): "GetBucketLocation",
    ("GET", "bucket", "versioning"): "GetBucketVersioning",
    ("PUT", "bucket", "versioning"): "PutBucketVersioning",
    ("GET", "bucket", "versions"): "ListObjectVersions",
    ("GET", "bucket", "uploads"): "ListMultipartUploads",
    ("POST", "bucket", "delete"): "DeleteObjects",
    ("GET", "bucket", "acl"): "GetBucketAcl",
    ("PUT", "bucket", "acl"): "PutBucketAcl",
    ("GET", "bucket", "policy"): "GetBucketConfiguration",
    ("GET", "bucket", "cors"): "GetBucketConfiguration",
    ("GET", "bucket", "lifecycle"): "GetBucketConfiguration",
    ("GET", "bucket", "website"): "GetBucketConfiguration",
    ("GET", "bucket", "encryption"): "GetBucketConfiguration",
    ("GET", "bucket", "tagging"): "GetBucketConfiguration",
    ("GET", "object", ""): "GetObject",
    ("HEAD", "object", ""): "HeadObject",
    ("PUT", "object", ""): "PutObject",
    ("DELETE", "object", ""): "DeleteObject",
    ("POST", "object", "uploads"): "CreateMultipartUpload",
    ("PUT", "object", "uploadId"): "UploadPart",
    ("POST", "object", "uploadId"): "CompleteMultipartUpload",
    ("DELETE", "object", "uploadId"): "AbortMultipartUpload",
    ("GET", "object", "uploadId"): "ListParts",
    ("GET", "object", "acl"): "GetObjectAcl",
    ("PUT", "object", "acl"): "PutObjectAcl",
    ("GET", "object", "tagging"): "GetObjectTagging",
}

KNOWN_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})


def scope_of(request: S3Request) -> Scope:
    if request.bucket is None:
        return "service"
    return "bucket" if request.key is None else "object"


def subresource_of(request: S3Request) -> str:
    """The subresource a request names, '' for none; unknown names on a write are refused.

    A write carrying a query name we do not know could be an operation we do not implement;
    treating it as a plain PutObject/DeleteObject would change data the client did not mean to
    change, so it is NotImplemented. Reads ignore unknown names, as AWS does.
    """
    for name in SUBRESOURCES:
        if name in request.query:
            return name
    if request.method in ("PUT", "POST", "DELETE"):
        unknown = [n for n in request.query if n not in ORDINARY_PARAMETERS]
        if unknown:
            raise errors.NotImplementedByGateway(
                f"The query parameter {unknown[0]!r} is not supported by this gateway.",
                resource=request.resource,
            )
    return ""


def classify(request: S3Request) -> Operation:
    if request.method not in KNOWN_METHODS:
        raise errors.MethodNotAllowed(resource=request.resource)
    scope = scope_of(request)
    subresource = subresource_of(request)
    operation = ROUTES.get((request.method, scope, subresource))
    if operation is not None:
        return operation
    if subresource:
        raise errors.NotImplementedByGateway(
            f"The {subresource!r} subresource is not supported by this gateway.",
            resource=request.resource,
        )
    raise errors.MethodNotAllowed(resource=request.resource)
