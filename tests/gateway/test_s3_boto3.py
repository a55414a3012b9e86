"""Every S3 operation of the sidecar surface, through every transport, on every backend, with
boto3 (the backends and transports are the fixtures of conftest.py).

Bytes are compared, not only status codes; every refused write is followed by a check that
nothing changed. ``input_files`` is what the seeded input holds on the backend under test:
``INPUT_FILES``, less the directory marker where the backend cannot store one (PFS).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from gateway_data import INPUT_FILES, MARKER_KEY

from pachs3 import JobRequest, SidecarGateway, read_commit
from pachs3.testing.plugin import JobFactory

MiB = 1024 * 1024


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def all_keys(s3: Any, bucket: str, **kwargs: Any) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kwargs):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


# ---------------------------------------------------------------------------------------------
# Buckets


def test_list_buckets_shows_inputs_and_out(s3: Any) -> None:
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["labresults", "out"]


def test_head_bucket_and_location(s3: Any) -> None:
    assert s3.head_bucket(Bucket="labresults")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_bucket(Bucket="out")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket="labresults").get("LocationConstraint") is None


def test_unknown_bucket_is_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="nope")
    assert error_code(exc) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="nope")
    assert status(exc) == 404


def test_create_bucket_is_idempotent_on_mapped_names_only(s3: Any) -> None:
    s3.create_bucket(Bucket="out")
    s3.create_bucket(Bucket="labresults")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="another")
    assert error_code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="out")
    assert error_code(exc) == "AccessDenied"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["labresults", "out"]


# ---------------------------------------------------------------------------------------------
# Listing


def test_list_v2_flat_is_sorted_and_complete(s3: Any, input_files: dict[str, bytes]) -> None:
    listed = s3.list_objects_v2(Bucket="labresults")
    keys = [o["Key"] for o in listed["Contents"]]
    assert keys == sorted(input_files, key=lambda k: k.encode())
    assert listed["KeyCount"] == len(input_files)
    sizes = {o["Key"]: o["Size"] for o in listed["Contents"]}
    assert sizes == {k: len(v) for k, v in input_files.items()}
    etags = {o["Key"]: o["ETag"] for o in listed["Contents"]}
    assert etags["a.txt"] == '"' + hashlib.md5(b"hello\n").hexdigest() + '"'


def test_list_v2_delimiter_and_prefix(s3: Any, holds_markers: bool, special_key: str) -> None:
    top = s3.list_objects_v2(Bucket="labresults", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "big.bin", "empty.bin"]
    prefixes = ["dir/", "marker/"] if holds_markers else ["dir/"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == prefixes
    inner = s3.list_objects_v2(Bucket="labresults", Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["dir/small.txt", special_key]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["dir/sub/"]


def test_list_v2_pages_with_tokens_and_start_after(s3: Any, input_files: dict[str, bytes]) -> None:
    expected = sorted(input_files, key=lambda k: k.encode())
    assert all_keys(s3, "labresults", PaginationConfig={"PageSize": 2}) == expected
    first = s3.list_objects_v2(Bucket="labresults", MaxKeys=2)
    assert first["IsTruncated"] is True
    assert first["KeyCount"] == 2
    rest = s3.list_objects_v2(Bucket="labresults", ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in first["Contents"] + rest["Contents"]] == expected
    after = s3.list_objects_v2(Bucket="labresults", StartAfter="dir/sub/deep.csv")
    assert [o["Key"] for o in after["Contents"]] == [k for k in expected if k > "dir/sub/deep.csv"]


def test_list_v1_pages_with_markers(s3: Any, input_files: dict[str, bytes]) -> None:
    expected = sorted(input_files, key=lambda k: k.encode())
    keys: list[str] = []
    for page in s3.get_paginator("list_objects").paginate(
        Bucket="labresults", PaginationConfig={"PageSize": 3}
    ):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    assert keys == expected


def test_list_max_keys_zero_and_empty_prefix_match(s3: Any) -> None:
    zero = s3.list_objects_v2(Bucket="labresults", MaxKeys=0)
    assert zero["KeyCount"] == 0
    assert "Contents" not in zero
    none = s3.list_objects_v2(Bucket="labresults", Prefix="no-such-prefix/")
    assert none["KeyCount"] == 0


def test_special_key_lists_exactly(s3: Any, special_key: str) -> None:
    # boto3 always asks for encoding-type=url and decodes what comes back.
    listed = s3.list_objects_v2(Bucket="labresults", Prefix="dir/sp")
    assert [o["Key"] for o in listed["Contents"]] == [special_key]


# ---------------------------------------------------------------------------------------------
# Reading


def test_get_whole_object_and_headers(s3: Any) -> None:
    got = s3.get_object(Bucket="labresults", Key="dir/small.txt")
    assert got["Body"].read() == INPUT_FILES["dir/small.txt"]
    assert got["ContentLength"] == len(INPUT_FILES["dir/small.txt"])
    assert got["ETag"] == '"' + hashlib.md5(INPUT_FILES["dir/small.txt"]).hexdigest() + '"'
    assert got["ContentType"] == "text/plain"
    assert got["AcceptRanges"] == "bytes"
    assert got["LastModified"] is not None


def test_head_object(s3: Any) -> None:
    head = s3.head_object(Bucket="labresults", Key="big.bin")
    assert head["ContentLength"] == len(INPUT_FILES["big.bin"])
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket="labresults", Key="missing")
    assert status(exc) == 404


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-9", 0, 9), ("bytes=100-", 100, None), ("bytes=-50", -50, None)],
)
def test_ranged_get(s3: Any, header: str, start: int, end: int | None) -> None:
    data = INPUT_FILES["big.bin"]
    got = s3.get_object(Bucket="labresults", Key="big.bin", Range=header)
    want = data[start : end + 1] if end is not None else data[start:]
    assert got["Body"].read() == want
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    first = start if start >= 0 else len(data) + start
    assert got["ContentRange"] == f"bytes {first}-{first + len(want) - 1}/{len(data)}"


def test_unsatisfiable_range_is_416(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="labresults", Key="a.txt", Range="bytes=100-200")
    assert error_code(exc) == "InvalidRange"
    assert status(exc) == 416
    headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-range"] == "bytes */6"


def test_missing_key_is_no_such_key(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="labresults", Key="dir")  # a directory is not an object
    assert error_code(exc) == "NoSuchKey"


def test_conditional_reads(s3: Any) -> None:
    etag = s3.head_object(Bucket="labresults", Key="a.txt")["ETag"]
    assert s3.get_object(Bucket="labresults", Key="a.txt", IfMatch=etag)["Body"].read()
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="labresults", Key="a.txt", IfMatch='"0000"')
    assert status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="labresults", Key="a.txt", IfNoneMatch=etag)
    assert status(exc) == 304


def test_empty_object_and_directory_marker(s3: Any, holds_markers: bool) -> None:
    assert s3.get_object(Bucket="labresults", Key="empty.bin")["Body"].read() == b""
    if not holds_markers:
        # PFS has no directory markers: PachydermBackend refuses to write one and reads none
        # (docs/pachyderm.md, "Paths"), rather than store "newdir" under another key.
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket="labresults", Key=MARKER_KEY)
        assert error_code(exc) == "NoSuchKey"
        with pytest.raises(ClientError) as exc:
            s3.put_object(
                Bucket="out", Key="newdir/", Body=b"", ContentType="application/x-directory"
            )
        assert error_code(exc) == "InvalidArgument"
        assert status(exc) == 400
        assert all_keys(s3, "out") == []
        return
    assert s3.get_object(Bucket="labresults", Key=MARKER_KEY)["ContentLength"] == 0
    s3.put_object(Bucket="out", Key="newdir/", Body=b"", ContentType="application/x-directory")
    assert all_keys(s3, "out") == ["newdir/"]


def test_download_file_multipart_ranges(s3: Any, tmp_path: Any) -> None:
    target = tmp_path / "big.bin"
    s3.download_file("labresults", "big.bin", str(target))
    assert target.read_bytes() == INPUT_FILES["big.bin"]


# ---------------------------------------------------------------------------------------------
# Writing to out


def test_put_then_read_your_writes(s3: Any) -> None:
    put = s3.put_object(Bucket="out", Key="result.txt", Body=b"done\n")
    assert put["ETag"] == '"' + hashlib.md5(b"done\n").hexdigest() + '"'
    assert s3.get_object(Bucket="out", Key="result.txt")["Body"].read() == b"done\n"
    assert all_keys(s3, "out") == ["result.txt"]


def test_out_starts_empty(s3: Any) -> None:
    assert s3.list_objects_v2(Bucket="out")["KeyCount"] == 0


def test_metadata_round_trips(s3: Any) -> None:
    s3.put_object(
        Bucket="out",
        Key="meta.json",
        Body=b"{}",
        ContentType="application/json",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="m.json"',
        ContentEncoding="identity",
        Metadata={"origin": "test", "mtime": "1700000000"},
    )
    head = s3.head_object(Bucket="out", Key="meta.json")
    assert head["ContentType"] == "application/json"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="m.json"'
    assert head["ContentEncoding"] == "identity"
    assert head["Metadata"] == {"origin": "test", "mtime": "1700000000"}


def test_special_key_round_trips(s3: Any, special_key: str) -> None:
    s3.put_object(Bucket="out", Key=special_key, Body=b"x")
    assert s3.get_object(Bucket="out", Key=special_key)["Body"].read() == b"x"
    assert all_keys(s3, "out") == [special_key]
    s3.copy_object(
        Bucket="out", Key="copy/" + special_key, CopySource={"Bucket": "out", "Key": special_key}
    )
    s3.delete_object(Bucket="out", Key=special_key)
    assert all_keys(s3, "out") == ["copy/" + special_key]


def test_wrong_content_md5_is_bad_digest_and_stores_nothing(s3: Any) -> None:
    import base64

    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="out", Key="bad.txt", Body=b"payload", ContentMD5=wrong)
    assert error_code(exc) == "BadDigest"
    assert all_keys(s3, "out") == []


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksums_are_verified_and_returned(s3: Any, algorithm: str) -> None:
    put = s3.put_object(Bucket="out", Key="c.bin", Body=b"checksummed", ChecksumAlgorithm=algorithm)
    field = "Checksum" + algorithm
    assert put[field]
    got = s3.get_object(Bucket="out", Key="c.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"checksummed"
    assert got[field] == put[field]


def test_wrong_checksum_header_is_bad_digest(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="out", Key="bad.bin", Body=b"abc", ChecksumCRC32="AAAAAA==")
    assert error_code(exc) == "BadDigest"
    assert all_keys(s3, "out") == []


def test_if_none_match_star_refuses_overwrite(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="once.txt", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="out", Key="once.txt", Body=b"2", IfNoneMatch="*")
    assert status(exc) == 412
    assert s3.get_object(Bucket="out", Key="once.txt")["Body"].read() == b"1"


def test_upload_file_multipart_round_trip(s3: Any, tmp_path: Any) -> None:
    source = tmp_path / "up.bin"
    data = os.urandom(20 * MiB + 7)
    source.write_bytes(data)
    s3.upload_file(str(source), "out", "uploaded.bin")
    head = s3.head_object(Bucket="out", Key="uploaded.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # 8 + 8 + 4 MiB parts: an S3 multipart ETag
    target = tmp_path / "down.bin"
    s3.download_file("out", "uploaded.bin", str(target))
    assert target.read_bytes() == data


# ---------------------------------------------------------------------------------------------
# Copy and delete


def test_copy_input_to_out(s3: Any) -> None:
    copied = s3.copy_object(
        Bucket="out", Key="copied/deep.csv", CopySource="labresults/dir/sub/deep.csv"
    )
    assert (
        copied["CopyObjectResult"]["ETag"]
        == '"' + hashlib.md5(INPUT_FILES["dir/sub/deep.csv"]).hexdigest() + '"'
    )
    got = s3.get_object(Bucket="out", Key="copied/deep.csv")
    assert got["Body"].read() == INPUT_FILES["dir/sub/deep.csv"]
    assert got["ContentType"] == "text/plain"


def test_copy_with_replaced_metadata(s3: Any) -> None:
    s3.copy_object(
        Bucket="out",
        Key="replaced.txt",
        CopySource={"Bucket": "labresults", "Key": "a.txt"},
        MetadataDirective="REPLACE",
        ContentType="text/csv",
        Metadata={"k": "v"},
    )
    head = s3.head_object(Bucket="out", Key="replaced.txt")
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"k": "v"}


def test_copy_missing_source_is_no_such_key(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="out", Key="x", CopySource="labresults/missing")
    assert error_code(exc) == "NoSuchKey"


def test_delete_and_multi_delete(s3: Any) -> None:
    for key in ("d1", "d2", "d3"):
        s3.put_object(Bucket="out", Key=key, Body=key.encode())
    assert s3.delete_object(Bucket="out", Key="d1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.delete_object(Bucket="out", Key="never-existed")
    result = s3.delete_objects(
        Bucket="out", Delete={"Objects": [{"Key": "d2"}, {"Key": "missing"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["d2", "missing"]
    quiet = s3.delete_objects(Bucket="out", Delete={"Objects": [{"Key": "d3"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert all_keys(s3, "out") == []


# ---------------------------------------------------------------------------------------------
# Inputs are read-only, whatever the operation


def test_every_write_to_an_input_is_access_denied(s3: Any, input_files: dict[str, bytes]) -> None:
    before = {
        key: s3.get_object(Bucket="labresults", Key=key)["ETag"]
        for key in ("a.txt", "dir/small.txt")
    }
    attempts: list[Callable[[], Any]] = [
        lambda: s3.put_object(Bucket="labresults", Key="a.txt", Body=b"overwritten"),
        lambda: s3.put_object(Bucket="labresults", Key="new.txt", Body=b"new"),
        lambda: s3.delete_object(Bucket="labresults", Key="a.txt"),
        lambda: s3.delete_objects(Bucket="labresults", Delete={"Objects": [{"Key": "a.txt"}]}),
        lambda: s3.copy_object(Bucket="labresults", Key="c.txt", CopySource="labresults/a.txt"),
        lambda: s3.create_multipart_upload(Bucket="labresults", Key="m.bin"),
        lambda: s3.put_object_acl(Bucket="labresults", Key="a.txt", ACL="private"),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as exc:
            attempt()
        assert error_code(exc) == "AccessDenied"
        assert status(exc) == 403
    after = {key: s3.get_object(Bucket="labresults", Key=key)["ETag"] for key in before}
    assert after == before
    assert sorted(all_keys(s3, "labresults")) == sorted(input_files)


# ---------------------------------------------------------------------------------------------
# Multipart


def _upload(s3: Any, key: str, parts: list[bytes], order: list[int] | None = None) -> Any:
    upload = s3.create_multipart_upload(Bucket="out", Key=key, ContentType="text/plain")
    upload_id = upload["UploadId"]
    etags: dict[int, str] = {}
    for index in order or list(range(len(parts))):
        response = s3.upload_part(
            Bucket="out", Key=key, UploadId=upload_id, PartNumber=index + 1, Body=parts[index]
        )
        etags[index + 1] = response["ETag"]
    return upload_id, etags


def test_multipart_out_of_order_complete(s3: Any) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    upload_id, etags = _upload(s3, "mp.bin", parts, order=[2, 0, 1])
    listed = s3.list_parts(Bucket="out", Key="mp.bin", UploadId=upload_id)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    uploads = s3.list_multipart_uploads(Bucket="out")
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]
    assert all_keys(s3, "out") == []  # parts are staged where no listing shows them
    done = s3.complete_multipart_upload(
        Bucket="out",
        Key="mp.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
    )
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    got = s3.get_object(Bucket="out", Key="mp.bin")
    assert got["Body"].read() == b"".join(parts)
    assert got["ContentType"] == "text/plain"
    assert s3.list_multipart_uploads(Bucket="out").get("Uploads", []) == []


def test_multipart_errors(s3: Any) -> None:
    small = [b"a" * 100, b"b" * 100]
    upload_id, etags = _upload(s3, "bad.bin", small)
    complete = s3.complete_multipart_upload
    with pytest.raises(ClientError) as exc:
        complete(
            Bucket="out",
            Key="bad.bin",
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 2, "ETag": etags[2]}, {"PartNumber": 1, "ETag": etags[1]}]
            },
        )
    assert error_code(exc) == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        complete(
            Bucket="out",
            Key="bad.bin",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"ffff"'}]},
        )
    assert error_code(exc) == "InvalidPart"
    with pytest.raises(ClientError) as exc:
        complete(
            Bucket="out",
            Key="bad.bin",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2)]},
        )
    assert error_code(exc) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket="out", Key="bad.bin", UploadId=upload_id)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket="out", Key="bad.bin", UploadId=upload_id)
    assert error_code(exc) == "NoSuchUpload"
    assert all_keys(s3, "out") == []


def test_single_small_part_upload(s3: Any) -> None:
    upload_id, etags = _upload(s3, "one.txt", [b"twelve bytes"])
    s3.complete_multipart_upload(
        Bucket="out",
        Key="one.txt",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etags[1]}]},
    )
    assert s3.get_object(Bucket="out", Key="one.txt")["Body"].read() == b"twelve bytes"


def test_upload_part_copy(s3: Any) -> None:
    upload = s3.create_multipart_upload(Bucket="out", Key="pc.bin")
    upload_id = upload["UploadId"]
    first = s3.upload_part_copy(
        Bucket="out",
        Key="pc.bin",
        UploadId=upload_id,
        PartNumber=1,
        CopySource="labresults/big.bin",
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )
    second = s3.upload_part(
        Bucket="out", Key="pc.bin", UploadId=upload_id, PartNumber=2, Body=b"end"
    )
    s3.complete_multipart_upload(
        Bucket="out",
        Key="pc.bin",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                {"PartNumber": 2, "ETag": second["ETag"]},
            ]
        },
    )
    data = s3.get_object(Bucket="out", Key="pc.bin")["Body"].read()
    assert data == INPUT_FILES["big.bin"][: 5 * MiB] + b"end"


def test_unknown_upload_is_no_such_upload(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="out", Key="k", UploadId="0" * 32, PartNumber=1, Body=b"x")
    assert error_code(exc) == "NoSuchUpload"


def test_acl_reads_and_no_op_writes(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="acl.txt", Body=b"keep")
    assert s3.get_object_acl(Bucket="out", Key="acl.txt")["Grants"]
    s3.put_object_acl(Bucket="out", Key="acl.txt", ACL="private")
    assert s3.get_object(Bucket="out", Key="acl.txt")["Body"].read() == b"keep"
    assert s3.get_bucket_acl(Bucket="labresults")["Owner"]


# ---------------------------------------------------------------------------------------------
# The job around it


def test_job_finishes_with_provenance(gateway: SidecarGateway, transport: str) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="out", Key="r.txt", Body=b"r")
    out = gateway.output_commit
    assert out is not None
    inputs = gateway.input_commits
    finished = gateway.end_job()
    assert finished is not None
    assert gateway.finished_commit == finished
    assert finished.finished is not None
    assert finished.error is None
    assert finished.provenance == (inputs["labresults"],)
    store = gateway.backend
    assert store.inspect_branch("pipeline", "master").head == out.id
    head = store.inspect_file(finished.ref, "r.txt")
    assert head.size == 1
    # After the job, its buckets are gone.
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="out")
    assert error_code(exc) == "NoSuchBucket"


def test_finished_commit_outlives_the_job(seeded: Any) -> None:
    gateway = SidecarGateway(seeded, inputs={"labresults": "labresults"}, output="pipeline")
    assert gateway.finished_commit is None
    with gateway:
        gateway.client().put_object(Bucket="out", Key="r.txt", Body=b"r")
        opened = gateway.output_commit
    assert opened is not None
    assert gateway.output_commit is None
    finished = gateway.finished_commit
    assert finished is not None
    assert (finished.id, finished.error) == (opened.id, None)
    assert finished.finished is not None
    assert read_commit(seeded, finished) == {"r.txt": b"r"}
    # The next job keeps it until it ends itself; one without output leaves none.
    gateway.begin_job(JobRequest(inputs={"labresults": "labresults"}))
    assert gateway.finished_commit == finished
    assert gateway.end_job() is None
    assert gateway.finished_commit is None


def _crashing_user_code() -> None:
    boto3.client("s3").put_object(Bucket="out", Key="partial.txt", Body=b"p")
    raise RuntimeError("user code crashed")


def test_failed_job_records_the_error(
    pachs3_job: JobFactory, input_files: dict[str, bytes]
) -> None:
    job = pachs3_job(inputs={"labresults": input_files}, output="pipeline", in_process=True)
    with pytest.raises(RuntimeError, match="user code crashed"), job:
        _crashing_user_code()
    assert job.commit.finished is not None
    assert "user code crashed" in (job.commit.error or "")
    # What it wrote stays in the failed commit, which does not become the branch head.
    assert job.files == {"partial.txt": b"p"}
    assert job.backend.inspect_branch("pipeline", "master").head != job.commit.id


def test_request_id_on_every_response(s3: Any) -> None:
    ok = s3.list_buckets()
    assert ok["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="labresults", Key="missing")
    assert exc.value.response["ResponseMetadata"]["RequestId"]


def test_streaming_body_put_from_file_object(s3: Any) -> None:
    data = os.urandom(3 * MiB)
    s3.put_object(Bucket="out", Key="stream.bin", Body=io.BytesIO(data))
    assert s3.get_object(Bucket="out", Key="stream.bin")["Body"].read() == data


def test_list_multipart_uploads_pages_with_markers(s3: Any) -> None:
    ids = {
        (key, s3.create_multipart_upload(Bucket="out", Key=key)["UploadId"])
        for key in ("a", "a", "b", "c/d")
    }
    seen: list[tuple[str, str]] = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket="out", PaginationConfig={"PageSize": 1}
    ):
        seen.extend((u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
    assert seen == sorted(ids)
    only_c = s3.list_multipart_uploads(Bucket="out", Prefix="c/")["Uploads"]
    assert [u["Key"] for u in only_c] == ["c/d"]
    after_a = s3.list_multipart_uploads(Bucket="out", KeyMarker="a")["Uploads"]
    assert [u["Key"] for u in after_a] == ["b", "c/d"]
