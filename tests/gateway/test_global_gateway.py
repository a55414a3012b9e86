"""The global gateway (`pachs3.GlobalGateway`) with boto3, on every transport and backend.

Bucket names as Pachyderm's global gateway names them, ListBuckets, CreateBucket and
DeleteBucket, one commit per write (checked in the store: count, description, files), writers of
one branch in threads, read-only buckets (pinned commits, branches with provenance), and names
that must be refused. Every refused request is followed by a check that nothing changed.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pachs3 import CommitRef, GlobalGateway, LocalStore, read_commit
from pachs3.backends.base import Backend, BranchRemover, commit

MiB = 1024 * 1024


def boto_config() -> Config:
    return Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )


def http_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="default",
        aws_secret_access_key="default",
        region_name="us-east-1",
        config=boto_config(),
    )


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def commits(store: Backend, repo: str, branch: str = "master") -> list[str]:
    """The descriptions of the branch's commits, oldest first."""
    return [c.description for c in reversed(store.list_commits(repo, branch=branch))]


def files(store: Backend, repo: str, branch: str = "master") -> dict[str, bytes]:
    return read_commit(store, CommitRef(repo=repo, id=branch))


@pytest.fixture
def store(backend: Backend) -> Backend:
    """Each backend of the gateway suites (conftest.py: BACKENDS): LocalStore and, over the
    PFS double, PachydermBackend."""
    return backend


@pytest.fixture
def global_gateway(store: Backend) -> Iterator[GlobalGateway]:
    with GlobalGateway(store) as gateway:
        yield gateway


@pytest.fixture
def s3(global_gateway: GlobalGateway, transport: str) -> Iterator[Any]:
    """A boto3 client through one transport; ``backend_name`` and ``transport`` come in the
    combinations conftest.py's BACKENDS names (the PFS double through inproc and threaded)."""
    if transport == "inproc":
        yield global_gateway.client(config=boto_config())
    elif transport == "threaded":
        yield http_client(global_gateway.serve().endpoint_url)
    else:
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from pachs3.transports.threaded import ThreadedServer

        host_app = Starlette(routes=[Mount("/", app=global_gateway.asgi())])
        with ThreadedServer(host_app) as server:
            yield http_client(server.endpoint_url)


