"""The AWS SDK for Java v2 (S3Client with its default checksums; S3TransferManager over the
CRT-based S3AsyncClient for the large multipart upload and the ranged parallel download; the
S3Presigner with java.net.http) through drivers/java.

The driver is built with Maven once per source version, into a build directory outside the
repository (``~/.cache/pachs3/java-driver/<hash of pom.xml and the source>``), from ~/.m2, which
.ci/run's toolchain stage fills; without java/mvn it is *not run*.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_drivers import (
    DRIVERS,
    Driver,
    DriverAdapter,
    SdkBattery,
    jvm_trust_store,
    prepare,
    require_toolchain,
)
from clients_support import MiB

JAVA = DRIVERS / "java"
SOURCES = (JAVA / "pom.xml", JAVA / "src" / "main" / "java" / "pachs3" / "Driver.java")


def build_directory() -> Path:
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES)).hexdigest()[:16]
    return Path.home() / ".cache" / "pachs3" / "java-driver" / digest


@pytest.fixture(scope="session")
def java_classpath() -> str:
    """The driver's classes and its dependencies' jars, built with Maven if not yet."""
    require_toolchain("java", "a JDK 17+")
    build = build_directory()
    listing = build / "classpath.txt"
    if not listing.exists():
        mvn = require_toolchain("mvn", "Maven 3.8+")
        step = [mvn, "-B", "-q", f"-Ddriver.build={build}", "compile"]
        prepare([*step, "dependency:build-classpath"], cwd=JAVA, what="building the Java driver")
    return f"{build / 'classes'}:{listing.read_text().strip()}"


def sdk_version() -> str:
    found = re.search(r"<artifactId>bom</artifactId>\s*<version>([^<]+)", SOURCES[0].read_text())
    return found.group(1) if found else "?"


class JavaSdkAdapter(DriverAdapter):
    name = "aws-sdk-java-v2"
    large_put_parts = 5 * MiB  # the CRT client's minimumPartSizeInBytes: 4 parts of 5 MiB


class TestJavaSdk(SdkBattery):
    CLIENT = "aws-sdk-java-v2"
    ORDER = 220
    SETUP = (
        "`S3Client.builder().endpointOverride(...).forcePathStyle(true)`, default checksums; "
        "`S3TransferManager` over `S3AsyncClient.crtBuilder()` (5 MiB parts, 4 at a time)"
    )
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`listObjectsV2Paginator`",
        "put_small": "`putObject(RequestBody.fromBytes)` (CRC32 checksum)",
        "put_large": "`S3TransferManager.uploadFile` on the CRT client: 4 parts of 5 MiB",
        "get_whole": "`getObjectAsBytes`; the 20 MiB one by `S3TransferManager.downloadFile` "
        "on the CRT client (ranged GETs in parallel)",
        "copy": "`copyObject(sourceBucket, sourceKey, ...)`",
        "multi_delete": "`deleteObjects`",
        "presigned_url": "`S3Presigner`, sent with `java.net.http.HttpClient` (its defaults: "
        "`Upgrade: h2c` offered on http, which the gateway ignores as RFC 9110 §7.8 allows)",
        "conditional_put": '`putObject` with `ifNoneMatch("*")`',
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
        first = (java.stderr or java.stdout).splitlines()
        return {"java": first[0] if first else "not installed", "aws-sdk-java-v2": sdk_version()}

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(
        cls, served: Any, java_classpath: str, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[JavaSdkAdapter]:
        scratch = tmp_path_factory.mktemp("java")
        options = jvm_trust_store(served.ca_file, scratch) if served.ca_file else []
        config = {"endpoint": served.endpoint_url, "crt_trust_all": served.ca_file is not None}
        driver = Driver(
            ["java", *options, "-cp", java_classpath, "pachs3.Driver", json.dumps(config)],
            cwd=JAVA,
            log=scratch / "driver.log",
        )
        try:
            yield JavaSdkAdapter(driver)
        finally:
            driver.close()


class TestJavaSdkGlobal(TestJavaSdk):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}


class TestJavaSdkTls(TestJavaSdk):
    TLS = True
    TLS_SETUP = (
        "the test CA in a PKCS12 trust store (`javax.net.ssl.trustStore`) for the S3Client and "
        "java.net.http; the CRT client (S3TransferManager) with `trustAllCertificatesEnabled`: "
        "its builder has no CA option (`S3CrtHttpConfiguration.Builder`), and its native TLS "
        "reads only the system's CA store"
    )
    NOTES: ClassVar[dict[str, str]] = {}
