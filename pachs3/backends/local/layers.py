"""A commit's file set as a stack of layers, and how the local store keeps the stack short.

Every commit writes its changes into its own *layer*: one ``entries`` row per changed path,
either a put (size not NULL) or a tombstone (size NULL). A commit's *view* is a list of layers,
newest first: its own layer followed by its parent's view (or nothing, for ``empty=True``). The
file at a path is the entry of the newest layer that has the path, unless that entry is a
tombstone. Starting a commit therefore copies a short list of layer ids, never a file list.

Reads:
- one path: one statement probing the ``(layer, path)`` primary key once per layer;
- a listing: one paged cursor per layer (up to 1000 rows per query, resumed after the last
  path), merged by path (k-way, newest layer wins, tombstones hide). Memory is a page per layer.

Keeping the stack short (size-tiered compaction, run when a commit is finished): the newest
layers are merged into one new layer while their total is at least 1/``MERGE_RATIO`` of the next
older layer. Each layer is then more than ``MERGE_RATIO`` times smaller than the one below it, so a
view has at most ~log4(files) layers, and a small commit on a huge branch merges only with other
small layers: a 1-file commit on a 1 M-file branch copies nothing of the million until about a
quarter million changes have piled up on top of it (amortised O(log n) row copies per change).
Merged layers are new rows; the layers they were built from stay, because older commits (and any
reader mid-walk) still use them. The finished commit's view is unchanged by compaction: only its
layer list is rewritten to an equivalent, shorter one.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from .database import Database
from .schema import Entry, merge_into_layer, scan_layer, select_path_in_layers

MERGE_RATIO = 4
MAX_LAYERS = 16
FIRST_PAGE = 16


def encode_path(path: str) -> bytes:
    """UTF-8, keeping lone surrogates (surrogatepass preserves code point order, so the byte
    order of the index is exactly Python's ``str`` order for every key)."""
    return path.encode("utf-8", "surrogatepass")


def decode_path(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


# --------------------------------------------------------------------------------------------
# Reading a view


def lookup(con: sqlite3.Connection, layers: Sequence[int], path: bytes) -> Entry | None:
    """The visible entry at ``path`` in the view ``layers``, or None (absent or deleted)."""
    if not layers:
        return None
    rows = con.execute(select_path_in_layers(len(layers)), (path, *layers)).fetchall()
    if not rows:
        return None
    rank = {layer: position for position, layer in enumerate(layers)}
    _layer, *columns = min(rows, key=lambda row: rank[row[0]])
    entry = Entry._make(columns)
    return None if entry.size is None else entry


def walk(
    db: Database, layers: Sequence[int], *, prefix: bytes, start_after: bytes, page_size: int
) -> Iterator[Entry]:
    """The visible entries of a view in path order, within ``prefix`` and after ``start_after``."""
    if start_after >= prefix:
        lower, inclusive = start_after, False
    else:
        lower, inclusive = prefix, True
    upper = upper_bound(prefix)
    cursors = [
        scan(db, layer, lower=lower, inclusive=inclusive, upper=upper, page_size=page_size)
        for layer in layers
    ]
    if len(cursors) == 1:
        return (entry for entry in cursors[0] if entry.size is not None)
    return _merge(cursors)


def scan(
    db: Database,
    layer: int,
    *,
    lower: bytes,
    inclusive: bool,
    upper: bytes | None,
    page_size: int,
) -> Iterator[Entry]:
    """One layer's entries (tombstones too) in path order, fetched a page per short query (no
    open cursor)."""
    bounded = upper is not None
    # The first page is small and pages then grow to page_size: a caller that only wants the
    # first entry (a delimiter listing seeking past a common prefix) does not pay for a full
    # page, and a long walk soon runs at full pages.
    limit = min(FIRST_PAGE, page_size)
    params: dict[str, Any] = {"layer": layer, "lower": lower, "upper": upper, "n": limit}
    sql = scan_layer(inclusive=inclusive, bounded=bounded)
    while True:
        db.count_range_scan()
        with db.connection() as con:
            rows = con.execute(sql, params).fetchall()
        yield from map(Entry._make, rows)
        if len(rows) < limit:
            return
        params["lower"] = rows[-1][0]  # the path: the first column, as in Entry
        limit = params["n"] = min(limit * 4, page_size)
        sql = scan_layer(inclusive=False, bounded=bounded)


def _merge(cursors: Sequence[Iterator[Entry]]) -> Iterator[Entry]:
    ranked = [_ranked(rank, cursor) for rank, cursor in enumerate(cursors)]
    previous: bytes | None = None
    for path, _rank, entry in heapq.merge(*ranked):
        if path == previous:
            continue  # an older layer's entry for a path a newer layer already decided
        previous = path
        if entry.size is not None:
            yield entry


def _ranked(rank: int, cursor: Iterator[Entry]) -> Iterator[tuple[bytes, int, Entry]]:
    # (path, rank) is unique, so heapq never compares the entries themselves.
    for entry in cursor:
        yield entry.path, rank, entry


# --------------------------------------------------------------------------------------------
# Compaction


def layers_to_merge(sizes: Sequence[int]) -> int:
    """How many of the newest layers (sizes newest first) to merge into one; below 2: none."""
    count, total = 1, sizes[0]
    while count < len(sizes) and (
        total * MERGE_RATIO >= sizes[count] or len(sizes) - count >= MAX_LAYERS
    ):
        total += sizes[count]
        count += 1
    return count


def merge_layers(
    con: sqlite3.Connection, sources: Sequence[int], target: int, *, bottom: bool
) -> int:
    """Write into ``target`` the view of ``sources`` (newest first); return the row count.

    When the sources reach the bottom of the view, tombstones have nothing left to hide and are
    dropped.
    """
    params: list[int] = []
    for position, layer in enumerate(sources):
        params += [target, layer, *sources[:position]]
    return con.execute(merge_into_layer(len(sources), bottom=bottom), params).rowcount
