"""Pure core: the decisions of multipart uploads (core/multipart.py), without a backend."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from pachs3.core import errors
from pachs3.core.multipart import (
    MIN_PART_SIZE,
    UploadRecord,
    after_upload_marker,
    check_part_checksums,
    choose_parts,
    is_same_completion,
    multipart_etag,
    part_path,
    parts_page,
)
from pachs3.core.plans import UploadRef
from pachs3.core.refs import CommitRef, FileInfo

WHEN = datetime(2024, 5, 1, tzinfo=UTC)


def part(number: int, data: bytes, size: int | None = None) -> FileInfo:
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return FileInfo(
        path=part_path(number), size=len(data) if size is None else size, etag=etag,
        modified=WHEN, commit="c",
    )  # fmt: skip


def test_part_paths_sort_in_part_order() -> None:
    paths = [part_path(n) for n in (1, 2, 10, 9999)]
    assert paths == sorted(paths) == ["00001", "00002", "00010", "09999"]


def test_choose_parts_takes_the_requested_parts_in_order() -> None:
    staged = {1: part(1, b"a", MIN_PART_SIZE), 2: part(2, b"b", MIN_PART_SIZE), 3: part(3, b"c")}
    chosen = choose_parts([(1, staged[1].etag), (3, staged[3].etag)], staged)
    assert chosen == [staged[1], staged[3]]


@pytest.mark.parametrize("numbers", [[2, 1], [1, 1]])
def test_choose_parts_refuses_parts_out_of_order_or_repeated(numbers: list[int]) -> None:
    staged = {n: part(n, b"x", MIN_PART_SIZE) for n in (1, 2)}
    with pytest.raises(errors.InvalidPartOrder):
        choose_parts([(n, staged[n].etag) for n in numbers], staged)


def test_choose_parts_refuses_a_missing_part_or_a_wrong_etag() -> None:
    staged = {1: part(1, b"a", MIN_PART_SIZE)}
    with pytest.raises(errors.InvalidPart):
        choose_parts([(1, staged[1].etag), (2, "0" * 32)], staged)
    with pytest.raises(errors.InvalidPart):
        choose_parts([(1, "0" * 32)], staged)


def test_every_part_but_the_last_must_be_5_mib() -> None:
    staged = {1: part(1, b"a", MIN_PART_SIZE - 1), 2: part(2, b"b", 1)}
    with pytest.raises(errors.EntityTooSmall):
        choose_parts([(1, staged[1].etag), (2, staged[2].etag)], staged)
    assert choose_parts([(2, staged[2].etag)], staged) == [staged[2]]  # a lone last part


def test_multipart_etag_is_the_md5_of_the_part_md5s_and_the_count() -> None:
    parts = [part(1, b"hello "), part(2, b"world")]
    joined = (
        hashlib.md5(b"hello ", usedforsecurity=False).digest()
        + hashlib.md5(b"world", usedforsecurity=False).digest()
    )
    expected = hashlib.md5(joined, usedforsecurity=False).hexdigest() + "-2"
    assert multipart_etag(parts) == expected


def test_parts_page_continues_after_the_marker() -> None:
    staged = {n: part(n, bytes([n])) for n in (3, 1, 2, 5)}
    page, truncated = parts_page(staged, marker=1, max_parts=2)
    assert [n for n, _info in page] == [2, 3]
    assert truncated
    page, truncated = parts_page(staged, marker=3, max_parts=2)
    assert [n for n, _info in page] == [5]
    assert not truncated


def test_upload_markers_page_by_key_then_upload_id() -> None:
    assert after_upload_marker("b", "u1", "a", "")
    assert not after_upload_marker("a", "u9", "a", "")  # at the key, no id marker: none
    assert after_upload_marker("a", "u2", "a", "u1")
    assert not after_upload_marker("a", "u1", "a", "u1")
    assert after_upload_marker("a", "u1", "", "")


def test_upload_record_round_trips_and_rejects_other_descriptions() -> None:
    record = UploadRecord(
        bucket="out", key="k/ü", dst_repo="r", dst_commit="c1",
        metadata={"content-type": "text/plain"}, checksum_algorithm="crc32",
    )  # fmt: skip
    assert UploadRecord.from_json(record.to_json()) == record
    assert record.belongs_to(CommitRef(repo="r", id="c1"))
    assert not record.belongs_to(CommitRef(repo="r", id="c2"))
    for junk in ("", "not json", "{}", '{"bucket": "b"}', "[1, 2]"):
        assert UploadRecord.from_json(junk) is None


def test_a_completion_repeats_only_with_the_same_upload_and_parts() -> None:
    staging = CommitRef(repo="_pachs3_multipart", id="u1")
    dst = CommitRef(repo="out", id="c1")
    upload = UploadRef(staging=staging, bucket="out", key="k", dst=dst)
    parts = ((1, "a" * 32), (2, "b" * 32))
    assert is_same_completion(upload, parts, upload, parts)
    assert not is_same_completion(upload, parts, upload, parts[:1])
    assert not is_same_completion(upload, parts, upload, ((1, "a" * 32), (2, "c" * 32)))
    other_key = UploadRef(staging=staging, bucket="out", key="k2", dst=dst)
    assert not is_same_completion(upload, parts, other_key, parts)
    other_job = UploadRef(
        staging=staging, bucket="out", key="k", dst=CommitRef(repo="out", id="c2")
    )
    assert not is_same_completion(upload, parts, other_job, parts)


REQUESTED = ((1, "e1"), (2, "e2"))
"""(number, ETag) pairs of a completion document; the ETags do not matter to the check."""


def _crc32_upload(checksum_type: str | None = None) -> UploadRecord:
    return UploadRecord(
        bucket="out", key="k", dst_repo="r", dst_commit="c1", metadata={},
        checksum_algorithm="crc32", checksum_type=checksum_type,
    )  # fmt: skip


def _with_checksum(info: FileInfo, value: str) -> FileInfo:
    return FileInfo(
        path=info.path, size=info.size, etag=info.etag, modified=info.modified,
        commit=info.commit, metadata={"x-amz-checksum-crc32": value},
    )  # fmt: skip


@pytest.mark.parametrize("checksum_type", [None, "COMPOSITE", "FULL_OBJECT"])
def test_part_checksums_of_a_completion_must_be_the_stored_ones(checksum_type: str | None) -> None:
    record = _crc32_upload(checksum_type)
    parts = [_with_checksum(part(1, b"a"), "AAAAAQ=="), _with_checksum(part(2, b"b"), "AAAAAg==")]
    check_part_checksums(
        record, REQUESTED, parts, {1: {"crc32": "AAAAAQ=="}, 2: {"crc32": "AAAAAg=="}}
    )
    # a part named without its checksum is taken
    check_part_checksums(record, REQUESTED, parts, {2: {"crc32": "AAAAAg=="}})
    with pytest.raises(errors.InvalidPart):
        check_part_checksums(record, REQUESTED, parts, {2: {"crc32": "AAAAAQ=="}})
    with pytest.raises(errors.InvalidRequest, match="expected checksum Type: crc32"):
        check_part_checksums(record, REQUESTED, parts, {1: {"sha256": "AAAAAQ=="}})


def test_part_checksums_are_ignored_where_there_is_nothing_to_check() -> None:
    plain = UploadRecord(
        bucket="out", key="k", dst_repo="r", dst_commit="c1", metadata={},
        checksum_algorithm=None,
    )  # fmt: skip
    check_part_checksums(plain, REQUESTED[:1], [part(1, b"a")], {1: {"crc32": "wrong"}})
    # a part copied with UploadPartCopy keeps no checksum
    check_part_checksums(_crc32_upload(), REQUESTED[:1], [part(1, b"a")], {1: {"crc32": "wrong"}})
