"""The SQLite side of the local store: creating and opening it, connections and transactions.

One database file (``store.db``, WAL mode) holds repos, branches, commits and file entries. Every
thread borrows a connection from a small pool for the length of one transaction, so no connection
is ever used by two threads at once and no long-lived cursor holds a read snapshot open (which
would stop WAL checkpoints). Writers start with ``BEGIN IMMEDIATE``: they queue on SQLite's write
lock (``busy_timeout``) instead of failing when a read transaction tries to upgrade, and that works
the same between threads and between processes.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from ..base import Unavailable
from .schema import (
    APPLICATION_ID,
    BLOB_DIR,
    DB_NAME,
    FORMAT_NAME,
    FORMAT_VERSION,
    INSERT_META,
    SELECT_META,
    TABLES,
    TMP_DIR,
)

Durability = Literal["process-crash", "power-loss"]

# What a directory may contain before it holds a database: a store whose creation was cut short.
_PARTIAL_STORE = frozenset({BLOB_DIR, TMP_DIR})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_us() -> int:
    """Times are stored as integer microseconds since the epoch (UTC): exact round trips."""
    return time.time_ns() // 1000


@functools.lru_cache(maxsize=4096)  # a listing meets the same few instants again and again
def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class StoreError(Exception):
    """The store cannot be opened: the path is not a store, or its format is too new."""


# --------------------------------------------------------------------------------------------
# Opening and creating


def prepare_store(root: Path) -> Path:
    """Create the store at ``root`` if needed and check its format; return the database path."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root} exists and is not a directory, so it cannot be a pachs3 store")
    if not root.exists():
        root.mkdir(parents=True, exist_ok=True)
        fsync_path(root.parent)  # once per store: its directory entry survives a power cut
    db = root / DB_NAME
    if not db.exists():
        found = set(os.listdir(root)) - _PARTIAL_STORE
        if found:
            shown = ", ".join(sorted(found)[:5])
            raise StoreError(f"{root} exists and is not a pachs3 store (it holds {shown})")
        _create_database(root, db)
    _check_format(db)
    return db


def _create_database(root: Path, db: Path) -> None:
    """Build the database under a temporary name, then link it into place.

    ``os.link`` fails if ``store.db`` appeared meanwhile (another process created the store at
    the same moment), so two creators never replace each other's database, and a crash during
    creation leaves only a temporary file that the next open sweeps away.
    """
    for sub in (BLOB_DIR, TMP_DIR):
        (root / sub).mkdir(exist_ok=True)
    tmp = root / TMP_DIR / f"init-{os.getpid()}-{uuid.uuid4().hex}.db"
    # Held like every writer's temporary file: another process opening the store meanwhile
    # sweeps tmp/ of files whose writer is gone (no flock), and a creator stalled for a couple
    # of seconds under load must not look gone (seen: a concurrent creator's file swept).
    guard = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        _build_database(tmp)
        fsync_path(tmp)
        try:
            os.link(tmp, db)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    finally:
        os.close(guard)
    fsync_path(root)


def _build_database(tmp: Path) -> None:
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.executescript(f"BEGIN; {TABLES} COMMIT;")
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        con.execute("BEGIN")
        con.executemany(
            INSERT_META,
            [("format", FORMAT_NAME), ("version", str(FORMAT_VERSION))],
        )
        con.execute("COMMIT")
    finally:
        con.close()


def _check_format(db: Path) -> None:
    try:
        con = sqlite3.connect(db, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"{db} cannot be opened: {exc}") from exc
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise StoreError(f"{db} is an SQLite database but not a pachs3 store")
        meta = dict(con.execute(SELECT_META).fetchall())
        if meta.get("format") != FORMAT_NAME:
            raise StoreError(f"{db} is not a pachs3 store (format {meta.get('format')!r})")
        version = _version(db, meta.get("version"))
        if version > FORMAT_VERSION:
            raise StoreError(
                f"{db} has store format version {version}, newer than this pachs3 supports "
                f"({FORMAT_VERSION}); upgrade pachs3 to open it"
            )
        if version < FORMAT_VERSION:
            raise StoreError(
                f"{db} has store format version {version}, older than this pachs3 reads "
                f"({FORMAT_VERSION}); open it with the pachs3 release that wrote it"
            )
        # Persistent: once set, every later connection (any process) uses the WAL.
        con.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        # A read-only store file or directory (SQLite's WAL needs writes even to read): say
        # so, rather than call a store that is fine "not a pachs3 store".
        if exc.sqlite_errorname.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
            raise StoreError(
                f"{db} cannot be written ({exc}): the store is read-only, and pachs3 writes to "
                "its store even to read it"
            ) from exc
        raise StoreError(f"{db} is not a pachs3 store: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db} is not a pachs3 store: {exc}") from exc
    finally:
        con.close()


