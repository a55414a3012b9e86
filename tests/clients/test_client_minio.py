"""minio-py: its own SigV4 signer over urllib3; no region given, so it asks GetBucketLocation
first, as users who only set the endpoint do."""

from __future__ import annotations

import io
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery
from clients_support import OUT, SPECIAL_KEY, Adapter, MiB, Missing, Oracle, Refused, md5

minio = pytest.importorskip("minio")
from minio.commonconfig import CopySource  # noqa: E402
from minio.deleteobjects import DeleteObject  # noqa: E402
from minio.error import S3Error  # noqa: E402


class MinioAdapter(Adapter):
    name = "minio"
    large_put_parts = 5 * MiB  # fput_object: part size chosen for the size, 5 MiB minimum

    def __init__(self, served: Any) -> None:
        self.client = minio.Minio(
            served.hostport, access_key="any-key", secret_key="any-secret", secure=False
        )

    def list_buckets(self) -> list[str]:
        return [b.name for b in self.client.list_buckets()]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client.list_objects(bucket_name=bucket, prefix=prefix, recursive=True)
        return [str(o.object_name) for o in listed]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        keys, prefixes = [], []
        for o in self.client.list_objects(bucket_name=bucket, prefix=prefix, recursive=False):
            (prefixes if o.is_dir else keys).append(str(o.object_name))
        return keys, prefixes

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        result = self.client.put_object(
            bucket_name=bucket, object_name=key, data=io.BytesIO(data), length=len(data)
        )
        assert result.etag == md5(data)

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.client.fput_object(bucket_name=bucket, object_name=key, file_path=str(path))

    def get(self, bucket: str, key: str) -> bytes:
        response = self.client.get_object(bucket_name=bucket, object_name=key)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.client.fget_object(bucket_name=bucket, object_name=key, file_path=str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        response = self.client.get_object(
            bucket_name=bucket, object_name=key, offset=start, length=end - start + 1
        )
        try:
            assert response.status == 206
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def size(self, bucket: str, key: str) -> int:
        return int(self.client.stat_object(bucket_name=bucket, object_name=key).size or 0)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.client.copy_object(
            bucket_name=dst_bucket,
            object_name=dst_key,
            source=CopySource(bucket_name=src_bucket, object_name=src_key),
        )

    def create_bucket(self, bucket: str) -> None:
        self.client.make_bucket(bucket_name=bucket)

    def delete_bucket(self, bucket: str) -> None:
        self.client.remove_bucket(bucket_name=bucket)

    def delete(self, bucket: str, key: str) -> None:
        self.client.remove_object(bucket_name=bucket, object_name=key)

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        errors = list(
            self.client.remove_objects(
                bucket_name=bucket, delete_object_list=[DeleteObject(k) for k in keys]
            )
        )
        assert errors == []

    def classify(self, exc: BaseException) -> type[Exception] | None:
        if isinstance(exc, S3Error):
            if exc.code == "AccessDenied":
                return Refused
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return Missing
        return None


class TestMinio(ClientBattery):
    CLIENT = "minio"
    SETUP = '`Minio("127.0.0.1:PORT", secure=False)`, no region (so it asks GetBucketLocation)'
    ORDER = 50
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`list_objects(recursive=True)` (V2, empty `delimiter=`)",
        "put_large": "`fput_object`: 4 parts of 5 MiB",
        "get_whole": "`get_object`; `fget_object` (HEAD + GET to a temp file)",
        "get_range": "`get_object(offset, length)`",
        "head": "`stat_object`",
        "copy": "`copy_object` (`x-amz-copy-source` with a leading /)",
        "multi_delete": "`remove_objects` (DeleteObjects, Quiet, numeric XML entities)",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"minio": version("minio"), "urllib3": version("urllib3")}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> MinioAdapter:
        return MinioAdapter(served)

    def test_fileobj_stream(self, adapter: MinioAdapter, oracle: Oracle) -> None:
        # length=-1: a stream of unknown size, uploaded in part_size pieces.
        data = b"".join(bytes([i]) * 1024 for i in range(256)) * 40  # 10 MiB
        adapter.client.put_object(
            bucket_name=OUT,
            object_name=SPECIAL_KEY,
            data=io.BytesIO(data),
            length=-1,
            part_size=5 * MiB,
        )
        assert oracle.read(OUT, SPECIAL_KEY) == data
        response = adapter.client.get_object(bucket_name=OUT, object_name=SPECIAL_KEY)
        try:
            chunks = list(response.stream(256 * 1024))
        finally:
            response.close()
            response.release_conn()
        assert b"".join(chunks) == data


class TestMinioGlobal(TestMinio):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
