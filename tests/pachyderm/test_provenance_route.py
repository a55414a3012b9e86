"""Issue 13 item 9: the output commit gets real PFS ``direct_provenance`` through a hidden branch
when every input is its branch's head, and the description note otherwise (an input pinned to
an older commit, pachd refusing the transaction, an input moving while the commit is opened).

On the PFS double, which models what pachd 2.6.0 did with the route (``hidden_branch_provenance``
in tests/pachyderm/live/scenarios.py) and runs BatchTransaction all or nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pfs_double import PFSServer
from pfs_double_core import AUTO, USER, unknown

from pachs3.backends.base import CommitInfo, CommitRef
from pachs3.backends.pachyderm import PachydermBackend
from pachs3.backends.pachyderm.paths import HIDDEN_BRANCH_PREFIX
from pachs3.backends.pachyderm.records import decode_note

LOGGER = "pachs3.pachyderm"


def seeded(pfs: PachydermBackend, repo: str, files: dict[str, bytes]) -> CommitInfo:
    """A finished commit on ``repo``'s master holding ``files``."""
    pfs.create_repo(repo, exist_ok=True)
    started = pfs.start_commit(repo, "master")
    for key, data in files.items():
        pfs.put_file(started.ref, key, [data])
    return pfs.finish_commit(repo, started.id)


def stored(server: PFSServer, repo: str, commit_id: str) -> Any:
    """The commit as PFS holds it (not as the backend reports it)."""
    with server.service.lock:
        return server.service.repos[("default", repo)].commits[commit_id]


def hidden_branches(server: PFSServer, repo: str) -> list[str]:
    with server.service.lock:
        branches = server.service.repos[("default", repo)].branches
        return [b for b in branches if b.startswith(HIDDEN_BRANCH_PREFIX)]


def noted_only(server: PFSServer, job: CommitInfo) -> Any:
    """The job's commit as PFS holds it, checked to have taken the note route: no PFS
    provenance, the provenance only in the description note."""
    made = stored(server, "out", job.id)
    assert made.direct_provenance == []
    note = decode_note(made.description)
    assert (note.noted, note.route) == (True, "note")
    return made


def pfs_provenance_is_both_inputs(
    server: PFSServer, job: CommitInfo, in1: CommitInfo, in2: CommitInfo
) -> Any:
    """The job's commit as PFS holds it, checked to have both inputs' heads as provenance."""
    made = stored(server, "out", job.id)
    assert sorted(made.direct_provenance) == [
        ("in1", "master", in1.id),
        ("in2", "master", in2.id),
    ]
    return made


@pytest.fixture
def inputs(pfs: PachydermBackend) -> tuple[CommitInfo, CommitInfo, CommitInfo]:
    """Two inputs with a head each, and an output repo with a previous output."""
    in1 = seeded(pfs, "in1", {"a": b"1"})
    in2 = seeded(pfs, "in2", {"b": b"2"})
    previous = seeded(pfs, "out", {"previous": b"p"})
    return in1, in2, previous


def test_inputs_at_their_heads_give_the_output_commit_pfs_direct_provenance(
    pfs: PachydermBackend,
    server: PFSServer,
    inputs: tuple[CommitInfo, CommitInfo, CommitInfo],
    caplog: pytest.LogCaptureFixture,
) -> None:
    in1, in2, previous = inputs
    caplog.set_level(logging.INFO, logger=LOGGER)
    before = dict(server.service.calls)
    job = pfs.start_commit(
        "out",
        "master",
        provenance=[CommitRef(repo="in1", id="master"), CommitRef(repo="in2", id=in2.id)],
        description="job 7",
        empty=True,
    )
    calls = {
        k: v - before.get(k, 0) for k, v in server.service.calls.items() if v > before.get(k, 0)
    }
    made = pfs_provenance_is_both_inputs(server, job, in1, in2)
    assert (made.origin, made.parent, made.finished) == (AUTO, previous.id, None)
    # the route: one transaction, no StartCommit; one InspectBranch per input to check heads
    assert calls.get("BatchTransaction") == 1
    assert "StartCommit" not in calls
    assert job.branch == "master"
    assert job.description == "job 7"
    assert set(job.provenance) == {
        CommitRef(repo="in1", id=in1.id),
        CommitRef(repo="in2", id=in2.id),
    }
    assert "hidden-branch route" in caplog.text

    assert list(pfs.walk_files(job.ref)) == []  # empty=True: the parent's files are hidden
    pfs.put_file(job.ref, "result", [b"r"])
    done = pfs.finish_commit("out", job.id)

    made = pfs_provenance_is_both_inputs(server, job, in1, in2)
    note = decode_note(made.description)
    assert (note.noted, note.route, note.branch) == (True, "pfs", "master")
    assert note.description == "job 7"
    assert done.description == "job 7"
    assert pfs.inspect_commit("out", "master").id == job.id
    assert set(pfs.inspect_commit("out", job.id).provenance) == {
        CommitRef(repo="in1", id=in1.id),
        CommitRef(repo="in2", id=in2.id),
    }
    files = server.service.files("out", job.id)
    assert {p: d for p, d in files.items() if not p.startswith("/.pachs3")} == {"/result": b"r"}
    assert hidden_branches(server, "out") == []
    # the inputs are where they were: the route never moves them
    assert pfs.inspect_commit("in1", "master").id == in1.id
    assert pfs.inspect_commit("in2", "master").id == in2.id


