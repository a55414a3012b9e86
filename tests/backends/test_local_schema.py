"""The local store's named rows match the tables they are read from, column for column.

Rows are read by name (``schema.Entry``, ``RepoRow``, ``rows.CommitRow``); a column added to a
table or reordered in a statement without its row type would shift every field silently.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from pachs3.backends import CommitRef, LocalStore
from pachs3.backends.local import schema
from pachs3.backends.local.rows import CommitRow


def table_columns(db: Path, table: str) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
    finally:
        con.close()


def test_row_types_name_the_table_columns_in_order(tmp_path: Path) -> None:
    LocalStore(tmp_path / "s").close()
    db = tmp_path / "s" / schema.DB_NAME
    assert table_columns(db, "repos") == list(schema.RepoRow._fields)
    assert table_columns(db, "entries") == ["layer", *schema.Entry._fields]
    commit_fields = [field.name for field in dataclasses.fields(CommitRow)]
    assert schema.COMMIT_COLUMNS.split(", ") == commit_fields
    assert sorted(table_columns(db, "commits")) == sorted(commit_fields)


def test_file_lookup_reads_a_commit_then_an_entry(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as store:
        store.create_repo("r")
        head = store.start_commit("r", "master")
        store.put_file(CommitRef(repo="r", id=head.id), "a/b", [b"xyz"], metadata={"k": "v"})
        con = sqlite3.connect(tmp_path / "s" / schema.DB_NAME)
        try:
            row = con.execute(schema.FILE_LOOKUP, ("r", head.id, b"a/b")).fetchone()
        finally:
            con.close()
    width = schema.FILE_COMMIT_WIDTH
    commit = schema.FileCommit._make(row[:width])
    entry = schema.Entry._make(row[width:])
    assert commit.id == head.id
    assert commit.finished_us is None
    assert (entry.path, entry.size, entry.meta) == (b"a/b", 3, '{"k":"v"}')
    assert entry.changed_by == commit.seq
