"""Summarise lab results: read every CSV of the input bucket, write per-test statistics to out.

Runs as the transform of pipeline.json, in a Pachyderm worker or under ``pachs3 run``. It only
speaks S3: the endpoint comes from ``$S3_ENDPOINT``, the credentials and region from the usual
AWS variables the worker sets.

Needs boto3. Writes ``summary.parquet`` when pandas and pyarrow are installed (and
``OUTPUT_FORMAT`` is ``auto`` or ``parquet``), else ``summary.csv``: both are optional.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import sys
from collections import defaultdict

import boto3

INPUT_BUCKET = "labresults"


def main() -> int:
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    files = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=INPUT_BUCKET):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".csv"):
                continue
            files += 1
            body = s3.get_object(Bucket=INPUT_BUCKET, Key=item["Key"])["Body"].read()
            for row in csv.DictReader(io.StringIO(body.decode("utf-8"))):
                values[(row["test"], row["unit"])].append(float(row["value"]))
    print(f"read {files} CSV files from s3://{INPUT_BUCKET}, {len(values)} tests")

    rows = [
        {
            "test": test,
            "unit": unit,
            "count": len(vals),
            "mean": round(statistics.fmean(vals), 3),
            "min": min(vals),
            "max": max(vals),
        }
        for (test, unit), vals in sorted(values.items())
    ]
    key, data = encode(rows, os.environ.get("OUTPUT_FORMAT", "auto"))
    s3.put_object(Bucket="out", Key=key, Body=data)
    print(f"wrote s3://out/{key} ({len(data)} bytes)")
    return 0


def encode(rows: list[dict[str, object]], wanted: str) -> tuple[str, bytes]:
    """Parquet when asked (or "auto") and pandas+pyarrow are importable, else CSV."""
    if wanted in ("auto", "parquet"):
        try:
            import pandas as pd  # optional
            import pyarrow  # noqa: F401  (pandas needs it for Parquet)
        except ImportError:
            if wanted == "parquet":
                print("OUTPUT_FORMAT=parquet needs pandas and pyarrow", file=sys.stderr)
                raise
        else:
            buffer = io.BytesIO()
            pd.DataFrame(rows).to_parquet(buffer, index=False)
            return "summary.parquet", buffer.getvalue()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["test", "unit", "count", "mean", "min", "max"])
    writer.writeheader()
    writer.writerows(rows)
    return "summary.csv", text.getvalue().encode()


if __name__ == "__main__":
    sys.exit(main())
