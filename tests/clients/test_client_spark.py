"""Apache Spark (pyspark, ``local[2]``) with S3A: hadoop-aws of Spark's Hadoop version and its
AWS SDK bundle, plus spark-hadoop-cloud for the magic committer, resolved from Maven Central by
Spark's own ``spark.jars.packages`` into its ivy cache once (about 660 MB the first time;
.ci/run fetches them in its toolchain stage with spark_jars.py, which names them).

Spark reads and writes tables, nothing else: the object rows of the battery are n/a; its reads,
its writes with both committers and its partitioned writes are the table rows.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery, expect_error
from clients_drivers import jvm_trust_store, require_toolchain
from clients_support import INPUT, OUT, Adapter, Missing, Oracle, Refused
from spark_jars import EXCLUDED, HADOOP_AWS, PACKAGES

pq = pytest.importorskip("pyarrow.parquet")

TABLES_ONLY = "Spark reads and writes tables (CSV, Parquet, ...), it has no object API"
MAGIC = {
    "spark.sql.sources.commitProtocolClass": (
        "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol"
    ),
    "spark.sql.parquet.output.committer.class": (
        "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"
    ),
}


@pytest.fixture(scope="session")
def jvm_trust(tls_pair: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The driver JVM's options: trust the test CA (JSSE, which S3A's AWS SDK uses). pyspark
    starts one JVM per process and keeps it across sessions, so every session asks for it
    (only the first one's options count), the http classes too."""
    require_toolchain("keytool", "the JDK's keytool")
    return " ".join(jvm_trust_store(tls_pair[0], tmp_path_factory.mktemp("spark-trust")))


def spark_session(endpoint_url: str, java_options: str) -> Any:
    require_toolchain("java", "a JDK 17+ (Spark 4)")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        message = "not run: pyspark is not installed (the `test` extra has it)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    s3a = {
        "endpoint": endpoint_url,
        "endpoint.region": "us-east-1",
        "path.style.access": "true",
        "connection.ssl.enabled": str(endpoint_url.startswith("https:")).lower(),
        "access.key": "any-key",
        "secret.key": "any-secret",
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "attempts.maximum": "2",
        # pyspark keeps one JVM per process, and Hadoop's FileSystem cache in it outlives
        # spark.stop(): without this, the next class's session would reuse the previous
        # class's S3AFileSystem for s3a://labresults and s3a://out, bound to that class's
        # endpoint (a stopped server: connection refused).
        "impl.disable.cache": "true",
    }
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("pachs3-clients")
        .config("spark.jars.packages", PACKAGES)
        .config("spark.jars.excludes", ",".join(EXCLUDED))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.extraJavaOptions", java_options)
    )
    for name, value in s3a.items():
        builder = builder.config(f"spark.hadoop.fs.s3a.{name}", value)
    return builder.getOrCreate()


class SparkAdapter(Adapter):
    """Object operations: none (the base class raises Unsupported); errors classified."""

    name = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def classify(self, exc: BaseException) -> type[Exception] | None:
        text = str(exc)
        if "AccessDenied" in text or "403" in text:
            return Refused
        if "PATH_NOT_FOUND" in text or "FileNotFoundException" in text:
            return Missing
        return None


def parquet_rows(oracle: Oracle, prefix: str) -> list[tuple[int, str]]:
    """(n, s) of every Parquet part file under ``prefix`` in the store, read without S3."""
    rows: list[tuple[int, str]] = []
    for key in oracle.keys(OUT, prefix):
        if key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(oracle.read(OUT, key)))
            n, s = table.column("n").to_pylist(), table.column("s").to_pylist()
            rows.extend(zip(n, s, strict=True))
    return sorted(rows)


def expected_rows(count: int) -> list[tuple[int, str]]:
    return [(i, f"row {i}") for i in range(count)]


