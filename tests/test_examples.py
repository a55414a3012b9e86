"""The examples, run as a user would: ``pachs3 run`` in a subprocess, on a store in a temp dir.

Real LocalStore on disk, real HTTP on 127.0.0.1, real aws CLI and boto3 inside the transforms.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

import pachs3
from pachs3 import read_commit
from pachs3.backends.local import LocalStore
from pachs3.spec import load_spec
from pachs3.testing.plugin import JobFactory

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEED = EXAMPLES / "s3_protocol_enabled_pipeline"
LABRESULTS = SEED / "labresults"
PACKAGE_ROOT = Path(pachs3.__file__).resolve().parent.parent

# The seed example's own scratch directory: its transform copies the input bucket there.
SEED_SCRATCH = Path("/tmp/result")


def run_example(
    spec: Path, store: Path, *inputs: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    args = [sys.executable, "-m", "pachs3.cli", "run", str(spec), "--store", str(store)]
    for assignment in inputs:
        args += ["--input", assignment]
    return subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def local_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def seed_scratch() -> Iterator[None]:
    """The seed example writes to /tmp/result as given; start and end with it absent."""
    shutil.rmtree(SEED_SCRATCH, ignore_errors=True)
    try:
        yield
    finally:
        shutil.rmtree(SEED_SCRATCH, ignore_errors=True)


@pytest.mark.parametrize(
    "spec", sorted(EXAMPLES.glob("*/pipeline.json")), ids=lambda p: p.parent.name
)
def test_every_example_spec_is_valid(spec: Path) -> None:
    load_spec(spec.read_text(), source=str(spec))


@pytest.mark.usefixtures("seed_scratch")
def test_seed_example_copies_the_input_bucket_to_out(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = run_example(SEED / "pipeline.json", store, f"labresults={LABRESULTS}")
    assert result.returncode == 0, result.stdout + result.stderr
    # The transform's own output (aws s3 ls, set -x tracing) streamed through.
    assert "+ aws --endpoint-url http://127.0.0.1:" in result.stdout
    assert re.search(r"^\S+ \S+ labresults$", result.stdout, re.M)
    assert "status         success" in result.stdout

    expected = local_files(LABRESULTS)
    assert "2024/T1000000002_HBA1C.csv" in expected
    with LocalStore(store) as backend:
        (output,) = backend.list_commits("s3_protocol_enabled_pipeline")
        labresults = backend.inspect_commit("labresults", "master")
        assert read_commit(backend, output.ref) == expected  # byte-identical, nothing else
        assert read_commit(backend, labresults.ref) == expected
        assert output.finished is not None
        assert output.error is None
        assert output.provenance == (labresults.ref,)
        assert backend.inspect_branch("s3_protocol_enabled_pipeline", "master").head == output.id
    assert f"output commit  s3_protocol_enabled_pipeline@{output.id}" in result.stdout
    assert f"files written  {len(expected)}" in result.stdout
    assert f"bytes written  {sum(map(len, expected.values()))}" in result.stdout
    assert f"provenance     labresults@{labresults.id}" in result.stdout


def test_python_example_writes_a_summary(tmp_path: Path) -> None:
    store = tmp_path / "store"
    spec = EXAMPLES / "python_pipeline" / "pipeline.json"
    result = run_example(spec, store, f"labresults={LABRESULTS}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "read 3 CSV files from s3://labresults, 4 tests" in result.stdout

    with LocalStore(store) as backend:
        (output,) = backend.list_commits("lab_summary")
        files = read_commit(backend, output.ref)
        assert output.provenance == (backend.inspect_commit("labresults", "master").ref,)
    if "summary.parquet" in files:  # pandas and pyarrow are installed
        pd = importlib.import_module("pandas")  # optional; untyped
        table = pd.read_parquet(io.BytesIO(files["summary.parquet"]))
        rows = {str(r["test"]): float(r["mean"]) for r in table.to_dict("records")}
    else:
        assert list(files) == ["summary.csv"]
        reader = csv.DictReader(io.StringIO(files["summary.csv"].decode()))
        rows = {r["test"]: float(r["mean"]) for r in reader}
    assert rows == expected_means()


def test_python_example_transform_alone_under_a_pachs3_job(pachs3_job: JobFactory) -> None:
    """The transform as a unit, the way a moto user tests code: no spec, no ``pachs3 run``; the
    job serves the example's input directory and the transform finds it through $S3_ENDPOINT."""
    transform = EXAMPLES / "python_pipeline" / "summarize.py"
    with pachs3_job(inputs={"labresults": LABRESULTS}, output="lab_summary") as job:
        env = {**os.environ, "OUTPUT_FORMAT": "csv"}
        subprocess.run([sys.executable, str(transform)], env=env, check=True, timeout=120)
    assert list(job.files) == ["summary.csv"]
    rows = csv.DictReader(io.StringIO(job.files["summary.csv"].decode()))
    assert {row["test"]: float(row["mean"]) for row in rows} == expected_means()
    assert job.commit.provenance == (job.inputs["labresults"],)


