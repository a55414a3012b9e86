"""Strict SigV4 under attack: bit flips anywhere in randomly signed aws-chunked bodies, and a
signed upload end to end through ``SidecarGateway(credentials=...)``. The verifier's unit tests
(AWS's examples, botocore-signed requests, every refusal) are tests/core/test_sigv4.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hostile_support import budget, check_answer, memory_gateway
from hypothesis import given, settings
from hypothesis import strategies as st
from sigv4_signing import (
    DOC_TIME,
    KEYS,
    botocore_signed_streaming_head,
    doc_chunked_request,
    pieces,
    sign_chunks,
    signed_payload,
    with_header,
)

from pachs3.core import errors
from pachs3.core.http import RequestHead
from pachs3.core.sigv4 import verify_request


@settings(max_examples=budget(60, share=0.01), deadline=None, database=None)
@given(
    payload=st.binary(max_size=3000),
    sizes=st.lists(st.integers(1, 900), max_size=6),
    trailers=st.booleans(),
    flip=st.none() | st.integers(0, 10_000),
    piece=st.integers(1, 5000),
)
def test_signed_chunked_bodies_verify_and_any_flip_is_caught(
    payload: bytes, sizes: list[int], trailers: bool, flip: int | None, piece: int
) -> None:
    head, _ = doc_chunked_request(trailers)
    context = verify_request(head, KEYS, DOC_TIME)
    extra = {"x-amz-checksum-crc32": "AAAAAA=="} if trailers else {}
    body = sign_chunks(context, payload, sizes, extra)
    if flip is None:
        assert signed_payload(context, pieces(body, piece)) == payload
        return
    at = flip % len(body)
    tampered = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]
    with pytest.raises(
        (errors.SignatureDoesNotMatch, errors.IncompleteBody, errors.InvalidChunkSizeError)
    ):
        signed_payload(context, pieces(tampered, piece))


# ---------------------------------------------------------------------------------------------
# The proposed integration, end to end through SidecarGateway.handle


def test_integration_signed_chunked_upload_end_to_end() -> None:
    """Through the real gateway with ``credentials=``: a signed aws-chunked upload is stored, the
    same body with one byte changed is refused with nothing stored, and unsigned or wrongly
    signed requests are refused before their body is read."""
    payload = bytes(range(256)) * 300
    with memory_gateway(credentials=KEYS) as gateway:
        out = gateway.output_commit
        assert out is not None
        # Sign once to learn the seed, then the body from it; the length is the body's own.
        probe = botocore_signed_streaming_head("/out/obj", len(payload), 0)
        body_length = len(
            sign_chunks(verify_request(probe, KEYS, datetime.now(UTC)), payload, [8192] * 9, {})
        )
        head = botocore_signed_streaming_head("/out/obj", len(payload), body_length)
        context = verify_request(head, KEYS, datetime.now(UTC))
        good = sign_chunks(context, payload, [8192] * 9, {})
        assert len(good) == body_length
        answer = check_answer(head, gateway.handle(head, iter(pieces(good, 5000))))
        assert answer.status == 200
        assert b"".join(gateway.backend.read_file(out.ref, "obj")) == payload
        # The same upload with one payload byte changed: refused, and nothing stored.
        gateway.backend.delete_file(out.ref, "obj")
        at = good.index(bytes(range(256)))
        bad = good[:at] + b"\xff" + good[at + 1 :]
        answer = check_answer(head, gateway.handle(head, iter(pieces(bad, 5000))))
        assert answer.code == "SignatureDoesNotMatch"
        assert [info.path for info in gateway.backend.walk_files(out.ref)] == []
        # Unsigned and wrongly signed requests are refused before the body is read.
        for refused in (
            RequestHead(method="GET", path="/in/a.txt"),
            with_header(head, "x-amz-decoded-content-length", "1"),
        ):
            untouched = iter([b"never read"])
            answer = check_answer(refused, gateway.handle(refused, untouched))
            assert answer.status == 403
            assert next(untouched) == b"never read"
