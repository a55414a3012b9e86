"""What only the local store has: its on-disk format, blobs, garbage collection, compaction."""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from pachs3.backends import (
    CommitRef,
    Conflict,
    LocalStore,
    NotFound,
    NotSupported,
    StoreError,
    Truncated,
    Unavailable,
    commit,
)
from pachs3.backends.local.blobs import INLINE_MAX
from pachs3.backends.local.layers import MERGE_RATIO, layers_to_merge, upper_bound

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "store") as opened:
        opened.create_repo("r")
        yield opened


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "blobs").rglob("*") if p.is_file())


def inline_digests(root: Path) -> list[str]:
    """SHA-256 hex of every content kept inline in the database."""
    con = sqlite3.connect(root / "store.db")
    try:
        return sorted(d.hex() for (d,) in con.execute("SELECT digest FROM inline_blobs"))
    finally:
        con.close()


def contents(root: Path) -> int:
    """How many contents the store holds, in blob files and inline."""
    return len(blob_files(root)) + len(inline_digests(root))


def read(store: LocalStore, ref: CommitRef, path: str) -> bytes:
    return b"".join(store.read_file(ref, path))


# --------------------------------------------------------------------------------------------
# Opening: what is and is not a store


def test_a_missing_path_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store"
    with LocalStore(path) as store:
        assert store.list_repos() == []
    assert (path / "store.db").is_file()
    assert (path / "blobs").is_dir()
    assert (path / "tmp").is_dir()


def test_an_empty_directory_becomes_a_store(tmp_path: Path) -> None:
    with LocalStore(tmp_path) as store:
        store.create_repo("r")
    with LocalStore(tmp_path) as store:
        assert [r.name for r in store.list_repos()] == ["r"]


def test_data_survives_reopening(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as store:
        store.create_repo("r")
        with commit(store, "r", "master") as info:
            store.put_file(info.ref, "k", [b"v"], metadata={"content-type": "t"})
    with LocalStore(tmp_path / "s", durability="power-loss") as store:
        ref = CommitRef(repo="r", id="master")
        assert read(store, ref, "k") == b"v"
        assert store.inspect_file(ref, "k").metadata == {"content-type": "t"}


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("hello")
    with pytest.raises(StoreError, match="not a directory"):
        LocalStore(path)


def test_a_directory_with_other_content_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a pachs3 store"):
        LocalStore(tmp_path)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_corrupt_database_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "store.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a pachs3 store"):
        LocalStore(tmp_path)


def test_a_foreign_sqlite_database_is_not_a_store(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "store.db")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a pachs3 store"):
        LocalStore(tmp_path)


def test_a_newer_format_version_is_refused(tmp_path: Path) -> None:
    LocalStore(tmp_path).close()
    con = sqlite3.connect(tmp_path / "store.db")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="version 99, newer"):
        LocalStore(tmp_path)


def test_a_store_whose_creation_was_cut_short_opens(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "init-123-abc.db").write_bytes(b"half written")
    old = time.time() - 3600
    os.utime(tmp_path / "tmp" / "init-123-abc.db", (old, old))
    with LocalStore(tmp_path) as store:
        assert store.list_repos() == []
    assert os.listdir(tmp_path / "tmp") == []


def test_many_processes_creating_one_store_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared"
    code = (
        "import sys; from pachs3.backends import LocalStore\n"
        "s = LocalStore(sys.argv[1]); s.create_repo(sys.argv[2]); s.close()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(path), f"r{n}"], env=env)
        for n in range(4)
    ]
    assert [child.wait() for child in children] == [0] * 4
    with LocalStore(path) as store:
        assert [r.name for r in store.list_repos()] == ["r0", "r1", "r2", "r3"]


