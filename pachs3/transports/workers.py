"""Worker threads for the ASGI app's blocking handler calls, cheaper than ``anyio.to_thread``.

Every S3 request runs the blocking handler in a worker thread. ``anyio.to_thread.run_sync``
costs 70-110 us per hop here (a limiter, a cancel scope, a per-call queue hand-off), about a
quarter of a small GET's whole server time; a fixed set of threads fed by one
``queue.SimpleQueue`` that completes an ``asyncio`` future with ``call_soon_threadsafe`` costs
30-45 us (measured side by side, ``/tmp`` micro-benchmark recorded in docs/benchmarks.md).

The semantics are anyio's for a non-abandoning call: the caller waits for the call to finish
even when it is cancelled (a handler thread is never left running after its request task has
gone), then the cancellation propagates, and what the call returned is handed to
``on_abandon`` so that a response stream it opened is closed. The number of threads follows
the loop's anyio default limiter (``ThreadedServer`` sizes it; a host can too), read when the
pool is made. Threads start on demand and leave after ``IDLE_SECONDS`` without work, like
anyio's. Only asyncio loops get a pool; under another event loop (trio) ``run`` falls back to
``anyio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread

__all__ = ["IDLE_SECONDS", "WorkerPool", "run_in_worker"]

T = TypeVar("T")

IDLE_SECONDS = 10.0
"""A worker with nothing to do for this long exits (anyio's workers do the same)."""

_CANCEL_POLL_SECONDS = 0.005


class _Job(Generic[T]):
    __slots__ = ("args", "finished", "function", "future", "loop", "result")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[T],
        function: Callable[..., T],
        args: tuple[Any, ...],
    ) -> None:
        self.loop = loop
        self.future = future
        self.function = function
        self.args = args
        self.finished = threading.Event()
        self.result: T | None = None


class WorkerPool:
    """Up to ``max_workers`` threads running calls for one asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be positive")
        self._loop = loop
        self._max_workers = max_workers
        self._jobs: queue.SimpleQueue[_Job[Any]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one permit per worker waiting for a job
        self._lock = threading.Lock()
        self._workers = 0

    async def run(
        self,
        function: Callable[..., T],
        *args: Any,
        on_abandon: Callable[[T], object] | None = None,
    ) -> T:
        """``function(*args)`` in a worker thread; wait for it even if cancelled."""
        job: _Job[T] = _Job(self._loop, self._loop.create_future(), function, args)
        self._jobs.put(job)
        self._ensure_worker()
        try:
            return await job.future
        except asyncio.CancelledError:
            # Cancelling the task cancelled our future, not the call: wait the call out (a
            # shielded poll, so an anyio scope does not re-deliver the cancellation meanwhile),
            # release what it made, then let the cancellation go on.
            with anyio.CancelScope(shield=True):
                while not job.finished.is_set():
                    await anyio.sleep(_CANCEL_POLL_SECONDS)
            if on_abandon is not None and job.result is not None:
                on_abandon(job.result)
            raise

    def _ensure_worker(self) -> None:
        if self._idle.acquire(blocking=False):
            return  # an idle worker will take the job
        with self._lock:
            if self._workers >= self._max_workers:
                return  # all busy: the job waits in the queue for the first one free
            self._workers += 1
        threading.Thread(target=self._work, name="pachs3-worker", daemon=True).start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            try:
                job = jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                if self._idle.acquire(blocking=False):
                    with self._lock:
                        self._workers -= 1
                    return
                continue  # a submitter counted on this worker: its job is on its way
            _run_job(job)
            self._idle.release()


def _run_job(job: _Job[Any]) -> None:
    try:
        result = job.function(*job.args)
    except BaseException as exc:  # handed to the awaiting task, like anyio does
        job.finished.set()
        _complete(job, None, exc)
        return
    job.result = result
    job.finished.set()
    _complete(job, result, None)


def _complete(job: _Job[Any], result: Any, error: BaseException | None) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        job.loop.call_soon_threadsafe(_settle, job.future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the awaiting task was cancelled
    if isinstance(error, StopIteration):  # a future refuses StopIteration itself
        error = RuntimeError(f"worker call raised {error!r}")
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WorkerPool] = (
    weakref.WeakKeyDictionary()
)
_POOLS_LOCK = threading.Lock()


async def run_in_worker(
    function: Callable[..., T], *args: Any, on_abandon: Callable[[T], object] | None = None
) -> T:
    """Run ``function(*args)`` in the current loop's worker pool (see the module docstring)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio): anyio knows how
        return await anyio.to_thread.run_sync(function, *args)
    pool = _POOLS.get(loop)
    if pool is None:
        with _POOLS_LOCK:
            pool = _POOLS.get(loop)
            if pool is None:
                size = int(anyio.to_thread.current_default_thread_limiter().total_tokens)
                pool = _POOLS[loop] = WorkerPool(loop, size)
    return await pool.run(function, *args, on_abandon=on_abandon)
