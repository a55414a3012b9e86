"""Signed aws-chunked bodies (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``): every chunk
carries a signature chained from the one before (the request's own signature seeds the chain),
and with trailers a final signature covers the trailer lines (AWS S3 API reference,
"sigv4-streaming" and "sigv4-streaming-trailers"). Pure.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

from pachs3.core import errors
from pachs3.core.sigv4.canonical import EMPTY_SHA256, hmac_hex, utf8

__all__ = ["ChunkSignatureVerifier"]

_TRAILER_SIGNATURE: Final = "x-amz-trailer-signature"


class ChunkSignatureVerifier:
    """Checks the chained chunk signatures of a signed aws-chunked body (a ``ChunkListener``).

    Chunk *n*'s header carries the signature of chunk *n*'s payload, chained from chunk
    *n-1*'s signature (the request signature for the first), so chunk *n* is verified when its
    data is complete: at the next chunk header, or at once for the final, empty chunk. With
    trailers, ``x-amz-trailer-signature`` signs the other trailer lines, chained from the final
    chunk's signature (AWS S3 API reference, "sigv4-streaming" and "sigv4-streaming-trailers").
    """

    __slots__ = (
        "_amz_date",
        "_complete",
        "_digest",
        "_final",
        "_key",
        "_pending",
        "_previous",
        "_scope",
        "_trailers",
    )

    def __init__(
        self, *, key: bytes, amz_date: str, scope: str, seed_signature: str, trailers: bool
    ) -> None:
        self._key = key
        self._amz_date = amz_date
        self._scope = scope
        self._previous = seed_signature.lower()
        self._trailers = trailers
        self._pending: str | None = None  # the announced signature of the chunk being read
        self._digest = hashlib.sha256()
        self._final = False
        self._complete = False

    def on_chunk(self, size: int, signature: str | None) -> None:
        self._close_chunk()
        if self._final:
            raise errors.IncompleteBody("The request body continues after its final chunk.")
        if signature is None:
            raise errors.SignatureDoesNotMatch("A chunk of the signed body carries no signature.")
        self._pending = signature
        self._digest = hashlib.sha256()
        if size == 0:
            self._final = True
            self._close_chunk()

    def on_data(self, data: bytes) -> None:
        self._digest.update(data)

    def on_trailers(self, trailers: Mapping[str, str]) -> None:
        self._close_chunk()
        if not self._final:
            raise errors.IncompleteBody("The signed body ended before its final chunk.")
        if self._trailers:
            announced = trailers.get(_TRAILER_SIGNATURE)
            if announced is None:
                raise errors.SignatureDoesNotMatch("The trailer signature is missing.")
            canonical = "".join(
                f"{name}:{value}\n"
                for name, value in trailers.items()
                if name != _TRAILER_SIGNATURE
            )
            expected = hmac_hex(
                self._key,
                "\n".join(
                    (
                        "AWS4-HMAC-SHA256-TRAILER",
                        self._amz_date,
                        self._scope,
                        self._previous,
                        hashlib.sha256(utf8(canonical)).hexdigest(),
                    )
                ),
            )
            if not hmac.compare_digest(expected, announced):
                raise errors.SignatureDoesNotMatch(
                    "The trailer signature does not match the trailers sent."
                )
        self._complete = True

    def finish(self) -> None:
        """The body ended: every chunk (and the trailers) must have been verified."""
        if not self._complete:
            raise errors.IncompleteBody("The signed body ended before its final chunk.")

    def _close_chunk(self) -> None:
        announced = self._pending
        if announced is None:
            return
        self._pending = None
        expected = hmac_hex(
            self._key,
            "\n".join(
                (
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    self._amz_date,
                    self._scope,
                    self._previous,
                    EMPTY_SHA256,
                    self._digest.hexdigest(),
                )
            ),
        )
        if not hmac.compare_digest(expected, announced):
            raise errors.SignatureDoesNotMatch(
                "A chunk signature does not match the chunk's bytes."
            )
        self._previous = expected