def test_a_sweep_during_creation_spares_the_creators_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process opening the store sweeps tmp/ of files whose writer is gone; a creator
    that stalls while building the database must not look gone (a flake under load)."""
    from pachs3.backends.local import database as local_db
    from pachs3.backends.local.blobs import BlobStore

    root = tmp_path / "store"
    build = local_db._build_database
    swept: list[int] = []

    def build_then_sweep(tmp: Path) -> None:
        build(tmp)
        # What a concurrent opener does, with any age counting as old enough.
        swept.append(BlobStore(root, durable=False).sweep_temp(min_age=0))

    monkeypatch.setattr(local_db, "_build_database", build_then_sweep)
    with LocalStore(root) as store:
        store.create_repo("r")
        assert [r.name for r in store.list_repos()] == ["r"]
    assert swept == [0]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        LocalStore(tmp_path, durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        LocalStore(tmp_path, chunk_size=0)


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.close()
    with pytest.raises(Unavailable):
        store.list_repos()


# --------------------------------------------------------------------------------------------
# Blobs


def test_content_is_stored_once_by_its_sha256(store: LocalStore) -> None:
    data = b"same bytes" * 50_000  # beyond the in-memory threshold: goes through a temp file
    with commit(store, "r", "master") as info:
        store.put_file(info.ref, "a", [data])
        store.put_file(info.ref, "b", [data[:7], data[7:]])
        store.put_file(info.ref, "small-1", [b"tiny"])
        store.put_file(info.ref, "small-2", [b"tiny"])
        store.put_file(info.ref, "empty", [])
        store.copy_file(info.ref, "a", info.ref, "c")
        store.compose_file(info.ref, "d", [(info.ref, "a"), (info.ref, "small-1")], etag="x-2")
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    tiny = hashlib.sha256(b"tiny").hexdigest()
    assert [p.name for p in blob_files(store.path)] == [digest]
    assert inline_digests(store.path) == [tiny]  # small contents live in the database
    big = store.path / "blobs" / digest[:2] / digest
    assert big.read_bytes() == data
    assert os.listdir(store.path / "tmp") == []


def test_a_checked_payload_is_hashed_once_and_stored_at_the_same_address(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's CheckedPayload already hashed the payload (MD5 for the ETag, SHA-256 when the
    client signed it): the store takes those digests instead of hashing again, and the content
    lands exactly where hashing it itself would put it."""
    import hashlib

    from pachs3.backends.local import blobs as local_blobs
    from pachs3.core.body import CheckedPayload
    from pachs3.core.plans import BodySpec

    data = os.urandom(600_000)  # spills to a temp file and becomes a blob file
    small = b"small and inline"
    hashers_made: list[str] = []
    real_md5, real_sha256 = hashlib.md5, hashlib.sha256

    class CountingHashlib:
        @staticmethod
        def md5(*args: object, **kwargs: object) -> object:
            hashers_made.append("md5")
            return real_md5(*args, **kwargs)  # type: ignore[arg-type]

        @staticmethod
        def sha256(*args: object, **kwargs: object) -> object:
            hashers_made.append("sha256")
            return real_sha256(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(local_blobs, "hashlib", CountingHashlib)

    def signed(payload: bytes) -> CheckedPayload:
        spec = BodySpec(
            content_length=len(payload), content_sha256=hashlib.sha256(payload).hexdigest()
        )
        return CheckedPayload(spec, [payload[:1000], payload[1000:]])

    with commit(store, "r", "master") as info:
        verified = store.put_file(info.ref, "verified", signed(data))
        verified_small = store.put_file(info.ref, "verified-small", signed(small))
        assert hashers_made == []  # neither MD5 nor SHA-256 computed a second time
        unsigned = CheckedPayload(BodySpec(content_length=len(data)), [data])
        store.put_file(info.ref, "unsigned", unsigned)
        assert hashers_made == ["sha256"]  # MD5 reused; the address still needs SHA-256
        plain = store.put_file(info.ref, "plain", [data])
    assert verified.etag == plain.etag == hashlib.md5(data).hexdigest()
    assert verified_small.etag == hashlib.md5(small).hexdigest()
    digest = hashlib.sha256(data).hexdigest()
    assert [p.name for p in blob_files(store.path)] == [digest]  # one blob for all three
    assert hashlib.sha256(small).hexdigest() in inline_digests(store.path)
    for name in ("verified", "unsigned", "plain"):
        assert b"".join(store.read_file(info.ref, name)) == data


def test_a_large_upload_that_cannot_succeed_is_refused_before_it_is_received(
    store: LocalStore,
) -> None:
    """A small body is checked once, inside the write; a large one also before it spills, so a
    write to a finished commit does not first receive (and store) a gigabyte."""
    from pachs3.backends.local.blobs import SPILL_SIZE

    with commit(store, "r", "master") as info:
        store.put_file(info.ref, "x", [b"x"])
    received = 0

    def body() -> Iterator[bytes]:
        nonlocal received
        for _ in range(64):
            received += 64 << 10
            yield b"z" * (64 << 10)

    with pytest.raises(Conflict):
        store.put_file(info.ref, "late", body())
    assert received <= SPILL_SIZE + (64 << 10)
    assert os.listdir(store.path / "tmp") == []
    with pytest.raises(Conflict):
        store.put_file(info.ref, "late-small", [b"small"])


def test_open_file_reads_the_version_it_opened(store: LocalStore) -> None:
    """``open_file`` (the FileOpener capability a GET uses): ``info`` and ``read`` come from one
    snapshot, so a write after the open is not what is read; a closed file reads no more."""
    big = os.urandom(300_000)  # a blob file, beside an inline one
    info = store.start_commit("r", "master")
    store.put_file(info.ref, "small", [b"0123456789"])
    store.put_file(info.ref, "big", [big])

    with closing(store.open_file(info.ref, "small")) as opened:
        etag = opened.info.etag
        store.put_file(info.ref, "small", [b"replaced"])  # after the open: not what is read
        stream = opened.read(0, None)
    assert b"".join(stream) == b"0123456789"
    assert etag == hashlib.md5(b"0123456789").hexdigest()
    assert opened.info.size == 10
    with closing(store.open_file(info.ref, "small")) as opened:
        assert b"".join(opened.read()) == b"replaced"

    with closing(store.open_file(info.ref, "big")) as opened:
        assert opened.info.size == len(big)
        assert b"".join(opened.read(299_990, 100)) == big[299_990:]
        assert b"".join(opened.read(10, 5)) == big[10:15]
        with pytest.raises(ValueError, match="negative"):
            opened.read(-1, None)
    with pytest.raises(ValueError, match="closed"):
        opened.read(0, None)
    with pytest.raises(NotFound):
        store.open_file(info.ref, "missing")


def test_a_failed_upload_leaves_no_file_behind(store: LocalStore) -> None:
    def failing() -> Iterator[bytes]:
        yield b"x" * (1 << 20)
        yield b"y" * (1 << 20)
        raise OSError("network")

    info = store.start_commit("r", "master")
    with pytest.raises(OSError, match="network"):
        store.put_file(info.ref, "f", failing())
    assert os.listdir(store.path / "tmp") == []
    assert blob_files(store.path) == []


def test_a_blob_shorter_than_recorded_raises_truncated_mid_stream(tmp_path: Path) -> None:
    with LocalStore(tmp_path, chunk_size=1000) as store:
        store.create_repo("r")
        info = store.start_commit("r", None)
        store.put_file(info.ref, "f", [b"z" * (INLINE_MAX + 5000)])  # a blob file
        [blob] = blob_files(tmp_path)
        with blob.open("r+b") as f:
            f.truncate(2500)
        stream = store.read_file(info.ref, "f")
        assert next(stream) == b"z" * 1000
        assert next(stream) == b"z" * 1000
        assert next(stream) == b"z" * 500
        with pytest.raises(Truncated):
            next(stream)
        blob.unlink()
        stream = store.read_file(info.ref, "f", offset=10)
        with pytest.raises(Truncated):
            next(stream)


def test_a_damaged_blob_is_replaced_by_a_fresh_upload_of_the_same_bytes(store: LocalStore) -> None:
    data = b"q" * (INLINE_MAX + 100)  # a blob file (inline contents commit with their entry)
    first = store.start_commit("r", None)
    store.put_file(first.ref, "f", [data])
    [blob] = blob_files(store.path)
    blob.write_bytes(b"q" * 10)  # as a power cut in process-crash mode could leave it
    second = store.start_commit("r", None)
    store.put_file(second.ref, "g", [data])
    assert read(store, second.ref, "g") == data
    assert read(store, first.ref, "f") == data


def test_reads_stream_in_the_configured_chunk_size(tmp_path: Path) -> None:
    with LocalStore(tmp_path, chunk_size=4096) as store:
        store.create_repo("r")
        info = store.start_commit("r", None)
        store.put_file(info.ref, "f", [os.urandom(100_000)])
        sizes = [len(c) for c in store.read_file(info.ref, "f")]
        assert max(sizes) == 4096
        assert sum(sizes) == 100_000


def test_put_files_in_bulk(tmp_path: Path) -> None:
    with LocalStore(tmp_path) as store:
        store.create_repo("r")
        info = store.start_commit("r", "master")
        files = [(f"k{n:02d}", b"v%d" % (n % 3)) for n in range(25)] + [("big", b"b" * 300_000)]
        assert store.put_files(info.ref, files, metadata={"content-type": "t"}, batch_size=7) == 26
        assert [i.path for i in store.walk_files(info.ref)] == sorted(p for p, _ in files)
        assert read(store, info.ref, "k04") == b"v1"
        assert store.inspect_file(info.ref, "big").metadata == {"content-type": "t"}
        with pytest.raises(NotSupported):
            store.put_files(info.ref, [("ok", b"1"), ("", b"2")], batch_size=1)
        assert read(store, info.ref, "ok") == b"1"  # the batch before the bad one stays
        store.finish_commit("r", info.id)
        with pytest.raises(Conflict):
            store.put_files(info.ref, [("late", b"x" * 300_000)])
        assert os.listdir(tmp_path / "tmp") == []
        assert len(blob_files(tmp_path)) == 1  # "big"
        assert len(inline_digests(tmp_path)) == 4  # v0, v1, v2 and "1"


# --------------------------------------------------------------------------------------------
# Reclaiming space


def test_gc_removes_only_unreferenced_blobs(store: LocalStore) -> None:
    with commit(store, "r", "master") as info:
        store.put_file(info.ref, "keep", [b"keep me"])
        store.put_file(info.ref, "overwritten", [b"first version"])
        store.put_file(info.ref, "overwritten", [b"second version"])
    doomed = store.start_commit("r", "master")
    store.put_file(doomed.ref, "discarded", [b"never finished"])
    store.discard_commit("r", doomed.id)
    assert contents(store.path) == 4
    report = store.gc()
    assert (report.blobs_removed, report.bytes_freed) == (2, len(b"first version") + 14)
    assert contents(store.path) == 2
    ref = CommitRef(repo="r", id="master")
    assert read(store, ref, "keep") == b"keep me"
    assert read(store, ref, "overwritten") == b"second version"
    assert store.gc().blobs_removed == 0


def test_gc_after_delete_repo_keeps_blobs_other_repos_share(store: LocalStore) -> None:
    store.create_repo("other")
    with commit(store, "r", "master") as info:
        store.put_file(info.ref, "shared", [b"shared bytes"])
        store.put_file(info.ref, "own", [b"only in r"])
    with commit(store, "other", "master") as other:
        store.copy_file(info.ref, "shared", other.ref, "copied")
    store.delete_repo("r")
    assert store.gc().blobs_removed == 1
    assert read(store, other.ref, "copied") == b"shared bytes"


def test_temp_files_of_dead_writers_are_swept_on_open(tmp_path: Path) -> None:
    LocalStore(tmp_path).close()
    tmp = tmp_path / "tmp"
    dead = tmp / "999-dead.part"
    dead.write_bytes(b"left by a killed writer")
    young = tmp / "998-young.part"
    young.write_bytes(b"just created")
    live = tmp / "997-live.part"
    live.write_bytes(b"being written")
    old = time.time() - 60
    os.utime(dead, (old, old))
    os.utime(live, (old, old))
    with live.open("rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # a live writer holds its lock
        LocalStore(tmp_path).close()
        assert sorted(os.listdir(tmp)) == ["997-live.part", "998-young.part"]
    with LocalStore(tmp_path) as store:  # the writer is gone now: its file goes on open
        assert os.listdir(tmp) == ["998-young.part"]
        assert store.gc(temp_min_age=0).temp_files_removed == 1
    assert os.listdir(tmp) == []


# --------------------------------------------------------------------------------------------
# Layers and compaction


def test_layers_to_merge_policy() -> None:
    assert layers_to_merge([5]) == 1
    assert layers_to_merge([1, 1_000_000]) == 1  # a small commit never merges into a big base
    assert layers_to_merge([1, 1, 1_000_000]) == 2
    assert layers_to_merge([3, 10, 40, 1_000]) == 3
    assert layers_to_merge([0, 0, 0, 7]) == 3
    assert layers_to_merge([10, 10, 10, 10]) == 4
    assert layers_to_merge([1] + [MERGE_RATIO**k * 10 for k in range(1, 30)]) >= 14


def test_upper_bound() -> None:
    assert upper_bound(b"") is None
    assert upper_bound(b"a/") == b"a0"
    assert upper_bound("ü".encode()) == b"\xc3\xbd"
    assert upper_bound(b"a\xff\xff") == b"b"
    assert upper_bound(b"\xff") is None


def layer_sizes(store: LocalStore, commit_id: str) -> list[int]:
    con = sqlite3.connect(store.path / "store.db")
    try:
        [layers] = con.execute("SELECT layers FROM commits WHERE id = ?", (commit_id,)).fetchone()
        return [
            con.execute("SELECT rows FROM layers WHERE id = ?", (layer,)).fetchone()[0]
            for layer in json.loads(layers)
        ]
    finally:
        con.close()


def test_compaction_keeps_views_short_and_never_rewrites_a_big_base(store: LocalStore) -> None:
    base = store.start_commit("r", "master")
    store.put_files(base.ref, ((f"base/{n:05d}", b"b") for n in range(20_000)))
    store.finish_commit("r", base.id)
    rng = random.Random(5)
    expected = {f"base/{n:05d}" for n in range(20_000)}
    for n in range(150):
        with commit(store, "r", "master") as info:
            for _ in range(rng.choice([1, 1, 2, 8])):
                key = f"new/{rng.randrange(400):03d}"
                store.put_file(info.ref, key, [b"n"])
                expected.add(key)
            if n % 10 == 0:
                gone = f"base/{rng.randrange(20_000):05d}"
                store.delete_file(info.ref, gone)
                expected.discard(gone)
    sizes = layer_sizes(store, info.id)
    assert len(sizes) <= 6, sizes
    assert sizes[-1] == 20_000  # the base layer was never merged into anything
    for newer, older in itertools.pairwise(sizes):
        assert newer * MERGE_RATIO < older or newer == 0, sizes
    head = CommitRef(repo="r", id="master")
    assert [i.path for i in store.walk_files(head)] == sorted(expected)


def test_small_pages_across_many_layers(tmp_path: Path) -> None:
    with LocalStore(tmp_path, page_size=3) as store:
        store.create_repo("r")
        model: dict[str, bytes] = {}
        for n in range(12):
            with commit(store, "r", "master") as info:
                for k in range(n % 5 + 1):
                    key = f"k{(n * 7 + k * 3) % 23:02d}"
                    store.put_file(info.ref, key, [f"{n}".encode()])
                    model[key] = f"{n}".encode()
                if n % 3 == 2:
                    victim = sorted(model)[n % len(model)]
                    store.delete_file(info.ref, victim)
                    del model[victim]
            ref = info.ref
            assert {i.path: read(store, ref, i.path) for i in store.walk_files(ref)} == model
            assert [i.path for i in store.walk_files(ref, prefix="k1")] == sorted(
                k for k in model if k.startswith("k1")
            )


# --------------------------------------------------------------------------------------------
# Keys


KEY_ALPHABET = [
    "\x00",
    "\x01",
    " ",
    "!",
    "%",
    "+",
    "-",
    ".",
    "/",
    "0",
    "A",
    "a",
    "~",
    "\x7f",
    "\x80",
    "ü",
    "\u07ff",
    "\u0800",
    "€",
    "\ud7ff",
    "\ue000",
    "\uffff",
    "\U00010000",
    "😀",
    "\U0010ffff",
]


def test_any_key_sorts_as_python_strings_do(store: LocalStore) -> None:
    rng = random.Random(11)
    keys = {"".join(rng.choices(KEY_ALPHABET, k=rng.randint(1, 5))) for _ in range(400)}
    info = store.start_commit("r", None)
    for key in keys:
        store.put_file(info.ref, key, [key.encode("utf-8")])
    assert [i.path for i in store.walk_files(info.ref)] == sorted(keys)
    for prefix in ("a", "ü", "\U0010ffff", "\x00", "/"):
        walked = [i.path for i in store.walk_files(info.ref, prefix=prefix)]
        assert walked == sorted(k for k in keys if k.startswith(prefix))
    for after in ("a", "\uffff", "\x00", "€€"):
        walked = [i.path for i in store.walk_files(info.ref, start_after=after)]
        assert walked == sorted(k for k in keys if k > after)
    assert read(store, info.ref, "😀" if "😀" in keys else sorted(keys)[0])


def test_lone_surrogates_are_kept(store: LocalStore) -> None:
    info = store.start_commit("r", None)
    store.put_file(info.ref, "bad\udcff", [b"1"])
    store.put_file(info.ref, "bad\ud7ff", [b"2"])
    store.put_file(info.ref, "bad\ue000", [b"3"])
    assert [i.path for i in store.walk_files(info.ref)] == ["bad\ud7ff", "bad\udcff", "bad\ue000"]


# --------------------------------------------------------------------------------------------
# Locking


def test_a_writer_waits_for_the_lock_then_gives_up_with_unavailable(tmp_path: Path) -> None:
    with LocalStore(tmp_path, busy_timeout=0.2) as store:
        store.create_repo("r")
        info = store.start_commit("r", None)
        other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        try:
            with pytest.raises(Unavailable):
                store.put_file(info.ref, "f", [b"1"])
            assert list(store.walk_files(info.ref)) == []  # readers are not blocked
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.put_file(info.ref, "f", [b"1"])
        assert os.listdir(tmp_path / "tmp") == []


def test_a_suspended_walk_holds_no_snapshot(tmp_path: Path) -> None:
    with LocalStore(tmp_path, page_size=10) as store:
        store.create_repo("r")
        info = store.start_commit("r", None)
        store.put_files(info.ref, ((f"k{n:03d}", b"x") for n in range(100)))
        walker = iter(store.walk_files(info.ref))
        assert next(walker).path == "k000"
        store.put_file(info.ref, "k050x", [b"new"])
        # A read transaction left open would keep the WAL from being checkpointed away.
        con = sqlite3.connect(tmp_path / "store.db")
        busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        con.close()
        assert busy == 0
        rest = [i.path for i in walker]
        assert len(rest) == 100
        assert "k050x" in rest
