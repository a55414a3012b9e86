"""DuckDB with its httpfs extension (C++, its own HTTP client): the extension comes from the
``duckdb-extension-httpfs`` wheel of the same version and is loaded from that file, so nothing
is downloaded at run time (auto-install and auto-load are off).

DuckDB is a query engine, not an object client: it reads any object (``read_blob``,
``read_csv``, ``read_parquet``), lists with ``glob()``, and writes tables (``COPY ... TO``), never
arbitrary bytes, copies or deletes; those rows are n/a. Its writes are in the table rows.
"""

from __future__ import annotations

import io
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery, expect_error
from clients_support import INPUT, OUT, Adapter, Missing, Oracle, Refused, Unsupported

duckdb = pytest.importorskip("duckdb")
httpfs_wheel = pytest.importorskip("duckdb_extension_httpfs")
pq = pytest.importorskip("pyarrow.parquet")

NO_BYTES_WRITE = (
    "DuckDB writes tables (`COPY ... TO` csv/parquet/json), never a given byte string; "
    "its writes are the table rows"
)


def httpfs_extension() -> Path:
    """The extension binary the wheel ships for the installed DuckDB version."""
    path = (
        Path(httpfs_wheel.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "httpfs.duckdb_extension"
    )
    if not path.exists():
        pytest.fail(f"duckdb-extension-httpfs has no build for duckdb {duckdb.__version__}")
    return path


class DuckdbAdapter(Adapter):
    name = "duckdb"

    def __init__(self, served: Any) -> None:
        # Offline: never fetch an extension from DuckDB's extension host.
        self.con = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        self.con.execute(f"LOAD '{httpfs_extension()}'")
        if served.ca_file is not None:
            # httpfs verifies the server's certificate against this file instead of the
            # system's CA store (the test's self-signed CA).
            self.con.execute("SET ca_cert_file = ?", [str(served.ca_file)])
        self.con.execute(
            "CREATE SECRET gateway (TYPE s3, KEY_ID 'any-key', SECRET 'any-secret', "
            f"REGION 'us-east-1', ENDPOINT '{served.hostport}', URL_STYLE 'path', "
            f"USE_SSL {str(served.tls).lower()})"
        )

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return list(self.con.execute(sql, list(params)).fetchall())

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        # `**` matches any depth; glob() lists files, never a `dir/` marker.
        found = self.rows("SELECT file FROM glob(?)", f"s3://{bucket}/{prefix}**")
        return [str(f).removeprefix(f"s3://{bucket}/") for (f,) in found]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], None]:
        found = self.rows("SELECT file FROM glob(?)", f"s3://{bucket}/{prefix}*")
        return [str(f).removeprefix(f"s3://{bucket}/") for (f,) in found], None

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        raise Unsupported(NO_BYTES_WRITE)

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        raise Unsupported(NO_BYTES_WRITE)

    def get(self, bucket: str, key: str) -> bytes:
        ((content,),) = self.rows("SELECT content FROM read_blob(?)", f"s3://{bucket}/{key}")
        return bytes(content)

    def size(self, bucket: str, key: str) -> int:
        ((size,),) = self.rows("SELECT size FROM read_blob(?)", f"s3://{bucket}/{key}")
        return int(size)

    def make_marker(self, bucket: str, key: str) -> None:
        raise Unsupported(NO_BYTES_WRITE)

    def classify(self, exc: BaseException) -> type[Exception] | None:
        text = str(exc)
        if "403" in text and "AccessDenied" in text:
            return Refused
        if "404" in text:
            return Missing
        return None


