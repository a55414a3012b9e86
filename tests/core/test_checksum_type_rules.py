"""core/checksum_types.py: the checksum type an upload gets, CRC combination, and the object
checksum parts make. CRC combination is checked against a CRC of the whole body and, where
awscrt imports, against its own combine functions."""

from __future__ import annotations

import base64
import random

import pytest

from pachs3.core import errors
from pachs3.core.checksum_types import crc_combine, object_checksum, upload_checksum
from pachs3.core.digests import checksum_b64

CRCS = ("crc32", "crc32c", "crc64nvme")


def crc_int(algorithm: str, data: bytes) -> int:
    return int.from_bytes(base64.b64decode(checksum_b64(algorithm, data)), "big")


@pytest.mark.parametrize("algorithm", CRCS)
@pytest.mark.parametrize(("first", "second"), [(0, 0), (0, 9), (9, 0), (1, 1), (300, 70_001)])
def test_combined_crc_is_the_crc_of_the_whole_body(algorithm: str, first: int, second: int) -> None:
    rng = random.Random(first * 7 + second)
    a, b = rng.randbytes(first), rng.randbytes(second)
    combined = crc_combine(algorithm, crc_int(algorithm, a), crc_int(algorithm, b), len(b))
    assert combined == crc_int(algorithm, a + b)


@pytest.mark.parametrize("algorithm", CRCS)
def test_combine_agrees_with_awscrt(algorithm: str) -> None:
    checksums = pytest.importorskip("awscrt.checksums")
    crcs = (0x12345678, 0x9ABCDEF0) if algorithm != "crc64nvme" else (2**63 + 5, 2**40 + 3)
    theirs = getattr(checksums, f"combine_{algorithm}")
    for length in (1, 4096, 5 * 1024 * 1024 + 3):
        assert crc_combine(algorithm, crcs[0], crcs[1], length) == theirs(crcs[0], crcs[1], length)
    # An empty second part has the CRC 0 (the CRC of no bytes); any other value with length 0
    # is not a pair of real CRCs, and the two implementations answer it differently.
    assert crc_combine(algorithm, crcs[0], 0, 0) == theirs(crcs[0], 0, 0) == crcs[0]


@pytest.mark.parametrize("algorithm", CRCS)
def test_full_object_checksum_of_parts(algorithm: str) -> None:
    parts = [b"x" * 1000, b"", b"hello world", bytes(range(256))]
    values = [(checksum_b64(algorithm, p), len(p)) for p in parts]
    expected = checksum_b64(algorithm, b"".join(parts))
    assert object_checksum(algorithm, "FULL_OBJECT", values) == expected


def test_composite_checksum_is_over_the_raw_part_digests() -> None:
    parts = [b"one", b"two", b"three"]
    values = [(checksum_b64("sha256", p), len(p)) for p in parts]
    raw = b"".join(base64.b64decode(v) for v, _ in values)
    assert object_checksum("sha256", "COMPOSITE", values) == f"{checksum_b64('sha256', raw)}-3"


def test_an_unreadable_part_checksum_gives_no_object_checksum() -> None:
    assert object_checksum("crc32", "COMPOSITE", [("not base64!", 3)]) is None


@pytest.mark.parametrize(
    ("algorithm", "asked", "expected"),
    [
        (None, None, None),
        ("CRC32", None, ("crc32", "COMPOSITE")),
        ("crc32c", "full_object", ("crc32c", "FULL_OBJECT")),
        ("CRC64NVME", None, ("crc64nvme", "FULL_OBJECT")),
        ("SHA1", None, ("sha1", "COMPOSITE")),
        ("SHA256", "COMPOSITE", ("sha256", "COMPOSITE")),
    ],
)
def test_upload_checksum_defaults(
    algorithm: str | None, asked: str | None, expected: tuple[str, str] | None
) -> None:
    assert upload_checksum(algorithm, asked) == expected


@pytest.mark.parametrize(
    ("algorithm", "asked"),
    [
        ("CRC64NVME", "COMPOSITE"),
        ("SHA256", "FULL_OBJECT"),
        ("SHA1", "FULL_OBJECT"),
        (None, "COMPOSITE"),
        ("MD5", None),
        ("CRC32", "PARTIAL"),
    ],
)
def test_upload_checksum_refusals(algorithm: str | None, asked: str | None) -> None:
    with pytest.raises(errors.InvalidRequest):
        upload_checksum(algorithm, asked)
