"""Raw PFS scenarios, run on the PFS double and on a live pachd, and what each answered.

Each scenario makes raw PFS v2 calls through python-pachyderm's generated stubs (no pachs3 code
in between) and returns its observations: file listings, contents, hashes compared, error codes
with their messages. Ids and this run's repo prefix are replaced by placeholders, so the
observations of two servers compare directly. The scenarios cover what issue 13 §1 says the
double and the backend assume and pachd may not do.

    python scenarios.py                      # on the double; compare with the recorded pachd run
    python scenarios.py --live ADDRESS       # on the double and on pachd; print the differences
    python scenarios.py --live ADDRESS --record   # also rewrite observed-pachd-2.6.0.json
    python scenarios.py --ping ADDRESS       # exit 0 once pachd answers PFS (run_live.sh)
    python scenarios.py --check-seed-output ADDRESS DIR   # the seed example's output (run_live.sh)
    python scenarios.py --delete-all ADDRESS  # empty a scratch pachd (run_live.sh)

Exit status: 1 if a scenario crashed (not if the servers differ: that is the finding, printed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc
from python_pachyderm.proto.v2.transaction import transaction_pb2, transaction_pb2_grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/pachyderm: pfs_double

from pfs_double import PFSServer  # noqa: E402

PACHD_VERSION = "2.6.0"
RECORDED = HERE / f"observed-pachd-{PACHD_VERSION}.json"
MIB = 1024 * 1024
GLOB_CHARACTERS = "*?[]{}!()@+^"
Observations = dict[str, Any]


def _grpc_target(address: str) -> str:
    return re.sub(r"^(grpc|http)://", "", address)


class PFS:
    """Raw PFS calls on one server, with this run's repos named ``<prefix><role>``."""

    def __init__(self, address: str) -> None:
        # pachd sends GetFile data in messages of up to 19 MiB (PachydermBackend allows 20 MiB)
        limits = [("grpc.max_receive_message_length", 20 * MIB)]
        self.channel = grpc.insecure_channel(_grpc_target(address), options=limits)
        self.api = pfs_pb2_grpc.APIStub(self.channel)
        self.transactions = transaction_pb2_grpc.APIStub(self.channel)
        self.prefix = f"scn{uuid.uuid4().hex[:6]}_"
        self.ids: dict[str, str] = {}

    def close(self) -> None:
        self.channel.close()

    # names -----------------------------------------------------------------------------------
    def repo(self, role: str) -> Any:
        project = pfs_pb2.Project(name="default")
        return pfs_pb2.Repo(name=self.prefix + role, type="user", project=project)

    def branch(self, role: str, name: str = "master") -> Any:
        return pfs_pb2.Branch(repo=self.repo(role), name=name)

    def commit_on(self, role: str, commit_id: str) -> Any:
        return pfs_pb2.Commit(branch=self.branch(role), id=commit_id)

    def commit_by_id(self, role: str, commit_id: str) -> Any:
        """A commit named as PachydermBackend names one: repo and id, a branch without a name."""
        repo = self.repo(role)
        return pfs_pb2.Commit(repo=repo, id=commit_id, branch=pfs_pb2.Branch(repo=repo))

    def file(self, commit: Any, path: str) -> Any:
        return pfs_pb2.File(commit=commit, path=path)

    def label(self, commit: Any, name: str) -> Any:
        """Remember ``commit``'s id as ``<name>`` for the observations."""
        self.ids[commit.id] = name
        return commit

    def normal(self, text: str) -> str:
        for commit_id, name in self.ids.items():
            text = text.replace(commit_id, f"<{name}>")
        text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)
        return text.replace(self.prefix, "")

    # calls -----------------------------------------------------------------------------------
    def create_repo(self, role: str) -> None:
        self.api.CreateRepo(pfs_pb2.CreateRepoRequest(repo=self.repo(role)))

    def start(self, role: str, branch: str = "master", parent: Any = None) -> Any:
        request = pfs_pb2.StartCommitRequest(branch=self.branch(role, branch), parent=parent)
        return self.api.StartCommit(request)

    def finish(self, commit: Any) -> Any:
        self.api.FinishCommit(pfs_pb2.FinishCommitRequest(commit=commit))
        return self.inspect_commit(commit, wait=True)

    def inspect_commit(self, commit: Any, *, wait: bool = False) -> Any:
        state = pfs_pb2.CommitState.Value("FINISHED" if wait else "STARTED")
        return self.api.InspectCommit(pfs_pb2.InspectCommitRequest(commit=commit, wait=state))

    def modify(self, commit: Any, *operations: Any) -> None:
        requests = [pfs_pb2.ModifyFileRequest(set_commit=commit), *operations]
        self.api.ModifyFile(iter(requests))

    def write(self, commit: Any, files: dict[str, bytes]) -> None:
        """One ModifyFile; each file in AddFile messages of at most 1 MiB (AddFile appends, and
        gRPC's default message limit is 4 MiB)."""
        pieces = [
            add(path, data[start : start + MIB])
            for path, data in files.items()
            for start in range(0, max(len(data), 1), MIB)
        ]
        self.modify(commit, *pieces)

    def seeded(self, role: str, files: dict[str, bytes]) -> Any:
        """A new repo whose master holds ``files`` in one finished commit."""
        self.create_repo(role)
        commit = self.start(role)
        self.write(commit, files)
        return self.finish(commit).commit

    def paths(self, commit: Any, path: str = "/") -> list[str]:
        request = pfs_pb2.WalkFileRequest(file=self.file(commit, path))
        return [info.file.path for info in self.api.WalkFile(request)]

    def walk(self, request: Any) -> list[str]:
        return [info.file.path for info in self.api.WalkFile(request)]

    def files(self, commit: Any) -> list[str]:
        request = pfs_pb2.WalkFileRequest(file=self.file(commit, "/"))
        return [i.file.path for i in self.api.WalkFile(request) if i.file_type == FILE]

    def read(self, commit: Any, path: str) -> bytes:
        chunks = self.api.GetFile(pfs_pb2.GetFileRequest(file=self.file(commit, path)))
        return b"".join(chunk.value for chunk in chunks)

    def inspect_file(self, commit: Any, path: str) -> Any:
        return self.api.InspectFile(pfs_pb2.InspectFileRequest(file=self.file(commit, path)))

    def size(self, commit: Any, path: str) -> int:
        return int(self.inspect_file(commit, path).size_bytes)

    def text(self, commit: Any, path: str) -> str:
        return self.read(commit, path).decode()

    def delete(self, commit: Any, path: str) -> None:
        self.modify(commit, delete(path))

    def outcome(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``: its result ("ok" for None), or its error as ``CODE: message``
        (normalized)."""
        try:
            result = function(*args)
        except grpc.RpcError as error:
            return f"{error.code().name}: {self.normal(error.details() or '')}"
        return "ok" if result is None else result

    def failure(self, function: Callable[..., Any], *args: Any) -> str:
        """ "ok", or ``function(*args)``'s error as ``CODE: message``."""
        result = self.outcome(function, *args)
        return result if isinstance(result, str) and ": " in result else "ok"


FILE = pfs_pb2.FileType.Value("FILE")


def add(path: str, data: bytes) -> Any:
    return pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=path, raw={"value": data}))


