"""Running the ``pachs3`` command line as a real subprocess, for the CLI tests."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pachs3

PACKAGE_ROOT = Path(pachs3.__file__).resolve().parent.parent


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    env.pop("PACHS3_STORE", None)
    env.update(extra)
    return env


def pachs3_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pachs3.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(**env),
        timeout=timeout,
        check=False,
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str, *, timeout: float) -> str | None:
    """The first stdout line containing ``needle``, read straight from the pipe.

    Raw ``os.read`` on the descriptor, not ``readline()``: the text wrapper would buffer a
    second line that arrived with the first where ``select`` cannot see it, and the wait would
    then time out with the line already read (a flake seen under load)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    pending = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        data = os.read(fd, 65536)
        if not data:
            return None
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if needle in line.decode("utf-8", "replace"):
                return line.decode("utf-8", "replace")
    return None


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
