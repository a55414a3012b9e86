"""The battery every client runs against ``SidecarGateway.serve()`` on loopback.

Each client module subclasses ``ClientBattery`` (class name ``Test...``), provides an
``adapter`` fixture (an ``Adapter`` from clients_support) and may add client-specific tests
(sync, move, pandas, ...). Every test's operation id is its name minus ``test_``; it must be a
key of ``OPERATIONS`` (the rows of docs/compatibility.md). A cell that cannot pass is listed in
the class's ``UNSUPPORTED`` (the client has no API: the adapter raises ``Unsupported``) or
``XFAIL`` (a bug, ``gateway bug: ...`` or ``client bug: ...``); both become
``xfail(strict=True)`` with the reason, so a cell that starts passing fails the run until the
mark is removed.

Bytes are checked against the store itself (``Oracle``), not only through the client.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from clients_support import (
    BIG,
    BIG_KEY,
    DIR_OBJECTS,
    DIR_PREFIXES,
    INPUT,
    INPUT_FILES,
    INPUT_KEYS,
    OUT,
    SPECIAL_KEY,
    TOP_OBJECTS,
    TOP_PREFIXES,
    Adapter,
    Missing,
    Oracle,
    Refused,
    Unsupported,
    describe,
    md5,
    multipart_etag,
)

from pachs3.backends.base import NotFound

T = TypeVar("T")

# The bucket the create_bucket row makes (global mode), and how ListBuckets names it.
NEW_BUCKET = "made-by-client"
NEW_LISTED = f"master.{NEW_BUCKET}.default"
# Rows only the global mode has (conftest deselects them for a sidecar class).
GLOBAL_ONLY = frozenset({"create_bucket"})

# Row id -> (label, what the test checks). The order is the order of the matrix rows.
OPERATIONS: dict[str, tuple[str, str]] = {
    "list_buckets": (
        "list buckets",
        "the job's buckets: the input and `out` (global mode: every branch, "
        "`master.labresults.default`, ...)",
    ),
    "list_flat": (
        "list (flat, recursive)",
        "every key of the input bucket, of a prefix, and of keys written to out",
    ),
    "list_delimiter": (
        "list with delimiter `/`",
        "objects and common prefixes at the top level and under `dir/`",
    ),
    "put_small": (
        "put small object",
        "bytes in the store, ETag = MD5, read back through the client (read-your-writes)",
    ),
    "put_large": (
        "put 20 MiB (multipart where the client does it)",
        "bytes in the store; ETag = MD5-of-part-MD5s-N for the client's exact part size",
    ),
    "get_whole": (
        "get whole (small, and 20 MiB via the client's download path)",
        "byte-identical small object and 20 MiB download",
    ),
    "get_range": (
        "get ranged",
        "a middle range, the last 100 bytes, a range of a small object",
    ),
    "head": ("head / stat", "sizes of input and out objects; a missing key is a not-found error"),
    "copy": (
        "copy input → out (server-side)",
        "small and 20 MiB copies, bytes checked in the store",
    ),
    "delete": ("delete", "the key is gone from the store; its neighbour stays"),
    "multi_delete": (
        "multi-delete",
        "four keys (one with special characters) deleted by the client's bulk call",
    ),
    "special_key": (
        "key `dir/sp ace+plus%pct&amp=eqü€~.txt`",
        "put, list, get, head, copy from input, delete — the exact key in the store",
    ),
    "zero_byte": ("zero-byte object", "put and get b'' in out; get the input's empty object"),
    "dir_marker": (
        "`dir/` marker",
        "create `newdir/` in out (a zero-byte key ending in /), list it; the input's marker",
    ),
    "refused_write": (
        "refused write to an input bucket",
        "small and large put (and delete) refused with AccessDenied, input unchanged, "
        "the client keeps working",
    ),
    "create_bucket": (
        "create and delete a bucket (global mode)",
        "CreateBucket `made-by-client`: ListBuckets shows `master.made-by-client.default`, an "
        "object put into it is in the store on that repo's master; after the object's delete, "
        "DeleteBucket: the repo is gone from the store",
    ),
    # client-specific workflows
    "tls_aws_chunked": (
        "over TLS: the upload is aws-chunked with a trailing checksum",
        "the request the client sent had Content-Encoding aws-chunked, "
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER and an x-amz-trailer; the stored bytes are exact",
    ),
    "s3api": (
        "`aws s3api` calls",
        "put-object --body, copy-object (special-key source), list-objects (V1), head-object "
        "(the battery rows also use get-object --range, head-object, delete-objects and "
        "put-object for the marker)",
    ),
    "sync": (
        "sync a directory (up, again with no change, down)",
        "the second sync uploads nothing; the downloaded tree is identical",
    ),
    "empty_then_put": (
        "an empty upload, then another upload on the same connection",
        "two PutObjects with file bodies (both `Expect: 100-continue`) on one keep-alive "
        "connection: both stored, both answers parsed (ETag)",
    ),
    "conditional_put": (
        "conditional create (`If-None-Match: *`)",
        "a create-only put of a new key succeeds; of an existing key is refused with 412 "
        "and changes nothing; the client's next request on its connections works",
    ),
    "presigned_url": (
        "presigned URLs",
        "a presigned GET (boto3's default signature for the endpoint) and a presigned SigV4 "
        "PUT, used by a plain HTTP client",
    ),
    "move": ("move / rename inside out", "the source is gone, the destination holds the bytes"),
    "recursive_delete": (
        "delete a prefix recursively",
        "everything under the prefix is gone, nothing else",
    ),
    "pandas": (
        "pandas `read_csv` / `to_parquet` on s3://",
        "a CSV from the input into a DataFrame, Parquet to out and back",
    ),
    "parquet_dataset": (
        "Parquet dataset (write partitioned, read back with a filter)",
        "a partitioned write to out (hive `key=value` directories; pyarrow also plain "
        "directories): one file per partition in the store, read back equal, and a filter on "
        "the partition column reads only that partition's rows",
    ),
    # query engines (DuckDB, Polars): tables in, tables out
    "table_read": (
        "read CSV / Parquet by name and by glob",
        "the input's CSV by its key and through a `**` glob (values checked); a missing key "
        "is a not-found error",
    ),
    "table_write": (
        "write a table to out (Parquet, CSV)",
        "the written file is in the store and reads back equal (the store's bytes parsed "
        "without S3); the same write to the input is refused with AccessDenied and changes "
        "nothing",
    ),
    "fileobj_stream": (
        "streaming file objects (upload_fileobj / open for read and write)",
        "a non-seekable stream uploaded, read back in chunks",
    ),
}


class _NotApplicable:
    def __repr__(self) -> str:
        return "NA"


NA: Any = _NotApplicable()


def maybe(fn: Callable[..., T], *args: Any) -> T:
    """Call an adapter method; ``NA`` when the client has no API for it, or when the method is
    one of the adapter's ``broken`` ones (its own row is xfailed with the reason)."""
    owner = getattr(fn, "__self__", None)
    if owner is not None and getattr(fn, "__name__", "") in getattr(owner, "broken", ()):
        return NA
    try:
        return fn(*args)
    except Unsupported:
        return NA


