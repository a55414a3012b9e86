"""Finding one's way through commits: ``log``, ``inspect`` and ``diff``.

Only the backend protocols are used (``list_commits``, ``inspect_commit``, ``walk_files``), so
these work on the embedded store and on a Pachyderm cluster alike.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from pachs3.backends.base import Backend, CommitInfo, CommitRef, FileInfo
from pachs3.cli.common import (
    EXIT_OK,
    SHORT_ID,
    commit_state,
    duration_text,
    human_size,
    note,
    open_store,
    plural,
    resolve_commit,
    split_ref,
    time_text,
)

__all__ = ["register"]


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    log = sub.add_parser(
        "log",
        parents=[store],
        help="a repo's commits, newest first, with status and provenance",
        description="List the commits of REPO (or only those of BRANCH), newest first: id as "
        "every command accepts it, branch, status (open, finished, FAILED with the error), "
        "when, how long, and provenance.",
    )
    log.add_argument("target", metavar="REPO[@BRANCH]")
    log.set_defaults(command=_log)

    inspect = sub.add_parser(
        "inspect", parents=[store], help="everything about one commit, with its file totals"
    )
    inspect.add_argument("target", metavar="REPO[@COMMIT_OR_BRANCH]")
    inspect.set_defaults(command=_inspect)

    diff = sub.add_parser(
        "diff",
        parents=[store],
        help="files added, changed and removed between two commits",
        description="Compare the files of two commits (of one repo or of two): what B adds, "
        "changes (other size or content) and removes relative to A, with sizes.",
    )
    diff.add_argument("old", metavar="REPO@A")
    diff.add_argument("new", metavar="REPO@B")
    diff.set_defaults(command=_diff)


# --------------------------------------------------------------------------------------------
# log and inspect


def _log(args: argparse.Namespace) -> int:
    repo, _, branch = args.target.partition("@")
    with open_store(args) as backend:
        backend.inspect_repo(repo)
        heads = {b.head for b in backend.list_branches(repo) if b.head}
        commits = backend.list_commits(repo, branch=branch or None)
    for info in commits:
        print(_log_line(info, is_head=info.id in heads))
        for label, value in _details(info):
            print(f"    {label:<12}{value}")
    if not commits:
        note(f"{args.target} has no commits yet")
    return EXIT_OK


def _log_line(info: CommitInfo, *, is_head: bool) -> str:
    status = "open" if info.is_open else ("FAILED" if info.error else "finished")
    branch = (info.branch or "-") + (" (head)" if is_head else "")
    took = f" took {duration_text(_seconds(info))}" if info.finished else ""
    return f"{info.id[:SHORT_ID]}  {branch}  {status}  started {time_text(info.started)}{took}"


def _details(info: CommitInfo) -> Iterator[tuple[str, str]]:
    if info.error:
        yield "error", info.error
    if info.provenance:
        yield "provenance", ", ".join(_short(ref) for ref in info.provenance)
    if info.description:
        yield "description", info.description


def _inspect(args: argparse.Namespace) -> int:
    repo, ref = split_ref(args.target)
    with open_store(args) as backend:
        info = resolve_commit(backend, repo, ref)
        head = info.branch and backend.inspect_branch(repo, info.branch).head
        files = size = 0
        for file_info in backend.walk_files(info.ref):
            files += 1
            size += file_info.size
    rows = [
        ("commit", f"{info.repo}@{info.id}"),
        ("branch", (info.branch or "-") + (" (its head)" if head == info.id else "")),
        ("status", commit_state(info)),
        ("parent", info.parent or "-"),
        ("started", time_text(info.started)),
    ]
    if info.finished:
        rows.append(("finished", f"{time_text(info.finished)} (took "
                     f"{duration_text(_seconds(info))})"))  # fmt: skip
    rows.append(("provenance", ", ".join(str(r) for r in info.provenance) or "(none)"))
    if info.description:
        rows.append(("description", info.description))
    rows.append(("files", f"{plural(files, 'file')}, {human_size(size)}"))
    for label, value in rows:
        print(f"{label:<13}{value}")
    return EXIT_OK


def _seconds(info: CommitInfo) -> float:
    return ((info.finished or info.started) - info.started).total_seconds()


def _short(ref: CommitRef) -> str:
    return f"{ref.repo}@{ref.id[:SHORT_ID]}"


# --------------------------------------------------------------------------------------------
# diff


def _diff(args: argparse.Namespace) -> int:
    old_repo, old_ref = split_ref(args.old)
    new_repo, new_ref = split_ref(args.new)
    with open_store(args) as backend:
        old = resolve_commit(backend, old_repo, old_ref)
        new = resolve_commit(backend, new_repo, new_ref)
        counts = {"added": 0, "changed": 0, "removed": 0}
        for change, before, after in file_changes(backend, old.ref, new.ref):
            counts[change] += 1
            print(_change_line(change, before, after))
    summary = ", ".join(f"{count} {change}" for change, count in counts.items())
    note(f"{_short(old.ref)} -> {_short(new.ref)}: {summary}")
    return EXIT_OK


def _change_line(change: str, before: FileInfo | None, after: FileInfo | None) -> str:
    if before is not None and after is not None:
        sizes = f"{before.size} -> {after.size}"
    else:
        sizes = str((after or before).size)  # type: ignore[union-attr]
    path = (after or before).path  # type: ignore[union-attr]
    return f"{change:<8} {sizes:>12}  {path}"


def file_changes(
    backend: Backend, old: CommitRef, new: CommitRef
) -> Iterator[tuple[str, FileInfo | None, FileInfo | None]]:
    """``(added|changed|removed, old file, new file)`` by path, merging two sorted walks.

    Memory stays flat whatever the commits hold: both listings are streamed in path order.
    """
    olds, news = backend.walk_files(old), backend.walk_files(new)
    before, after = next(olds, None), next(news, None)
    while before is not None or after is not None:
        if after is None or (before is not None and before.path < after.path):
            yield "removed", before, None
            before = next(olds, None)
        elif before is None or after.path < before.path:
            yield "added", None, after
            after = next(news, None)
        else:
            if not _same_content(before, after):
                yield "changed", before, after
            before, after = next(olds, None), next(news, None)


def _same_content(a: FileInfo, b: FileInfo) -> bool:
    if a.size != b.size:
        return False
    # The MD5 of the whole content, when both know it, sees through how a file was written (a
    # multipart upload's etag differs from a single PUT's for the same bytes).
    if a.md5 is not None and b.md5 is not None:
        return a.md5 == b.md5
    return a.etag == b.etag
