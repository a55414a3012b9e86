"""The aws-chunked decoder: recorded client bodies fed whole, byte by byte, in the HTTP chunks the
client used and in random splits; the signed form checked against AWS's documented example;
every kind of broken framing refused with the S3 error AWS gives."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pachs3.core.chunked import (
    MAX_SIZE_LINE,
    MAX_TRAILER_BYTES,
    STREAMING_MODES,
    AwsChunkedDecoder,
    StreamingMode,
    decode_aws_chunked,
    streaming_mode,
)
from pachs3.core.digest_tee import DigestTee
from pachs3.core.digests import checksum_b64
from pachs3.core.errors import IncompleteBody, InvalidChunkSizeError, S3Error

DATA = Path(__file__).parent.parent / "data" / "aws_chunked"
CAPTURES: dict[str, Any] = json.loads((DATA / "captures.json").read_text())
SMALL = CAPTURES["small"]
RECIPES = CAPTURES["recipes"]

UNSIGNED_TRAILER = STREAMING_MODES["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
SIGNED = STREAMING_MODES["STREAMING-AWS4-HMAC-SHA256-PAYLOAD"]
SIGNED_TRAILER = STREAMING_MODES["STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"]


def decode(
    pieces: list[bytes], decoder: AwsChunkedDecoder | None = None
) -> tuple[bytes, dict[str, str]]:
    decoder = decoder or AwsChunkedDecoder()
    out = b"".join(b"".join(decoder.feed(piece)) for piece in pieces)
    return out, decoder.finish()


def split_at(body: bytes, sizes: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for size in sizes:
        pieces.append(body[pos : pos + size])
        pos += size
    assert pos == len(body)
    return pieces


def bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def frame(
    payload: bytes,
    chunk_size: int,
    *,
    trailers: Mapping[str, str] | None = None,
    upper: bool = False,
) -> bytes:
    """An unsigned aws-chunked body the way botocore (lower hex) or aws-sdk-cpp (upper) build it."""
    spell = "{:X}" if upper else "{:x}"
    out = bytearray()
    for start in range(0, len(payload), chunk_size):
        chunk = payload[start : start + chunk_size]
        out += spell.format(len(chunk)).encode() + b"\r\n" + chunk + b"\r\n"
    out += b"0\r\n"
    for name, value in (trailers or {}).items():
        out += f"{name}:{value}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


# --- recorded bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SMALL, ids=[s["file"] for s in SMALL])
@pytest.mark.parametrize("feeding", ["whole", "bytewise", "http-chunks"])
def test_captured_small_bodies(sample: dict[str, Any], feeding: str) -> None:
    body = (DATA / sample["file"]).read_bytes()
    pieces = {
        "whole": [body],
        "bytewise": bytewise(body),
        "http-chunks": split_at(body, sample["http_chunk_sizes"]),
    }[feeding]
    decoder = AwsChunkedDecoder(
        mode=streaming_mode(sample["mode"]), decoded_length=sample["decoded_length"]
    )
    payload, trailers = decode(pieces, decoder)
    assert payload == sample["payload"].encode()
    assert trailers == sample["trailers"]
    assert decoder.done
    assert decoder.decoded_size == sample["decoded_length"]


@pytest.mark.parametrize("sample", SMALL, ids=[s["file"] for s in SMALL])
def test_captured_trailer_checksums_verify(sample: dict[str, Any]) -> None:
    """The trailer each client computed matches what DigestTee computes over the decoded body."""
    body = (DATA / sample["file"]).read_bytes()
    decoder = AwsChunkedDecoder(mode=streaming_mode(sample["mode"]))
    [(header, value)] = sample["trailers"].items()
    algorithm = header.removeprefix("x-amz-checksum-")
    tee = DigestTee(decode_aws_chunked([body], decoder), [algorithm])
    assert b"".join(tee) == sample["payload"].encode()
    trailers = decoder.finish()
    tee.verify({header: trailers[header]}, None, sample["decoded_length"])
    assert tee.checksums[algorithm] == value


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_captured_bodies_in_random_splits(data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(SMALL))
    body = (DATA / sample["file"]).read_bytes()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(body) - 1), max_size=12)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    payload, trailers = decode(pieces)
    assert payload == sample["payload"].encode()
    assert trailers == sample["trailers"]


def _synthetic_payload(size: int) -> bytes:
    """Deterministic stand-in for the 20 MiB random file whose bytes the captures elide."""
    block = hashlib.sha256(b"pachs3 synthetic payload").digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.parametrize("recipe", RECIPES, ids=["boto3-https-11", "pyarrow-http-12"])
def test_captured_large_part_framing(recipe: dict[str, Any]) -> None:
    """Rebuild the large UploadPart bodies from what the log recorded (raw length, chunk headers,
    HTTP chunk size, trailer name) around a synthetic payload, and decode them as they arrived."""
    payload = _synthetic_payload(recipe["decoded_length"])
    algorithm = recipe["trailer"].removeprefix("x-amz-checksum-")
    trailer_value = checksum_b64(algorithm, payload)
    # The real trailer value has the same length, so the raw length must come out as recorded.
    assert len(trailer_value) == len(recipe["captured_trailer_value"])
    body = frame(
        payload,
        recipe["chunk_size"],
        trailers={recipe["trailer"]: trailer_value},
        upper=recipe["hex_case"] == "upper",
    )
    assert len(body) == recipe["raw_len"]
    assert body.startswith(recipe["first_chunk_header"].encode() + b"\r\n")
    assert body.endswith(f"\r\n0\r\n{recipe['trailer']}:{trailer_value}\r\n\r\n".encode())
    step = recipe["http_chunk_size"]
    http_chunks = [body[i : i + step] for i in range(0, len(body), step)]
    assert len(http_chunks) + 1 == recipe["http_chunk_count"]  # + the empty terminating chunk

    chunk_sizes: list[int] = []

    class Sizes:
        def on_chunk(self, size: int, signature: str | None) -> None:
            chunk_sizes.append(size)

        def on_data(self, data: bytes) -> None:
            pass

        def on_trailers(self, trailers: Mapping[str, str]) -> None:
            pass

    decoder = AwsChunkedDecoder(
        mode=streaming_mode(recipe["mode"]),
        decoded_length=recipe["decoded_length"],
        listener=Sizes(),
    )
    tee = DigestTee(decode_aws_chunked(http_chunks, decoder), [algorithm])
    size = 0
    for piece in tee:
        assert 0 < len(piece) <= step  # never more than one input chunk's worth
        size += len(piece)
    assert size == recipe["decoded_length"]
    trailers = decoder.finish()
    tee.verify(trailers, None, recipe["decoded_length"])
    assert len(chunk_sizes) == recipe["aws_chunks"]
    assert chunk_sizes[-1] == 0


# --- signed streaming ----------------------------------------------------------------------------

# The worked example of AWS's "Signature Calculations for the Authorization Header: Transferring
# Payload in Multiple Chunks": 66560 bytes of 'a' in 64 KiB chunks, example credentials.
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_SCOPE = "20130524/us-east-1/s3/aws4_request"
AWS_TIME = "20130524T000000Z"
AWS_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
AWS_SIGNED_BODY = (
    b"10000;chunk-signature=" + AWS_SIGNATURES[0].encode() + b"\r\n" + b"a" * 65536 + b"\r\n"
    b"400;chunk-signature=" + AWS_SIGNATURES[1].encode() + b"\r\n" + b"a" * 1024 + b"\r\n"
    b"0;chunk-signature=" + AWS_SIGNATURES[2].encode() + b"\r\n\r\n"
)


class ChainVerifier:
    """A test-side SigV4 streaming verifier built only on the listener interface."""

    def __init__(self, secret: str, scope: str, time: str, seed: str) -> None:
        key = ("AWS4" + secret).encode()
        for part in scope.split("/"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self.key, self.scope, self.time, self.previous = key, scope, time, seed
        self.pending: str | None = None
        self.hash = hashlib.sha256()
        self.verified = 0

    def _check(self) -> None:
        if self.pending is None:
            return
        string = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.time,
                self.scope,
                self.previous,
                hashlib.sha256(b"").hexdigest(),
                self.hash.hexdigest(),
            ]
        )
        expected = hmac.new(self.key, string.encode(), hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, self.pending)
        self.previous, self.pending, self.hash = self.pending, None, hashlib.sha256()
        self.verified += 1

    def on_chunk(self, size: int, signature: str | None) -> None:
        self._check()
        assert signature is not None
        self.pending = signature

    def on_data(self, data: bytes) -> None:
        self.hash.update(data)

    def on_trailers(self, trailers: Mapping[str, str]) -> None:
        self._check()


@pytest.mark.parametrize("feeding", ["whole", "bytewise", "odd"])
def test_signed_stream_aws_example(feeding: str) -> None:
    body = AWS_SIGNED_BODY
    pieces = {
        "whole": [body],
        "bytewise": bytewise(body),
        "odd": [body[i : i + 4093] for i in range(0, len(body), 4093)],
    }[feeding]
    verifier = ChainVerifier(AWS_SECRET, AWS_SCOPE, AWS_TIME, AWS_SEED)
    decoder = AwsChunkedDecoder(mode=SIGNED, decoded_length=66560, listener=verifier)
    payload, trailers = decode(pieces, decoder)
    assert payload == b"a" * 66560
    assert trailers == {}
    assert verifier.verified == 3
    assert decoder.last_signature == AWS_SIGNATURES[2]


def test_signed_stream_tampered_payload_fails_the_chain() -> None:
    body = AWS_SIGNED_BODY.replace(b"a" * 10, b"b" * 10, 1)
    verifier = ChainVerifier(AWS_SECRET, AWS_SCOPE, AWS_TIME, AWS_SEED)
    decoder = AwsChunkedDecoder(mode=SIGNED, listener=verifier)
    with pytest.raises(AssertionError):
        decode([body], decoder)


def test_signed_with_trailer() -> None:
    sig = "f" * 64
    body = (
        f"5;chunk-signature={sig}\r\nhello\r\n0;chunk-signature={sig}\r\n"
        f"x-amz-checksum-crc32c:{checksum_b64('crc32c', b'hello')}\r\n"
        f"x-amz-trailer-signature:{'e' * 64}\r\n\r\n"
    ).encode()
    for pieces in ([body], bytewise(body)):
        payload, trailers = decode(pieces, AwsChunkedDecoder(mode=SIGNED_TRAILER))
        assert payload == b"hello"
        assert trailers == {
            "x-amz-checksum-crc32c": checksum_b64("crc32c", b"hello"),
            "x-amz-trailer-signature": "e" * 64,
        }


def test_unsigned_mode_reports_signatures_it_is_given() -> None:
    seen: list[tuple[int, str | None]] = []

    class Record:
        def on_chunk(self, size: int, signature: str | None) -> None:
            seen.append((size, signature))

        def on_data(self, data: bytes) -> None:
            pass

        def on_trailers(self, trailers: Mapping[str, str]) -> None:
            pass

    body = b"3;chunk-signature=ABCDEF01\r\nabc\r\n0\r\n\r\n"
    assert decode([body], AwsChunkedDecoder(listener=Record())) == (b"abc", {})
    assert seen == [(3, "ABCDEF01"), (0, None)]


# --- framing variants that must be accepted ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "payload", "trailers"),
    [
        pytest.param(b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789", {}, id="lower-hex"),
        pytest.param(b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", {}, id="upper-hex"),
        pytest.param(b"000A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", {}, id="leading-zeros"),
        pytest.param(b"3;ext=1;other\r\nabc\r\n0\r\n\r\n", b"abc", {}, id="extensions"),
        pytest.param(b"3 ;ext=1\r\nabc\r\n0\r\n\r\n", b"abc", {}, id="blank-before-semicolon"),
        pytest.param(b"0\r\n\r\n", b"", {}, id="empty-no-trailer"),
        pytest.param(b"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", b"\r\n", {}, id="crlf-inside-payload"),
        pytest.param(
            b"0\r\nX-Amz-Checksum-CRC32 : AAAAAA== \r\n\r\n",
            b"",
            {"x-amz-checksum-crc32": "AAAAAA=="},
            id="trailer-name-case-and-blanks",
        ),
        pytest.param(
            b"2\r\nab\r\n0\r\nx-a:1\r\nx-b:\r\n\r\n",
            b"ab",
            {"x-a": "1", "x-b": ""},
            id="two-trailers-one-empty",
        ),
    ],
)
def test_accepted_framing(body: bytes, payload: bytes, trailers: dict[str, str]) -> None:
    assert decode([body]) == (payload, trailers)
    assert decode(bytewise(body)) == (payload, trailers)


def test_payload_pieces_are_the_input_or_slices_of_it() -> None:
    decoder = AwsChunkedDecoder()
    assert decoder.feed(b"10;x=y\r\n") == []
    data = b"0123456789abcdef"
    [piece] = decoder.feed(data)
    assert piece is data  # no copy when the whole input is payload
    assert decoder.feed(b"\r\n4\r\nwxyz\r\n0\r\n\r\n") == [b"wxyz"]
    assert decoder.finish() == {}


def test_accepts_bytearray_and_memoryview() -> None:
    decoder = AwsChunkedDecoder()
    out = decoder.feed(bytearray(b"3\r\nabc\r\n")) + decoder.feed(memoryview(b"0\r\n\r\n"))
    assert out == [b"abc"]
    assert decoder.finish() == {}


def test_decode_generator_checks_the_end() -> None:
    decoder = AwsChunkedDecoder()
    assert b"".join(decode_aws_chunked([b"3\r\nab", b"", b"c\r\n0\r\n\r\n"], decoder)) == b"abc"
    with pytest.raises(IncompleteBody):
        list(decode_aws_chunked([b"3\r\nabc\r\n"], AwsChunkedDecoder()))


@pytest.mark.parametrize(
    ("header", "mode"),
    [
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", StreamingMode(signed=False, trailers=True)),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", StreamingMode(signed=True, trailers=False)),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", StreamingMode(signed=True, trailers=True)),
        ("streaming-unsigned-payload-trailer", StreamingMode(signed=False, trailers=True)),
        ("UNSIGNED-PAYLOAD", None),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None),
        (None, None),
    ],
)
def test_streaming_mode_table(header: str | None, mode: StreamingMode | None) -> None:
    assert streaming_mode(header) == mode


# --- broken framing ------------------------------------------------------------------------------

BROKEN: list[Any] = [
    pytest.param(b"g\r\nabc\r\n0\r\n\r\n", id="bad-hex"),
    pytest.param(b"0x3\r\nabc\r\n0\r\n\r\n", id="0x-prefix"),
    pytest.param(b"+3\r\nabc\r\n0\r\n\r\n", id="plus-sign"),
    pytest.param(b" 3\r\nabc\r\n0\r\n\r\n", id="leading-blank"),
    pytest.param(b"3_0\r\nabc\r\n0\r\n\r\n", id="underscore"),
    pytest.param(b"\r\nabc\r\n0\r\n\r\n", id="empty-size"),
    pytest.param(b"11111111111111111\r\n", id="seventeen-hex-digits"),
    pytest.param(b"3\nabc\r\n0\r\n\r\n", id="bare-lf-after-size"),
    pytest.param(b"3\r\nabcX\n0\r\n\r\n", id="no-crlf-after-data"),
    pytest.param(b"3\r\nabc\rX0\r\n\r\n", id="cr-without-lf-after-data"),
    pytest.param(b"3\r\nabcd\r\n0\r\n\r\n", id="data-longer-than-size"),
    pytest.param(b"3;=x\r\nabc\r\n0\r\n\r\n", id="empty-extension-name"),
    pytest.param(b"3;chunk-signature=\r\nabc\r\n0\r\n\r\n", id="empty-signature"),
    pytest.param(b"3;chunk-signature=zz\r\nabc\r\n0\r\n\r\n", id="non-hex-signature"),
    pytest.param(b"0\r\nno-colon\r\n\r\n", id="trailer-without-colon"),
    pytest.param(b"0\r\n:value\r\n\r\n", id="trailer-without-name"),
    pytest.param(b"0\r\nbad name:v\r\n\r\n", id="trailer-name-with-space"),
    pytest.param(b"0\r\nx:1\r\nx:2\r\n\r\n", id="duplicate-trailer"),
    pytest.param(b"0\r\nx:\xff\r\n\r\n", id="non-ascii-trailer"),
    pytest.param(b"0\r\nx:1\n\r\n", id="trailer-bare-lf"),
    pytest.param(b"0\r\n\r\nX", id="data-after-end"),
    pytest.param(b"0\r\n\r\n0\r\n\r\n", id="second-body-after-end"),
]


@pytest.mark.parametrize("body", BROKEN)
@pytest.mark.parametrize("feeding", ["whole", "bytewise"])
def test_broken_framing_is_incomplete_body(body: bytes, feeding: str) -> None:
    pieces = [body] if feeding == "whole" else bytewise(body)
    with pytest.raises(IncompleteBody) as caught:
        decode(pieces)
    assert caught.value.code == "IncompleteBody"
    assert caught.value.status == 400
    assert caught.value.detail.startswith("The request body terminated unexpectedly")


@pytest.mark.parametrize("cut", range(len(b"3\r\nabc\r\n0\r\nx-a:1\r\n\r\n")))
def test_every_early_end_is_incomplete_body(cut: int) -> None:
    body = b"3\r\nabc\r\n0\r\nx-a:1\r\n\r\n"
    decoder = AwsChunkedDecoder()
    decoder.feed(body[:cut])
    with pytest.raises(IncompleteBody):
        decoder.finish()


@pytest.mark.parametrize(
    ("mode", "body"),
    [
        pytest.param(SIGNED, b"3\r\nabc\r\n0\r\n\r\n", id="signed-chunk-without-signature"),
        pytest.param(
            SIGNED,
            b"0;chunk-signature=ab\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            id="signed-trailer",
        ),
        pytest.param(
            StreamingMode(signed=False, trailers=False), b"0\r\nx:1\r\n\r\n", id="no-trailers"
        ),
    ],
)
def test_mode_violations(mode: StreamingMode, body: bytes) -> None:
    with pytest.raises(IncompleteBody):
        decode([body], AwsChunkedDecoder(mode=mode))


def test_decoded_length_too_much_stops_early() -> None:
    decoder = AwsChunkedDecoder(decoded_length=2)
    with pytest.raises(IncompleteBody, match="more payload"):
        decoder.feed(b"3\r\nabc")


def test_decoded_length_too_little() -> None:
    decoder = AwsChunkedDecoder(decoded_length=4)
    decoder.feed(b"3\r\nabc\r\n0\r\n\r\n")
    with pytest.raises(IncompleteBody, match="x-amz-decoded-content-length"):
        decoder.finish()


def test_min_chunk_size_applies_to_non_final_chunks_only() -> None:
    ok = b"4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
    assert decode([ok], AwsChunkedDecoder(min_chunk_size=4)) == (b"abcdef", {})
    small_first = b"2\r\nab\r\n4\r\ncdef\r\n0\r\n\r\n"
    with pytest.raises(InvalidChunkSizeError) as caught:
        decode([small_first], AwsChunkedDecoder(min_chunk_size=4))
    assert caught.value.code == "InvalidChunkSizeError"


def test_failed_decoder_refuses_more_input() -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(IncompleteBody):
        decoder.feed(b"zz\r\n")
    with pytest.raises(IncompleteBody):
        decoder.feed(b"0\r\n\r\n")
    with pytest.raises(IncompleteBody):
        decoder.finish()


# --- bounded memory ------------------------------------------------------------------------------


def _line_buffer(decoder: AwsChunkedDecoder) -> bytearray:
    buffer = decoder._line  # white-box: the only buffer that framing can grow
    assert isinstance(buffer, bytearray)
    return buffer


def test_size_line_cap_whole() -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(IncompleteBody, match="chunk size line too long"):
        decoder.feed(b"1" + b";x" * (16 * 1024 * 1024))


def test_size_line_cap_bytewise_never_buffers_more_than_the_cap() -> None:
    decoder = AwsChunkedDecoder()
    for _ in range(MAX_SIZE_LINE - 1):
        decoder.feed(b";")
        assert len(_line_buffer(decoder)) < MAX_SIZE_LINE
    with pytest.raises(IncompleteBody, match="too long"):
        decoder.feed(b";")


def test_size_line_at_the_cap_is_accepted() -> None:
    line = b"3;" + b"x" * (MAX_SIZE_LINE - 4) + b"\r\n"  # exactly MAX_SIZE_LINE bytes with CRLF
    assert len(line) == MAX_SIZE_LINE
    assert decode([line + b"abc\r\n0\r\n\r\n"]) == (b"abc", {})
    with pytest.raises(IncompleteBody):
        decode([b"3;x" + line[2:] + b"abc\r\n0\r\n\r\n"])


def test_trailer_section_cap() -> None:
    line = b"x-a:" + b"v" * 1000 + b"\r\n"
    many = [
        f"x-{i}:".encode() + b"v" * 1000 + b"\r\n" for i in range(MAX_TRAILER_BYTES // 1000 + 1)
    ]
    with pytest.raises(IncompleteBody, match="trailer section too long"):
        decode([b"0\r\n" + b"".join(many) + b"\r\n"])
    with pytest.raises(IncompleteBody, match="trailer section too long"):
        decode(bytewise(b"0\r\n" + b"".join(many) + b"\r\n"))
    assert decode([b"0\r\n" + line + b"\r\n"])[1] == {"x-a": "v" * 1000}


def test_large_payload_is_never_buffered() -> None:
    decoder = AwsChunkedDecoder()
    decoder.feed(b"4000000\r\n")  # 64 MiB chunk
    block = b"z" * (1 << 20)
    for _ in range(64):
        assert decoder.feed(block) == [block]
        assert len(_line_buffer(decoder)) == 0
    assert decoder.feed(b"\r\n0\r\n\r\n") == []
    assert decoder.finish() == {}


def test_errors_are_s3_errors() -> None:
    with pytest.raises(S3Error):
        decode([b"nothex\r\n"])


def _iter_pieces(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


@settings(max_examples=40, deadline=None)
@given(
    payload=st.binary(max_size=3000),
    chunk_size=st.integers(1, 700),
    piece=st.integers(1, 999),
    upper=st.booleans(),
)
def test_roundtrip_property(payload: bytes, chunk_size: int, piece: int, upper: bool) -> None:
    trailers = {"x-amz-checksum-crc32": checksum_b64("crc32", payload)}
    body = frame(payload, chunk_size, trailers=trailers, upper=upper)
    decoder = AwsChunkedDecoder(decoded_length=len(payload))
    out = b"".join(decode_aws_chunked(_iter_pieces(body, piece), decoder))
    assert out == payload
    assert decoder.finish() == trailers
