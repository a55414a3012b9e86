"""pyarrow.fs.S3FileSystem (the AWS C++ SDK over libcurl): every write is a multipart upload
with aws-chunked UploadPart bodies and CRC64NVME trailers, even over plain http."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery
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
)

pa = pytest.importorskip("pyarrow")
pafs = pytest.importorskip("pyarrow.fs")


class PyarrowAdapter(Adapter):
    name = "pyarrow"
    large_put_parts = 10 * MiB  # the C++ SDK's output stream uploads 10 MiB parts

    def __init__(self, served: Any) -> None:
        self.fs = pafs.S3FileSystem(
            access_key="any-key",
            secret_key="any-secret",
            region="us-east-1",
            scheme="http",
            endpoint_override=served.hostport,
            connect_timeout=5,
            request_timeout=60,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2),
            # pyarrow refuses CreateBucket/DeleteBucket unless told (the global mode's row)
            allow_bucket_creation=served.mode == "global",
            allow_bucket_deletion=served.mode == "global",
        )

    def _files(self, base: str, *, recursive: bool) -> list[Any]:
        selector = pafs.FileSelector(base, recursive=recursive, allow_not_found=True)
        return list(self.fs.get_file_info(selector))

    def list_buckets(self) -> list[str]:
        return [i.path for i in self._files("", recursive=False)]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        base = f"{bucket}/{prefix}".rstrip("/")
        return [
            info.path.removeprefix(f"{bucket}/")
            for info in self._files(base, recursive=True)
            if info.type == pafs.FileType.File
        ]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        keys, prefixes = [], []
        for info in self._files(f"{bucket}/{prefix}".rstrip("/"), recursive=False):
            name = info.path.removeprefix(f"{bucket}/")
            if info.type == pafs.FileType.Directory:
                prefixes.append(name + "/")
            else:
                keys.append(name)
        return keys, prefixes

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        with self.fs.open_output_stream(f"{bucket}/{key}") as out:
            out.write(data)

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        with path.open("rb") as source, self.fs.open_output_stream(f"{bucket}/{key}") as out:
            while chunk := source.read(MiB):
                out.write(chunk)

    def get(self, bucket: str, key: str) -> bytes:
        with self.fs.open_input_stream(f"{bucket}/{key}") as stream:
            return bytes(stream.read())

    def download(self, bucket: str, key: str, path: Path) -> None:
        pafs.copy_files(
            f"{bucket}/{key}",
            str(path),
            source_filesystem=self.fs,
            destination_filesystem=pafs.LocalFileSystem(),
        )

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        with self.fs.open_input_file(f"{bucket}/{key}") as f:
            return bytes(f.read_at(end - start + 1, start))

    def size(self, bucket: str, key: str) -> int:
        info = self.fs.get_file_info(f"{bucket}/{key}")
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(info.path)
        return int(info.size)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.fs.copy_file(f"{src_bucket}/{src_key}", f"{dst_bucket}/{dst_key}")

    def create_bucket(self, bucket: str) -> None:
        self.fs.create_dir(bucket)  # a bare name: CreateBucket

    def delete_bucket(self, bucket: str) -> None:
        self.fs.delete_dir(bucket)

    def delete(self, bucket: str, key: str) -> None:
        self.fs.delete_file(f"{bucket}/{key}")

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        # pyarrow's bulk delete is "everything under a directory" (list + DeleteObjects).
        directory = posixpath.commonpath(list(keys))
        listed = {
            i.path.removeprefix(f"{bucket}/")
            for i in self._files(f"{bucket}/{directory}", recursive=True)
            if i.type == pafs.FileType.File
        }
        assert listed == set(keys), "the battery's keys must be all of one directory"
        self.fs.delete_dir_contents(f"{bucket}/{directory}")

    def make_marker(self, bucket: str, key: str) -> None:
        self.fs.create_dir(f"{bucket}/{key.rstrip('/')}")

    def classify(self, exc: BaseException) -> type[Exception] | None:
        if isinstance(exc, FileNotFoundError):
            return Missing
        if isinstance(exc, OSError) and "ACCESS_DENIED" in str(exc):
            return Refused
        return None


class TestPyarrow(ClientBattery):
    CLIENT = "pyarrow"
    SETUP = '`endpoint_override="127.0.0.1:PORT"`, `scheme="http"`'
    ORDER = 40
    MARKERS_LISTED_AS = "directory"
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`get_file_info(FileSelector(recursive=True))`: a `marker/` key is a "
        "directory to pyarrow, not a file",
        "put_small": "`open_output_stream`: a 1-part multipart upload, aws-chunked part with "
        "a CRC64NVME trailer",
        "put_large": "2 parts (10+10 MiB), aws-chunked with CRC64NVME trailers",
        "get_whole": "`open_input_stream().read()`; `copy_files` to a local file",
        "get_range": "`open_input_file().read_at()`",
        "head": "`get_file_info` (HEAD)",
        "multi_delete": "`delete_dir_contents` (list + DeleteObjects)",
        "dir_marker": "`create_dir` (PUT `newdir/`)",
        "parquet_dataset": "`pyarrow.dataset.write_dataset` with hive and with directory "
        "partitioning (15 small files), read back with `to_table(filter=...)`",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"pyarrow": version("pyarrow")}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> PyarrowAdapter:
        return PyarrowAdapter(served)

    def test_parquet_dataset(self, adapter: PyarrowAdapter, oracle: Oracle) -> None:
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
        import pyarrow.dataset as ds

        with adapter.fs.open_input_stream(f"{INPUT}/table.csv") as stream:
            table = pacsv.read_csv(stream)
        assert table.column("analyte").to_pylist() == ["GLUCOSE", "HBA1C", "LIPIDS"]
        big = pa.table(
            {
                "part": [i % 3 for i in range(30_000)],
                "n": list(range(30_000)),
                "s": [f"row {i}" for i in range(30_000)],
            }
        )
        ds.write_dataset(
            big,
            f"{OUT}/dataset",
            filesystem=adapter.fs,
            format="parquet",
            partitioning=["part"],
            partitioning_flavor="hive",
            basename_template="chunk-{i}.parquet",
        )
        written = oracle.keys(OUT, "dataset/")
        assert [k for k in written if not k.endswith("/")] == [
            f"dataset/part={p}/chunk-0.parquet" for p in range(3)
        ]
        back = ds.dataset(
            f"{OUT}/dataset", filesystem=adapter.fs, format="parquet", partitioning="hive"
        ).to_table()
        assert back.num_rows == big.num_rows

        def rows(table: Any) -> list[tuple[int, str]]:
            return sorted(
                zip(table.column("n").to_pylist(), table.column("s").to_pylist(), strict=True)
            )

        assert rows(back) == rows(big)
        hive = ds.dataset(
            f"{OUT}/dataset", filesystem=adapter.fs, format="parquet", partitioning="hive"
        )
        only = hive.to_table(filter=ds.field("part") == 1)
        assert only.num_rows == 10_000
        assert set(only.column("part").to_pylist()) == {1}
        # Directory partitioning (`by-part/1/...`, no `key=`), many small files, read back with
        # a filter on the partition that only the directory names carry.
        directory = ds.partitioning(pa.schema([("part", pa.int64())]))
        ds.write_dataset(
            big,
            f"{OUT}/by-part",
            filesystem=adapter.fs,
            format="parquet",
            partitioning=directory,
            max_rows_per_file=2_000,
            max_rows_per_group=2_000,
            basename_template="rows-{i}.parquet",
        )
        files = [k for k in oracle.keys(OUT, "by-part/") if not k.endswith("/")]
        assert len(files) == 15
        assert {k.rsplit("/", 1)[0] for k in files} == {f"by-part/{p}" for p in range(3)}
        plain = ds.dataset(
            f"{OUT}/by-part", filesystem=adapter.fs, format="parquet", partitioning=directory
        )
        assert rows(plain.to_table()) == rows(big)
        zero = plain.to_table(filter=ds.field("part") == 0)
        assert rows(zero) == rows(big.filter(pc.equal(big.column("part"), 0)))

    def test_move(self, adapter: PyarrowAdapter, oracle: Oracle) -> None:
        oracle.put("mv/from.txt", b"moving")
        adapter.fs.move(f"{OUT}/mv/from.txt", f"{OUT}/{SPECIAL_KEY}")
        files = {k: v for k, v in oracle.files(OUT).items() if not k.endswith("/")}
        assert files == {SPECIAL_KEY: 6}
        assert oracle.read(OUT, SPECIAL_KEY) == b"moving"

    def test_recursive_delete(self, adapter: PyarrowAdapter, oracle: Oracle) -> None:
        for key in ("r/1", "r/2/3", "r/sp ace+plus%pct&amp=eqü€~.txt", "rest.txt"):
            oracle.put(key, b"x")
        adapter.fs.delete_dir(f"{OUT}/r")
        assert oracle.keys(OUT) == ["rest.txt"]

    def test_fileobj_stream(self, adapter: PyarrowAdapter, oracle: Oracle) -> None:
        data = BIG[: 12 * MiB + 3]
        with adapter.fs.open_output_stream(f"{OUT}/stream/up.bin") as out:
            for i in range(0, len(data), 256 * 1024):
                out.write(data[i : i + 256 * 1024])
        assert oracle.read(OUT, "stream/up.bin") == data
        with adapter.fs.open_input_file(f"{OUT}/stream/up.bin") as f:
            assert f.size() == len(data)
            f.seek(5 * MiB)
            assert f.read(MiB) == data[5 * MiB : 6 * MiB]


class TestPyarrowGlobal(TestPyarrow):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