def test_create_put_list_get_under_every_spelling_of_the_name(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    s3.put_object(Bucket="images", Key="a/b.txt", Body=b"hello")
    for name in ("images", "master.images", "master.images.default"):
        body = s3.get_object(Bucket=name, Key="a/b.txt")["Body"].read()
        assert body == b"hello"
        listed = s3.list_objects_v2(Bucket=name)
        assert [o["Key"] for o in listed["Contents"]] == ["a/b.txt"]
    assert files(store, "images", "master") == {"a/b.txt": b"hello"}


def test_list_buckets_names_every_branch_in_three_parts(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    s3.create_bucket(Bucket="dev.images")
    s3.create_bucket(Bucket="labels")
    store.create_repo("made-elsewhere")
    store.create_branch("made-elsewhere", "main")
    buckets = s3.list_buckets()["Buckets"]
    names = [b["Name"] for b in buckets]
    assert names == [
        "dev.images.default",
        "main.made-elsewhere.default",
        "master.images.default",
        "master.labels.default",
    ]
    created = {b["Name"]: b["CreationDate"] for b in buckets}
    # No commit was ever started on it: the repo's creation, as Pachyderm lists every branch.
    repo_created = store.inspect_repo("made-elsewhere").created.replace(microsecond=0)
    assert created["main.made-elsewhere.default"].replace(microsecond=0) == repo_created


def test_list_buckets_dates_each_branch_by_its_first_commit(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    time.sleep(1.1)  # CreationDate has whole seconds
    s3.create_bucket(Bucket="dev.images")
    s3.put_object(Bucket="images", Key="later", Body=b"x")  # a later commit changes nothing
    created = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}
    firsts = {c.branch: c.started for c in store.list_commits("images")}  # oldest wins
    for branch in ("master", "dev"):
        expected = firsts[branch].replace(microsecond=0)
        assert created[f"{branch}.images.default"].replace(microsecond=0) == expected
    assert created["dev.images.default"] > created["master.images.default"]


def test_create_bucket_makes_repo_and_branch_and_refuses_an_existing_one(
    s3: Any, store: Backend
) -> None:
    s3.create_bucket(Bucket="dev.images")
    assert [b.name for b in store.list_branches("images")] == ["dev"]
    assert commits(store, "images", "dev") == ["CreateBucket dev.images (pachs3 global gateway)"]
    s3.create_bucket(Bucket="images.default")  # two parts: branch images of repo default
    assert [b.name for b in store.list_branches("default")] == ["images"]
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="dev.images.default")
    assert error_code(exc) == "BucketAlreadyOwnedByYou"
    assert commits(store, "images", "dev") == ["CreateBucket dev.images (pachs3 global gateway)"]


def test_each_write_is_one_finished_commit_naming_the_operation(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    s3.put_object(Bucket="images", Key="a", Body=b"1")
    s3.copy_object(Bucket="images", Key="b", CopySource={"Bucket": "images", "Key": "a"})
    s3.delete_object(Bucket="images", Key="a")
    s3.put_object(Bucket="images", Key="c", Body=b"3")
    s3.delete_objects(Bucket="images", Delete={"Objects": [{"Key": "b"}, {"Key": "c"}]})
    assert commits(store, "images") == [
        "CreateBucket images (pachs3 global gateway)",
        "PutObject /images/a (pachs3 global gateway)",
        "CopyObject /images/b (pachs3 global gateway)",
        "DeleteObject /images/a (pachs3 global gateway)",
        "PutObject /images/c (pachs3 global gateway)",
        "DeleteObjects /images (pachs3 global gateway)",
    ]
    assert all(not c.is_open for c in store.list_commits("images"))
    assert files(store, "images", "master") == {}


def test_multipart_upload_is_one_commit_at_completion(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    data = bytes(range(256)) * (6 * MiB // 256 + 1)
    upload = s3.create_multipart_upload(Bucket="images", Key="big.bin")["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), 5 * MiB), start=1):
        part = s3.upload_part(
            Bucket="images",
            Key="big.bin",
            UploadId=upload,
            PartNumber=number,
            Body=data[start : start + 5 * MiB],
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
        s3.put_object(Bucket="images", Key=f"meanwhile-{number}", Body=b"x")  # moves the head
    assert len(commits(store, "images")) == 3  # create + the two puts: parts are staged
    s3.complete_multipart_upload(
        Bucket="images", Key="big.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert (
        commits(store, "images")[-1]
        == "CompleteMultipartUpload /images/big.bin (pachs3 global gateway)"
    )
    got = s3.get_object(Bucket="images", Key="big.bin")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(data).digest()
    assert s3.list_buckets()["Buckets"] == [
        {
            "Name": "master.images.default",
            "CreationDate": s3.list_buckets()["Buckets"][0]["CreationDate"],
        }
    ]  # the staging repo is never a bucket


def test_a_failed_write_leaves_no_commit(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    before = commits(store, "images")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="images", Key="a", Body=b"data", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert error_code(exc) == "BadDigest"
    assert commits(store, "images") == before
    assert all(not c.is_open for c in store.list_commits("images"))
    assert files(store, "images", "master") == {}


def test_concurrent_writers_of_one_branch_lose_no_write(
    global_gateway: GlobalGateway, store: Backend
) -> None:
    url = global_gateway.serve().endpoint_url
    http_client(url).create_bucket(Bucket="images")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        client = http_client(url)
        try:
            for i in range(6):
                client.put_object(Bucket="images", Key=f"w{n}/{i}", Body=f"{n}-{i}".encode())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = files(store, "images", "master")
    assert found == {f"w{n}/{i}": f"{n}-{i}".encode() for n in range(6) for i in range(6)}
    assert len(commits(store, "images")) == 1 + 36


def test_commit_pinned_bucket_reads_that_commit_and_refuses_writes(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    s3.put_object(Bucket="images", Key="a", Body=b"old")
    old = store.inspect_commit("images", "master").id
    s3.put_object(Bucket="images", Key="a", Body=b"new")
    for name in (f"{old}.images", f"{old}.master.images", f"{old}.master.images.default"):
        assert s3.get_object(Bucket=name, Key="a")["Body"].read() == b"old"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=f"{old}.images", Key="a", Body=b"x")
    assert error_code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=f"{old}.images")
    assert error_code(exc) == "AccessDenied"
    assert s3.get_object(Bucket="images", Key="a")["Body"].read() == b"new"
    missing = "0" * 12 + "4" + "0" * 19
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=f"{missing}.images", Key="a")
    assert error_code(exc) == "NoSuchBucket"


def test_branch_with_provenance_is_read_only(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="raw")
    s3.put_object(Bucket="raw", Key="in", Body=b"input")
    raw = store.inspect_commit("raw", "master")
    store.create_repo("pipeline")
    with commit(store, "pipeline", "master", provenance=[raw.ref]) as out:
        store.put_file(out.ref, "result", [b"output"])
    assert s3.get_object(Bucket="pipeline", Key="result")["Body"].read() == b"output"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="pipeline", Key="result", Body=b"overwritten")
    assert error_code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket="pipeline", Delete={"Objects": [{"Key": "result"}]})
    assert error_code(exc) == "AccessDenied"
    assert files(store, "pipeline", "master") == {"result": b"output"}


def test_delete_bucket_deletes_an_empty_branch_then_the_repo_with_its_last(
    s3: Any, store: Backend
) -> None:
    s3.create_bucket(Bucket="images")
    s3.create_bucket(Bucket="dev.images")
    s3.put_object(Bucket="images", Key="a", Body=b"1")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="images")
    assert error_code(exc) == "BucketNotEmpty"
    assert files(store, "images", "master") == {"a": b"1"}
    s3.delete_object(Bucket="images", Key="a")
    s3.delete_bucket(Bucket="master.images.default")
    assert [b.name for b in store.list_branches("images")] == ["dev"]
    s3.delete_bucket(Bucket="dev.images")
    assert [r.name for r in store.list_repos() if r.name == "images"] == []
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="dev.images")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="images")
    assert error_code(exc) == "NoSuchBucket"


