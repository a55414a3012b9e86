"""Servers run in a process of their own, so their memory can be read from ``/proc/PID/status``.

    python -m benchmarks.servers static FILE   # a tiny uvicorn app streaming FILE (HEAD, Range)
    python -m benchmarks.servers moto [OBJECTS SIZE LIST_KEYS]
                                               # moto's threaded server (buckets filled)
    python -m benchmarks.servers moto-dir BUCKET DIR   # moto's server, BUCKET = DIR's files
    python -m benchmarks.servers ceiling SIZE LIST_KEYS
                                               # bare Starlette app, canned replies

Each prints ``S3_ENDPOINT=URL`` once it listens (as ``python -m pachs3 serve`` does) and runs
until SIGTERM or SIGINT. ``start`` launches any of them (pachs3 included) from the harness.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.harness import drain, python_env, stop_process, wait_for_line

PREFIX = "S3_ENDPOINT="


class Server:
    """A running server process: its endpoint URL, PID and the file its stderr goes to."""

    def __init__(self, process: subprocess.Popen[str], endpoint_url: str, log: Path) -> None:
        self.process = process
        self.endpoint_url = endpoint_url
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ServerFailed(RuntimeError):
    """A request failed; the message carries the tail of the server's stderr."""


@contextmanager
def start(
    command: Sequence[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Server]:
    """Run ``command`` (a module invocation), wait for its endpoint line, stop it at the end.

    The server's stderr goes to ``log``; an exception in the block is re-raised as
    ``ServerFailed`` with the log's tail, so a server-side traceback reaches the results.
    """
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, *command],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env or python_env(),
            cwd=cwd,  # ``-m`` puts the working directory first on the import path
        )
    server = None
    try:
        endpoint = wait_for_line(process, PREFIX)
        drain(process)
        server = Server(process, endpoint, log)
        yield server
    except Exception as exc:
        tail = server.log_tail() if server else log.read_text(errors="replace")[-3000:]
        raise ServerFailed(f"{exc}\n--- {log.name} (tail) ---\n{tail}") from exc
    finally:
        stop_process(process)


def pachs3_command(store: Path, *, output: str, inputs: dict[str, str]) -> list[str]:
    command = ["-m", "pachs3", "serve", "--store", str(store), "--output", output]
    for name, spec in inputs.items():
        command += ["--input", f"{name}={spec}"]
    return command


def _serve_static(path: Path) -> None:
    from benchmarks.targets import static_file_app
    from pachs3.transports.threaded import ThreadedServer

    with ThreadedServer(static_file_app(path)) as server:
        _announce_and_wait(server.endpoint_url)


def _serve_moto(objects: int = 0, size: int = 0, list_keys: int = 0) -> None:
    """moto's server with ``input`` holding ``objects`` objects of ``size`` bytes (``obj/N``)
    and ``list_keys`` one-byte keys (``list/N``), and an empty ``out``; filled through moto's
    backend, not over HTTP (100 k PUTs would take minutes)."""
    from benchmarks.targets import INPUT_BUCKET, OUTPUT_BUCKET, moto_backend, moto_server

    with moto_server() as endpoint:
        backend = moto_backend()
        for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
            backend.create_bucket(bucket, "us-east-1")
        for key, data in fill_keys(objects, size, list_keys):
            backend.put_object(INPUT_BUCKET, key, data)
        _announce_and_wait(endpoint)


def _serve_moto_dir(bucket: str, directory: Path) -> None:
    """moto's server with ``bucket`` holding the files of ``directory`` and an empty ``out``."""
    from benchmarks.targets import OUTPUT_BUCKET, moto_backend, moto_server

    with moto_server() as endpoint:
        backend = moto_backend()
        for name in (bucket, OUTPUT_BUCKET):
            backend.create_bucket(name, "us-east-1")
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                backend.put_object(
                    bucket, path.relative_to(directory).as_posix(), path.read_bytes()
                )
        _announce_and_wait(endpoint)


def _serve_ceiling(size: int, list_keys: int) -> None:
    from benchmarks.targets import ceiling_app
    from pachs3.transports.threaded import ThreadedServer

    body = bytes(size)
    app = ceiling_app(body, [key for key, _ in fill_keys(0, 0, list_keys)])
    with ThreadedServer(app) as server:
        _announce_and_wait(server.endpoint_url)


def fill_keys(objects: int, size: int, list_keys: int) -> Iterator[tuple[str, bytes]]:
    """The keys the raw-client workloads read: ``obj/N`` (``size`` bytes), ``list/N`` (1 byte)."""
    body = os.urandom(size)
    for n in range(objects):
        yield f"obj/{n:05d}", body
    for n in range(list_keys):
        yield f"list/{n:08d}", b"x"


def _announce_and_wait(endpoint: str) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{PREFIX}{endpoint}", flush=True)
    stop.wait()


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "static":
        _serve_static(Path(argv[1]))
    elif argv and argv[0] == "moto" and len(argv) in (1, 4):
        _serve_moto(*(int(a) for a in argv[1:]))
    elif len(argv) == 3 and argv[0] == "moto-dir":
        _serve_moto_dir(argv[1], Path(argv[2]))
    elif len(argv) == 3 and argv[0] == "ceiling":
        _serve_ceiling(int(argv[1]), int(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
