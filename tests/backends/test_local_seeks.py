"""A delimiter listing costs seeks in proportion to its common prefixes, not to its keys.

Counted with ``LocalStore.range_scans`` (range queries over the path index), never timed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("boto3")

from pachs3 import LocalStore, SidecarGateway
from pachs3.backends.base import commit


def _delimiter_seeks(directory: Path, prefixes: int, per_prefix: int) -> int:
    with LocalStore(directory) as store:
        store.create_repo("input")
        with commit(store, "input", "master") as info:
            store.put_files(
                info.ref,
                ((f"p{p:03d}/k{k:05d}", b"x") for p in range(prefixes) for k in range(per_prefix)),
            )
        with SidecarGateway(store, inputs={"input": "input@master"}) as gateway:
            client = gateway.client()
            before = store.range_scans
            page = client.list_objects_v2(Bucket="input", Delimiter="/")
            seeks = store.range_scans - before
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == [f"p{p:03d}/" for p in range(prefixes)]
    assert "Contents" not in page
    return seeks


def test_delimiter_listing_seeks_do_not_grow_with_keys_per_prefix(tmp_path: Path) -> None:
    few = _delimiter_seeks(tmp_path / "few", prefixes=10, per_prefix=20)
    many = _delimiter_seeks(tmp_path / "many", prefixes=10, per_prefix=500)
    assert few == many
    assert 10 <= many <= 2 * 10 + 2  # about one seek per prefix, plus the end of the walk


def test_delimiter_listing_seeks_grow_with_prefixes(tmp_path: Path) -> None:
    ten = _delimiter_seeks(tmp_path / "ten", prefixes=10, per_prefix=30)
    forty = _delimiter_seeks(tmp_path / "forty", prefixes=40, per_prefix=30)
    assert 3 * ten <= forty <= 5 * ten


def test_walk_counts_its_range_scans(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "store") as store:
        store.create_repo("r")
        with commit(store, "r", "master") as info:
            store.put_files(info.ref, ((f"k{n:05d}", b"x") for n in range(100)))
            ref = info.ref
        before = store.range_scans
        assert sum(1 for _ in store.walk_files(ref)) == 100
        assert store.range_scans > before
