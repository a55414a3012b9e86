"""Flag out-of-range lab values, one datum at a time.

The pipeline crosses two inputs: ``reference-ranges`` is an S3 input (the whole commit, read
through the gateway every time) and ``samples`` is a plain PFS input with glob ``/*``, so this
runs once per sample file, which Pachyderm (and ``pachs3 run``) lays out under ``/pfs/samples``
and names in ``$samples``. Results go to the ``out`` bucket as ``flags/<sample file>``.

Needs boto3 only.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path

import boto3

RANGES_BUCKET = "reference-ranges"


def main() -> int:
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
    body = s3.get_object(Bucket=RANGES_BUCKET, Key="ranges.csv")["Body"].read().decode("utf-8")
    ranges = {
        row["test"]: (float(row["low"]), float(row["high"]))
        for row in csv.DictReader(io.StringIO(body))
    }

    # Pachyderm names each input's datum path after the input: $samples, lower case as named.
    datum = Path(os.environ["samples"])  # noqa: SIM112
    sample_files = sorted(p for p in datum.rglob("*.csv")) if datum.is_dir() else [datum]
    for sample in sample_files:
        flagged = io.StringIO()
        writer = csv.writer(flagged)
        writer.writerow(["patient_id", "test", "value", "unit", "flag"])
        count = 0
        with sample.open(newline="") as fh:
            for row in csv.DictReader(fh):
                low, high = ranges.get(row["test"], (float("-inf"), float("inf")))
                value = float(row["value"])
                if not low <= value <= high:
                    flag = "LOW" if value < low else "HIGH"
                    writer.writerow(
                        [row["patient_id"], row["test"], row["value"], row["unit"], flag]
                    )
                    count += 1
        key = f"flags/{sample.name}"
        s3.put_object(Bucket="out", Key=key, Body=flagged.getvalue().encode())
        datum_id = os.environ.get("PACH_DATUM_ID", "?")[:12]
        print(f"datum {datum_id}: {sample.name}: {count} flagged -> s3://out/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
