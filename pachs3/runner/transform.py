"""Running ``transform.cmd`` once, as its own process group, its output streamed as it comes."""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from pachs3.runner.report import Printer
from pachs3.spec import Transform

__all__ = ["run_transform"]

_READ = 1 << 20


def run_transform(transform: Transform, env: Mapping[str, str], cwd: Path, say: Printer) -> int:
    """Run ``transform.cmd`` with ``transform.stdin`` fed to it; its exit status.

    Its stdout and stderr, merged, go to ``say.raw``. 127 when it cannot start (as a shell
    says); a negative status when a signal killed it. Whatever stops this call (an interrupt
    included) stops the transform and everything it started first.
    """
    stdin = "".join(f"{line}\n" for line in transform.stdin).encode()
    try:
        proc = subprocess.Popen(
            list(transform.cmd),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            # Its own process group, so that stopping the job stops everything it started.
            start_new_session=True,
        )
    except OSError as exc:
        say(f"cannot start transform.cmd {list(transform.cmd)}: {exc.strerror or exc}")
        return 127
    # stdin is fed from a thread: writing it all before reading stdout would deadlock once a
    # transform that echoes its input fills both pipe buffers.
    feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
    feeder.start()
    try:
        assert proc.stdout is not None
        # Whatever arrives, as it arrives: progress lines that end in \r (aws s3 cp) show
        # live, and a transform that never writes a newline cannot grow a line buffer.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := os.read(proc.stdout.fileno(), _READ):
            say.raw(decoder.decode(chunk))
        say.raw(decoder.decode(b"", final=True))
        return proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        feeder.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    # A transform may exit (or close its stdin) without reading it all: that is not an error.
    if pipe is None:
        return
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.write(data)
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the transform's whole process group: SIGTERM, then SIGKILL after 5 seconds."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
