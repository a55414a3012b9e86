"""The aws CLI v1 (`aws s3 ...` and `aws s3api ...`), as a user runs it: a subprocess with the
endpoint on the command line and path-style addressing in its config file."""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import os
import re
import selectors
import subprocess
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_battery import ClientBattery, assert_aws_chunked
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
    md5,
    run_full,
    write_tree,
)

SPECIAL_NAME = SPECIAL_KEY.removeprefix("dir/")


EMPTY_THEN_PUT = """
import awscli  # as the aws script does: botocore is now the CLI's vendored copy
import io, json, sys
from botocore.config import Config
from botocore.session import get_session

endpoint, ca = sys.argv[1], sys.argv[2] or None
client = get_session().create_client(
    "s3", endpoint_url=endpoint, verify=ca, region_name="us-east-1",
    aws_access_key_id="any-key", aws_secret_access_key="any-secret",
    config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                  read_timeout=3),
)
etags = []
for key, data in (("empty", b""), ("data.txt", b"some data")):
    try:
        etags.append(client.put_object(Bucket="out", Key=key, Body=io.BytesIO(data)).get("ETag"))
    except Exception as exc:
        etags.append(repr(exc))
print(json.dumps(etags))
"""


def vendored_botocore() -> str:
    """The version of the botocore copy inside awscli, read without importing awscli."""
    spec = importlib.util.find_spec("awscli")
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    init = Path(next(iter(spec.submodule_search_locations))) / "botocore" / "__init__.py"
    found = re.search(r"__version__ = ['\"]([^'\"]+)", init.read_text()) if init.exists() else None
    return found.group(1) if found else "not vendored"


