"""The AWS SDK for JavaScript v3 (@aws-sdk/client-s3, lib-storage, s3-request-presigner) on
node, through drivers/js/driver.mjs: with its default checksums (CRC32 on every upload,
``requestChecksumCalculation: "WHEN_SUPPORTED"``) and with ``"WHEN_REQUIRED"``.

The driver's dependencies are drivers/js/package-lock.json's (``npm ci``: .ci/run's
toolchain stage fills npm's cache; the first test class runs ``npm ci`` from it when
node_modules is missing); without node/npm the cells are *not run*.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest
from clients_drivers import (
    DRIVERS,
    Driver,
    DriverAdapter,
    Query,
    SdkBattery,
    bad_digest,
    crc32_b64,
    prepare,
    require_toolchain,
)
from clients_support import MiB

JS = DRIVERS / "js"


def package_version(name: str) -> str:
    manifest = JS / "node_modules" / name / "package.json"
    if not manifest.exists():
        return "not installed"
    return str(json.loads(manifest.read_text())["version"])


class JsSdkAdapter(DriverAdapter):
    name = "aws-sdk-js-v3"
    large_put_parts = 5 * MiB  # lib-storage Upload, partSize 5 MiB


class JsSdkBattery(SdkBattery):
    CHECKSUMS: ClassVar[str] = "WHEN_SUPPORTED"
    PRESIGNER_HOISTS = True
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

    def presigned_put_without_checksum(self, plain: Mapping[str, Any], query: Query) -> bool:
        if self.CHECKSUMS == "WHEN_REQUIRED":
            return super().presigned_put_without_checksum(plain, query)
        # The default presigner signs the CRC32 of the command's (empty) body into the URL
        # (x-amz-checksum-crc32=AAAAAA==): any non-empty upload mismatches it. AWS refuses it
        # with BadDigest too (a client limitation, see NOTES); so does the gateway.
        assert query["x-amz-checksum-crc32"] == [crc32_b64(b"")]
        assert (plain["status"], bad_digest(plain)) == (400, True), plain
        return False


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


class TestJsSdkGlobal(TestJsSdk):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
