"""Pachyderm globs over a commit's file paths: which paths are a job's datums.

Pure: the paths come in as strings, the matches go out sorted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["glob_matches"]


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negate = body[0] in "!^"
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
            i = end + 1
            continue
        elif char == "{" and (end := pattern.find("}", i)) != -1:
            alternatives = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_regex(alt) for alt in alternatives) + ")")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def glob_matches(paths: Iterable[str], glob: str) -> list[str]:
    """The datum paths a Pachyderm glob picks from a commit's file paths, sorted.

    ``paths`` are file paths as stored (``a/b.csv``); results are absolute (``/a``,
    ``/a/b.csv``). A glob matches files *and* directories: ``/*`` over ``a/b.csv`` and ``c``
    gives ``/a`` and ``/c``. ``/`` (or an empty glob) is the whole commit, when it has files.
    """
    nodes: set[str] = set()
    for path in paths:
        parts = [part for part in path.split("/") if part]
        nodes.update("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))
    normalized = "/" + glob.strip().strip("/")
    if normalized == "/":
        return ["/"] if nodes else []
    regex = re.compile(_glob_regex(normalized))
    return sorted(node for node in nodes if regex.fullmatch(node))
