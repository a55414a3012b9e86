"""PachydermBackend beyond the conformance suite: how it lays S3 onto PFS (paths, records,
hidden branches), how it fails (short reads, unreachable clusters, gRPC errors) and where its
connection settings come from. Runs over the PFS double on a real gRPC server."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from pfs_double import PFSServer

from pachs3.backends.base import (
    Absent,
    AlreadyExists,
    BackendError,
    CommitRef,
    Conflict,
    NotFound,
    NotSupported,
    PermissionDenied,
    Truncated,
    Unavailable,
    commit,
)
from pachs3.backends.pachyderm import PachydermBackend
from pachs3.backends.pachyderm.connection import (
    Connection,
    connection_from_environment,
    parse_pachctl_config,
    parse_pachd_address,
)
from pachs3.backends.pachyderm.paths import HIDDEN_BRANCH_PREFIX, key_problem
from pachs3.backends.pachyderm.records import MetaRecord, decode_note, encode_note
from pachs3.backends.pachyderm.rpc import _translate

REPO = "data"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def read(backend: PachydermBackend, ref: CommitRef, path: str, **kw: int | None) -> bytes:
    return b"".join(backend.read_file(ref, path, **kw))  # type: ignore[arg-type]


def pfs_files(server: PFSServer, commit_id: str, repo: str = REPO) -> dict[str, bytes]:
    """What PFS itself holds in a commit (as pachctl would show it)."""
    return server.service.files(repo, commit_id)


@pytest.fixture
def oref(pfs: PachydermBackend) -> CommitRef:
    pfs.create_repo(REPO)
    return pfs.start_commit(REPO, "master").ref


# --------------------------------------------------------------------------------------------
# How S3 lands in PFS


def test_objects_are_plain_pfs_files_and_records_are_hidden(
    pfs: PachydermBackend, server: PFSServer, oref: CommitRef
) -> None:
    pfs.put_file(oref, "dir/a.csv", [b"x,y\n"], metadata={"content-type": "text/csv"})
    stored = pfs_files(server, oref.id)
    assert stored["/dir/a.csv"] == b"x,y\n"
    record = MetaRecord.decode(stored["/.pachs3/meta/dir/a.csv"])
    assert record is not None
    assert (record.etag, record.md5, record.size) == (md5(b"x,y\n"),) * 2 + (4,)
    assert record.metadata == {"content-type": "text/csv"}
    assert [i.path for i in pfs.walk_files(oref)] == ["dir/a.csv"]


@pytest.mark.parametrize(
    "key",
    ["dir/", "a//b", "/lead", "a/./b", "a/../b", ".", "..", ".pachs3/meta/x", ".pachs3"],
)
def test_keys_pfs_would_alias_are_refused_not_mangled(
    pfs: PachydermBackend, server: PFSServer, oref: CommitRef, key: str
) -> None:
    with pytest.raises(NotSupported):
        pfs.put_file(oref, key, [b"1"])
    with pytest.raises(NotFound) as caught:
        pfs.inspect_file(oref, key)
    assert caught.value.what == "file"
    assert pfs.delete_file(oref, key) is False
    assert pfs_files(server, oref.id) == {}


def test_key_rules() -> None:
    for good in ("a", "a/b", "a b", "a~b", "a.b", "..a", "a..", ".hidden", "x/.pachs3", "a=b,c"):
        assert key_problem(good) is None, good
    for bad in ("", "a/", "/a", "a//b", "a/./b", "a/..", "\udcff", ".pachs3/x", "ü/€"):
        assert key_problem(bad) is not None, bad


def test_a_file_and_a_directory_of_one_name_are_refused(
    pfs: PachydermBackend, server: PFSServer, oref: CommitRef
) -> None:
    pfs.put_file(oref, "a", [b"file"])
    pfs.put_file(oref, "d/x", [b"inside"])
    with pytest.raises(NotSupported, match="is a file"):
        pfs.put_file(oref, "a/b", [b"under a file"])
    with pytest.raises(NotSupported, match="is a directory"):
        pfs.put_file(oref, "d", [b"over a directory"])
    with pytest.raises(NotSupported):
        pfs.copy_file(oref, "a", oref, "d")
    with pytest.raises(NotSupported):
        pfs.compose_file(oref, "a/c", [(oref, "a")], etag="e-1")
    info = pfs.finish_commit(REPO, oref.id)
    assert info.error is None  # PFS's own validation had nothing to object to
    assert pfs.inspect_branch(REPO, "master").head == oref.id


def test_files_written_by_other_means_show_the_pfs_hash(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    pfs.create_repo(REPO)
    info = pfs.start_commit(REPO, "master")
    pfs.put_file(info.ref, "via-s3", [b"s3"], metadata={"content-type": "t"})
    # as `pachctl put file` would; the second one makes the record of via-s3 stale
    server.service.write(REPO, info.id, "/via-pachctl", b"pachctl")
    server.service.write(REPO, info.id, "/via-s3", b"overwritten by pachctl")
    pfs.finish_commit(REPO, info.id)
    head = CommitRef(repo=REPO, id="master")
    other = pfs.inspect_file(head, "via-pachctl")
    assert other.etag == hashlib.sha256(b"pachctl").hexdigest()
    assert (other.md5, other.metadata, other.commit) == (None, {}, info.id)
    stale = pfs.inspect_file(head, "via-s3")
    assert stale.etag == hashlib.sha256(b"overwritten by pachctl").hexdigest()
    assert stale.metadata == {}
    listed = {i.path: i.etag for i in pfs.walk_files(head)}
    assert listed == {"via-pachctl": other.etag, "via-s3": stale.etag}


def test_walk_skips_the_record_directory_and_stays_in_order(
    pfs: PachydermBackend, oref: CommitRef
) -> None:
    keys = ["-a", ".a", ".pachs2", ".pachs30", "/".join(["0"] * 3), "A", "a/b", "z"]
    keys = [k for k in keys if key_problem(k) is None]
    for key in reversed(keys):
        pfs.put_file(oref, key, [b"x"])
    assert [i.path for i in pfs.walk_files(oref)] == sorted(keys)
    assert [i.path for i in pfs.walk_files(oref, start_after=".a")] == sorted(keys)[2:]
    assert [i.path for i in pfs.walk_files(oref, prefix=".pachs")] == [".pachs2", ".pachs30"]


# --------------------------------------------------------------------------------------------
# Commits and branches


def test_commits_start_on_hidden_branches_and_move_the_branch_on_finish(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    pfs.create_repo(REPO)
    with pytest.raises(NotFound):
        pfs.inspect_branch(REPO, "master")
    info = pfs.start_commit(REPO, "master", description="first")
    repo = server.service.repos[("default", REPO)]
    assert repo.commits[info.id].branch.startswith(HIDDEN_BRANCH_PREFIX)
    assert repo.branches["master"] != info.id  # PFS's branch has not moved yet
    assert [b.name for b in pfs.list_branches(REPO)] == ["master"]
    assert decode_note(repo.commits[info.id].description).branch == "master"
    assert info.description == "first"
    assert info.branch == "master"
    pfs.finish_commit(REPO, info.id)
    assert repo.branches["master"] == info.id
    assert [b for b in repo.branches if b.startswith(HIDDEN_BRANCH_PREFIX)] == []


def test_staging_commits_leave_nothing_behind(pfs: PachydermBackend, server: PFSServer) -> None:
    pfs.create_repo(REPO)
    staged = pfs.start_commit(REPO, None)
    pfs.put_file(staged.ref, "00001", [b"part"])
    pfs.discard_commit(REPO, staged.id)
    repo = server.service.repos[("default", REPO)]
    assert repo.branches == {}
    assert repo.commits == {}
    assert pfs.list_commits(REPO) == []


def test_concurrent_writes_into_one_commit_all_land(
    pfs: PachydermBackend, server: PFSServer, oref: CommitRef
) -> None:
    # boto3's upload_file sends the parts of a multipart upload in parallel, into one staging
    # commit; pachd adds each ModifyFile call to the commit as a fileset of its own.
    parts = {f"{n:05d}": bytes([n]) * 1000 for n in range(1, 13)}
    start = threading.Barrier(len(parts))

    def put(key: str) -> None:
        start.wait()
        pfs.put_file(oref, key, [parts[key]])

    threads = [threading.Thread(target=put, args=(key,)) for key in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {i.path: i.etag for i in pfs.walk_files(oref)} == {k: md5(v) for k, v in parts.items()}
    assert {p: d for p, d in pfs_files(server, oref.id).items() if p.count("/") == 1} == {
        "/" + k: v for k, v in parts.items()
    }


def test_provenance_and_branch_are_noted_in_the_description(pfs: PachydermBackend) -> None:
    source = pfs.create_repo("inputs")
    del source
    with commit(pfs, "inputs", "master") as first:
        pfs.put_file(first.ref, "a", [b"1"])
    pfs.create_repo("out")
    job = pfs.start_commit(
        "out", "master", provenance=[CommitRef(repo="inputs", id="master")], empty=True
    )
    assert job.provenance == (CommitRef(repo="inputs", id=first.id),)
    text = encode_note("hello", "master", [("default", "inputs", first.id)])
    note = decode_note(text)
    assert (note.description, note.branch, note.noted) == ("hello", "master", True)
    assert decode_note("plain words").description == "plain words"


def test_finishing_twice_and_writing_after_finish_are_conflicts(
    pfs: PachydermBackend, oref: CommitRef
) -> None:
    pfs.finish_commit(REPO, oref.id)
    with pytest.raises(Conflict):
        pfs.finish_commit(REPO, oref.id)
    with pytest.raises(Conflict):
        pfs.put_file(oref, "late", [b"x"])


def test_a_pfs_validation_error_fails_the_commit_and_keeps_the_branch(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    pfs.create_repo(REPO)
    good = pfs.start_commit(REPO, "master")
    pfs.finish_commit(REPO, good.id)
    bad = pfs.start_commit(REPO, "master")
    # written by other means, beside a directory of one name
    server.service.write(REPO, bad.id, "/x", b"1")
    server.service.write(REPO, bad.id, "/x/y", b"2")
    info = pfs.finish_commit(REPO, bad.id)
    assert info.error is not None
    assert "collision" in info.error
    assert pfs.inspect_branch(REPO, "master").head == good.id


def test_adopted_output_commit_is_the_jobs_own(server: PFSServer, tmp_path: Path) -> None:
    """In a worker, the job's output commit exists already and the worker finishes it."""
    service = server.service
    with PachydermBackend(server.address) as setup:
        setup.create_repo("pipeline")
        with commit(setup, "pipeline", "master") as earlier:
            setup.put_file(earlier.ref, "old", [b"previous output"])
    repo = service.repos[("default", "pipeline")]
    output = service._new_commit(repo, "master", repo.commits[earlier.id], 2)  # AUTO, open
    service.write("pipeline", output.id, "/", None)  # the worker, for s3_out (registry.go)
    env = {
        "PACHD_PEER_SERVICE_HOST": "127.0.0.1",
        "PACHD_PEER_SERVICE_PORT": str(server.port),
        "PACH_JOB_ID": output.id,
        "PPS_PIPELINE_NAME": "pipeline",
    }
    with PachydermBackend.from_environment(env, pfs_root=tmp_path) as pfs:
        started = pfs.start_commit("pipeline", "master", empty=True)
        assert started.id == output.id
        pfs.put_file(started.ref, "new", [b"job output"])
        assert [i.path for i in pfs.walk_files(started.ref)] == ["new"]
        finished = pfs.finish_commit("pipeline", output.id)
        assert finished.is_open  # left to the worker
    assert output.finished is None
    assert "/new" in service.files("pipeline", output.id)


