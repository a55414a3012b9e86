"""Versions are commits, in both gateway modes, with boto3 on every transport and backend.

Every write answers ``x-amz-version-id`` (the commit it made, or a job's output commit); reads
take ``versionId`` and read as of that commit; CopyObject's source takes ``?versionId=``;
DeleteObject with a versionId is refused (history is immutable). A version id the bucket does
not answer is NoSuchVersion, one that cannot be a commit id is 400 InvalidArgument; every
refusal is followed by a check that nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pachs3 import GlobalGateway, SidecarGateway
from pachs3.backends.base import Backend, commit

OVERLONG = "a" * 2000


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


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


@contextmanager
def client_for(gateway: GlobalGateway | SidecarGateway, transport: str) -> Iterator[Any]:
    """A boto3 client reaching ``gateway`` through one transport (as conftest.py's ``s3``)."""
    if transport == "inproc":
        yield gateway.client(config=boto_config())
    elif transport == "threaded":
        yield http_client(gateway.serve().endpoint_url)
    else:
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from pachs3.transports.threaded import ThreadedServer

        host_app = Starlette(routes=[Mount("/", app=gateway.asgi())])
        with ThreadedServer(host_app) as server:
            yield http_client(server.endpoint_url)


@pytest.fixture
def gs3(backend: Backend, transport: str) -> Iterator[Any]:
    """A boto3 client of a global gateway over ``backend``."""
    with GlobalGateway(backend) as gateway, client_for(gateway, transport) as client:
        yield client


def head_id(store: Backend, repo: str, branch: str = "master") -> str:
    head = store.inspect_branch(repo, branch).head
    assert head is not None
    return head


# ---------------------------------------------------------------------------------------------
# Global gateway


def test_every_write_answers_the_commit_it_made(gs3: Any, backend: Backend) -> None:
    gs3.create_bucket(Bucket="images")
    first = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    assert first == head_id(backend, "images")
    second = gs3.put_object(Bucket="images", Key="a.txt", Body=b"two")["VersionId"]
    assert second == head_id(backend, "images") != first
    copied = gs3.copy_object(Bucket="images", Key="b.txt", CopySource="images/a.txt")
    assert copied["VersionId"] == head_id(backend, "images")
    deleted = gs3.delete_object(Bucket="images", Key="b.txt")
    assert deleted["VersionId"] == head_id(backend, "images")
    assert deleted["DeleteMarker"] is True
    upload = gs3.create_multipart_upload(Bucket="images", Key="c.bin")["UploadId"]
    etag = gs3.upload_part(Bucket="images", Key="c.bin", UploadId=upload, PartNumber=1, Body=b"x")[
        "ETag"
    ]
    done = gs3.complete_multipart_upload(
        Bucket="images",
        Key="c.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert done["VersionId"] == head_id(backend, "images")
    ids = [c.id for c in backend.list_commits("images", branch="master")]
    assert len(set(ids)) == len(ids) == 6  # CreateBucket, 2 puts, copy, delete, complete


def test_reads_as_of_a_version(gs3: Any) -> None:
    gs3.create_bucket(Bucket="images")
    first = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    second = gs3.put_object(Bucket="images", Key="a.txt", Body=b"two!")["VersionId"]
    gs3.delete_object(Bucket="images", Key="a.txt")
    old = gs3.get_object(Bucket="images", Key="a.txt", VersionId=first)
    assert old["Body"].read() == b"one"
    assert old["VersionId"] == first
    head = gs3.head_object(Bucket="images", Key="a.txt", VersionId=second)
    assert head["ContentLength"] == 4
    assert head["VersionId"] == second
    ranged = gs3.get_object(Bucket="images", Key="a.txt", VersionId=second, Range="bytes=1-2")
    assert ranged["Body"].read() == b"wo"
    with pytest.raises(ClientError) as current:
        gs3.get_object(Bucket="images", Key="a.txt")
    assert error_code(current) == "NoSuchKey"
    # The same versions through every spelling of the bucket.
    for name in ("master.images", "master.images.default"):
        body = gs3.get_object(Bucket=name, Key="a.txt", VersionId=first)["Body"].read()
        assert body == b"one"
    tagging = gs3.get_object_tagging(Bucket="images", Key="a.txt", VersionId=first)
    assert tagging["TagSet"] == []


def test_a_read_names_the_version_it_read(gs3: Any) -> None:
    gs3.create_bucket(Bucket="images")
    version = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    gs3.put_object(Bucket="images", Key="other", Body=b"x")  # the head moves on
    assert gs3.get_object(Bucket="images", Key="a.txt")["VersionId"] == version
    assert gs3.head_object(Bucket="images", Key="a.txt")["VersionId"] == version


def test_copy_from_a_version(gs3: Any) -> None:
    gs3.create_bucket(Bucket="images")
    first = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    gs3.put_object(Bucket="images", Key="a.txt", Body=b"two")
    copied = gs3.copy_object(
        Bucket="images",
        Key="restored.txt",
        CopySource={"Bucket": "images", "Key": "a.txt", "VersionId": first},
    )
    assert copied["CopySourceVersionId"] == first
    assert gs3.get_object(Bucket="images", Key="restored.txt")["Body"].read() == b"one"
    # Onto itself, from an old version: a restore (allowed, as AWS allows it).
    gs3.copy_object(
        Bucket="images",
        Key="a.txt",
        CopySource={"Bucket": "images", "Key": "a.txt", "VersionId": first},
    )
    assert gs3.get_object(Bucket="images", Key="a.txt")["Body"].read() == b"one"


@pytest.mark.parametrize(
    ("version_id", "code", "http_status"),
    [
        ("not-a-commit", "InvalidArgument", 400),
        ("0123456789ABCDEF0123456789ABCDEF", "InvalidArgument", 400),  # uppercase
        (OVERLONG, "InvalidArgument", 400),
        ("../../etc/passwd", "InvalidArgument", 400),
        ("master", "InvalidArgument", 400),  # a branch name is not a version
        ("null", "NoSuchVersion", 404),
        ("0" * 32, "NoSuchVersion", 404),  # well-formed, no such commit
    ],
)
def test_hostile_version_ids(
    gs3: Any, backend: Backend, version_id: str, code: str, http_status: int
) -> None:
    gs3.create_bucket(Bucket="images")
    gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")
    before = backend.list_commits("images")
    with pytest.raises(ClientError) as got:
        gs3.get_object(Bucket="images", Key="a.txt", VersionId=version_id)
    assert (error_code(got), status(got)) == (code, http_status)
    with pytest.raises(ClientError) as copied:
        gs3.copy_object(
            Bucket="images",
            Key="b.txt",
            CopySource={"Bucket": "images", "Key": "a.txt", "VersionId": version_id},
        )
    assert error_code(copied) == code
    with pytest.raises(ClientError) as headed:
        gs3.head_object(Bucket="images", Key="a.txt", VersionId=version_id)
    assert status(headed) == http_status
    assert backend.list_commits("images") == before


def test_versions_of_other_repos_and_branches_are_not_this_buckets(
    gs3: Any, backend: Backend
) -> None:
    gs3.create_bucket(Bucket="images")
    gs3.create_bucket(Bucket="labels")
    gs3.create_bucket(Bucket="dev.images")
    gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")
    other_repo = gs3.put_object(Bucket="labels", Key="a.txt", Body=b"label")["VersionId"]
    other_branch = gs3.put_object(Bucket="dev.images", Key="a.txt", Body=b"dev")["VersionId"]
    for version in (other_repo, other_branch):
        with pytest.raises(ClientError) as got:
            gs3.get_object(Bucket="images", Key="a.txt", VersionId=version)
        assert error_code(got) == "NoSuchVersion"
    # A version of the bucket that does not hold the key.
    created = gs3.put_object(Bucket="images", Key="later.txt", Body=b"l")["VersionId"]
    first = backend.list_commits("images", branch="master")[-1].id  # CreateBucket's
    with pytest.raises(ClientError) as missing:
        gs3.get_object(Bucket="images", Key="later.txt", VersionId=first)
    assert error_code(missing) == "NoSuchVersion"
    assert gs3.get_object(Bucket="images", Key="later.txt", VersionId=created)["Body"].read()


def test_a_committed_version_cannot_be_deleted(gs3: Any, backend: Backend) -> None:
    gs3.create_bucket(Bucket="images")
    old = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    gs3.put_object(Bucket="images", Key="a.txt", Body=b"two")
    before = backend.list_commits("images")
    with pytest.raises(ClientError) as refused:
        gs3.delete_object(Bucket="images", Key="a.txt", VersionId=old)
    assert (error_code(refused), status(refused)) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as malformed:
        gs3.delete_object(Bucket="images", Key="a.txt", VersionId="zz")
    assert error_code(malformed) == "InvalidArgument"
    assert backend.list_commits("images") == before
    answer = gs3.delete_objects(
        Bucket="images",
        Delete={"Objects": [{"Key": "a.txt", "VersionId": old}, {"Key": "b", "VersionId": "x"}]},
    )
    assert sorted(e["Code"] for e in answer["Errors"]) == ["AccessDenied", "InvalidArgument"]
    assert gs3.get_object(Bucket="images", Key="a.txt")["Body"].read() == b"two"
    assert gs3.get_object(Bucket="images", Key="a.txt", VersionId=old)["Body"].read() == b"one"


def test_deleting_the_current_version_deletes_the_key(gs3: Any, backend: Backend) -> None:
    """rclone (and other sync tools) delete by version id on a versioned bucket: the current
    version of a key may be deleted, as a new commit; the version stays in history."""
    gs3.create_bucket(Bucket="images")
    old = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    current = gs3.put_object(Bucket="images", Key="a.txt", Body=b"two")["VersionId"]
    gs3.put_object(Bucket="images", Key="b.txt", Body=b"b")  # the head moves on
    b_current = gs3.head_object(Bucket="images", Key="b.txt")["VersionId"]
    gs3.delete_object(Bucket="images", Key="a.txt", VersionId=current)
    with pytest.raises(ClientError) as gone:
        gs3.head_object(Bucket="images", Key="a.txt")
    assert status(gone) == 404
    assert gs3.get_object(Bucket="images", Key="a.txt", VersionId=current)["Body"].read() == b"two"
    answer = gs3.delete_objects(
        Bucket="images", Delete={"Objects": [{"Key": "b.txt", "VersionId": b_current}]}
    )
    assert [d["Key"] for d in answer["Deleted"]] == ["b.txt"]
    assert "Errors" not in answer
    assert backend.list_commits("images")[0].finished is not None
    assert gs3.get_object(Bucket="images", Key="a.txt", VersionId=old)["Body"].read() == b"one"


# ---------------------------------------------------------------------------------------------
# Sidecar


@pytest.fixture
def history(backend: Backend) -> tuple[str, str, str]:
    """``labresults@master``: three commits (``a.txt`` one, two, three); returns their ids."""
    backend.create_repo("labresults")
    ids = []
    for text in (b"one", b"two", b"three"):
        with commit(backend, "labresults", "master") as info:
            backend.put_file(info.ref, "a.txt", [text])
        ids.append(info.id)
    return ids[0], ids[1], ids[2]


def test_sidecar_input_answers_the_pinned_commits_ancestry(
    backend: Backend, history: tuple[str, str, str], transport: str
) -> None:
    first, second, third = history
    pinned = f"labresults@{second}"
    with (
        SidecarGateway(backend, inputs={"in": pinned}, output="pipeline") as gateway,
        client_for(gateway, transport) as s3,
    ):
        assert s3.get_object(Bucket="in", Key="a.txt")["VersionId"] == second
        old = s3.get_object(Bucket="in", Key="a.txt", VersionId=first)
        assert old["Body"].read() == b"one"
        # Newer than the pin: not in its ancestry.
        with pytest.raises(ClientError) as newer:
            s3.get_object(Bucket="in", Key="a.txt", VersionId=third)
        assert error_code(newer) == "NoSuchVersion"
        with pytest.raises(ClientError) as refused:
            s3.delete_object(Bucket="in", Key="a.txt", VersionId=first)
        assert error_code(refused) == "AccessDenied"


def test_sidecar_out_answers_its_own_commit_only(
    backend: Backend, history: tuple[str, str, str], transport: str
) -> None:
    first, _second, _third = history
    with (
        SidecarGateway(backend, inputs={"in": "labresults@master"}, output="pipeline") as gateway,
        client_for(gateway, transport) as s3,
    ):
        job = gateway.job
        assert job is not None
        assert job.output is not None
        out_commit = job.output.id
        written = s3.put_object(Bucket="out", Key="r.txt", Body=b"result")
        assert written["VersionId"] == out_commit
        copied = s3.copy_object(
            Bucket="out",
            Key="copy.txt",
            CopySource={"Bucket": "in", "Key": "a.txt", "VersionId": first},
        )
        assert copied["VersionId"] == out_commit
        assert s3.get_object(Bucket="out", Key="copy.txt")["Body"].read() == b"one"
        read = s3.get_object(Bucket="out", Key="r.txt", VersionId=out_commit)
        assert read["Body"].read() == b"result"
        with pytest.raises(ClientError) as other:
            s3.get_object(Bucket="out", Key="r.txt", VersionId=first)
        assert error_code(other) == "NoSuchVersion"
        # The open commit is not history yet: deleting its version deletes the file.
        deleted = s3.delete_object(Bucket="out", Key="copy.txt", VersionId=out_commit)
        assert deleted["VersionId"] == out_commit
        with pytest.raises(ClientError) as gone:
            s3.head_object(Bucket="out", Key="copy.txt")
        assert status(gone) == 404


# ---------------------------------------------------------------------------------------------
# ListObjectVersions, GetBucketVersioning, PutBucketVersioning


def test_list_object_versions_shows_one_version_per_commit(gs3: Any) -> None:
    gs3.create_bucket(Bucket="images")
    a1 = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    b1 = gs3.put_object(Bucket="images", Key="dir/b.txt", Body=b"b")["VersionId"]
    a2 = gs3.put_object(Bucket="images", Key="a.txt", Body=b"two")["VersionId"]
    gone = gs3.delete_object(Bucket="images", Key="dir/b.txt")["VersionId"]
    listed = gs3.list_object_versions(Bucket="images")
    assert listed["IsTruncated"] is False
    versions = [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in listed["Versions"]]
    assert versions == [
        ("a.txt", a2, True, 3),
        ("a.txt", a1, False, 3),
        ("dir/b.txt", b1, False, 1),
    ]
    markers = [(d["Key"], d["VersionId"], d["IsLatest"]) for d in listed["DeleteMarkers"]]
    assert markers == [("dir/b.txt", gone, True)]
    # Every listed version reads back.
    for key, version_id, _latest, _size in versions:
        assert gs3.get_object(Bucket="images", Key=key, VersionId=version_id)["Body"].read()
    folded = gs3.list_object_versions(Bucket="images", Delimiter="/")
    assert [p["Prefix"] for p in folded["CommonPrefixes"]] == ["dir/"]
    assert [v["Key"] for v in folded["Versions"]] == ["a.txt", "a.txt"]
    under = gs3.list_object_versions(Bucket="images", Prefix="dir/")
    assert [d["VersionId"] for d in under["DeleteMarkers"]] == [gone]


def test_list_object_versions_pages_resume_exactly(gs3: Any) -> None:
    gs3.create_bucket(Bucket="images")
    for round_ in range(3):
        for key in ("a", "b", "c"):
            gs3.put_object(Bucket="images", Key=key, Body=f"{key}{round_}".encode())
    gs3.delete_object(Bucket="images", Key="b")
    whole = gs3.list_object_versions(Bucket="images")
    expected = [
        (v["Key"], v["VersionId"])
        for v in sorted(
            [*whole["Versions"], *whole.get("DeleteMarkers", [])],
            key=lambda v: (v["Key"], -v["LastModified"].timestamp()),
        )
    ]
    assert len(expected) == 10
    for page_size in (1, 2, 3, 4):
        seen: list[tuple[str, str]] = []
        markers: dict[str, str] = {}
        while True:
            page = gs3.list_object_versions(Bucket="images", MaxKeys=page_size, **markers)
            lines = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            assert len(lines) <= page_size
            seen += [
                (v["Key"], v["VersionId"])
                for v in sorted(lines, key=lambda v: (v["Key"], -v["LastModified"].timestamp()))
            ]
            if not page["IsTruncated"]:
                break
            markers = {
                "KeyMarker": page["NextKeyMarker"],
                "VersionIdMarker": page["NextVersionIdMarker"],
            }
        assert seen == expected, page_size
    after_a = gs3.list_object_versions(Bucket="images", KeyMarker="a")
    assert {v["Key"] for v in after_a["Versions"]} == {"b", "c"}


def test_list_object_versions_refuses_bad_markers(gs3: Any) -> None:
    gs3.create_bucket(Bucket="images")
    with pytest.raises(ClientError) as alone:
        gs3.list_object_versions(Bucket="images", VersionIdMarker="0" * 32)
    assert error_code(alone) == "InvalidArgument"
    with pytest.raises(ClientError) as malformed:
        gs3.list_object_versions(Bucket="images", KeyMarker="a", VersionIdMarker="nope")
    assert error_code(malformed) == "InvalidArgument"


def test_bucket_versioning_is_enabled_and_cannot_be_suspended(gs3: Any, backend: Backend) -> None:
    gs3.create_bucket(Bucket="images")
    assert gs3.get_bucket_versioning(Bucket="images")["Status"] == "Enabled"
    gs3.put_bucket_versioning(Bucket="images", VersioningConfiguration={"Status": "Enabled"})
    before = backend.list_commits("images")
    with pytest.raises(ClientError) as suspended:
        gs3.put_bucket_versioning(Bucket="images", VersioningConfiguration={"Status": "Suspended"})
    assert (error_code(suspended), status(suspended)) == ("NotImplemented", 501)
    assert "suspended" in suspended.value.response["Error"]["Message"]
    assert backend.list_commits("images") == before
    assert gs3.get_bucket_versioning(Bucket="images")["Status"] == "Enabled"


def test_sidecar_versions_of_an_input_and_of_out(
    backend: Backend, history: tuple[str, str, str], transport: str
) -> None:
    first, second, _third = history
    with (
        SidecarGateway(backend, inputs={"in": f"labresults@{second}"}, output="pipeline") as gw,
        client_for(gw, transport) as s3,
    ):
        listed = s3.list_object_versions(Bucket="in")
        lines = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]]
        assert lines == [("a.txt", second, True), ("a.txt", first, False)]
        s3.put_object(Bucket="out", Key="r.txt", Body=b"r")
        job = gw.job
        assert job is not None
        assert job.output is not None
        out = s3.list_object_versions(Bucket="out")
        assert [(v["Key"], v["VersionId"]) for v in out["Versions"]] == [("r.txt", job.output.id)]
        assert s3.get_bucket_versioning(Bucket="in")["Status"] == "Enabled"
        with pytest.raises(ClientError) as input_config:
            s3.put_bucket_versioning(Bucket="in", VersioningConfiguration={"Status": "Enabled"})
        assert error_code(input_config) == "AccessDenied"
        s3.put_bucket_versioning(Bucket="out", VersioningConfiguration={"Status": "Enabled"})


def test_upload_part_copy_from_a_version(gs3: Any) -> None:
    gs3.create_bucket(Bucket="images")
    first = gs3.put_object(Bucket="images", Key="a.txt", Body=b"one")["VersionId"]
    gs3.put_object(Bucket="images", Key="a.txt", Body=b"two")
    upload = gs3.create_multipart_upload(Bucket="images", Key="c.txt")["UploadId"]
    source = {"Bucket": "images", "Key": "a.txt", "VersionId": first}
    part = gs3.upload_part_copy(
        Bucket="images", Key="c.txt", UploadId=upload, PartNumber=1, CopySource=source
    )
    gs3.complete_multipart_upload(
        Bucket="images",
        Key="c.txt",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert gs3.get_object(Bucket="images", Key="c.txt")["Body"].read() == b"one"
    with pytest.raises(ClientError) as missing:
        gs3.upload_part_copy(
            Bucket="images",
            Key="c.txt",
            UploadId=gs3.create_multipart_upload(Bucket="images", Key="d.txt")["UploadId"],
            PartNumber=1,
            CopySource={"Bucket": "images", "Key": "a.txt", "VersionId": "0" * 32},
        )
    assert error_code(missing) == "NoSuchVersion"
