"""Summarise lab results with PySpark over S3A: every CSV of the input bucket in, per-test
statistics out as Parquet partitioned by test.

Runs as the transform of pipeline.json, in a Pachyderm worker or under ``pachs3 run``. Like any
S3-only code it finds the sidecar gateway through ``$S3_ENDPOINT`` and the keys and region in
the usual AWS variables; everything S3A needs to talk to it is set below. Spark runs in
``local[2]``; hadoop-aws (of the Hadoop version pyspark ships) and its AWS SDK bundle come from
Maven Central through ``spark.jars.packages`` (cached in ~/.ivy2 after the first run).

``SPARK_COMMITTER``: ``magic`` (the S3A magic committer: multipart uploads completed at job
commit, nothing renamed) or ``file`` (Hadoop's default FileOutputCommitter: rename by copy).
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.5.0"
# spark-hadoop-cloud binds Spark's Parquet writes to the S3A committers; the newest release on
# Maven Central is 4.0.1. The other stores' connectors it depends on are not needed.
HADOOP_CLOUD = "org.apache.spark:spark-hadoop-cloud_2.13:4.0.1"
NOT_NEEDED = (
    "org.apache.hadoop:hadoop-cloud-storage,org.apache.hadoop:hadoop-azure,"
    "org.apache.hadoop:hadoop-azure-datalake,org.apache.hadoop:hadoop-openstack,"
    "org.apache.hadoop:hadoop-aliyun,com.google.cloud.bigdataoss:gcs-connector"
)
SCHEMA = "patient_id STRING, test STRING, value DOUBLE, unit STRING, collected_at STRING"


def session(committer: str) -> SparkSession:
    s3a = {
        "endpoint": os.environ["S3_ENDPOINT"],
        "endpoint.region": os.environ.get("AWS_REGION", "us-east-1"),
        "path.style.access": "true",
        "connection.ssl.enabled": str(os.environ["S3_ENDPOINT"].startswith("https")).lower(),
        "access.key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret.key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("lab_summary_spark")
        .config("spark.jars.packages", f"{HADOOP_AWS},{HADOOP_CLOUD}")
        .config("spark.jars.excludes", NOT_NEEDED)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
    )
    for name, value in s3a.items():
        builder = builder.config(f"spark.hadoop.fs.s3a.{name}", value)
    if committer == "magic":
        cloud = "org.apache.spark.internal.io.cloud"
        builder = (
            builder.config("spark.hadoop.fs.s3a.committer.name", "magic")
            .config("spark.sql.sources.commitProtocolClass", f"{cloud}.PathOutputCommitProtocol")
            .config(
                "spark.sql.parquet.output.committer.class",
                f"{cloud}.BindingParquetOutputCommitter",
            )
        )
    return builder.getOrCreate()


def main() -> int:
    committer = os.environ.get("SPARK_COMMITTER", "magic")
    if committer not in ("magic", "file"):
        print(f"SPARK_COMMITTER must be magic or file, not {committer!r}", file=sys.stderr)
        return 2
    spark = session(committer)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        rows = (
            spark.read.option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.csv")
            .csv("s3a://labresults/", header=True, schema=SCHEMA)
        )
        files = rows.select(F.input_file_name()).distinct().count()
        summary = rows.groupBy("test", "unit").agg(
            F.count("value").alias("count"),
            F.round(F.avg("value"), 3).alias("mean"),
            F.min("value").alias("min"),
            F.max("value").alias("max"),
        )
        print(f"read {files} CSV files from s3a://labresults, {summary.count()} tests")
        summary.coalesce(1).write.partitionBy("test").parquet("s3a://out/summary")
        print(f"wrote s3a://out/summary (partitioned by test, {committer} committer)")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
