"""The data model of the PFS double (``pfs_double.py``), after pachd 2.6's source.

- Files are keyed by (path, datum), as in pachd's filesets (``fileset/merge.go``,
  ``unordered_writer.go``); the default datum is ``""``.
- A commit holds only its own *diffs*, one per ModifyFile call (``commit_store.go``
  ``AddFileSet``). An open commit, or one finished with an error, reads as its nearest
  ancestor without an error (which must be finished, else "base commit ... unfinished") plus
  its diffs, in order (``driver_file.go`` ``getFileSet``); a commit finished without an error
  reads as the total fixed at finishing. ``ClearCommit`` drops the diffs only
  (``commit_store.go`` ``DropFileSets``), so the parent's files come back.
- ``validate_filename`` is pachd's ``ValidateFilename`` (``pfs/server/paths.go``).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

Key = tuple[str, str]
"""(path, datum)."""


@dataclass(frozen=True)
class File:
    data: bytes
    entries: int = 1
    """How many index entries pachd keeps for this (path, datum): more than one after several
    CopyFile(append) of one path in one ModifyFile (seen on pachd 2.6.0)."""

    @functools.cached_property
    def hash(self) -> bytes:
        return hashlib.sha256(self.data).digest()


Files = dict[Key, File]
Operation = Callable[[Files], None]


@dataclass
class Commit:
    id: str
    repo: str
    branch: str
    parent: str | None
    origin: int
    started: datetime
    description: str = ""
    finishing: datetime | None = None
    finished: datetime | None = None
    error: str = ""
    diffs: list[list[Operation]] = field(default_factory=list)
    total: Files | None = None
    children: list[str] = field(default_factory=list)
    direct_provenance: list[tuple[str, str, str]] = field(default_factory=list)
    """(repo, branch, commit id): the heads of its branch's provenance when it was made."""


@dataclass
class Repo:
    name: str
    project: str
    created: datetime
    description: str = ""
    branches: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """branch -> its provenance: (repo, branch) pairs."""
    commits: dict[str, Commit] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Paths


def clean(path: str) -> str:
    """pachd's ``CleanPath``: ``"/" + strings.Trim(path.Clean(p), "/")``."""
    cleaned = posixpath.normpath("/" + path) if path else "/"
    return "/" + cleaned.strip("/")


_PRINTABLE = re.compile(r"^[ -~]+$")
_GLOB = re.compile(r"[*?[\]{}!()@+^]")


def validate_filename(path: str) -> str | None:
    """pachd's ``ValidateFilename``: its error message, or None for a valid path."""
    if not _PRINTABLE.match(path):
        return f"path ({path}) invalid: only printable ASCII characters allowed"
    glob = _GLOB.search(path)
    if glob is not None:
        return f"path ({path}) invalid: globbing character ({glob.group()}) not allowed in path"
    if any(element in (".", "..") for element in path.split("/")):
        return f"path ({path}) invalid: relative file paths are not allowed"
    return None


def glob_literal_prefix(pattern: str) -> str:
    """pachd's ``globLiteralPrefix``: GetFile only looks at paths starting with this."""
    found = _GLOB.search(pattern)
    return pattern if found is None else pattern[: found.start()]


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """PFS's glob (ohmyglob with '/' as separator, ``\\`` escaping), enough of it for tests,
    behind pachd's literal-prefix filter: a path must start with the literal prefix (where a
    ``\\`` is an ordinary character) and match the glob (where it escapes)."""
    prefix = glob_literal_prefix(pattern)
    regex = []
    index = 0
    while index < len(pattern):
        ch = pattern[index]
        if ch == "\\" and index + 1 < len(pattern):
            regex.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if ch == "*":
            if pattern[index : index + 2] == "**":
                regex.append(".*")
                index += 2
                continue
            regex.append("[^/]*")
        elif ch == "?":
            regex.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                regex.append(re.escape(ch))
            else:
                body = pattern[index + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                regex.append(f"[{body}]")
                index = end
        elif ch == "{":
            end = pattern.find("}", index + 1)
            if end < 0:
                regex.append(re.escape(ch))
            else:
                options = pattern[index + 1 : end].split(",")
                regex.append("(?:" + "|".join(fnmatch.translate(o)[4:-3] for o in options) + ")")
                index = end
        else:
            regex.append(re.escape(ch))
        index += 1
    compiled = re.compile("".join(regex) + r"\Z", re.DOTALL)
    return lambda path: path.startswith(prefix) and compiled.match(path) is not None


# --------------------------------------------------------------------------------------------
# ModifyFile operations: applied to a commit's files in order, when the call ends


def add(files: Files, *, path: str, datum: str, data: bytes) -> None:
    """AddFile appends to the file of the same (path, datum)."""
    existing = files.get((path, datum))
    if existing is None:
        files[(path, datum)] = File(data)
    else:
        files[(path, datum)] = File(existing.data + data, existing.entries)


def delete(files: Files, *, path: str, datum: str) -> None:
    """DeleteFile of a path ending in ``/`` (or ``/`` itself) deletes the tree under it; of any
    other path, that one file. Only entries of the same datum (``unordered_writer.go``)."""
    if path.endswith("/"):
        prefix = clean(path).rstrip("/") + "/"
        doomed = [k for k in files if k[1] == datum and k[0].startswith(prefix)]
    else:
        doomed = [k for k in files if k == (clean(path), datum)]
    for key in doomed:
        del files[key]


def copy(files: Files, *, copies: dict[Key, bytes], append: bool, again: set[Key]) -> None:
    """CopyFile; ``again``: the keys this ModifyFile call wrote before, where an appending copy
    becomes an entry of its own rather than an append (``UnorderedWriter.Copy`` buffers one
    entry per copy)."""
    for key, data in copies.items():
        existing = files.get(key)
        if existing is None or not append:
            files[key] = File(data)
        elif key in again:
            files[key] = File(existing.data + data, existing.entries + 1)
        else:
            files[key] = File(existing.data + data, existing.entries)


def merged(files: Files) -> dict[str, list[tuple[str, File]]]:
    """Path -> its (datum, file) entries, datums in order."""
    out: dict[str, list[tuple[str, File]]] = {}
    for (path, datum), file in sorted(files.items()):
        out.setdefault(path, []).append((datum, file))
    return out


def finish_error(files: Files) -> str:
    """What pachd's validation at finishing (``compaction.go`` ``checkIndex``) objects to."""
    previous: tuple[str, str] | None = None
    keys = sorted(files, key=lambda k: (k[0].encode(), k[1]))
    entries = [
        (path, datum or "default")
        for path, datum in keys
        for _ in range(files[(path, datum)].entries)
    ]
    for path, datum in entries:
        if previous is not None:
            if path == previous[0]:
                return (
                    f"duplicate path output by different datums ({previous[0]} from "
                    f"{previous[1]} and {path} from {datum})"
                )
            if path.startswith(previous[0] + "/"):
                return f"file / directory path collision ({path})"
        previous = (path, datum)
    return ""
