"""Multipart uploads as AWS answers them in the cases issue 15 lists (every transport and
backend, through the boto3 suite's fixtures in tests/gateway/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def start_with_parts(s3: Any, key: str, bodies: list[bytes]) -> tuple[str, list[dict[str, Any]]]:
    upload_id = s3.create_multipart_upload(Bucket="out", Key=key)["UploadId"]
    parts = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(
                Bucket="out", Key=key, UploadId=upload_id, PartNumber=n, Body=body
            )["ETag"],
        }
        for n, body in enumerate(bodies, start=1)
    ]
    return upload_id, parts


def test_a_repeated_complete_answers_as_the_first_did(s3: Any) -> None:
    """An SDK retries a CompleteMultipartUpload whose answer it lost: AWS answers 200 with the
    same ETag, and the object is not touched again."""
    upload_id, parts = start_with_parts(s3, "retried.bin", [b"a" * (5 * MiB), b"tail"])
    complete = {"Bucket": "out", "Key": "retried.bin", "UploadId": upload_id}
    first = s3.complete_multipart_upload(**complete, MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(**complete, MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"]
    assert again["ETag"].endswith('-2"')
    assert again["Key"] == "retried.bin"
    head = s3.head_object(Bucket="out", Key="retried.bin")
    assert (head["ETag"], head["ContentLength"]) == (first["ETag"], 5 * MiB + 4)


def test_a_complete_with_other_parts_after_success_is_no_such_upload(s3: Any) -> None:
    upload_id, parts = start_with_parts(s3, "done.bin", [b"only part"])
    complete = {"Bucket": "out", "Key": "done.bin", "UploadId": upload_id}
    s3.complete_multipart_upload(**complete, MultipartUpload={"Parts": parts})
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            **complete, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]}
        )
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"
    with pytest.raises(ClientError) as other_key:
        s3.complete_multipart_upload(
            Bucket="out", Key="elsewhere.bin", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    assert other_key.value.response["Error"]["Code"] == "NoSuchUpload"


def test_upload_part_copy_outside_the_source_is_416_invalid_range(s3: Any) -> None:
    """ceph s3-tests test_multipart_copy_invalid_range: AWS answers 416 InvalidRange (the test
    accepts 400 InvalidArgument too); nothing is staged."""
    s3.put_object(Bucket="out", Key="src.bin", Body=b"0123456789")
    upload_id = s3.create_multipart_upload(Bucket="out", Key="dst.bin")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket="out",
            Key="dst.bin",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": "out", "Key": "src.bin"},
            CopySourceRange="bytes=0-20",
        )
    assert exc.value.response["Error"]["Code"] == "InvalidRange"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    assert "Parts" not in s3.list_parts(Bucket="out", Key="dst.bin", UploadId=upload_id)


def test_upload_listings_name_the_bucket_owner(s3: Any) -> None:
    """ListParts and ListMultipartUploads show an Owner and Initiator with the ID and display
    name ListBuckets gives (minio-py and the Java SDK read them)."""
    owner = s3.list_buckets()["Owner"]
    upload_id, _ = start_with_parts(s3, "owned.bin", [b"x"])
    listed = s3.list_parts(Bucket="out", Key="owned.bin", UploadId=upload_id)
    assert listed["Owner"] == owner
    assert listed["Initiator"] == owner
    (upload,) = s3.list_multipart_uploads(Bucket="out")["Uploads"]
    assert upload["Owner"] == owner
    assert upload["Initiator"] == owner


@pytest.fixture
def composed(s3: Any) -> list[bytes]:
    """A 3-part object in `out`: two 5 MiB parts of distinct bytes, then a short one."""
    bodies = [bytes([n]) * (5 * MiB) for n in (1, 2)] + [b"last part"]
    upload_id, parts = start_with_parts(s3, "parts.bin", bodies)
    s3.complete_multipart_upload(
        Bucket="out", Key="parts.bin", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return bodies


def test_get_and_head_with_part_number_answer_that_part(s3: Any, composed: list[bytes]) -> None:
    etag = s3.head_object(Bucket="out", Key="parts.bin")["ETag"]
    total = sum(len(b) for b in composed)
    offset = 0
    for number, expected in enumerate(composed, start=1):
        got = s3.get_object(Bucket="out", Key="parts.bin", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == expected
        assert got["PartsCount"] == 3
        assert got["ETag"] == etag  # the object's ETag, not the part's
        end = offset + len(expected) - 1
        assert got["ContentRange"] == f"bytes {offset}-{end}/{total}"
        head = s3.head_object(Bucket="out", Key="parts.bin", PartNumber=number)
        assert (head["ContentLength"], head["PartsCount"]) == (len(expected), 3)
        offset += len(expected)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="out", Key="parts.bin", PartNumber=4)
    assert exc.value.response["Error"]["Code"] == "InvalidPartNumber"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_part_reads_never_show_the_part_record(s3: Any, composed: list[bytes]) -> None:
    head = s3.head_object(Bucket="out", Key="parts.bin")
    sent = head["ResponseMetadata"]["HTTPHeaders"]
    assert not [name for name in sent if name.startswith("x-pachs3")]
    assert "PartsCount" not in head  # only when a part is asked for, as AWS


def test_part_one_of_an_object_stored_whole_is_the_whole_object(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="whole.txt", Body=b"stored in one piece")
    got = s3.get_object(Bucket="out", Key="whole.txt", PartNumber=1)
    assert got["Body"].read() == b"stored in one piece"
    assert got["ContentRange"] == "bytes 0-18/19"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="out", Key="whole.txt", PartNumber=2)
    assert exc.value.response["Error"]["Code"] == "InvalidPartNumber"


def test_part_number_with_a_range_is_refused(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="whole.txt", Body=b"stored in one piece")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="out", Key="whole.txt", PartNumber=1, Range="bytes=0-1")
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