def delete(path: str) -> Any:
    return pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))


def copy(dst: str, src: Any, *, append: bool = False) -> Any:
    return pfs_pb2.ModifyFileRequest(copy_file=pfs_pb2.CopyFile(dst=dst, src=src, append=append))


def seconds(stamp: Any) -> float | None:
    return stamp.seconds + stamp.nanos / 1e9 if stamp.seconds or stamp.nanos else None


# --------------------------------------------------------------------------------------------
# Scenarios: name -> function(PFS) -> observations

SCENARIOS: dict[str, Callable[[PFS], Observations]] = {}


def scenario(function: Callable[[PFS], Observations]) -> Callable[[PFS], Observations]:
    SCENARIOS[function.__name__] = function
    return function


@scenario
def clear_commit_with_finished_parent(pfs: PFS) -> Observations:
    """§1.1: ClearCommit on a commit whose parent holds files; the worker's s3_out sequence."""
    pfs.seeded("r", {"/old-a": b"a", "/old-b": b"b"})
    child = pfs.label(pfs.start("r"), "child")
    pfs.write(child, {"/new": b"n"})
    seen: Observations = {"before clear": pfs.files(child)}
    pfs.api.ClearCommit(pfs_pb2.ClearCommitRequest(commit=child))
    seen["after ClearCommit"] = pfs.files(child)
    pfs.modify(child, delete("/"))
    seen["after ClearCommit + DeleteFile('/')"] = pfs.files(child)
    pfs.write(child, {"/again": b"g"})
    pfs.api.ClearCommit(pfs_pb2.ClearCommitRequest(commit=child))
    seen["after a write and ClearCommit again"] = pfs.files(child)
    seen["finished holds"] = pfs.files(pfs.finish(child).commit)
    return seen