class Worker:
    """The awscli_worker.py process: `aws` commands in a real, long-lived CLI process."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("awscli_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )

    def run(
        self, argv: list[str], env: dict[str, str], timeout: float = 120
    ) -> tuple[int, bytes, bytes]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env}).encode() + b"\n")
        self.proc.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.close()
                raise TimeoutError(f"aws {' '.join(argv)}: no answer in {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"the awscli worker died: {self.log.read_text()[-3000:]}")
        reply = json.loads(line)
        return (
            int(reply["code"]),
            base64.b64decode(reply["stdout"]),
            base64.b64decode(reply["stderr"]),
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


class AwsCli(Adapter):
    name = "awscli"
    large_put_parts = 8 * MiB  # `aws s3 cp`: multipart_threshold/chunksize 8 MiB

    def __init__(self, served: Any, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "config"
        config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
        # No AWS_* from the caller's environment (profiles, CA bundles, endpoints).
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "HOME"}
        self.env.update(
            HOME=str(home),
            AWS_CONFIG_FILE=str(config),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
            AWS_ACCESS_KEY_ID="any-key",
            AWS_SECRET_ACCESS_KEY="any-secret",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
        )
        self.common = ["--endpoint-url", served.endpoint_url]
        if served.ca_file:
            self.common += ["--ca-bundle", str(served.ca_file)]
        self.tmp = ScratchFiles(home / "scratch")
        self.worker = Worker(home / "worker.log")

    def aws(self, *args: str, env: dict[str, str] | None = None) -> bytes:
        """Run ``aws ARGS`` in the worker (a real CLI process, see awscli_worker.py)."""
        argv = [*args, *self.common]
        code, out, err = self.worker.run(argv, {**self.env, **(env or {})})
        if code != 0:
            raise CliError(["aws", *argv], code, out, err)
        return out

    def close(self) -> None:
        self.worker.close()

    def aws_process(self, *args: str) -> tuple[bytes, bytes]:
        """Run the real ``aws`` command in a subprocess: (stdout, stderr)."""
        return run_full([sys.executable, "-m", "awscli", *args, *self.common], env=self.env)

    def api(self, *args: str) -> Any:
        out = self.aws("s3api", *args, "--output", "json")
        return json.loads(out) if out.strip() else {}

    def ls(self, url: str, *flags: str) -> list[str]:
        try:
            out = self.aws("s3", "ls", url, *flags)
        except CliError as exc:  # `aws s3 ls` exits 1 when nothing matched
            if exc.returncode == 1 and not exc.stdout.strip() and not exc.stderr.strip():
                return []
            raise
        return out.decode().splitlines()

    def list_buckets(self) -> list[str]:
        return [line.split()[-1] for line in self.ls("") if line.strip()]

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        lines = self.ls(f"s3://{bucket}/{prefix}", "--recursive")
        return [line.split(None, 3)[3] for line in lines if line.strip()]

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        keys: list[str] = []
        prefixes: list[str] = []
        for line in self.ls(f"s3://{bucket}/{prefix}"):
            if line.strip().startswith("PRE "):
                prefixes.append(prefix + line.strip().removeprefix("PRE "))
            elif line.strip():
                keys.append(prefix + line.split(None, 3)[3])
        return keys, prefixes

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        self.aws("s3", "cp", str(self.tmp(data)), f"s3://{bucket}/{key}")

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.aws("s3", "cp", str(path), f"s3://{bucket}/{key}")

    def get(self, bucket: str, key: str) -> bytes:
        return self.aws("s3", "cp", f"s3://{bucket}/{key}", "-")

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.aws("s3", "cp", f"s3://{bucket}/{key}", str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        target = self.tmp()
        meta = self.api(
            "get-object",
            "--bucket",
            bucket,
            "--key",
            key,
            "--range",
            f"bytes={start}-{end}",
            str(target),
        )
        assert meta["ContentRange"].startswith(f"bytes {start}-{end}/")
        return target.read_bytes()

    def size(self, bucket: str, key: str) -> int:
        return int(self.api("head-object", "--bucket", bucket, "--key", key)["ContentLength"])

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.aws("s3", "cp", f"s3://{src_bucket}/{src_key}", f"s3://{dst_bucket}/{dst_key}")

    def create_bucket(self, bucket: str) -> None:
        self.aws("s3", "mb", f"s3://{bucket}")

    def delete_bucket(self, bucket: str) -> None:
        self.aws("s3", "rb", f"s3://{bucket}")

    def delete(self, bucket: str, key: str) -> None:
        self.aws("s3", "rm", f"s3://{bucket}/{key}")

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        request = {"Objects": [{"Key": k} for k in keys]}
        result = self.api("delete-objects", "--bucket", bucket, "--delete", json.dumps(request))
        assert sorted(d["Key"] for d in result.get("Deleted", [])) == sorted(keys)
        assert not result.get("Errors")

    def make_marker(self, bucket: str, key: str) -> None:
        self.api("put-object", "--bucket", bucket, "--key", key)

    def classify(self, exc: BaseException) -> type[Exception] | None:
        if isinstance(exc, CliError):
            text = exc.text
            if "AccessDenied" in text or "(403)" in text:
                return Refused
            if "(404)" in text or "NoSuchKey" in text:
                return Missing
        return None


class TestAwsCli(ClientBattery):
    CLIENT = "awscli"
    SETUP = "`--endpoint-url`; `addressing_style = path` under `s3 =` in the config file"
    TLS_SETUP = "`--ca-bundle` the certificate"
    ORDER = 20
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`aws s3 ls --recursive`",
        "list_delimiter": "`aws s3 ls s3://bucket/prefix/` (PRE lines)",
        "put_large": "`aws s3 cp`: 3 parts of 8/8/4 MiB",
        "get_whole": "`aws s3 cp s3://… -` and `aws s3 cp s3://… file` (ranged parts)",
        "get_range": "`aws s3api get-object --range`",
        "head": "`aws s3api head-object`",
        "copy": "`aws s3 cp s3://… s3://…` (20 MiB: CreateMultipartUpload + 3 UploadPartCopy)",
        "multi_delete": "`aws s3api delete-objects`",
        "dir_marker": "`aws s3api put-object --key newdir/`",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"awscli": version("awscli"), "vendored botocore": vendored_botocore()}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(cls, served: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsCli]:
        cli = AwsCli(served, tmp_path_factory.mktemp("awscli"))
        try:
            yield cli
        finally:
            cli.close()

    def test_s3api(self, adapter: AwsCli, oracle: Oracle) -> None:
        source = adapter.tmp(b"s3api body\n")
        adapter.api("put-object", "--bucket", OUT, "--key", "api/one.txt", "--body", str(source))
        assert oracle.read(OUT, "api/one.txt") == b"s3api body\n"
        adapter.api(
            "copy-object",
            "--bucket",
            OUT,
            "--key",
            "api/two.txt",
            "--copy-source",
            f"{INPUT}/{SPECIAL_KEY}",
        )
        assert oracle.read(OUT, "api/two.txt") == INPUT_FILES[SPECIAL_KEY]
        v1 = adapter.api("list-objects", "--bucket", INPUT, "--prefix", "dir/")
        assert sorted(o["Key"] for o in v1["Contents"]) == sorted(
            k for k in INPUT_FILES if k.startswith("dir/")
        )
        head = adapter.api("head-object", "--bucket", OUT, "--key", "api/one.txt")
        assert head["ContentLength"] == len(b"s3api body\n")

    def test_sync(self, adapter: AwsCli, served: Any, oracle: Oracle, tmp_path: Path) -> None:
        local = tmp_path / "up"
        tree = {
            "a.txt": b"a\n",
            "sub/b.bin": BIG[: 9 * MiB],
            f"sub/{SPECIAL_NAME}": b"special\n",
        }
        write_tree(local, tree)
        adapter.aws("s3", "sync", str(local), f"s3://{OUT}/synced/")
        assert oracle.files(OUT) == {f"synced/{k}": len(v) for k, v in tree.items()}
        for name, data in tree.items():
            assert oracle.read(OUT, f"synced/{name}") == data
        written = served.writes()
        again = adapter.aws("s3", "sync", str(local), f"s3://{OUT}/synced/")
        assert b"upload:" not in again, again  # nothing changed: nothing uploaded
        assert served.writes() == written
        down = tmp_path / "down"
        adapter.aws("s3", "sync", f"s3://{OUT}/synced/", str(down))
        got = {str(p.relative_to(down)): p.read_bytes() for p in down.rglob("*") if p.is_file()}
        assert got == tree
        inputs = tmp_path / "inputs"
        adapter.aws("s3", "sync", f"s3://{INPUT}/dir/", str(inputs))
        assert (inputs / SPECIAL_NAME).read_bytes() == INPUT_FILES[SPECIAL_KEY]
        assert (inputs / "sub" / "deep.csv").read_bytes() == INPUT_FILES["dir/sub/deep.csv"]

    def test_empty_then_put(self, adapter: AwsCli, served: Any, oracle: Oracle) -> None:
        # The CLI's own (vendored) botocore in a process of its own: two PutObjects with file
        # bodies (both carry Expect: 100-continue) on one keep-alive connection, which is
        # what `aws s3 sync`/`cp` do when a tree holds an empty file.
        out, _ = run_full(
            [sys.executable, "-c", EMPTY_THEN_PUT, served.endpoint_url, str(served.ca_file or "")],
            env=adapter.env,
        )
        etags = json.loads(out)
        assert oracle.read(OUT, "data.txt") == b"some data"
        assert etags == [f'"{md5(b"")}"', f'"{md5(b"some data")}"']

    def test_move(self, adapter: AwsCli, oracle: Oracle) -> None:
        oracle.put("mv/from.txt", b"moving")
        adapter.aws("s3", "mv", f"s3://{OUT}/mv/from.txt", f"s3://{OUT}/mv/{SPECIAL_NAME}")
        assert oracle.files(OUT) == {f"mv/{SPECIAL_NAME}": 6}
        assert oracle.read(OUT, f"mv/{SPECIAL_NAME}") == b"moving"

    def test_recursive_delete(self, adapter: AwsCli, oracle: Oracle) -> None:
        for key in ("r/1", "r/2/3", f"r/{SPECIAL_NAME}", "rest.txt"):
            oracle.put(key, b"x")
        adapter.aws("s3", "rm", "--recursive", f"s3://{OUT}/r/")
        assert oracle.keys(OUT) == ["rest.txt"]


class TestAwsCliTLS(TestAwsCli):
    TLS = True
    XFAIL: ClassVar[dict[str, str]] = {}

    def test_tls_aws_chunked(self, adapter: AwsCli, oracle: Oracle, big_file: Path) -> None:
        data = b"aws cli over TLS\n"
        sent: list[dict[str, str]] = []
        for source, key in ((adapter.tmp(data), "tls/small.txt"), (big_file, "tls/big.bin")):
            _, log = adapter.aws_process("s3", "cp", str(source), f"s3://{OUT}/{key}", "--debug")
            sent += sent_puts(log.decode(errors="replace"))
        assert len(sent) == 4  # one PutObject, three UploadParts
        for headers in sent:
            assert_aws_chunked(headers)
        assert oracle.read(OUT, "tls/small.txt") == data
        assert oracle.read(OUT, "tls/big.bin") == BIG


def sent_puts(debug_log: str) -> list[dict[str, str]]:
    """Headers of every PUT request in an `aws --debug` log."""
    found = []
    for match in re.finditer(
        r"Sending http request: <AWSPreparedRequest [^\n]*?method=PUT"
        r"[^\n]*?headers=(\{[^\n]*\})>",
        debug_log,
    ):
        headers = ast.literal_eval(match.group(1))
        found.append(
            {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in headers.items()}
        )
    return found


class TestAwsCliGlobal(TestAwsCli):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
