"""Checksums: published check values, values recorded from real clients, pure Python against
zlib/hashlib/awscrt, the registry and accel.install(), and DigestTee's verdicts."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pachs3 import accel
from pachs3.core import digests
from pachs3.core.digest_tee import DigestTee
from pachs3.core.digests import (
    CHECKSUM_ALGORITHMS,
    Checksum,
    Crc32,
    Crc32c,
    Crc64Nvme,
    checksum_b64,
    decode_checksum,
    new_checksum,
    register_checksum,
)
from pachs3.core.errors import BadDigest, IncompleteBody, InvalidDigest, InvalidRequest

CHECK = b"123456789"


@pytest.fixture(autouse=True)
def pure_registry() -> Iterator[None]:
    """Every test starts and ends with the pure implementations registered."""
    register_checksum("crc32c", Crc32c)
    register_checksum("crc64nvme", Crc64Nvme)
    yield
    register_checksum("crc32c", Crc32c)
    register_checksum("crc64nvme", Crc64Nvme)


# Published check values (CRC catalogue: CRC-32/ISO-HDLC, CRC-32/ISCSI, CRC-64/NVME) and the
# well-known digests of "123456789".
@pytest.mark.parametrize(
    ("name", "digest_hex"),
    [
        ("crc32", "cbf43926"),
        ("crc32c", "e3069283"),
        ("crc64nvme", "ae8b14860a799888"),
        ("md5", "25f9e794323b453885f5181f1b624d0b"),
        ("sha1", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
        ("sha256", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
    ],
)
def test_check_values(name: str, digest_hex: str) -> None:
    checksum = new_checksum(name)
    checksum.update(CHECK)
    assert checksum.digest().hex() == digest_hex


@pytest.mark.parametrize(
    ("name", "data", "value", "where"),
    [
        ("crc32", b"", "AAAAAA==", "boto3-https #6 empty PutObject trailer"),
        ("crc64nvme", b"", "AAAAAAAAAAA=", "pyarrow-http #9 empty UploadPart header"),
        ("crc32c", b"", "AAAAAA==", "empty body"),
        ("crc32", b"hello world\n", "rwg7LQ==", "boto3-https #4 trailer"),
        ("crc64nvme", b"hello world\n", "D3gOhIHSoh8=", "pyarrow-http #3 trailer"),
        ("crc32", b"hello world\n" * 3, "6wn4jA==", "awscli-v1-https #13 trailer"),
        ("md5", b"hello world\n", "b1kCrCNwJL3QwXbLkwY9xA==", "ETag 6f5902ac... as Content-MD5"),
        ("sha1", b"", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "empty body"),
        ("sha256", b"", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "empty body"),
    ],
)
def test_recorded_values(name: str, data: bytes, value: str, where: str) -> None:
    assert checksum_b64(name, data) == value, where


def _crt(name: str, data: bytes) -> bytes:
    """awscrt's value (the reference C implementation); skips the test without awscrt."""
    checksums = pytest.importorskip("awscrt.checksums")
    if name == "crc32c":
        return int(checksums.crc32c(data, 0)).to_bytes(4, "big")
    return int(checksums.crc64nvme(data, 0)).to_bytes(8, "big")


@pytest.mark.parametrize("name", ["crc32c", "crc64nvme"])
@pytest.mark.parametrize("size", [0, 1, 7, 15, 16, 17, 31, 33, 1000, 65536 + 3])
def test_pure_matches_awscrt(name: str, size: int) -> None:
    data = os.urandom(size)
    pure = new_checksum(name)
    pure.update(data)
    assert pure.digest() == _crt(name, data)


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_incremental_updates_equal_one_shot(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    for name in ("crc32", "crc32c", "crc64nvme", "sha1", "sha256", "md5"):
        whole, parts = new_checksum(name), new_checksum(name)
        whole.update(data)
        for piece in pieces:
            parts.update(piece)
        assert parts.digest() == whole.digest()
    assert Crc32().digest() == zlib.crc32(b"").to_bytes(4, "big")


def test_accel_install_registers_crt_and_agrees() -> None:
    pytest.importorskip("awscrt.checksums")
    assert accel.install() is True
    data = os.urandom(100_003)
    for name in ("crc32c", "crc64nvme"):
        fast = new_checksum(name)
        assert not isinstance(fast, Crc32c | Crc64Nvme)
        fast.update(data[:50_000])
        fast.update(data[50_000:])
        assert fast.digest() == _crt(name, data)
        reference: Checksum = Crc32c() if name == "crc32c" else Crc64Nvme()
        reference.update(data)
        assert fast.digest() == reference.digest()
    assert checksum_b64("crc64nvme", b"hello world\n") == "D3gOhIHSoh8="


def test_accel_install_without_awscrt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "_load_checksums", lambda: None)
    assert accel.install() is False
    assert isinstance(new_checksum("crc64nvme"), Crc64Nvme)


