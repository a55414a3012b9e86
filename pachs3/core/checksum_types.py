"""Checksum types of multipart uploads: which one an upload gets, and the object checksum its
parts make.

AWS S3 (user guide, "Checking object integrity"; the ``ChecksumType`` of CreateMultipartUpload)
knows two types. A ``COMPOSITE`` checksum is the algorithm run over the concatenated raw digests
of the parts, written ``<base64>-<part count>``; a ``FULL_OBJECT`` checksum is the checksum of
the whole body, which for a CRC follows from the parts' CRCs and sizes without reading a byte
(the CRC "combine" below). Which algorithm allows which type, and the type an upload gets when
the client names only the algorithm:

============  ===========  =========  =======
algorithm     FULL_OBJECT  COMPOSITE  default
============  ===========  =========  =======
CRC64NVME     yes          no         FULL_OBJECT
CRC32         yes          yes        COMPOSITE
CRC32C        yes          yes        COMPOSITE
SHA1, SHA256  no           yes        COMPOSITE
============  ===========  =========  =======

A single PUT's checksum is always ``FULL_OBJECT`` (PutObject's ``ChecksumType``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Final

from pachs3.core import errors
from pachs3.core.digests import decode_checksum, new_checksum
from pachs3.core.headers import INTERNAL_METADATA_PREFIX

COMPOSITE: Final = "COMPOSITE"
FULL_OBJECT: Final = "FULL_OBJECT"

_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    # algorithm -> the types it allows, its default first
    "crc64nvme": (FULL_OBJECT,),
    "crc32": (COMPOSITE, FULL_OBJECT),
    "crc32c": (COMPOSITE, FULL_OBJECT),
    "sha1": (COMPOSITE,),
    "sha256": (COMPOSITE,),
}

CHECKSUM_TYPE_KEY: Final = INTERNAL_METADATA_PREFIX + "checksum-type"
"""Object metadata: the type of the stored ``x-amz-checksum-*`` value (absent: FULL_OBJECT)."""


def upload_checksum(algorithm: str | None, checksum_type: str | None) -> tuple[str, str] | None:
    """The (algorithm, type) of a new multipart upload, as CreateMultipartUpload asks for it.

    No algorithm and no type: None (the upload keeps no object checksum). A type without an
    algorithm, an unknown algorithm or type, or a pair AWS does not allow (``CRC64NVME`` with
    ``COMPOSITE``, ``SHA*`` with ``FULL_OBJECT``) is 400 InvalidRequest.
    """
    kind = checksum_type.strip().upper() if checksum_type else None
    if algorithm is None:
        if kind is None:
            return None
        raise errors.InvalidRequest(
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
            "header."
        )
    name = algorithm.strip().lower()
    allowed = _TYPES.get(name)
    if allowed is None:
        raise errors.InvalidRequest("Checksum algorithm provided is unsupported.")
    if kind is None:
        return name, allowed[0]
    if kind not in (COMPOSITE, FULL_OBJECT):
        raise errors.InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    if kind not in allowed:
        raise errors.InvalidRequest(
            f"The {kind} checksum type cannot be used with the {name} checksum algorithm."
        )
    return name, kind


# --- CRC combination -----------------------------------------------------------------------------
# A reflected CRC with equal initial value and final XOR (all three here) satisfies
# crc(A + B) = crc(A) * x^(8 * len(B)) mod P  xor  crc(B), in GF(2) polynomial arithmetic; the
# polynomial x^(8 * len) mod P is built from the squares x^(2^k) so that a length costs log2 steps.

_CRC_POLYS: Final[Mapping[str, tuple[int, int]]] = {
    # algorithm -> (reflected polynomial, width in bits)
    "crc32": (0xEDB88320, 32),
    "crc32c": (0x82F63B78, 32),
    "crc64nvme": (0x9A6C9329AC4BC9B5, 64),
}


def _multiply(a: int, b: int, poly: int, width: int) -> int:
    """``a * b mod P`` for reflected polynomials (bit ``width-1`` is x^0)."""
    product = 0
    bit = 1 << (width - 1)
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return product


def _x_power_of_bytes(length: int, poly: int, width: int) -> int:
    """``x^(8 * length) mod P``, reflected."""
    result = 1 << (width - 1)  # x^0
    square = 1 << (width - 9)  # x^8: one byte
    while length:
        if length & 1:
            result = _multiply(square, result, poly, width)
        length >>= 1
        square = _multiply(square, square, poly, width)
    return result


def crc_combine(algorithm: str, first: int, second: int, second_length: int) -> int:
    """The CRC of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``."""
    poly, width = _CRC_POLYS[algorithm]
    return _multiply(_x_power_of_bytes(second_length, poly, width), first, poly, width) ^ second


def supports_full_object(algorithm: str) -> bool:
    return FULL_OBJECT in _TYPES.get(algorithm, ())


# --- the object checksum of a completed upload -------------------------------------------------


def object_checksum(
    algorithm: str, checksum_type: str, parts: Sequence[tuple[str, int]]
) -> str | None:
    """The base64 checksum of the object the parts make: ``parts`` is (part checksum in base64,
    part size) in part order. None when a part's checksum is unreadable."""
    digests: list[bytes] = []
    for value, _size in parts:
        digest = decode_checksum(algorithm, value)
        if digest is None:
            return None
        digests.append(digest)
    if checksum_type == COMPOSITE:
        checksum = new_checksum(algorithm)
        for digest in digests:
            checksum.update(digest)
        encoded = base64.b64encode(checksum.digest()).decode("ascii")
        return f"{encoded}-{len(digests)}"
    width = _CRC_POLYS[algorithm][1] // 8
    crc = 0
    for digest, (_value, size) in zip(digests, parts, strict=True):
        crc = crc_combine(algorithm, crc, int.from_bytes(digest, "big"), size)
    return base64.b64encode(crc.to_bytes(width, "big")).decode("ascii")