def expected_means() -> dict[str, float]:
    """Per test, the mean of the seed's values, as the python example rounds it."""
    values: dict[str, list[float]] = defaultdict(list)
    for path in LABRESULTS.rglob("*.csv"):
        for row in csv.DictReader(io.StringIO(path.read_text())):
            values[row["test"]].append(float(row["value"]))
    return {test: round(statistics.fmean(v), 3) for test, v in values.items()}


def test_cross_example_runs_once_per_datum(tmp_path: Path) -> None:
    store = tmp_path / "store"
    example = EXAMPLES / "cross_pipeline"
    result = run_example(
        example / "pipeline.json",
        store,
        f"reference-ranges={example / 'reference_ranges'}",
        f"samples={example / 'samples'}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    samples = sorted(p.name for p in (example / "samples").iterdir())
    assert len(samples) == 3
    assert "3 datums" in result.stdout
    for index, name in enumerate(samples, 1):
        assert f"datum {index}/3 (samples:/{name})" in result.stdout
    datum_ids = re.findall(r"^datum (\w{12}): (\S+): (\d+) flagged", result.stdout, re.M)
    assert sorted(name for _, name, _ in datum_ids) == samples
    assert len({datum_id for datum_id, _, _ in datum_ids}) == 3

    with LocalStore(store) as backend:
        (output,) = backend.list_commits("flagged_results")
        files = read_commit(backend, output.ref)
        ranges = backend.inspect_commit("reference_ranges", "master")
        assert ranges.ref in output.provenance
    assert sorted(files) == [f"flags/{name}" for name in samples]
    flagged = list(csv.DictReader(io.StringIO(files["flags/batch-b.csv"].decode())))
    assert [(r["test"], r["flag"]) for r in flagged] == [("GLUCOSE", "HIGH"), ("HBA1C", "HIGH")]


@pytest.mark.slow
def test_spark_example_writes_partitioned_parquet(tmp_path: Path) -> None:
    """PySpark over S3A, magic committer: per-test Parquet partitions equal to the seed's means.

    Needs pyspark (the `test` extra), Java 17 and Maven Central (hadoop-aws, cached by Spark)."""
    pytest.importorskip("pyspark", reason="not run: pyspark is not installed")
    if shutil.which("java") is None:
        pytest.skip("not run: no java (Spark 4 needs a JDK 17+)")
    pq = pytest.importorskip("pyarrow.parquet")
    store = tmp_path / "store"
    spec = EXAMPLES / "spark_pipeline" / "pipeline.json"
    result = run_example(spec, store, f"labresults={LABRESULTS}", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "read 3 CSV files from s3a://labresults, 4 tests" in result.stdout
    assert "magic committer" in result.stdout

    with LocalStore(store) as backend:
        (output,) = backend.list_commits("lab_summary_spark")
        files = read_commit(backend, output.ref)
        assert output.provenance == (backend.inspect_commit("labresults", "master").ref,)
    assert not [k for k in files if "__magic" in k or "_temporary" in k]
    means = {}
    for key, data in files.items():
        if key.endswith(".parquet"):
            test = key.split("/")[1].removeprefix("test=")
            (mean,) = pq.read_table(io.BytesIO(data)).column("mean").to_pylist()
            means[test] = mean
    assert means == expected_means()