class TestDuckdb(ClientBattery):
    CLIENT = "duckdb"
    SETUP = (
        "httpfs loaded from the `duckdb-extension-httpfs` wheel; `CREATE SECRET (TYPE s3, "
        "ENDPOINT '127.0.0.1:PORT', URL_STYLE 'path', USE_SSL false)`"
    )
    ORDER = 110
    MARKERS_LISTED_AS = "directory"
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "list_buckets": "DuckDB has no bucket listing (glob() needs a bucket)",
        "create_bucket": "DuckDB has no bucket creation (httpfs reads and writes objects)",
        "put_small": NO_BYTES_WRITE,
        "put_large": NO_BYTES_WRITE,
        "get_range": "no ranged-read API (httpfs reads ranges internally, for Parquet)",
        "copy": "no server-side copy (COPY ... TO rewrites a table)",
        "delete": "no delete API",
        "multi_delete": "no delete API",
        "special_key": NO_BYTES_WRITE,
        "zero_byte": NO_BYTES_WRITE,
        "dir_marker": NO_BYTES_WRITE,
        "refused_write": NO_BYTES_WRITE + " (a refused `COPY ... TO` is in the table-write row)",
    }
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`glob('s3://b/prefix**')` (ListObjectsV2); a `dir/` marker is not a file",
        "list_delimiter": "`glob('s3://b/dir/*')`: files of one level, prefixes not exposed",
        "get_whole": "`read_blob` (HEAD, then GET)",
        "head": "`SELECT size FROM read_blob(...)` (HEAD)",
        "table_read": "`read_csv('s3://...')`, `read_csv('s3://labresults/dir/**/*.csv')`",
        "table_write": "`COPY (...) TO 's3://out/...' (FORMAT parquet)`: a multipart upload",
        "parquet_dataset": "`COPY ... TO 's3://out/dir' (FORMAT parquet, PARTITION_BY (p))`, "
        "read back with `hive_partitioning` and a `WHERE` on the partition column",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {
            "duckdb": version("duckdb"),
            "duckdb-extension-httpfs": version("duckdb-extension-httpfs"),
        }

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> DuckdbAdapter:
        return DuckdbAdapter(served)

    def test_table_read(self, adapter: DuckdbAdapter) -> None:
        rows = adapter.rows(
            f"SELECT sample, analyte, value FROM read_csv('s3://{INPUT}/table.csv')"
        )
        assert rows == [("T1", "GLUCOSE", 5.4), ("T2", "HBA1C", 6.1), ("T3", "LIPIDS", 4.2)]
        globbed = adapter.rows(f"SELECT x, y FROM read_csv('s3://{INPUT}/dir/**/*.csv')")
        assert globbed == [(1, 2)]
        expect_error(
            adapter, Missing, adapter.rows, f"SELECT * FROM read_csv('s3://{INPUT}/nope.csv')"
        )

    def test_table_write(self, adapter: DuckdbAdapter, oracle: Oracle) -> None:
        query = "SELECT range AS n, 'row ' || range AS s FROM range(50000)"
        adapter.rows(f"COPY ({query}) TO 's3://{OUT}/t/table.parquet' (FORMAT parquet)")
        stored = pq.read_table(io.BytesIO(oracle.read(OUT, "t/table.parquet")))
        assert stored.column("n").to_pylist() == list(range(50000))
        back = adapter.rows(f"SELECT count(*), sum(n) FROM read_parquet('s3://{OUT}/t/*.parquet')")
        assert back == [(50000, sum(range(50000)))]
        adapter.rows(f"COPY ({query}) TO 's3://{OUT}/t/table.csv' (FORMAT csv)")
        text = oracle.read(OUT, "t/table.csv").decode()
        assert text.splitlines()[:2] == ["n,s", "0,row 0"]
        before = oracle.files(INPUT)
        expect_error(adapter, Refused, adapter.rows, f"COPY ({query}) TO 's3://{INPUT}/x.parquet'")
        assert oracle.files(INPUT) == before

    def test_parquet_dataset(self, adapter: DuckdbAdapter, oracle: Oracle) -> None:
        query = "SELECT range AS n, range % 3 AS p FROM range(30000)"
        adapter.rows(f"COPY ({query}) TO 's3://{OUT}/ds' (FORMAT parquet, PARTITION_BY (p))")
        files = [k for k in oracle.keys(OUT, "ds/") if not k.endswith("/")]
        assert files == [f"ds/p={p}/data_0.parquet" for p in range(3)]
        source = f"read_parquet('s3://{OUT}/ds/*/*.parquet', hive_partitioning=true)"
        assert adapter.rows(f"SELECT count(*), sum(n) FROM {source}") == [
            (30000, sum(range(30000)))
        ]
        only = adapter.rows(f"SELECT DISTINCT p, count(*) OVER () FROM {source} WHERE p = 2")
        assert only == [(2, 10000)]


class TestDuckdbGlobal(TestDuckdb):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}


class TestDuckdbTls(TestDuckdb):
    TLS = True
    TLS_SETUP = "`USE_SSL true`, `SET ca_cert_file` to the test CA"
    NOTES: ClassVar[dict[str, str]] = {}
