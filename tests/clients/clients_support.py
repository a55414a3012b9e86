"""Shared pieces of the client compatibility suite: the seeded input, the store oracle, the
client adapter interface and helpers for command-line clients (the TLS pair is tls_certs.py's).

Imported by name (tests/ has no packages), so the module name is unique across the tree.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pachs3 import GlobalGateway, SidecarGateway
from pachs3.backends.base import CommitRef, NotFound, commit

MiB = 1 << 20

INPUT = "labresults"
OUT = "out"
OUTPUT_REPO = "pipeline"
# Global mode: the same bucket names are branch master of repos `labresults` and `out`. The
# input is read-only there because its head commit has provenance (from SOURCE_REPO), as a
# pipeline's output is on Pachyderm's global gateway.
SOURCE_REPO = "samples"
MODES = ("sidecar", "global")

SPECIAL_KEY = "dir/sp ace+plus%pct&amp=eqü€~.txt"

# 20 MiB of seeded pseudo-random bytes (deterministic: a failure is reproducible), big enough for
# every client's multipart upload and ranged/parallel download paths.
BIG = random.Random(20_26).randbytes(20 * MiB)
BIG_KEY = "big.bin"

TABLE_CSV = b"sample,analyte,value\nT1,GLUCOSE,5.4\nT2,HBA1C,6.1\nT3,LIPIDS,4.2\n"

# What the input bucket holds: text, nesting, the special key, an empty object, a directory
# marker, a CSV for pandas and the 20 MiB object.
INPUT_FILES: dict[str, bytes] = {
    "a.txt": b"hello\n",
    BIG_KEY: BIG,
    "dir/small.txt": b"small file\n",
    "dir/sub/deep.csv": b"x,y\n1,2\n",
    SPECIAL_KEY: b"special key payload",
    "empty.bin": b"",
    "marker/": b"",
    "table.csv": TABLE_CSV,
}

INPUT_KEYS = sorted(INPUT_FILES, key=lambda k: k.encode())
# Top level with delimiter "/": these objects, and these common prefixes.
TOP_OBJECTS = ["a.txt", BIG_KEY, "empty.bin", "table.csv"]
TOP_PREFIXES = ["dir/", "marker/"]
DIR_OBJECTS = ["dir/small.txt", SPECIAL_KEY]
DIR_PREFIXES = ["dir/sub/"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(part_md5s: Sequence[str]) -> str:
    joined = b"".join(bytes.fromhex(p) for p in part_md5s)
    return f"{md5(joined)}-{len(part_md5s)}"


class Unsupported(Exception):
    """The client has no API for this operation (the cell is n/a, with this reason)."""


class Refused(Exception):
    """A client error that the adapter recognised as the gateway's 403 AccessDenied."""


class Missing(Exception):
    """A client error that the adapter recognised as a 404 (NoSuchKey / not found)."""


# --------------------------------------------------------------------------------------------
# The oracle: the store itself, read and written without S3.