@scenario
def delete_root_in_modify_file(pfs: PFS) -> Observations:
    """§1.1: DeleteFile("/") as the first operation of a ModifyFile empties a child commit."""
    pfs.seeded("r", {"/a": b"a", "/d/b": b"b"})
    child = pfs.start("r")
    pfs.modify(child, delete("/"))
    seen: Observations = {"after DeleteFile('/')": pfs.files(child)}
    pfs.modify(child, delete("/"), add("/fresh", b"f"))
    seen["DeleteFile('/') then AddFile in one call"] = pfs.files(child)
    seen["finished holds"] = pfs.files(pfs.finish(child).commit)
    return seen


def _name_cases() -> dict[str, str]:
    cases = {"plain ascii": "/ok-name_1.txt", "space": "/with space"}
    cases |= {f"glob {c}": f"/x{c}y" for c in GLOB_CHARACTERS}
    cases |= {"non-ASCII é": "/caf\u00e9", "control \\x01": "/a\x01b", "DEL \\x7f": "/a\x7fb"}
    cases |= {"tab": "/a\tb", "backslash": "/back\\slash"}
    return cases


@scenario
def validate_filename(pfs: PFS) -> Observations:
    """§1.2: which names AddFile takes; for those it takes: InspectFile (HEAD), GetFile (GET)
    with the literal path and with the glob escaped, DeleteFile."""
    pfs.create_repo("r")
    seen: Observations = {}
    for case, path in _name_cases().items():
        commit = pfs.start("r")
        written = pfs.failure(pfs.write, commit, {path: b"data"})
        result: Observations = {"AddFile": written}
        if written == "ok":
            result["InspectFile"] = pfs.outcome(pfs.size, commit, path)
            result["GetFile literal"] = pfs.outcome(pfs.text, commit, path)
            escaped = re.sub(r"([*?\[\]{}\\!()@+^])", r"\\\1", path)
            result["GetFile escaped"] = pfs.outcome(pfs.text, commit, escaped)
            result["DeleteFile"] = pfs.failure(pfs.delete, commit, path)
        result["DeleteFile of an absent name"] = pfs.failure(pfs.delete, commit, path + "-absent")
        seen[case] = result
        pfs.failure(pfs.finish, commit)
    return seen


@scenario
def delete_without_trailing_slash(pfs: PFS) -> Observations:
    """§1.10: DeleteFile("/a") when /a is a directory, versus DeleteFile("/a/")."""
    files = {"/a/x": b"x", "/a/y": b"y", "/ab": b"ab", "/b": b"b"}
    pfs.seeded("r", files)
    seen: Observations = {}
    for path in ("/a", "/a/"):
        commit = pfs.start("r")
        seen[f"DeleteFile({path!r})"] = pfs.failure(pfs.delete, commit, path)
        seen[f"after DeleteFile({path!r})"] = pfs.files(commit)
        pfs.api.DropCommitSet(pfs_pb2.DropCommitSetRequest(commit_set={"id": commit.id}))
    return seen


@scenario
def walk_file_pagination(pfs: PFS) -> Observations:
    """§1.10: WalkFile's pagination marker and number, in order and reversed."""
    commit = pfs.seeded("r", {f"/p/{n}": b"." for n in range(1, 6)})
    seen: Observations = {"whole walk": pfs.paths(commit, "/p")}
    for marker, number, reverse in (("/p/2", 2, False), ("/p/2", 0, False), ("/p/4", 2, True)):
        request = pfs_pb2.WalkFileRequest(
            file=pfs.file(commit, "/p"),
            paginationMarker=pfs.file(commit, marker),
            number=number,
            reverse=reverse,
        )
        key = f"marker={marker} number={number} reverse={reverse}"
        seen[key] = pfs.outcome(pfs.walk, request)
    return seen


