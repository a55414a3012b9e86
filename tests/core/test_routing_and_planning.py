"""Pure core: parse -> classify -> plan, table-driven. No backend, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pachs3.core import errors, plans
from pachs3.core.http import RequestHead
from pachs3.core.layout import Bucket, SidecarLayout
from pachs3.core.planner import plan
from pachs3.core.refs import CommitRef
from pachs3.core.request import parse
from pachs3.core.routing import classify

NOW = datetime(2026, 11, 25, tzinfo=UTC)
INPUT = CommitRef(repo="labresults", id="a" * 32)
OUTPUT = CommitRef(repo="pipeline", id="b" * 32)
LAYOUT = SidecarLayout.of(
    [
        Bucket(name="labresults", ref=INPUT, writable=False, created=NOW),
        Bucket(name="out", ref=OUTPUT, writable=True, created=NOW),
    ]
)


def head(
    method: str,
    path: str,
    query: str = "",
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1:9000",
) -> RequestHead:
    pairs = []
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return RequestHead(
        method=method,
        path=path,
        query=tuple(pairs),
        headers=tuple((k.lower(), v) for k, v in (headers or {}).items()),
        host=host,
    )


def planned(*args: Any, **kwargs: Any) -> plans.Plan:
    request = parse(head(*args, **kwargs), virtual_host_buckets=LAYOUT.buckets.keys())
    return plan(classify(request), request, LAYOUT)


# ---------------------------------------------------------------------------------------------
# parse


@pytest.mark.parametrize(
    ("path", "bucket", "key"),
    [
        ("/", None, None),
        ("/labresults", "labresults", None),
        ("/labresults/", "labresults", None),  # s3cmd's bucket form
        ("/labresults/a.txt", "labresults", "a.txt"),
        ("/labresults/dir/", "labresults", "dir/"),  # a directory marker key
        (
            "/b/sp%20ace+plus%25pct%26amp%3Deq%C3%BC%E2%82%AC~.txt",
            "b",
            "sp ace+plus%pct&amp=eqü€~.txt",
        ),
        ("/b/a//b", "b", "a//b"),
        ("/b/../x", "b", "../x"),
        ("/b/%2F", "b", "/"),
        ("http://host:9/b/k", "b", "k"),  # absolute URI in the request line
    ],
)
def test_parse_path(path: str, bucket: str | None, key: str | None) -> None:
    request = parse(head("GET", path))
    assert (request.bucket, request.key) == (bucket, key)


def test_plus_in_path_is_a_literal_plus() -> None:
    assert parse(head("GET", "/b/a+b")).key == "a+b"


def test_blank_query_values_are_kept() -> None:
    request = parse(head("GET", "/b", "delimiter=&uploads"))
    assert request.query == {"delimiter": "", "uploads": ""}


def test_key_longer_than_1024_bytes_is_refused() -> None:
    with pytest.raises(errors.S3Error) as exc:
        parse(head("PUT", "/out/" + "€" * 342))  # 1026 bytes of UTF-8
    assert exc.value.code == "KeyTooLongError"


def test_key_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(errors.S3Error) as exc:
        parse(head("GET", "/b/%FF%FE"))
    assert exc.value.code == "InvalidArgument"


def test_virtual_host_addressing_for_known_buckets_only() -> None:
    virtual = parse(
        head("GET", "/a.txt", host="labresults.localhost:9000"), virtual_host_buckets={"labresults"}
    )
    assert (virtual.bucket, virtual.key) == ("labresults", "a.txt")
    path_style = parse(
        head("GET", "/labresults/a.txt", host="s3.localhost"), virtual_host_buckets={"labresults"}
    )
    assert (path_style.bucket, path_style.key) == ("labresults", "a.txt")


# ---------------------------------------------------------------------------------------------
# classify: the routing table


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("GET", "/", "", {}, "ListBuckets"),
        ("HEAD", "/out", "", {}, "HeadBucket"),
        ("PUT", "/out", "", {}, "CreateBucket"),
        ("DELETE", "/out", "", {}, "DeleteBucket"),
        ("GET", "/out", "list-type=2&prefix=a", {}, "ListObjects"),
        ("GET", "/out", "location", {}, "GetBucketLocation"),
        ("GET", "/out", "location=", {}, "GetBucketLocation"),  # minio-py's form
        ("GET", "/out", "versioning", {}, "GetBucketVersioning"),
        ("GET", "/out", "uploads", {}, "ListMultipartUploads"),
        ("POST", "/out", "delete=", {}, "DeleteObjects"),
        ("GET", "/out", "acl", {}, "GetBucketAcl"),
        ("GET", "/out", "policy", {}, "GetBucketConfiguration"),
        ("GET", "/out/k", "", {}, "GetObject"),
        ("HEAD", "/out/k", "", {}, "HeadObject"),
        ("PUT", "/out/k", "x-id=PutObject", {}, "PutObject"),  # newer botocore adds x-id
        ("PUT", "/out/k", "", {"x-amz-copy-source": "b/k"}, "PutObject"),  # CopyObject plan
        ("DELETE", "/out/k", "", {}, "DeleteObject"),
        ("POST", "/out/k", "uploads", {}, "CreateMultipartUpload"),
        ("PUT", "/out/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("POST", "/out/k", "uploadId=u", {}, "CompleteMultipartUpload"),
        ("DELETE", "/out/k", "uploadId=u", {}, "AbortMultipartUpload"),
        ("GET", "/out/k", "uploadId=u", {}, "ListParts"),
        ("PUT", "/out/k", "acl", {}, "PutObjectAcl"),  # never a PutObject (s3cmd)
        ("GET", "/out/k", "tagging", {}, "GetObjectTagging"),
    ],
)
def test_routing_table(
    method: str, path: str, query: str, headers: dict[str, str], operation: str
) -> None:
    assert classify(parse(head(method, path, query, headers))) == operation


@pytest.mark.parametrize(
    ("method", "path", "query", "code"),
    [
        ("PUT", "/out/k", "tagging", "NotImplemented"),
        ("PUT", "/out/k", "retention", "NotImplemented"),
        ("POST", "/out/k", "select", "NotImplemented"),
        ("PUT", "/out/k", "something-new", "NotImplemented"),  # unknown name on a write
        ("PATCH", "/out/k", "", "MethodNotAllowed"),
        ("POST", "/out/k", "", "MethodNotAllowed"),
        ("POST", "/", "", "MethodNotAllowed"),
    ],
)
def test_routing_refusals(method: str, path: str, query: str, code: str) -> None:
    with pytest.raises(errors.S3Error) as exc:
        classify(parse(head(method, path, query)))
    assert exc.value.code == code


def test_unknown_query_names_are_ignored_on_reads() -> None:
    assert classify(parse(head("GET", "/out/k", "cachebuster=1"))) == "GetObject"


# ---------------------------------------------------------------------------------------------
# plan: bucket policy and typed parameters


@pytest.mark.parametrize(
    ("method", "path", "query", "headers"),
    [
        ("PUT", "/labresults/k", "", {"content-length": "1"}),
        ("DELETE", "/labresults/k", "", {}),
        ("POST", "/labresults", "delete", {"content-length": "10"}),
        ("POST", "/labresults/k", "uploads", {}),
        ("PUT", "/labresults/k", "", {"x-amz-copy-source": "labresults/a", "content-length": "0"}),
        ("PUT", "/labresults/k", "acl", {}),
        ("PUT", "/labresults", "acl", {}),
        ("GET", "/labresults", "uploads", {}),
        ("DELETE", "/labresults", "", {}),
        ("PUT", "/newbucket", "", {}),
    ],
)
def test_writes_outside_out_are_access_denied(
    method: str, path: str, query: str, headers: dict[str, str]
) -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned(method, path, query, headers)
    assert exc.value.code == "AccessDenied"
    assert exc.value.status == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope/k"), ("GET", "/nope"), ("PUT", "/nope/k"), ("HEAD", "/nope")],
)
def test_unknown_buckets(method: str, path: str) -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned(method, path, headers={"content-length": "0"})
    assert exc.value.code == "NoSuchBucket"


def test_reads_of_out_are_allowed() -> None:
    read = planned("GET", "/out/k")
    assert isinstance(read, plans.ReadFile)
    assert read.ref == OUTPUT


def test_an_object_acl_is_answered_only_for_an_object_that_exists() -> None:
    bucket_acl = planned("GET", "/labresults", "acl")
    object_acl = planned("GET", "/labresults/dir/a.txt", "acl")
    assert isinstance(bucket_acl, plans.Answer)
    assert isinstance(object_acl, plans.Answer)
    assert bucket_acl.file_must_exist is None
    assert object_acl.file_must_exist == (INPUT, "dir/a.txt")  # NoSuchKey when missing
    assert object_acl.document == bucket_acl.document


def test_get_object_plan_carries_range_conditions_and_checksum_mode() -> None:
    read = planned(
        "GET",
        "/labresults/a.txt",
        "response-content-type=text/csv",
        {"range": "bytes=0-9", "if-match": '"abc"', "x-amz-checksum-mode": "enabled"},
    )
    assert isinstance(read, plans.ReadFile)
    assert (read.ref, read.path, read.range_header) == (INPUT, "a.txt", "bytes=0-9")
    assert read.conditions.if_match == '"abc"'
    assert read.checksum_mode  # pyarrow sends it lower-case
    assert read.overrides == (("content-type", "text/csv"),)


def test_put_plan_reads_framing_digests_and_metadata() -> None:
    write = planned(
        "PUT",
        "/out/k",
        headers={
            "transfer-encoding": "chunked",
            "content-encoding": "gzip,aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": "12",
            "x-amz-trailer": "x-amz-checksum-crc64nvme",
            "content-type": "text/plain",
            "x-amz-meta-mtime": "17",
        },
    )
    assert isinstance(write, plans.WriteFile)
    assert write.body.framing == "aws-chunked"
    assert write.body.decoded_length == 12
    assert write.body.trailer_names == ("crc64nvme",)
    assert write.metadata == {
        "content-type": "text/plain",
        "content-encoding": "gzip",  # aws-chunked is framing, not the object's encoding
        "x-amz-meta-mtime": "17",
    }


def test_put_without_length_or_chunking_is_411() -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned("PUT", "/out/k")
    assert exc.value.code == "MissingContentLength"


def test_user_metadata_over_2kb_is_refused() -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned("PUT", "/out/k", headers={"content-length": "0", "x-amz-meta-big": "x" * 2100})
    assert exc.value.code == "MetadataTooLarge"


@pytest.mark.parametrize(
    ("source", "bucket", "key"),
    [
        ("labresults/dir/a.txt", "labresults", "dir/a.txt"),
        ("/labresults/dir/a.txt", "labresults", "dir/a.txt"),  # minio-py's leading slash
        ("labresults/sp%20ace%2Bplus", "labresults", "sp ace+plus"),
        (f"labresults/a.txt?versionId={'0' * 32}", "labresults", "a.txt"),
        ("out/x", "out", "x"),
    ],
)
def test_copy_source_forms(source: str, bucket: str, key: str) -> None:
    copy = planned("PUT", "/out/dst", headers={"x-amz-copy-source": source})
    assert isinstance(copy, plans.CopyFile)
    assert (copy.src_bucket, copy.src_path, copy.dst_path) == (bucket, key, "dst")
    assert copy.metadata is None
    assert (copy.src_version is not None) == ("?versionId=" in source)


def test_copy_source_with_a_malformed_version_is_invalid() -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned("PUT", "/out/dst", headers={"x-amz-copy-source": "labresults/a.txt?versionId=xyz"})
    assert exc.value.code == "InvalidArgument"


def test_copy_onto_itself_without_new_metadata_is_invalid() -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned("PUT", "/out/x", headers={"x-amz-copy-source": "out/x"})
    assert exc.value.code == "InvalidRequest"


@pytest.mark.parametrize("number", ["0", "10001", "-1", "abc", ""])
def test_part_numbers_outside_range(number: str) -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned("PUT", "/out/k", f"partNumber={number}&uploadId=u", {"content-length": "1"})
    assert exc.value.code == "InvalidArgument"


def test_list_v2_plan() -> None:
    listing = planned(
        "GET",
        "/labresults",
        "list-type=2&prefix=a%2F&delimiter=/&max-keys=5000&encoding-type=url&start-after=a/b&fetch-owner=true",
    )
    assert isinstance(listing, plans.ListFiles)
    assert listing.version == 2
    assert listing.max_keys == 1000  # AWS lowers larger values
    assert listing.delimiter == "/"
    assert listing.encode_url
    assert listing.fetch_owner
    assert listing.start_after == "a/b"


def test_list_v1_plan_with_empty_delimiter() -> None:
    listing = planned("GET", "/labresults", "delimiter=&marker=m")
    assert isinstance(listing, plans.ListFiles)
    assert (listing.version, listing.delimiter, listing.start_after) == (1, "", "m")


@pytest.mark.parametrize("query", ["max-keys=-1", "max-keys=x", "encoding-type=base64"])
def test_bad_listing_parameters(query: str) -> None:
    with pytest.raises(errors.S3Error) as exc:
        planned("GET", "/labresults", "list-type=2&" + query)
    assert exc.value.code == "InvalidArgument"


def test_create_bucket_on_a_mapped_name_is_an_answer() -> None:
    answer = planned("PUT", "/out")
    assert isinstance(answer, plans.Answer)
    assert answer.status == 200


def test_bucket_configurations_give_no_such_errors() -> None:
    for query, code in [("policy", "NoSuchBucketPolicy"), ("cors", "NoSuchCORSConfiguration")]:
        with pytest.raises(errors.S3Error) as exc:
            planned("GET", "/labresults", query)
        assert exc.value.code == code


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("aws-chunked", None),
        ("aws-chunked, gzip", "gzip"),
        ("gzip,aws-chunked", "gzip"),
        ("AWS-Chunked ,gzip", "gzip"),
        ("gzip, aws-chunked, br", "gzip, br"),
        ("gzip ,  br", "gzip ,  br"),  # no aws-chunked: kept exactly as sent
        ("x-custom;q=1", "x-custom;q=1"),
    ],
)
def test_content_encoding_drops_aws_chunked_and_keeps_the_rest_as_sent(
    sent: str, stored: str | None
) -> None:
    write = planned("PUT", "/out/k", headers={"content-length": "0", "content-encoding": sent})
    assert isinstance(write, plans.WriteFile)
    assert write.metadata.get("content-encoding") == stored
