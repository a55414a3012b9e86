"""The AWS SDK for JavaScript v3 (@aws-sdk/client-s3, lib-storage, s3-request-presigner) on
node, through drivers/js/driver.mjs: with its default checksums (CRC32 on every upload,
``requestChecksumCalculation: "WHEN_SUPPORTED"``) and with ``"WHEN_REQUIRED"``.

The driver's dependencies are drivers/js/package-lock.json's (``npm ci``: .ci/run's
toolchain stage fills npm's cache; the first test class runs ``npm ci`` from it when
node_modules is missing); without node/npm the cells are *not run*.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from clients_battery import ClientBattery
from clients_drivers import (
    DRIVERS,
    Driver,
    DriverAdapter,
    DriverError,
    encode,
    prepare,
    require_toolchain,
)
from clients_support import INPUT, INPUT_FILES, OUT, MiB, Oracle

JS = DRIVERS / "js"


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def bad_digest(answer: dict[str, Any]) -> bool:
    return "<Code>BadDigest</Code>" in str(answer["body"])


def package_version(name: str) -> str:
    manifest = JS / "node_modules" / name / "package.json"
    if not manifest.exists():
        return "not installed"
    return str(json.loads(manifest.read_text())["version"])


class JsSdkAdapter(DriverAdapter):
    name = "aws-sdk-js-v3"
    large_put_parts = 5 * MiB  # lib-storage Upload, partSize 5 MiB


class JsSdkBattery(ClientBattery):
    CHECKSUMS: ClassVar[str] = "WHEN_SUPPORTED"
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`ListObjectsV2Command`, paginated (no encoding-type)",
        "put_small": "`PutObjectCommand` with a Buffer body",
        "put_large": "lib-storage `Upload` from a file stream: 4 parts of 5 MiB, 4 at a time",
        "get_whole": "`GetObjectCommand`, `Body.transformToByteArray()`; the 20 MiB one "
        "piped to a file",
        "copy": "`CopyObjectCommand`, `CopySource` URL-encoded per segment",
        "multi_delete": "`DeleteObjectsCommand`",
        "presigned_url": "`getSignedUrl` for GET and PUT, used with `fetch`; the presigner "
        "hoists `x-amz-meta-*`, `x-amz-checksum-*` and `x-amz-sdk-checksum-algorithm` into "
        "the query string",
        "conditional_put": "`PutObjectCommand` with `IfNoneMatch: '*'`",
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
        return {
            "node": node.stdout.strip() or "not installed",
            **{
                name: package_version(name)
                for name in (
                    "@aws-sdk/client-s3",
                    "@aws-sdk/lib-storage",
                    "@aws-sdk/s3-request-presigner",
                )
            },
        }

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(
        cls, served: Any, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[JsSdkAdapter]:
        node = require_toolchain("node", "Debian package nodejs, with npm")
        if not (JS / "node_modules" / "@aws-sdk" / "client-s3").exists():
            npm = require_toolchain("npm", "Debian package npm")
            # The locked versions, from npm's cache (filled by .ci/run's toolchain stage).
            ci = [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"]
            prepare(ci, cwd=JS, what="installing the driver's packages")
        config = {"endpoint": served.endpoint_url, "checksums": cls.CHECKSUMS}
        env = dict(os.environ, NODE_NO_WARNINGS="1")
        if served.ca_file is not None:
            env["NODE_EXTRA_CA_CERTS"] = str(served.ca_file)
        driver = Driver(
            [node, "driver.mjs", json.dumps(config)],
            cwd=JS,
            env=env,
            log=tmp_path_factory.mktemp("js") / "driver.log",
        )
        try:
            yield JsSdkAdapter(driver)
        finally:
            driver.close()

    def test_conditional_put(self, adapter: JsSdkAdapter, oracle: Oracle) -> None:
        call = adapter.driver.call
        call("put_if_absent", bucket=OUT, key="once.txt", data=encode(b"first"))
        with pytest.raises(DriverError) as refused:
            call("put_if_absent", bucket=OUT, key="once.txt", data=encode(b"second"))
        assert refused.value.status == 412, refused.value
        assert oracle.read(OUT, "once.txt") == b"first"
        adapter.put_small(OUT, "after.txt", b"next")
        assert oracle.read(OUT, "after.txt") == b"next"

    def test_presigned_url(self, adapter: JsSdkAdapter, oracle: Oracle) -> None:
        call = adapter.driver.call
        got = call("presigned_get", bucket=INPUT, key="a.txt")
        assert got["status"] == 200, got
        assert base64.b64decode(got["body"]) == INPUT_FILES["a.txt"]

        # Metadata and a checksum of the real body, both carried in the query string.
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

        # No checksum given: what the SDK's checksum setting puts in the URL decides.
        plain = call("presigned_put", bucket=OUT, key="pre/plain.txt", data=encode(data))
        query = parse_qs(urlsplit(plain["url"]).query)
        if self.CHECKSUMS == "WHEN_REQUIRED":
            assert not [name for name in query if name.startswith("x-amz-checksum-")]
            assert plain["status"] == 200, plain
            assert oracle.read(OUT, "pre/plain.txt") == data
        else:
            # The default presigner signs the CRC32 of the command's empty body into the URL
            # (x-amz-checksum-crc32=AAAAAA==): any non-empty upload mismatches it. AWS refuses
            # it with BadDigest too (a client limitation, see NOTES); so does the gateway.
            assert query["x-amz-checksum-crc32"] == [crc32_b64(b"")]
            assert (plain["status"], bad_digest(plain)) == (400, True), plain
            assert not oracle.exists(OUT, "pre/plain.txt")

        # Presigned writes to an input bucket are refused like any other.
        refused = call("presigned_put", bucket=INPUT, key="pre/x.txt", data=encode(b"no"))
        assert refused["status"] in (400, 403), refused
        assert not oracle.exists(INPUT, "pre/x.txt")


class TestJsSdk(JsSdkBattery):
    CLIENT = "aws-sdk-js-v3"
    ORDER = 200
    SETUP = (
        '`new S3Client({endpoint, forcePathStyle: true, region: "us-east-1"})`; '
        "default checksums (`WHEN_SUPPORTED`: CRC32 on every upload)"
    )
    NOTES: ClassVar[dict[str, str]] = {
        **JsSdkBattery.NOTES,
        "presigned_url": JsSdkBattery.NOTES["presigned_url"]
        + "; with default checksums a presigned PUT made without a checksum carries the "
        "CRC32 of an empty body (`x-amz-checksum-crc32=AAAAAA==`), so uploading any bytes "
        "to it is refused with BadDigest, on AWS too (seaweedfs/seaweedfs#10216): give the "
        "body's checksum, or presign with `WHEN_REQUIRED`",
    }


class TestJsSdkWhenRequired(JsSdkBattery):
    CLIENT = "aws-sdk-js-v3 (WHEN_REQUIRED)"
    CHECKSUMS = "WHEN_REQUIRED"
    ORDER = 201
    SETUP = 'as aws-sdk-js-v3, with `requestChecksumCalculation: "WHEN_REQUIRED"`'
    NOTES: ClassVar[dict[str, str]] = {}


class TestJsSdkTls(JsSdkBattery):
    CLIENT = "aws-sdk-js-v3"
    TLS = True
    ORDER = 200
    SETUP = TestJsSdk.SETUP
    TLS_SETUP = "the test CA in `NODE_EXTRA_CA_CERTS`"
    NOTES: ClassVar[dict[str, str]] = {}
