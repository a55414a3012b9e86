"""Reading what a SigV4 client sent: the ``Authorization`` header, the presigned query, the
credential scope, the signed header list and the request time, each refused with AWS's error
(``AuthorizationHeaderMalformed`` for the header form, ``AuthorizationQueryParametersError``
for the query form)."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from pachs3.core import errors
from pachs3.core.http import TOKEN_PATTERN, RequestHead
from pachs3.core.sigv4.canonical import ALGORITHM, TERMINATOR
from pachs3.core.sigv4.context import Credential

__all__ = [
    "MAX_PRESIGNED_EXPIRES",
    "SIGNATURE",
    "UNSUPPORTED",
    "check_scope",
    "check_signed_headers",
    "header_time",
    "parse_amz_date",
    "parse_authorization",
    "parse_credential",
    "parse_expires",
    "parse_signed_headers",
    "presign_params",
]

MAX_PRESIGNED_EXPIRES: Final = 7 * 24 * 3600
"""``X-Amz-Expires`` may not exceed a week (604800 s)."""

_PRESIGN_PARAMS: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
SIGNATURE: Final = re.compile(r"[0-9a-fA-F]{64}")
_AMZ_DATE: Final = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_DATE8: Final = re.compile(r"[0-9]{8}")
_HEADER_NAME: Final = re.compile(TOKEN_PATTERN)
UNSUPPORTED: Final = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)


def parse_authorization(value: str) -> tuple[Credential, tuple[str, ...], str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm in ("AWS", "AWS4-ECDSA-P256-SHA256"):  # SigV2, SigV4a
            raise errors.InvalidRequest(UNSUPPORTED)
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
    credential = parse_credential(fields["Credential"], errors.AuthorizationHeaderMalformed)
    signed_headers = parse_signed_headers(
        fields["SignedHeaders"], errors.AuthorizationHeaderMalformed
    )
    signature = fields["Signature"]
    if not SIGNATURE.fullmatch(signature):
        raise errors.AuthorizationHeaderMalformed(
            "The authorization header is malformed; the signature is not 64 hex digits."
        )
    return credential, signed_headers, signature


def parse_credential(value: str, error: type[errors.S3Error]) -> Credential:
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


def check_scope(
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


def parse_signed_headers(value: str, error: type[errors.S3Error]) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    # Tokens, in lower case: the canonical request spells signed header names that way.
    well_formed = all(_HEADER_NAME.fullmatch(name) and name == name.lower() for name in names)
    if not well_formed or len(set(names)) != len(names):
        raise error("SignedHeaders must be distinct lower-case header names separated by ';'.")
    if "host" not in names:
        raise error("SignedHeaders must include host.")
    return names


def check_signed_headers(head: RequestHead, signed_headers: Sequence[str]) -> None:
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


def parse_amz_date(value: str) -> datetime | None:
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def header_time(head: RequestHead) -> tuple[str, datetime]:
    """``(x-amz-date spelling, time)`` from ``x-amz-date``, else from ``Date``."""
    amz = head.header("x-amz-date")
    if amz is not None:
        when = parse_amz_date(amz.strip())
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


def presign_params(head: RequestHead) -> dict[str, str]:
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


def parse_expires(value: str) -> int:
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