class TestSpark(ClientBattery):
    CLIENT = "spark (S3A)"
    ORDER = 300
    SETUP = (
        "`local[2]`; `spark.hadoop.fs.s3a.endpoint`, `.path.style.access=true`, "
        "`.connection.ssl.enabled=false`, `.endpoint.region`, static keys; magic committer: "
        "`fs.s3a.committer.name=magic` with spark-hadoop-cloud's `PathOutputCommitProtocol`"
    )
    UNSUPPORTED: ClassVar[dict[str, str]] = dict.fromkeys(
        (name.removeprefix("test_") for name in dir(ClientBattery) if name.startswith("test_")),
        TABLES_ONLY,
    )
    NOTES: ClassVar[dict[str, str]] = {
        "table_read": "`spark.read.csv('s3a://labresults/table.csv')` and a glob "
        "`s3a://labresults/dir/*/*.csv`",
        "table_write": "`df.write.parquet('s3a://out/...')` with the default "
        "FileOutputCommitter (task and job commits rename by copy + delete), the S3A magic "
        "committer (multipart uploads completed at job commit), then `mode('overwrite')`",
        "parquet_dataset": "`df.write.partitionBy('p').parquet(...)`, read back with "
        "`.where('p = 2')` (partition pruning)",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        try:
            pyspark = version("pyspark")
        except PackageNotFoundError:
            pyspark = "not installed"
        return {"pyspark": pyspark, "hadoop-aws": HADOOP_AWS.rsplit(":", 1)[1]}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any, jvm_trust: str) -> Iterator[SparkAdapter]:
        spark = spark_session(served.endpoint_url, jvm_trust)
        try:
            yield SparkAdapter(spark)
        finally:
            spark.stop()

    def test_table_read(self, adapter: SparkAdapter) -> None:
        read = adapter.spark.read
        # An explicit schema: Spark 4's inference reads the sample ids ("T1") as times.
        schema = "sample STRING, analyte STRING, value DOUBLE"
        table = read.csv(f"s3a://{INPUT}/table.csv", header=True, schema=schema)
        rows = [tuple(r) for r in table.orderBy("sample").collect()]
        assert rows == [("T1", "GLUCOSE", 5.4), ("T2", "HBA1C", 6.1), ("T3", "LIPIDS", 4.2)]
        globbed = read.csv(f"s3a://{INPUT}/dir/*/*.csv", header=True, schema="x INT, y INT")
        assert [tuple(r) for r in globbed.collect()] == [(1, 2)]
        expect_error(adapter, Missing, lambda: read.csv(f"s3a://{INPUT}/nope.csv").collect())

    def test_table_write(self, adapter: SparkAdapter, oracle: Oracle) -> None:
        spark = adapter.spark
        df = spark.range(3000).selectExpr("id AS n", "concat('row ', id) AS s").repartition(2)
        df.write.parquet(f"s3a://{OUT}/default")
        assert parquet_rows(oracle, "default/") == expected_rows(3000)
        assert oracle.exists(OUT, "default/_SUCCESS")
        assert not [k for k in oracle.keys(OUT) if "_temporary" in k]

        hadoop = spark.sparkContext._jsc.hadoopConfiguration()
        for name, value in MAGIC.items():
            spark.conf.set(name, value)
        hadoop.set("fs.s3a.committer.name", "magic")
        try:
            df.write.parquet(f"s3a://{OUT}/magic")
            # The magic committer's _SUCCESS is a JSON manifest naming its committer.
            assert json.loads(oracle.read(OUT, "magic/_SUCCESS"))["committer"] == "magic"
        finally:
            for name in MAGIC:
                spark.conf.unset(name)
            hadoop.unset("fs.s3a.committer.name")
        assert parquet_rows(oracle, "magic/") == expected_rows(3000)
        assert not [k for k in oracle.keys(OUT) if "__magic" in k]

        small = spark.range(10).selectExpr("id AS n", "concat('row ', id) AS s")
        small.write.mode("overwrite").parquet(f"s3a://{OUT}/default")
        assert parquet_rows(oracle, "default/") == expected_rows(10)
        assert spark.read.parquet(f"s3a://{OUT}/default").count() == 10

        before = oracle.files(INPUT)
        expect_error(adapter, Refused, lambda: df.write.parquet(f"s3a://{INPUT}/intruder"))
        assert oracle.files(INPUT) == before

    def test_parquet_dataset(self, adapter: SparkAdapter, oracle: Oracle) -> None:
        spark = adapter.spark
        df = spark.range(3000).selectExpr("id AS n", "concat('row ', id) AS s", "id % 3 AS p")
        df.write.partitionBy("p").parquet(f"s3a://{OUT}/ds")
        files = [k for k in oracle.keys(OUT, "ds/") if k.endswith(".parquet")]
        assert {k.split("/")[1] for k in files} == {"p=0", "p=1", "p=2"}
        assert parquet_rows(oracle, "ds/") == expected_rows(3000)
        back = spark.read.parquet(f"s3a://{OUT}/ds")
        assert back.count() == 3000
        only = back.where("p = 2").select("n").collect()
        assert sorted(r.n for r in only) == list(range(2, 3000, 3))


class TestSparkGlobal(TestSpark):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}


class TestSparkTls(TestSpark):
    TLS = True
    TLS_SETUP = (
        "`fs.s3a.connection.ssl.enabled=true`; the test CA in a PKCS12 trust store given to "
        "the driver JVM (`spark.driver.extraJavaOptions=-Djavax.net.ssl.trustStore=...`)"
    )
    NOTES: ClassVar[dict[str, str]] = {}
