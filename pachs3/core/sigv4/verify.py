"""Strict AWS Signature Version 4 verification for S3 requests. Pure: no clock, no I/O.

The gateway accepts any credentials by default (DESIGN.md §6); when it is given keys it calls
``verify_request(head, credentials, now)`` before anything else and, for signed streaming
uploads, has the body's one aws-chunked decoder feed ``SignatureContext.chunk_verifier()``
(``core/body.py``).

Two forms are verified (AWS S3 API reference, "Authenticating Requests (AWS Signature Version
4)"):

* the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
  header, with the payload hash taken from ``x-amz-content-sha256`` (a hex SHA-256, which the
  body chain then checks against the bytes; ``UNSIGNED-PAYLOAD``; or a ``STREAMING-*`` value);
* presigned URLs (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``,
  ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` in the query), whose payload is unsigned.

``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`` bodies carry a signature per aws-chunked chunk,
chained from the request's (seed) signature, and a final signature over the trailers;
``ChunkSignatureVerifier`` (``chunks.py``) checks them as a ``core.chunked.ChunkListener``.
The canonical forms themselves are in ``canonical.py``, the reading of what the client sent in
``authorization.py`` and the verified result in ``context.py``; this module checks it.

The canonical request is built from the RAW path, percent-encoded as the client sent it: S3
signs the path once-encoded and never normalises it (``..`` and ``//`` are key characters), and
decoding then re-encoding would change a key's ``+`` or ``%2F``. A client whose canonical form
differs from what it sent (AWS's own encoding of the decoded path) is accepted too: both forms
name the same decoded key. Query pairs arrive decoded (``RequestHead.query``) and are re-encoded
with AWS's rules (unreserved ``A-Za-z0-9-_.~``, everything else ``%XX`` of its UTF-8) and sorted.

Errors are AWS's: ``AccessDenied`` (no credentials at all, expired presigned URL, unsigned
``x-amz-*`` headers), ``InvalidAccessKeyId``, ``SignatureDoesNotMatch``,
``RequestTimeTooSkewed`` (more than 15 minutes off), ``AuthorizationHeaderMalformed`` and
``AuthorizationQueryParametersError`` (unreadable authentication), ``InvalidRequest`` for
mechanisms this gateway does not verify (SigV2, SigV4a), ``InvalidArgument`` for an unknown
``x-amz-content-sha256`` value or two authentication mechanisms in one request.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from pachs3.core import errors
from pachs3.core.http import RequestHead
from pachs3.core.sigv4.authorization import (
    SIGNATURE,
    UNSUPPORTED,
    check_scope,
    check_signed_headers,
    header_time,
    parse_amz_date,
    parse_authorization,
    parse_credential,
    parse_expires,
    parse_signed_headers,
    presign_params,
)
from pachs3.core.sigv4.canonical import (
    ALGORITHM,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uris,
    hmac_hex,
    signing_key,
    string_to_sign,
)
from pachs3.core.sigv4.context import (
    UNSIGNED_PAYLOAD,
    Credential,
    SignatureContext,
    check_payload_hash,
)

__all__ = ["MAX_SKEW", "verify_request"]

MAX_SKEW: Final = timedelta(minutes=15)
"""AWS refuses a request whose time is more than 15 minutes from its own clock."""


def verify_request(
    head: RequestHead,
    credentials: Mapping[str, str],
    now: datetime,
    *,
    max_skew: timedelta = MAX_SKEW,
    region: str | None = None,
    service: str = "s3",
) -> SignatureContext:
    """Verify the request's SigV4 signature against ``credentials`` (access key -> secret).

    ``now`` is the verifier's clock (a naive value is taken as UTC). ``region`` None accepts
    any signing region, as the sidecar answers us-east-1 to every location probe while clients
    sign with whatever region they were configured with. Returns what was verified, or raises
    the S3 error AWS would answer.
    """
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    authorization = head.header("authorization")
    query_names = {name for name, _ in head.query}
    presigned = "X-Amz-Algorithm" in query_names or "X-Amz-Signature" in query_names
    if authorization is not None and (presigned or "Signature" in query_names):
        raise errors.InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            resource=head.path,
        )
    if authorization is not None:
        return _verify_header(
            head, authorization, credentials, now, max_skew=max_skew, region=region, service=service
        )
    if presigned:
        return _verify_presigned(
            head, credentials, now, max_skew=max_skew, region=region, service=service
        )
    if "AWSAccessKeyId" in query_names or "Signature" in query_names:
        raise errors.InvalidRequest(UNSUPPORTED, resource=head.path)  # SigV2 presigned
    raise errors.AccessDenied("Anonymous requests are not accepted.", resource=head.path)


def _verify_header(
    head: RequestHead,
    authorization: str,
    credentials: Mapping[str, str],
    now: datetime,
    *,
    max_skew: timedelta,
    region: str | None,
    service: str,
) -> SignatureContext:
    credential, signed_headers, signature = parse_authorization(authorization)
    check_scope(credential, region, service, errors.AuthorizationHeaderMalformed)
    secret = _secret(credentials, credential.access_key)
    amz_date, when = header_time(head)
    if credential.date != amz_date[:8]:
        raise errors.AuthorizationHeaderMalformed(
            "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date."
        )
    if abs(now - when) > max_skew:
        raise errors.RequestTimeTooSkewed()
    payload = head.header("x-amz-content-sha256")
    if payload is None:
        raise errors.InvalidRequest(
            "Missing required header for this request: x-amz-content-sha256"
        )
    check_payload_hash(payload)
    check_signed_headers(head, signed_headers)
    return _check_signature(
        head,
        credential=credential,
        secret=secret,
        amz_date=amz_date,
        when=when,
        signed_headers=signed_headers,
        signature=signature,
        payload=payload,
        presigned=False,
    )


def _verify_presigned(
    head: RequestHead,
    credentials: Mapping[str, str],
    now: datetime,
    *,
    max_skew: timedelta,
    region: str | None,
    service: str,
) -> SignatureContext:
    params = presign_params(head)
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise errors.AuthorizationQueryParametersError(
            'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'
        )
    credential = parse_credential(
        params["X-Amz-Credential"], errors.AuthorizationQueryParametersError
    )
    check_scope(credential, region, service, errors.AuthorizationQueryParametersError)
    amz_date = params["X-Amz-Date"]
    when = parse_amz_date(amz_date)
    if when is None:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    if credential.date != amz_date[:8]:
        raise errors.AuthorizationQueryParametersError(
            "Invalid credential date. Date is not the same as X-Amz-Date."
        )
    expires = parse_expires(params["X-Amz-Expires"])
    signed_headers = parse_signed_headers(
        params["X-Amz-SignedHeaders"], errors.AuthorizationQueryParametersError
    )
    signature = params["X-Amz-Signature"]
    if not SIGNATURE.fullmatch(signature):
        raise errors.AuthorizationQueryParametersError("X-Amz-Signature is not a signature.")
    secret = _secret(credentials, credential.access_key)
    if when - now > max_skew:
        raise errors.AccessDenied("Request is not valid yet", resource=head.path)
    if now > when + timedelta(seconds=expires):
        raise errors.AccessDenied("Request has expired", resource=head.path)
    # A presigned URL signs no body unless the signer put the hash in a signed header.
    payload = UNSIGNED_PAYLOAD
    header_payload = head.header("x-amz-content-sha256")
    if header_payload is not None and "x-amz-content-sha256" in signed_headers:
        check_payload_hash(header_payload)
        payload = header_payload
    check_signed_headers(head, signed_headers)
    return _check_signature(
        head,
        credential=credential,
        secret=secret,
        amz_date=amz_date,
        when=when,
        signed_headers=signed_headers,
        signature=signature,
        payload=payload,
        presigned=True,
    )


def _check_signature(
    head: RequestHead,
    *,
    credential: Credential,
    secret: str,
    amz_date: str,
    when: datetime,
    signed_headers: tuple[str, ...],
    signature: str,
    payload: str,
    presigned: bool,
) -> SignatureContext:
    key = signing_key(secret, credential.date, credential.region, credential.service)
    query = canonical_query(head.query, presigned=presigned)
    headers = canonical_headers(head, signed_headers)
    verified: str | None = None
    for path in canonical_uris(head.path):
        request = canonical_request(
            head.method.upper(),
            path,
            query,
            headers,
            signed_headers=signed_headers,
            payload=payload,
        )
        expected = hmac_hex(key, string_to_sign(amz_date, credential.scope, request))
        if hmac.compare_digest(expected, signature):
            verified = expected
            break
    if verified is None:
        raise errors.SignatureDoesNotMatch(resource=head.path)
    return SignatureContext(
        access_key=credential.access_key,
        region=credential.region,
        service=credential.service,
        amz_date=amz_date,
        request_time=when,
        signature=verified,
        payload_hash=payload,
        presigned=presigned,
        signed_headers=signed_headers,
        key=key,
    )


# ---------------------------------------------------------------------------------------------


def _secret(credentials: Mapping[str, str], access_key: str) -> str:
    secret = credentials.get(access_key)
    if secret is None:
        raise errors.InvalidAccessKeyId()
    return secret
