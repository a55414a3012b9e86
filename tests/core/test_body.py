"""Pure core: request bodies on their way to a backend (core/body.py), fed whole and in pieces.

A mismatch is raised *inside* the iteration, after the last payload byte and before the
iteration ends, so a backend that consumes the body never commits a bad upload.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest

from pachs3.core import errors
from pachs3.core.body import MAX_DOCUMENT_BYTES, CheckedPayload, read_small_body
from pachs3.core.chunked import streaming_mode
from pachs3.core.digests import checksum_b64
from pachs3.core.plans import BodySpec

DATA = b"hello, world\n" * 1000


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def unsigned_chunked(data: bytes, size: int, trailers: dict[str, str]) -> bytes:
    """``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` framing, as boto3 sends it by default."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in pieces(data, size))
    out += b"0\r\n" + b"".join(f"{k}:{v}\r\n".encode() for k, v in trailers.items()) + b"\r\n"
    return out


@pytest.mark.parametrize("size", [1, 7, 4096, len(DATA)])
def test_a_plain_body_passes_through_and_is_checked(size: int) -> None:
    spec = BodySpec(
        content_length=len(DATA),
        content_md5=md5_b64(DATA),
        checksums={"crc32": checksum_b64("crc32", DATA)},
    )
    body = CheckedPayload(spec, pieces(DATA, size))
    assert b"".join(body) == DATA
    assert body.md5_hex == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert body.checksums_for_response() == {"crc32": checksum_b64("crc32", DATA)}
    assert body.payload_digest("md5") == hashlib.md5(DATA, usedforsecurity=False).digest()
    assert body.announced_checksum_headers() == {
        "x-amz-checksum-crc32": checksum_b64("crc32", DATA)
    }


def test_a_mismatch_is_raised_after_the_last_byte_inside_the_iteration() -> None:
    spec = BodySpec(content_length=len(DATA), content_md5=md5_b64(b"something else"))
    received: list[bytes] = []

    def consume() -> None:
        for chunk in CheckedPayload(spec, pieces(DATA, 1000)):
            received.append(chunk)

    with pytest.raises(errors.BadDigest):
        consume()
    assert b"".join(received) == DATA  # every byte was seen, and still the iteration failed


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (BodySpec(content_length=len(DATA) + 1), errors.IncompleteBody),
        (BodySpec(content_length=len(DATA), content_md5="not base64!"), errors.InvalidDigest),
        (
            BodySpec(content_length=len(DATA), checksums={"crc32c": checksum_b64("crc32c", b"")}),
            errors.BadDigest,
        ),
        (
            BodySpec(content_length=len(DATA), content_sha256=hashlib.sha256(b"").hexdigest()),
            errors.XAmzContentSHA256Mismatch,
        ),
    ],
)
def test_each_wrong_declaration_gets_its_s3_error(spec: BodySpec, error: type[Exception]) -> None:
    with pytest.raises(error):
        list(CheckedPayload(spec, [DATA]))


@pytest.mark.parametrize("piece", [1, 5, 1 << 16])
def test_aws_chunked_with_a_trailer_is_decoded_and_the_trailer_checked(piece: int) -> None:
    framed = unsigned_chunked(DATA, 3000, {"x-amz-checksum-crc32": checksum_b64("crc32", DATA)})
    spec = BodySpec(
        framing="aws-chunked",
        streaming=streaming_mode("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        content_length=len(framed),
        decoded_length=len(DATA),
        trailer_names=("crc32",),
    )
    assert b"".join(CheckedPayload(spec, pieces(framed, piece))) == DATA
    wrong = unsigned_chunked(DATA, 3000, {"x-amz-checksum-crc32": checksum_b64("crc32", b"x")})
    with pytest.raises(errors.BadDigest):
        list(CheckedPayload(spec, pieces(wrong, piece)))


def test_payload_digest_is_refused_before_the_body_was_read_and_verified() -> None:
    body = CheckedPayload(BodySpec(content_length=3, content_md5=md5_b64(b"xyz")), [b"abc"])
    with pytest.raises(RuntimeError):
        body.payload_digest("md5")
    with pytest.raises(errors.BadDigest):
        list(body)
    with pytest.raises(RuntimeError):
        body.payload_digest("md5")


def test_read_small_body_refuses_what_is_too_long_without_reading_it_all() -> None:
    assert read_small_body(BodySpec(content_length=3), [b"a", b"bc"]) == b"abc"
    with pytest.raises(errors.MaxMessageLengthExceeded):
        read_small_body(BodySpec(content_length=MAX_DOCUMENT_BYTES + 1), [])
    pulled: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            pulled.append(1)
            yield b"x" * 10

    with pytest.raises(errors.MaxMessageLengthExceeded):
        read_small_body(BodySpec(content_length=None), endless(), limit=25)
    assert len(pulled) == 3
