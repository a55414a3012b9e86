"""Changes to one path, one at a time, inside one process: how a backend whose store has no
conditional write (PFS) still checks a conditional change and makes it as one step.

Every change of a path takes the path's lock just before its last check and keeps it until
the change is visible (or has failed): the check a conditional writer makes then sees every
change that became visible before it, and none can become visible in between. Bodies are not
streamed under the lock; only the check and the end of the change are. Writers in *other*
processes are not serialized by this (PFS itself would have to offer a conditional write).

Locks are striped (a fixed set, chosen by the path's hash), so memory stays bounded whatever
the number of paths; two paths sharing a stripe only wait for each other's short final step.
A ``PathClaim`` may be taken in one thread and released in another (a gRPC request iterator is
consumed by gRPC's own thread), which is why the stripes are plain ``threading.Lock``.
"""

from __future__ import annotations

import threading

__all__ = ["PathClaim", "PathLocks"]


class PathClaim:
    """One change's hold on its path: ``take`` once before the last check, ``release`` always
    (it does nothing if the claim was never taken)."""

    __slots__ = ("_lock", "_taken")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._taken = False

    def take(self) -> None:
        if not self._taken:
            self._lock.acquire()
            self._taken = True

    def release(self) -> None:
        if self._taken:
            self._taken = False
            self._lock.release()

    def __enter__(self) -> PathClaim:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class PathLocks:
    def __init__(self, stripes: int = 64) -> None:
        self._stripes = tuple(threading.Lock() for _ in range(stripes))

    def claim(self, *path: str) -> PathClaim:
        """A claim on ``path`` (its parts: repo, commit, key ...), not yet taken."""
        return PathClaim(self._stripes[hash(path) % len(self._stripes)])
