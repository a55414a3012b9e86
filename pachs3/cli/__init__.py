"""The ``pachs3`` command line.

    pachs3 run SPEC [--input NAME=DIR]... [--store DIR]
    pachs3 serve [--input NAME=REPO[@REF]]... [--output REPO] [--host H] [--port P] [-v]
    pachs3 serve --global [--store DIR | --pachd ADDRESS] [--host H] [--port P] [-v]
    pachs3 put [--store DIR] REPO[@BRANCH] PATH...
    pachs3 repos | log REPO[@BRANCH] | inspect REPO@REF | diff REPO@A REPO@B
    pachs3 files REPO[@REF] [PREFIX] | cat REPO[@REF] PATH | commits REPO [--branch B]

A REF is a branch, a commit id, or a unique prefix of one (as ``repos`` and ``log`` show).
The store is ``--store``, else ``$PACHS3_STORE``, else ``./.pachs3``. Exit status: 0 success,
1 the job (or the operation) failed, 2 a usage, spec or environment error, 130 interrupted.

One module per group of commands: ``run``, ``serve``, ``store`` (put and reading files back),
``history`` (log, inspect, diff); ``common`` holds what they share.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pachs3.backends.base import BackendError, NotFound
from pachs3.cli import history, run, serve, store
from pachs3.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EnvironmentProblem,
    UsageError,
    error,
)
from pachs3.runner import RunError
from pachs3.spec import SpecError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except SpecError as exc:
        error(str(exc), prefix="spec error")
        return EXIT_USAGE
    except (RunError, UsageError, EnvironmentProblem) as exc:
        error(str(exc))
        return EXIT_USAGE
    except NotFound as exc:
        repo = exc.name.partition("@")[0]
        error(f"{exc}; {_NOT_FOUND_ADVICE[exc.what].format(repo=repo)}")
        return EXIT_FAILED
    except BackendError as exc:
        error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `pachs3 cat ... | head`: the reader left; that is not a failure of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the exit-time flush
        return EXIT_OK
    except sqlite3.OperationalError as exc:
        # The store opened but cannot be written (made read-only, disk full, ...).
        error(f"the store cannot be written ({exc}); {_STORE_ADVICE}")
        return EXIT_USAGE
    except OSError as exc:
        # The machine said no (a full disk, a permission, a file vanishing): say what and where.
        where = f": {exc.filename}" if exc.filename else ""
        error(f"{exc.strerror or exc}{where}")
        return EXIT_USAGE


# What to run next when something named on the command line does not exist.
_NOT_FOUND_ADVICE = {
    "repo": "`pachs3 repos` lists the repos; `pachs3 put REPO PATH...` makes one",
    "branch": "`pachs3 repos` lists each repo's branches",
    "commit": "`pachs3 log {repo}` lists its commits",
    "file": "`pachs3 files REPO@REF` lists a commit's files",
    "upload": "the upload was completed or aborted",
}
_STORE_ADVICE = "check its permissions and free space, or choose another with --store DIR"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pachs3",
        description="Pachyderm's sidecar S3 gateway on an embedded PFS store.",
        epilog="REF: a branch, a commit id, or a unique prefix of one (as repos and log show).",
    )
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--store",
        metavar="DIR",
        type=Path,
        help="the store directory (default: $PACHS3_STORE, else ./.pachs3)",
    )
    options.add_argument(
        "--pachd",
        metavar="ADDRESS",
        help="use a Pachyderm cluster instead of the embedded store: [grpc|grpcs://]host[:port], "
        "or 'env' to find it as Pachyderm users do; token from $PACHS3_PACHD_TOKEN",
    )
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for group in (run, serve, store, history):
        group.register(sub, options)
    return parser


if __name__ == "__main__":
    sys.exit(main())