def test_unknown_buckets_and_projects_are_no_such_bucket(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    for name in ("nothing", "dev.images", "master.images.other", "_pachs3_multipart"):
        with pytest.raises(ClientError) as exc:
            s3.list_objects_v2(Bucket=name)
        assert error_code(exc) == "NoSuchBucket", name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Images", "lowercase"),
        ("my_images", "lowercase"),
        ("192.168.1.1", "parts"),  # IP-shaped: four parts and no commit id
        ("10.0.0.1.images", "parts"),
        ("a.b.c.d.e", "parts"),
        ("ab", "3-63"),
        ("x" * 64, "3-63"),
        ("xn--images", "reserves"),
        ("-images", "3-63"),
        (("0" * 12 + "4" + "0" * 19) + ".images", "pinned"),
        ("master.images.other", "project"),
    ],
)
def test_create_bucket_refuses_what_aws_or_pfs_cannot_hold(
    s3: Any, store: Backend, name: str, why: str
) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_code(exc) == "InvalidBucketName"
    assert why in exc.value.response["Error"]["Message"]
    assert [r.name for r in store.list_repos() if not r.name.startswith("_")] == []


@pytest.mark.parametrize(
    "path",
    [
        "/..",
        "/%2e%2e",
        "/a..b",
        "/%2e",
        "/images.",
        "/" + "a" * 300,
        "/a%2Fb",
        "/im%00ages",
        "/ima%20ges",
        "/192.168.1.1",
    ],
)
def test_hostile_bucket_names_are_refused_and_change_nothing(
    global_gateway: GlobalGateway, store: Backend, path: str
) -> None:
    url = global_gateway.serve().endpoint_url
    http_client(url).create_bucket(Bucket="images")
    before = [(r.name, [b.name for b in store.list_branches(r.name)]) for r in store.list_repos()]
    host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port
    for method, suffix, body in (
        ("PUT", "", b""),
        ("PUT", "/key", b"data"),
        ("GET", "", b""),
        ("DELETE", "", b""),
    ):
        # http.client sends the path as written (httpx would resolve the dot segments).
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            connection.request(method, path + suffix, body=body)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        assert response.status == 400, (method, path, text)
        assert "<Code>InvalidBucketName</Code>" in text
    after = [(r.name, [b.name for b in store.list_branches(r.name)]) for r in store.list_repos()]
    assert after == before


