"""pachs3/hash_thread.py: a large body's hashes computed on a thread of their own give exactly
the digests hashed in line, the hand-off never buffers more than its bound, and an abandoned or
failing body stops the thread."""

from __future__ import annotations

import hashlib
import random
import threading
import zlib
from collections.abc import Iterator

import pytest

from pachs3.core.digest_tee import OFFLOAD_AFTER, DigestTee
from pachs3.hash_thread import BATCH_BYTES, MAX_BATCHES_AHEAD, ThreadHashFeed

MiB = 1024 * 1024


def _chunks(total: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, left = [], total
    while left:
        size = min(left, rng.choice([1, 17, 4096, 65536, 300_001, 2 * MiB]))
        out.append(rng.randbytes(size))
        left -= size
    return out


def _hash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pachs3-hash"]


@pytest.mark.parametrize(("total", "seed"), [(0, 1), (OFFLOAD_AFTER, 2), (9 * MiB + 7, 3)])
def test_offloaded_digests_are_the_inline_ones(total: int, seed: int) -> None:
    chunks = _chunks(total, seed)
    inline = DigestTee(chunks, ["crc32", "sha256"])
    offloaded = DigestTee(chunks, ["crc32", "sha256"], offload=ThreadHashFeed)
    assert b"".join(offloaded) == b"".join(inline) == b"".join(chunks)
    whole = b"".join(chunks)
    assert offloaded.md5_digest == inline.md5_digest == hashlib.md5(whole).digest()
    assert offloaded.digest("sha256") == hashlib.sha256(whole).digest()
    assert offloaded.digest("crc32") == zlib.crc32(whole).to_bytes(4, "big")
    assert offloaded.size == total


def test_a_reused_buffer_is_copied_before_the_hasher_sees_it() -> None:
    """A transport that hands out one bytearray again and again must not change bytes the
    hasher has not read yet: past the offload point every chunk is frozen as bytes."""
    buffer = bytearray(256 * 1024)

    def refilled() -> Iterator[bytearray]:
        for i in range(40):
            buffer[:] = bytes([i]) * len(buffer)
            yield buffer

    tee = DigestTee(refilled(), offload=ThreadHashFeed)
    seen = [bytes(chunk) for chunk in tee]
    assert tee.md5_digest == hashlib.md5(b"".join(seen)).digest()
    assert seen == [bytes([i]) * len(buffer) for i in range(40)]


def test_an_abandoned_body_stops_its_hash_thread() -> None:
    before = len(_hash_threads())
    tee = iter(DigestTee(iter(_chunks(20 * MiB, 4)), offload=ThreadHashFeed))
    for _ in range(8):
        next(tee)
    assert len(_hash_threads()) == before + 1
    tee.close()  # what a store does when it gives up on a body (GeneratorExit)
    for thread in _hash_threads()[before:]:
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_a_failing_hash_is_raised_in_the_requests_thread() -> None:
    def broken(chunk: bytes) -> None:
        raise ValueError("hasher failed")

    feed = ThreadHashFeed((broken,))

    def upload() -> None:
        for _ in range(MAX_BATCHES_AHEAD * 4):
            feed.feed(b"x" * BATCH_BYTES)
        feed.finish()

    with pytest.raises(ValueError, match="hasher failed"):
        upload()


def test_the_hand_off_holds_at_most_its_bound() -> None:
    """A hasher that falls behind holds the upload back: the request's thread blocks once
    MAX_BATCHES_AHEAD batches wait, so memory stays bounded whatever the body's size."""
    gate = threading.Event()
    hashed: list[int] = []

    def slow(chunk: bytes) -> None:
        gate.wait()
        hashed.append(len(chunk))

    feed = ThreadHashFeed((slow,))
    fed = threading.Event()
    count = MAX_BATCHES_AHEAD + 3

    def producer() -> None:
        for _ in range(count):
            feed.feed(b"y" * BATCH_BYTES)
        fed.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not fed.wait(0.5), "the producer ran ahead of a stalled hasher"
    gate.set()
    assert fed.wait(5)
    thread.join()
    feed.finish()
    assert sum(hashed) == count * BATCH_BYTES