@scenario
def error_codes(pfs: PFS) -> Observations:
    """§1.10: the status code and message of each failure the backend maps."""
    done = pfs.label(pfs.seeded("r", {"/f": b"f"}), "finished")
    open_commit = pfs.label(pfs.start("r"), "open")
    missing = pfs.commit_on("r", "0" * 32)
    # pachd takes an id that is not a UUID v4 as a branch name: "0" * 32 is one, so the missing
    # commit of the backend's shape has a real UUID v4 id
    by_id = pfs.commit_by_id("r", uuid.uuid4().hex)
    not_uuid = pfs.commit_by_id("r", "9" * 32)
    calls: dict[str, Callable[[], Any]] = {
        "InspectRepo missing": lambda: pfs.api.InspectRepo(
            pfs_pb2.InspectRepoRequest(repo=pfs.repo("nope"))
        ),
        "CreateRepo existing": lambda: pfs.create_repo("r"),
        "DeleteRepo missing": lambda: pfs.api.DeleteRepo(
            pfs_pb2.DeleteRepoRequest(repo=pfs.repo("nope"))
        ),
        "InspectBranch missing": lambda: pfs.api.InspectBranch(
            pfs_pb2.InspectBranchRequest(branch=pfs.branch("r", "nope"))
        ),
        "InspectBranch in a missing repo": lambda: pfs.api.InspectBranch(
            pfs_pb2.InspectBranchRequest(branch=pfs.branch("nope", "master"))
        ),
        "DeleteBranch in a missing repo": lambda: pfs.api.DeleteBranch(
            pfs_pb2.DeleteBranchRequest(branch=pfs.branch("nope", "master"), force=True)
        ),
        "InspectCommit missing id": lambda: pfs.inspect_commit(missing),
        "InspectCommit missing branch": lambda: pfs.inspect_commit(
            pfs_pb2.Commit(branch=pfs.branch("r", "nope"))
        ),
        "StartCommit while head open": lambda: pfs.start("r"),
        "FinishCommit finished": lambda: pfs.api.FinishCommit(
            pfs_pb2.FinishCommitRequest(commit=done)
        ),
        "ModifyFile into finished": lambda: pfs.write(done, {"/g": b"g"}),
        "InspectFile missing": lambda: pfs.inspect_file(done, "/nope"),
        "GetFile missing": lambda: pfs.read(done, "/nope"),
        "WalkFile missing": lambda: pfs.paths(done, "/nope"),
        "InspectFile in missing commit": lambda: pfs.inspect_file(missing, "/f"),
        "InspectCommit missing id (backend's shape)": lambda: pfs.inspect_commit(by_id),
        "InspectCommit in missing repo (backend's shape)": lambda: pfs.inspect_commit(
            pfs.commit_by_id("nope", done.id)
        ),
        "FinishCommit missing (backend's shape)": lambda: pfs.api.FinishCommit(
            pfs_pb2.FinishCommitRequest(commit=by_id)
        ),
        "StartCommit on missing parent (backend's shape)": lambda: pfs.api.StartCommit(
            pfs_pb2.StartCommitRequest(branch=pfs.branch("r", "side"), parent=by_id)
        ),
        "CreateBranch at missing head (backend's shape)": lambda: pfs.api.CreateBranch(
            pfs_pb2.CreateBranchRequest(branch=pfs.branch("r", "other"), head=by_id)
        ),
        "ModifyFile into missing commit (backend's shape)": lambda: pfs.write(by_id, {"/g": b"g"}),
        "InspectCommit of a non-UUID id '9'*32 (backend's shape)": lambda: pfs.inspect_commit(
            not_uuid
        ),
        "InspectFile in missing commit (backend's shape)": lambda: pfs.inspect_file(by_id, "/f"),
        "WalkFile in missing commit (backend's shape)": lambda: pfs.paths(by_id),
        "GetFile in missing commit (backend's shape)": lambda: pfs.read(by_id, "/f"),
        "ListCommit of missing repo": lambda: list(
            pfs.api.ListCommit(pfs_pb2.ListCommitRequest(repo=pfs.repo("nope")))
        ),
        "DropCommitSet finished parent of open": lambda: pfs.api.DropCommitSet(
            pfs_pb2.DropCommitSetRequest(commit_set={"id": done.id})
        ),
    }
    seen = {name: pfs.failure(call) for name, call in calls.items()}
    pfs.finish(open_commit)
    return seen


