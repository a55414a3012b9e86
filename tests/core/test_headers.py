"""Pure core: what the request headers say (core/headers.py): body framing and digests, the
metadata kept with an object, copy sources, conditions and response overrides."""

from __future__ import annotations

import pytest

from pachs3.core import errors, headers
from pachs3.core.chunked import STREAMING_MODES
from pachs3.core.http import RequestHead
from pachs3.core.request import S3Request, parse

SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def request(*pairs: tuple[str, str], path: str = "/out/k", query: str = "") -> S3Request:
    split = (pair.partition("=") for pair in query.split("&") if pair)
    query_pairs = tuple((name, value) for name, _, value in split)
    return parse(RequestHead(method="PUT", path=path, headers=pairs, query=query_pairs))


def test_a_plain_body_with_its_digests() -> None:
    spec = headers.body_spec(
        request(
            ("content-length", "12"),
            ("content-md5", "abc="),
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("x-amz-content-sha256", SHA.upper()),
            ("x-amz-trailer", "x-amz-checksum-crc32c"),  # only aws-chunked bodies have trailers
        )
    )
    assert (spec.framing, spec.content_length, spec.payload_length) == ("plain", 12, 12)
    assert spec.content_md5 == "abc="
    assert dict(spec.checksums) == {"crc32": "AAAAAA=="}
    assert spec.content_sha256 == SHA  # lower-cased, so it compares with hexdigest()
    assert spec.trailer_names == ()


def test_an_aws_chunked_body_with_a_trailer() -> None:
    spec = headers.body_spec(
        request(
            ("content-length", "100"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", "60"),
            ("x-amz-trailer", "x-amz-checksum-crc64nvme, x-amz-checksum-nope"),
        )
    )
    assert spec.framing == "aws-chunked"
    assert spec.streaming is STREAMING_MODES["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
    assert spec.payload_length == 60
    assert spec.content_sha256 is None
    assert spec.trailer_names == ("crc64nvme",)
    assert spec.algorithms == ("crc64nvme",)


def test_a_body_without_a_length_or_chunked_framing_is_411() -> None:
    with pytest.raises(errors.MissingContentLength):
        headers.body_spec(request())
    spec = headers.body_spec(request(("transfer-encoding", "chunked")))
    assert spec.content_length is None


@pytest.mark.parametrize("value", ["x", "-1", "1.5"])
def test_lengths_must_be_non_negative_integers(value: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        headers.body_spec(request(("content-length", value)))


def test_object_metadata_keeps_standard_and_user_headers() -> None:
    kept = headers.object_metadata(
        request(
            ("content-encoding", "aws-chunked, gzip"),
            ("cache-control", "no-cache"),
            ("x-amz-meta-colour", "blue"),
            ("x-amz-acl", "private"),
        )
    )
    assert kept == {
        "content-encoding": "gzip",
        "cache-control": "no-cache",
        "content-type": headers.DEFAULT_CONTENT_TYPE,
        "x-amz-meta-colour": "blue",
    }
    assert "content-encoding" not in headers.object_metadata(
        request(("content-encoding", "aws-chunked"))
    )


def test_user_metadata_names_must_be_tokens_and_small() -> None:
    with pytest.raises(errors.InvalidArgument):
        headers.object_metadata(request(("x-amz-meta-a b", "v")))
    big = "v" * (headers.MAX_USER_METADATA_BYTES + 1)
    with pytest.raises(errors.MetadataTooLarge):
        headers.object_metadata(request(("x-amz-meta-k", big)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("in/a%20b.txt", ("in", "a b.txt")),
        ("/in/dir/k?versionId=abc", ("in", "dir/k")),
    ],
)
def test_copy_source(value: str, expected: tuple[str, str]) -> None:
    assert headers.copy_source(request(("x-amz-copy-source", value))) == expected


@pytest.mark.parametrize("value", ["", "in", "in/", "/k"])
def test_copy_source_needs_a_bucket_and_a_key(value: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        headers.copy_source(request(("x-amz-copy-source", value)))


def test_conditions_and_overrides() -> None:
    req = request(
        ("if-match", '"a"'),
        ("x-amz-copy-source-if-none-match", '"b"'),
        query="response-content-type=text/csv&response-cache-control=max-age=1",
    )
    assert headers.read_conditions(req).if_match == '"a"'
    assert headers.read_conditions(req).if_none_match is None
    source = headers.read_conditions(req, prefix="x-amz-copy-source-")
    assert (source.if_match, source.if_none_match) == (None, '"b"')
    assert headers.response_overrides(req) == (
        ("content-type", "text/csv"),
        ("cache-control", "max-age=1"),
    )
