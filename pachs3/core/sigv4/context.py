"""What a verified SigV4 request leaves for its body to prove: ``SignatureContext``.

The payload hash a request signed (``x-amz-content-sha256``) is one of AWS's fixed values or a
hex SHA-256; for the signed streaming values the body carries a chunk signature chain, checked
by ``chunks.py``'s ``ChunkSignatureVerifier`` as a ``core.chunked.ChunkListener``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from pachs3.core import errors
from pachs3.core.sigv4.canonical import TERMINATOR
from pachs3.core.sigv4.chunks import ChunkSignatureVerifier

__all__ = [
    "STREAMING_SIGNED",
    "STREAMING_UNSIGNED",
    "UNSIGNED_PAYLOAD",
    "Credential",
    "SignatureContext",
    "check_payload_hash",
]

UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED: Final = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED: Final = frozenset(
    {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"}
)
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")


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
    value. For the signed streaming values the body must go through an aws-chunked decoder with
    ``chunk_verifier()`` as its listener (``core/body.py`` does, once per body).
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
        return self.payload_hash.upper() in STREAMING_SIGNED

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


def check_payload_hash(value: str) -> None:
    if value in (UNSIGNED_PAYLOAD, STREAMING_UNSIGNED) or value in STREAMING_SIGNED:
        return
    if _HEX64.fullmatch(value):
        return
    raise errors.InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a "
        "valid sha256 value."
    )
