"""The pytest plugin's fixtures, used the way a user's test uses them (found by name through the
``pytest11`` entry point: nothing here imports them).

The code under test builds its own clients (``boto3.client("s3")``, a child process, the aws
CLI), as pipeline code does; every job runs on a real LocalStore, served on 127.0.0.1 or
in-process through boto3's default session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from pachs3 import CommitRef, LocalStore, read_commit
from pachs3.testing import CLEARED_VARIABLES, IN_PROCESS_ENDPOINT
from pachs3.testing.plugin import JobFactory

LABRESULTS = {"a.csv": b"test,value\nhb,13\n", "sub/b.csv": b"test,value\nhb,12\nrbc,4\n"}


def count_rows() -> None:
    """Code under test: finds S3 on its own, reads every input object, writes one summary."""
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="labresults")["Contents"]]
    rows = sum(
        len(s3.get_object(Bucket="labresults", Key=key)["Body"].read().splitlines()) - 1
        for key in keys
    )
    s3.put_object(Bucket="out", Key="rows.txt", Body=f"{len(keys)} files, {rows} rows".encode())


def test_code_that_builds_its_own_client_reaches_the_served_gateway(
    pachs3_job: JobFactory,
) -> None:
    with pachs3_job(inputs={"labresults": LABRESULTS}, output="rows") as job:
        assert job.endpoint_url.startswith("http://127.0.0.1:")
        assert os.environ["AWS_ENDPOINT_URL_S3"] == job.endpoint_url
        assert os.environ["AWS_ENDPOINT_URL"] == job.endpoint_url
        assert os.environ["S3_ENDPOINT"] == job.endpoint_url
        count_rows()
        own_session = boto3.session.Session().client("s3")  # not the default session: env only
        assert [b["Name"] for b in own_session.list_buckets()["Buckets"]] == ["labresults", "out"]
        # The job's own client sees the same buckets (read-your-writes on out).
        assert job.s3.get_object(Bucket="out", Key="rows.txt")["Body"].read() == b"2 files, 3 rows"
    assert job.files == {"rows.txt": b"2 files, 3 rows"}
    assert job.commit.finished is not None
    assert job.commit.error is None
    assert job.commit.provenance == (job.inputs["labresults"],)


def test_inputs_are_the_given_bytes_and_read_only(pachs3_job: JobFactory) -> None:
    notes = {"n.txt": "text", "empty": b""}  # str is stored as UTF-8
    with pachs3_job(inputs={"labresults": LABRESULTS, "notes": notes}) as job:
        s3 = boto3.client("s3")
        assert s3.get_object(Bucket="notes", Key="n.txt")["Body"].read() == b"text"
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket="labresults", Key="a.csv", Body=b"changed")
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert read_commit(job.backend, job.inputs["labresults"]) == LABRESULTS
    assert read_commit(job.backend, job.inputs["notes"]) == {"empty": b"", "n.txt": b"text"}
    assert job.files == {}


def test_child_processes_and_the_aws_cli_reach_it_too(pachs3_job: JobFactory) -> None:
    child = "import boto3; boto3.client('s3').put_object(Bucket='out', Key='child', Body=b'c')"
    with pachs3_job(inputs={"labresults": LABRESULTS}) as job:
        subprocess.run([sys.executable, "-c", child], check=True, timeout=120)
        aws = Path(sys.executable).with_name("aws")
        listing = subprocess.run(
            [str(aws), "s3", "ls", "s3://labresults/sub/"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "b.csv" in listing.stdout
    assert job.files == {"child": b"c"}


def test_s3fs_and_pandas_find_it_through_the_environment(pachs3_job: JobFactory) -> None:
    import pandas
    import s3fs

    with pachs3_job(inputs={"labresults": LABRESULTS}) as job:
        assert s3fs.S3FileSystem().cat("labresults/sub/b.csv") == LABRESULTS["sub/b.csv"]
        frame = pandas.read_csv("s3://labresults/sub/b.csv")
        frame.to_csv("s3://out/b.csv", index=False)
    assert list(frame["test"]) == ["hb", "rbc"]
    assert job.files == {"b.csv": LABRESULTS["sub/b.csv"]}
    # s3fs caches its filesystems with the endpoint they were made with; the next job (another
    # port) is reached all the same, because a job drops that cache at both ends.
    with pachs3_job(inputs={"labresults": {"c.csv": b"test\nx\n"}}) as second:
        assert list(pandas.read_csv("s3://labresults/c.csv")["test"]) == ["x"]
    assert second.endpoint_url != job.endpoint_url


def test_pyarrow_is_given_the_endpoint(pachs3_job: JobFactory) -> None:
    """pyarrow's S3 filesystem ignores AWS_ENDPOINT_URL*: docs/testing.md says to pass it."""
    from pyarrow import fs

    with pachs3_job(inputs={"labresults": LABRESULTS}) as job:
        arrow = fs.S3FileSystem(endpoint_override=job.endpoint_url)
        with arrow.open_input_stream("labresults/a.csv") as stream:
            assert stream.read() == LABRESULTS["a.csv"]
        with arrow.open_output_stream("out/copy.csv") as stream:
            stream.write(LABRESULTS["a.csv"])
    assert job.files == {"copy.csv": LABRESULTS["a.csv"]}


