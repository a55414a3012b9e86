"""Clients in other languages, driven through the same battery as the Python ones.

Each language has a thin driver under ``drivers/<language>/`` that knows no expected values: it
reads one JSON request per line on stdin (``{"id", "op", "args"}``), performs that one S3
operation with the SDK, and prints one result line (``{"id", "ok": true, "value"}`` or
``{"id", "ok": false, "error": {"name", "status", "message"}}``). ``DriverAdapter`` turns those
operations into the battery's ``Adapter``, so every check (bytes in the store, ETags, errors) is
the one the Python clients pass. Bytes travel base64-encoded, big files by path.

The toolchains and the drivers' dependencies are installed by .ci/run's "toolchain clients"
stage; ``require_toolchain`` reports a client whose toolchain is missing as *not run* (a skip
with that reason, which the matrix shows as such), and fails in CI, where the stage must have
installed it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from clients_battery import ClientBattery
from clients_support import INPUT, INPUT_FILES, OUT, Adapter, Missing, Oracle, Refused, Unsupported

DRIVERS = Path(__file__).resolve().parent / "drivers"


def require_toolchain(binary: str, install: str) -> str:
    """The toolchain binary's path.

    Missing: a failure in CI (.ci/run installs it), else a skip whose reason starts with
    ``not run:`` (the matrix shows the cell as not run, never as passed).
    """
    found = shutil.which(binary)
    if found is not None:
        return found
    message = f"not run: `{binary}` is not installed ({install})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run's toolchain stage must install it", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")


def prepare(step: Sequence[str], *, cwd: Path, what: str, timeout: float = 600) -> None:
    """Run one preparation step of a driver (``npm ci``, ``go build``), from the caches that
    .ci/run's toolchain stage fills. Failing: not run locally (said why), a failure in CI."""
    done = subprocess.run(
        list(step), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode == 0:
        return
    message = f"not run: {what} failed: `{' '.join(step)}`: {(done.stderr or done.stdout)[-600:]}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def jvm_trust_store(ca_file: Path, directory: Path) -> list[str]:
    """JVM options that make JSSE (the AWS SDK's Apache client, java.net.http, S3A) trust the
    test's CA: a PKCS12 trust store holding it, made with the JDK's keytool."""
    keytool = require_toolchain("keytool", "the JDK's keytool")
    store = directory / "truststore.p12"
    command = [keytool, "-importcert", "-noprompt", "-alias", "pachs3-test-ca"]
    command += ["-file", str(ca_file), "-keystore", str(store)]
    command += ["-storetype", "PKCS12", "-storepass", "changeit"]
    subprocess.run(command, check=True, capture_output=True)
    return [
        f"-Djavax.net.ssl.trustStore={store}",
        "-Djavax.net.ssl.trustStoreType=PKCS12",
        "-Djavax.net.ssl.trustStorePassword=changeit",
    ]


class DriverError(Exception):
    """An operation the SDK reported as failed: its error name and HTTP status."""

    def __init__(self, op: str, error: Mapping[str, Any]) -> None:
        self.name = str(error.get("name"))
        self.status = error.get("status")
        self.message = str(error.get("message"))
        super().__init__(f"{op}: {self.name} (HTTP {self.status}): {self.message}")


class Driver:
    """One driver process; ``call`` sends a request and waits for its result line."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        log: Path,
        timeout: float = 180,
    ) -> None:
        self.log = log
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._stderr = log.open("wb")
        self.process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )

    def call(self, op: str, **args: Any) -> Any:
        request_id = next(self._ids)
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"id": request_id, "op": op, "args": args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            raise RuntimeError(
                f"driver exited ({self.process.returncode}) during {op}: {self.stderr_tail()}"
            )
        answer = json.loads(line)
        assert answer["id"] == request_id, answer
        if answer["ok"]:
            return answer.get("value")  # Gson (Java) leaves a null value out
        if answer["error"].get("name") == "Unsupported":
            raise Unsupported(answer["error"]["message"])
        raise DriverError(op, answer["error"])

    def stderr_tail(self) -> str:
        self._stderr.flush()
        return self.log.read_bytes()[-2000:].decode(errors="replace")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode(text: str) -> bytes:
    return base64.b64decode(text)


class DriverAdapter(Adapter):
    """The battery's adapter over a driver process."""

    name = "driver"
    # Statuses the SDKs report for the gateway's refusals and misses (HEAD has no error body:
    # the SDKs name its 404 "NotFound", GET's is "NoSuchKey").
    REFUSED: ClassVar[frozenset[int]] = frozenset({403})
    MISSING: ClassVar[frozenset[int]] = frozenset({404})

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def list_buckets(self) -> list[str]:
        return list(self.driver.call("list_buckets"))

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return list(self.driver.call("list_keys", bucket=bucket, prefix=prefix))

    def list_dir(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        listed = self.driver.call("list_dir", bucket=bucket, prefix=prefix)
        return list(listed["keys"]), list(listed["prefixes"])

    def put_small(self, bucket: str, key: str, data: bytes) -> None:
        self.driver.call("put_small", bucket=bucket, key=key, data=encode(data))

    def put_large(self, bucket: str, key: str, path: Path) -> None:
        self.driver.call("put_large", bucket=bucket, key=key, path=str(path))

    def get(self, bucket: str, key: str) -> bytes:
        return decode(self.driver.call("get", bucket=bucket, key=key))

    def download(self, bucket: str, key: str, path: Path) -> None:
        self.driver.call("download", bucket=bucket, key=key, path=str(path))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        got = self.driver.call("get_range", bucket=bucket, key=key, start=start, end=end)
        return decode(got)

    def size(self, bucket: str, key: str) -> int:
        return int(self.driver.call("size", bucket=bucket, key=key))

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.driver.call(
            "copy", src_bucket=src_bucket, src_key=src_key, dst_bucket=dst_bucket, dst_key=dst_key
        )

    def delete(self, bucket: str, key: str) -> None:
        self.driver.call("delete", bucket=bucket, key=key)

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        deleted = self.driver.call("delete_many", bucket=bucket, keys=list(keys))
        assert sorted(deleted) == sorted(keys)

    def create_bucket(self, bucket: str) -> None:
        self.driver.call("create_bucket", bucket=bucket)

    def delete_bucket(self, bucket: str) -> None:
        self.driver.call("delete_bucket", bucket=bucket)

    def classify(self, exc: BaseException) -> type[Exception] | None:
        if isinstance(exc, DriverError):
            if exc.status in self.REFUSED:
                return Refused
            if exc.status in self.MISSING:
                return Missing
        return None


Query = dict[str, list[str]]


def crc32_b64(data: bytes) -> str:
    """The base64 CRC32 S3 puts in x-amz-checksum-crc32."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def bad_digest(answer: Mapping[str, Any]) -> bool:
    return "<Code>BadDigest</Code>" in decode(answer["body"]).decode(errors="replace")


class SdkBattery(ClientBattery):
    """The battery plus the rows every AWS SDK driver has: conditional create and presigned
    URLs (generated by the SDK's presigner, sent by the language's plain HTTP client)."""

    # Does the presigner move x-amz-meta-* / x-amz-checksum-* into the query string (JS), or
    # hand them back as headers to send (Go)?
    PRESIGNER_HOISTS: ClassVar[bool] = False

    def presigned_put_without_checksum(self, plain: Mapping[str, Any], query: Query) -> bool:
        """Check the answer to a presigned PUT made without a checksum; was it stored?"""
        assert not [name for name in query if name.lower().startswith("x-amz-checksum-")]
        assert plain["status"] == 200, plain
        return True

    def test_conditional_put(self, adapter: DriverAdapter, oracle: Oracle) -> None:
        call = adapter.driver.call
        call("put_if_absent", bucket=OUT, key="once.txt", data=encode(b"first"))
        with pytest.raises(DriverError) as refused:
            call("put_if_absent", bucket=OUT, key="once.txt", data=encode(b"second"))
        assert refused.value.status == 412, refused.value
        assert oracle.read(OUT, "once.txt") == b"first"
        adapter.put_small(OUT, "after.txt", b"next")
        assert oracle.read(OUT, "after.txt") == b"next"

    def test_presigned_url(self, adapter: DriverAdapter, oracle: Oracle) -> None:
        call = adapter.driver.call
        got = call("presigned_get", bucket=INPUT, key="a.txt")
        assert got["status"] == 200, got
        assert decode(got["body"]) == INPUT_FILES["a.txt"]

        # Metadata and a checksum of the real body, carried in the query string (JS presigner)
        # or as signed headers the presigner hands back (Go presigner).
        data = b"uploaded through a presigned URL\n"
        put = call(
            "presigned_put",
            bucket=OUT,
            key="pre/meta.txt",
            data=encode(data),
            metadata={"color": "blue"},
            checksums={"CRC32": crc32_b64(data)},
        )
        query = parse_qs(urlsplit(put["url"]).query)
        carried = {name.lower() for name in (*query, *put.get("signed_headers", ()))}
        assert {"x-amz-meta-color", "x-amz-checksum-crc32"} <= carried, carried
        if self.PRESIGNER_HOISTS:
            assert query["x-amz-meta-color"] == ["blue"]
            assert query["x-amz-checksum-crc32"] == [crc32_b64(data)]
        assert put["status"] == 200, put
        assert oracle.read(OUT, "pre/meta.txt") == data
        assert call("head", bucket=OUT, key="pre/meta.txt")["metadata"] == {"color": "blue"}

        # A checksum that is not the body's: refused (BadDigest, as AWS), nothing written.
        wrong = call(
            "presigned_put",
            bucket=OUT,
            key="pre/wrong.txt",
            data=encode(data),
            checksums={"CRC32": crc32_b64(b"something else")},
        )
        assert (wrong["status"], bad_digest(wrong)) == (400, True), wrong
        assert not oracle.exists(OUT, "pre/wrong.txt")

        # No checksum given: what the SDK puts in the URL then decides.
        plain = call("presigned_put", bucket=OUT, key="pre/plain.txt", data=encode(data))
        query = parse_qs(urlsplit(plain["url"]).query)
        stored = self.presigned_put_without_checksum(plain, query)
        assert oracle.exists(OUT, "pre/plain.txt") is stored
        if stored:
            assert oracle.read(OUT, "pre/plain.txt") == data

        # Presigned writes to an input bucket are refused like any other.
        refused = call(
            "presigned_put",
            bucket=INPUT,
            key="pre/x.txt",
            data=encode(b"no"),
            checksums={"CRC32": crc32_b64(b"no")},
        )
        assert refused["status"] == 403, refused
        assert "<Code>AccessDenied</Code>" in decode(refused["body"]).decode(), refused
        assert not oracle.exists(INPUT, "pre/x.txt")