# --------------------------------------------------------------------------------------------
# Failures


def test_a_short_read_is_truncated_never_a_short_object(
    pfs: PachydermBackend, server: PFSServer, oref: CommitRef
) -> None:
    data = bytes(range(256)) * 1024
    pfs.put_file(oref, "big", [data])
    server.service.faults.truncate_after = 100_000
    with pytest.raises(Truncated, match="100000 of the 262144"):
        read(pfs, oref, "big")
    server.service.faults.truncate_after = None
    server.service.faults.abort_after = 70_000
    with pytest.raises(Truncated, match="after 70000 of 262144"):
        read(pfs, oref, "big")
    with pytest.raises(Truncated):
        read(pfs, oref, "big", offset=10, length=200_000)
    server.service.faults.abort_after = None
    assert read(pfs, oref, "big", offset=10, length=200_000) == data[10:200_010]


def test_a_broken_read_stream_cancels_on_close(pfs: PachydermBackend, oref: CommitRef) -> None:
    pfs.put_file(oref, "f", [b"x" * (3 << 20)])
    stream = pfs.read_file(oref, "f")
    assert next(stream)
    stream.close()
    assert read(pfs, oref, "f", length=2) == b"xx"


def test_nothing_listening_is_unavailable_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with PachydermBackend(f"127.0.0.1:{port}", timeout=5, connect_timeout=2) as pfs:
        began = time.monotonic()
        with pytest.raises(Unavailable):
            pfs.list_repos()
        with pytest.raises(Unavailable):
            pfs.inspect_repo("x")
        assert time.monotonic() - began < 10