@dataclass
class Oracle:
    """Reads and writes the buckets' commits directly in the store: ground truth, no S3 involved.

    Sidecar: the job's input commits and its output commit. Global: the head commit of the
    bucket's branch (``master``) as it is now; every write there is a commit of its own.
    """

    gateway: SidecarGateway | GlobalGateway

    def ref(self, bucket: str) -> CommitRef:
        gateway = self.gateway
        if isinstance(gateway, GlobalGateway):
            head = gateway.backend.inspect_branch(bucket, "master").head
            assert head is not None, f"{bucket}@master has no commit"
            return CommitRef(repo=bucket, id=head)
        if bucket == OUT:
            out = gateway.output_commit
            assert out is not None
            return out.ref
        return gateway.input_commits[bucket]

    def files(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """path -> size of every file in the bucket's commit."""
        return {
            info.path: info.size
            for info in self.gateway.backend.walk_files(self.ref(bucket), prefix=prefix)
        }

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return list(self.files(bucket, prefix))

    def read(self, bucket: str, key: str) -> bytes:
        stream = self.gateway.backend.read_file(self.ref(bucket), key)
        try:
            return b"".join(stream)
        finally:
            stream.close()

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.gateway.backend.inspect_file(self.ref(bucket), key)
        except NotFound:
            return False
        return True

    def etag(self, bucket: str, key: str) -> str:
        """The ETag the gateway reports (quotes stripped), via the in-process client."""
        head = self.gateway.client().head_object(Bucket=bucket, Key=key)
        return str(head["ETag"]).strip('"')

    def put(self, key: str, data: bytes) -> None:
        backend = self.gateway.backend
        if isinstance(self.gateway, GlobalGateway):
            with commit(backend, OUT, "master", description=f"oracle: {key}") as info:
                backend.put_file(info.ref, key, [data])
        else:
            backend.put_file(self.ref(OUT), key, [data])


# --------------------------------------------------------------------------------------------
# The adapter every client module implements.


class ScratchFiles:
    """Numbered scratch files in one directory: the command-line clients upload from and
    download to files. ``scratch(data)`` writes a new one; ``scratch()`` names a new one."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._count = 0

    def __call__(self, data: bytes | None = None) -> Path:
        self._count += 1
        path = self.root / f"f{self._count}"
        if data is not None:
            path.write_bytes(data)
        return path


def write_tree(root: Path, tree: Mapping[str, bytes]) -> None:
    """Files under ``root`` at their relative paths (what a client's ``sync`` uploads)."""
    for name, data in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


class Adapter:
    """One client, as the battery drives it. Buckets are S3 bucket names, keys S3 keys.

    Methods that the client has no API for raise ``Unsupported(reason)``; ``classify`` maps
    the client's own exception for a refused write / a missing key to ``Refused`` / ``Missing``
    (or returns None when it is something else).
    """

    name: ClassVar[str] = "?"
    # Methods whose own row is xfailed for a known bug: rows that merely use them as a step
    # (special key, zero-byte) skip that step instead of failing on the same bug twice.
    broken: ClassVar[frozenset[str]] = frozenset()
    # Does put_large go through the client's multipart upload? (The ETag then ends in -N.)
    large_put_parts: ClassVar[int | None] = None

    def list_buckets(self) -> list[str]:
        raise Unsupported("no bucket listing API")

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix``, recursively, in the client's order."""
        raise Unsupported("no listing API")

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str] | None]:
        """(keys, common prefixes) of one level under ``prefix`` (delimiter "/"); full keys.

        Prefixes are None when the client lists with a delimiter but does not expose them.
        """
        raise Unsupported("no delimiter listing API")

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        raise Unsupported("no upload API")

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        raise Unsupported("no large upload API")

    def get(self, bucket: str, key: str) -> bytes:
        raise Unsupported("no download API")

    def download(self, bucket: str, key: str, path: Path) -> None:
        """The client's way of downloading a big object to a file."""
        path.write_bytes(self.get(bucket, key))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` inclusive."""
        raise Unsupported("no ranged read API")

    def size(self, bucket: str, key: str) -> int:
        """The object's size from a HEAD (or the client's stat)."""
        raise Unsupported("no HEAD/stat API")

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        raise Unsupported("no server-side copy API")

    def delete(self, bucket: str, key: str) -> None:
        raise Unsupported("no delete API")

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        raise Unsupported("no multi-delete API")

    def create_bucket(self, bucket: str) -> None:
        raise Unsupported("no bucket creation API")

    def delete_bucket(self, bucket: str) -> None:
        raise Unsupported("no bucket deletion API")

    def make_marker(self, bucket: str, key: str) -> None:
        """Create the zero-byte directory marker ``key`` (ending in /)."""
        self.put_small(bucket, key, b"")

    def classify(self, exc: BaseException) -> type[Exception] | None:
        return None

    def cleanup(self) -> None:
        """Between tests: drop client-side caches."""


def boto3_client(endpoint_url: str, ca_file: Path | None = None, **config: Any) -> Any:
    """A plain boto3 S3 client for the gateway: only the endpoint and path-style addressing
    are set (and the CA bundle of the throwaway certificate over TLS)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="any-key",
        aws_secret_access_key="any-secret",
        region_name="us-east-1",
        verify=str(ca_file) if ca_file else None,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            **config,
        ),
    )


# --------------------------------------------------------------------------------------------
# Command-line clients


class CliError(Exception):
    def __init__(self, argv: Sequence[str], returncode: int, stdout: bytes, stderr: bytes):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        text = stderr.decode(errors="replace")[-2000:]
        super().__init__(f"{argv[0]} exited {returncode}: {text}")

    @property
    def text(self) -> str:
        return (self.stdout + self.stderr).decode(errors="replace")


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> bytes:
    """Run a client command; its stdout, or CliError with everything it said."""
    return run_full(argv, env=env, stdin=stdin, cwd=cwd, timeout=timeout)[0]


def run_full(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> tuple[bytes, bytes]:
    """Run a client command; (stdout, stderr), or CliError with everything it said."""
    done = subprocess.run(
        list(argv),
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise CliError(argv, done.returncode, done.stdout, done.stderr)
    return done.stdout, done.stderr


def require_binary(name: str, apt_package: str) -> str:
    """The binary's path. Missing: a clear failure in CI (CI env var set), a skip locally."""
    found = shutil.which(name)
    if found:
        return found
    message = (
        f"{name} is not installed (Debian package {apt_package!r}: "
        f"apt-get update && apt-get install -y {apt_package})"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run must install it", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")


def binary_version(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, timeout=30, check=False)
    except OSError:
        return "not installed"
    text = (out.stdout or out.stderr).decode(errors="replace").strip()
    # "rclone v1.60.1-DEV", "s3cmd version 2.3.0": the version is the last word of line 1.
    return text.splitlines()[0].split()[-1] if text else "unknown"


def describe(value: Any) -> str:
    """A short repr for assertion messages about bytes."""
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes md5={md5(bytes(value))}>"
    return repr(value)
