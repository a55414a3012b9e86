"""What every command shares: opening the store, naming commits, printing, and the errors.

Errors are sorted by what the user should do, and each becomes one line on stderr:

- ``UsageError``: the command line or the spec is wrong (exit 2, nothing was changed);
- ``EnvironmentProblem``: the machine is in the way (a busy port, a read-only or misplaced
  store, a missing directory); the message says what to do (exit 2);
- ``BackendError`` (``NotFound`` and friends): the store answered no (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pachs3.backends.base import BackendError, CommitInfo, NotFound
from pachs3.runner.report import plural
from pachs3.spec import DEFAULT_BRANCH

if TYPE_CHECKING:
    from pachs3.backends.base import Backend

__all__ = [
    "EnvironmentProblem",
    "UsageError",
    "open_store",
    "plural",
    "resolve_commit",
    "split_ref",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEFAULT_STORE = ".pachs3"
# Commit ids are 32 hex characters; listings show the first 12, and that is what people paste.
SHORT_ID = 12


class UsageError(Exception):
    """The command line asks for something that cannot be done as written."""


class EnvironmentProblem(Exception):
    """The machine stops the command (not the user's arguments, not the store's contents)."""


class NoHead(BackendError):
    """``REPO@BRANCH`` names a branch that has commits but no finished one (exit 1)."""


# --------------------------------------------------------------------------------------------
# The store


def store_path(args: argparse.Namespace) -> Path:
    return Path(args.store or os.environ.get("PACHS3_STORE") or DEFAULT_STORE)


def store_option(args: argparse.Namespace) -> str:
    """The ``--store``/``--pachd`` words another command needs to reach the same store."""
    if getattr(args, "pachd", None):
        return f" --pachd {args.pachd}"
    if args.store or os.environ.get("PACHS3_STORE"):
        return f" --store {store_path(args)}"
    return ""


@contextlib.contextmanager
def open_store(args: argparse.Namespace) -> Iterator[Backend]:
    backend = _open_backend(args)
    try:
        yield backend
    finally:
        backend.close()


def _open_backend(args: argparse.Namespace) -> Backend:
    """The embedded store, or a Pachyderm cluster with ``--pachd``."""
    pachd = getattr(args, "pachd", None)
    if not pachd:
        return _open_local(store_path(args))
    if args.store:
        raise UsageError("--store and --pachd cannot be used together")
    try:
        from pachs3.backends.pachyderm import PachydermBackend
    except ImportError:
        raise UsageError("--pachd needs: pip install 'pachs3[pachyderm]'") from None
    try:
        if pachd == "env":
            return PachydermBackend.from_environment()
        return PachydermBackend(pachd, auth_token=os.environ.get("PACHS3_PACHD_TOKEN"))
    except ValueError as exc:
        raise UsageError(f"--pachd {pachd!r}: {exc}") from None


def _open_local(path: Path) -> Backend:
    from pachs3.backends.local import LocalStore, StoreError

    hint = "choose another directory with --store DIR (or $PACHS3_STORE)"
    for candidate in (path, path / "store.db"):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            # SQLite's write-ahead log is written even by readers, so a read-only store cannot
            # be opened at all; without this check SQLite's "readonly database" error surfaces.
            which = "" if candidate == path else f" ({candidate} cannot be written)"
            raise EnvironmentProblem(
                f"the store {path} is read-only{which}, and pachs3 "
                "writes to its store even to read it; make it writable, or copy it somewhere "
                "writable and point --store there"
            )
    try:
        return LocalStore(path)
    except StoreError as exc:
        raise EnvironmentProblem(f"{exc}; {hint}") from None
    except PermissionError as exc:
        raise EnvironmentProblem(
            f"the store {path} cannot be written ({exc.strerror}: {exc.filename or path}); "
            f"give yourself write access to it, or {hint}"
        ) from None
    except OSError as exc:
        raise EnvironmentProblem(
            f"the store {path} cannot be opened ({exc.strerror or exc}); {hint}"
        ) from None


# --------------------------------------------------------------------------------------------
# Naming commits


def split_ref(target: str, *, default: str = DEFAULT_BRANCH) -> tuple[str, str]:
    repo, _, ref = target.partition("@")
    if not repo:
        raise UsageError(f"{target!r}: expected REPO[@COMMIT_OR_BRANCH]")
    return repo, ref or default


def resolve_commit(backend: Backend, repo: str, ref: str) -> CommitInfo:
    """``ref`` as a branch, a whole commit id, or a unique prefix of one (as listings show).

    A branch whose commits all failed has no head; that is said as such, with the command that
    reads the failed commit, instead of a bare "not found".
    """
    try:
        return backend.inspect_commit(repo, ref)
    except NotFound as exc:
        if exc.what == "repo":
            raise
        missing = exc
    matches = [info for info in backend.list_commits(repo) if info.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        shown = ", ".join(info.id[:SHORT_ID] for info in matches[:4])
        raise UsageError(
            f"{repo}@{ref} is ambiguous: {len(matches)} commits start with it ({shown}"
            f"{', ...' if len(matches) > 4 else ''}); give more of the commit id"
        )
    _explain_headless_branch(backend, repo, ref)
    raise missing


def _explain_headless_branch(backend: Backend, repo: str, branch: str) -> None:
    """Raise NoHead, saying why ``repo@branch`` has no head, when it is a branch."""
    try:
        head = backend.inspect_branch(repo, branch).head
    except NotFound:
        return
    if head is not None:
        return
    commits = backend.list_commits(repo, branch=branch)
    if not commits:
        raise NoHead(f"{repo}@{branch} has no commits yet; `pachs3 put {repo}@{branch} PATH...` "
                     "makes one")  # fmt: skip
    newest = commits[0]
    short = newest.id[:SHORT_ID]
    which = "its only commit" if len(commits) == 1 else f"the newest of its {len(commits)} commits"
    state = "is still open" if newest.is_open else f"failed ({newest.error or 'no error'})"
    raise NoHead(
        f"{repo}@{branch} has no successful commit: {which}, {short}, {state}; read it with "
        f"`pachs3 files {repo}@{short}`, or see `pachs3 log {repo}`"
    )


def commit_state(info: CommitInfo) -> str:
    """``open``, ``finished`` or ``failed (the error)``: how listings name a commit's state."""
    if info.finished is None:
        return "open"
    if info.error:
        return f"failed ({info.error})"
    return "finished"


# --------------------------------------------------------------------------------------------
# Printing


def note(message: str) -> None:
    print(f"pachs3: {message}", file=sys.stderr, flush=True)


def error(message: str, *, prefix: str = "error") -> None:
    print(f"pachs3: {prefix}: {message}", file=sys.stderr, flush=True)


def human_size(size: float) -> str:
    """``796 bytes``, ``12.3 KiB``, ``4.0 GiB``: what a person reads at a glance."""
    if size < 1024:
        return plural(int(size), "byte")
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"


def time_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
