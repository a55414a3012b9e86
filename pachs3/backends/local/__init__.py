"""The embedded store: PFS repos, branches, commits and files on local disk.

``LocalStore(path)`` opens (or creates) a store directory::

    store.db        SQLite, WAL mode: repos, branches, commits, layers, file entries, and the
                    contents of small files (up to 32 KiB), content-addressed by SHA-256
    blobs/ab/ab…    larger file contents, content-addressed too, immutable once in place
    tmp/            uploads being received (flocked by their writer)

How the pieces fit (details in ``docs/store.md``), each module importing only those below it:

- ``store``: ``LocalStore``: repos, branches, commits, gc (each method one short transaction);
- ``files``: ``FileStore``, the file methods ``LocalStore`` inherits (read, walk, put, copy, ...);
- ``history``: the per-path history index (kept as commits finish) and ListObjectVersions'
  walk over it (``LocalStore.walk_history``);
- ``rows``: the commit row type and the lookups (repo, branch, commit, file) methods start with;
- ``layers``: a commit's view as a stack of per-commit change layers, listing by k-way merge,
  size-tiered compaction when a commit finishes;
- ``blobs``: staging uploads, inline vs file contents, segment lists, renaming blob files into
  place, reading byte ranges, sweeping;
- ``database``: creating and opening a store, the connection pool, transactions
  (``BEGIN IMMEDIATE`` for writes);
- ``schema``: the tables, the named rows read from them, and every SQL statement.

Durability: ``process-crash`` (default) keeps every acknowledged write through a killed process
(a blob file fully written and renamed before the entry commits, an inline content committed
with its entry; WAL with ``synchronous=NORMAL``).
``power-loss`` also fsyncs blobs and their directories and commits with ``synchronous=FULL``.
"""

from .database import Durability, StoreError
from .store import GcReport, LocalStore

__all__ = ["Durability", "GcReport", "LocalStore", "StoreError"]
