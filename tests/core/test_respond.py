"""Pure core: the responders, (plan, outcome) -> S3Response, and the error document."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from pachs3.core import errors, outcomes, plans, respond
from pachs3.core.http import BytesStream
from pachs3.core.ranges import ByteRange
from pachs3.core.refs import CommitRef, FileInfo
from pachs3.core.respond import error_response

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
REF = CommitRef(repo="r", id="c" * 32)
WHEN = datetime(2026, 11, 25, 18, 53, 36, 123456, tzinfo=UTC)
INFO = FileInfo(
    path="dir/a b+c.txt",
    size=10,
    etag="0123456789abcdef0123456789abcdef",
    modified=WHEN,
    commit="c" * 32,
    metadata={
        "content-type": "text/csv",
        "x-amz-meta-origin": "unit",
        "x-amz-checksum-crc32": "AAAAAA==",
    },
)


def body(response: object) -> bytes:
    return b"".join(response.body)


def headers(response: object) -> dict[str, str]:
    return dict(response.headers)


def test_error_document_and_status() -> None:
    response = error_response(
        errors.NoSuchKey(), resource="/b/k", request_id="REQ", head_only=False
    )
    assert response.status == 404
    document = body(response)
    root = ET.fromstring(document)
    assert root.tag == "Error"
    assert [child.tag for child in root] == ["Code", "Message", "Resource", "RequestId"]
    assert root.findtext("Code") == "NoSuchKey"
    assert root.findtext("Resource") == "/b/k"
    assert root.findtext("RequestId") == "REQ"
    assert headers(response)["content-length"] == str(len(document))


def test_head_errors_have_no_body() -> None:
    response = error_response(errors.NoSuchKey(), resource="/b/k", request_id="R", head_only=True)
    assert response.status == 404
    assert body(response) == b""
    assert "content-length" not in headers(response)


def test_invalid_range_carries_content_range() -> None:
    error = errors.InvalidRange(headers=(("content-range", "bytes */10"),))
    response = error_response(error, resource="/b/k", request_id="R", head_only=False)
    assert response.status == 416
    assert headers(response)["content-range"] == "bytes */10"


def test_get_headers_of_a_whole_object() -> None:
    plan = plans.ReadFile(ref=REF, bucket="b", path=INFO.path)
    response = respond.file_read(
        plan, outcomes.FileRead(info=INFO, body=BytesStream(b"0123456789"))
    )
    got = headers(response)
    assert response.status == 200
    assert got["content-length"] == "10"
    assert got["etag"] == f'"{INFO.etag}"'
    assert got["last-modified"] == "Wed, 25 Nov 2026 18:53:36 GMT"
    assert got["accept-ranges"] == "bytes"
    assert got["content-type"] == "text/csv"
    assert got["x-amz-meta-origin"] == "unit"
    assert "x-amz-checksum-crc32" not in got  # only with x-amz-checksum-mode
    assert body(response) == b"0123456789"


def test_checksum_mode_returns_full_object_checksums_only() -> None:
    plan = plans.ReadFile(ref=REF, bucket="b", path=INFO.path, checksum_mode=True)
    got = headers(respond.file_read(plan, outcomes.FileRead(info=INFO, body=BytesStream(b""))))
    assert got["x-amz-checksum-crc32"] == "AAAAAA=="
    assert got["x-amz-checksum-type"] == "FULL_OBJECT"
    ranged = outcomes.FileRead(
        info=INFO, body=BytesStream(b""), range=ByteRange(start=0, end=1, size=10)
    )
    assert "x-amz-checksum-crc32" not in headers(respond.file_read(plan, ranged))


def test_ranged_get_is_206_with_content_range() -> None:
    plan = plans.ReadFile(ref=REF, bucket="b", path=INFO.path)
    response = respond.file_read(
        plan,
        outcomes.FileRead(
            info=INFO, body=BytesStream(b"234"), range=ByteRange(start=2, end=4, size=10)
        ),
    )
    assert response.status == 206
    assert headers(response)["content-range"] == "bytes 2-4/10"
    assert headers(response)["content-length"] == "3"


def test_not_modified_has_no_body() -> None:
    plan = plans.ReadFile(ref=REF, bucket="b", path=INFO.path)
    response = respond.file_read(plan, outcomes.FileRead(info=INFO, body=None, not_modified=True))
    assert response.status == 304
    assert body(response) == b""
    assert headers(response)["etag"] == f'"{INFO.etag}"'


def test_response_overrides_replace_stored_headers() -> None:
    plan = plans.ReadFile(
        ref=REF, bucket="b", path=INFO.path, overrides=(("content-type", "application/x-foo"),)
    )
    got = headers(respond.file_read(plan, outcomes.FileRead(info=INFO, body=BytesStream(b""))))
    assert got["content-type"] == "application/x-foo"


@pytest.mark.parametrize("encode", [False, True])
def test_list_v2_document(encode: bool) -> None:
    plan = plans.ListFiles(
        ref=REF,
        bucket="b",
        version=2,
        prefix="dir/",
        delimiter="/",
        max_keys=2,
        encode_url=encode,
        continuation_token="tok",
    )
    listed = outcomes.Listed(
        files=(INFO,), prefixes=("dir/sub dir/",), truncated=True, last="dir/sub dir/"
    )
    root = ET.fromstring(body(respond.listed(plan, listed)))
    assert root.tag == NS + "ListBucketResult"
    assert root.findtext(NS + "KeyCount") == "2"
    assert root.findtext(NS + "IsTruncated") == "true"
    assert root.findtext(NS + "ContinuationToken") == "tok"
    assert root.findtext(NS + "NextContinuationToken")
    key = root.findtext(f"{NS}Contents/{NS}Key")
    prefix = root.findtext(f"{NS}CommonPrefixes/{NS}Prefix")
    if encode:
        # Percent-encoding: space is "%20", "+" is "%2B", "/" stays (s3-tests encoding_basic).
        assert root.findtext(NS + "EncodingType") == "url"
        assert (key, prefix) == ("dir/a%20b%2Bc.txt", "dir/sub%20dir/")
    else:
        assert root.find(NS + "EncodingType") is None
        assert (key, prefix) == ("dir/a b+c.txt", "dir/sub dir/")
    assert root.findtext(f"{NS}Contents/{NS}LastModified") == "2026-11-25T18:53:36.123Z"
    assert root.findtext(f"{NS}Contents/{NS}ETag") == f'"{INFO.etag}"'
    assert root.findtext(f"{NS}Contents/{NS}ChecksumAlgorithm") == "CRC32"


def test_list_v1_document_has_marker_and_next_marker() -> None:
    plan = plans.ListFiles(ref=REF, bucket="b", version=1, marker="a", start_after="a", max_keys=1)
    listed = outcomes.Listed(files=(INFO,), prefixes=(), truncated=True, last=INFO.path)
    root = ET.fromstring(body(respond.listed(plan, listed)))
    assert root.findtext(NS + "Marker") == "a"
    assert root.findtext(NS + "NextMarker") == INFO.path
    assert root.find(NS + "KeyCount") is None
    assert root.find(f"{NS}Contents/{NS}Owner") is not None


def test_write_and_delete_responses() -> None:
    written = respond.file_written(
        plans.WriteFile(ref=REF, bucket="out", path="k", body=plans.BodySpec()),
        outcomes.FileWritten(info=INFO, checksums={"crc32": "AAAAAA=="}),
    )
    assert written.status == 200
    assert headers(written)["etag"] == f'"{INFO.etag}"'
    assert headers(written)["x-amz-checksum-crc32"] == "AAAAAA=="
    deleted = respond.file_deleted(
        plans.DeleteFile(ref=REF, bucket="out", path="k"), outcomes.FileDeleted()
    )
    assert deleted.status == 204


def test_quiet_delete_lists_only_failures() -> None:
    plan = plans.DeleteFiles(ref=REF, bucket="out", body=plans.BodySpec())
    failure = outcomes.DeleteFailure(key="x", code="AccessDenied", message="no")
    done = outcomes.FilesDeleted(deleted=("a", "b"), failed=(failure,), quiet=True)
    root = ET.fromstring(body(respond.files_deleted(plan, done)))
    assert root.findall(NS + "Deleted") == []
    assert root.findtext(f"{NS}Error/{NS}Key") == "x"


def test_complete_upload_document() -> None:
    upload = plans.UploadRef(
        staging=CommitRef(repo="s", id="u"), bucket="out", key="big.bin", dst=REF
    )
    plan = plans.ComposeParts(upload=upload, dst=REF, body=plans.BodySpec())
    info = FileInfo(path="big.bin", size=1, etag="abc-3", modified=WHEN, commit="c")
    root = ET.fromstring(body(respond.parts_composed(plan, outcomes.PartsComposed(info=info))))
    assert root.findtext(NS + "ETag") == '"abc-3"'
    assert root.findtext(NS + "Key") == "big.bin"
    assert root.findtext(NS + "Bucket") == "out"


def test_acl_grantee_carries_its_xsi_type() -> None:
    """s3cmd's ACL parser reads the Grantee's xsi:type attribute (KeyError without it)."""
    from pachs3.core import documents

    root = ET.fromstring(documents.access_control_policy())
    grantee = root.find(f"{NS}AccessControlList/{NS}Grant/{NS}Grantee")
    assert grantee is not None
    assert grantee.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "CanonicalUser"
