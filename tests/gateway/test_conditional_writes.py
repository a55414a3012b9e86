"""Conditional writes as AWS answers them (issue 15), through every transport on every backend
(the fixtures of conftest.py): PutObject and CompleteMultipartUpload with ``If-Match`` and
``If-None-Match``.

AWS's PutObject / CompleteMultipartUpload API reference: ``If-Match`` writes only if the
current ETag matches (412 PreconditionFailed otherwise; 404 NoSuchKey when there is no object),
``If-None-Match`` takes only ``*`` (412 when the key exists); another value is 501 NotImplemented
"A header you provided implies functionality that is not implemented" (aws-sdk-ruby#3144).
Every refusal is followed by a check that nothing changed.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def body_of(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket="out", Key=key)["Body"].read())


def keys(s3: Any) -> list[str]:
    return [obj["Key"] for obj in s3.list_objects_v2(Bucket="out").get("Contents", [])]


def test_put_if_match_replaces_only_the_version_named(s3: Any) -> None:
    old = s3.put_object(Bucket="out", Key="k", Body=b"one")["ETag"]
    new = s3.put_object(Bucket="out", Key="k", Body=b"two", IfMatch=old)["ETag"]
    assert body_of(s3, "k") == b"two"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="out", Key="k", Body=b"three", IfMatch=old)
    assert refusal(exc) == ("PreconditionFailed", 412)
    assert body_of(s3, "k") == b"two"
    # S3A and hand-written clients send the ETag bare.
    s3.put_object(Bucket="out", Key="k", Body=b"four", IfMatch=new.strip('"'))
    assert body_of(s3, "k") == b"four"


def test_put_if_match_on_a_missing_key_is_no_such_key(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="out", Key="nothing", Body=b"x", IfMatch='"0123"')
    assert refusal(exc) == ("NoSuchKey", 404)
    assert keys(s3) == []


def test_put_if_none_match_with_an_etag_is_not_implemented(s3: Any) -> None:
    etag = s3.put_object(Bucket="out", Key="k", Body=b"one")["ETag"]
    for value in (etag, '"0123"'):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket="out", Key="k", Body=b"two", IfNoneMatch=value)
        assert refusal(exc) == ("NotImplemented", 501)
        assert exc.value.response["Error"]["Message"].startswith(
            "A header you provided implies functionality that is not implemented"
        )
    assert body_of(s3, "k") == b"one"


def _upload(s3: Any, key: str, data: bytes) -> tuple[str, list[dict[str, Any]]]:
    upload = s3.create_multipart_upload(Bucket="out", Key=key)["UploadId"]
    etag = s3.upload_part(Bucket="out", Key=key, UploadId=upload, PartNumber=1, Body=data)["ETag"]
    return upload, [{"PartNumber": 1, "ETag": etag}]


def _complete(s3: Any, key: str, upload: str, parts: list[dict[str, Any]], **cond: str) -> Any:
    return s3.complete_multipart_upload(
        Bucket="out", Key=key, UploadId=upload, MultipartUpload={"Parts": parts}, **cond
    )


def test_complete_multipart_if_none_match_star(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="taken", Body=b"first")
    upload, parts = _upload(s3, "taken", b"second")
    with pytest.raises(ClientError) as exc:
        _complete(s3, "taken", upload, parts, IfNoneMatch="*")
    assert refusal(exc) == ("PreconditionFailed", 412)
    assert body_of(s3, "taken") == b"first"
    # The refused upload is still there: the client may complete it without the condition.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="out")["Uploads"]] == [upload]
    _complete(s3, "taken", upload, parts)
    assert body_of(s3, "taken") == b"second"
    fresh, fresh_parts = _upload(s3, "fresh", b"new")
    _complete(s3, "fresh", fresh, fresh_parts, IfNoneMatch="*")
    assert body_of(s3, "fresh") == b"new"


def test_complete_multipart_if_match(s3: Any) -> None:
    old = s3.put_object(Bucket="out", Key="k", Body=b"old")["ETag"]
    upload, parts = _upload(s3, "k", b"p" * 10)
    with pytest.raises(ClientError) as exc:
        _complete(s3, "k", upload, parts, IfMatch='"0123"')
    assert refusal(exc) == ("PreconditionFailed", 412)
    assert body_of(s3, "k") == b"old"
    done = _complete(s3, "k", upload, parts, IfMatch=old)
    assert done["ETag"].endswith('-1"')
    assert body_of(s3, "k") == b"p" * 10
    missing, missing_parts = _upload(s3, "missing", b"m")
    with pytest.raises(ClientError) as exc:
        _complete(s3, "missing", missing, missing_parts, IfMatch=old)
    assert refusal(exc) == ("NoSuchKey", 404)
    assert "missing" not in keys(s3)


def test_complete_multipart_if_none_match_with_an_etag_is_not_implemented(s3: Any) -> None:
    upload, parts = _upload(s3, "k", b"p")
    with pytest.raises(ClientError) as exc:
        _complete(s3, "k", upload, parts, IfNoneMatch='"0123"')
    assert refusal(exc) == ("NotImplemented", 501)
    assert keys(s3) == []


def test_copy_object_destination_conditions(s3: Any) -> None:
    """CopyObject API: If-Match / If-None-Match apply to the destination object ("Copies the
    object if the entity tag (ETag) of the destination object matches"; "only if the object
    key name at the destination does not already exist"). moto 5.2 does not check them."""
    dst = s3.put_object(Bucket="out", Key="dst", Body=b"dest")["ETag"]
    source = {"Bucket": "labresults", "Key": "a.txt"}
    refused: list[tuple[str, dict[str, str], tuple[str, int]]] = [
        ("dst", {"IfNoneMatch": "*"}, ("PreconditionFailed", 412)),
        ("dst", {"IfMatch": '"0123"'}, ("PreconditionFailed", 412)),
        ("new", {"IfMatch": dst}, ("NoSuchKey", 404)),
        ("dst", {"IfNoneMatch": dst}, ("NotImplemented", 501)),
    ]
    for key, conditions, answer in refused:
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket="out", Key=key, CopySource=source, **conditions)
        assert refusal(exc) == answer, conditions
    assert keys(s3) == ["dst"]
    assert body_of(s3, "dst") == b"dest"
    s3.copy_object(Bucket="out", Key="dst", CopySource=source, IfMatch=dst)
    s3.copy_object(Bucket="out", Key="fresh", CopySource=source, IfNoneMatch="*")
    original = s3.get_object(Bucket="labresults", Key="a.txt")["Body"].read()
    assert body_of(s3, "dst") == body_of(s3, "fresh") == original