def test_an_input_pinned_below_its_branch_head_falls_back_to_the_note(
    pfs: PachydermBackend,
    server: PFSServer,
    inputs: tuple[CommitInfo, CommitInfo, CommitInfo],
    caplog: pytest.LogCaptureFixture,
) -> None:
    in1, in2, previous = inputs
    newer = seeded(pfs, "in1", {"a": b"newer"})
    caplog.set_level(logging.INFO, logger=LOGGER)
    job = pfs.start_commit(
        "out",
        "master",
        provenance=[CommitRef(repo="in1", id=in1.id), CommitRef(repo="in2", id="master")],
    )
    made = noted_only(server, job)
    assert (made.origin, made.parent) == (USER, previous.id)
    note = decode_note(made.description)
    assert note.provenance == (("default", "in1", in1.id), ("default", "in2", in2.id))
    assert job.provenance == (CommitRef(repo="in1", id=in1.id), CommitRef(repo="in2", id=in2.id))
    assert f"is not the head of its branch master (the head is {newer.id})" in caplog.text
    assert "BatchTransaction" not in server.service.calls
    pfs.finish_commit("out", job.id)
    assert pfs.inspect_commit("out", "master").provenance == job.provenance


def test_pachd_refusing_the_transaction_falls_back_to_the_note(
    pfs: PachydermBackend,
    server: PFSServer,
    inputs: tuple[CommitInfo, CommitInfo, CommitInfo],
    caplog: pytest.LogCaptureFixture,
) -> None:
    in1, _, _ = inputs

    def refuse() -> None:
        raise unknown("user is not authorized to perform this operation")

    server.service.faults.before["BatchTransaction"] = refuse
    caplog.set_level(logging.INFO, logger=LOGGER)
    job = pfs.start_commit("out", "master", provenance=[CommitRef(repo="in1", id="master")])
    made = noted_only(server, job)
    assert job.provenance == (CommitRef(repo="in1", id=in1.id),)
    assert "pachd refused the hidden-branch transaction" in caplog.text
    assert hidden_branches(server, "out") == [made.branch]  # only the fallback commit's own


def test_an_input_moving_while_the_commit_is_opened_falls_back_rather_than_pin_it(
    pfs: PachydermBackend,
    server: PFSServer,
    inputs: tuple[CommitInfo, CommitInfo, CommitInfo],
    caplog: pytest.LogCaptureFixture,
) -> None:
    in1, in2, previous = inputs
    moved: list[CommitInfo] = []
    # Between the backend's read of in1's head and its transaction, someone commits to in1.
    server.service.faults.before["BatchTransaction"] = lambda: moved.append(
        seeded(pfs, "in1", {"a": b"moved"})
    )
    caplog.set_level(logging.INFO, logger=LOGGER)
    job = pfs.start_commit(
        "out",
        "master",
        provenance=[CommitRef(repo="in1", id="master"), CommitRef(repo="in2", id="master")],
    )
    assert len(moved) == 1
    assert moved[0].id != in1.id
    # not the moved head: the job read in1 at its old head, and that is what is recorded
    made = noted_only(server, job)
    assert made.origin == USER
    assert job.provenance == (CommitRef(repo="in1", id=in1.id), CommitRef(repo="in2", id=in2.id))
    assert "an input moved while the commit was opened" in caplog.text
    # the commit the transaction made is gone, with its hidden branch
    with server.service.lock:
        commits = server.service.repos[("default", "out")].commits
        assert [c.id for c in commits.values() if c.parent == previous.id] == [job.id]
    assert hidden_branches(server, "out") == [made.branch]
    pfs.put_file(job.ref, "x", [b"x"])
    pfs.finish_commit("out", job.id)
    assert pfs.inspect_commit("out", "master").id == job.id


def test_discarding_a_commit_opened_by_the_route_leaves_nothing(
    pfs: PachydermBackend,
    server: PFSServer,
    inputs: tuple[CommitInfo, CommitInfo, CommitInfo],
) -> None:
    _, _, previous = inputs
    job = pfs.start_commit("out", "master", provenance=[CommitRef(repo="in1", id="master")])
    assert stored(server, "out", job.id).origin == AUTO
    pfs.discard_commit("out", job.id)
    with server.service.lock:
        assert job.id not in server.service.repos[("default", "out")].commits
    assert hidden_branches(server, "out") == []
    assert pfs.inspect_commit("out", "master").id == previous.id


def test_a_new_output_branch_without_a_parent_takes_the_route(
    pfs: PachydermBackend, server: PFSServer
) -> None:
    in1 = seeded(pfs, "in1", {"a": b"1"})
    pfs.create_repo("fresh")
    job = pfs.start_commit("fresh", "master", provenance=[CommitRef(repo="in1", id="master")])
    made = stored(server, "fresh", job.id)
    assert made.direct_provenance == [("in1", "master", in1.id)]
    assert made.parent is None
    pfs.put_file(job.ref, "k", [b"v"])
    pfs.finish_commit("fresh", job.id)
    head = pfs.inspect_commit("fresh", "master")
    assert (head.id, head.provenance) == (job.id, (CommitRef(repo="in1", id=in1.id),))
