"""Batched commits: the global gateway's writes to one branch share a commit (group commit).

A bulk load (``aws s3 sync`` of thousands of small files) makes one commit per object when each
write is its own commit. Batched, the writes that arrive while a branch's commit is open go into
that commit, which is finished as soon as it goes quiet (no write has been running in it for
``quiet_ms``) or, under a steady stream of writes, ``window_ms`` after it was started, whichever
comes first. No acknowledged write is lost: a write is answered only once the commit holding it
has finished (or with an error if finishing failed), so a client that got 200 finds its object
on the branch.

Why close on quiet rather than only at the end of the window: S3 clients wait for each answer
before sending their next write, so a batch can hold at most one write per client at a time.
Holding every write for a whole window made ``aws s3 sync`` (10 transfers at a time) 1.8 times
slower than one commit per write on LocalStore; closing once the clients that joined are done
(and none has joined for ``quiet_ms``, the gap between one client's answer and the others'
next requests) keeps about as few commits without the wait (docs/global.md, "Batching writes").

Per branch, one batch at a time: the next batch starts only once the previous one finished, so
its parent is the branch head that holds every earlier batch (PFS starts a commit from the
branch head; two open side by side would each drop the other's writes). A write that fails
(bad digest, a refused condition) changes nothing: each backend call is atomic, and the batch
goes on without it; a batch in which no write succeeded is discarded instead of finished.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pachs3.backends.base import Backend, CommitInfo
from pachs3.branches import Execute, retarget
from pachs3.core import errors
from pachs3.core.http import S3Response
from pachs3.core.outcomes import Outcome
from pachs3.core.plans import CommitOnBranch

DESCRIPTION = "writes batched over up to {window_ms:g} ms (pachs3 global gateway)"
QUIET_MS = 5.0
"""How long a batch with no write running stays open for more: longer than the gap between one
client's answer and the next requests of the clients answered with it (a few ms for aws-cli's
10 threads on loopback), short next to a commit."""
Timer = Callable[[float, Callable[[], None]], None]


def _thread_timer(seconds: float, action: Callable[[], None]) -> None:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()


@dataclass(slots=True, eq=False)
class _Batch:
    info: CommitInfo
    writers: int = 0
    """Writes running in the commit now: it is finished once they are all done."""
    succeeded: int = 0
    joined: int = 0
    """Writes that joined so far: a quiet check compares it with its count when scheduled."""
    closed: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None


@dataclass(slots=True, eq=False)
class _Branch:
    changed: threading.Condition = field(default_factory=threading.Condition)
    current: _Batch | None = None
    finishing: bool = False


class BatchedCommits:
    """One open commit per branch, finished once quiet, at most ``window_ms`` after it started."""

    def __init__(
        self,
        backend: Backend,
        window_ms: float,
        *,
        quiet_ms: float = QUIET_MS,
        timer: Timer = _thread_timer,
    ):
        if window_ms <= 0:
            raise ValueError("the batching window must be a positive number of milliseconds")
        self._backend = backend
        self._window_ms = window_ms
        self._quiet_ms = min(quiet_ms, window_ms)
        self._timer = timer
        self._guard = threading.Lock()
        self._branches: dict[tuple[str, str], _Branch] = {}

    def run(self, plan: CommitOnBranch, execute: Execute) -> tuple[Outcome, S3Response]:
        """Run the write in the branch's open batch; answer once that batch has finished."""
        state = self._branch(plan.repo, plan.branch)
        batch = self._join(state, plan)
        try:
            answer = execute(retarget(plan.write, batch.info.ref))
        except BaseException:
            self._leave(state, batch, succeeded=False)
            raise
        self._leave(state, batch, succeeded=True)
        batch.finished.wait()
        if batch.failure is not None:
            raise errors.InternalError() from batch.failure
        return answer

    def flush(self) -> None:
        """Close every open batch now and wait for it (the gateway is closing)."""
        with self._guard:
            states = list(self._branches.values())
        for state in states:
            with state.changed:
                batch = state.current
            if batch is not None:
                self._close(state, batch)
                batch.finished.wait()

    # -----------------------------------------------------------------------------------------

    def _branch(self, repo: str, branch: str) -> _Branch:
        with self._guard:
            return self._branches.setdefault((repo, branch), _Branch())

    def _join(self, state: _Branch, plan: CommitOnBranch) -> _Batch:
        with state.changed:
            while state.finishing:  # the next batch starts from the finished head
                state.changed.wait()
            batch = state.current
            if batch is None:
                info = self._backend.start_commit(
                    plan.repo,
                    plan.branch,
                    description=DESCRIPTION.format(window_ms=self._window_ms),
                )
                batch = state.current = _Batch(info)
                self._timer(self._window_ms / 1000, lambda: self._close(state, batch))
            batch.writers += 1
            batch.joined += 1
            return batch

    def _leave(self, state: _Branch, batch: _Batch, *, succeeded: bool) -> None:
        with state.changed:
            batch.writers -= 1
            batch.succeeded += int(succeeded)
            state.changed.notify_all()
            if batch.writers or batch.closed:
                return
            joined = batch.joined
        self._timer(self._quiet_ms / 1000, lambda: self._close_if_quiet(state, batch, joined))

    def _close_if_quiet(self, state: _Branch, batch: _Batch, joined: int) -> None:
        """Close the batch if no write has joined it since it last had none running."""
        with state.changed:
            if batch.writers or batch.joined != joined:
                return
        self._close(state, batch)

    def _discard_quietly(self, batch: _Batch) -> None:
        with contextlib.suppress(Exception):  # the failure to report is the finish's
            self._backend.discard_commit(batch.info.repo, batch.info.id)

    def _close(self, state: _Branch, batch: _Batch) -> None:
        """Stop taking writes, wait for the running ones, then finish (or discard) the commit."""
        with state.changed:
            if batch.closed:
                return
            batch.closed = True
            state.finishing = True
            state.current = None
            while batch.writers:
                state.changed.wait()
            try:
                if batch.succeeded:
                    self._backend.finish_commit(batch.info.repo, batch.info.id)
                else:
                    self._backend.discard_commit(batch.info.repo, batch.info.id)
            except BaseException as exc:  # every waiting write learns it was not committed
                batch.failure = exc
                self._discard_quietly(batch)
            finally:
                state.finishing = False
                batch.finished.set()
                state.changed.notify_all()
