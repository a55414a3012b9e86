"""Small contents kept inline in the local store's database, and where they meet blob files.

Contents up to ``INLINE_MAX`` bytes are rows of ``inline_blobs``, committed with their entry;
larger ones are blob files. Copies and composes reference either kind without copying a byte, a
composed file may mix both, reads stream both, and ``gc`` reclaims both.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pachs3.backends import (
    Absent,
    AlreadyExists,
    CommitRef,
    Conflict,
    LocalStore,
    StoreError,
    Truncated,
    commit,
)
from pachs3.backends.local.blobs import INLINE_MAX, SPILL_SIZE


@pytest.fixture(params=["process-crash", "power-loss"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "store", durability=request.param, chunk_size=10_000) as opened:
        opened.create_repo("r")
        yield opened


def blob_names(store: LocalStore) -> list[str]:
    return sorted(p.name for p in (store.path / "blobs").rglob("*") if p.is_file())


def inline_names(store: LocalStore) -> list[str]:
    con = sqlite3.connect(store.path / "store.db")
    try:
        return sorted(d.hex() for (d,) in con.execute("SELECT digest FROM inline_blobs"))
    finally:
        con.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pieces(data: bytes, size: int = 1000) -> Iterator[bytes]:
    """The upload in small chunks, as a socket delivers it."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(store: LocalStore, ref: CommitRef, path: str, **kw: int) -> bytes:
    return b"".join(store.read_file(ref, path, **kw))


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# --------------------------------------------------------------------------------------------
# Where a content goes


