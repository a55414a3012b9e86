"""Strict AWS Signature Version 4 verification for S3 requests. Pure: no clock, no I/O.

The gateway accepts any credentials by default (DESIGN.md §6); when it is given keys it calls
``verify_request(head, credentials, now)`` before anything else and, for signed streaming
uploads, passes the request body through ``SignatureContext.check_signatures``.

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
The canonical forms themselves are in ``canonical.py``; this module parses what the client
sent and checks it.

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

import email.utils
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from pachs3.core import errors
from pachs3.core.http import TOKEN_PATTERN, RequestHead
from pachs3.core.sigv4.canonical import (
    ALGORITHM,
    EMPTY_SHA256,
    TERMINATOR,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uris,
    hmac_hex,
    signing_key,
    string_to_sign,
)
from pachs3.core.sigv4.chunks import ChunkSignatureVerifier, signature_checked

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_PRESIGNED_EXPIRES",
    "MAX_SKEW",
    "ChunkSignatureVerifier",
    "SignatureContext",
    "canonical_query",
    "canonical_request",
    "signing_key",
    "string_to_sign",
    "verify_request",
]

MAX_SKEW: Final = timedelta(minutes=15)
"""AWS refuses a request whose time is more than 15 minutes from its own clock."""
MAX_PRESIGNED_EXPIRES: Final = 7 * 24 * 3600
"""``X-Amz-Expires`` may not exceed a week (604800 s)."""

UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
_STREAMING_UNSIGNED: Final = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_STREAMING_SIGNED: Final = frozenset(
    {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"}
)

_PRESIGN_PARAMS: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE: Final = re.compile(r"[0-9a-fA-F]{64}")
_AMZ_DATE: Final = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_DATE8: Final = re.compile(r"[0-9]{8}")
_HEADER_NAME: Final = re.compile(TOKEN_PATTERN)
_UNSUPPORTED: Final = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """``AKID/20130524/us-east-1/s3/aws4_request``: who signed, and the signature's scope."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureContext:
    """A verified request: who signed it and what its body must still prove.

    ``payload_hash`` is what the canonical request carried: a hex SHA-256 (the body chain checks
    the bytes against ``x-amz-content-sha256``), ``UNSIGNED-PAYLOAD``, or a ``STREAMING-*``
    value. For the signed streaming values the body must go through ``check_signatures`` (or an
    aws-chunked decoder with ``chunk_verifier()`` as its listener).
    """

    access_key: str
    region: str
    service: str
    amz_date: str
    request_time: datetime
    signature: str
    payload_hash: str
    presigned: bool
    signed_headers: tuple[str, ...]
    key: bytes = field(repr=False)

    @property
    def scope(self) -> str:
        return f"{self.amz_date[:8]}/{self.region}/{self.service}/{TERMINATOR}"

    @property
    def streaming_signed(self) -> bool:
        """The body carries chunk signatures that must be verified."""
        return self.payload_hash.upper() in _STREAMING_SIGNED

    def chunk_verifier(self) -> ChunkSignatureVerifier | None:
        """A ``ChunkListener`` checking this request's chunk signatures, if it has any."""
        if not self.streaming_signed:
            return None
        return ChunkSignatureVerifier(
            key=self.key,
            amz_date=self.amz_date,
            scope=self.scope,
            seed_signature=self.signature,
            trailers=self.payload_hash.upper().endswith("-TRAILER"),
        )

    def check_signatures(self, raw: Iterable[bytes]) -> Iterator[bytes]:
        """The raw request body, passed through unchanged while its chunk signatures are checked.

        For a request without chunk signatures this is ``raw`` itself. Otherwise each raw piece
        is fed to a private aws-chunked decoder before it is passed on, so a bad chunk signature
        raises ``SignatureDoesNotMatch`` (and broken framing ``IncompleteBody``) out of the
        iteration, and the stream ends only after the final chunk and the trailer signature
        verified: the consumer, which commits a write only at the end of the stream, never
        stores an unverified body.
        """
        verifier = self.chunk_verifier()
        if verifier is None:
            return iter(raw)
        return signature_checked(raw, verifier, self.payload_hash)


# ---------------------------------------------------------------------------------------------
# The request


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
        raise errors.InvalidRequest(_UNSUPPORTED, resource=head.path)  # SigV2 presigned
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
    credential, signed_headers, signature = _parse_authorization(authorization)
    _check_scope(credential, region, service, errors.AuthorizationHeaderMalformed)
    secret = _secret(credentials, credential.access_key)
    amz_date, when = _header_time(head)
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
    _check_payload_hash(payload)
    _check_signed_headers(head, signed_headers)
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
    params = _presign_params(head)
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise errors.AuthorizationQueryParametersError(
            'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'
        )
    credential = _parse_credential(
        params["X-Amz-Credential"], errors.AuthorizationQueryParametersError
    )
    _check_scope(credential, region, service, errors.AuthorizationQueryParametersError)
    amz_date = params["X-Amz-Date"]
    when = _parse_amz_date(amz_date)
    if when is None:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    if credential.date != amz_date[:8]:
        raise errors.AuthorizationQueryParametersError(
            "Invalid credential date. Date is not the same as X-Amz-Date."
        )
    expires = _parse_expires(params["X-Amz-Expires"])
    signed_headers = _parse_signed_headers(
        params["X-Amz-SignedHeaders"], errors.AuthorizationQueryParametersError
    )
    signature = params["X-Amz-Signature"]
    if not _SIGNATURE.fullmatch(signature):
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
        _check_payload_hash(header_payload)
        payload = header_payload
    _check_signed_headers(head, signed_headers)
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
# Parsing what the client sent


