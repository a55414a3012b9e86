"""The AWS SDK for Go v2 (service/s3, feature/s3/manager) through drivers/go, with its default
checksums: ``manager.Uploader`` (5 MiB parts, 4 at a time) for the large upload,
``manager.Downloader`` (ranged GETs of 5 MiB, 4 at a time) for the 20 MiB download, the
presign client with ``net/http``.

The driver is built once per run (``go build``, outside the repository) from go.mod/go.sum and
the module and build caches that .ci/run's toolchain stage fills; without go it is *not run*.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clients_drivers import DRIVERS, Driver, DriverAdapter, SdkBattery, prepare, require_toolchain
from clients_support import MiB

GO = DRIVERS / "go"


@pytest.fixture(scope="session")
def go_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = require_toolchain("go", "Go toolchain (the Go module proxy for the SDK)")
    binary = tmp_path_factory.mktemp("go-driver") / "driver"
    prepare([go, "build", "-o", str(binary), "."], cwd=GO, what="building the Go driver")
    return binary


def module_version(module: str) -> str:
    found = re.search(rf"^\s*{re.escape(module)} (v\S+)", (GO / "go.mod").read_text(), re.M)
    return found.group(1) if found else "?"


class GoSdkAdapter(DriverAdapter):
    name = "aws-sdk-go-v2"
    large_put_parts = 5 * MiB  # manager.Uploader, PartSize 5 MiB


class GoSdkBattery(SdkBattery):
    CLIENT = "aws-sdk-go-v2"
    ORDER = 210
    SETUP = (
        '`s3.New(s3.Options{BaseEndpoint: ..., UsePathStyle: true, Region: "us-east-1"})`; '
        "default checksums"
    )
    NOTES: ClassVar[dict[str, str]] = {
        "list_flat": "`ListObjectsV2Paginator`",
        "put_small": "`PutObject` with a bytes.Reader body (CRC32 checksum header)",
        "put_large": "`manager.Uploader` from the open file: 4 parts of 5 MiB, 4 at a time",
        "get_whole": "`GetObject`; the 20 MiB one by `manager.Downloader`: 5 MiB ranged GETs, "
        "4 at a time, written at their offsets",
        "copy": "`CopyObject`, `CopySource` URL-encoded per segment",
        "multi_delete": "`DeleteObjects`",
        "presigned_url": "`PresignGetObject`/`PresignPutObject`, sent with `net/http`; the Go "
        "presigner keeps `x-amz-meta-*` and `x-amz-checksum-*` as signed headers (with "
        "`X-Amz-Sdk-Checksum-Algorithm` in the query) and puts no checksum in a URL made "
        "without one",
        "conditional_put": '`PutObject` with `IfNoneMatch: "*"`',
    }

    @classmethod
    def versions(cls) -> dict[str, str]:
        go = subprocess.run(["go", "version"], capture_output=True, text=True, check=False)
        words = go.stdout.split()
        return {
            "go": words[2] if len(words) > 2 else "not installed",
            **{
                name.removeprefix("github.com/aws/"): module_version(name)
                for name in (
                    "github.com/aws/aws-sdk-go-v2",
                    "github.com/aws/aws-sdk-go-v2/service/s3",
                    "github.com/aws/aws-sdk-go-v2/feature/s3/manager",
                )
            },
        }

    @pytest.fixture(scope="class")
    @classmethod
    def adapter(
        cls, served: Any, go_driver: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[GoSdkAdapter]:
        config = {"endpoint": served.endpoint_url, "ca_file": str(served.ca_file or "")}
        driver = Driver(
            [str(go_driver), json.dumps(config)],
            cwd=GO,
            log=tmp_path_factory.mktemp("go") / "driver.log",
        )
        try:
            yield GoSdkAdapter(driver)
        finally:
            driver.close()


class TestGoSdk(GoSdkBattery):
    pass


class TestGoSdkTls(GoSdkBattery):
    TLS = True
    TLS_SETUP = "the test CA as the HTTP client's RootCAs"
    NOTES: ClassVar[dict[str, str]] = {}


class TestGoSdkGlobal(TestGoSdk):
    MODE = "global"
    NOTES: ClassVar[dict[str, str]] = {}
