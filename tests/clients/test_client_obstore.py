"""obstore (Rust object_store over reqwest/hyper): one store per bucket."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery
from clients_support import (
    BIG,
    OUT,
    SPECIAL_KEY,
    Adapter,
    MiB,
    Missing,
    Oracle,
    Refused,
    Unsupported,
    md5,
)

obs = pytest.importorskip("obstore")
from obstore.exceptions import (  # noqa: E402
    AlreadyExistsError,
    NotFoundError,
    PermissionDeniedError,
)
from obstore.store import S3Store  # noqa: E402

CROSS_BUCKET = (
    "obstore's copy()/rename() work inside one store, i.e. one bucket: it has no "
    "cross-bucket CopyObject (copy inside `out` is in the move row)"
)


NO_MARKERS = (
    'object_store paths cannot end in /: `put("newdir/")` silently writes the key `newdir`, '
    "so obstore cannot create (or name) a `dir/` marker"
)


class ObstoreAdapter(Adapter):
    name = "obstore"
    large_put_parts = 5 * MiB  # put(use_multipart=True, chunk_size=5 MiB)

    def __init__(self, served: Any) -> None:
        self.endpoint = served.endpoint_url
        self._stores: dict[str, Any] = {}

    def store(self, bucket: str) -> Any:
        if bucket not in self._stores:
            self._stores[bucket] = S3Store(
                bucket,
                endpoint=self.endpoint,
                access_key_id="any-key",
                secret_access_key="any-secret",
                region="us-east-1",
                virtual_hosted_style_request=False,
                client_options={"allow_http": True, "timeout": "60s"},
                retry_config={"max_retries": 1, "retry_timeout": timedelta(seconds=10)},
            )
        return self._stores[bucket]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = obs.list(self.store(bucket), prefix=prefix or None).collect()
        return [str(meta["path"]) for meta in listed]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        result = obs.list_with_delimiter(self.store(bucket), prefix=prefix.rstrip("/") or None)
        return (
            [str(meta["path"]) for meta in result["objects"]],
            [str(p).rstrip("/") + "/" for p in result["common_prefixes"]],
        )

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        result = obs.put(self.store(bucket), key, data, use_multipart=False)
        assert str(result["e_tag"]).strip('"') == md5(data)

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        obs.put(self.store(bucket), key, path, use_multipart=True, chunk_size=5 * MiB)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(obs.get(self.store(bucket), key).bytes())

    def download(self, bucket: str, key: str, path: Path) -> None:
        with path.open("wb") as out:
            for chunk in obs.get(self.store(bucket), key).stream(min_chunk_size=MiB):
                out.write(bytes(chunk))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        return bytes(obs.get_range(self.store(bucket), key, start=start, end=end + 1))

    def size(self, bucket: str, key: str) -> int:
        return int(obs.head(self.store(bucket), key)["size"])

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        if src_bucket != dst_bucket:
            raise Unsupported(CROSS_BUCKET)
        obs.copy(self.store(src_bucket), src_key, dst_key)

    def delete(self, bucket: str, key: str) -> None:
        obs.delete(self.store(bucket), key)

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        obs.delete(self.store(bucket), list(keys))

    def make_marker(self, bucket: str, key: str) -> None:
        raise Unsupported(NO_MARKERS)

    def classify(self, exc: BaseException) -> type[Exception] | None:
        # obstore raises its own classes, which also derive from the built-in ones.
        if isinstance(exc, PermissionDeniedError | PermissionError):
            return Refused
        if isinstance(exc, NotFoundError | FileNotFoundError):
            return Missing
        return None


class TestObstore(ClientBattery):
    CLIENT = "obstore"
    SETUP = '`S3Store(bucket, endpoint=..., client_options={"allow_http": True})`'
    ORDER = 60
    MARKERS_LISTED_AS = "stripped"
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "list_buckets": "an obstore store is one bucket: no ListBuckets API",
        "create_bucket": "an obstore store is one bucket: no CreateBucket/DeleteBucket API",
        "copy": CROSS_BUCKET,
        "dir_marker": NO_MARKERS,
    }
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`list` (V2, no encoding-type); the input's `marker/` key is listed as "
        "`marker` (object_store paths cannot end in /)",
        "list_delimiter": "`list_with_delimiter`",
        "put_small": "`put(use_multipart=False)`",
        "put_large": "`put(path, use_multipart=True)`: 4 parts of 5 MiB, uploaded concurrently",
        "get_whole": "`get().bytes()`; `get().stream()` to a file",
        "get_range": "`get_range(start, end)`",
        "multi_delete": "`delete([...])` (DeleteObjects with Content-MD5 and SHA-256)",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"obstore": version("obstore")}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> ObstoreAdapter:
        return ObstoreAdapter(served)

    def test_move(self, adapter: ObstoreAdapter, oracle: Oracle) -> None:
        oracle.put("mv/from.txt", b"moving")
        obs.rename(adapter.store(OUT), "mv/from.txt", SPECIAL_KEY)
        assert oracle.files(OUT) == {SPECIAL_KEY: 6}
        obs.copy(adapter.store(OUT), SPECIAL_KEY, "mv/copy.txt")
        assert oracle.read(OUT, "mv/copy.txt") == b"moving"

    def test_conditional_put(self, adapter: ObstoreAdapter, oracle: Oracle) -> None:
        store = adapter.store(OUT)
        obs.put(store, "once.txt", b"first", mode="create")
        with pytest.raises(AlreadyExistsError):
            obs.put(store, "once.txt", b"second", mode="create")
        assert oracle.read(OUT, "once.txt") == b"first"
        assert bytes(obs.get(store, "once.txt").bytes()) == b"first"
        obs.put(store, "twice.txt", b"next")
        assert oracle.read(OUT, "twice.txt") == b"next"

    def test_fileobj_stream(self, adapter: ObstoreAdapter, oracle: Oracle) -> None:
        data = BIG[: 12 * MiB + 1]
        pieces = (data[i : i + 300_000] for i in range(0, len(data), 300_000))
        obs.put(adapter.store(OUT), "stream/up.bin", pieces, chunk_size=5 * MiB)
        assert oracle.read(OUT, "stream/up.bin") == data
        got = b"".join(bytes(c) for c in obs.get(adapter.store(OUT), "stream/up.bin"))
        assert got == data


class TestObstoreGlobal(TestObstore):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
