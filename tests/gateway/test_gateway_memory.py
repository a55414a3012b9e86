"""1 GiB up and 1 GiB down through the threaded server, with the server's memory bounded.

The server runs in its own process (``python -m pachs3 serve``) so that its peak resident set
(VmHWM in /proc) measures the gateway alone. Bytes are verified by MD5 on both sides, streaming.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MiB = 1024 * 1024
GiB = 1024 * MiB
MAX_GROWTH = 64 * MiB
"""Issue #6's bound: server memory growth while streaming 1 GiB either way."""

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="/proc")]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/status")


def _pattern_chunks(total: int, chunk: int = MiB) -> Iterator[bytes]:
    """Deterministic, incompressible-enough bytes, generated on the fly."""
    block = os.urandom(chunk)
    sent = 0
    counter = 0
    while sent < total:
        counter += 1
        piece = counter.to_bytes(8, "big") + block[8:]
        piece = piece[: total - sent]
        sent += len(piece)
        yield piece


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    store = tmp_path_factory.mktemp("memstore")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pachs3", "serve", "--store", str(store), "--output", "big"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("S3_ENDPOINT=http://127.0.0.1:"), first
        yield first.removeprefix("S3_ENDPOINT="), process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
        assert process.returncode == 0, err


def _client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="default",
        aws_secret_access_key="default",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, read_timeout=300),
    )


def test_one_gib_up_and_down_in_bounded_memory(server: tuple[str, int], tmp_path: Path) -> None:
    endpoint, pid = server
    s3 = _client(endpoint)
    s3.list_buckets()  # warm the server: imports, first connection, SQLite pages
    baseline = _status_kib(pid, "VmRSS") * 1024

    # Up, single streamed PUT (HTTP chunked, no Content-Length): one request, 1 GiB.
    digest = hashlib.md5(usedforsecurity=False)

    def body() -> Iterator[bytes]:
        for chunk in _pattern_chunks(GiB):
            digest.update(chunk)
            yield chunk

    with httpx.Client(timeout=300) as http:
        put = http.put(f"{endpoint}/out/stream.bin", content=body())
    assert put.status_code == 200, put.text
    assert put.headers["etag"] == f'"{digest.hexdigest()}"'

    # Up again through boto3's multipart upload of a 1 GiB file (64 MiB parts, 4 at a time).
    source = tmp_path / "source.bin"
    file_digest = hashlib.md5(usedforsecurity=False)
    with source.open("wb") as handle:
        for chunk in _pattern_chunks(GiB):
            file_digest.update(chunk)
            handle.write(chunk)
    s3.upload_file(
        str(source),
        "out",
        "multipart.bin",
        Config=TransferConfig(multipart_chunksize=64 * MiB, max_concurrency=4),
    )
    source.unlink()

    # Down, streamed, verified.
    for key, expected in (("stream.bin", digest), ("multipart.bin", file_digest)):
        got = s3.get_object(Bucket="out", Key=key)
        assert got["ContentLength"] == GiB
        down = hashlib.md5(usedforsecurity=False)
        for chunk in got["Body"].iter_chunks(MiB):
            down.update(chunk)
        assert down.hexdigest() == expected.hexdigest()

    peak = _status_kib(pid, "VmHWM") * 1024
    growth = peak - baseline
    print(
        f"server RSS baseline {baseline / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB, "
        f"growth {growth / MiB:.1f} MiB over 2 GiB up and 2 GiB down"
    )
    assert growth < MAX_GROWTH
