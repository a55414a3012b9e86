"""What the backend wrote to the commits it owns, so that it need not ask pachd again.

Every ModifyFile adds a diff to an open commit and every later read of that commit merges all
of its diffs (pachd's commit_store.go), so asking pachd about a commit while writing it costs
more with each write: a job that writes N objects and inspects before each write costs about N²
merges. A commit that started empty and that only this backend writes (its own commits, and an
adopted job commit that was empty when adopted) is fully described by what was written into
it: its keys, their records, and which names are directories. No gRPC here.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

from .records import MetaRecord


class CommitFiles:
    """The keys of one commit and their records; thread-safe.

    ``reserve`` claims a key before its upload starts (so that two concurrent writes cannot
    make ``a`` a file and a directory at once); ``settle`` or ``release`` ends the claim.
    """

    def __init__(self, *, complete: bool) -> None:
        self.complete = complete
        """Whether the commit started empty and only this backend writes it: then these are
        all of its files, and pachd need not be asked about them."""
        self._lock = threading.Lock()
        self._files: dict[str, MetaRecord] = {}
        self._claimed: set[str] = set()
        self._dirs: Counter[str] = Counter()

    def _names(self) -> Iterator[str]:
        yield from self._files
        yield from self._claimed

    def _add_dirs(self, key: str, step: int) -> None:
        parts = key.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            self._dirs[directory] += step
            if self._dirs[directory] <= 0:
                del self._dirs[directory]

    def placement_problem(self, key: str) -> str | None:
        """Why PFS could not hold ``key`` next to the keys already written, or None."""
        with self._lock:
            return self._placement_problem(key)

    def _placement_problem(self, key: str) -> str | None:
        if self._dirs.get(key, 0) > 0:
            return (
                f"{key!r} is a directory in PFS (other keys start with {key + '/'!r}); "
                "PFS cannot hold a file of the same name"
            )
        parts = key.split("/")
        for depth in range(len(parts) - 1, 0, -1):
            ancestor = "/".join(parts[:depth])
            if ancestor in self._files or ancestor in self._claimed:
                return f"{ancestor!r} is a file in PFS; it cannot also be the directory of {key!r}"
        return None

    def reserve(self, key: str) -> str | None:
        """Claim ``key`` for a write; the placement problem instead when there is one."""
        with self._lock:
            problem = self._placement_problem(key)
            if problem is not None:
                return problem
            if key not in self._files and key not in self._claimed:
                self._add_dirs(key, +1)
            self._claimed.add(key)
            return None

    def settle(self, key: str, record: MetaRecord) -> None:
        with self._lock:
            if key not in self._files and key not in self._claimed:
                self._add_dirs(key, +1)
            self._claimed.discard(key)
            self._files[key] = record

    def release(self, key: str) -> None:
        """The claimed write failed: the key is as it was before."""
        with self._lock:
            if key in self._claimed:
                self._claimed.discard(key)
                if key not in self._files:
                    self._add_dirs(key, -1)

    def forget(self, key: str) -> MetaRecord | None:
        """The key was deleted."""
        with self._lock:
            record = self._files.pop(key, None)
            if record is not None and key not in self._claimed:
                self._add_dirs(key, -1)
            return record

    def get(self, key: str) -> MetaRecord | None:
        with self._lock:
            return self._files.get(key)

    def has(self, key: str) -> bool:
        with self._lock:
            return key in self._files

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._files)