@scenario
def copy_file_append(pfs: PFS) -> Observations:
    """How AddFile and CopyFile(append) combine, within one ModifyFile and across calls (the
    backend composes multipart uploads and concatenations this way)."""
    staged = pfs.seeded("src", {"/p1": b"111", "/p2": b"22"})
    pfs.create_repo("r")
    commit = pfs.start("r")
    pfs.write(commit, {"/q1": b"aaa", "/q2": b"bb"})
    same = [pfs.file(commit, "/q1"), pfs.file(commit, "/q2")]
    other = [pfs.file(staged, "/p1"), pfs.file(staged, "/p2")]
    cases: dict[str, list[Any]] = {
        "one call: delete, add '', copy+append x2 (same open commit)": [
            delete("/c1"),
            add("/c1", b""),
            *(copy("/c1", f, append=True) for f in same),
        ],
        "one call: copy+append x2 (same open commit)": [copy("/c2", f, append=True) for f in same],
        "one call: copy+append x2 (other, finished commit)": [
            copy("/c3", f, append=True) for f in other
        ],
        "one call: add 'x' then copy+append (other commit)": [
            add("/c4", b"x"),
            copy("/c4", other[0], append=True),
        ],
        "one call: AddFile 'a' then AddFile 'b'": [add("/c5", b"a"), add("/c5", b"b")],
    }
    seen: Observations = {}
    for name, operations in cases.items():
        target = operations[-1].copy_file.dst or operations[-1].add_file.path
        written = pfs.failure(pfs.modify, commit, *operations)
        seen[name] = pfs.outcome(pfs.text, commit, target) if written == "ok" else written
        seen[f"{name}: WalkFile entries"] = pfs.outcome(pfs.paths, commit, target)
    for n, source in enumerate(other):
        pfs.modify(commit, copy("/c6", source, append=True))
        key = f"separate calls: copy+append part {n + 1} (other commit)"
        seen[key] = pfs.outcome(pfs.text, commit, "/c6")
    for n, data in enumerate((b"a", b"b")):
        pfs.write(commit, {"/c7": data})
        seen[f"separate calls: AddFile part {n + 1}"] = pfs.outcome(pfs.text, commit, "/c7")
    seen["FinishCommit"] = pfs.failure(pfs.finish, commit)
    info = pfs.inspect_commit(commit)
    seen["commit error"] = pfs.normal(info.error)
    seen["after FinishCommit"] = {
        path: pfs.outcome(pfs.text, commit, path)
        for path in ("/c1", "/c2", "/c3", "/c4", "/c5", "/c6", "/c7")
    }
    return seen


def _pattern(size: int, seed: int) -> bytes:
    generator = random.Random(seed)
    return generator.randbytes(size)


@scenario
def hash_stability(pfs: PFS) -> Observations:
    """§1.7: FileInfo.hash of a ≥10 MiB file in the open commit and after FinishCommit, for a
    file composed by CopyFile(append) of 5 MiB parts (multipart) and one written whole. (How
    the hash is computed differs by design: pachd's is BLAKE2b over chunk hashes, the double's
    SHA-256 of the content; only its stability and length are compared.)"""
    parts = [_pattern(5 * MIB, 1), _pattern(5 * MIB, 2), _pattern(MIB + 17, 3)]
    pfs.create_repo("staging")
    staging = pfs.start("staging")
    pfs.write(staging, {f"/part{n}": data for n, data in enumerate(parts)})
    staged = pfs.finish(staging).commit
    pfs.create_repo("r")
    commit = pfs.start("r")
    for n in range(len(parts)):
        pfs.modify(commit, copy("/composed", pfs.file(staged, f"/part{n}"), append=True))
    pfs.write(commit, {"/whole": b"".join(parts)})
    open_hash = {p: pfs.inspect_file(commit, p).hash for p in ("/composed", "/whole")}
    finished = pfs.finish(commit).commit
    done_hash = {p: pfs.inspect_file(finished, p).hash for p in ("/composed", "/whole")}
    return {
        "size": pfs.inspect_file(finished, "/composed").size_bytes,
        "content intact": pfs.read(finished, "/composed") == b"".join(parts),
        "composed: open hash == finished hash": open_hash["/composed"] == done_hash["/composed"],
        "whole: open hash == finished hash": open_hash["/whole"] == done_hash["/whole"],
        "open: composed hash == whole hash": open_hash["/composed"] == open_hash["/whole"],
        "finished: composed hash == whole hash": done_hash["/composed"] == done_hash["/whole"],
        "hash length (bytes)": len(done_hash["/whole"]),
    }


