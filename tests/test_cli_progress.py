"""Progress of long copies (a bar on a terminal, plain lines elsewhere) and the access log."""

from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cli_support import cli_env, pachs3_cli, stop, wait_for_line

from pachs3.runner.progress import ProgressReport, counted


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_at_most_every_interval_with_bytes_files_and_rate() -> None:
    out, clock = io.StringIO(), FakeClock()
    report = ProgressReport(out, "put r@master", terminal=False, clock=clock, interval=5.0)
    report.start(files=3, size=3 * 1024 * 1024)
    clock.now += 1.0
    report.advance(1024 * 1024)
    assert out.getvalue() == ""  # nothing before the interval has passed
    clock.now += 4.0
    report.advance(1024 * 1024)
    report.file_done()
    report.finish()
    assert out.getvalue() == (
        "pachs3: put r@master: 2.0 MiB of 3.0 MiB (66%), 0 of 3 files, 409.6 KiB/s\n"
    )


def test_terminal_bar_is_redrawn_in_place_and_erased_at_the_end() -> None:
    out, clock = io.StringIO(), FakeClock()
    report = ProgressReport(out, "seed labresults", terminal=True, clock=clock)
    report.start(files=2, size=200)
    for chunk in counted([b"x" * 100], report):
        assert chunk == b"x" * 100
    report.file_done()  # not drawn: the clock has not moved since the last draw
    clock.now += 1.0
    report.advance(100)
    report.file_done()
    report.finish()
    frames = out.getvalue().split("\r")
    assert frames[0] == ""
    assert frames[1].startswith("seed labresults [------------------------] 0 bytes of 200 bytes")
    assert frames[2] == (
        "seed labresults [########################] 200 bytes of 200 bytes (100%), "
        "1 of 2 files, 200 bytes/s\x1b[K"
    )
    assert frames[-1] == "\x1b[K"  # the line erased for what comes next
    assert "\n" not in out.getvalue()


def test_put_on_a_terminal_shows_the_bar(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for index in range(3):
        (data / f"f{index}.bin").write_bytes(os.urandom(300_000))
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pachs3.cli", "put", "--store", str(tmp_path / "s"), "r",
             str(data)],
            stdout=subprocess.PIPE, stderr=secondary, env=cli_env(), timeout=120, check=False,
        )  # fmt: skip
        os.close(secondary)
        secondary = -1
        screen = _drain(primary)
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert proc.returncode == 0, screen
    assert "\rput r@master [" in screen
    assert "878.9 KiB of 878.9 KiB (100%), 3 of 3 files, " in screen
    assert "\r\x1b[K" in screen  # erased before the result line
    assert screen.rstrip().endswith("pachs3: committed 3 files (900000 bytes) to r@master")


def test_run_seeding_on_a_terminal_shows_the_bar(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "a.bin").write_bytes(os.urandom(100_000))
    spec = tmp_path / "pipeline.json"
    spec.write_text(
        '{"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "s3_out": true,'
        ' "input": {"pfs": {"repo": "labresults", "glob": "/", "s3": true}}}'
    )
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pachs3.cli", "run", str(spec), "--store",
             str(tmp_path / "s"), "--input", f"labresults={seed}"],
            stdout=subprocess.PIPE, stderr=secondary, env=cli_env(), timeout=120, check=False,
            text=True,
        )  # fmt: skip
        os.close(secondary)
        secondary = -1
        screen = _drain(primary)
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert proc.returncode == 0, proc.stdout
    assert (
        "\rseed labresults [########################] 97.7 KiB of 97.7 KiB (100%), 1 of 1 file"
        in (screen)
    )
    assert "seeded labresults: 1 file (100000 bytes)" in proc.stdout  # the result, on stdout


def _drain(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 5)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def test_put_through_a_pipe_prints_no_bar(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    result = pachs3_cli("put", "--store", str(tmp_path / "s"), "r", str(tmp_path / "a.txt"))
    assert result.returncode == 0
    assert result.stderr == "pachs3: committed 1 file (1 byte) to r@master\n"


def test_serve_access_log_has_one_line_per_request(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1,2\n")
    store = str(tmp_path / "s")
    assert (
        pachs3_cli("put", "--store", store, "labresults", str(tmp_path / "a.csv")).returncode == 0
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pachs3.cli", "serve", "--store", store, "-v",
         "--input", "labresults=labresults", "--output", "served"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        line = wait_for_line(proc, "S3_ENDPOINT=", timeout=60)
        assert line is not None
        s3 = boto3.client(
            "s3", endpoint_url=line.split("=", 1)[1], aws_access_key_id="k",
            aws_secret_access_key="s", region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip
        assert s3.get_object(Bucket="labresults", Key="a.csv")["Body"].read() == b"1,2\n"
        s3.put_object(Bucket="out", Key="dir/r.txt", Body=b"12345")
        with pytest.raises(ClientError):
            s3.head_object(Bucket="labresults", Key="missing")
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        stop(proc)
    access = [line.split() for line in err.splitlines() if line.split()[1:2] in (["GET"],
              ["PUT"], ["HEAD"])]  # fmt: skip
    assert [row[:5] for row in access] == [
        ["pachs3:", "GET", "labresults", "a.csv", "200"],
        ["pachs3:", "PUT", "out", "dir/r.txt", "200"],
        ["pachs3:", "HEAD", "labresults", "missing", "404"],
    ]
    assert access[0][5] == "4"  # the body sent
    assert access[1][5] == "5"  # the body received
    assert all(row[6].endswith("ms") for row in access)
