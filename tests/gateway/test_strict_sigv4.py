"""Optional strict SigV4: with credentials configured, only requests signed with them pass.

Real boto3 clients sign; the gateway verifies (header form, presigned URLs, aws-chunked signed
uploads over TLS are covered by tests/core/test_sigv4.py at the verifier level).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sigv4_signing import KEYS as SIGNING_KEYS
from sigv4_signing import botocore_signed_streaming_head, pieces, sign_chunks

from pachs3 import LocalStore, SidecarGateway
from pachs3.core.chunked import AwsChunkedDecoder
from pachs3.core.sigv4 import ChunkSignatureVerifier, verify_request

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


def test_a_signed_chunked_upload_is_decoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One upload pipeline (issue 14, move 4): through the real gateway, a signed aws-chunked
    PUT is decoded by ONE decoder, which feeds the chunk signature chain (its listener) and the
    digests (its payload: the ETag is the payload's MD5); every chunk header is parsed once."""
    listeners: list[object] = []
    size_lines: list[bytes] = []
    construct = AwsChunkedDecoder.__init__
    parse_size_line = AwsChunkedDecoder._on_size_line

    def counted_construct(self: AwsChunkedDecoder, **options: Any) -> None:
        listeners.append(options.get("listener"))
        construct(self, **options)

    def counted_size_line(self: AwsChunkedDecoder, line: bytes) -> None:
        size_lines.append(bytes(line))
        parse_size_line(self, line)

    monkeypatch.setattr(AwsChunkedDecoder, "__init__", counted_construct)
    monkeypatch.setattr(AwsChunkedDecoder, "_on_size_line", counted_size_line)

    payload = bytes(range(256)) * 100
    sizes = [8192] * 3  # three full chunks, the rest, and the final empty chunk
    store = LocalStore(tmp_path / "store")
    with SidecarGateway(store, output="pipeline", credentials=SIGNING_KEYS) as gateway:
        probe = botocore_signed_streaming_head("/out/obj", len(payload), 0)
        seed = verify_request(probe, SIGNING_KEYS, datetime.now(UTC))
        length = len(sign_chunks(seed, payload, sizes, {}))
        head = botocore_signed_streaming_head("/out/obj", len(payload), length)
        body = sign_chunks(
            verify_request(head, SIGNING_KEYS, datetime.now(UTC)), payload, sizes, {}
        )
        response = gateway.handle(head, iter(pieces(body, 5000)))
        assert response.status == 200
        assert dict(response.headers)["etag"] == f'"{hashlib.md5(payload).hexdigest()}"'
        assert len(listeners) == 1
        assert isinstance(listeners[0], ChunkSignatureVerifier)
        assert len(size_lines) == body.count(b";chunk-signature=") == 5

        # A changed payload byte is caught by that same decoder's listener, and the stored
        # object stays the first one.
        listeners.clear()
        at = body.index(bytes(range(256)))
        bad = body[:at] + b"\xff" + body[at + 1 :]
        refused = gateway.handle(head, iter(pieces(bad, 5000)))
        assert refused.status == 403
        assert b"SignatureDoesNotMatch" in b"".join(refused.body)
        assert len(listeners) == 1
        out = gateway.output_commit
        assert out is not None
        assert b"".join(store.read_file(out.ref, "obj")) == payload
    store.close()
