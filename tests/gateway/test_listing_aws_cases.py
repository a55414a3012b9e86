"""Listing answers as AWS gives them, in the cases ceph's s3-tests checks against AWS.

Each test names its s3-tests counterpart. The boto3 suite's fixtures run each through every
transport and backend (tests/gateway/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

# s3-tests' keys; PFS refuses "+" in a name (pachd's ValidateFilename), so on the Pachyderm
# backend the plus keys are left out and only the space is checked.
KEYS = ["foo+1/bar", "foo/bar/xyzzy", "quux ab/thud", "asdf+b"]
PFS_KEYS = [key for key in KEYS if "+" not in key]


@pytest.fixture
def keys(backend_name: str) -> list[str]:
    return PFS_KEYS if backend_name == "pachyderm" else KEYS


@pytest.fixture
def listed(s3: Any, keys: list[str]) -> Any:
    for key in keys:
        s3.put_object(Bucket="out", Key=key, Body=b"x")
    return s3


@pytest.mark.parametrize("v2", [False, True])
def test_encoding_type_url_percent_encodes_space_and_plus(
    listed: Any, keys: list[str], v2: bool
) -> None:
    """test_bucket_list_encoding_basic / test_bucket_listv2_encoding_basic: asked for
    explicitly, the encoding is left to the caller to undo (botocore decodes only what it
    asked for itself), so these are the bytes on the wire."""
    list_objects = listed.list_objects_v2 if v2 else listed.list_objects
    page = list_objects(Bucket="out", Delimiter="/", EncodingType="url")
    assert page["Delimiter"] == "/"
    if keys == KEYS:
        assert [c["Key"] for c in page["Contents"]] == ["asdf%2Bb"]
        assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["foo%2B1/", "foo/", "quux%20ab/"]
    else:
        assert "Contents" not in page
        assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["foo/", "quux%20ab/"]


@pytest.mark.parametrize("v2", [False, True])
def test_a_prefix_with_a_control_character_is_echoed_as_sent(listed: Any, v2: bool) -> None:
    """test_bucket_list_prefix_unreadable / test_bucket_listv2_prefix_unreadable: boto3 asks
    for encoding-type=url itself and decodes V2's Prefix but not V1's, so AWS encodes the one
    and echoes the other as sent; either way the caller reads back "\\n"."""
    list_objects = listed.list_objects_v2 if v2 else listed.list_objects
    page = list_objects(Bucket="out", Prefix="\x0a")
    assert page["Prefix"] == "\x0a"
    assert "Contents" not in page
    assert "CommonPrefixes" not in page


def test_an_empty_continuation_token_lists_from_the_start(listed: Any, keys: list[str]) -> None:
    """test_bucket_listv2_continuationtoken_empty: AWS lists and echoes the empty token."""
    page = listed.list_objects_v2(Bucket="out", ContinuationToken="")
    assert page["ContinuationToken"] == ""
    assert page["IsTruncated"] is False
    assert [c["Key"] for c in page["Contents"]] == sorted(keys)
