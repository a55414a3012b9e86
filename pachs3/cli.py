"""The ``pachs3`` command line.

    pachs3 run SPEC [--input NAME=DIR]... [--store DIR]
    pachs3 serve [--input NAME=REPO[@REF]]... [--output REPO] [--host H] [--port P] [--store DIR]
    pachs3 put [--store DIR] REPO[@BRANCH] PATH...
    pachs3 repos | commits REPO [--branch B] | files REPO[@REF] [PREFIX] | cat REPO[@REF] PATH

The store is ``--store``, else ``$PACHS3_STORE``, else ``./.pachs3``. Exit status: 0 success,
1 the job (or the operation) failed, 2 a usage or spec error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from pachs3.backends.base import DEFAULT_PROJECT, BackendError, CommitInfo
from pachs3.core.layout import STAGING_REPO
from pachs3.runner import RunError, commit_paths, ensure_branch, run_job
from pachs3.spec import DEFAULT_BRANCH, SpecError, load_spec
from pachs3.worker import parse_inputs, worker_environment

if TYPE_CHECKING:
    from pachs3.backends.base import Backend

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except SpecError as exc:
        _error(str(exc), prefix="spec error")
        return EXIT_USAGE
    except (RunError, _UsageError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except BackendError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `pachs3 cat ... | head`: the reader left; that is not a failure of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the exit-time flush
        return EXIT_OK


def _error(message: str, *, prefix: str = "error") -> None:
    print(f"pachs3: {prefix}: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pachs3",
        description="Pachyderm's sidecar S3 gateway on an embedded PFS store.",
    )
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        metavar="DIR",
        type=Path,
        help="the store directory (default: $PACHS3_STORE, else ./.pachs3)",
    )
    store.add_argument(
        "--pachd",
        metavar="ADDRESS",
        help="use a Pachyderm cluster instead of the embedded store: [grpc|grpcs://]host[:port], "
        "or 'env' to find it as Pachyderm users do; token from $PACHS3_PACHD_TOKEN",
    )
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

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
        help="first commit the files of DIR to the input NAME's repo and branch (repeatable)",
    )
    run.set_defaults(command=_run)

    serve = sub.add_parser(
        "serve",
        parents=[store],
        help="serve one job's buckets until interrupted",
        description="Serve input commits as read-only buckets and an output commit as `out`. "
        "The first line printed is S3_ENDPOINT=URL; SIGINT or SIGTERM finishes the output commit.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    serve.add_argument(
        "--input",
        metavar="NAME=REPO[@BRANCH_OR_COMMIT]",
        action="append",
        default=[],
        help="serve REPO at a branch head (default master) or commit as bucket NAME (repeatable)",
    )
    serve.add_argument("--output", metavar="REPO", help="serve a new commit of REPO as bucket out")
    serve.add_argument(
        "--output-branch", metavar="BRANCH", default=DEFAULT_BRANCH, help="(default master)"
    )
    serve.set_defaults(command=_serve)

    put = sub.add_parser(
        "put",
        parents=[store],
        help="commit local files to a repo",
        description="Commit files (by name) and directories (recursively, paths relative to "
        "the directory) as one commit over the branch head; prints the commit id.",
    )
    put.add_argument("target", metavar="REPO[@BRANCH]")
    put.add_argument("paths", metavar="PATH", nargs="+", type=Path)
    put.set_defaults(command=_put)

    repos = sub.add_parser("repos", parents=[store], help="list repos")
    repos.add_argument(
        "--all", action="store_true", help="also list the gateway's internal staging repo"
    )
    repos.set_defaults(command=_repos)

    commits = sub.add_parser(
        "commits", parents=[store], help="list a repo's commits with provenance and errors"
    )
    commits.add_argument("repo", metavar="REPO")
    commits.add_argument("--branch", metavar="BRANCH", help="only commits of this branch")
    commits.set_defaults(command=_commits)

    files = sub.add_parser("files", parents=[store], help="list the files of a commit")
    files.add_argument("target", metavar="REPO[@COMMIT_OR_BRANCH]")
    files.add_argument("prefix", metavar="PREFIX", nargs="?", default="")
    files.set_defaults(command=_files)

    cat = sub.add_parser("cat", parents=[store], help="write a file of a commit to stdout")
    cat.add_argument("target", metavar="REPO[@COMMIT_OR_BRANCH]")
    cat.add_argument("path", metavar="PATH")
    cat.set_defaults(command=_cat)
    return parser


@contextlib.contextmanager
def _store(args: argparse.Namespace) -> Iterator[Backend]:
    backend = _open_backend(args)
    try:
        yield backend
    finally:
        backend.close()


def _open_backend(args: argparse.Namespace) -> Backend:
    """The embedded store, or a Pachyderm cluster with ``--pachd``."""
    pachd = getattr(args, "pachd", None)
    if not pachd:
        from pachs3.backends.local import LocalStore

        return LocalStore(args.store or Path(os.environ.get("PACHS3_STORE") or ".pachs3"))
    if args.store:
        raise _UsageError("--store and --pachd cannot be used together")
    try:
        from pachs3.backends.pachyderm import PachydermBackend
    except ImportError:
        raise _UsageError("--pachd needs: pip install 'pachs3[pachyderm]'") from None
    try:
        if pachd == "env":
            return PachydermBackend.from_environment()
        return PachydermBackend(pachd, auth_token=os.environ.get("PACHS3_PACHD_TOKEN"))
    except ValueError as exc:
        raise _UsageError(f"--pachd {pachd!r}: {exc}") from None


def _split_ref(target: str, *, default: str = DEFAULT_BRANCH) -> tuple[str, str]:
    repo, _, ref = target.partition("@")
    if not repo:
        raise _UsageError(f"{target!r}: expected REPO[@COMMIT_OR_BRANCH]")
    return repo, ref or default


# --------------------------------------------------------------------------------------------
# run


def _run(args: argparse.Namespace) -> int:
    spec_path: Path = args.spec
    try:
        text = spec_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"cannot read {spec_path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _UsageError(f"{spec_path} is not UTF-8 text: {exc}") from None
    spec = load_spec(text, source=str(spec_path))
    seeds: dict[str, Path] = {}
    for entry in args.input:
        name, sep, directory = entry.partition("=")
        if not sep or not name or not directory:
            raise _UsageError(f"--input {entry!r}: expected NAME=DIR")
        if name in seeds:
            raise _UsageError(f"--input {name}=... is given twice")
        seeds[name] = Path(directory)
    with _store(args) as backend, _signals_interrupt():
        result = run_job(
            spec, backend, spec_dir=spec_path.resolve().parent, seeds=seeds, out=sys.stdout
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


# --------------------------------------------------------------------------------------------
# serve


def _serve(args: argparse.Namespace) -> int:
    from pachs3.gateway import SidecarGateway

    try:
        inputs = parse_inputs(args.input)
    except ValueError as exc:
        raise _UsageError(f"--input: {exc}") from None
    if not inputs and not args.output:
        raise _UsageError("nothing to serve: give --input NAME=REPO[@REF] and/or --output REPO")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _store(args) as backend:
            if args.output:
                ensure_branch(backend, args.output, args.output_branch)
            gateway = SidecarGateway(
                backend,
                inputs=inputs,
                output=args.output or None,
                output_branch=args.output_branch,
                job_id=None,
                description="served by pachs3 serve",
            )
            with gateway, gateway.serve(host=args.host, port=args.port) as server:
                output = gateway.output_commit
                print(f"S3_ENDPOINT={server.endpoint_url}", flush=True)
                env = worker_environment(
                    job_id=gateway.job_id or "",
                    pipeline=args.output or "",
                    endpoint_url=server.endpoint_url,
                    input_commits={n: ref.id for n, ref in gateway.input_commits.items()},
                    output_commit=output.id if output else None,
                )
                for key in sorted(env):
                    if key not in ("S3_ENDPOINT", "PPS_PIPELINE_NAME", "PPS_PROJECT_NAME"):
                        print(f"{key}={env[key]}", flush=True)
                for name, ref in gateway.input_commits.items():
                    _note(f"bucket s3://{name} -> {ref} (read-only)")
                if output is not None:
                    _note(f"bucket s3://out -> {output.repo}@{output.id} (output)")
                _note("serving; SIGINT or SIGTERM finishes the output commit")
                stop.wait()
            if output is not None:
                final = backend.inspect_commit(output.repo, output.id)
                _note(f"finished {final.repo}@{final.id}" + _error_suffix(final))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _note(message: str) -> None:
    print(f"pachs3: {message}", file=sys.stderr, flush=True)


def _error_suffix(info: CommitInfo) -> str:
    return f" with error: {info.error}" if info.error else ""


# --------------------------------------------------------------------------------------------
# store commands


def _put(args: argparse.Namespace) -> int:
    repo, branch = _split_ref(args.target)
    with _store(args) as backend:
        info, files, size = commit_paths(backend, repo, branch, args.paths)
    _note(f"committed {files} files ({size} bytes) to {repo}@{branch}")
    print(info.id)
    return EXIT_OK


def _repos(args: argparse.Namespace) -> int:
    with _store(args) as backend:
        rows = [("REPO", "CREATED", "BRANCHES", "DESCRIPTION")]
        for repo in sorted(backend.list_repos(), key=lambda r: r.name):
            if repo.name == STAGING_REPO and not args.all:
                continue  # where multipart parts wait; not data anyone committed
            branches = ", ".join(
                f"{b.name}@{b.head[:12] if b.head else '-'}"
                for b in sorted(backend.list_branches(repo.name), key=lambda b: b.name)
            )
            name = repo.name if repo.project == DEFAULT_PROJECT else f"{repo.project}/{repo.name}"
            rows.append((name, _time(repo.created), branches or "-", repo.description))
    _table(rows)
    return EXIT_OK


def _commits(args: argparse.Namespace) -> int:
    with _store(args) as backend:
        backend.inspect_repo(args.repo)
        infos = backend.list_commits(args.repo, branch=args.branch)
    for info in infos:
        state = "open" if info.finished is None else f"finished {_time(info.finished)}"
        if info.error:
            state += " FAILED"
        print(f"{info.id}  {info.branch or '-'}  started {_time(info.started)}  {state}")
        if info.parent:
            print(f"    parent      {info.parent}")
        if info.provenance:
            print(f"    provenance  {', '.join(str(ref) for ref in info.provenance)}")
        if info.error:
            print(f"    error       {info.error}")
        if info.description:
            print(f"    description {info.description}")
    return EXIT_OK


def _files(args: argparse.Namespace) -> int:
    repo, ref = _split_ref(args.target)
    with _store(args) as backend:
        info = backend.inspect_commit(repo, ref)
        for file_info in backend.walk_files(info.ref, prefix=args.prefix):
            print(f"{file_info.size:>12}  {file_info.path}")
    return EXIT_OK


def _cat(args: argparse.Namespace) -> int:
    repo, ref = _split_ref(args.target)
    with _store(args) as backend:
        info = backend.inspect_commit(repo, ref)
        stream = backend.read_file(info.ref, args.path)
        try:
            out = sys.stdout.buffer
            for chunk in stream:
                out.write(chunk)
            out.flush()
        finally:
            stream.close()
    return EXIT_OK


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


if __name__ == "__main__":
    sys.exit(main())
