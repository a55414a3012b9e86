"""``LocalStore``: repos, branches, commits and maintenance over ``files.FileStore``'s file
methods; each method is one short transaction (the package docstring says how the modules fit)."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..base import (
    AlreadyExists,
    BranchInfo,
    CommitInfo,
    CommitRef,
    Conflict,
    NotFound,
    RepoInfo,
)
from . import history, owners
from . import schema as sql
from .blobs import (
    DEFAULT_CHUNK_SIZE,
    TEMP_MIN_AGE,
    BlobStore,
    segment_digests,
)
from .database import Database, Durability, now_us, prepare_store
from .files import FileStore
from .layers import layers_to_merge, merge_layers
from .rows import (
    NO_BRANCH,
    CommitRow,
    branch_head,
    ensure_branch,
    find_commit,
    repo_info,
    repo_row,
    require_repo,
    resolve_provenance,
)
from .schema import RepoRow

DEAD_OWNER = "the process serving this job died"
"""The error of a commit whose owner died before finishing it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GcReport:
    blobs_removed: int
    bytes_freed: int
    temp_files_removed: int


class LocalStore(FileStore):
    """A PFS backend on local disk; implements ``pachs3.backends.base.Backend``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "process-crash",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        busy_timeout: float = 30.0,
        page_size: int = 1000,
    ) -> None:
        if durability not in ("process-crash", "power-loss"):
            raise ValueError(f"durability must be 'process-crash' or 'power-loss': {durability!r}")
        if chunk_size <= 0 or page_size <= 0:
            raise ValueError("chunk_size and page_size must be positive")
        self.path = Path(path)
        self.durability: Durability = durability
        super().__init__(
            Database(prepare_store(self.path), durability=durability, busy_timeout=busy_timeout),
            BlobStore(self.path, durable=durability == "power-loss", chunk_size=chunk_size),
            page_size=page_size,
        )
        self._blobs.sweep_temp()
        self._index_history()
        self._fail_dead_owners()

    def close(self) -> None:
        self._db.close()

    @property
    def range_scans(self) -> int:
        """Range queries (seeks in the path index) this store's walks and listings have run:
        a count for tests and benchmarks, e.g. a delimiter listing's cost in seeks."""
        return self._db.range_scans

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.path)!r}, durability={self.durability!r})"

    # ----------------------------------------------------------------------------------------
    # Repos and branches

    def create_repo(self, repo: str, *, description: str = "", exist_ok: bool = False) -> RepoInfo:
        with self._db.write() as con:
            row = repo_row(con, repo)
            if row is not None:
                if exist_ok:
                    return repo_info(row)
                raise AlreadyExists(f"repo already exists: {repo}")
            row = RepoRow(name=repo, created_us=now_us(), description=description)
            con.execute(sql.INSERT_REPO, row)
        return repo_info(row)

    def inspect_repo(self, repo: str) -> RepoInfo:
        with self._db.read() as con:
            return repo_info(require_repo(con, repo))

    def list_repos(self) -> list[RepoInfo]:
        with self._db.read() as con:
            rows = con.execute(sql.SELECT_REPOS)
            return [repo_info(RepoRow._make(row)) for row in rows]

    def delete_repo(self, repo: str) -> None:
        """Delete the repo's rows; its blobs stay until ``gc()`` finds them unreferenced."""
        with self._db.write() as con:
            require_repo(con, repo)
            for statement in sql.DELETE_REPO:
                con.execute(statement, (repo,))

    def create_branch(self, repo: str, branch: str, *, head: str | None = None) -> BranchInfo:
        with self._db.write() as con:
            require_repo(con, repo)
            head_id = None if head is None else find_commit(con, repo, head).id
            con.execute(sql.SET_BRANCH, (repo, branch, head_id))
        return BranchInfo(repo=repo, name=branch, head=head_id)

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        with self._db.read() as con:
            require_repo(con, repo)
            row = con.execute(sql.SELECT_BRANCH_HEAD, (repo, branch)).fetchone()
        if row is None:
            raise NotFound("branch", f"{repo}@{branch}")
        return BranchInfo(repo=repo, name=branch, head=row[0])

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete the branch name; its commits stay in the repo (readable by id)."""
        with self._db.write() as con:
            require_repo(con, repo)
            if con.execute(sql.DELETE_BRANCH, (repo, branch)).rowcount == 0:
                raise NotFound("branch", f"{repo}@{branch}")

    def list_branches(self, repo: str) -> list[BranchInfo]:
        with self._db.read() as con:
            require_repo(con, repo)
            rows = con.execute(sql.SELECT_BRANCHES, (repo,)).fetchall()
        return [BranchInfo(repo=repo, name=name, head=head) for name, head in rows]

    # ----------------------------------------------------------------------------------------
    # Commits

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
        """Open a commit: O(1), it copies the parent's short layer list, never its files.

        A branch that does not exist yet is created (empty). The parent must be finished
        (Conflict otherwise): an open parent's view could still change under its child.
        """
        with self._db.write() as con:
            require_repo(con, repo)
            sources = resolve_provenance(con, provenance)
            head = None if branch is None else ensure_branch(con, repo, branch)
            base_ref = parent if parent is not None else head
            base = None if base_ref is None else find_commit(con, repo, base_ref)
            if base is not None and base.is_open:
                raise Conflict(f"parent commit {base.id} is not finished")
            own = con.execute(sql.INSERT_LAYER, (repo,)).lastrowid
            assert own is not None
            layers = [own] if empty or base is None else [own, *base.layers]
            commit_id = uuid.uuid4().hex
            values = (
                commit_id,
                repo,
                branch,
                None if base is None else base.id,
                now_us(),
                json.dumps(sources),
                description,
                own,
                json.dumps(layers),
            )
            cursor = con.execute(sql.INSERT_COMMIT, values)
            assert cursor.lastrowid is not None
            self._commit_ids[cursor.lastrowid] = commit_id
            return find_commit(con, repo, commit_id).info()

    def claim_commit(self, repo: str, commit: str) -> None:
        """Record this process as the one that will finish the open ``commit`` (owners.py):
        if it dies first, the next process to open the store finishes it with that error."""
        with self._db.write() as con:
            if not find_commit(con, repo, commit).is_open:
                raise Conflict(f"commit {repo}@{commit} is finished; there is nothing to own")
            owners.claim(con, commit)

    def _index_history(self) -> None:
        with self._db.connection() as con:
            stale = history.index_is_stale(con)
        if stale:
            with self._db.write() as con:
                history.ensure_index(con)

    def _fail_dead_owners(self) -> None:
        with self._db.connection() as con:
            missing = con.execute(sql.HAS_OWNERS_TABLE).fetchone() is None
        if missing:
            with self._db.write() as con:
                owners.ensure_table(con)
        with self._db.read() as con:
            dead = owners.dead_owners(con)
        for repo, commit_id, owner in dead:
            with contextlib.suppress(Conflict, NotFound):  # another opener finished it first
                self.finish_commit(repo, commit_id, error=f"{DEAD_OWNER} ({owner.describe()})")

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        with self._db.write() as con:
            require_repo(con, repo)
            found = find_commit(con, repo, commit)
            if not found.is_open:
                raise Conflict(f"commit {found.id} is already finished")
            (own_rows,) = con.execute(sql.COUNT_LAYER_ENTRIES, (found.own_layer,)).fetchone()
            con.execute(sql.SET_LAYER_ROWS, (own_rows, found.own_layer))
            # An empty own layer adds nothing to the view; leaving it out keeps the stack short.
            layers = found.layers if own_rows else found.layers[1:]
            con.execute(sql.FINISH_COMMIT, (now_us(), error, json.dumps(layers), found.seq))
            history.index_commit(con, found)
            if found.branch is not None and error is None:
                con.execute(sql.SET_BRANCH, (repo, found.branch, found.id))
            finished = find_commit(con, repo, found.id)
        # A separate transaction: the commit is already durable and visible; if this is cut
        # short the view is simply left one layer longer.
        self._compact(finished)
        return finished.info()

    def _compact(self, commit: CommitRow) -> None:
        if len(commit.layers) < 2:
            return
        with self._db.write() as con:
            # Read again under the lock: the repo may have been deleted since the finish.
            row = con.execute(sql.SELECT_COMMIT_LAYERS, (commit.seq,)).fetchone()
            if row is None:
                return
            (layers_json,) = row
            current: list[int] = json.loads(layers_json)
            sizes = dict(con.execute(sql.select_layer_rows(len(current)), current))
            count = layers_to_merge([sizes.get(layer) or 0 for layer in current])
            if count < 2:
                return
            target = con.execute(sql.INSERT_LAYER, (commit.repo,)).lastrowid
            assert target is not None
            rows = merge_layers(con, current[:count], target, bottom=count == len(current))
            con.execute(sql.SET_LAYER_ROWS, (rows, target))
            layers = [target, *current[count:]]
            con.execute(sql.SET_COMMIT_LAYERS, (json.dumps(layers), commit.seq))

    def discard_commit(self, repo: str, commit: str) -> None:
        """Delete an open commit and its entries; its blobs stay until ``gc()``."""
        with self._db.write() as con:
            require_repo(con, repo)
            found = find_commit(con, repo, commit)
            if not found.is_open:
                raise Conflict(f"commit {found.id} is finished and cannot be discarded")
            con.execute(sql.DELETE_LAYER_ENTRIES, (found.own_layer,))
            con.execute(sql.DELETE_LAYER, (found.own_layer,))
            con.execute(sql.DELETE_COMMIT, (found.seq,))
            con.execute(sql.MOVE_BRANCH_HEADS, (found.parent, repo, found.id))

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        with self._db.read() as con:
            require_repo(con, repo)
            return find_commit(con, repo, commit).info()

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        with self._db.read() as con:
            require_repo(con, repo)
            if branch is None:
                rows = con.execute(sql.SELECT_COMMITS, (repo,)).fetchall()
            else:
                if branch_head(con, repo, branch) is NO_BRANCH:
                    raise NotFound("branch", f"{repo}@{branch}")
                rows = con.execute(sql.SELECT_BRANCH_COMMITS, (repo, branch)).fetchall()
        return [CommitRow.from_row(row).info() for row in rows]

    # ----------------------------------------------------------------------------------------
    # Maintenance

    def gc(self, *, temp_min_age: float = TEMP_MIN_AGE) -> GcReport:
        """Remove blobs no entry references (after discards, deletes, overwrites, crashes) and
        temporary files of dead writers.

        Holds the write lock throughout: a writer renames a blob into place (or inserts an
        inline content) and commits the entry referencing it under that same lock, so no content
        can gain a reference meanwhile. Readers are not blocked. Costs one scan of the entries
        table. A temporary file is only swept once ``temp_min_age`` seconds old (its writer may
        not have locked it yet). Inline contents count as blobs in the report; their pages are
        reused by SQLite rather than returned to the filesystem.
        """
        temp_removed = self._blobs.sweep_temp(temp_min_age)
        removed = freed = 0
        with self._db.write() as con:
            referenced: set[tuple[bool, bytes]] = set()
            # DISTINCT in SQLite first: most entries share few segment lists (copies, dedup).
            for (segs,) in con.execute(sql.SELECT_USED_SEGMENTS):
                referenced.update(segment_digests(segs))
            unused = [
                (digest, size)
                for digest, size in con.execute(sql.SELECT_INLINE_SIZES)
                if (True, digest) not in referenced
            ]
            con.executemany(sql.DELETE_INLINE, ((d,) for d, _ in unused))
            removed += len(unused)
            freed += sum(size for _, size in unused)
            for digest, path in self._blobs.all_blobs():
                if (False, digest) in referenced:
                    continue
                try:
                    size = os.stat(path).st_size
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                removed += 1
                freed += size
        return GcReport(blobs_removed=removed, bytes_freed=freed, temp_files_removed=temp_removed)
