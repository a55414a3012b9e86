"""Presigned URLs carrying headers in the query, and their expiry, over real HTTP.

The JavaScript SDK v3's presigner moves every signed ``x-amz-*`` header into the URL (metadata,
``x-amz-checksum-crc32``, ``x-amz-sdk-checksum-algorithm``, ``x-amz-acl`` ...). S3 reads them as
the headers they stand for; before this, the gateway answered such a PUT with 501. URLs here are
signed by botocore's own query signer (``S3SigV4QueryAuth``), with the extra parameters in the
URL it signs, which is the shape the JS presigner produces.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from pachs3 import LocalStore, SidecarGateway

KEY, SECRET = "AKIDPRESIGN", "presign-secret"
BODY = b"hoisted headers travel in the URL"


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.fixture(params=["open", "strict"])
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The gateway without credentials (the default) and with strict SigV4."""
    credentials = {KEY: SECRET} if request.param == "strict" else None
    store = LocalStore(tmp_path / "store")
    with (
        SidecarGateway(store, output="pipeline", credentials=credentials) as gateway,
        gateway.serve() as server,
    ):
        yield server.endpoint_url
    store.close()


def presign(
    method: str,
    url: str,
    params: dict[str, str],
    *,
    expires: int = 900,
    when: datetime | None = None,
) -> str:
    """Sign ``url?params`` as a presigned URL, the extra parameters inside the signature."""
    request = AWSRequest(method=method, url=f"{url}?{urlencode(params)}" if params else url)
    signer = S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=expires)
    if when is None:
        signer.add_auth(request)
    else:
        # The signer reads the clock itself; a URL signed an hour ago is signed at that time.
        signing_clock = mock.patch(
            "botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)
        )
        with signing_clock:
            signer.add_auth(request)
    return str(request.url)


def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_a_presigned_put_with_hoisted_metadata_and_checksum_stores_both(endpoint: str) -> None:
    url = presign(
        "PUT",
        f"{endpoint}/out/hoisted.txt",
        {
            "x-amz-meta-colour": "blue",
            "x-amz-acl": "private",
            "x-amz-storage-class": "STANDARD",
            "x-amz-checksum-crc32": crc32_b64(BODY),
            "x-amz-sdk-checksum-algorithm": "CRC32",
            "x-id": "PutObject",
        },
    )
    answer = httpx.put(url, content=BODY)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-amz-checksum-crc32"] == crc32_b64(BODY)

    head = s3(endpoint).head_object(Bucket="out", Key="hoisted.txt", ChecksumMode="ENABLED")
    assert head["Metadata"] == {"colour": "blue"}
    assert head["ChecksumCRC32"] == crc32_b64(BODY)
    assert head["ContentLength"] == len(BODY)


def test_a_hoisted_checksum_that_does_not_match_refuses_the_upload(endpoint: str) -> None:
    url = presign(
        "PUT",
        f"{endpoint}/out/wrong.txt",
        {
            "x-amz-checksum-crc32": crc32_b64(b"other bytes"),
            "x-amz-sdk-checksum-algorithm": "CRC32",
        },
    )
    answer = httpx.put(url, content=BODY)
    assert answer.status_code == 400
    assert b"<Code>BadDigest</Code>" in answer.content
    with pytest.raises(ClientError) as missing:
        s3(endpoint).head_object(Bucket="out", Key="wrong.txt")
    assert missing.value.response["Error"]["Code"] == "404"


def test_a_real_header_wins_over_its_hoisted_twin(endpoint: str) -> None:
    url = presign("PUT", f"{endpoint}/out/twin.txt", {"x-amz-meta-colour": "blue"})
    answer = httpx.put(url, content=BODY, headers={"x-amz-meta-colour": "green"})
    if answer.status_code == 403:
        # Strict SigV4: the extra header was not signed; S3 refuses that too.
        assert b"SignatureDoesNotMatch" in answer.content or b"AccessDenied" in answer.content
        return
    assert answer.status_code == 200, answer.text
    assert s3(endpoint).head_object(Bucket="out", Key="twin.txt")["Metadata"] == {"colour": "green"}


def test_an_expired_presigned_url_is_refused_with_or_without_credentials(endpoint: str) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    url = presign("PUT", f"{endpoint}/out/late.txt", {}, expires=60, when=an_hour_ago)
    answer = httpx.put(url, content=BODY)
    assert answer.status_code == 403
    assert b"<Code>AccessDenied</Code>" in answer.content
    assert b"Request has expired" in answer.content
    with pytest.raises(ClientError):
        s3(endpoint).head_object(Bucket="out", Key="late.txt")

    fresh = presign("PUT", f"{endpoint}/out/late.txt", {}, expires=7200, when=an_hour_ago)
    assert httpx.put(fresh, content=BODY).status_code == 200


def test_a_presigned_get_still_reads(endpoint: str) -> None:
    s3(endpoint).put_object(Bucket="out", Key="read.txt", Body=BODY)
    url = presign("GET", f"{endpoint}/out/read.txt", {"x-id": "GetObject"})
    assert httpx.get(url).content == BODY


def test_x_amz_parameters_of_a_request_that_is_not_presigned_stay_refused(endpoint: str) -> None:
    """S3 reads x-amz-* query parameters as headers only in the presigned form: elsewhere an
    unknown parameter on a write is 501 (or 403 first, when the gateway checks signatures)."""
    answer = httpx.put(f"{endpoint}/out/plain.txt?x-amz-meta-colour=blue", content=BODY)
    assert (answer.status_code, answer.content.count(b"NotImplemented")) in {(501, 1), (403, 0)}
    with pytest.raises(ClientError):
        s3(endpoint).head_object(Bucket="out", Key="plain.txt")
