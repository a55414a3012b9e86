"""The worker pool that runs blocking handler calls for the ASGI app."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import pytest

from pachs3.transports import workers
from pachs3.transports.workers import WorkerPool, run_in_worker


def test_calls_run_in_other_threads_and_return_or_raise() -> None:
    async def main() -> None:
        loop_thread = threading.get_ident()
        ran_in = await run_in_worker(threading.get_ident)
        assert ran_in != loop_thread
        assert await run_in_worker(divmod, 17, 5) == (3, 2)
        with pytest.raises(ZeroDivisionError):
            await run_in_worker(divmod, 1, 0)

        def stop() -> None:
            raise StopIteration  # a future cannot hold this one: it arrives as RuntimeError

        with pytest.raises(RuntimeError, match="StopIteration"):
            await run_in_worker(stop)

    asyncio.run(main())


def test_no_more_threads_than_the_limit_run_at_once() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def busy() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1

    async def main() -> None:
        pool = WorkerPool(asyncio.get_running_loop(), max_workers=3)
        await asyncio.gather(*(pool.run(busy) for _ in range(12)))

    asyncio.run(main())
    assert peak == 3


def test_the_pool_follows_the_anyio_limiter_of_its_loop() -> None:
    async def main() -> int:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        await run_in_worker(int)
        return workers._POOLS[asyncio.get_running_loop()]._max_workers

    assert asyncio.run(main()) == 2


def test_a_cancelled_caller_waits_for_the_call_then_releases_its_result() -> None:
    finished = threading.Event()
    released: list[str] = []

    def slow() -> str:
        time.sleep(0.2)
        finished.set()
        return "response"

    async def main() -> None:
        pool = WorkerPool(asyncio.get_running_loop(), max_workers=1)
        task = asyncio.ensure_future(pool.run(slow, on_abandon=released.append))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The cancellation only surfaced once the call had finished, and its result was
        # handed back to be released (a response stream to close).
        assert finished.is_set()
        assert released == ["response"]

    asyncio.run(main())


def test_an_anyio_cancel_scope_cannot_abandon_a_running_call() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        finished.set()

    async def main() -> None:
        with anyio.move_on_after(0.05):
            await run_in_worker(slow)
        assert finished.is_set()

    anyio.run(main)


def test_idle_workers_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "IDLE_SECONDS", 0.05)

    def names() -> set[int]:
        return {t.ident or 0 for t in threading.enumerate() if t.name == "pachs3-worker"}

    before = names()

    async def main() -> None:
        pool = WorkerPool(asyncio.get_running_loop(), max_workers=4)
        await asyncio.gather(*(pool.run(time.sleep, 0.01) for _ in range(4)))
        assert len(names() - before) >= 1
        await asyncio.sleep(0.5)
        assert pool._workers == 0
        assert await pool.run(int, "7") == 7  # and a new one starts on demand

    asyncio.run(main())
    deadline = time.monotonic() + 2
    while names() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert names() - before == set()


def test_under_trio_the_call_falls_back_to_anyio() -> None:
    pytest.importorskip("trio")

    async def main() -> None:
        assert await run_in_worker(divmod, 9, 4) == (2, 1)

    anyio.run(main, backend="trio")
