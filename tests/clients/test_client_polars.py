"""Polars on s3:// URLs (its cloud I/O is Rust object_store, like obstore), configured only
through ``storage_options``: endpoint, keys, region, http allowed, path-style requests.

Polars reads and writes tables, nothing else: the object rows of the battery are n/a, its
reads and writes are the table rows.
"""

from __future__ import annotations

import io
from functools import partial
from importlib.metadata import version
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery, expect_error
from clients_support import INPUT, OUT, Adapter, Missing, Oracle, Refused

pl = pytest.importorskip("polars")
pq = pytest.importorskip("pyarrow.parquet")

TABLES_ONLY = "Polars reads and writes tables (CSV, Parquet, ...), it has no object API"


class PolarsAdapter(Adapter):
    """Object operations: none (the base class raises Unsupported); errors classified."""

    name = "polars"

    def __init__(self, served: Any) -> None:
        self.options = {
            "aws_endpoint_url": served.endpoint_url,
            "aws_access_key_id": "any-key",
            "aws_secret_access_key": "any-secret",
            "aws_region": "us-east-1",
            "aws_allow_http": "true",
            "aws_virtual_hosted_style_request": "false",
        }

    def classify(self, exc: BaseException) -> type[Exception] | None:
        # object_store's errors surface as the built-in classes.
        if isinstance(exc, PermissionError):
            return Refused
        if isinstance(exc, FileNotFoundError):
            return Missing
        return None


def frame(rows: int) -> Any:
    return pl.DataFrame(
        {
            "n": list(range(rows)),
            "p": [i % 3 for i in range(rows)],
            "s": [f"row {i}" for i in range(rows)],
        }
    )


class TestPolars(ClientBattery):
    CLIENT = "polars"
    SETUP = (
        '`storage_options={"aws_endpoint_url": ..., "aws_allow_http": "true", '
        '"aws_virtual_hosted_style_request": "false", ...}`'
    )
    ORDER = 120
    # Every row of the shared object battery; the table rows are below.
    UNSUPPORTED: ClassVar[dict[str, str]] = dict.fromkeys(
        (name.removeprefix("test_") for name in dir(ClientBattery) if name.startswith("test_")),
        TABLES_ONLY,
    )
    NOTES: ClassVar[dict[str, str]] = {
        "table_read": "`read_csv('s3://...')`, `scan_csv('s3://labresults/dir/**/*.csv')`",
        "table_write": "`DataFrame.write_parquet('s3://out/...')`, "
        "`LazyFrame.sink_parquet(...)` and `sink_csv(...)`",
        "parquet_dataset": "`write_parquet(dir, partition_by='p')`, read back with "
        "`scan_parquet('.../**/*.parquet', hive_partitioning=True).filter(...)`",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"polars": version("polars")}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any) -> PolarsAdapter:
        return PolarsAdapter(served)

    def test_table_read(self, adapter: PolarsAdapter) -> None:
        table = pl.read_csv(f"s3://{INPUT}/table.csv", storage_options=adapter.options)
        assert table.rows() == [("T1", "GLUCOSE", 5.4), ("T2", "HBA1C", 6.1), ("T3", "LIPIDS", 4.2)]
        globbed = pl.scan_csv(
            f"s3://{INPUT}/dir/**/*.csv", storage_options=adapter.options
        ).collect()
        assert globbed.rows() == [(1, 2)]
        missing = partial(pl.read_csv, storage_options=adapter.options)
        expect_error(adapter, Missing, missing, f"s3://{INPUT}/nope.csv")

    def test_table_write(self, adapter: PolarsAdapter, oracle: Oracle) -> None:
        options = adapter.options
        df = frame(50_000)
        df.write_parquet(f"s3://{OUT}/t/written.parquet", storage_options=options)
        stored = pq.read_table(io.BytesIO(oracle.read(OUT, "t/written.parquet")))
        assert stored.column("n").to_pylist() == df["n"].to_list()
        odd = df.lazy().filter(pl.col("n") % 2 == 1)
        odd.sink_parquet(f"s3://{OUT}/t/sunk.parquet", storage_options=options)
        stored = pq.read_table(io.BytesIO(oracle.read(OUT, "t/sunk.parquet")))
        assert stored.column("n").to_pylist() == list(range(1, 50_000, 2))
        odd.sink_csv(f"s3://{OUT}/t/sunk.csv", storage_options=options)
        assert oracle.read(OUT, "t/sunk.csv").decode().splitlines()[:2] == ["n,p,s", "1,1,row 1"]
        back = pl.scan_parquet(f"s3://{OUT}/t/*.parquet", storage_options=options)
        assert back.select(pl.len()).collect().item() == 75_000
        before = oracle.files(INPUT)
        refused = partial(df.write_parquet, storage_options=options)
        expect_error(adapter, Refused, refused, f"s3://{INPUT}/x.parquet")
        assert oracle.files(INPUT) == before

    def test_parquet_dataset(self, adapter: PolarsAdapter, oracle: Oracle) -> None:
        df = frame(30_000)
        df.write_parquet(f"s3://{OUT}/ds/", partition_by="p", storage_options=adapter.options)
        files = [k for k in oracle.keys(OUT, "ds/") if not k.endswith("/")]
        assert [k.rsplit("/", 1)[0] for k in files] == [f"ds/p={p}" for p in range(3)]
        scan = pl.scan_parquet(
            f"s3://{OUT}/ds/**/*.parquet", storage_options=adapter.options, hive_partitioning=True
        )
        back = scan.collect().sort("n")
        assert back["n"].to_list() == df["n"].to_list()
        assert back["p"].to_list() == df["p"].to_list()
        only = scan.filter(pl.col("p") == 2).collect()
        assert only.height == 10_000
        assert set(only["p"].to_list()) == {2}


class TestPolarsGlobal(TestPolars):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