def _version(db: Path, text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise StoreError(f"{db} has an unreadable store format version {text!r}") from None


def fsync_path(path: Path | str) -> None:
    """fsync a file or a directory (a directory's fsync makes renames in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Connections and transactions


class Database:
    """A pool of connections to one store database, handing out short transactions.

    ``connection()``, ``read()`` and ``write()`` return small context-manager objects rather than
    ``contextlib`` generators: a small request makes a few of these calls, and the generator
    machinery cost as much as the SQLite statements themselves.
    """

    _MAX_IDLE = 8

    def __init__(self, path: Path, *, durability: Durability, busy_timeout: float) -> None:
        self._path = path
        # WAL + NORMAL survives a killed process (the WAL is in the OS page cache); FULL also
        # fsyncs the WAL on every commit, which is what survives losing power.
        self._synchronous = "FULL" if durability == "power-loss" else "NORMAL"
        self._busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.range_scans = 0
        """Range queries over the path index run so far (``count_range_scan``)."""

    def count_range_scan(self) -> None:
        """Count one range query of a walk: a seek in the path index. Tests and benchmarks read
        the count to show that a delimiter listing costs O(common prefixes), not O(keys)."""
        with self._lock:
            self.range_scans += 1

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False: a connection moves between threads through the pool, but is
        # only ever used by the one thread that borrowed it. The statement cache is per
        # connection and keyed by SQL text, so the store's fixed statements are prepared once.
        con = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        con.execute(f"PRAGMA synchronous = {self._synchronous}")
        con.execute("PRAGMA temp_store = MEMORY")
        return con

    def acquire(self) -> sqlite3.Connection:
        """Take a connection (autocommit mode) from the pool; give it back with ``release``."""
        with self._lock:
            if self._closed:
                raise Unavailable("the store is closed")
            con = self._idle.pop() if self._idle else None
        return self._connect() if con is None else con

    def release(self, con: sqlite3.Connection) -> None:
        if con.in_transaction:
            con.rollback()
        with self._lock:
            keep = not self._closed and len(self._idle) < self._MAX_IDLE
            if keep:
                self._idle.append(con)
        if not keep:
            con.close()

    def connection(self) -> _Lease:
        """Borrow a connection (autocommit mode: each statement is its own snapshot)."""
        return _Lease(self)

    def read(self) -> _Read:
        """A read transaction: every query in the block sees one snapshot."""
        return _Read(self)

    def write(self) -> _Write:
        """A write transaction, holding the store's write lock from the start.

        Committed when the block exits cleanly, rolled back when it raises.
        """
        return _Write(self)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()


class _Lease:
    __slots__ = ("_con", "_db")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._con: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        self._con = self._db.acquire()
        return self._con

    def __exit__(self, *exc: object) -> None:
        self._end()

    def _end(self) -> None:
        assert self._con is not None
        self._db.release(self._con)


class _Read(_Lease):
    __slots__ = ()

    def __enter__(self) -> sqlite3.Connection:
        con = super().__enter__()
        try:
            con.execute("BEGIN")
        except BaseException:
            self._db.release(con)
            raise
        return con

    def __exit__(self, *exc: object) -> None:
        assert self._con is not None
        try:
            if self._con.in_transaction:  # an error inside may already have ended it
                self._con.execute("COMMIT")
        finally:
            self._end()


class _Write(_Lease):
    __slots__ = ()

    def __enter__(self) -> sqlite3.Connection:
        con = super().__enter__()
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._db.release(con)
            raise Unavailable(f"the store is busy: {exc}") from exc
        except BaseException:
            self._db.release(con)
            raise
        return con

    def __exit__(self, *exc: object) -> None:
        assert self._con is not None
        try:
            self._con.execute("COMMIT" if exc[0] is None else "ROLLBACK")
        finally:
            self._end()
