"""The local store's database: its tables, the named rows read from them, and every statement.

All SQL of the store is here, so a change of format is one module to read (and ``FORMAT_VERSION``
to bump). The other modules name a statement and pass parameters; they never index a row by
position: a row is read into one of the named tuples below.
"""

from __future__ import annotations

from typing import NamedTuple

FORMAT_NAME = "pachs3-local"
# 2: small contents inline in ``inline_blobs``; segment lists say where each segment lives.
# Version 1 stores are refused with a clear message (no migration: version 1 never shipped).
FORMAT_VERSION = 2
# Written into the SQLite header so that a store is recognised even before any table is read.
APPLICATION_ID = 0x70533301  # "pS3" + 1
DB_NAME = "store.db"
BLOB_DIR = "blobs"
TMP_DIR = "tmp"

TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE repos (
    name        TEXT PRIMARY KEY,
    created_us  INTEGER NOT NULL,
    description TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE branches (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    head TEXT,
    PRIMARY KEY (repo, name)
) WITHOUT ROWID;

-- seq orders commits (newest first listings) and is what file entries point at; AUTOINCREMENT
-- so that a seq is never reused and can be cached forever.
CREATE TABLE commits (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    repo        TEXT NOT NULL,
    branch      TEXT,
    parent      TEXT,
    started_us  INTEGER NOT NULL,
    finished_us INTEGER,
    provenance  TEXT NOT NULL,     -- JSON [[repo, id], ...]
    description TEXT NOT NULL,
    error       TEXT,
    own_layer   INTEGER NOT NULL,  -- where this commit's own changes go
    layers      TEXT NOT NULL      -- JSON [layer id, ...], newest first: the commit's view
);
CREATE INDEX commits_by_repo ON commits (repo, seq);

-- A layer is a sorted set of changes (puts and tombstones). rows is filled in once the layer
-- can no longer change (its commit finished, or it was built by compaction).
CREATE TABLE layers (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    rows INTEGER
);
CREATE INDEX layers_by_repo ON layers (repo);

-- path is the UTF-8 of the key as a BLOB so that the index orders it bytewise (S3 order) and
-- prefix bounds can be any byte string. size NULL marks a tombstone. md5 is the raw digest;
-- etag is NULL when it is the md5 hex. segs is the segment list (see blobs.py): where the
-- bytes are, in blob files or in inline_blobs.
CREATE TABLE entries (
    layer       INTEGER NOT NULL,
    path        BLOB NOT NULL,
    size        INTEGER,
    md5         BLOB,
    etag        TEXT,
    modified_us INTEGER,
    changed_by  INTEGER,
    meta        TEXT,
    segs        BLOB,
    PRIMARY KEY (layer, path)
) WITHOUT ROWID;

-- Contents up to blobs.INLINE_MAX, content-addressed like blob files (digest = SHA-256),
-- so copies and composes reference them without copying bytes. A rowid table (not WITHOUT
-- ROWID): its rows are large, and SQLite stores large rows best in a table b-tree.
CREATE TABLE inline_blobs (
    digest BLOB PRIMARY KEY,
    data   BLOB NOT NULL
);
"""

# Added to format 2 after it shipped, without a version bump: a store without this table gains
# it when opened (owners.ensure_table), and a pachs3 that predates it never reads it. One row per
# commit a process claimed (owners.py): who to ask whether the commit's writer is still alive.
OWNERS_TABLE = """
CREATE TABLE IF NOT EXISTS commit_owners (
    commit_id   TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    boot_id     TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    start_ticks INTEGER             -- the process's start time; NULL where /proc is missing
) WITHOUT ROWID;
"""
TABLES += OWNERS_TABLE

# Added to format 2 after it shipped, without a version bump, as the owners table was: a store
# without these tables gains them when opened, and its finished commits are indexed then
# (history.ensure_index); a pachs3 that predates them never reads them, and a commit it finishes
# is indexed by the next newer pachs3 that opens the store. history.py says how a ListObjectVersions
# page reads them. One row per commit whose own layer is in path_changes:
HISTORY_TABLES = (
    """
CREATE TABLE IF NOT EXISTS commit_changes (
    seq           INTEGER PRIMARY KEY,  -- a finished commit, indexed in path_changes
    started_empty INTEGER NOT NULL      -- 1: its view did not start from its parent's
);
""",
    """
-- One row per entry (put or tombstone) of a finished commit's own layer, by path within the
-- repo, newest commit first: the commits that wrote each path.
CREATE TABLE IF NOT EXISTS path_changes (
    repo TEXT NOT NULL,
    path BLOB NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (repo, path, seq DESC)
) WITHOUT ROWID;
""",
)
TABLES += "".join(HISTORY_TABLES)

# --------------------------------------------------------------------------------------------
# Named rows


class RepoRow(NamedTuple):
    name: str
    created_us: int
    description: str


class Entry(NamedTuple):
    """A row of ``entries`` (without its layer): a put, or a tombstone when ``size`` is None."""

    path: bytes
    size: int | None
    md5: bytes | None
    etag: str | None
    """None when the etag is the hex of ``md5``; set for composed files."""
    modified_us: int | None
    changed_by: int | None
    """The ``seq`` of the commit that wrote the entry."""
    meta: str | None
    """User metadata as compact JSON, None when there is none."""
    segs: bytes | None
    """The encoded segment list (``blobs.decode_segments``); None for an empty file."""


class LineCommit(NamedTuple):
    """What a history walk needs of each commit of its line (``SELECT_LINE_COMMITS``)."""

    seq: int
    id: str
    own_layer: int
    finished_us: int | None
    layers: str
    """The JSON of the commit's view (``rows.parse_layers``)."""
    started_empty: int | None
    """From ``commit_changes``: None while the commit is not indexed (open, or finished by a
    pachs3 that predates the index)."""


class FileCommit(NamedTuple):
    """What ``FILE_LOOKUP`` says of the commit it resolved (the columns before the entry's)."""

    seq: int
    id: str
    finished_us: int | None
    own_layer: int


REPO_COLUMNS = ", ".join(RepoRow._fields)
ENTRY_COLUMNS = ", ".join(Entry._fields)
# The columns of ``rows.CommitRow``, in its field order; ``layers`` comes last (parsed apart).
COMMIT_COLUMNS = (
    "seq, id, repo, branch, parent, started_us, finished_us, provenance, description, error, "
    "own_layer, layers"
)

# --------------------------------------------------------------------------------------------
# Format

INSERT_META = "INSERT INTO meta (key, value) VALUES (?, ?)"
SELECT_META = "SELECT key, value FROM meta"

# --------------------------------------------------------------------------------------------
# Repos and branches

INSERT_REPO = f"INSERT INTO repos ({REPO_COLUMNS}) VALUES (?, ?, ?)"
SELECT_REPO = f"SELECT {REPO_COLUMNS} FROM repos WHERE name = ?"
SELECT_REPOS = f"SELECT {REPO_COLUMNS} FROM repos ORDER BY name"
# Deleting a repo: its entries first (found through its layers), then the rows naming it.
DELETE_REPO = (
    "DELETE FROM path_changes WHERE repo = ?",
    "DELETE FROM commit_changes WHERE seq IN (SELECT seq FROM commits WHERE repo = ?)",
    "DELETE FROM entries WHERE layer IN (SELECT id FROM layers WHERE repo = ?)",
    "DELETE FROM layers WHERE repo = ?",
    "DELETE FROM commits WHERE repo = ?",
    "DELETE FROM branches WHERE repo = ?",
    "DELETE FROM repos WHERE name = ?",
)

SET_BRANCH = "INSERT OR REPLACE INTO branches (repo, name, head) VALUES (?, ?, ?)"
INSERT_EMPTY_BRANCH = "INSERT INTO branches (repo, name, head) VALUES (?, ?, NULL)"
SELECT_BRANCH_HEAD = "SELECT head FROM branches WHERE repo = ? AND name = ?"
DELETE_BRANCH = "DELETE FROM branches WHERE repo = ? AND name = ?"
SELECT_BRANCHES = "SELECT name, head FROM branches WHERE repo = ? ORDER BY name"
# A branch pointed at a discarded commit (create_branch) falls back to its parent.
MOVE_BRANCH_HEADS = "UPDATE branches SET head = ? WHERE repo = ? AND head = ?"

# --------------------------------------------------------------------------------------------
# Commits and layers

INSERT_COMMIT = (
    "INSERT INTO commits (id, repo, branch, parent, started_us, provenance, description, "
    "own_layer, layers) VALUES (?,?,?,?,?,?,?,?,?)"
)
SELECT_COMMIT = f"SELECT {COMMIT_COLUMNS} FROM commits WHERE id = ? AND repo = ?"
SELECT_COMMIT_BY_ID = f"SELECT {COMMIT_COLUMNS} FROM commits WHERE id = ?"
SELECT_COMMITS = f"SELECT {COMMIT_COLUMNS} FROM commits WHERE repo = ? ORDER BY seq DESC"
SELECT_BRANCH_COMMITS = (
    f"SELECT {COMMIT_COLUMNS} FROM commits WHERE repo = ? AND branch = ? ORDER BY seq DESC"
)
SELECT_COMMIT_ID = "SELECT id FROM commits WHERE seq = ?"
SELECT_COMMIT_LAYERS = "SELECT layers FROM commits WHERE seq = ?"
FINISH_COMMIT = "UPDATE commits SET finished_us = ?, error = ?, layers = ? WHERE seq = ?"
SET_COMMIT_LAYERS = "UPDATE commits SET layers = ? WHERE seq = ?"
DELETE_COMMIT = "DELETE FROM commits WHERE seq = ?"

HAS_OWNERS_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'commit_owners'"
CLAIM_COMMIT = (
    "INSERT OR REPLACE INTO commit_owners (commit_id, host, boot_id, pid, start_ticks) "
    "VALUES (?,?,?,?,?)"
)
FORGET_FINISHED_OWNERS = (
    "DELETE FROM commit_owners WHERE commit_id NOT IN (SELECT id FROM commits "
    "WHERE finished_us IS NULL)"
)
SELECT_OPEN_OWNERS = (
    "SELECT c.repo, c.id, o.host, o.boot_id, o.pid, o.start_ticks FROM commit_owners o "
    "JOIN commits c ON c.id = o.commit_id WHERE c.finished_us IS NULL"
)

INSERT_LAYER = "INSERT INTO layers (repo) VALUES (?)"
SET_LAYER_ROWS = "UPDATE layers SET rows = ? WHERE id = ?"
DELETE_LAYER = "DELETE FROM layers WHERE id = ?"
COUNT_LAYER_ENTRIES = "SELECT count(*) FROM entries WHERE layer = ?"


def select_layer_rows(count: int) -> str:
    """(id, rows) of ``count`` layers."""
    return f"SELECT id, rows FROM layers WHERE id IN ({_marks(count)})"


# --------------------------------------------------------------------------------------------
# File entries

INSERT_ENTRY = f"INSERT OR REPLACE INTO entries (layer, {ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
DELETE_ENTRY = "DELETE FROM entries WHERE layer = ? AND path = ?"
DELETE_LAYER_ENTRIES = "DELETE FROM entries WHERE layer = ?"
SELECT_USED_SEGMENTS = "SELECT DISTINCT segs FROM entries WHERE segs NOT NULL"

# The hot path of every small read and write, in one statement (so a read needs no transaction
# and a write checks its commit and its path in one step): resolve the commit, an id of the repo
# or else a branch name meaning the branch's head (as rows.find_commit does), and find the
# newest entry for the path among the commit's layers. json_each walks the layer list (j.key is
# the position, newest first) and each layer costs one probe of the (layer, path) primary key.
# The LEFT JOINs keep the commit's row when no layer has the path (or the list is empty).
# Parameters: ?1 repo, ?2 commit id or branch, ?3 path. Row: FileCommit's columns, then Entry's.
FILE_LOOKUP = (
    "SELECT c.seq, c.id, c.finished_us, c.own_layer, "
    + ", ".join(f"e.{column}" for column in Entry._fields)
    + " FROM commits AS c"
    " LEFT JOIN json_each(c.layers) AS j"
    " LEFT JOIN entries AS e ON e.layer = j.value AND e.path = ?3"
    " WHERE c.repo = ?1 AND c.id = coalesce("
    "(SELECT id FROM commits WHERE id = ?2 AND repo = ?1),"
    " (SELECT head FROM branches WHERE repo = ?1 AND name = ?2))"
    " ORDER BY e.path IS NULL, j.key LIMIT 1"
)
FILE_COMMIT_WIDTH = len(FileCommit._fields)


def select_path_in_layers(count: int) -> str:
    """(layer, entry columns) of one path (the first parameter) in ``count`` layers."""
    return (
        f"SELECT layer, {ENTRY_COLUMNS} FROM entries WHERE path = ? AND layer IN ({_marks(count)})"
    )


def scan_layer(*, inclusive: bool, bounded: bool) -> str:
    """A page of one layer's entries in path order, from ``:lower`` (up to ``:upper``).

    Named parameters: layer, lower, upper (when ``bounded``), n (the page size).
    """
    bound = " AND path < :upper" if bounded else ""
    return (
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE layer = :layer AND path "
        f"{'>=' if inclusive else '>'} :lower{bound} ORDER BY path LIMIT :n"
    )


def merge_into_layer(count: int, *, bottom: bool) -> str:
    """Copy into one layer the view of ``count`` layers (newest first).

    Parameters, per source layer at position p: the target layer, the source layer, then the p
    layers newer than it (an entry they also hold is hidden). When the sources reach the bottom
    of the view, tombstones have nothing left to hide and are dropped. Sorted by path so the new
    layer's b-tree is built by appending.
    """
    selects: list[str] = []
    for position in range(count):
        where = "o.layer = ?"
        if bottom:
            where += " AND o.size IS NOT NULL"
        if position:
            where += (
                " AND NOT EXISTS (SELECT 1 FROM entries AS n"
                f" WHERE n.path = o.path AND n.layer IN ({_marks(position)}))"
            )
        selects.append(f"SELECT ?, {ENTRY_COLUMNS} FROM entries AS o WHERE {where}")
    return f"INSERT INTO entries (layer, {ENTRY_COLUMNS}) {' UNION ALL '.join(selects)} ORDER BY 2"


# --------------------------------------------------------------------------------------------
# Per-path history (history.py)

HAS_HISTORY_TABLES = (
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
    "AND name IN ('commit_changes', 'path_changes')"
)
# Finished commits whose own layer is not in path_changes yet, oldest first.
UNINDEXED = (
    " FROM commits AS c WHERE c.finished_us IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM commit_changes AS h WHERE h.seq = c.seq)"
)
HAS_UNINDEXED_COMMITS = f"SELECT 1{UNINDEXED} LIMIT 1"
SELECT_UNINDEXED_COMMITS = f"SELECT {COMMIT_COLUMNS}{UNINDEXED} ORDER BY c.seq"
# Parameters: repo, the commit's seq, its own layer.
INDEX_COMMIT_PATHS = (
    "INSERT OR IGNORE INTO path_changes (repo, path, seq) SELECT ?, path, ? FROM entries"
    " WHERE layer = ?"
)
INSERT_COMMIT_CHANGES = "INSERT OR REPLACE INTO commit_changes (seq, started_empty) VALUES (?, ?)"
SELECT_LINE_COMMITS = (
    "SELECT c.seq, c.id, c.own_layer, c.finished_us, c.layers, h.started_empty FROM commits AS c"
    " LEFT JOIN commit_changes AS h ON h.seq = c.seq WHERE c.repo = ?"
)
# A page of the commits that wrote paths of a repo: seq, then the entry each wrote (its own
# layer's row, a tombstone when size is NULL), paths ascending and each path's newest first.
_CHANGES = (
    "SELECT h.seq, "
    + ", ".join(f"e.{column}" for column in Entry._fields)
    + " FROM path_changes AS h JOIN commits AS c ON c.seq = h.seq"
    " JOIN entries AS e ON e.layer = c.own_layer AND e.path = h.path WHERE h.repo = :repo"
)
# Named parameters: repo, path, seq (exclusive), n.
SCAN_PATH_CHANGES = f"{_CHANGES} AND h.path = :path AND h.seq < :seq ORDER BY h.seq DESC LIMIT :n"


def scan_changes_after(*, bounded: bool) -> str:
    """The changes of the paths after ``:path`` (below ``:upper`` when ``bounded``) by commits
    up to ``:top``. Named parameters: repo, path, upper, top, n."""
    bound = " AND h.path < :upper" if bounded else ""
    return (
        f"{_CHANGES} AND h.path > :path{bound} AND h.seq <= :top"
        " ORDER BY h.path, h.seq DESC LIMIT :n"
    )


def paths_not_in_layer(count: int) -> str:
    """Paths put in ``count`` layers (the first parameters) that one more layer (the last
    parameter) has no entry for."""
    return (
        f"SELECT e.path FROM entries AS e WHERE e.layer IN ({_marks(count)}) AND e.size NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM entries AS o WHERE o.layer = ? AND o.path = e.path)"
    )


# --------------------------------------------------------------------------------------------
# Inline contents

INSERT_INLINE = "INSERT OR IGNORE INTO inline_blobs (digest, data) VALUES (?, ?)"
SELECT_INLINE = "SELECT data FROM inline_blobs WHERE digest = ?"
SELECT_INLINE_SIZES = "SELECT digest, length(data) FROM inline_blobs"
DELETE_INLINE = "DELETE FROM inline_blobs WHERE digest = ?"


def _marks(count: int) -> str:
    return ",".join("?" * count)
