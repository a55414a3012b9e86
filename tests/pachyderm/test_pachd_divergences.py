"""Where pachd 2.x differs from what PachydermBackend and the PFS double used to assume (issue 13
§1, docs/pachyderm.md "Divergences from pachd"): one or more tests per divergence, each naming
the pachd source it follows. Tests of the double itself talk to it over gRPC as pachd's clients
do; tests of the backend go through its public API or through the gateway with boto3."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError
from pfs_double import PFSServer
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

from pachs3 import SidecarGateway
from pachs3.backends.base import CommitRef, NotFound, NotSupported, commit
from pachs3.backends.pachyderm import PachydermBackend
from pachs3.backends.pachyderm.connection import (
    connection_from_environment,
    parse_pachd_address,
)

REPO = "data"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Talking to the double as a pachd client would


@contextlib.contextmanager
def stub_for(server: PFSServer) -> Iterator[Any]:
    target = server.address.removeprefix("grpc://")
    with grpc.insecure_channel(target) as channel:
        yield pfs_pb2_grpc.APIStub(channel)


def pb_repo(name: str = REPO) -> Any:
    return pfs_pb2.Repo(name=name, type="user", project=pfs_pb2.Project(name="default"))


def pb_commit(commit_id: str, repo: str = REPO) -> Any:
    return pfs_pb2.Commit(repo=pb_repo(repo), id=commit_id)


def start(stub: Any, branch: str = "master", repo: str = REPO) -> str:
    request = pfs_pb2.StartCommitRequest(branch=pfs_pb2.Branch(repo=pb_repo(repo), name=branch))
    return str(stub.StartCommit(request).id)


def modify(stub: Any, commit_id: str, *operations: Any) -> None:
    requests = [pfs_pb2.ModifyFileRequest(set_commit=pb_commit(commit_id))]
    requests += [pfs_pb2.ModifyFileRequest(**operation) for operation in operations]
    stub.ModifyFile(iter(requests))


def add(path: str, data: bytes, datum: str = "") -> dict[str, Any]:
    return {"add_file": pfs_pb2.AddFile(path=path, datum=datum, raw={"value": data})}


def delete(path: str, datum: str = "") -> dict[str, Any]:
    return {"delete_file": pfs_pb2.DeleteFile(path=path, datum=datum)}


def finish(stub: Any, commit_id: str) -> Any:
    stub.FinishCommit(pfs_pb2.FinishCommitRequest(commit=pb_commit(commit_id)))
    request = pfs_pb2.InspectCommitRequest(
        commit=pb_commit(commit_id), wait=pfs_pb2.CommitState.Value("FINISHED")
    )
    return stub.InspectCommit(request, timeout=10)


@pytest.fixture
def stub(server: PFSServer) -> Iterator[Any]:
    with stub_for(server) as made:
        made.CreateRepo(pfs_pb2.CreateRepoRequest(repo=pb_repo()))
        yield made


# --------------------------------------------------------------------------------------------
# 1. ClearCommit drops only the commit's own diffs


def test_the_double_clears_only_a_commits_own_diffs(server: PFSServer, stub: Any) -> None:
    first = start(stub)
    modify(stub, first, add("/kept", b"parent"))
    finish(stub, first)
    second = start(stub)
    modify(stub, second, add("/mine", b"child"))
    stub.ClearCommit(pfs_pb2.ClearCommitRequest(commit=pb_commit(second)))
    # pachd reads an open commit as its parent plus its diffs (driver_file.go getFileSet);
    # clearCommit drops the diffs only (commit_store.go DropFileSets).
    assert server.service.files(REPO, second) == {"/kept": b"parent"}


def test_an_empty_commit_on_a_branch_with_history_starts_empty(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    pfs.create_repo(REPO)
    with commit(pfs, REPO, "master") as first:
        pfs.put_file(first.ref, "old", [b"previous output"])
    job = pfs.start_commit(REPO, "master", empty=True)
    assert list(pfs.walk_files(job.ref)) == []
    assert server.service.files(REPO, job.id) == {}
    pfs.put_file(job.ref, "new", [b"n"])
    pfs.finish_commit(REPO, job.id)
    head = CommitRef(repo=REPO, id="master")
    assert [i.path for i in pfs.walk_files(head)] == ["new"]
    assert server.service.calls.get("ClearCommit", 0) == 0


def _worker_output_commit(server: PFSServer) -> str:
    """A pipeline repo with a previous job's output, and the next job's output commit as the
    worker leaves it for an s3_out pipeline: ClearCommit, then DeleteFile("/") (pending_job.go,
    registry.go)."""
    service = server.service
    with PachydermBackend(server.address) as setup:
        setup.create_repo("pipeline")
        with commit(setup, "pipeline", "master") as earlier:
            setup.put_file(earlier.ref, "old", [b"previous job's output"])
    repo = service.repos[("default", "pipeline")]
    output = service._new_commit(repo, "master", repo.commits[earlier.id], 2)  # AUTO, open
    service.write("pipeline", output.id, "/", None)
    return output.id


def test_an_adopted_commit_is_never_cleared_and_a_discard_removes_only_the_gateways_keys(
    server: PFSServer, tmp_path: Path
) -> None:
    output = _worker_output_commit(server)
    service = server.service
    service.write("pipeline", output, "/by-the-worker", b"w")  # written by another writer
    adopted = CommitRef(repo="pipeline", id=output)
    with PachydermBackend(server.address, adopt=adopted) as pfs:
        started = pfs.start_commit("pipeline", "master", empty=True)
        assert started.id == output
        pfs.put_file(started.ref, "by-the-gateway", [b"g"])
        pfs.put_file(started.ref, "dir/also", [b"g2"])
        pfs.discard_commit("pipeline", output)
    assert service.files("pipeline", output) == {"/by-the-worker": b"w"}
    assert service.calls.get("ClearCommit", 0) == 0


# --------------------------------------------------------------------------------------------
# 2. Names: pachd's ValidateFilename, and GetFile's glob


REFUSED = [
    "a*b",
    "q?",
    "[x]",
    "{a,b}",
    "bang!",
    "(p)",
    "at@",
    "plus+",
    "hat^",
    "ü",
    "tab\tkey",
    "del\x7f",
    "back\\slash",
]


@pytest.mark.parametrize("key", REFUSED)
def test_names_pachd_refuses_are_refused_before_the_body_is_read(
    pfs: PachydermBackend, server: PFSServer, key: str
) -> None:
    pfs.create_repo(REPO)
    job = pfs.start_commit(REPO, "master")
    consumed: list[bytes] = []

    def body() -> Iterator[bytes]:
        consumed.append(b"x")
        yield b"x"

    with pytest.raises(NotSupported, match="PFS cannot"):
        pfs.put_file(job.ref, key, body())
    assert consumed == []
    assert pfs.key_problem(key) is not None
    assert server.service.files(REPO, job.id) == {}


def test_the_double_validates_names_as_pachd_does(server: PFSServer, stub: Any) -> None:
    job = start(stub)
    for operation, words in [
        (add("/a*b", b"x"), "globbing character (*)"),
        (add("/ü", b"x"), "only printable ASCII"),
        (delete("/x(1)"), "globbing character ("),
        (add("/a/../b", b"x"), "relative file paths"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            modify(stub, job, operation)
        assert caught.value.code() == grpc.StatusCode.UNKNOWN
        assert words in caught.value.details()
    modify(stub, job, add("/back\\slash", b"pachd stores it"))
    assert server.service.files(REPO, job) == {"/back\\slash": b"pachd stores it"}


def test_a_backslash_name_cannot_be_read_back_and_is_consistently_absent(
    pfs: PachydermBackend, server: PFSServer, stub: Any
) -> None:
    job = start(stub)
    modify(stub, job, add("/back\\slash", b"x"), add("/plain", b"y"))
    finish(stub, job)
    for pattern in ("/back\\slash", "/back\\\\slash"):  # as is, and glob-escaped
        request = pfs_pb2.GetFileRequest(file=pfs_pb2.File(commit=pb_commit(job), path=pattern))
        with pytest.raises(grpc.RpcError) as caught:
            b"".join(m.value for m in stub.GetFile(request))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    ref = CommitRef(repo=REPO, id=job)
    with pytest.raises(NotFound):
        pfs.inspect_file(ref, "back\\slash")  # HEAD: 404, as GET would be
    with pytest.raises(NotFound):
        pfs.read_file(ref, "back\\slash")
    assert [i.path for i in pfs.walk_files(ref)] == ["plain"]


def test_the_gateway_refuses_an_unstorable_key_before_the_body_and_the_upload(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    pfs.create_repo(REPO)
    with SidecarGateway(pfs, inputs={}, output=REPO) as gateway:
        s3 = gateway.client()
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket="out", Key="report (final).csv", Body=b"x" * 1000)
        error = caught.value.response["Error"]
        assert error["Code"] == "InvalidArgument"
        assert "PFS cannot hold the name" in error["Message"]
        before = dict(server.service.calls)
        with pytest.raises(ClientError) as caught:
            s3.create_multipart_upload(Bucket="out", Key="résumé.pdf")
        assert caught.value.response["Error"]["Code"] == "InvalidArgument"
        assert server.service.calls.get("StartCommit", 0) == before.get("StartCommit", 0)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="out").get("Contents", [])] == []


# --------------------------------------------------------------------------------------------
# 3. Credentials and address inside a worker


def test_a_worker_finds_its_token_and_its_own_pachd(tmp_path: Path) -> None:
    worker = {
        "PPS_PIPELINE_NAME": "p",
        "PEER_PORT": "1653",
        "PACHD_PEER_SERVICE_HOST": "10.0.0.1",
        "PACHD_PEER_SERVICE_PORT": "30653",
        "AWS_ACCESS_KEY_ID": "pipeline-token",
        "AWS_SECRET_ACCESS_KEY": "pipeline-token",
    }
    home = tmp_path / "home"
    found = connection_from_environment(worker, home=home)
    assert (found.target, found.auth_token, found.source) == (
        "127.0.0.1:1653",
        "pipeline-token",
        "PEER_PORT",
    )
    for token_variables, expected in [
        ({"PACH_PYTHON_AUTH_TOKEN": "py"}, "py"),
        ({"PACH_TOKEN": "pach", "PACH_PYTHON_AUTH_TOKEN": "py"}, "pach"),
        ({"PACHS3_PACHD_TOKEN": "mine", "PACH_TOKEN": "pach"}, "mine"),
    ]:
        assert connection_from_environment({**worker, **token_variables}, home=home).auth_token == (
            expected
        )
    auth_off = {**worker, "AWS_ACCESS_KEY_ID": "default", "AWS_SECRET_ACCESS_KEY": "default"}
    assert connection_from_environment(auth_off, home=home).auth_token is None
    unequal = {**worker, "AWS_SECRET_ACCESS_KEY": "something else"}
    assert connection_from_environment(unequal, home=home).auth_token is None
    outside = {k: v for k, v in worker.items() if k != "PPS_PIPELINE_NAME"}
    elsewhere = connection_from_environment(outside, home=home)
    assert (elsewhere.target, elsewhere.auth_token) == ("10.0.0.1:30653", None)


def test_a_unix_socket_address_reaches_pachd(tmp_path: Path) -> None:
    socket_path = tmp_path / "pachd.sock"
    assert parse_pachd_address(f"unix://{socket_path}") == (f"unix://{socket_path}", False)
    with pytest.raises(ValueError, match="socket path"):
        parse_pachd_address("unix://")
    env = {"PACHD_ADDRESS": f"unix://{socket_path}"}
    with PFSServer(unix_socket=str(socket_path)), PachydermBackend.from_environment(env) as pfs:
        pfs.create_repo("over-a-socket")
        assert [r.name for r in pfs.list_repos()] == ["over-a-socket"]


# --------------------------------------------------------------------------------------------
# 4. The staging repo is made by the first multipart upload


def test_the_staging_repo_is_made_lazily_and_a_refusal_names_the_permission(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    pfs.create_repo(REPO)
    server.service.faults.deny_create_repo = True  # a pipeline's token: repoWriter on its output
    with SidecarGateway(pfs, inputs={}, output=REPO, staging_repo="staging") as gateway:
        assert ("default", "staging") not in server.service.repos
        s3 = gateway.client()
        s3.put_object(Bucket="out", Key="plain.txt", Body=b"no staging needed")
        assert s3.list_multipart_uploads(Bucket="out").get("Uploads", []) == []
        with pytest.raises(ClientError) as caught:
            s3.create_multipart_upload(Bucket="out", Key="big.bin")
        error = caught.value.response["Error"]
        assert error["Code"] == "AccessDenied"
        assert "PROJECT_CREATE_REPO" in error["Message"]
        server.service.faults.deny_create_repo = False
        upload = s3.create_multipart_upload(Bucket="out", Key="big.bin")
        assert ("default", "staging") in server.service.repos
        s3.abort_multipart_upload(Bucket="out", Key="big.bin", UploadId=upload["UploadId"])


# --------------------------------------------------------------------------------------------
# 5. Datums


def test_the_double_keys_files_by_path_and_datum(server: PFSServer, stub: Any) -> None:
    job = start(stub)
    modify(stub, job, add("/out.csv", b"from d1", datum="d1"), add("/gw.csv", b"gateway"))
    modify(stub, job, add("/out.csv", b"from d2", datum="d2"))
    modify(stub, job, delete("/", datum=""))  # deletes the default datum's files only
    assert server.service.files(REPO, job) == {"/out.csv": b"from d1from d2"}
    info = finish(stub, job)
    assert info.error.startswith("duplicate path output by different datums (/out.csv from d1")


def test_adoption_needs_an_s3_out_pipeline(server: PFSServer, tmp_path: Path) -> None:
    env = {
        "PACHD_ADDRESS": server.address,
        "PPS_PIPELINE_NAME": "pipeline",
        "PACH_JOB_ID": "0" * 32,
    }
    (tmp_path / "out").mkdir()  # the worker links /pfs/out only when s3_out is off
    with pytest.raises(ValueError, match="s3_out"):
        PachydermBackend.from_environment(env, pfs_root=tmp_path)
    (tmp_path / "out").rmdir()
    with PachydermBackend.from_environment(env, pfs_root=tmp_path) as pfs:
        assert pfs._adopt == CommitRef(repo="pipeline", id="0" * 32)


def test_composing_parts_leaves_one_file_that_finishes(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    """pachd 2.6.0 keeps one entry per CopyFile(append) of a path within one ModifyFile (seen
    live): composing all parts in one call left a file GetFile refused and a failed commit."""
    pfs.create_repo(REPO)
    pfs.create_repo("staging")
    staged = pfs.start_commit("staging", None)
    parts = [b"a" * 300, b"b" * 200, b"c" * 100]
    for number, data in enumerate(parts, start=1):
        pfs.put_file(staged.ref, f"{number:05d}", [data])
    job = pfs.start_commit(REPO, "master", empty=True)
    sources = [(staged.ref, f"{number:05d}") for number in range(1, 4)]
    composed = pfs.compose_file(job.ref, "big.bin", sources, etag="e-3")
    assert (composed.etag, composed.size) == ("e-3", 600)
    with stub_for(server) as raw:
        request = pfs_pb2.GetFileRequest(
            file=pfs_pb2.File(commit=pb_commit(job.id), path="/big.bin")
        )
        assert b"".join(m.value for m in raw.GetFile(request)) == b"".join(parts)
    done = pfs.finish_commit(REPO, job.id)
    assert done.error is None
    head = CommitRef(repo=REPO, id="master")
    assert b"".join(pfs.read_file(head, "big.bin")) == b"".join(parts)


# --------------------------------------------------------------------------------------------
# 6. RPCs per S3 operation


def test_rpcs_per_put_get_and_list(pfs: PachydermBackend, server: PFSServer) -> None:
    calls = server.service.calls
    pfs.create_repo(REPO)
    job = pfs.start_commit(REPO, "master", empty=True)
    for n in range(5):
        pfs.put_file(job.ref, f"k{n}", [b"v" * n], metadata={"content-type": "t"})

    calls.clear()
    pfs.put_file(job.ref, "k9", [b"object"], metadata={"content-type": "t"})
    assert calls == {"ModifyFile": 1}  # object and record together, nothing asked

    calls.clear()
    opened = pfs.open_file(job.ref, "k9")
    assert b"".join(opened.read()) == b"object"
    info = opened.info
    assert (info.etag, info.metadata) == (md5(b"object"), {"content-type": "t"})
    assert calls == {"GetFile": 1}

    calls.clear()
    assert len(list(pfs.walk_files(job.ref))) == 6
    assert calls == {"WalkFile": 2}  # the files, and a fresh seek past pachs3's records

    pfs.finish_commit(REPO, job.id)
    finished = CommitRef(repo=REPO, id=job.id)  # an input: read by commit id
    calls.clear()
    opened = pfs.open_file(finished, "k9")
    assert b"".join(opened.read()) == b"object"
    assert opened.info.etag == md5(b"object")
    assert calls == {"InspectFile": 1, "GetFile": 2}  # the file, its record, its bytes

    calls.clear()
    assert [i.etag for i in pfs.walk_files(finished)][-1] == md5(b"object")
    assert calls == {"WalkFile": 3, "GetFile": 6}  # files (2), records, a read per record


# --------------------------------------------------------------------------------------------
# 7. Records do not depend on PFS's hash


def test_records_survive_a_hash_that_changes_at_finishing(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    server.service.faults.rehash_finished = True
    pfs.create_repo(REPO)
    job = pfs.start_commit(REPO, "master", empty=True)
    pfs.put_file(job.ref, "big.bin", [b"z" * (3 << 20)], metadata={"content-type": "x/y"})
    pfs.finish_commit(REPO, job.id)
    info = pfs.inspect_file(CommitRef(repo=REPO, id="master"), "big.bin")
    assert (info.etag, info.metadata) == (md5(b"z" * (3 << 20)), {"content-type": "x/y"})


# --------------------------------------------------------------------------------------------
# 8. Finishing takes as long as it takes


def test_finishing_outlasts_finish_timeout(
    server: PFSServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.service.faults.finish_delay = 1.2
    with PachydermBackend(server.address, finish_timeout=0.3) as pfs:
        pfs.create_repo(REPO)
        job = pfs.start_commit(REPO, "master")
        pfs.put_file(job.ref, "a", [b"1"])
        with caplog.at_level(logging.INFO, logger="pachs3.pachyderm"):
            done = pfs.finish_commit(REPO, job.id)
        assert done.finished is not None
        assert "still finishing" in caplog.text
        assert pfs.inspect_branch(REPO, "master").head == job.id


# --------------------------------------------------------------------------------------------
# 10. The double: deletes, pagination, error codes, committed time


def test_the_double_deletes_a_tree_only_for_a_trailing_slash(server: PFSServer, stub: Any) -> None:
    job = start(stub)
    modify(stub, job, add("/d/x", b"1"), add("/d/y", b"2"), add("/e", b"3"))
    modify(stub, job, delete("/d"))  # no such file; a directory is not deleted without '/'
    assert set(server.service.files(REPO, job)) == {"/d/x", "/d/y", "/e"}
    modify(stub, job, delete("/d/"))
    assert set(server.service.files(REPO, job)) == {"/e"}


def test_the_double_walk_includes_its_marker(stub: Any) -> None:
    job = start(stub)
    modify(stub, job, add("/a", b""), add("/b", b""), add("/c", b""))
    request = pfs_pb2.WalkFileRequest(file=pfs_pb2.File(commit=pb_commit(job), path="/"))
    request.paginationMarker.CopyFrom(pfs_pb2.File(commit=pb_commit(job), path="/b"))
    assert [i.file.path for i in stub.WalkFile(request)] == ["/b", "/c"]


def test_the_double_answers_with_pachds_codes(stub: Any) -> None:
    def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        return caught.value.code(), caught.value.details()

    job = start(stub)
    finish(stub, job)
    missing = pfs_pb2.InspectCommitRequest(commit=pb_commit("f" * 32))
    assert code_of(lambda: stub.InspectCommit(missing))[0] == grpc.StatusCode.NOT_FOUND
    again = pfs_pb2.FinishCommitRequest(commit=pb_commit(job))
    code, details = code_of(lambda: stub.FinishCommit(again))
    assert (code, "has already finished" in details) == (grpc.StatusCode.UNKNOWN, True)
    code, details = code_of(lambda: modify(stub, job, add("/late", b"x")))
    assert (code, "has already finished" in details) == (grpc.StatusCode.UNKNOWN, True)
    exists = pfs_pb2.CreateRepoRequest(repo=pb_repo())
    assert code_of(lambda: stub.CreateRepo(exists))[0] == grpc.StatusCode.ALREADY_EXISTS
    bad_name = pfs_pb2.CreateRepoRequest(repo=pb_repo("a.b"))
    assert code_of(lambda: stub.CreateRepo(bad_name))[0] == grpc.StatusCode.UNKNOWN
    child = start(stub)  # open
    unfinished = pfs_pb2.StartCommitRequest(
        branch=pfs_pb2.Branch(repo=pb_repo(), name="master"), parent=pb_commit(child)
    )
    assert code_of(lambda: stub.StartCommit(unfinished))[0] == grpc.StatusCode.UNKNOWN


def test_the_double_reports_the_finishing_time_as_committed(server: PFSServer, stub: Any) -> None:
    server.service.faults.finish_delay = 0.3
    job = start(stub)
    modify(stub, job, add("/a", b"1"))
    info = finish(stub, job)
    assert info.finished.ToDatetime() > info.finishing.ToDatetime()
    inspect = pfs_pb2.InspectFileRequest(file=pfs_pb2.File(commit=pb_commit(job), path="/a"))
    assert stub.InspectFile(inspect).committed == info.finishing
