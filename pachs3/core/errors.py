"""S3 errors: one class per S3 error code, its HTTP status and default message in one place.

Pure code raises these; ``SidecarGateway.handle`` renders them (one place) as the S3 error
document ``<Error><Code/><Message/><Resource/><RequestId/></Error>``. Anything else that escapes
becomes ``InternalError`` without leaking its text.

Hierarchy::

    S3Error                      (code, status, message as class attributes)
    ├── 400: BadDigest, BadRequest, EntityTooSmall, IncompleteBody, InvalidArgument,
    │        InvalidBucketName, InvalidDigest, InvalidPart, InvalidPartOrder, InvalidRequest,
    │        KeyTooLongError, IllegalVersioningConfigurationException, MalformedXML,
    │        MetadataTooLarge, InvalidChunkSizeError, XAmzContentSHA256Mismatch,
    │        MaxMessageLengthExceeded, UnexpectedContent, RequestHeaderSectionTooLarge,
    │        RequestTimeout, AuthorizationHeaderMalformed, AuthorizationQueryParametersError
    ├── 403: AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed
    ├── 404: NoSuchBucket, NoSuchKey, NoSuchVersion, NoSuchUpload, NoSuchBucketPolicy,
    │        NoSuchCORSConfiguration, NoSuchTagSet, NoSuchLifecycleConfiguration,
    │        NoSuchWebsiteConfiguration, ServerSideEncryptionConfigurationNotFoundError
    ├── 405: MethodNotAllowed
    ├── 409: BucketAlreadyOwnedByYou, BucketNotEmpty, OperationAborted
    ├── 411: MissingContentLength
    ├── 412: PreconditionFailed
    ├── 416: InvalidRange, InvalidPartNumber
    ├── 500: InternalError
    ├── 501: NotImplemented
    └── 503: ServiceUnavailable, SlowDown

304 Not Modified is not an error document in S3 (no body), so conditions report it as a value.
"""

from __future__ import annotations

from typing import ClassVar


class S3Error(Exception):
    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        resource: str = "",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.detail = message if message is not None else type(self).message
        super().__init__(self.detail)
        self.resource = resource
        self.headers = headers
        """Extra response headers the error must carry (416's ``Content-Range: bytes */N``)."""


def _error(code: str, status: int, message: str) -> type[S3Error]:
    return type(code, (S3Error,), {"code": code, "status": status, "message": message})


# fmt: off
# 400
BadDigest = _error("BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received.")
EntityTooSmall = _error("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size.")
IncompleteBody = _error("IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument")
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
InvalidPart = _error("InvalidPart", 400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
InvalidPartOrder = _error("InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered by part number.")
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request")
BadRequest = _error("BadRequest", 400, "An error occurred when parsing the HTTP request.")
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long")
IllegalVersioningConfigurationException = _error("IllegalVersioningConfigurationException", 400, "The Versioning element must be specified")
MalformedXML = _error("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema")
MetadataTooLarge = _error("MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size")
InvalidChunkSizeError = _error("InvalidChunkSizeError", 400, "Only the last chunk is allowed to have a size less than 8192 bytes")
XAmzContentSHA256Mismatch = _error("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed.")
MaxMessageLengthExceeded = _error("MaxMessageLengthExceeded", 400, "Your request was too big.")
UnexpectedContent = _error("UnexpectedContent", 400, "This request does not support content")
RequestHeaderSectionTooLarge = _error("RequestHeaderSectionTooLarge", 400, "Your request header section exceeds the maximum allowed size.")
RequestTimeout = _error("RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period.")
# 403
AccessDenied = _error("AccessDenied", 403, "Access Denied")
SignatureDoesNotMatch = _error("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided.")
InvalidAccessKeyId = _error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
RequestTimeTooSkewed = _error("RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large.")
# 404
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist")
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
NoSuchVersion = _error("NoSuchVersion", 404, "The specified version does not exist.")
NoSuchUpload = _error("NoSuchUpload", 404, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
NoSuchBucketPolicy = _error("NoSuchBucketPolicy", 404, "The bucket policy does not exist")
NoSuchCORSConfiguration = _error("NoSuchCORSConfiguration", 404, "The CORS configuration does not exist")
NoSuchTagSet = _error("NoSuchTagSet", 404, "The TagSet does not exist")
NoSuchLifecycleConfiguration = _error("NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist")
NoSuchWebsiteConfiguration = _error("NoSuchWebsiteConfiguration", 404, "The specified bucket does not have a website configuration")
ServerSideEncryptionConfigurationNotFoundError = _error("ServerSideEncryptionConfigurationNotFoundError", 404, "The server side encryption configuration was not found")
# 405
MethodNotAllowed = _error("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
# 409
BucketAlreadyOwnedByYou = _error("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it.")
BucketNotEmpty = _error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
OperationAborted = _error("OperationAborted", 409, "A conflicting conditional operation is currently in progress against this resource. Please try again.")
# 411
MissingContentLength = _error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
# 412
PreconditionFailed = _error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold")
# 416
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable")
InvalidPartNumber = _error("InvalidPartNumber", 416, "The requested partnumber is not satisfiable")
# 500
InternalError = _error("InternalError", 500, "We encountered an internal error. Please try again.")
# 501
NotImplementedByGateway = _error("NotImplemented", 501, "A header or query you provided implies functionality that is not implemented.")
# 503
ServiceUnavailable = _error("ServiceUnavailable", 503, "Service is unable to handle request.")
SlowDown = _error("SlowDown", 503, "Please reduce your request rate.")
AuthorizationHeaderMalformed = _error("AuthorizationHeaderMalformed", 400, "The authorization header you provided is invalid.")
AuthorizationQueryParametersError = _error("AuthorizationQueryParametersError", 400, "Error parsing the query-string authentication parameters.")
# fmt: on