@scenario
def committed_time(pfs: PFS) -> Observations:
    """§1.10: FileInfo.committed in an open and a finished commit, against the commit's times."""
    pfs.create_repo("r")
    commit = pfs.start("r")
    pfs.write(commit, {"/f": b"f"})
    open_committed = seconds(pfs.inspect_file(commit, "/f").committed)
    time.sleep(1.2)  # a finish time distinct from the start time
    info = pfs.finish(commit)
    times = {
        "started": seconds(info.started),
        "finishing": seconds(info.finishing),
        "finished": seconds(info.finished),
    }
    done_committed = seconds(pfs.inspect_file(info.commit, "/f").committed)

    def which(stamp: float | None) -> str:
        if stamp is None:
            return "unset"
        near = [name for name, value in times.items() if value and abs(value - stamp) < 0.001]
        return " = ".join(near) or "none of started/finishing/finished"

    return {
        "open commit: committed is": which(open_committed),
        "finished commit: committed is": which(done_committed),
        "finishing < finished": bool(times["finishing"] and times["finished"])
        and times["finishing"] < times["finished"],  # type: ignore[operator]
    }


@scenario
def hidden_branch_provenance(pfs: PFS) -> Observations:
    """§1.9: the branch route to a commit with direct_provenance = the input heads."""
    head1 = pfs.label(pfs.seeded("in1", {"/i1": b"1"}), "in1 head")
    head2 = pfs.label(pfs.seeded("in2", {"/i2": b"2"}), "in2 head")
    parent = pfs.label(pfs.seeded("out", {"/previous": b"p"}), "out parent")
    hidden = pfs.branch("out", "pachs3_hidden")
    seen: Observations = {}

    def step(name: str, request: Any) -> bool:
        result = pfs.failure(pfs.api.CreateBranch, request)
        seen[name] = result
        return bool(result == "ok")

    def head() -> Any:
        branch = pfs.api.InspectBranch(pfs_pb2.InspectBranchRequest(branch=hidden))
        return pfs.inspect_commit(branch.head)

    def describe(info: Any) -> Observations:
        return {
            "commit": pfs.normal(info.commit.id),
            "origin": pfs_pb2.OriginKind.Name(info.origin.kind),
            "open": not info.finished.seconds,
            "parent": pfs.normal(info.parent_commit.id),
            "direct_provenance": sorted(
                pfs.normal(f"{c.branch.repo.name}@{c.id}") for c in info.direct_provenance
            ),
        }

    if not step(
        "CreateBranch(hidden, head=parent)", pfs_pb2.CreateBranchRequest(branch=hidden, head=parent)
    ):
        return seen
    seen["hidden head after step 1"] = describe(head())
    provenance = [pfs.branch("in1"), pfs.branch("in2")]
    if not step(
        "CreateBranch(hidden, provenance=[in1, in2])",
        pfs_pb2.CreateBranchRequest(branch=hidden, head=parent, provenance=provenance),
    ):
        return seen
    made = head()
    pfs.label(made.commit, "made")
    seen["hidden head after step 2"] = describe(made)
    if not step(
        "CreateBranch(hidden, provenance=[])",
        pfs_pb2.CreateBranchRequest(branch=hidden, head=made.commit),
    ):
        return seen
    seen["hidden head after step 3"] = describe(head())
    seen["write into it"] = pfs.failure(pfs.write, made.commit, {"/out": b"o"})
    seen["FinishCommit"] = pfs.failure(pfs.finish, made.commit)
    seen["finished commit"] = pfs.outcome(lambda: describe(pfs.inspect_commit(made.commit)))
    seen["files"] = pfs.outcome(pfs.files, made.commit)
    in1 = pfs.api.InspectBranch(pfs_pb2.InspectBranchRequest(branch=pfs.branch("in1")))
    seen["in1 master head afterwards"] = pfs.normal(in1.head.id)
    seen["in1 head is still"] = pfs.normal(head1.id) if in1.head.id == head1.id else "moved"
    seen["in2 head was"] = pfs.normal(head2.id)
    return seen


