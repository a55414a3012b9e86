"""s3fs (fsspec over aiobotocore/aiohttp) and pandas on s3:// URLs, over http and TLS."""

from __future__ import annotations

import io
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery, assert_aws_chunked
from clients_support import (
    BIG,
    INPUT,
    OUT,
    SPECIAL_KEY,
    TABLE_CSV,
    Adapter,
    MiB,
    Missing,
    Oracle,
    Refused,
)

s3fs = pytest.importorskip("s3fs")


def storage_options(served: Any) -> dict[str, Any]:
    client_kwargs: dict[str, Any] = {"region_name": "us-east-1"}
    if served.ca_file:
        client_kwargs["verify"] = str(served.ca_file)
    return {
        "key": "any-key",
        "secret": "any-secret",
        "endpoint_url": served.endpoint_url,
        "client_kwargs": client_kwargs,
        "config_kwargs": {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 2}},
        "use_listings_cache": False,
    }


class S3fsAdapter(Adapter):
    name = "s3fs"
    large_put_parts = 5 * MiB  # put_file(chunksize=5 MiB): 4 parts

    def __init__(self, served: Any) -> None:
        self.fs = s3fs.S3FileSystem(skip_instance_cache=True, **storage_options(served))

    def list_buckets(self) -> list[str]:
        return [str(p).rstrip("/") for p in self.fs.ls("")]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [p.removeprefix(f"{bucket}/") for p in self.fs.find(f"{bucket}/{prefix}")]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        keys, prefixes = [], []
        for entry in self.fs.ls(f"{bucket}/{prefix}", detail=True):
            name = entry["name"].removeprefix(f"{bucket}/")
            if entry["type"] == "directory":
                prefixes.append(name.rstrip("/") + "/")
            else:
                keys.append(name)
        return keys, prefixes

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{bucket}/{key}", data)

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.fs.put_file(str(path), f"{bucket}/{key}", chunksize=5 * MiB)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.fs.cat_file(f"{bucket}/{key}"))

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.fs.get_file(f"{bucket}/{key}", str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        return bytes(self.fs.cat_file(f"{bucket}/{key}", start=start, end=end + 1))

    def size(self, bucket: str, key: str) -> int:
        return int(self.fs.info(f"{bucket}/{key}")["size"])

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.fs.copy(f"{src_bucket}/{src_key}", f"{dst_bucket}/{dst_key}")

    def create_bucket(self, bucket: str) -> None:
        self.fs.mkdir(bucket)  # a bare name: CreateBucket

    def delete_bucket(self, bucket: str) -> None:
        self.fs.rmdir(bucket)

    def delete(self, bucket: str, key: str) -> None:
        self.fs.rm_file(f"{bucket}/{key}")

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        self.fs.rm([f"{bucket}/{k}" for k in keys])

    def classify(self, exc: BaseException) -> type[Exception] | None:
        if isinstance(exc, PermissionError):
            return Refused
        if isinstance(exc, FileNotFoundError):
            return Missing
        return None

    def cleanup(self) -> None:
        self.fs.invalidate_cache()


class TestS3fs(ClientBattery):
    CLIENT = "s3fs"
    SETUP = (
        '`endpoint_url=`, `config_kwargs={"s3": {"addressing_style": "path"}}` (the '
        "same dict as pandas `storage_options`)"
    )
    TLS_SETUP = '`client_kwargs={"verify": the certificate}`'
    ORDER = 30
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`find`",
        "list_delimiter": "`ls` (ListObjectsV2 with delimiter)",
        "put_small": "`pipe_file` (PutObject)",
        "put_large": "`put_file(chunksize=5 MiB)`: 4 parts (default chunksize 50 MiB: one PUT)",
        "get_range": "`cat_file(start, end)`",
        "multi_delete": "`rm([...])` (DeleteObjects, no Content-MD5)",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {
            name: version(name)
            for name in ("s3fs", "fsspec", "aiobotocore", "botocore", "aiohttp", "pandas")
        }

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> S3fsAdapter:
        return S3fsAdapter(served)

    def test_pandas(self, served: Any, oracle: Oracle) -> None:
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        options = storage_options(served)
        frame = pd.read_csv(f"s3://{INPUT}/table.csv", storage_options=options)
        assert list(frame.columns) == ["sample", "analyte", "value"]
        assert frame["value"].tolist() == [5.4, 6.1, 4.2]
        expected = pd.read_csv(io.BytesIO(TABLE_CSV))
        frame["flag"] = frame["value"] > 5
        frame.to_parquet(f"s3://{OUT}/frames/table.parquet", storage_options=options)
        assert oracle.read(OUT, "frames/table.parquet").startswith(b"PAR1")
        back = pd.read_parquet(f"s3://{OUT}/frames/table.parquet", storage_options=options)
        pd.testing.assert_frame_equal(back, frame)
        frame.drop(columns="flag").to_csv(
            f"s3://{OUT}/frames/table.csv", index=False, storage_options=options
        )
        assert pd.read_csv(io.BytesIO(oracle.read(OUT, "frames/table.csv"))).equals(expected)

    def test_conditional_put(self, adapter: S3fsAdapter, oracle: Oracle) -> None:
        adapter.fs.pipe_file(f"{OUT}/once.txt", b"first", mode="create")
        # s3fs turns S3's 412 PreconditionFailed into OSError(EINVAL).
        with pytest.raises(OSError, match="pre-conditions"):
            adapter.fs.pipe_file(f"{OUT}/once.txt", b"second", mode="create")
        assert oracle.read(OUT, "once.txt") == b"first"
        assert adapter.fs.cat_file(f"{OUT}/once.txt") == b"first"
        adapter.fs.pipe_file(f"{OUT}/twice.txt", b"next")
        assert oracle.read(OUT, "twice.txt") == b"next"

    def test_move(self, adapter: S3fsAdapter, oracle: Oracle) -> None:
        oracle.put("mv/from.txt", b"moving")
        adapter.fs.mv(f"{OUT}/mv/from.txt", f"{OUT}/{SPECIAL_KEY}")
        assert oracle.files(OUT) == {SPECIAL_KEY: 6}

    def test_recursive_delete(self, adapter: S3fsAdapter, oracle: Oracle) -> None:
        for key in ("r/1", "r/2/3", "r/sp ace+plus%pct&amp=eqü€~.txt", "rest.txt"):
            oracle.put(key, b"x")
        adapter.fs.rm(f"{OUT}/r", recursive=True)
        assert oracle.keys(OUT) == ["rest.txt"]

    def test_fileobj_stream(self, adapter: S3fsAdapter, oracle: Oracle) -> None:
        data = BIG[: 12 * MiB + 7]
        with adapter.fs.open(f"{OUT}/stream/up.bin", "wb", block_size=5 * MiB) as f:
            for i in range(0, len(data), MiB):
                f.write(data[i : i + MiB])
        assert oracle.read(OUT, "stream/up.bin") == data
        with adapter.fs.open(f"{OUT}/stream/up.bin", "rb", block_size=MiB) as f:
            f.seek(3 * MiB + 1)
            assert f.read(2 * MiB) == data[3 * MiB + 1 : 5 * MiB + 1]
            f.seek(-10, 2)
            assert f.read() == data[-10:]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def __call__(self, request: Any, **_: Any) -> None:
        self.sent.append(
            {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        )


class TestS3fsTLS(TestS3fs):
    TLS = True

    def test_tls_aws_chunked(self, adapter: S3fsAdapter, oracle: Oracle, big_file: Path) -> None:
        client = adapter.fs.s3 if adapter.fs._s3 else None  # connected by earlier calls
        if client is None:
            adapter.fs.ls(OUT)
            client = adapter.fs.s3
        record = Recorder()
        events = ("before-send.s3.PutObject", "before-send.s3.UploadPart")
        for event in events:
            client.meta.events.register(event, record)
        try:
            data = b"s3fs over TLS\n"
            adapter.put_small(OUT, "tls/small.txt", data)
            adapter.put_large(OUT, "tls/big.bin", big_file)
        finally:
            for event in events:
                client.meta.events.unregister(event, record)
        assert len(record.sent) == 5  # one PutObject, four UploadParts
        for headers in record.sent:
            assert_aws_chunked(headers)
        assert oracle.read(OUT, "tls/small.txt") == data
        assert oracle.read(OUT, "tls/big.bin") == BIG


class TestS3fsGlobal(TestS3fs):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
