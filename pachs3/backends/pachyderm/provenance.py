"""Provenance of the commits the Pachyderm backend starts: real PFS ``direct_provenance`` through
a hidden branch when it can, the description note when it cannot.

PFS 2.x has no RPC that sets a commit's provenance; a commit gets it from its branch when PFS
makes it. ``CreateBranch`` with provenance on a branch makes an open commit of origin AUTO whose
``direct_provenance`` is the provenance branches' *heads* (driver.go ``createBranch``,
``makeEmptyCommit``); giving the branch no provenance again makes no commit and leaves that one
as it is. So, when every input is its branch's head, the output commit is opened by one
``BatchTransaction`` (one pachd transaction, so no input move can propagate into the hidden
branch while it has provenance) of two ``CreateBranch``: the hidden branch at the output's parent
with the inputs' branches as provenance, then the hidden branch at that new commit with none.
The commit is then inspected: if its ``direct_provenance`` is not exactly the commits the job
pinned (an input branch moved between the read of its head and the transaction), it is dropped
and the note is used instead, rather than recording provenance the job did not read.

The commit PFS makes has an empty description: the note (target branch, provenance, route) is
kept here while it is open and given to ``FinishCommit``, which sets the description.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.transaction import transaction_pb2, transaction_pb2_grpc

from ..base import BackendError, CommitRef, NotFound, Unavailable
from .paths import HIDDEN_BRANCH_PREFIX, is_commit_id
from .records import CommitNote, decode_note
from .repos import RepoLayer
from .rpc import _translate, log

Source = tuple[str, str, str]
"""(project, repo, commit id) of one input."""


@dataclass(frozen=True, slots=True)
class Input:
    """One input of a commit: as the caller named it, as resolved, and its CommitInfo."""

    ref: CommitRef
    source: Source
    raw: Any


ROUTE_PFS = "pfs"
"""The commit has PFS direct_provenance (opened through a hidden branch with provenance)."""
ROUTE_NOTE = "note"
"""The provenance is only in the description note."""


class ProvenanceLayer(RepoLayer):
    """Opens commits with PFS provenance; remembers the note of such a commit until it finishes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transactions = transaction_pb2_grpc.APIStub(self._channel)
        self._pending: dict[tuple[str, str, str], CommitNote] = {}
        self._pending_lock = threading.Lock()

    # ----------------------------------------------------------------------------------------
    # Notes of open commits PFS made

    def _keep_note(self, repo: str, commit_id: str, note: CommitNote) -> None:
        with self._pending_lock:
            self._pending[(self._project(), repo, commit_id)] = note

    def _pending_note(self, repo: str, commit_id: str) -> CommitNote | None:
        with self._pending_lock:
            return self._pending.get((self._project(), repo, commit_id))

    def _drop_note(self, repo: str, commit_id: str) -> None:
        with self._pending_lock:
            self._pending.pop((self._project(), repo, commit_id), None)

    def _note_of(self, raw: Any) -> CommitNote:
        """The commit's note: from its description, or the one kept while PFS's commit is open."""
        note = decode_note(raw.description)
        if note.noted:
            return note
        repo = raw.commit.repo.name or raw.commit.branch.repo.name
        project = raw.commit.repo.project.name or raw.commit.branch.repo.project.name
        if project not in ("", self._project()):
            return note
        return self._pending_note(repo, raw.commit.id) or note

    # ----------------------------------------------------------------------------------------
    # The hidden-branch route

    def _open_with_provenance(
        self,
        repo: str,
        hidden: str,
        parent_id: str | None,
        inputs: Sequence[Input],
    ) -> tuple[str | None, str]:
        """Open a commit on ``hidden`` whose PFS direct_provenance is the ``inputs``.

        Returns (the commit id, "") or (None, why the route was not taken); nothing is left
        behind when it is not taken. Raises ``Unavailable``; and, should the ``InspectCommit``
        that follows a transaction pachd ran fail, its error (the hidden branch then stays, as
        after any start that failed half-way, and is never listed)."""
        try:
            branches = self._source_branches(inputs)
        except Unavailable:
            raise
        except BackendError as exc:
            return None, f"could not read an input's branch: {exc}"
        if isinstance(branches, str):
            return None, branches
        first = pfs_pb2.CreateBranchRequest(branch=self._branch(repo, hidden), provenance=branches)
        if parent_id is not None:
            first.head.CopyFrom(self._commit(repo, parent_id))
        # The second names the head by branch: the commit's id is the transaction's, unknown
        # until it has run.
        second = pfs_pb2.CreateBranchRequest(
            branch=self._branch(repo, hidden),
            head=pfs_pb2.Commit(repo=self._repo(repo), branch=self._branch(repo, hidden)),
        )
        batch = transaction_pb2.BatchTransactionRequest(
            requests=[
                transaction_pb2.TransactionRequest(create_branch=first),
                transaction_pb2.TransactionRequest(create_branch=second),
            ]
        )
        self._ready()
        try:
            self._transactions.BatchTransaction(
                batch, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            error = _translate(exc, "branch", hidden)
            if isinstance(error, Unavailable):
                raise error from exc
            return None, f"pachd refused the hidden-branch transaction: {error}"
        raw = self._call(
            "InspectCommit",
            pfs_pb2.InspectCommitRequest(
                commit=pfs_pb2.Commit(repo=self._repo(repo), branch=self._branch(repo, hidden))
            ),
            what="branch",
            name=hidden,
        )
        got = {self._source_of(c) for c in raw.direct_provenance}
        parent_got = raw.parent_commit.id if raw.HasField("parent_commit") else None
        sources = [i.source for i in inputs]
        if got == set(sources) and parent_got == parent_id and not raw.HasField("finishing"):
            return raw.commit.id, ""
        self._undo_route(repo, hidden, raw.commit.id)
        pinned = ", ".join(f"{r}@{c}" for _, r, c in sources)
        made = ", ".join(sorted(f"{r}@{c}" for _, r, c in got))
        return None, (
            f"an input moved while the commit was opened: PFS pinned [{made}], "
            f"the job read [{pinned}]"
        )

    def _source_branches(self, inputs: Sequence[Input]) -> list[Any] | str:
        """Each input's branch, if the input is that branch's PFS head; else why not."""
        branches: list[Any] = []
        for item in inputs:
            ref, (_, repo, commit_id) = item.ref, item.source
            if is_commit_id(ref.id):
                note = decode_note(item.raw.description)
                name = note.branch if note.noted else item.raw.commit.branch.name
            else:
                name = ref.id
            if not name or name.startswith(HIDDEN_BRANCH_PREFIX):
                return f"input {repo}@{commit_id} is on no branch"
            info = self._call(
                "InspectBranch",
                pfs_pb2.InspectBranchRequest(branch=self._branch(repo, name, ref.project)),
                what="branch",
                name=name,
            )
            if info.head.id != commit_id:
                return (
                    f"input {repo}@{commit_id} is not the head of its branch {name} "
                    f"(the head is {info.head.id})"
                )
            branch = self._branch(repo, name, ref.project)
            if branch not in branches:
                branches.append(branch)
        return branches

    def _source_of(self, commit: Any) -> Source:
        repo = commit.repo if commit.repo.name else commit.branch.repo
        return (repo.project.name or self._project(), repo.name, commit.id)

    def _undo_route(self, repo: str, hidden: str, commit_id: str) -> None:
        """Remove what a route that is not taken made: the hidden branch, then its commit."""
        try:
            self._call(
                "DeleteBranch",
                pfs_pb2.DeleteBranchRequest(branch=self._branch(repo, hidden), force=True),
                what="branch",
                name=hidden,
            )
            self._call(
                "DropCommitSet",
                pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=commit_id)),
                what="commit",
                name=f"{repo}@{commit_id}",
            )
        except NotFound:
            pass
        except Unavailable:
            raise
        except BackendError as exc:
            log.warning("could not remove the unused commit %s@%s: %s", repo, commit_id, exc)

    @staticmethod
    def _new_hidden_branch() -> str:
        return f"{HIDDEN_BRANCH_PREFIX}{uuid.uuid4().hex}"