@pytest.mark.parametrize(
    ("size", "inline"),
    [
        (1, True),
        (INLINE_MAX - 1, True),
        (INLINE_MAX, True),  # exactly the threshold: still inline
        (INLINE_MAX + 1, False),  # one byte more: a blob file
        (SPILL_SIZE + 1, False),  # beyond the in-memory buffer: through a temporary file
    ],
)
def test_the_threshold_decides_inline_or_file(store: LocalStore, size: int, inline: bool) -> None:
    data = payload(size, size)
    info = store.start_commit("r", "master")
    put = store.put_file(info.ref, "f", pieces(data))
    assert put.size == size
    assert put.md5 == hashlib.md5(data).hexdigest()
    assert (inline_names(store), blob_names(store)) == (
        ([sha(data)], []) if inline else ([], [sha(data)])
    )
    assert read(store, info.ref, "f") == data
    assert (
        read(store, info.ref, "f", offset=size // 3, length=size // 3)
        == data[size // 3 : size // 3 + size // 3]
    )
    assert read(store, info.ref, "f", offset=size - 1) == data[-1:]
    assert read(store, info.ref, "f", offset=size + 5) == b""
    chunks = list(store.read_file(info.ref, "f"))
    assert max(len(c) for c in chunks) <= 10_000  # inline contents stream in chunks too
    assert store.inspect_file(info.ref, "f") == put
    store.finish_commit("r", info.id)
    assert read(store, CommitRef(repo="r", id="master"), "f") == data
    assert list((store.path / "tmp").iterdir()) == []


def test_an_empty_file_needs_no_content(store: LocalStore) -> None:
    info = store.start_commit("r", "master")
    store.put_file(info.ref, "empty", [])
    assert read(store, info.ref, "empty") == b""
    assert (inline_names(store), blob_names(store)) == ([], [])


def test_inline_contents_are_stored_once_and_survive_reopening(tmp_path: Path) -> None:
    with LocalStore(tmp_path) as store:
        store.create_repo("r")
        with commit(store, "r", "master") as info:
            store.put_file(info.ref, "a", [b"same"])
            store.put_file(info.ref, "b", [b"sa", b"me"])
            store.put_files(info.ref, [("c", b"same"), ("d", b"other")])
        assert inline_names(store) == sorted([sha(b"same"), sha(b"other")])
    with LocalStore(tmp_path, durability="power-loss") as store:
        ref = CommitRef(repo="r", id="master")
        assert [read(store, ref, p) for p in "abcd"] == [b"same"] * 3 + [b"other"]


def test_a_failed_or_refused_small_write_stores_nothing(store: LocalStore) -> None:
    def failing() -> Iterator[bytes]:
        yield b"half of it"
        raise OSError("network")

    info = store.start_commit("r", "master")
    with pytest.raises(OSError, match="network"):
        store.put_file(info.ref, "f", failing())
    store.put_file(info.ref, "f", [b"first"])
    with pytest.raises(AlreadyExists):
        store.put_file(info.ref, "f", [b"second"], expect=Absent())
    store.finish_commit("r", info.id)
    with pytest.raises(Conflict):
        store.put_file(info.ref, "g", [b"late"])
    with pytest.raises(Conflict):
        store.put_files(info.ref, [("g", b"late too")])
    assert inline_names(store) == [sha(b"first")]


# --------------------------------------------------------------------------------------------
# Metadata operations over both kinds


def test_compose_mixes_inline_and_file_parts(store: LocalStore) -> None:
    sizes = {"tiny": 7, "exact": INLINE_MAX, "over": INLINE_MAX + 1, "big": SPILL_SIZE + 3}
    parts = {name: payload(size, size) for name, size in sizes.items()}
    info = store.start_commit("r", "master")
    for name, data in parts.items():
        store.put_file(info.ref, name, pieces(data, 4096))
    store.put_file(info.ref, "empty", [])
    order = ["tiny", "over", "empty", "exact", "tiny", "big", "exact"]
    before = (inline_names(store), blob_names(store))
    composed = store.compose_file(info.ref, "c", [(info.ref, n) for n in order], etag="x-7")
    expected = b"".join(parts.get(n, b"") for n in order)
    assert composed.size == len(expected)
    assert read(store, info.ref, "c") == expected
    # Every range, including ones that start, end or lie inside a part of either kind.
    rng = random.Random(1)
    bounds = [0]
    for name in order:
        bounds.append(bounds[-1] + len(parts.get(name, b"")))
    offsets = sorted(
        {*bounds, *(b - 1 for b in bounds if b), *(rng.randrange(len(expected)) for _ in range(20))}
    )
    for offset in offsets:
        length = rng.choice([1, 100, INLINE_MAX, len(expected)])
        assert (
            read(store, info.ref, "c", offset=offset, length=length)
            == expected[offset : offset + length]
        )
    # A compose of a composed file and a copy of it: still no content written.
    store.copy_file(info.ref, "c", info.ref, "c-copy")
    again = store.compose_file(info.ref, "cc", [(info.ref, "c"), (info.ref, "tiny")], etag="y-2")
    assert again.size == len(expected) + sizes["tiny"]
    assert read(store, info.ref, "cc") == expected + parts["tiny"]
    assert read(store, info.ref, "c-copy") == expected
    assert (inline_names(store), blob_names(store)) == before
    store.finish_commit("r", info.id)


def test_copy_of_an_inline_file_outlives_its_source(store: LocalStore) -> None:
    store.create_repo("other")
    with commit(store, "r", "master") as info:
        store.put_file(info.ref, "src", [b"small and shared"])
    with commit(store, "other", "master") as other:
        copied = store.copy_file(info.ref, "src", other.ref, "dst", metadata={"k": "v"})
    assert copied.size == len(b"small and shared")
    assert copied.metadata == {"k": "v"}
    store.delete_repo("r")
    assert store.gc().blobs_removed == 0
    assert read(store, other.ref, "dst") == b"small and shared"


# --------------------------------------------------------------------------------------------
# Reclaiming and damage


def test_gc_reclaims_unreferenced_inline_contents(store: LocalStore) -> None:
    big = payload(INLINE_MAX + 1, 9)
    with commit(store, "r", "master") as info:
        store.put_file(info.ref, "kept", [b"kept"])
        store.put_file(info.ref, "overwritten", [b"old"])
        store.put_file(info.ref, "overwritten", [b"new!"])
        store.put_file(info.ref, "part", [b"only a part"])
        store.put_file(info.ref, "big", [big])
        store.compose_file(info.ref, "whole", [(info.ref, "part"), (info.ref, "big")], etag="e")
        store.delete_file(info.ref, "part")  # its content lives on in "whole"
    doomed = store.start_commit("r", "master")
    store.put_file(doomed.ref, "discarded", [b"never finished"])
    store.put_file(doomed.ref, "big-discarded", [payload(INLINE_MAX + 2, 10)])
    store.discard_commit("r", doomed.id)
    report = store.gc()
    assert report.blobs_removed == 3  # "old", "never finished", and the discarded blob file
    assert report.bytes_freed == len(b"old") + len(b"never finished") + INLINE_MAX + 2
    assert inline_names(store) == sorted(sha(d) for d in (b"kept", b"new!", b"only a part"))
    assert blob_names(store) == [sha(big)]
    ref = CommitRef(repo="r", id="master")
    assert read(store, ref, "whole") == b"only a part" + big
    assert read(store, ref, "overwritten") == b"new!"
    assert store.gc().blobs_removed == 0
    store.delete_repo("r")
    assert store.gc().blobs_removed == 4
    assert (inline_names(store), blob_names(store)) == ([], [])


def test_a_missing_inline_content_raises_truncated(store: LocalStore) -> None:
    info = store.start_commit("r", "master")
    store.put_file(info.ref, "f", [b"doomed bytes"])
    store.put_file(info.ref, "big", [payload(INLINE_MAX + 1, 3)])
    store.compose_file(info.ref, "c", [(info.ref, "big"), (info.ref, "f")], etag="e")
    con = sqlite3.connect(store.path / "store.db")
    con.execute("DELETE FROM inline_blobs")
    con.commit()
    con.close()
    with pytest.raises(Truncated):
        read(store, info.ref, "f")
    stream = store.read_file(info.ref, "c")
    assert len(next(stream)) == 10_000  # the blob file part streams, then the bytes run out
    with pytest.raises(Truncated):
        b"".join(stream)


# --------------------------------------------------------------------------------------------
# Format


def test_an_older_format_version_is_refused(tmp_path: Path) -> None:
    LocalStore(tmp_path).close()
    con = sqlite3.connect(tmp_path / "store.db")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="version 1, older"):
        LocalStore(tmp_path)