def expect_error(
    adapter: Adapter, kind: type[Exception], fn: Callable[..., Any], *args: Any
) -> None:
    """``fn(*args)`` must fail, and the client's error must be recognised as ``kind``."""
    failure: Exception | None = None
    try:
        fn(*args)
    except Unsupported:
        raise
    except Exception as exc:
        failure = exc
    if failure is None:
        raise AssertionError(f"{adapter.name}: {getattr(fn, '__name__', fn)}{args!r} succeeded")
    got = adapter.classify(failure)
    assert got is kind, f"{adapter.name}: expected {kind.__name__}, got {failure!r}"


def by_bytes(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


def part_etag(data: bytes, part_size: int) -> str:
    return multipart_etag(
        [hashlib.md5(data[i : i + part_size]).hexdigest() for i in range(0, len(data), part_size)]
    )


class ClientBattery:
    """The battery. Subclasses set CLIENT and provide the ``adapter`` fixture (class scope)."""

    CLIENT: ClassVar[str] = "?"
    ORDER: ClassVar[int] = 100
    TLS: ClassVar[bool] = False
    # "sidecar" (SidecarGateway: a job's buckets) or "global" (GlobalGateway: every branch).
    MODE: ClassVar[str] = "sidecar"
    # What the client was told beyond its defaults (for the matrix), and over TLS.
    SETUP: ClassVar[str] = ""
    TLS_SETUP: ClassVar[str] = ""
    # op -> reason: the client has no API for it (adapter raises Unsupported).
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {}
    # op -> reason starting "gateway bug:" or "client bug:".
    XFAIL: ClassVar[Mapping[str, str]] = {}
    # op -> a short note printed under the matrix (how the client does it).
    NOTES: ClassVar[Mapping[str, str]] = {}
    # How the client's flat listing shows a `dir/` marker key: as the key itself ("key"), as
    # a directory, not in a flat file listing ("directory": pyarrow), or with the slash
    # dropped ("stripped": obstore, whose paths cannot end in /).
    MARKERS_LISTED_AS: ClassVar[str] = "key"

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {}

    @classmethod
    def column(cls) -> str:
        tags = [tag for tag, on in (("TLS", cls.TLS), ("global", cls.MODE == "global")) if on]
        return f"{cls.CLIENT} ({', '.join(tags)})" if tags else cls.CLIENT

    @pytest.fixture(autouse=True)
    def _fresh_job(self, served: Any, adapter: Adapter) -> None:
        served.restart_job()
        adapter.cleanup()

    def flat(self, keys: list[str]) -> list[str]:
        if self.MARKERS_LISTED_AS == "directory":
            keys = [k for k in keys if not k.endswith("/")]
        elif self.MARKERS_LISTED_AS == "stripped":
            keys = [k.removesuffix("/") for k in keys]
        return by_bytes(keys)

    # -- listing ----------------------------------------------------------------------------

    def test_list_buckets(self, adapter: Adapter, served: Any) -> None:
        assert sorted(adapter.list_buckets()) == served.bucket_names

    def test_list_flat(self, adapter: Adapter, oracle: Oracle) -> None:
        assert by_bytes(adapter.list_keys(INPUT)) == self.flat(INPUT_KEYS)
        assert by_bytes(adapter.list_keys(INPUT, "dir/")) == self.flat(
            [k for k in INPUT_KEYS if k.startswith("dir/")]
        )
        written = ["x/1.txt", "x/y/2.txt", "z.txt"]
        for key in written:
            oracle.put(key, key.encode())
        assert by_bytes(adapter.list_keys(OUT)) == written

    def test_list_delimiter(self, adapter: Adapter) -> None:
        keys, prefixes = adapter.list_dir(INPUT, "")
        assert by_bytes(keys) == TOP_OBJECTS
        if prefixes is not None:
            assert by_bytes(prefixes) == TOP_PREFIXES
        keys, prefixes = adapter.list_dir(INPUT, "dir/")
        assert by_bytes(keys) == by_bytes(DIR_OBJECTS)
        if prefixes is not None:
            assert by_bytes(prefixes) == DIR_PREFIXES

    # -- writing ----------------------------------------------------------------------------

    def test_put_small(self, adapter: Adapter, oracle: Oracle) -> None:
        data = b"hello from a real client\n"
        adapter.put_small(OUT, "small.txt", data)
        assert oracle.files(OUT) == {"small.txt": len(data)}
        assert oracle.read(OUT, "small.txt") == data
        # A client whose every write is multipart (pyarrow, smart_open) gets a 1-part ETag.
        assert oracle.etag(OUT, "small.txt") in (md5(data), multipart_etag([md5(data)]))
        assert adapter.get(OUT, "small.txt") == data

    def test_put_large(self, adapter: Adapter, oracle: Oracle, big_file: Path) -> None:
        adapter.put_large(OUT, "upload/big.bin", big_file)
        assert oracle.files(OUT) == {"upload/big.bin": len(BIG)}
        stored = oracle.read(OUT, "upload/big.bin")
        assert stored == BIG, describe(stored)
        part_size = adapter.large_put_parts
        expected = md5(BIG) if part_size is None else part_etag(BIG, part_size)
        assert oracle.etag(OUT, "upload/big.bin") == expected

    # -- reading ----------------------------------------------------------------------------

    def test_get_whole(self, adapter: Adapter, tmp_path: Path) -> None:
        assert adapter.get(INPUT, "dir/small.txt") == INPUT_FILES["dir/small.txt"]
        target = tmp_path / "download.bin"
        adapter.download(INPUT, BIG_KEY, target)
        got = target.read_bytes()
        assert got == BIG, describe(got)

    def test_get_range(self, adapter: Adapter) -> None:
        assert adapter.get_range(INPUT, BIG_KEY, 1_000_000, 1_000_999) == BIG[1_000_000:1_001_000]
        last = len(BIG) - 1
        assert adapter.get_range(INPUT, BIG_KEY, last - 99, last) == BIG[-100:]
        assert adapter.get_range(INPUT, "a.txt", 1, 3) == b"ell"

    def test_head(self, adapter: Adapter, oracle: Oracle) -> None:
        assert adapter.size(INPUT, BIG_KEY) == len(BIG)
        assert adapter.size(INPUT, "dir/small.txt") == len(INPUT_FILES["dir/small.txt"])
        oracle.put("h.txt", b"12345")
        assert adapter.size(OUT, "h.txt") == 5
        expect_error(adapter, Missing, adapter.size, INPUT, "no/such/key.txt")

    # -- copy / delete ----------------------------------------------------------------------

    def test_copy(self, adapter: Adapter, oracle: Oracle) -> None:
        adapter.copy(INPUT, "dir/small.txt", OUT, "copied/small.txt")
        assert oracle.read(OUT, "copied/small.txt") == INPUT_FILES["dir/small.txt"]
        adapter.copy(INPUT, BIG_KEY, OUT, "copied/big.bin")
        stored = oracle.read(OUT, "copied/big.bin")
        assert stored == BIG, describe(stored)
        assert oracle.files(INPUT) == {k: len(v) for k, v in INPUT_FILES.items()}

    def test_delete(self, adapter: Adapter, oracle: Oracle) -> None:
        oracle.put("gone.txt", b"bye")
        oracle.put("keep.txt", b"stay")
        adapter.delete(OUT, "gone.txt")
        assert oracle.keys(OUT) == ["keep.txt"]
        assert oracle.read(OUT, "keep.txt") == b"stay"

    def test_multi_delete(self, adapter: Adapter, oracle: Oracle) -> None:
        keys = ["m/1.txt", "m/2.txt", "m/sub/3.txt", "m/sp ace+plus%pct&amp=eqü€~.txt"]
        for key in keys:
            oracle.put(key, key.encode())
        oracle.put("m-keep.txt", b"keep")
        adapter.delete_many(OUT, keys)
        # pyarrow re-creates the emptied directory as a `m/` marker: markers are not data.
        assert [k for k in oracle.keys(OUT) if not k.endswith("/")] == ["m-keep.txt"]

    # -- special cases ----------------------------------------------------------------------

    def test_special_key(self, adapter: Adapter, oracle: Oracle) -> None:
        data = b"special key, written by the client"
        adapter.put_small(OUT, SPECIAL_KEY, data)
        assert oracle.files(OUT) == {SPECIAL_KEY: len(data)}
        assert oracle.read(OUT, SPECIAL_KEY) == data
        assert maybe(adapter.list_keys, OUT, "dir/") in (NA, [SPECIAL_KEY])
        assert adapter.get(OUT, SPECIAL_KEY) == data
        assert maybe(adapter.size, OUT, SPECIAL_KEY) in (NA, len(data))
        assert adapter.get(INPUT, SPECIAL_KEY) == INPUT_FILES[SPECIAL_KEY]
        assert maybe(adapter.get_range, INPUT, SPECIAL_KEY, 3, 6) in (
            NA,
            INPUT_FILES[SPECIAL_KEY][3:7],
        )
        copied = f"copy/{SPECIAL_KEY}"
        if maybe(adapter.copy, INPUT, SPECIAL_KEY, OUT, copied) is not NA:
            assert oracle.read(OUT, copied) == INPUT_FILES[SPECIAL_KEY]
        if maybe(adapter.delete, OUT, SPECIAL_KEY) is not NA:
            assert not oracle.exists(OUT, SPECIAL_KEY)

    def test_zero_byte(self, adapter: Adapter, oracle: Oracle, tmp_path: Path) -> None:
        adapter.put_small(OUT, "zero.bin", b"")
        assert oracle.files(OUT) == {"zero.bin": 0}
        assert oracle.etag(OUT, "zero.bin") in (md5(b""), multipart_etag([md5(b"")]))
        assert adapter.get(OUT, "zero.bin") == b""
        assert adapter.get(INPUT, "empty.bin") == b""
        assert maybe(adapter.size, INPUT, "empty.bin") in (NA, 0)
        target = tmp_path / "empty.bin"
        adapter.download(INPUT, "empty.bin", target)
        assert target.read_bytes() == b""

    def test_dir_marker(self, adapter: Adapter, oracle: Oracle) -> None:
        adapter.make_marker(OUT, "newdir/")
        assert oracle.files(OUT) == {"newdir/": 0}
        if self.MARKERS_LISTED_AS == "key":
            assert adapter.list_keys(OUT) == ["newdir/"]
            assert adapter.get(OUT, "newdir/") == b""
            assert adapter.get(INPUT, "marker/") == b""
        listed = maybe(adapter.list_dir, OUT, "")
        if listed is not NA:
            keys, prefixes = listed
            assert keys == []
            if prefixes is not None:
                assert prefixes == ["newdir/"]

    def test_create_bucket(self, adapter: Adapter, oracle: Oracle, served: Any) -> None:
        """Global mode only (conftest deselects it for a sidecar: a job's buckets are fixed)."""
        backend = served.gateway.backend
        with contextlib.suppress(NotFound):  # a previous class's failed run
            backend.delete_repo(NEW_BUCKET)
        adapter.create_bucket(NEW_BUCKET)
        assert NEW_BUCKET in [repo.name for repo in backend.list_repos()]
        listed = maybe(adapter.list_buckets)
        assert listed is NA or sorted(listed) == sorted([*served.bucket_names, NEW_LISTED])
        data = b"in a bucket the client made\n"
        adapter.put_small(NEW_BUCKET, "k.txt", data)
        assert oracle.read(NEW_BUCKET, "k.txt") == data
        adapter.delete(NEW_BUCKET, "k.txt")
        adapter.delete_bucket(NEW_BUCKET)
        assert NEW_BUCKET not in [repo.name for repo in backend.list_repos()]
        listed = maybe(adapter.list_buckets)
        assert listed is NA or sorted(listed) == served.bucket_names

    def test_refused_write(self, adapter: Adapter, oracle: Oracle, big_file: Path) -> None:
        before = oracle.files(INPUT)
        expect_error(adapter, Refused, adapter.put_small, INPUT, "intruder.txt", b"nope")
        expect_error(adapter, Refused, adapter.put_large, INPUT, "intruder-big.bin", big_file)
        with contextlib.suppress(Unsupported):  # clients without a delete API
            expect_error(adapter, Refused, adapter.delete, INPUT, "a.txt")
        assert oracle.files(INPUT) == before
        # The client (and its pooled connections) still works after the refusals.
        adapter.put_small(OUT, "after.txt", b"still fine")
        assert oracle.read(OUT, "after.txt") == b"still fine"
        assert adapter.get(INPUT, "a.txt") == INPUT_FILES["a.txt"]


def assert_aws_chunked(headers: Mapping[str, str]) -> None:
    """The headers of a PutObject/UploadPart that botocore sent in its streaming-trailer form."""
    lower = {k.lower(): v for k, v in headers.items()}
    assert "aws-chunked" in lower.get("content-encoding", ""), lower
    assert lower.get("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", lower
    assert lower.get("x-amz-trailer", "").startswith("x-amz-checksum-"), lower
    assert "x-amz-decoded-content-length" in lower, lower
