"""Fixtures for the gateway suites: a real store on disk, a seeded input, a job, and boto3
clients reaching the gateway through each transport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from gateway_data import INPUT_FILES

from pachs3 import LocalStore, SidecarGateway
from pachs3.backends.base import commit


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    backend = LocalStore(tmp_path / "store")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def seeded(store: LocalStore) -> LocalStore:
    store.create_repo("labresults")
    with commit(store, "labresults", "master") as info:
        for path, data in INPUT_FILES.items():
            store.put_file(info.ref, path, [data], metadata={"content-type": "text/plain"})
    return store


@pytest.fixture
def gateway(seeded: LocalStore) -> Iterator[SidecarGateway]:
    with SidecarGateway(
        seeded, inputs={"labresults": "labresults@master"}, output="pipeline"
    ) as gw:
        yield gw


def boto_config() -> Config:
    return Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )


def http_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="default",
        aws_secret_access_key="default",
        region_name="us-east-1",
        config=boto_config(),
    )


@pytest.fixture(params=["inproc", "threaded", "asgi-mounted"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def s3(gateway: SidecarGateway, transport: str) -> Iterator[Any]:
    """A boto3 client reaching the gateway through one transport.

    - inproc: ``gateway.client()``, the botocore before-send hook, no socket;
    - threaded: ``gateway.serve()``, uvicorn on 127.0.0.1 in a thread;
    - asgi-mounted: a host's own Starlette app mounting ``gateway.asgi()``, served by the host.
    """
    if transport == "inproc":
        yield gateway.client(config=boto_config())
    elif transport == "threaded":
        server = gateway.serve()
        yield http_client(server.endpoint_url)
    else:
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from pachs3.transports.threaded import ThreadedServer

        host_app = Starlette(routes=[Mount("/", app=gateway.asgi())])
        with ThreadedServer(host_app, host="127.0.0.1", port=0) as server:
            yield http_client(server.endpoint_url)
