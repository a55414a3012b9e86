"""The jars Spark needs for S3A, and a way to fetch them ahead of the suite.

    python tests/clients/spark_jars.py      # resolve them into Spark's ivy cache, then exit

Spark resolves ``spark.jars.packages`` from Maven Central into its ivy cache (``~/.ivy2.5.2``
for Spark 4) on the first session that asks: about 660 MB the first time. .ci/run's toolchain
stage runs this script so that download is timed as a stage of its own and cached on the
machine; the suite's sessions (test_client_spark.py) then resolve from the cache. Kept free
of pytest so that it runs before the suite's venv exists (with only pyspark installed).
"""

from __future__ import annotations

import sys
import time

HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.5.0"  # the hadoop-client-api jar pyspark 4.3 ships
# The newest spark-hadoop-cloud on Maven Central (there is none for 4.3): only its two
# committer-binding classes are used; the other stores' connectors are excluded.
HADOOP_CLOUD = "org.apache.spark:spark-hadoop-cloud_2.13:4.0.1"
EXCLUDED = (
    "org.apache.hadoop:hadoop-cloud-storage",
    "org.apache.hadoop:hadoop-azure",
    "org.apache.hadoop:hadoop-azure-datalake",
    "org.apache.hadoop:hadoop-openstack",
    "org.apache.hadoop:hadoop-aliyun",
    "com.google.cloud.bigdataoss:gcs-connector",
)
PACKAGES = f"{HADOOP_AWS},{HADOOP_CLOUD}"


def main() -> int:
    from pyspark.sql import SparkSession

    started = time.monotonic()
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("pachs3-spark-jars")
        .config("spark.jars.packages", PACKAGES)
        .config("spark.jars.excludes", ",".join(EXCLUDED))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    jars = spark.sparkContext.getConf().get("spark.jars", "")
    spark.stop()
    count = len([jar for jar in jars.split(",") if jar])
    print(f"spark jars: {count} resolved in {time.monotonic() - started:.0f}s")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
