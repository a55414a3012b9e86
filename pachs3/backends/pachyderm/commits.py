"""Repos, branches and commits of the Pachyderm backend: hidden branches, provenance notes,
the adopted job commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2

from ..base import (
    DEFAULT_PROJECT,
    BackendError,
    CommitInfo,
    CommitRef,
    Conflict,
    NotFound,
)
from .known import CommitFiles
from .paths import HIDDEN_BRANCH_PREFIX, meta_path, pfs_path
from .provenance import ROUTE_NOTE, ROUTE_PFS, Input, ProvenanceLayer
from .records import CommitNote, encode_note
from .repos import _placeholder
from .rpc import _FINISHED, _USER_REPO, _time, _translate, log

_MAX_HEAD_WALK = 1000


class CommitLayer(ProvenanceLayer):
    """Repos, branches, commits; and what was written to the commits this backend owns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owned: dict[tuple[str, str, str], CommitFiles] = {}
        self._owned_lock = threading.Lock()

    def _own(self, ref: CommitRef, commit_id: str, *, complete: bool) -> CommitFiles:
        files = CommitFiles(complete=complete)
        with self._owned_lock:
            self._owned[(self._project(ref.project), ref.repo, commit_id)] = files
        return files

    def _owned_files(self, ref: CommitRef, commit_id: str) -> CommitFiles | None:
        """What this backend wrote to ``commit_id`` when it owns that open commit."""
        with self._owned_lock:
            return self._owned.get((self._project(ref.project), ref.repo, commit_id))

    def _disown(self, repo: str, commit_id: str, project: str = DEFAULT_PROJECT) -> None:
        with self._owned_lock:
            self._owned.pop((self._project(project), repo, commit_id), None)

    def _commit_info(self, raw: Any) -> CommitInfo:
        note = self._note_of(raw)
        repo = raw.commit.repo.name or raw.commit.branch.repo.name
        project = raw.commit.repo.project.name or raw.commit.branch.repo.project.name
        pfs_branch = raw.commit.branch.name
        if note.noted:
            branch = note.branch
        else:
            branch = None if pfs_branch.startswith(HIDDEN_BRANCH_PREFIX) else pfs_branch or None
        provenance: list[CommitRef] = [
            CommitRef(repo=r, id=c, project=self._shown_project(p)) for p, r, c in note.provenance
        ]
        for source in raw.direct_provenance:
            source_repo = source.repo if source.HasField("repo") else source.branch.repo
            if source_repo.type not in ("", _USER_REPO):
                continue  # spec and meta repos are Pachyderm's bookkeeping
            ref = CommitRef(
                repo=source_repo.name,
                id=source.id,
                project=self._shown_project(source_repo.project.name),
            )
            if ref not in provenance:
                provenance.append(ref)
        return CommitInfo(
            repo=repo,
            id=raw.commit.id,
            branch=branch,
            parent=raw.parent_commit.id if raw.HasField("parent_commit") else None,
            started=_time(raw.started),
            finished=_time(raw.finished) if raw.HasField("finished") else None,
            provenance=tuple(provenance),
            description=note.description,
            error=raw.error or None,
            project=self._shown_project(project),
        )

    def _adopted(self, repo: str, commit_id: str | None = None) -> bool:
        adopt = self._adopt
        if adopt is None or adopt.repo != repo:
            return False
        return commit_id is None or commit_id == adopt.id

    def start_commit(
        self,
        repo: str,
        branch: str | None,
        *,
        parent: str | None = None,
        provenance: Sequence[CommitRef] = (),
        description: str = "",
        empty: bool = False,
    ) -> CommitInfo:
        if self._adopted(repo) and branch is not None and self._adopt is not None:
            return self._start_adopted(self._adopt, empty=empty)
        self.inspect_repo(repo)
        sources: list[tuple[str, str, str]] = []
        inputs: list[Input] = []
        for ref in provenance:
            exact = (self._project(ref.project), ref.repo, self._resolve(ref))
            raw = self._raw_commit(ref.repo, exact[2], ref.project)  # it must exist
            if exact not in sources:
                sources.append(exact)
                inputs.append(Input(ref=ref, source=exact, raw=raw))
        if parent is not None:
            parent_id: str | None = self._resolve(CommitRef(repo=repo, id=parent))
            parent_raw = self._raw_commit(repo, parent_id or "")
            if not parent_raw.HasField("finished"):
                raise Conflict(f"parent commit {repo}@{parent_id} is not finished")
        elif branch is not None:
            try:
                parent_id = self._branch_head(repo, branch)
            except NotFound as exc:
                if exc.what != "branch":
                    raise
                self._call(
                    "CreateBranch",
                    pfs_pb2.CreateBranchRequest(branch=self._branch(repo, branch)),
                    what="repo",
                    name=repo,
                )
                parent_id = None
        else:
            parent_id = None
        commit_id: str | None = None
        if sources:
            commit_id, why = self._open_with_provenance(
                repo, self._new_hidden_branch(), parent_id, inputs
            )
            pinned = ", ".join(f"{r}@{c}" for _, r, c in sources)
            if commit_id is None:
                log.info(
                    "%s: provenance [%s] kept in the description note only: %s", repo, pinned, why
                )
            else:
                log.info(
                    "%s@%s: provenance [%s] is PFS direct_provenance (hidden-branch route)",
                    repo,
                    commit_id,
                    pinned,
                )
                note = CommitNote(
                    description=description,
                    branch=branch,
                    provenance=tuple(sources),
                    noted=True,
                    route=ROUTE_PFS,
                )
                self._keep_note(repo, commit_id, note)
        if commit_id is None:
            request = pfs_pb2.StartCommitRequest(
                branch=self._branch(repo, self._new_hidden_branch()),
                description=encode_note(
                    description, branch, sources, ROUTE_NOTE if sources else None
                ),
            )
            if parent_id is not None:
                request.parent.CopyFrom(self._commit(repo, parent_id))
            commit_id = self._call("StartCommit", request, what="repo", name=repo).id
        ref = CommitRef(repo=repo, id=commit_id)
        if empty and parent_id is not None:
            # ClearCommit would drop only this commit's own writes: pachd reads an open commit
            # as its parent plus its diffs. Deleting "/" is a diff that hides the parent's
            # files (what pachd's worker does for s3_out pipelines, registry.go).
            self._modify(iter((self._set_commit(ref, commit_id), self._delete("/"))))
        self._own(ref, commit_id, complete=empty or parent_id is None)
        return self._commit_info(self._raw_commit(repo, commit_id))

    def _start_adopted(self, adopt: CommitRef, *, empty: bool) -> CommitInfo:
        """The job's output commit, as the worker made it: never cleared here (ClearCommit
        would undo the worker's own DeleteFile("/") and bring the previous job's output back)."""
        raw = self._raw_commit(adopt.repo, adopt.id, adopt.project)
        if raw.HasField("finished") or raw.HasField("finishing"):
            raise Conflict(f"the adopted commit {adopt} is already finished")
        if self._owned_files(adopt, adopt.id) is None:
            empty_now = self._reads_empty(adopt)
            self._own(adopt, adopt.id, complete=empty_now)
            if empty and not empty_now:
                log.warning("the job's output commit %s is not empty; pachs3 leaves it so", adopt)
        return self._commit_info(raw)

    def _reads_empty(self, ref: CommitRef) -> bool:
        request = pfs_pb2.WalkFileRequest(file=self._file(ref.repo, ref.id, "/", ref.project))
        request.number = 1
        return not any(True for _ in self._stream("WalkFile", request, what="file"))

    def _set_commit(self, ref: CommitRef, commit_id: str) -> Any:
        return pfs_pb2.ModifyFileRequest(set_commit=self._commit(ref.repo, commit_id, ref.project))

    @staticmethod
    def _delete(path: str) -> Any:
        return pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        commit_id = self._resolve(CommitRef(repo=repo, id=commit))
        raw = self._raw_commit(repo, commit_id)
        if self._adopted(repo, commit_id):
            # The job's output commit is the worker's to finish (with the job's error if any).
            if error:
                log.warning("job failed, leaving %s@%s to the worker: %s", repo, commit_id, error)
            return self._commit_info(raw)
        if raw.HasField("finished") or raw.HasField("finishing"):
            raise Conflict(f"commit {repo}@{commit_id} is already finished")
        request = pfs_pb2.FinishCommitRequest(commit=raw.commit, error=error or "")
        pending = self._pending_note(repo, commit_id)
        if pending is not None:  # PFS made this commit: its description is set now
            request.description = encode_note(
                pending.description, pending.branch, pending.provenance, pending.route
            )
        self._call("FinishCommit", request, what="commit", name=f"{repo}@{commit_id}")
        self._disown(repo, commit_id)
        self._drop_note(repo, commit_id)
        done = self._wait_finished(repo, commit_id)
        info = self._commit_info(done)
        if info.branch is not None and not done.error:
            self._call(
                "CreateBranch",
                pfs_pb2.CreateBranchRequest(
                    branch=self._branch(repo, info.branch), head=self._commit(repo, commit_id)
                ),
                what="branch",
            )
        self._drop_hidden_branch(raw)
        return info

    def _wait_finished(self, repo: str, commit_id: str) -> Any:
        """Wait for pachd to finish a commit (compaction and validation), however long that
        takes: each wait is bounded by ``finish_timeout`` and followed by a note in the log and
        another wait, so a large commit that does finish is never reported as Unavailable."""
        request = pfs_pb2.InspectCommitRequest(commit=self._commit(repo, commit_id), wait=_FINISHED)
        began = time.monotonic()
        while True:
            self._ready()
            try:
                raw = self._stub.InspectCommit(
                    request, timeout=self._finish_timeout, metadata=self._metadata
                )
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise _translate(exc, "commit", f"{repo}@{commit_id}") from exc
                raw = None
            if raw is not None and raw.HasField("finished"):
                return raw
            log.info(
                "pachd is still finishing %s@%s after %.0f s; waiting on",
                repo,
                commit_id,
                time.monotonic() - began,
            )

    def _drop_hidden_branch(self, raw: Any) -> None:
        name = raw.commit.branch.name
        if not name.startswith(HIDDEN_BRANCH_PREFIX):
            return
        try:
            self._call(
                "DeleteBranch",
                pfs_pb2.DeleteBranchRequest(branch=raw.commit.branch, force=True),
                what="branch",
            )
        except NotFound:
            pass
        except BackendError as exc:  # cosmetic: a leftover hidden branch hides itself
            log.warning("could not delete hidden branch %s: %s", name, exc)

    def discard_commit(self, repo: str, commit: str) -> None:
        commit_id = self._resolve(CommitRef(repo=repo, id=commit))
        raw = self._raw_commit(repo, commit_id)
        if raw.HasField("finished") or raw.HasField("finishing"):
            raise Conflict(f"commit {repo}@{commit_id} is finished and cannot be discarded")
        ref = CommitRef(repo=repo, id=commit_id)
        if self._adopted(repo, commit_id):
            self._discard_own_writes(ref)
            return
        self._disown(repo, commit_id)
        self._drop_note(repo, commit_id)
        # The hidden branch goes first, so that PFS does not replace the dropped head with an
        # empty commit of its own.
        self._drop_hidden_branch(raw)
        self._call(
            "DropCommitSet",
            pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=commit_id)),
            what="commit",
            name=f"{repo}@{commit_id}",
        )

    def _discard_own_writes(self, ref: CommitRef) -> None:
        """Delete the keys this backend wrote to the worker's commit, and only those: the
        commit is the worker's, and what others wrote to it stays."""
        files = self._owned_files(ref, ref.id)
        keys = [] if files is None else files.keys()
        if files is None or not keys:
            return
        requests = [self._set_commit(ref, ref.id)]
        for key in keys:
            requests += [self._delete(pfs_path(key)), self._delete(meta_path(key))]
        self._modify(iter(requests))
        for key in keys:
            files.forget(key)

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        commit_id = self._resolve(CommitRef(repo=repo, id=commit))
        return self._commit_info(self._raw_commit(repo, commit_id))

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        if branch is not None:
            self._branch_head(repo, branch)  # NotFound('branch') when missing
        request = pfs_pb2.ListCommitRequest(repo=self._repo(repo), all=True)
        infos = []
        for raw in self._stream("ListCommit", request, what="repo", name=repo):
            if _placeholder(raw):
                continue
            info = self._commit_info(raw)
            if branch is None or info.branch == branch:
                infos.append(info)
        infos.sort(key=lambda i: i.started, reverse=True)
        return infos
