"""Optional strict SigV4: with credentials configured, only requests signed with them pass.

Real boto3 clients sign; the gateway verifies (header form, presigned URLs, aws-chunked signed
uploads over TLS are covered by tests/core/test_sigv4.py at the verifier level).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pachs3 import LocalStore, SidecarGateway

KEYS = {"AKIDPACHS3": "s3cr3t-key"}


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[SidecarGateway]:
    store = LocalStore(tmp_path / "store")
    with SidecarGateway(store, output="pipeline", credentials=KEYS) as gw:
        yield gw
    store.close()


def client(endpoint: str, key: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4"
        ),
    )


@pytest.mark.parametrize("transport", ["inproc", "threaded"])
def test_signed_requests_pass_and_others_are_refused(
    strict: SidecarGateway, transport: str
) -> None:
    if transport == "inproc":
        good = strict.client(aws_access_key_id="AKIDPACHS3", aws_secret_access_key="s3cr3t-key")
        bad_secret = strict.client(aws_access_key_id="AKIDPACHS3", aws_secret_access_key="wrong")
        bad_key = strict.client(aws_access_key_id="AKIDOTHER", aws_secret_access_key="s3cr3t-key")
    else:
        endpoint = strict.serve().endpoint_url
        good = client(endpoint, "AKIDPACHS3", "s3cr3t-key")
        bad_secret = client(endpoint, "AKIDPACHS3", "wrong")
        bad_key = client(endpoint, "AKIDOTHER", "s3cr3t-key")

    good.put_object(Bucket="out", Key="k", Body=b"signed")
    assert good.get_object(Bucket="out", Key="k")["Body"].read() == b"signed"

    with pytest.raises(ClientError) as exc:
        bad_secret.put_object(Bucket="out", Key="k", Body=b"forged")
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as exc:
        bad_key.list_objects_v2(Bucket="out")
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert good.get_object(Bucket="out", Key="k")["Body"].read() == b"signed"


def test_unsigned_requests_are_refused_and_presigned_urls_work(strict: SidecarGateway) -> None:
    endpoint = strict.serve().endpoint_url
    good = client(endpoint, "AKIDPACHS3", "s3cr3t-key")
    good.put_object(Bucket="out", Key="p", Body=b"presigned")
    anonymous = httpx.get(f"{endpoint}/out/p")
    assert anonymous.status_code == 403
    url = good.generate_presigned_url("get_object", Params={"Bucket": "out", "Key": "p"})
    assert httpx.get(url).content == b"presigned"
