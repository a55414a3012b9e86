"""Checksum types of multipart uploads as AWS answers them (issue 15): ``x-amz-checksum-type`` on
CreateMultipartUpload, composite (``<base64>-N``) and full-object checksums of the completed
object, on Complete, HEAD and GET with ChecksumMode ENABLED; every backend and transport
(the boto3 suite's fixtures, tests/gateway/conftest.py).

Expected values are computed here from the bodies (whole-body CRCs through ``checksum_b64``,
composite ones over the raw part digests), never copied from an answer.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from pachs3 import MemoryBackend, SidecarGateway
from pachs3.core.digests import checksum_b64, new_checksum

MiB = 1024 * 1024
PART = 5 * MiB
BODIES = [bytes([n]) * PART for n in (1, 2)] + [b"tail of the object"]


def composite(algorithm: str, bodies: list[bytes]) -> str:
    outer = new_checksum(algorithm)
    for body in bodies:
        inner = new_checksum(algorithm)
        inner.update(body)
        outer.update(inner.digest())
    return f"{base64.b64encode(outer.digest()).decode()}-{len(bodies)}"


def upload(s3: Any, key: str, algorithm: str, checksum_type: str | None) -> dict[str, Any]:
    """Create (with the algorithm and maybe a type), upload ``BODIES`` with part checksums, and
    return Create's answer merged with Complete's."""
    extra = {"ChecksumType": checksum_type} if checksum_type else {}
    created = s3.create_multipart_upload(
        Bucket="out", Key=key, ChecksumAlgorithm=algorithm.upper(), **extra
    )
    upload_id = created["UploadId"]
    field = f"Checksum{algorithm.upper()}"
    parts = []
    for number, body in enumerate(BODIES, start=1):
        answer = s3.upload_part(
            Bucket="out",
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=algorithm.upper(),
        )
        assert answer[field] == checksum_b64(algorithm, body)
        parts.append({"PartNumber": number, "ETag": answer["ETag"], field: answer[field]})
    done = s3.complete_multipart_upload(
        Bucket="out", Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **extra
    )
    return {"created": created, "done": done}


@pytest.mark.parametrize(
    ("algorithm", "asked", "kind"),
    [
        ("crc32", None, "COMPOSITE"),
        ("crc32c", "COMPOSITE", "COMPOSITE"),
        ("sha256", None, "COMPOSITE"),
        ("sha1", "COMPOSITE", "COMPOSITE"),
        ("crc32", "FULL_OBJECT", "FULL_OBJECT"),
        ("crc32c", "FULL_OBJECT", "FULL_OBJECT"),
        ("crc64nvme", None, "FULL_OBJECT"),
    ],
)
def test_a_multipart_object_has_the_checksum_of_its_type(
    s3: Any, algorithm: str, asked: str | None, kind: str
) -> None:
    key = f"typed/{algorithm}-{asked}"
    answers = upload(s3, key, algorithm, asked)
    if kind == "COMPOSITE":
        expected = composite(algorithm, BODIES)
    else:  # a CRC of the whole body, combined from the parts' CRCs by the gateway
        expected = checksum_b64(algorithm, b"".join(BODIES))
    field = f"Checksum{algorithm.upper()}"
    created, done = answers["created"], answers["done"]
    assert created["ChecksumAlgorithm"] == algorithm.upper()
    assert created["ChecksumType"] == kind
    assert (done[field], done["ChecksumType"]) == (expected, kind)
    head = s3.head_object(Bucket="out", Key=key, ChecksumMode="ENABLED")
    assert (head[field], head["ChecksumType"]) == (expected, kind)
    got = s3.get_object(Bucket="out", Key=key, ChecksumMode="ENABLED")
    assert (got[field], got["ChecksumType"]) == (expected, kind)
    assert got["Body"].read() == b"".join(BODIES)  # botocore validated a full-object value
    plain = s3.head_object(Bucket="out", Key=key)
    assert field not in plain  # only when asked for
    assert "ChecksumType" not in plain


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [("crc64nvme", "COMPOSITE"), ("sha256", "FULL_OBJECT"), ("sha1", "FULL_OBJECT")],
)
def test_a_type_the_algorithm_does_not_allow_is_invalid_request(
    s3: Any, algorithm: str, kind: str
) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_multipart_upload(
            Bucket="out", Key="refused", ChecksumAlgorithm=algorithm.upper(), ChecksumType=kind
        )
    assert caught.value.response["Error"]["Code"] == "InvalidRequest"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert s3.list_multipart_uploads(Bucket="out").get("Uploads", []) == []


def test_a_wrong_full_object_checksum_on_complete_is_bad_digest(s3: Any) -> None:
    created = s3.create_multipart_upload(
        Bucket="out", Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    upload_id = created["UploadId"]
    answer = s3.upload_part(
        Bucket="out", Key="full", UploadId=upload_id, PartNumber=1, Body=b"abc",
        ChecksumAlgorithm="CRC32",
    )  # fmt: skip
    parts = [{"PartNumber": 1, "ETag": answer["ETag"], "ChecksumCRC32": answer["ChecksumCRC32"]}]
    wrong = checksum_b64("crc32", b"abd")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket="out", Key="full", UploadId=upload_id, MultipartUpload={"Parts": parts},
            ChecksumCRC32=wrong, ChecksumType="FULL_OBJECT",
        )  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket="out", Key="full")  # nothing was made
    done = s3.complete_multipart_upload(
        Bucket="out", Key="full", UploadId=upload_id, MultipartUpload={"Parts": parts},
        ChecksumCRC32=checksum_b64("crc32", b"abc"), ChecksumType="FULL_OBJECT",
    )  # fmt: skip
    assert done["ChecksumCRC32"] == checksum_b64("crc32", b"abc")


def crc32_upload_of_one_part(s3: Any, body: bytes) -> tuple[str, dict[str, Any]]:
    """A CRC32 upload of the key ``k`` with ``body`` as its part 1: (upload id, the part's
    answer)."""
    upload_id = s3.create_multipart_upload(Bucket="out", Key="k", ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    answer = s3.upload_part(
        Bucket="out", Key="k", UploadId=upload_id, PartNumber=1, Body=body,
        ChecksumAlgorithm="CRC32",
    )  # fmt: skip
    return upload_id, answer


def test_another_checksum_type_on_complete_is_bad_digest(s3: Any) -> None:
    upload_id, answer = crc32_upload_of_one_part(s3, b"abc")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket="out", Key="k", UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": answer["ETag"]}]},
            ChecksumType="FULL_OBJECT",
        )  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "BadDigest"


def test_put_object_says_its_checksum_is_full_object(s3: Any) -> None:
    answer = s3.put_object(Bucket="out", Key="one", Body=b"abc", ChecksumAlgorithm="CRC32C")
    assert answer["ChecksumCRC32C"] == checksum_b64("crc32c", b"abc")
    assert answer["ChecksumType"] == "FULL_OBJECT"


def test_boto3_upload_file_and_download_file_round_trip(s3: Any, tmp_path: Path) -> None:
    """s3transfer's defaults (boto3 >= 1.36): a CRC32 multipart upload (composite), then a
    validated download; and a full-object CRC32 the caller supplies."""
    source = tmp_path / "source"
    source.write_bytes(b"".join(BODIES))
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    s3.upload_file(str(source), "out", "transferred", Config=config)
    head = s3.head_object(Bucket="out", Key="transferred", ChecksumMode="ENABLED")
    chunks = [b"".join(BODIES)[i : i + PART] for i in range(0, len(b"".join(BODIES)), PART)]
    assert head["ChecksumCRC32"] == composite("crc32", chunks)
    assert head["ChecksumType"] == "COMPOSITE"
    target = tmp_path / "target"
    s3.download_file("out", "transferred", str(target), ExtraArgs={"ChecksumMode": "ENABLED"})
    assert target.read_bytes() == source.read_bytes()

    whole = checksum_b64("crc32", source.read_bytes())
    s3.upload_file(str(source), "out", "full", Config=config, ExtraArgs={"ChecksumCRC32": whole})
    head = s3.head_object(Bucket="out", Key="full", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (whole, "FULL_OBJECT")


# botocore then sends no checksum it is not required to (UploadPart needs none).
WHEN_REQUIRED = Config(
    s3={"addressing_style": "path"},
    retries={"max_attempts": 1, "mode": "standard"},
    request_checksum_calculation="when_required",
)


def parts_without_checksums(s3: Any, key: str) -> dict[str, Any]:
    """A CRC32C upload whose parts arrive with no checksum at all (a client configured with
    ``request_checksum_calculation="when_required"``): the gateway computes each part's, as S3
    does, and completes with the composite of those."""
    upload_id = s3.create_multipart_upload(Bucket="out", Key=key, ChecksumAlgorithm="CRC32C")[
        "UploadId"
    ]
    parts = []
    for number, body in enumerate(BODIES, start=1):
        answer = s3.upload_part(
            Bucket="out", Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        assert answer["ChecksumCRC32C"] == checksum_b64("crc32c", body)
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket="out", Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return s3.head_object(Bucket="out", Key=key, ChecksumMode="ENABLED")  # type: ignore[no-any-return]


def test_parts_sent_without_checksums_get_the_upload_algorithm(
    gateway: SidecarGateway, transport: str
) -> None:
    if transport == "inproc":
        s3 = gateway.client(config=WHEN_REQUIRED)
    else:
        server = gateway.serve()
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=WHEN_REQUIRED,
        )
    head = parts_without_checksums(s3, "computed")
    assert (head["ChecksumCRC32C"], head["ChecksumType"]) == (
        composite("crc32c", BODIES),
        "COMPOSITE",
    )


def test_the_memory_backend_keeps_checksum_types() -> None:
    with SidecarGateway(MemoryBackend(), output="pipeline") as gw:
        s3 = gw.client(config=WHEN_REQUIRED)
        head = parts_without_checksums(s3, "computed")
        assert head["ChecksumCRC32C"] == composite("crc32c", BODIES)
        answers = upload(s3, "full", "crc32", "FULL_OBJECT")
        assert answers["done"]["ChecksumCRC32"] == checksum_b64("crc32", b"".join(BODIES))


def test_a_completion_naming_a_wrong_part_checksum_is_invalid_part(s3: Any) -> None:
    """AWS checks each ``<ChecksumX>`` of CompleteMultipartUpload against the part's; a
    mismatch is 400 InvalidPart, nothing appears, and the upload can still be completed."""
    upload_id, answer = crc32_upload_of_one_part(s3, b"abc")
    part = {"PartNumber": 1, "ETag": answer["ETag"]}
    wrong = {**part, "ChecksumCRC32": checksum_b64("crc32", b"abd")}
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket="out", Key="k", UploadId=upload_id, MultipartUpload={"Parts": [wrong]}
        )
    assert caught.value.response["Error"]["Code"] == "InvalidPart"
    assert "Contents" not in s3.list_objects_v2(Bucket="out")
    other = {**part, "ChecksumSHA256": checksum_b64("sha256", b"abc")}
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket="out", Key="k", UploadId=upload_id, MultipartUpload={"Parts": [other]}
        )
    assert caught.value.response["Error"]["Code"] == "InvalidRequest"
    right = {**part, "ChecksumCRC32": answer["ChecksumCRC32"]}
    s3.complete_multipart_upload(
        Bucket="out", Key="k", UploadId=upload_id, MultipartUpload={"Parts": [right]}
    )
    assert s3.get_object(Bucket="out", Key="k")["Body"].read() == b"abc"


def test_a_part_copied_into_a_checksum_upload_gets_its_checksum(s3: Any) -> None:
    """UploadPartCopy into an upload with an algorithm: CopyPartResult carries the copied
    range's checksum (AWS computes it), and the object's composite includes that part."""
    first, second = b"a" * PART, b"copied bytes"
    s3.put_object(Bucket="out", Key="source", Body=b"xx" + second + b"yy")
    upload_id, written = crc32_upload_of_one_part(s3, first)
    copied = s3.upload_part_copy(
        Bucket="out", Key="k", UploadId=upload_id, PartNumber=2,
        CopySource={"Bucket": "out", "Key": "source"},
        CopySourceRange=f"bytes=2-{len(second) + 1}",
    )["CopyPartResult"]  # fmt: skip
    assert copied["ChecksumCRC32"] == checksum_b64("crc32", second)
    parts = [
        {"PartNumber": 1, "ETag": written["ETag"], "ChecksumCRC32": written["ChecksumCRC32"]},
        {"PartNumber": 2, "ETag": copied["ETag"], "ChecksumCRC32": copied["ChecksumCRC32"]},
    ]
    s3.complete_multipart_upload(
        Bucket="out", Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    head = s3.head_object(Bucket="out", Key="k", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (
        composite("crc32", [first, second]),
        "COMPOSITE",
    )