def test_registry_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown checksum"):
        new_checksum("crc16")
    with pytest.raises(ValueError, match="unknown checksum"):
        register_checksum("crc16", Crc32)
    assert isinstance(new_checksum("CRC32"), Crc32)  # names are case-insensitive


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("crc32", "AAAAAA==", True),
        ("crc32", "AAAAAA", False),  # padding is part of the value
        ("crc32", "AAAAAAAA", False),  # 6 bytes
        ("crc32", "AA*AAA==", False),
        ("crc64nvme", "AAAAAAAAAAA=", True),
        ("crc64nvme", "AAAAAA==", False),
        ("md5", "b1kCrCNwJL3QwXbLkwY9xA==", True),
        ("md5", "6f5902ac237024bdd0c176cb93063dc4", False),  # hex is not base64 of 16 bytes
        ("sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", True),
    ],
)
def test_decode_checksum(name: str, value: str, ok: bool) -> None:
    assert (decode_checksum(name, value) is not None) is ok


def test_algorithms_tuple() -> None:
    assert CHECKSUM_ALGORITHMS == ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
    assert set(digests.DIGEST_SIZES) == {*CHECKSUM_ALGORITHMS, "md5"}


# --- DigestTee -----------------------------------------------------------------------------------

BODY = [b"hello ", b"", b"world\n"]
WHOLE = b"hello world\n"
MD5_B64 = base64.b64encode(hashlib.md5(WHOLE).digest()).decode()


def _tee(*algorithms: str) -> DigestTee:
    tee = DigestTee(iter(BODY), algorithms)
    assert list(tee) == BODY
    return tee


def test_tee_passes_chunks_through_unchanged() -> None:
    chunks = [os.urandom(10), os.urandom(0), os.urandom(3000)]
    tee = DigestTee(chunks, ["crc32"])
    out = list(tee)
    assert all(a is b for a, b in zip(out, chunks, strict=True))
    assert tee.size == 3010


def test_tee_results() -> None:
    tee = _tee(*CHECKSUM_ALGORITHMS)
    assert tee.size == len(WHOLE)
    assert tee.md5_hex == "6f5902ac237024bdd0c176cb93063dc4"
    assert tee.checksums == {name: checksum_b64(name, WHOLE) for name in CHECKSUM_ALGORITHMS}
    assert list(tee.checksums) == list(CHECKSUM_ALGORITHMS)


def test_tee_requires_exhaustion() -> None:
    tee = DigestTee(iter(BODY), ["crc32"])
    with pytest.raises(RuntimeError):
        _ = tee.md5_hex
    iterator = iter(tee)
    next(iterator)
    with pytest.raises(RuntimeError):
        tee.verify({}, None, None)


def test_tee_rejects_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="unknown checksum"):
        DigestTee([], ["md4"])


def test_tee_close_closes_the_source() -> None:
    closed = []

    class Source:
        def __iter__(self) -> Iterator[bytes]:
            yield b"x"

        def close(self) -> None:
            closed.append(True)

    DigestTee(Source()).close()
    assert closed == [True]
    DigestTee([b"x"]).close()  # nothing to close: fine