@scenario
def hidden_branch_batch(pfs: PFS) -> Observations:
    """§1.9 as PachydermBackend does it: both CreateBranch in one BatchTransaction; then an input
    moves; then what the backend does when it does not use the commit (DeleteBranch,
    DropCommitSet)."""
    pfs.label(pfs.seeded("in1", {"/i1": b"1"}), "in1 head")
    head2 = pfs.label(pfs.seeded("in2", {"/i2": b"2"}), "in2 head")
    pfs.label(pfs.seeded("out", {"/previous": b"p"}), "out parent")
    parent = pfs.api.InspectBranch(pfs_pb2.InspectBranchRequest(branch=pfs.branch("out"))).head
    hidden = pfs.branch("out", "pachs3_hidden")
    by_branch = pfs_pb2.Commit(repo=pfs.repo("out"), branch=hidden)
    batch = transaction_pb2.BatchTransactionRequest(
        requests=[
            transaction_pb2.TransactionRequest(
                create_branch=pfs_pb2.CreateBranchRequest(
                    branch=hidden, head=parent, provenance=[pfs.branch("in1"), pfs.branch("in2")]
                )
            ),
            transaction_pb2.TransactionRequest(
                create_branch=pfs_pb2.CreateBranchRequest(branch=hidden, head=by_branch)
            ),
        ]
    )
    seen: Observations = {"BatchTransaction": pfs.failure(pfs.transactions.BatchTransaction, batch)}
    if seen["BatchTransaction"] != "ok":
        return seen

    def describe(info: Any) -> Observations:
        return {
            "commit": pfs.normal(info.commit.id),
            "origin": pfs_pb2.OriginKind.Name(info.origin.kind),
            "open": not info.finished.seconds,
            "parent": pfs.normal(info.parent_commit.id),
            "direct_provenance": sorted(
                pfs.normal(f"{c.branch.repo.name}@{c.id}") for c in info.direct_provenance
            ),
        }

    made = pfs.label(pfs.inspect_commit(by_branch).commit, "made")
    seen["hidden head"] = describe(pfs.inspect_commit(by_branch))
    branch = pfs.api.InspectBranch(pfs_pb2.InspectBranchRequest(branch=hidden))
    seen["hidden branch provenance"] = [pfs.normal(b.repo.name) for b in branch.direct_provenance]
    moved = pfs.start(role="in1")
    pfs.label(moved, "in1 moved")
    pfs.write(moved, {"/i1": b"moved"})
    pfs.finish(moved)
    seen["hidden head after in1 moved"] = describe(pfs.inspect_commit(by_branch))
    drop_input = pfs.failure(
        pfs.api.DropCommitSet,
        pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=head2.id)),
    )
    seen["DropCommitSet(in2 head) while made exists: code"] = drop_input.split(":")[0]
    seen["DeleteBranch(hidden, force)"] = pfs.failure(
        pfs.api.DeleteBranch, pfs_pb2.DeleteBranchRequest(branch=hidden, force=True)
    )
    seen["DropCommitSet(made)"] = pfs.failure(
        pfs.api.DropCommitSet,
        pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=made.id)),
    )
    seen["InspectCommit(made) afterwards"] = pfs.failure(
        pfs.inspect_commit, pfs.commit_by_id("out", made.id)
    )
    out = pfs.api.InspectBranch(pfs_pb2.InspectBranchRequest(branch=pfs.branch("out")))
    seen["out master head afterwards"] = pfs.normal(out.head.id)
    return seen


# --------------------------------------------------------------------------------------------
# Running


def run_all(address: str, names: Iterable[str]) -> dict[str, Observations]:
    results: dict[str, Observations] = {}
    for name in names:
        pfs = PFS(address)
        try:
            results[name] = SCENARIOS[name](pfs)
        except grpc.RpcError as error:
            results[name] = {"CRASHED": f"{error.code().name}: {pfs.normal(error.details() or '')}"}
        finally:
            pfs.close()
    return results