def _parse_authorization(value: str) -> tuple[Credential, tuple[str, ...], str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm in ("AWS", "AWS4-ECDSA-P256-SHA256"):  # SigV2, SigV4a
            raise errors.InvalidRequest(_UNSUPPORTED)
        raise errors.AuthorizationHeaderMalformed(
            "The authorization header is malformed; the authorization mechanism is unknown."
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, text = part.strip().partition("=")
        if not eq or name in fields:
            raise errors.AuthorizationHeaderMalformed(
                f"The authorization header is malformed; the component {name[:40]!r} is invalid."
            )
        fields[name] = text.strip()
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise errors.AuthorizationHeaderMalformed(
            "The authorization header is malformed; it needs exactly Credential, SignedHeaders "
            "and Signature."
        )
    credential = _parse_credential(fields["Credential"], errors.AuthorizationHeaderMalformed)
    signed_headers = _parse_signed_headers(
        fields["SignedHeaders"], errors.AuthorizationHeaderMalformed
    )
    signature = fields["Signature"]
    if not _SIGNATURE.fullmatch(signature):
        raise errors.AuthorizationHeaderMalformed(
            "The authorization header is malformed; the signature is not 64 hex digits."
        )
    return credential, signed_headers, signature


def _parse_credential(value: str, error: type[errors.S3Error]) -> Credential:
    parts = value.split("/")
    if len(parts) < 5 or not all(parts):
        raise error(
            "The credential is malformed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    date, region, service, terminator = parts[-4:]
    if terminator != TERMINATOR:
        raise error(f'The credential is malformed; incorrect terminal. Expecting "{TERMINATOR}".')
    if not _DATE8.fullmatch(date):
        raise error("The credential is malformed; the date is not YYYYMMDD.")
    return Credential(access_key="/".join(parts[:-4]), date=date, region=region, service=service)


def _check_scope(
    credential: Credential, region: str | None, service: str, error: type[errors.S3Error]
) -> None:
    if credential.service != service:
        raise error(
            f"The credential is malformed; incorrect service {credential.service[:40]!r}. "
            f"This endpoint belongs to {service!r}."
        )
    if region is not None and credential.region != region:
        raise error(
            f"The credential is malformed; the region {credential.region[:40]!r} is wrong; "
            f"expecting {region!r}."
        )


def _parse_signed_headers(value: str, error: type[errors.S3Error]) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    # Tokens, in lower case: the canonical request spells signed header names that way.
    well_formed = all(_HEADER_NAME.fullmatch(name) and name == name.lower() for name in names)
    if not well_formed or len(set(names)) != len(names):
        raise error("SignedHeaders must be distinct lower-case header names separated by ';'.")
    if "host" not in names:
        raise error("SignedHeaders must include host.")
    return names


def _check_signed_headers(head: RequestHead, signed_headers: Sequence[str]) -> None:
    """Every ``x-amz-*`` header the request carries must be signed (AWS: "There were headers
    present in the request which were not signed"), or a proxy could add one unnoticed."""
    signed = set(signed_headers)
    unsigned = sorted({n for n, _ in head.headers if n.startswith("x-amz-") and n not in signed})
    if unsigned:
        raise errors.AccessDenied(
            "There were headers present in the request which were not signed: "
            + ", ".join(unsigned)[:200],
            resource=head.path,
        )


def _check_payload_hash(value: str) -> None:
    if value in (UNSIGNED_PAYLOAD, _STREAMING_UNSIGNED) or value in _STREAMING_SIGNED:
        return
    if _HEX64.fullmatch(value):
        return
    raise errors.InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a "
        "valid sha256 value."
    )


def _secret(credentials: Mapping[str, str], access_key: str) -> str:
    secret = credentials.get(access_key)
    if secret is None:
        raise errors.InvalidAccessKeyId()
    return secret


def _parse_amz_date(value: str) -> datetime | None:
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _header_time(head: RequestHead) -> tuple[str, datetime]:
    """``(x-amz-date spelling, time)`` from ``x-amz-date``, else from ``Date``."""
    amz = head.header("x-amz-date")
    if amz is not None:
        when = _parse_amz_date(amz.strip())
        if when is not None:
            return amz.strip(), when
    else:
        date = head.header("date")
        if date is not None:
            try:
                parsed = email.utils.parsedate_to_datetime(date)
            except (TypeError, ValueError, IndexError, OverflowError):
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                parsed = parsed.astimezone(UTC)
                return parsed.strftime("%Y%m%dT%H%M%SZ"), parsed
    raise errors.AccessDenied("AWS authentication requires a valid Date or x-amz-date header")


def _presign_params(head: RequestHead) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in head.query:
        if name in _PRESIGN_PARAMS:
            if name in params:
                raise errors.AuthorizationQueryParametersError(f"{name} is given twice.")
            params[name] = value
    missing = [name for name in _PRESIGN_PARAMS if name not in params]
    if missing:
        raise errors.AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters."
        )
    return params


def _parse_expires(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Expires should be a number of seconds."
        )
    expires = int(value)
    if expires > MAX_PRESIGNED_EXPIRES:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    return expires
