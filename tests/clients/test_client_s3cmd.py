"""s3cmd (Debian package; http.client, SigV4, ListObjects V1 on `/bucket/`), with a config
file that sets the endpoint as both host_base and host_bucket (path-style addressing)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery
from clients_support import (
    BIG,
    INPUT,
    INPUT_FILES,
    OUT,
    SPECIAL_KEY,
    Adapter,
    CliError,
    MiB,
    Missing,
    Oracle,
    Refused,
    ScratchFiles,
    Unsupported,
    binary_version,
    require_binary,
    run,
    write_tree,
)

SPECIAL_NAME = SPECIAL_KEY.removeprefix("dir/")

NO_MARKERS = (
    "s3cmd cannot create a `dir/` key: `put FILE s3://b/dir/` appends the file name, and "
    "`put - s3://b/dir/` is refused (an empty stdin upload is a 0-part multipart upload, "
    "MalformedXML on S3 too)"
)


class S3cmd(Adapter):
    name = "s3cmd"
    large_put_parts = 15 * MiB  # multipart_chunk_size_mb = 15: 15 + 5 MiB

    def __init__(self, served: Any, home: Path, binary: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "s3cfg"
        self.config.write_text(
            "[default]\n"
            "access_key = any-key\n"
            "secret_key = any-secret\n"
            f"host_base = {served.hostport}\n"
            f"host_bucket = {served.hostport}\n"
            "use_https = False\n"
            "signature_v2 = False\n"
            "bucket_location = us-east-1\n"
            "max_retries = 1\n"
        )
        self.binary = binary
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3CMD"))}
        self.env["HOME"] = str(home)
        self.tmp = ScratchFiles(home / "scratch")

    def s3cmd(self, *args: str) -> bytes:
        return run(
            [self.binary, "-c", str(self.config), "--no-progress", *args],
            env=self.env,
        )

    def list_buckets(self) -> list[str]:
        out = self.s3cmd("ls").decode().splitlines()
        return [line.split()[-1].removeprefix("s3://") for line in out if line.strip()]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        out = self.s3cmd("ls", "--recursive", f"s3://{bucket}/{prefix}")
        return [
            line.split(None, 3)[3].removeprefix(f"s3://{bucket}/")
            for line in out.decode().splitlines()
            if line.strip()
        ]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        keys, prefixes = [], []
        for line in self.s3cmd("ls", f"s3://{bucket}/{prefix}").decode().splitlines():
            if not line.strip():
                continue
            fields = line.split(None, 1)
            if fields[0] == "DIR":
                prefixes.append(fields[1].strip().removeprefix(f"s3://{bucket}/"))
            else:
                keys.append(line.split(None, 3)[3].removeprefix(f"s3://{bucket}/"))
        return keys, prefixes

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        self.s3cmd("put", str(self.tmp(data)), f"s3://{bucket}/{key}")

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.s3cmd("put", str(path), f"s3://{bucket}/{key}")

    def get(self, bucket: str, key: str) -> bytes:
        return self.s3cmd("get", f"s3://{bucket}/{key}", "-")

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.s3cmd("get", "--force", f"s3://{bucket}/{key}", str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        # s3cmd's only ranged read: `get --continue` resumes a partial local file with
        # `Range: bytes=<local size>-`. The local head is filler; the tail is the server's.
        target = self.tmp(b"\0" * start)
        self.s3cmd("get", "--continue", f"s3://{bucket}/{key}", str(target))
        return target.read_bytes()[start : end + 1]

    def size(self, bucket: str, key: str) -> int:
        for line in self.s3cmd("info", f"s3://{bucket}/{key}").decode().splitlines():
            name, _, value = line.strip().partition(":")
            if name == "File size":
                return int(value)
        raise AssertionError("s3cmd info printed no file size")

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.s3cmd("cp", f"s3://{src_bucket}/{src_key}", f"s3://{dst_bucket}/{dst_key}")

    def create_bucket(self, bucket: str) -> None:
        self.s3cmd("mb", f"s3://{bucket}")

    def delete_bucket(self, bucket: str) -> None:
        self.s3cmd("rb", f"s3://{bucket}")

    def delete(self, bucket: str, key: str) -> None:
        self.s3cmd("del", f"s3://{bucket}/{key}")

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        # `del --recursive` lists the prefix, then one DeleteObjects (Content-MD5).
        directory = os.path.commonpath(list(keys))
        self.s3cmd("del", "--recursive", f"s3://{bucket}/{directory}/")

    def make_marker(self, bucket: str, key: str) -> None:
        raise Unsupported(NO_MARKERS)

    def classify(self, exc: BaseException) -> type[Exception] | None:
        if isinstance(exc, CliError):
            text = exc.text
            if "AccessDenied" in text or "403" in text:
                return Refused
            if "404" in text or "NoSuchKey" in text or "Not Found" in text:
                return Missing
        return None


class TestS3cmd(ClientBattery):
    CLIENT = "s3cmd"
    SETUP = "`host_base = host_bucket = 127.0.0.1:PORT`, `use_https = False`"
    ORDER = 90
    UNSUPPORTED: ClassVar[dict[str, str]] = {"dir_marker": NO_MARKERS}
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`ls --recursive` (ListObjects V1 on `/bucket/`)",
        "list_delimiter": "`ls` (DIR lines)",
        "put_large": "`put`: multipart, 15 + 5 MiB parts; Complete with unquoted ETags",
        "get_whole": "`get … -` (stdout) and `get` to a file",
        "get_range": "`get --continue` on a partial file (`Range: bytes=N-`)",
        "head": "`info` (HEAD, then `?policy`, `?cors`, `?acl`)",
        "copy": "`cp` (`?acl` read, CopyObject, then `PUT ?acl`)",
        "multi_delete": "`del --recursive` (DeleteObjects with Content-MD5)",
        "special_key": "put, ls, get, ranged get, del (the `info` and `cp` steps wait for the "
        "ACL fix, see head/copy)",
        "zero_byte": "put and get (the `info` step waits for the ACL fix)",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"s3cmd": binary_version(["s3cmd", "--version"])}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any, tmp_path_factory: pytest.TempPathFactory) -> S3cmd:
        binary = require_binary("s3cmd", "s3cmd")
        return S3cmd(served, tmp_path_factory.mktemp("s3cmd"), binary)

    def test_sync(self, adapter: S3cmd, served: Any, oracle: Oracle, tmp_path: Path) -> None:
        local = tmp_path / "up"
        tree = {
            "a.txt": b"a\n",
            "sub/b.bin": BIG[: 17 * MiB],
            f"sub/{SPECIAL_NAME}": b"special\n",
            "empty": b"",
        }
        write_tree(local, tree)
        adapter.s3cmd("sync", f"{local}/", f"s3://{OUT}/synced/")
        assert oracle.files(OUT) == {f"synced/{k}": len(v) for k, v in tree.items()}
        for name, data in tree.items():
            assert oracle.read(OUT, f"synced/{name}") == data
        written = served.writes()
        adapter.s3cmd("sync", f"{local}/", f"s3://{OUT}/synced/")
        assert served.writes() == written  # nothing re-uploaded
        down = tmp_path / "down"
        down.mkdir()
        adapter.s3cmd("sync", f"s3://{OUT}/synced/", f"{down}/")
        got = {str(p.relative_to(down)): p.read_bytes() for p in down.rglob("*") if p.is_file()}
        assert got == tree
        inputs = tmp_path / "inputs"
        inputs.mkdir()
        adapter.s3cmd("sync", f"s3://{INPUT}/dir/", f"{inputs}/")
        assert (inputs / SPECIAL_NAME).read_bytes() == INPUT_FILES[SPECIAL_KEY]

    def test_move(self, adapter: S3cmd, oracle: Oracle) -> None:
        oracle.put("mv/from.txt", b"moving")
        adapter.s3cmd("mv", f"s3://{OUT}/mv/from.txt", f"s3://{OUT}/mv/{SPECIAL_NAME}")
        assert oracle.files(OUT) == {f"mv/{SPECIAL_NAME}": 6}
        assert oracle.read(OUT, f"mv/{SPECIAL_NAME}") == b"moving"

    def test_recursive_delete(self, adapter: S3cmd, oracle: Oracle) -> None:
        for key in ("r/1", "r/2/3", f"r/{SPECIAL_NAME}", "rest.txt"):
            oracle.put(key, b"x")
        adapter.s3cmd("del", "--recursive", f"s3://{OUT}/r/")
        assert oracle.keys(OUT) == ["rest.txt"]


class TestS3cmdGlobal(TestS3cmd):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