def test_verify_all_good() -> None:
    tee = _tee("crc32", "crc64nvme", "sha256")
    tee.verify(
        {
            "crc32": "rwg7LQ==",
            "X-Amz-Checksum-CRC64NVME": "D3gOhIHSoh8=",  # header spelling accepted
            "sha256": checksum_b64("sha256", WHOLE),
        },
        MD5_B64,
        len(WHOLE),
    )
    tee.verify({}, None, None)


def test_verify_checksum_not_computed_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not computed"):
        _tee("crc32").verify({"sha1": checksum_b64("sha1", WHOLE)}, None, None)


WRONG_CRC32 = checksum_b64("crc32", b"other")


@pytest.mark.parametrize(
    ("checksums", "content_md5", "size", "error", "message"),
    [
        pytest.param(
            {"crc32": "rwg7LQ=="}, "not base64!", None, InvalidDigest,
            "The Content-MD5 you specified is not valid.", id="malformed-md5",
        ),
        pytest.param(
            {"crc32": "rwg7LQ=="}, "AAAA", None, InvalidDigest,
            "The Content-MD5 you specified is not valid.", id="short-md5",
        ),
        pytest.param(
            {"crc32": "rwg7"}, None, None, InvalidRequest,
            "Value for x-amz-checksum-crc32 header is invalid.", id="malformed-crc32",
        ),
        pytest.param(
            {"crc64nvme": "rwg7LQ=="}, None, None, InvalidRequest,
            "Value for x-amz-checksum-crc64nvme header is invalid.", id="crc64-of-crc32-size",
        ),
        pytest.param(
            {"crc32": WRONG_CRC32}, MD5_B64, 11, IncompleteBody,
            "You did not provide the number of bytes specified: 11 declared, 12 received.",
            id="size-before-digest",
        ),
        pytest.param(
            {}, base64.b64encode(b"\0" * 16).decode(), 12, BadDigest,
            "The Content-MD5 you specified did not match what we received.", id="md5-mismatch",
        ),
        pytest.param(
            {"crc32": WRONG_CRC32}, MD5_B64, 12, BadDigest,
            "The CRC32 you specified did not match the calculated checksum.", id="crc32-mismatch",
        ),
        pytest.param(
            {"crc64nvme": "AAAAAAAAAAA="}, None, None, BadDigest,
            "The CRC64NVME you specified did not match the calculated checksum.",
            id="crc64nvme-mismatch",
        ),
        pytest.param(
            {"sha256": checksum_b64("sha256", b"")}, None, None, BadDigest,
            "The SHA256 you specified did not match the calculated checksum.",
            id="sha256-mismatch",
        ),
        pytest.param(
            {"crc32c": checksum_b64("crc32c", b"")}, None, None, BadDigest,
            "The CRC32C you specified did not match the calculated checksum.",
            id="crc32c-mismatch",
        ),
        pytest.param(
            {"sha1": checksum_b64("sha1", b"")}, None, None, BadDigest,
            "The SHA1 you specified did not match the calculated checksum.",
            id="sha1-mismatch",
        ),
    ],
)  # fmt: skip
def test_verify_errors(
    checksums: dict[str, str],
    content_md5: str | None,
    size: int | None,
    error: type[Exception],
    message: str,
) -> None:
    tee = _tee(*CHECKSUM_ALGORITHMS)
    with pytest.raises(error) as caught:
        tee.verify(checksums, content_md5, size)
    assert str(caught.value) == message
    assert caught.value.status == 400  # type: ignore[attr-defined]


def test_empty_body_checksums_verify() -> None:
    tee = DigestTee([], ["crc32", "crc64nvme"])
    assert list(tee) == []
    tee.verify({"crc32": "AAAAAA==", "crc64nvme": "AAAAAAAAAAA="}, "1B2M2Y8AsgTpgAmY7PhCfg==", 0)
    assert tee.md5_hex == "d41d8cd98f00b204e9800998ecf8427e"


def test_install_once_changes_the_registry_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(accel, "install", lambda: calls.append(1) or False)
    accel.install_once.cache_clear()
    try:
        assert accel.install_once() is False
        assert accel.install_once() is False
        assert calls == [1]
    finally:
        accel.install_once.cache_clear()
