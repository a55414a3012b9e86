"""Strict AWS Signature Version 4, all of it: ``verify.py`` checks a request (the
``Authorization`` header or a presigned query, read by ``authorization.py``) and returns a
``SignatureContext`` (``context.py``); ``chunks.py``
checks the signature chain of a signed aws-chunked body; ``canonical.py`` builds the canonical
forms both sign. Pure: no clock (the caller passes ``now``), no I/O.

Headers hoisted into a presigned URL's query, and presigned expiry without credentials, are
``core/presigned.py``'s.
"""

from pachs3.core.sigv4.authorization import MAX_PRESIGNED_EXPIRES
from pachs3.core.sigv4.canonical import (
    ALGORITHM,
    EMPTY_SHA256,
    canonical_query,
    canonical_request,
    signing_key,
    string_to_sign,
)
from pachs3.core.sigv4.chunks import ChunkSignatureVerifier
from pachs3.core.sigv4.context import SignatureContext
from pachs3.core.sigv4.verify import MAX_SKEW, verify_request

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
