"""boto3, client and resource APIs, with s3transfer's multipart upload_file/download_file,
over http and over TLS (where botocore switches uploads to aws-chunked with a CRC32 trailer)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import ClientError
from clients_battery import ClientBattery, assert_aws_chunked
from clients_support import (
    BIG,
    INPUT,
    INPUT_FILES,
    OUT,
    SPECIAL_KEY,
    Adapter,
    MiB,
    Missing,
    Oracle,
    Refused,
    boto3_client,
    md5,
)


def make_client(served: Any) -> Any:
    return boto3_client(served.endpoint_url, served.ca_file)


def classify_boto(exc: BaseException) -> type[Exception] | None:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "AccessDenied" and status == 403:
            return Refused
        if code in ("NoSuchKey", "404") and status == 404:
            return Missing
    if isinstance(exc, S3UploadFailedError) and "AccessDenied" in str(exc):
        return Refused
    return None


def boto_versions() -> dict[str, str]:
    return {name: version(name) for name in ("boto3", "botocore", "s3transfer")}


class Boto3ClientAdapter(Adapter):
    name = "boto3"
    large_put_parts = 8 * MiB  # s3transfer: threshold 8 MiB, part size 8 MiB -> 8+8+4

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def list_buckets(self) -> list[str]:
        return [b["Name"] for b in self.s3.list_buckets()["Buckets"]]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 3}
        )
        for page in pages:
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        page = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
        return (
            [o["Key"] for o in page.get("Contents", [])],
            [p["Prefix"] for p in page.get("CommonPrefixes", [])],
        )

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        response = self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        assert response["ETag"] == f'"{md5(data)}"'

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.s3.upload_file(str(path), bucket, key)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.s3.download_file(bucket, key, str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        got = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].startswith(f"bytes {start}-{end}/")
        return bytes(got["Body"].read())

    def size(self, bucket: str, key: str) -> int:
        return int(self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"])

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.s3.copy_object(
            Bucket=dst_bucket, Key=dst_key, CopySource={"Bucket": src_bucket, "Key": src_key}
        )

    def create_bucket(self, bucket: str) -> None:
        self.s3.create_bucket(Bucket=bucket)

    def delete_bucket(self, bucket: str) -> None:
        self.s3.delete_bucket(Bucket=bucket)

    def delete(self, bucket: str, key: str) -> None:
        self.s3.delete_object(Bucket=bucket, Key=key)

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        response = self.s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]}
        )
        assert sorted(d["Key"] for d in response.get("Deleted", [])) == sorted(keys)
        assert not response.get("Errors")

    def classify(self, exc: BaseException) -> type[Exception] | None:
        return classify_boto(exc)


class Boto3ResourceAdapter(Boto3ClientAdapter):
    name = "boto3.resource"

    def __init__(self, served: Any) -> None:
        super().__init__(make_client(served))
        self.resource = boto3.session.Session().resource(
            "s3",
            endpoint_url=served.endpoint_url,
            aws_access_key_id="any-key",
            aws_secret_access_key="any-secret",
            region_name="us-east-1",
            verify=str(served.ca_file) if served.ca_file else None,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def list_buckets(self) -> list[str]:
        return [b.name for b in self.resource.buckets.all()]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        objects = self.resource.Bucket(bucket).objects
        return [o.key for o in objects.filter(Prefix=prefix).page_size(3)]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], None]:
        listed = self.resource.Bucket(bucket).objects.filter(Prefix=prefix, Delimiter="/")
        return [o.key for o in listed], None

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        self.resource.Object(bucket, key).put(Body=data)

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.resource.Bucket(bucket).upload_file(str(path), key)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.resource.Object(bucket, key).get()["Body"].read())

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.resource.Bucket(bucket).download_file(key, str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        got = self.resource.Object(bucket, key).get(Range=f"bytes={start}-{end}")
        return bytes(got["Body"].read())

    def size(self, bucket: str, key: str) -> int:
        obj = self.resource.Object(bucket, key)
        obj.load()
        return int(obj.content_length)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.resource.Object(dst_bucket, dst_key).copy_from(
            CopySource={"Bucket": src_bucket, "Key": src_key}
        )

    def delete(self, bucket: str, key: str) -> None:
        self.resource.Object(bucket, key).delete()

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        self.resource.Bucket(bucket).delete_objects(
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )


class NonSeekable(io.RawIOBase):
    """A read-only stream that cannot seek or tell its size (a pipe, a generator)."""

    def __init__(self, data: bytes, chunk: int = 64 * 1024) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._chunk, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


class TestBoto3(ClientBattery):
    CLIENT = "boto3"
    SETUP = (
        '`endpoint_url=`, `Config(s3={"addressing_style": "path"})` (botocore already '
        "picks path style for an IP endpoint)"
    )
    TLS_SETUP = "`verify=` the certificate (CA bundle)"
    ORDER = 10
    NOTES: ClassVar[dict[str, str]] = {
        "put_large": "`upload_file`: 3 parts (8+8+4 MiB) uploaded by parallel threads",
        "get_whole": "`download_file`: HEAD, then parallel ranged GETs with If-Match",
        "list_flat": "`list_objects_v2` paginator, 3 keys a page (continuation tokens)",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return boto_versions()

    @pytest.fixture(scope="class")
    @classmethod
    def s3(cls, served: Any) -> Any:
        return make_client(served)

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, s3: Any) -> Adapter:
        return Boto3ClientAdapter(s3)

    def test_fileobj_stream(self, s3: Any, oracle: Oracle) -> None:
        data = BIG[: 12 * MiB + 5]
        s3.upload_fileobj(NonSeekable(data), OUT, "stream/up.bin")
        assert oracle.read(OUT, "stream/up.bin") == data
        sink = io.BytesIO()
        s3.download_fileobj(OUT, "stream/up.bin", sink)
        assert sink.getvalue() == data
        body = s3.get_object(Bucket=INPUT, Key="big.bin")["Body"]
        chunks = list(body.iter_chunks(chunk_size=MiB))
        assert b"".join(chunks) == BIG

    def test_empty_then_put(self, s3: Any, oracle: Oracle) -> None:
        # File bodies, so both requests carry Expect: 100-continue, on one pooled connection.
        first = s3.put_object(Bucket=OUT, Key="empty", Body=io.BytesIO(b""))
        assert first["ETag"] == f'"{md5(b"")}"'
        second = s3.put_object(Bucket=OUT, Key="data.txt", Body=io.BytesIO(b"some data"))
        assert second["ETag"] == f'"{md5(b"some data")}"'
        assert oracle.read(OUT, "data.txt") == b"some data"

    def test_conditional_put(self, s3: Any, oracle: Oracle) -> None:
        s3.put_object(Bucket=OUT, Key="once.txt", Body=b"first", IfNoneMatch="*")
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=OUT, Key="once.txt", Body=io.BytesIO(b"second"), IfNoneMatch="*")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert oracle.read(OUT, "once.txt") == b"first"
        # The pooled connection that carried the refused PUT still serves the next ones.
        assert s3.get_object(Bucket=OUT, Key="once.txt")["Body"].read() == b"first"
        s3.put_object(Bucket=OUT, Key="twice.txt", Body=io.BytesIO(b"next"))
        assert oracle.read(OUT, "twice.txt") == b"next"

    def test_presigned_url(self, s3: Any, served: Any, oracle: Oracle) -> None:
        import urllib.request

        context = None
        if served.ca_file:
            import ssl

            context = ssl.create_default_context(cafile=str(served.ca_file))
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": INPUT, "Key": SPECIAL_KEY}, ExpiresIn=300
        )
        with urllib.request.urlopen(url, timeout=30, context=context) as response:
            assert response.read() == INPUT_FILES[SPECIAL_KEY]
        v4 = boto3_client(served.endpoint_url, served.ca_file, signature_version="s3v4")
        put_url = v4.generate_presigned_url(
            "put_object", Params={"Bucket": OUT, "Key": "presigned.txt"}, ExpiresIn=300
        )
        request = urllib.request.Request(put_url, data=b"via a presigned URL", method="PUT")
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            assert response.status == 200
        assert oracle.read(OUT, "presigned.txt") == b"via a presigned URL"


class TestBoto3Resource(ClientBattery):
    CLIENT = "boto3.resource"
    SETUP = 'as boto3: `boto3.resource("s3", endpoint_url=..., config=...)`'
    TLS_SETUP = "`verify=` the certificate (CA bundle)"
    ORDER = 11
    NOTES: ClassVar[dict[str, str]] = {
        "list_delimiter": "the resource API yields objects only; CommonPrefixes are not exposed",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return boto_versions()

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> Adapter:
        return Boto3ResourceAdapter(served)


class Recorder:
    """Records the headers of every PutObject/UploadPart a botocore client sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def __call__(self, request: Any, **_: Any) -> None:
        self.sent.append(
            {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        )


@pytest.fixture
def recorder(s3: Any) -> Iterator[Recorder]:
    record = Recorder()
    for event in ("before-send.s3.PutObject", "before-send.s3.UploadPart"):
        s3.meta.events.register(event, record)
    yield record
    for event in ("before-send.s3.PutObject", "before-send.s3.UploadPart"):
        s3.meta.events.unregister(event, record)


class TestBoto3TLS(TestBoto3):
    TLS = True

    def test_tls_aws_chunked(
        self, s3: Any, recorder: Recorder, oracle: Oracle, big_file: Path
    ) -> None:
        data = b"over TLS the body is aws-chunked\n"
        s3.put_object(Bucket=OUT, Key="tls/small.txt", Body=data)
        s3.upload_file(str(big_file), OUT, "tls/big.bin")
        assert len(recorder.sent) == 4  # one PutObject, three UploadParts
        for headers in recorder.sent:
            assert_aws_chunked(headers)
        assert oracle.read(OUT, "tls/small.txt") == data
        assert oracle.read(OUT, "tls/big.bin") == BIG


class TestBoto3ResourceTLS(TestBoto3Resource):
    TLS = True


class TestBoto3Global(TestBoto3):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}


class TestBoto3ResourceGlobal(TestBoto3Resource):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