def test_sidecar_and_global_gateways_share_one_store(tmp_path: Path) -> None:
    """A sidecar job's output commit shows up in the global gateway's bucket of its branch."""
    from pachs3 import SidecarGateway

    with LocalStore(tmp_path / "shared") as store, GlobalGateway(store) as global_gw:
        s3 = global_gw.client(config=boto_config())
        s3.create_bucket(Bucket="raw")
        s3.put_object(Bucket="raw", Key="in.csv", Body=b"1,2\n")
        with SidecarGateway(store, inputs={"raw": "raw@master"}, output="sums") as job:
            job.client(config=boto_config()).upload_fileobj(io.BytesIO(b"3\n"), "out", "sum.csv")
        assert s3.get_object(Bucket="sums", Key="sum.csv")["Body"].read() == b"3\n"
        with pytest.raises(ClientError) as exc:  # a job's output: provenance, read-only
            s3.put_object(Bucket="sums", Key="sum.csv", Body=b"tampered")
        assert error_code(exc) == "AccessDenied"


def test_deleting_the_branch_under_a_running_listing(s3: Any, store: Backend) -> None:
    s3.create_bucket(Bucket="images")
    for i in range(5):
        s3.put_object(Bucket="images", Key=f"k{i}", Body=b"x")
    first = s3.list_objects_v2(Bucket="images", MaxKeys=2)
    assert first["IsTruncated"]
    assert isinstance(store, BranchRemover)
    store.delete_branch("images", "master")  # as another client's DeleteBucket would
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(
            Bucket="images", MaxKeys=2, ContinuationToken=first["NextContinuationToken"]
        )
    assert error_code(exc) == "NoSuchBucket"


def test_deleting_the_branch_under_a_running_version_listing(s3: Any, store: Backend) -> None:
    """ListObjectVersions resumed with both markers after the branch went: NoSuchBucket, and
    nothing else of the repo changes (its commits stay with the repo's other branch)."""
    s3.create_bucket(Bucket="images")
    s3.create_bucket(Bucket="keep.images")
    for i in range(3):
        s3.put_object(Bucket="images", Key="k", Body=str(i).encode())
    first = s3.list_object_versions(Bucket="images", MaxKeys=2)
    assert first["IsTruncated"]
    commits = [c.id for c in store.list_commits("images")]
    assert isinstance(store, BranchRemover)
    store.delete_branch("images", "master")
    with pytest.raises(ClientError) as exc:
        s3.list_object_versions(
            Bucket="images",
            MaxKeys=2,
            KeyMarker=first["NextKeyMarker"],
            VersionIdMarker=first["NextVersionIdMarker"],
        )
    assert error_code(exc) == "NoSuchBucket"
    assert [c.id for c in store.list_commits("images")] == commits
    assert [b.name for b in store.list_branches("images")] == ["keep"]


def test_a_branch_without_a_commit_is_an_empty_bucket_until_its_first_write(
    s3: Any, store: Backend
) -> None:
    store.create_repo("raw")
    store.create_branch("raw", "master")  # headless, as `pachs3 serve --output` leaves one
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["master.raw.default"]
    s3.head_bucket(Bucket="raw")
    assert s3.list_objects_v2(Bucket="raw")["KeyCount"] == 0
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="raw", Key="a")
    assert error_code(exc) == "NoSuchKey"
    s3.put_object(Bucket="raw", Key="a", Body=b"1")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="raw")["Contents"]] == ["a"]
    assert commits(store, "raw") == ["PutObject /raw/a (pachs3 global gateway)"]
    s3.delete_object(Bucket="raw", Key="a")
    store.create_repo("raw2")
    store.create_branch("raw2", "master")
    assert s3.list_objects_v2(Bucket="raw2")["KeyCount"] == 0  # the same empty commit again
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [
        "master.raw.default",
        "master.raw2.default",
    ]
    assert store.list_branches("_pachs3_multipart") == []  # writes went to raw, not there


def test_strict_sigv4_refuses_before_any_bucket_is_made(tmp_path: Path) -> None:
    with (
        LocalStore(tmp_path / "strict") as store,
        GlobalGateway(store, credentials={"AKIDGLOBAL": "global-secret"}) as gateway,
    ):
        url = gateway.serve().endpoint_url
        wrong = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="AKIDGLOBAL",
            aws_secret_access_key="not-the-secret",
            region_name="us-east-1",
            config=boto_config(),
        )
        with pytest.raises(ClientError) as exc:
            wrong.create_bucket(Bucket="images")
        assert error_code(exc) == "SignatureDoesNotMatch"
        assert [r.name for r in store.list_repos()] == []
        right = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="AKIDGLOBAL",
            aws_secret_access_key="global-secret",
            region_name="us-east-1",
            config=boto_config(),
        )
        right.create_bucket(Bucket="images")
        right.put_object(Bucket="images", Key="a", Body=b"1")
        assert files(store, "images") == {"a": b"1"}
