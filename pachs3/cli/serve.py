"""``pachs3 serve``: one job's buckets over HTTP until SIGINT or SIGTERM; with ``--global``,
every branch of every repo (Pachyderm's global gateway, docs/global.md).

The port is bound before anything is written to the store: a busy port (or a host that is not
this machine's) is reported with nothing created, no repo and no failed output commit.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import signal
import socket
import threading
from types import FrameType
from typing import TYPE_CHECKING

from pachs3.cli.common import (
    EXIT_OK,
    EnvironmentProblem,
    UsageError,
    note,
    open_store,
    resolve_commit,
    split_ref,
)
from pachs3.runner import ensure_branch
from pachs3.spec import DEFAULT_BRANCH
from pachs3.worker import parse_inputs, worker_environment

if TYPE_CHECKING:
    from pachs3.backends.base import Backend
    from pachs3.gateway import SidecarGateway
    from pachs3.global_gateway import GlobalGateway
    from pachs3.transports.asgi_types import ASGIApp
    from pachs3.transports.threaded import ThreadedServer

__all__ = ["register"]


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    serve = sub.add_parser(
        "serve",
        parents=[store],
        help="serve one job's buckets (or, with --global, every branch) until interrupted",
        description="Serve input commits as read-only buckets and an output commit as `out`. "
        "The first line printed is S3_ENDPOINT=URL; SIGINT or SIGTERM finishes the output commit. "
        "With --global: every branch of every repo as a bucket named [commit.][branch.]repo"
        "[.project], each write one commit (Pachyderm's global gateway).",
    )
    serve.add_argument(
        "--global",
        dest="global_gateway",
        action="store_true",
        help="serve every branch of every repo (buckets come and go with the store; "
        "CreateBucket makes a repo or branch); not with --input/--output",
    )
    serve.add_argument(
        "--batch-ms",
        type=float,
        default=None,
        metavar="MS",
        help="with --global: the writes arriving at a branch together share one commit, "
        "finished once they are done and at most MS milliseconds after it started (each is "
        "answered once that commit finished); default: one commit per write",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    serve.add_argument(
        "--input",
        metavar="NAME=REPO[@BRANCH_OR_COMMIT]",
        action="append",
        default=[],
        help="serve REPO at a branch head (default master) or commit (or a unique prefix of "
        "its id) as bucket NAME (repeatable)",
    )
    serve.add_argument("--output", metavar="REPO", help="serve a new commit of REPO as bucket out")
    serve.add_argument(
        "--output-branch", metavar="BRANCH", default=DEFAULT_BRANCH, help="(default master)"
    )
    serve.add_argument(
        "-v",
        "--access-log",
        action="store_true",
        help="log one line per request to stderr: method, bucket, key, status, bytes, ms",
    )
    serve.set_defaults(command=_serve)


def _serve(args: argparse.Namespace) -> int:
    from pachs3.gateway import SidecarGateway

    if args.global_gateway:
        return _serve_global(args)
    if args.batch_ms is not None:
        raise UsageError("--batch-ms is for --global: a job's writes all go into its one commit")
    try:
        inputs = parse_inputs(args.input)
    except ValueError as exc:
        raise UsageError(f"--input: {exc}") from None
    if not inputs and not args.output:
        raise UsageError("nothing to serve: give --input NAME=REPO[@REF] and/or --output REPO")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with open_store(args) as backend:
            pinned = {name: _pin(backend, ref) for name, ref in inputs.items()}
            gateway = SidecarGateway(
                backend,
                inputs=pinned,
                output=args.output or None,
                output_branch=args.output_branch,
                job_id=None,
                description="served by pachs3 serve",
            )
            with contextlib.ExitStack() as stack:
                server = _bound_server(gateway, args)
                stack.callback(server.stop)  # if entering the gateway fails
                if args.output:
                    ensure_branch(backend, args.output, args.output_branch)
                stack.enter_context(gateway)
                stack.callback(server.stop)  # runs first: no request lands after the finish
                output = gateway.output_commit
                _announce(gateway, server, args)
                stop.wait()
            if output is not None:
                final = backend.inspect_commit(output.repo, output.id)
                error = f" with error: {final.error}" if final.error else ""
                note(f"finished {final.repo}@{final.id}{error}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _serve_global(args: argparse.Namespace) -> int:
    from pachs3.global_gateway import GlobalGateway

    if args.input or args.output:
        raise UsageError(
            "--global serves every branch as a bucket; --input and --output are for one job"
        )
    if args.batch_ms is not None and args.batch_ms <= 0:
        raise UsageError("--batch-ms must be a positive number of milliseconds")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with (
            open_store(args) as backend,
            GlobalGateway(backend, batch_ms=args.batch_ms) as gateway,
        ):
            server = _bound_server(gateway, args)
            try:
                print(f"S3_ENDPOINT={server.endpoint_url}", flush=True)
                note("serving every branch of every repo as a bucket: [commit.][branch.]repo")
                if args.batch_ms is None:
                    note("each write is one commit on its branch; SIGINT or SIGTERM stops")
                else:
                    note(
                        "writes arriving at a branch together share one commit"
                        f" (open at most {args.batch_ms:g} ms)"
                    )
                stop.wait()
            finally:
                server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _pin(backend: Backend, ref: str) -> str:
    """``repo@ref`` with a commit id prefix made whole (a branch or whole id stays as it is)."""
    repo, at = split_ref(ref)
    info = resolve_commit(backend, repo, at)
    return ref if at in (info.id, info.branch) else f"{repo}@{info.id}"


def _bound_server(
    gateway: SidecarGateway | GlobalGateway, args: argparse.Namespace
) -> ThreadedServer:
    """The HTTP server, listening; the store is not touched yet."""
    from pachs3.transports.access_log import AccessLog
    from pachs3.transports.asgi import make_asgi_app
    from pachs3.transports.threaded import ThreadedServer

    app: ASGIApp = make_asgi_app(gateway)
    if args.access_log:
        app = AccessLog(app, note)
    server = ThreadedServer(app, host=args.host, port=args.port)
    try:
        server.start()
    except socket.gaierror as exc:
        raise EnvironmentProblem(
            f"--host {args.host}: not a name or address this machine can bind ({exc.strerror}); "
            "use --host 127.0.0.1, or 0.0.0.0 for every interface"
        ) from None
    except OSError as exc:
        raise EnvironmentProblem(_bind_problem(args.host, args.port, exc)) from None
    return server


_BIND_ADVICE = {
    errno.EADDRINUSE: "is already in use; choose another --port, or leave --port out to take "
    "any free port",
    errno.EACCES: "needs privileges (ports below 1024 do); choose a port above 1024, or leave "
    "--port out to take any free port",
    errno.EADDRNOTAVAIL: "is not an address of this machine; use --host 127.0.0.1, or 0.0.0.0 "
    "for every interface",
}


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    advice = _BIND_ADVICE.get(exc.errno or 0, f"cannot be bound ({exc.strerror or exc})")
    return f"{host}:{port} {advice}"


def _announce(gateway: SidecarGateway, server: ThreadedServer, args: argparse.Namespace) -> None:
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
        note(f"bucket s3://{name} -> {ref} (read-only)")
    if output is not None:
        note(f"bucket s3://out -> {output.repo}@{output.id} (output)")
    note("serving; SIGINT or SIGTERM finishes the output commit")
