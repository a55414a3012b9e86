"""Servers run in a process of their own, so their memory can be read from ``/proc/PID/status``.

    python -m benchmarks.servers static FILE   # a tiny uvicorn app streaming FILE (HEAD, Range)
    python -m benchmarks.servers moto          # moto's threaded server

Each prints ``S3_ENDPOINT=URL`` once it listens (as ``python -m pachs3 serve`` does) and runs
until SIGTERM or SIGINT. ``start`` launches any of them (pachs3 included) from the harness.
"""

from __future__ import annotations

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
def start(command: Sequence[str], log: Path) -> Iterator[Server]:
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
            env=python_env(),
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


def _serve_moto() -> None:
    from benchmarks.targets import moto_server

    with moto_server() as endpoint:
        _announce_and_wait(endpoint)


def _announce_and_wait(endpoint: str) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{PREFIX}{endpoint}", flush=True)
    stop.wait()


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "static":
        _serve_static(Path(argv[1]))
    elif list(argv) == ["moto"]:
        _serve_moto()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