def _flatten(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for inner, item in value.items():
            yield from _flatten(item, f"{key} / {inner}" if key else inner)
    else:
        yield key, value


def differences(ours: dict[str, Observations], theirs: dict[str, Observations]) -> list[str]:
    lines: list[str] = []
    for name in SCENARIOS:
        left = dict(_flatten(ours.get(name, {})))
        right = dict(_flatten(theirs.get(name, {})))
        for key in sorted(left.keys() | right.keys(), key=list(left | right).index):
            if left.get(key, "<absent>") != right.get(key, "<absent>"):
                lines.append(
                    f"{name} / {key}:\n    double: {left.get(key, '<absent>')!r}"
                    f"\n    pachd:  {right.get(key, '<absent>')!r}"
                )
    return lines


@contextlib.contextmanager
def double() -> Iterator[str]:
    with PFSServer() as server:
        yield server.address


def ping(address: str, timeout: float = 60.0) -> int:
    channel = grpc.insecure_channel(_grpc_target(address))
    api = pfs_pb2_grpc.APIStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        try:
            list(api.ListRepo(pfs_pb2.ListRepoRequest(), timeout=5))
            return 0
        except grpc.RpcError as error:
            if time.monotonic() > deadline:
                print(f"pachd at {address} does not answer ListRepo: {error}", file=sys.stderr)
                return 1
            time.sleep(0.5)


def delete_all(address: str) -> int:
    with grpc.insecure_channel(_grpc_target(address)) as channel:
        pfs_pb2_grpc.APIStub(channel).DeleteAll(empty_pb2.Empty(), timeout=60)
    return 0


def check_seed_output(address: str, directory: Path) -> int:
    """The seed example copies every input file to `out`: compare the output commit with DIR."""
    pfs = PFS(address)
    pfs.prefix = ""
    output = pfs_pb2.Commit(branch=pfs.branch("s3_protocol_enabled_pipeline"))
    info = pfs.inspect_commit(output)
    # pachs3's records (/.pachs3/meta/...) are not part of the example's output
    paths = [p for p in pfs.files(output) if not p.startswith("/.pachs3/")]
    got = {path: pfs.read(output, path) for path in paths}
    want = {
        "/" + str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }
    provenance = sorted(f"{c.branch.repo.name}@{c.id}" for c in info.direct_provenance)
    print(f"seed output commit {info.commit.id}: {len(got)} files, error={info.error!r}")
    print(f"  description: {info.description!r}; direct_provenance: {provenance}")
    pfs.close()
    if got != want or info.error:
        print(f"  MISMATCH: output {sorted(got)} != input {sorted(want)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", metavar="ADDRESS")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--ping", metavar="ADDRESS")
    parser.add_argument("--check-seed-output", nargs=2, metavar=("ADDRESS", "DIR"))
    parser.add_argument("--delete-all", metavar="ADDRESS")
    parser.add_argument("--only", action="append", default=[], help="scenario name (repeatable)")
    args = parser.parse_args(argv)
    if args.ping:
        return ping(args.ping)
    if args.delete_all:
        return delete_all(args.delete_all)
    if args.check_seed_output:
        return check_seed_output(args.check_seed_output[0], Path(args.check_seed_output[1]))
    names = args.only or list(SCENARIOS)
    with double() as address:
        on_double = run_all(address, names)
    if args.live:
        on_pachd = run_all(args.live, names)
        source = f"live pachd {PACHD_VERSION} at {args.live}"
        if args.record:  # the scenarios run replace their records; the others stay
            kept = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
            kept.update(on_pachd)
            RECORDED.write_text(json.dumps(kept, indent=1, ensure_ascii=False) + "\n")
    elif RECORDED.exists():
        on_pachd = json.loads(RECORDED.read_text())
        source = f"recorded pachd {PACHD_VERSION} observations ({RECORDED.name})"
    else:
        on_pachd = {}
        source = "nothing (no live address, no recorded observations)"
    print(f"PFS scenarios: the double vs {source}")
    for name in names:
        print(f"\n# {name}")
        for key, value in _flatten(on_pachd.get(name, {})):
            print(f"  pachd   {key}: {value!r}")
    found = differences({n: on_double[n] for n in names}, {n: on_pachd.get(n, {}) for n in names})
    print(f"\n{len(found)} difference(s) between the double and pachd:")
    for line in found:
        print("  " + line)
    crashed = [n for n, seen in {**on_double, **on_pachd}.items() if "CRASHED" in seen]
    if crashed:
        print(f"crashed: {crashed}", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
