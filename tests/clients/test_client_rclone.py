"""rclone (Debian package; Go net/http, provider=Other: path style, ListObjects V1), configured
only through environment variables: endpoint and keys."""

from __future__ import annotations

import json
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
    "rclone 1.60 (Debian 12) writes no directory markers: mkdir below a bucket is a no-op "
    "(`--s3-directory-markers` came in 1.65); it lists the input's `marker/` as a directory"
)


class Rclone(Adapter):
    name = "rclone"
    large_put_parts = 5 * MiB  # --s3-upload-cutoff 5M --s3-chunk-size 5M: 4 parts

    def __init__(self, served: Any, home: Path, binary: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "rclone.conf").write_text("")
        self.binary = binary
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
        self.env.update(
            HOME=str(home),
            RCLONE_CONFIG=str(home / "rclone.conf"),
            RCLONE_CONFIG_GW_TYPE="s3",
            RCLONE_CONFIG_GW_PROVIDER="Other",
            RCLONE_CONFIG_GW_ENV_AUTH="false",
            RCLONE_CONFIG_GW_ACCESS_KEY_ID="any-key",
            RCLONE_CONFIG_GW_SECRET_ACCESS_KEY="any-secret",
            RCLONE_CONFIG_GW_ENDPOINT=served.endpoint_url,
        )
        self.tmp = ScratchFiles(home / "scratch")

    def rclone(self, *args: str) -> bytes:
        return run(
            [
                self.binary,
                *args,
                "--retries",
                "1",
                "--low-level-retries",
                "1",
                "--contimeout",
                "5s",
                "--timeout",
                "60s",
            ],
            env=self.env,
        )

    def list_buckets(self) -> list[str]:
        return [line.rstrip("/") for line in self.rclone("lsf", "gw:").decode().splitlines()]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        out = self.rclone("lsf", "-R", "--files-only", f"gw:{bucket}/{prefix}")
        return [prefix + line for line in out.decode().splitlines() if line]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        keys, prefixes = [], []
        for line in self.rclone("lsf", f"gw:{bucket}/{prefix}").decode().splitlines():
            (prefixes if line.endswith("/") else keys).append(prefix + line)
        return keys, prefixes

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        self.rclone("copyto", str(self.tmp(data)), f"gw:{bucket}/{key}")

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.rclone(
            "copyto",
            str(path),
            f"gw:{bucket}/{key}",
            "--s3-upload-cutoff",
            "5M",
            "--s3-chunk-size",
            "5M",
        )

    def get(self, bucket: str, key: str) -> bytes:
        return self.rclone("cat", f"gw:{bucket}/{key}")

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.rclone("copyto", f"gw:{bucket}/{key}", str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        return self.rclone(
            "cat", "--offset", str(start), "--count", str(end - start + 1), f"gw:{bucket}/{key}"
        )

    def size(self, bucket: str, key: str) -> int:
        stat = json.loads(self.rclone("lsjson", "--stat", f"gw:{bucket}/{key}"))
        if stat["IsDir"]:
            # rclone answers a HEAD 404 by treating the path as an (empty, virtual) directory.
            raise FileNotFoundError(f"rclone: {key} is no object (a directory to rclone)")
        return int(stat["Size"])

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.rclone("copyto", f"gw:{src_bucket}/{src_key}", f"gw:{dst_bucket}/{dst_key}")

    def create_bucket(self, bucket: str) -> None:
        self.rclone("mkdir", f"gw:{bucket}")

    def delete_bucket(self, bucket: str) -> None:
        self.rclone("rmdir", f"gw:{bucket}")

    def delete(self, bucket: str, key: str) -> None:
        self.rclone("deletefile", f"gw:{bucket}/{key}")

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        # rclone 1.60 deletes one key per request: `delete` every file under the directory.
        directory = os.path.commonpath(list(keys))
        self.rclone("delete", f"gw:{bucket}/{directory}")

    def make_marker(self, bucket: str, key: str) -> None:
        raise Unsupported(NO_MARKERS)

    def classify(self, exc: BaseException) -> type[Exception] | None:
        if isinstance(exc, FileNotFoundError):
            return Missing
        if isinstance(exc, CliError):
            text = exc.text
            if "AccessDenied" in text or "403" in text:
                return Refused
            if "not found" in text or "404" in text:
                return Missing
        return None


class TestRclone(ClientBattery):
    CLIENT = "rclone"
    SETUP = (
        "env `RCLONE_CONFIG_GW_TYPE=s3`, `..._PROVIDER=Other`, `..._ENDPOINT=http://127.0.0.1:PORT`"
        ", keys"
    )
    ORDER = 80
    MARKERS_LISTED_AS = "directory"
    UNSUPPORTED: ClassVar[dict[str, str]] = {"dir_marker": NO_MARKERS}
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`lsf -R --files-only` (ListObjects V1; a `marker/` key is a directory)",
        "list_delimiter": "`lsf`",
        "put_small": "`copyto` (PUT /bucket first, single PUT, HEAD after)",
        "put_large": "`copyto --s3-upload-cutoff 5M --s3-chunk-size 5M`: 4 parts",
        "get_whole": "`cat`; `copyto` to a local file (MD5 checked against the ETag)",
        "get_range": "`cat --offset --count`",
        "head": "`lsjson --stat` (a missing key stats as a virtual directory)",
        "copy": "`copyto gw:a gw:b` (server-side CopyObject)",
        "delete": "`deletefile`",
        "multi_delete": "`delete` on the directory: one DELETE per key (rclone 1.60 has no "
        "bulk delete)",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"rclone": binary_version(["rclone", "version"])}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any, tmp_path_factory: pytest.TempPathFactory) -> Rclone:
        binary = require_binary("rclone", "rclone")
        return Rclone(served, tmp_path_factory.mktemp("rclone"), binary)

    def test_sync(self, adapter: Rclone, served: Any, oracle: Oracle, tmp_path: Path) -> None:
        local = tmp_path / "up"
        tree = {
            "a.txt": b"a\n",
            "sub/b.bin": BIG[: 9 * MiB],
            f"sub/{SPECIAL_NAME}": b"special\n",
            "empty": b"",
        }
        write_tree(local, tree)
        adapter.rclone("sync", str(local), f"gw:{OUT}/synced")
        assert oracle.files(OUT) == {f"synced/{k}": len(v) for k, v in tree.items()}
        for name, data in tree.items():
            assert oracle.read(OUT, f"synced/{name}") == data
        written = served.writes()
        adapter.rclone("sync", str(local), f"gw:{OUT}/synced")
        assert served.writes() == written  # nothing re-uploaded
        down = tmp_path / "down"
        adapter.rclone("sync", f"gw:{OUT}/synced", str(down))
        got = {str(p.relative_to(down)): p.read_bytes() for p in down.rglob("*") if p.is_file()}
        assert got == tree
        inputs = tmp_path / "inputs"
        adapter.rclone("sync", f"gw:{INPUT}/dir", str(inputs))
        assert (inputs / SPECIAL_NAME).read_bytes() == INPUT_FILES[SPECIAL_KEY]

    def test_move(self, adapter: Rclone, oracle: Oracle) -> None:
        oracle.put("mv/from.txt", b"moving")
        adapter.rclone("moveto", f"gw:{OUT}/mv/from.txt", f"gw:{OUT}/mv/{SPECIAL_NAME}")
        assert oracle.files(OUT) == {f"mv/{SPECIAL_NAME}": 6}
        assert oracle.read(OUT, f"mv/{SPECIAL_NAME}") == b"moving"

    def test_recursive_delete(self, adapter: Rclone, oracle: Oracle) -> None:
        for key in ("r/1", "r/2/3", f"r/{SPECIAL_NAME}", "rest.txt"):
            oracle.put(key, b"x")
        adapter.rclone("purge", f"gw:{OUT}/r")
        assert oracle.keys(OUT) == ["rest.txt"]


class TestRcloneGlobal(TestRclone):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
