"""Conditional deletes as AWS answers them (issue 15), through every transport on every backend
(the fixtures of conftest.py).

AWS (S3 user guide, "How to perform conditional deletes"; DeleteObject and DeleteObjects API
reference): DeleteObject with ``If-Match`` (an ETag, or ``*`` for any object) deletes only that
version, 412 PreconditionFailed otherwise, 404 NoSuchKey when there is no object (the answer a
conditional delete gets when another delete won the race); ``x-amz-if-match-size`` and
``x-amz-if-match-last-modified-time`` alone, or with each other, are 412 when they differ and
204 when the object does not exist. DeleteObjects carries the same conditions per object
(``<ETag>``, ``<LastModifiedTime>``, ``<Size>``): a failed one is an ``<Error>`` entry with the
code, the others are ``<Deleted>``. Every refusal is followed by a check that nothing changed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError


def refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def keys(s3: Any) -> list[str]:
    return [obj["Key"] for obj in s3.list_objects_v2(Bucket="out").get("Contents", [])]


def status(response: Any) -> int:
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


def test_delete_if_match(s3: Any) -> None:
    etag = s3.put_object(Bucket="out", Key="k", Body=b"data")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket="out", Key="k", IfMatch='"0123"')
    assert refusal(exc) == ("PreconditionFailed", 412)
    assert keys(s3) == ["k"]
    assert status(s3.delete_object(Bucket="out", Key="k", IfMatch=etag)) == 204
    assert keys(s3) == []
    # Gone now: a conditional delete of a missing object is NoSuchKey, '*' included.
    for value in (etag, "*"):
        with pytest.raises(ClientError) as exc:
            s3.delete_object(Bucket="out", Key="k", IfMatch=value)
        assert refusal(exc) == ("NoSuchKey", 404)


def test_delete_if_match_star_deletes_whatever_is_there(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="k", Body=b"data")
    assert status(s3.delete_object(Bucket="out", Key="k", IfMatch="*")) == 204
    assert keys(s3) == []


def test_delete_if_match_size_and_last_modified_time(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="k", Body=b"four")
    modified = s3.head_object(Bucket="out", Key="k")["LastModified"]
    refused: list[dict[str, Any]] = [
        {"IfMatchSize": 5},
        {"IfMatchLastModifiedTime": modified - timedelta(seconds=1)},
        {"IfMatchSize": 4, "IfMatchLastModifiedTime": modified + timedelta(seconds=1)},
    ]
    for conditions in refused:
        with pytest.raises(ClientError) as exc:
            s3.delete_object(Bucket="out", Key="k", **conditions)
        assert refusal(exc) == ("PreconditionFailed", 412), conditions
        assert keys(s3) == ["k"]
    done = s3.delete_object(Bucket="out", Key="k", IfMatchSize=4, IfMatchLastModifiedTime=modified)
    assert status(done) == 204
    assert keys(s3) == []
    # Without If-Match, a missing object is a 204 (DeleteObject API reference).
    assert status(s3.delete_object(Bucket="out", Key="k", IfMatchSize=4)) == 204


def test_delete_objects_with_per_object_conditions(s3: Any) -> None:
    etags = {
        key: s3.put_object(Bucket="out", Key=key, Body=key.encode())["ETag"]
        for key in ("a", "bb", "ccc", "dddd", "eeeee")
    }
    modified = s3.head_object(Bucket="out", Key="dddd")["LastModified"]
    result = s3.delete_objects(
        Bucket="out",
        Delete={
            "Objects": [
                {"Key": "a", "ETag": etags["a"]},  # matches: deleted
                {"Key": "bb", "ETag": '"0123"'},  # another version: PreconditionFailed
                {"Key": "ccc", "Size": 3},  # matches
                {"Key": "dddd", "Size": 4, "LastModifiedTime": modified - timedelta(seconds=5)},
                {"Key": "eeeee"},  # no condition
                {"Key": "missing", "ETag": etags["a"]},  # If-Match on no object: NoSuchKey
                {"Key": "also-missing", "Size": 1},  # no ETag: deleted, as a plain delete
            ]
        },
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "also-missing", "ccc", "eeeee"]
    assert sorted((e["Key"], e["Code"]) for e in result["Errors"]) == [
        ("bb", "PreconditionFailed"),
        ("dddd", "PreconditionFailed"),
        ("missing", "NoSuchKey"),
    ]
    assert keys(s3) == ["bb", "dddd"]


def test_delete_objects_quiet_reports_failed_conditions(s3: Any) -> None:
    s3.put_object(Bucket="out", Key="k", Body=b"x")
    result = s3.delete_objects(
        Bucket="out", Delete={"Objects": [{"Key": "k", "Size": 2}], "Quiet": True}
    )
    assert "Deleted" not in result
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("k", "PreconditionFailed")]
    assert keys(s3) == ["k"]