def test_a_silent_server_is_unavailable_within_the_timeouts() -> None:
    """A peer that accepts connections and never speaks gRPC: bounded, not a hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        with PachydermBackend(address, timeout=1.5, connect_timeout=1, stream_timeout=2) as pfs:
            for call in (lambda: pfs.inspect_repo("x"), pfs.list_repos):
                began = time.monotonic()
                with pytest.raises(Unavailable):
                    call()
                assert time.monotonic() - began < 5
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in accepted:
            conn.close()


def test_a_slow_cluster_hits_the_deadline(pfs: PachydermBackend, server: PFSServer) -> None:
    pfs.create_repo(REPO)
    server.service.faults.delay = 0.5
    slow = PachydermBackend(server.address, timeout=0.2)
    try:
        with pytest.raises(Unavailable, match="DEADLINE_EXCEEDED"):
            slow.inspect_repo(REPO)
    finally:
        slow.close()
        server.service.faults.delay = 0.0


class _Error(grpc.RpcError):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "details", "kind", "what"),
    [
        (grpc.StatusCode.UNAVAILABLE, "connection refused", Unavailable, None),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "deadline", Unavailable, None),
        (grpc.StatusCode.UNAUTHENTICATED, "no token", PermissionDenied, None),
        (grpc.StatusCode.PERMISSION_DENIED, "not authorized", PermissionDenied, None),
        (
            grpc.StatusCode.UNKNOWN,
            "robot:x is not authorized to perform this operation - needs permissions "
            "[PROJECT_CREATE_REPO] on PROJECT default",
            PermissionDenied,
            None,
        ),
        (grpc.StatusCode.UNKNOWN, "file /a not found in repo r at commit c", NotFound, "file"),
        (grpc.StatusCode.UNKNOWN, "commit c not found in repo r", NotFound, "commit"),
        (grpc.StatusCode.NOT_FOUND, "repos/ default/r not found", NotFound, "repo"),
        (grpc.StatusCode.NOT_FOUND, "commit/c does not contain item: (/p)", NotFound, "file"),
        (grpc.StatusCode.NOT_FOUND, "branches/ default/r@b not found", NotFound, "branch"),
        (grpc.StatusCode.UNKNOWN, 'the branch "b" has no head (create one', NotFound, "commit"),
        (grpc.StatusCode.UNKNOWN, "repo r already exists", AlreadyExists, None),
        (grpc.StatusCode.UNKNOWN, "commit c in repo r has already finished", Conflict, None),
        (grpc.StatusCode.UNKNOWN, "parent commit c has not been finished", Conflict, None),
        (grpc.StatusCode.INVALID_ARGUMENT, "repo name (a.b) invalid", NotSupported, None),
        (grpc.StatusCode.INTERNAL, "disk on fire", BackendError, None),
    ],
)
def test_grpc_errors_map_to_the_backend_family(
    code: grpc.StatusCode, details: str, kind: type[BackendError], what: str | None
) -> None:
    error = _translate(_Error(code, details), "commit", "")
    assert type(error) is kind
    if what is not None:
        assert isinstance(error, NotFound)
        assert error.what == what


def test_if_absent_is_checked_again_when_the_upload_ends(
    pfs: PachydermBackend, oref: CommitRef
) -> None:
    def body() -> Iterator[bytes]:
        yield b"late "
        pfs.put_file(oref, "race", [b"won"])  # another writer, while this body streams
        yield b"writer"

    with pytest.raises(AlreadyExists):
        pfs.put_file(oref, "race", body(), expect=Absent())
    assert read(pfs, oref, "race") == b"won"


# --------------------------------------------------------------------------------------------
# Connection settings


def test_pachd_addresses() -> None:
    assert parse_pachd_address("pachd.example.com") == ("pachd.example.com:30650", False)
    assert parse_pachd_address("grpcs://pachd:443") == ("pachd:443", True)
    assert parse_pachd_address("http://10.0.0.1:30650/") == ("10.0.0.1:30650", False)
    assert parse_pachd_address("grpc://[::1]:650") == ("[::1]:650", False)
    for bad in ("ftp://x", "grpc://u:p@x:1", "grpc://x:1/path", "", "grpc://x:port"):
        with pytest.raises(ValueError, match=r"."):
            parse_pachd_address(bad)


def test_environment_precedence(tmp_path: Path) -> None:
    config = {
        "v2": {
            "active_context": "prod",
            "contexts": {
                "prod": {
                    "pachd_address": "grpcs://pachd.prod:443",
                    "session_token": "tok",
                    "server_cas": "LS0tLS1CRUdJTg==",
                },
                "local": {"port_forwarders": {"pachd": 31650}},
            },
        }
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    home = tmp_path / "home"
    found = connection_from_environment({"PACH_CONFIG": str(path)}, home=home)
    assert (found.target, found.tls, found.auth_token) == ("pachd.prod:443", True, "tok")
    assert found.root_certs == b"-----BEGIN"
    env = {
        "PACH_CONFIG": str(path),
        "PACHD_PEER_SERVICE_HOST": "10.1.2.3",
        "PACHD_PEER_SERVICE_PORT": "30653",
        "PACHD_SERVICE_HOST": "10.9.9.9",
        "PACHD_SERVICE_PORT": "30650",
    }
    assert connection_from_environment(env, home=home).target == "10.1.2.3:30653"
    env["PACHD_ADDRESS"] = "grpc://explicit:1"
    env["PACH_PYTHON_AUTH_TOKEN"] = "env-token"
    assert connection_from_environment(env, home=home) == Connection(
        target="explicit:1", auth_token="env-token", source="PACHD_ADDRESS"
    )
    env["PACHS3_PACHD_ADDRESS"] = "mine:2"
    assert connection_from_environment(env, home=home).target == "mine:2"
    local = parse_pachctl_config(json.dumps({"v2": {**config["v2"], "active_context": "local"}}))
    assert (local.target, local.tls) == ("localhost:31650", False)
    with pytest.raises(ValueError, match="no Pachyderm cluster"):
        connection_from_environment({}, home=home)


def test_the_auth_token_travels_with_every_call(server: PFSServer) -> None:
    server.service.metadata.clear()
    with PachydermBackend(server.address, auth_token="s3cret") as pfs:
        pfs.create_repo("x")
        list(pfs.walk_files(pfs.start_commit("x", "master").ref))
    assert server.service.metadata
    assert {meta.get("authn-token") for _, meta in server.service.metadata} == {"s3cret"}
