"""``pachs3 run``: one job of a pipeline spec on this machine."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import NoReturn

from pachs3.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    open_store,
    store_option,
    store_path,
)
from pachs3.runner import run_job
from pachs3.runner.progress import ProgressReport
from pachs3.spec import load_spec

__all__ = ["register"]


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    run = sub.add_parser(
        "run",
        parents=[store],
        help="run a pipeline spec's job on this machine",
        description="Run one job of a pipeline spec: seed inputs, start the gateway on "
        "loopback, run transform.cmd per datum, finish the output commit.",
    )
    run.add_argument("spec", metavar="SPEC", type=Path, help="pipeline spec (JSON or YAML)")
    run.add_argument(
        "--input",
        metavar="NAME=DIR",
        action="append",
        default=[],
        help="first commit the files of DIR to the input NAME's repo and branch (repeatable); "
        "files identical to the branch head's make no new commit",
    )
    run.set_defaults(command=_run)


def _run(args: argparse.Namespace) -> int:
    spec_path: Path = args.spec
    try:
        text = spec_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read {spec_path}: {exc.strerror or exc}; give the path of a pipeline spec "
            "(JSON or YAML, such as examples/s3_protocol_enabled_pipeline/pipeline.json)"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{spec_path} is not UTF-8 text: {exc}") from None
    spec = load_spec(text, source=str(spec_path))
    seeds: dict[str, Path] = {}
    for entry in args.input:
        name, sep, directory = entry.partition("=")
        if not sep or not name or not directory:
            raise UsageError(f"--input {entry!r}: expected NAME=DIR")
        if name in seeds:
            raise UsageError(f"--input {name}=... is given twice")
        seeds[name] = Path(directory)
    terminal = sys.stderr.isatty()
    where = f"pachd {args.pachd}" if getattr(args, "pachd", None) else str(store_path(args))
    with open_store(args) as backend, _signals_interrupt():
        result = run_job(
            spec,
            backend,
            spec_dir=spec_path.resolve().parent,
            seeds=seeds,
            out=sys.stdout,
            progress=lambda label: ProgressReport(sys.stderr, label, terminal=terminal),
            store_name=where,
            store_option=store_option(args),
        )
    return EXIT_OK if result.ok else EXIT_FAILED


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so that a stopped job still finishes its output commit."""

    def interrupt(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
