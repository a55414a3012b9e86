"""boto3 through SidecarGateway over PachydermBackend (over the PFS double, or a live cluster):
list, get, put, copy and a multipart upload composed server-side, with staging cleaned up."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pfs_double import PFSServer

from pachs3 import SidecarGateway
from pachs3.backends.base import CommitRef, commit
from pachs3.backends.pachyderm import PachydermBackend
from pachs3.backends.pachyderm.paths import HIDDEN_BRANCH_PREFIX
from pachs3.backends.pachyderm.records import decode_note

PART = 5 * 1024 * 1024
INPUTS = {"a.csv": b"x,y\n1,2\n", "dir/b.txt": b"hello", "dir/sub/c.bin": bytes(range(256))}


@pytest.fixture(params=["double", pytest.param("live", marks=pytest.mark.live)])
def cluster(request: Any) -> Iterator[tuple[PachydermBackend, str]]:
    """A backend and a repo-name prefix unique to this test."""
    if request.param == "double":
        with PFSServer() as server, PachydermBackend(server.address) as backend:
            yield backend, ""
        return
    address = os.environ.get("PACHS3_PACHD_ADDRESS", "").strip()
    if not address:
        pytest.skip("set PACHS3_PACHD_ADDRESS=host:port to run against a live cluster")
    prefix = f"pachs3-test-{uuid.uuid4().hex[:8]}-"
    with PachydermBackend(address, auth_token=os.environ.get("PACHS3_PACHD_TOKEN")) as backend:
        try:
            yield backend, prefix
        finally:
            for repo in backend.list_repos():
                if repo.name.startswith(prefix):
                    backend.delete_repo(repo.name)


def test_boto3_through_the_gateway(cluster: tuple[PachydermBackend, str]) -> None:
    backend, prefix = cluster
    source, output, staging = f"{prefix}labresults", f"{prefix}pipeline", f"{prefix}staging"
    backend.create_repo(source)
    with commit(backend, source, "master") as seeded:
        for key, data in INPUTS.items():
            backend.put_file(seeded.ref, key, [data], metadata={"content-type": "text/plain"})

    with SidecarGateway(
        backend, inputs={"labresults": f"{source}@master"}, output=output, staging_repo=staging
    ) as gateway:
        s3 = gateway.client()
        listed = s3.list_objects_v2(Bucket="labresults")
        assert [o["Key"] for o in listed["Contents"]] == sorted(INPUTS)
        folded = s3.list_objects_v2(Bucket="labresults", Delimiter="/")
        assert [p["Prefix"] for p in folded["CommonPrefixes"]] == ["dir/"]
        got = s3.get_object(Bucket="labresults", Key="dir/b.txt")
        assert got["Body"].read() == b"hello"
        assert got["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
        assert got["ContentType"] == "text/plain"
        ranged = s3.get_object(Bucket="labresults", Key="dir/sub/c.bin", Range="bytes=10-19")
        assert ranged["Body"].read() == bytes(range(10, 20))

        result = b"r\n1\n"
        put = s3.put_object(Bucket="out", Key="result.csv", Body=result, ContentType="t/c")
        assert put["ETag"] == f'"{hashlib.md5(result).hexdigest()}"'
        s3.copy_object(
            Bucket="out", Key="copied.csv", CopySource={"Bucket": "labresults", "Key": "a.csv"}
        )
        assert s3.get_object(Bucket="out", Key="copied.csv")["Body"].read() == INPUTS["a.csv"]

        parts = [b"A" * PART, b"B" * 1234]
        upload = s3.create_multipart_upload(Bucket="out", Key="big/multi.bin")
        etags = []
        for number, data in enumerate(parts, start=1):
            answer = s3.upload_part(
                Bucket="out",
                Key="big/multi.bin",
                UploadId=upload["UploadId"],
                PartNumber=number,
                Body=data,
            )
            etags.append({"PartNumber": number, "ETag": answer["ETag"]})
        done = s3.complete_multipart_upload(
            Bucket="out",
            Key="big/multi.bin",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": etags},
        )
        digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
        assert done["ETag"] == f'"{digest}-2"'
        head = s3.head_object(Bucket="out", Key="big/multi.bin")
        assert head["ContentLength"] == PART + 1234
        assert head["ETag"] == done["ETag"]
        whole = s3.get_object(Bucket="out", Key="big/multi.bin")["Body"].read()
        assert whole == b"".join(parts)

        abandoned = s3.create_multipart_upload(Bucket="out", Key="never.bin")
        s3.upload_part(
            Bucket="out", Key="never.bin", UploadId=abandoned["UploadId"], PartNumber=1, Body=b"z"
        )
        out_keys = [o["Key"] for o in s3.list_objects_v2(Bucket="out")["Contents"]]
        assert out_keys == ["big/multi.bin", "copied.csv", "result.csv"]
        job = gateway.output_commit
        assert job is not None

    finished = backend.inspect_commit(output, "master")
    assert finished.id == job.id
    assert finished.error is None
    assert finished.provenance == (CommitRef(repo=source, id=seeded.id),)
    # ... and PFS itself holds it: the input was its branch's head, so the hidden-branch route
    # gave the output commit direct_provenance (docs/pachyderm.md, "Provenance").
    raw = backend._raw_commit(output, job.id)
    held = [
        (c.repo.name or c.branch.repo.name, c.id)
        for c in raw.direct_provenance
        if (c.repo.type or c.branch.repo.type) in ("", "user")
    ]
    assert held == [(source, seeded.id)]
    assert decode_note(raw.description).route == "pfs"
    head_ref = CommitRef(repo=output, id="master")
    assert [i.path for i in backend.walk_files(head_ref)] == out_keys
    # Staging is gone: completed and abandoned uploads alike, and no hidden branch is left.
    assert backend.list_commits(staging) == []
    for repo in (source, output, staging):
        names = [b.name for b in backend.list_branches(repo)]
        assert not [name for name in names if name.startswith(HIDDEN_BRANCH_PREFIX)]
