"""Hashing a large request body on a thread of its own, beside the store's work on it.

A PUT of a gigabyte is hashed two or three times (MD5 for the ETag, the checksum the client
announced, the store's SHA-256 address). Done one after another on the thread that also writes
the body, they cap an upload well below one core's MD5 rate (issue 18). hashlib and zlib release
the GIL on large buffers, so the ``DigestTee`` of ``core/digest_tee.py`` hands them here once a body
has passed ``OFFLOAD_AFTER`` bytes: this thread runs MD5 and the announced checksums while the
request's own thread stores the bytes (and, on ``LocalStore``, takes their SHA-256).

Chunks travel in batches of about ``BATCH_BYTES`` through a bounded queue, so the hand-off costs
one queue operation per batch, and a hasher that falls behind holds back the upload instead of
buffering it: at most ``MAX_BATCHES_AHEAD`` batches are ever in memory.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Final

BATCH_BYTES: Final = 1024 * 1024
MAX_BATCHES_AHEAD: Final = 4

_Batch = list[bytes]
_STOP: Final[_Batch] = []


class ThreadHashFeed:
    """A ``core.digests.HashFeed`` run by a daemon thread of its own."""

    def __init__(self, updates: tuple[Callable[[bytes], object], ...]) -> None:
        self._updates = updates
        self._queue: queue.Queue[_Batch] = queue.Queue(maxsize=MAX_BATCHES_AHEAD)
        self._batch: _Batch = []
        self._batch_bytes = 0
        self._cancelled = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pachs3-hash", daemon=True)
        self._thread.start()

    def feed(self, chunk: bytes, /) -> None:
        self._batch.append(chunk)
        self._batch_bytes += len(chunk)
        if self._batch_bytes >= BATCH_BYTES:
            self._send()

    def finish(self) -> None:
        """Wait until every fed chunk is hashed; raise what the hashing raised."""
        if self._batch:
            self._send()
        self._put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Stop hashing: the body was abandoned. Returns without waiting for a full queue."""
        self._cancelled.set()
        with contextlib.suppress(queue.Full):  # then it sees the event after its current batch
            self._queue.put_nowait(_STOP)
        self._batch = []

    def _send(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        self._put(batch)

    def _put(self, batch: _Batch) -> None:
        while True:
            if self._error is not None:
                raise self._error  # the hasher stopped: do not wait for it to take more
            try:
                self._queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        updates = self._updates
        try:
            while not self._cancelled.is_set():
                batch = self._queue.get()
                if batch is _STOP:
                    return
                for chunk in batch:
                    for update in updates:
                        update(chunk)
        except BaseException as exc:  # handed to the request's thread by feed() or finish()
            self._error = exc
