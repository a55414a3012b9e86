"""Global gateway bucket names (core/bucket_names.py): Pachyderm's grammar, and what is refused."""

from __future__ import annotations

import pytest

from pachs3.core import errors
from pachs3.core.bucket_names import (
    BucketName,
    check_new_bucket_name,
    listed_name,
    parse_bucket_name,
)

COMMIT = "0123456789ab4def0123456789abcdef"  # 32 lowercase hex, the 13th a 4: a UUIDv4 id


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("images", BucketName(repo="images")),
        ("dev.images", BucketName(repo="images", branch="dev")),
        ("dev.images.proj", BucketName(repo="images", branch="dev", project="proj")),
        (f"{COMMIT}.images", BucketName(repo="images", commit=COMMIT)),
        (f"{COMMIT}.dev.images", BucketName(repo="images", branch="dev", commit=COMMIT)),
        (
            f"{COMMIT}.dev.images.proj",
            BucketName(repo="images", branch="dev", project="proj", commit=COMMIT),
        ),
        # Not a UUIDv4 (13th character not 4): a branch name, as Pachyderm reads it.
        (
            "0123456789ab0def0123456789abcdef.images",
            BucketName(repo="images", branch="0123456789ab0def0123456789abcdef"),
        ),
        # A lone commit-shaped name is a repo: the commit id needs a repo after it.
        (COMMIT, BucketName(repo=COMMIT)),
        ("My_Repo", BucketName(repo="My_Repo")),  # PFS holds it; only creating it is refused
    ],
)
def test_names_parse_as_pachyderm_reads_them(name: str, expected: BucketName) -> None:
    assert parse_bucket_name(name) == expected


def test_listing_spells_every_branch_in_three_parts() -> None:
    assert listed_name("images", "dev") == "dev.images.default"
    assert parse_bucket_name(listed_name("images", "dev")) == BucketName(
        repo="images", branch="dev"
    )


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "a..b", ".images", "images.", "a/b", "a b", "a%2eb", "im\x00ages",
     "a.b.c.d", "192.168.1.1", f"{COMMIT}.a.b.c.d", "é", "x" * 256],
)  # fmt: skip
def test_names_that_address_nothing_are_invalid(name: str) -> None:
    with pytest.raises(errors.InvalidBucketName):
        parse_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    ["Images", "my_images", "ab", "x" * 64, "-images", "images-", "xn--images",
     "images-s3alias", "10.0.0.1", f"{COMMIT}.images", "dev.images.proj"],
)  # fmt: skip
def test_create_refuses_what_aws_refuses_or_pfs_cannot_create(name: str) -> None:
    with pytest.raises(errors.InvalidBucketName):
        check_new_bucket_name(name)


@pytest.mark.parametrize("name", ["images", "dev.images", "dev-2.images.default", "a1b"])
def test_create_accepts_plain_names(name: str) -> None:
    assert check_new_bucket_name(name) == parse_bucket_name(name)
