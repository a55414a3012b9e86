"""minio-py against ``pachs3 serve --global``'s gateway: what minio-py's own versioning calls
expect (the steps of its functional tests for versions: a bucket made and versioning set to
Enabled, ``put_object``'s version id, ``list_objects(include_version=True)``, ``get_object`` /
``stat_object`` with ``version_id``, ``remove_object`` with ``version_id``, then the bucket
removed).

A real ``GlobalGateway`` over a ``LocalStore``, served on 127.0.0.1 (minio-py speaks HTTP
through urllib3 with its own signer). Every answer is checked against the store's commits.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pachs3 import GlobalGateway, LocalStore

minio = pytest.importorskip("minio", reason="minio comes with the test extra")
from minio.error import S3Error  # noqa: E402
from minio.versioningconfig import ENABLED, SUSPENDED, VersioningConfig  # noqa: E402


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, LocalStore]]:
    with LocalStore(tmp_path / "store") as store, GlobalGateway(store) as gateway:
        hostport = gateway.serve().endpoint_url.removeprefix("http://").rstrip("/")
        yield minio.Minio(hostport, access_key="any", secret_key="any-secret", secure=False), store


def put(client: Any, key: str, data: bytes) -> str:
    result = client.put_object("notes", key, io.BytesIO(data), len(data))
    assert result.version_id
    return str(result.version_id)


def read(client: Any, key: str, version_id: str | None = None) -> bytes:
    response = client.get_object("notes", key, version_id=version_id)
    try:
        return bytes(response.read())
    finally:
        response.close()
        response.release_conn()


def test_minio_versioning_calls_in_global_mode(served: tuple[Any, LocalStore]) -> None:
    client, store = served
    client.make_bucket("notes")
    assert client.bucket_exists("notes")
    assert client.get_bucket_versioning("notes").status == "Enabled"
    client.set_bucket_versioning("notes", VersioningConfig(ENABLED))  # a no-op success
    with pytest.raises(S3Error) as suspended:
        client.set_bucket_versioning("notes", VersioningConfig(SUSPENDED))
    assert suspended.value.code == "NotImplemented"

    first = put(client, "todo.txt", b"first draft\n")
    second = put(client, "todo.txt", b"second draft\n")
    other = put(client, "done.txt", b"done\n")
    commits = [c.id for c in store.list_commits("notes", branch="master")]
    assert commits[:3] == [other, second, first]  # each put one commit, its id the version

    listed = [
        (o.object_name, o.version_id, o.is_latest, o.is_delete_marker)
        for o in client.list_objects("notes", recursive=True, include_version=True)
    ]
    assert listed == [
        ("done.txt", other, "true", False),
        ("todo.txt", second, "true", False),
        ("todo.txt", first, "false", False),
    ]
    assert read(client, "todo.txt", first) == b"first draft\n"
    assert read(client, "todo.txt") == b"second draft\n"
    stat = client.stat_object("notes", "todo.txt", version_id=first)
    assert (stat.version_id, stat.size) == (first, len(b"first draft\n"))

    # An older version is history: refused, nothing changes.
    with pytest.raises(S3Error) as refused:
        client.remove_object("notes", "todo.txt", version_id=first)
    assert refused.value.code == "AccessDenied"
    assert [c.id for c in store.list_commits("notes", branch="master")] == commits
    # The current version: the key goes, as a new commit; the version stays readable.
    client.remove_object("notes", "todo.txt", version_id=second)
    client.remove_object("notes", "done.txt")
    with pytest.raises(S3Error) as gone:
        client.stat_object("notes", "todo.txt")
    assert gone.value.code in ("NoSuchKey", "ResourceNotFound")
    assert read(client, "todo.txt", second) == b"second draft\n"
    markers = [
        (o.object_name, o.is_latest)
        for o in client.list_objects("notes", recursive=True, include_version=True)
        if o.is_delete_marker
    ]
    assert markers == [("done.txt", "true"), ("todo.txt", "true")]

    client.remove_bucket("notes")
    assert not client.bucket_exists("notes")
    assert "notes" not in [r.name for r in store.list_repos()]
