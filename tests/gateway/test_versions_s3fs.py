"""s3fs with ``version_aware=True`` against ``pachs3 serve --global``'s gateway (a notebook's
view): the versions of a key as s3fs lists them, an old version read back, and a file opened
at the head that keeps reading its version while the branch moves on.

A real ``GlobalGateway`` over a ``LocalStore``, served on 127.0.0.1 (s3fs speaks HTTP through
aiobotocore; no in-process transport reaches it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pachs3 import GlobalGateway, LocalStore

s3fs = pytest.importorskip("s3fs", reason="s3fs comes with the test extra")


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[str, LocalStore]]:
    with LocalStore(tmp_path / "store") as store, GlobalGateway(store) as gateway:
        yield gateway.serve().endpoint_url, store


def filesystem(endpoint_url: str) -> Any:
    return s3fs.S3FileSystem(
        key="any-key",
        secret="any-secret",
        endpoint_url=endpoint_url,
        client_kwargs={"region_name": "us-east-1"},
        config_kwargs={"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}},
        version_aware=True,
        use_listings_cache=False,
        skip_instance_cache=True,
    )


def test_s3fs_version_aware_reads_an_old_version(endpoint: tuple[str, LocalStore]) -> None:
    url, store = endpoint
    fs = filesystem(url)
    fs.mkdir("notebook")
    fs.pipe_file("notebook/data.csv", b"a,b\n1,2\n")
    fs.pipe_file("notebook/data.csv", b"a,b\n3,4\n5,6\n")
    versions = fs.object_version_info("notebook/data.csv")
    commits = [c.id for c in store.list_commits("notebook", branch="master")]
    # Newest first: the second write, then the first (CreateBucket's commit held no file).
    assert [v["VersionId"] for v in versions] == commits[:2]
    assert [v["IsLatest"] for v in versions] == [True, False]
    old = versions[1]["VersionId"]
    with fs.open("notebook/data.csv", "rb", version_id=old) as handle:
        assert handle.read() == b"a,b\n1,2\n"
    assert fs.cat_file(f"notebook/data.csv?versionId={old}") == b"a,b\n1,2\n"
    assert fs.cat_file("notebook/data.csv") == b"a,b\n3,4\n5,6\n"


def test_s3fs_version_aware_handle_keeps_its_version(endpoint: tuple[str, LocalStore]) -> None:
    url, _store = endpoint
    fs = filesystem(url)
    fs.mkdir("notebook")
    fs.pipe_file("notebook/big.bin", b"x" * 100_000)
    # Small blocks: the reads after the overwrite are new ranged GETs naming the version.
    with fs.open("notebook/big.bin", "rb", block_size=16_384) as handle:
        head = handle.read(10)
        # The branch moves on under the open file; s3fs pinned the version it opened.
        fs.pipe_file("notebook/big.bin", b"y" * 100_000)
        assert head + handle.read() == b"x" * 100_000
        assert handle.version_id is not None