def test_in_process_serves_clients_of_the_default_session_without_a_socket(
    pachs3_job: JobFactory,
) -> None:
    before = boto3.DEFAULT_SESSION
    with pachs3_job(inputs={"labresults": LABRESULTS}, in_process=True) as job:
        assert job.endpoint_url == os.environ["AWS_ENDPOINT_URL_S3"] == IN_PROCESS_ENDPOINT
        assert job.gateway is not None
        count_rows()
        boto3.resource("s3").Object("out", "resource.txt").put(Body=b"r")
    assert job.files == {"resource.txt": b"r", "rows.txt": b"2 files, 3 rows"}
    # The default session made for the job (with the hook) is gone with it.
    assert boto3.DEFAULT_SESSION is before


def test_the_environment_is_restored_and_profiles_are_kept_out(
    pachs3_job: JobFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "a-profile-this-machine-does-not-have")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "the-developers-key")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    before = dict(os.environ)
    with pachs3_job(inputs={"labresults": LABRESULTS}) as job:
        for name in CLEARED_VARIABLES:
            assert name not in os.environ
        assert os.environ["AWS_ACCESS_KEY_ID"] == "default"
        assert os.environ["AWS_CONFIG_FILE"] == os.devnull
        assert os.environ["PACH_OUTPUT_COMMIT_ID"] == job.commit.id
        assert os.environ["labresults_COMMIT"] == job.inputs["labresults"].id  # noqa: SIM112 (Pachyderm names it so)
        count_rows()  # a named, missing profile would make boto3 raise ProfileNotFound
    assert dict(os.environ) == before


def test_inputs_from_a_directory_and_from_another_jobs_output(
    pachs3_job: JobFactory, tmp_path: Path
) -> None:
    (tmp_path / "lab" / "sub").mkdir(parents=True)
    for key, data in LABRESULTS.items():
        (tmp_path / "lab" / key).write_bytes(data)
    with pachs3_job(inputs={"labresults": tmp_path / "lab"}, output="rows") as first:
        count_rows()
    assert read_commit(first.backend, first.inputs["labresults"]) == LABRESULTS
    # The second job reads the first one's output commit, by commit and by repo@branch.
    inputs = {"rows": first.commit, "again": "rows@master"}
    with pachs3_job(inputs=inputs, output="copy") as second:
        s3 = boto3.client("s3")
        s3.copy_object(Bucket="out", Key="copied.txt", CopySource="rows/rows.txt")
    assert second.files == {"copied.txt": b"2 files, 3 rows"}
    assert set(second.commit.provenance) == {first.commit.ref}


def test_a_failing_block_fails_the_output_commit(pachs3_job: JobFactory) -> None:
    job = pachs3_job(inputs={"labresults": LABRESULTS}, output="rows")
    with pytest.raises(ZeroDivisionError), job:
        count_rows_then_crash()
    assert job.commit.error == "ZeroDivisionError: division by zero"
    assert job.files == {"rows.txt": b"2 files, 3 rows"}  # kept for inspection, as in PFS
    with pachs3_job(inputs={"labresults": LABRESULTS}, output="rows") as marked:
        marked.fail("the checker said no")
    assert marked.commit.error == "the checker said no"


def count_rows_then_crash() -> None:
    count_rows()
    print(1 / 0)


def test_misuse_is_explained(pachs3_job: JobFactory, pachs3_store: LocalStore) -> None:
    job = pachs3_job(inputs={"labresults": LABRESULTS})
    with pytest.raises(RuntimeError, match="with"):
        _ = job.commit
    with job, pytest.raises(RuntimeError, match="after the with block"):
        _ = job.files
    with pytest.raises(RuntimeError, match="runs once"), job:
        pass
    # A bad input is refused before anything is committed.
    bad = {"good": {"a": b"1"}, "bad": {"b": 2}}
    with pytest.raises(TypeError, match="input 'bad', file 'b': expected bytes or str, got int"):
        pachs3_job(inputs=bad).__enter__()  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="is not a directory"):
        pachs3_job(inputs={"good": {"a": b"1"}, "lab": Path("/nonexistent")}).__enter__()
    assert "good" not in {repo.name for repo in pachs3_store.list_repos()}


def test_an_input_pinned_to_a_commit_id(pachs3_job: JobFactory, pachs3_store: LocalStore) -> None:
    with pachs3_job(inputs={"labresults": {"v": b"1"}}) as first:
        pass
    with pachs3_job(inputs={"labresults": {"v": b"2"}}):
        pass
    pinned = first.inputs["labresults"]
    assert isinstance(pinned, CommitRef)
    with pachs3_job(inputs={"old": f"labresults@{pinned.id}"}) as job:
        assert boto3.client("s3").get_object(Bucket="old", Key="v")["Body"].read() == b"1"
    assert job.inputs["old"] == pinned
