"""smart_open: `open("s3://bucket/key")` for streaming reads and writes, over a boto3 client
(http and TLS). It is a streaming-I/O library: it has no HEAD, copy, delete or delimiter
listing, so those cells are n/a."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError
from clients_battery import ClientBattery, assert_aws_chunked
from clients_support import (
    BIG,
    INPUT,
    OUT,
    SPECIAL_KEY,
    Adapter,
    MiB,
    Missing,
    Oracle,
    Refused,
    Unsupported,
    boto3_client,
)

smart_open = pytest.importorskip("smart_open")
from smart_open.s3 import iter_bucket  # noqa: E402

NO_API = "smart_open streams objects in and out; it has no {what} API"


class SmartOpenAdapter(Adapter):
    name = "smart_open"
    large_put_parts = 5 * MiB  # min_part_size=5 MiB (default 50 MiB: one part)

    def __init__(self, served: Any) -> None:
        self.client = boto3_client(served.endpoint_url, served.ca_file)
        self.client_kwargs = {
            "endpoint_url": served.endpoint_url,
            "aws_access_key_id": "any-key",
            "aws_secret_access_key": "any-secret",
            "region_name": "us-east-1",
            "verify": str(served.ca_file) if served.ca_file else None,
            "config": self.client.meta.config,
        }

    def open(
        self, bucket: str, key: str, mode: str, encoding: str | None = None, **params: Any
    ) -> Any:
        return smart_open.open(
            f"s3://{bucket}/{key}",
            mode,
            encoding=encoding,
            transport_params={"client": self.client, **params},
        )

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        # iter_bucket lists (ListObjectsV2) and downloads every key it yields.
        return [
            key
            for key, _ in iter_bucket(
                bucket, prefix=prefix, workers=4, client_kwargs=self.client_kwargs
            )
        ]

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        with self.open(bucket, key, "wb", multipart_upload=False) as f:
            f.write(data)

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        with path.open("rb") as source, self.open(bucket, key, "wb", min_part_size=5 * MiB) as f:
            shutil.copyfileobj(source, f, MiB)

    def get(self, bucket: str, key: str) -> bytes:
        with self.open(bucket, key, "rb") as f:
            return bytes(f.read())

    def download(self, bucket: str, key: str, path: Path) -> None:
        with self.open(bucket, key, "rb") as f, path.open("wb") as out:
            shutil.copyfileobj(f, out, MiB)

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        with self.open(bucket, key, "rb") as f:
            f.seek(start)
            return bytes(f.read(end - start + 1))

    def size(self, bucket: str, key: str) -> int:
        raise Unsupported(NO_API.format(what="HEAD/stat"))

    def classify(self, exc: BaseException) -> type[Exception] | None:
        text = str(exc)
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError):
            text += str(cause.response.get("Error", {}))
        if "AccessDenied" in text or "forbidden" in text:
            return Refused
        if "NoSuchKey" in text or "404" in text:
            return Missing
        return None


class TestSmartOpen(ClientBattery):
    CLIENT = "smart_open"
    SETUP = '`transport_params={"client": boto3 client as above}`'
    TLS_SETUP = "the boto3 client with `verify=` the certificate"
    ORDER = 70
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "list_buckets": NO_API.format(what="bucket listing"),
        "create_bucket": NO_API.format(what="bucket creation"),
        "list_delimiter": NO_API.format(what="delimiter listing"),
        "head": NO_API.format(what="HEAD/stat"),
        "copy": NO_API.format(what="copy"),
        "delete": NO_API.format(what="delete"),
        "multi_delete": NO_API.format(what="delete"),
    }
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`smart_open.s3.iter_bucket` (lists, then downloads every key)",
        "put_small": "`open('wb', multipart_upload=False)` (PutObject)",
        "put_large": "`open('wb', min_part_size=5 MiB)`: 4 parts",
        "get_range": "`open('rb')`, `seek`, `read`: `Range: bytes=N-`, the stream abandoned",
        "special_key": "put/get/list; no copy/delete API",
        "refused_write": "put refused; no delete API",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {name: version(name) for name in ("smart_open", "boto3", "botocore")}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> SmartOpenAdapter:
        return SmartOpenAdapter(served)

    def test_fileobj_stream(self, adapter: SmartOpenAdapter, oracle: Oracle) -> None:
        data = BIG[: 12 * MiB + 11]
        with adapter.open(OUT, SPECIAL_KEY, "wb", min_part_size=5 * MiB) as f:
            for i in range(0, len(data), 100_000):
                f.write(data[i : i + 100_000])
        assert oracle.read(OUT, SPECIAL_KEY) == data
        with adapter.open(OUT, SPECIAL_KEY, "rb") as f:
            assert f.read(10) == data[:10]
            f.seek(7 * MiB)
            assert f.read(MiB) == data[7 * MiB : 8 * MiB]
            f.seek(-5, io.SEEK_END)
            assert f.read() == data[-5:]
        # A text-mode read of the input CSV, line by line.
        with adapter.open(INPUT, "table.csv", "r", encoding="utf-8") as text:
            assert [line.split(",")[1] for line in text][1:] == ["GLUCOSE", "HBA1C", "LIPIDS"]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def __call__(self, request: Any, **_: Any) -> None:
        self.sent.append(
            {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        )


@pytest.fixture
def recorder(adapter: SmartOpenAdapter) -> Iterator[Recorder]:
    record = Recorder()
    events = ("before-send.s3.PutObject", "before-send.s3.UploadPart")
    for event in events:
        adapter.client.meta.events.register(event, record)
    yield record
    for event in events:
        adapter.client.meta.events.unregister(event, record)


class TestSmartOpenTLS(TestSmartOpen):
    TLS = True

    def test_tls_aws_chunked(
        self, adapter: SmartOpenAdapter, recorder: Recorder, oracle: Oracle, big_file: Path
    ) -> None:
        data = b"smart_open over TLS\n"
        adapter.put_small(OUT, "tls/small.txt", data)
        adapter.put_large(OUT, "tls/big.bin", big_file)
        assert len(recorder.sent) == 5  # one PutObject, four UploadParts
        for headers in recorder.sent:
            assert_aws_chunked(headers)
        assert oracle.read(OUT, "tls/small.txt") == data
        assert oracle.read(OUT, "tls/big.bin") == BIG


class TestSmartOpenGlobal(TestSmartOpen):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
