"""Request bodies as clients frame them, over real HTTP (httpx against ``serve()``).

Every framing from clients.md §1 is stored as its decoded bytes; every digest mismatch and every
broken frame is refused with the AWS error and leaves nothing behind.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pachs3 import LocalStore, SidecarGateway, read_commit

PAYLOAD = b"The quick brown fox jumps over the lazy dog\n" * 3000  # 132 000 bytes
UNSIGNED = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def aws_chunked(
    data: bytes,
    *,
    chunk: int = 65536,
    upper: bool = False,
    signed: bool = False,
    trailers: dict[str, str] | None = None,
) -> bytes:
    """Frame ``data`` the way botocore (lower-case hex) or the AWS C++ SDK (upper) does."""
    frames = []
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        size = f"{len(piece):X}" if upper else f"{len(piece):x}"
        ext = ";chunk-signature=" + "0" * 64 if signed else ""
        frames.append(f"{size}{ext}\r\n".encode() + piece + b"\r\n")
    final = "0" + (";chunk-signature=" + "0" * 64 if signed else "")
    tail = "".join(f"{name}:{value}\r\n" for name, value in (trailers or {}).items())
    frames.append(f"{final}\r\n{tail}\r\n".encode())
    return b"".join(frames)


def in_pieces(body: bytes, size: int = 1000) -> Iterator[bytes]:
    """Sent with HTTP chunked transfer encoding, in odd-sized pieces."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.fixture
def http(tmp_path: Any) -> Iterator[tuple[httpx.Client, SidecarGateway]]:
    store = LocalStore(tmp_path / "store")
    with (
        SidecarGateway(store, output="pipeline") as gw,
        httpx.Client(base_url=gw.serve().endpoint_url, timeout=30) as client,
    ):
        yield client, gw
    store.close()


def stored(gw: SidecarGateway) -> dict[str, bytes]:
    out = gw.output_commit
    assert out is not None
    return read_commit(gw.backend, out)


def chunked_headers(
    decoded: int, *, streaming: str = UNSIGNED, trailer: str | None = None
) -> dict[str, str]:
    headers = {
        "x-amz-content-sha256": streaming,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(decoded),
        "content-type": "text/plain",
    }
    if trailer:
        headers["x-amz-trailer"] = trailer
    return headers


@pytest.mark.parametrize("upper", [False, True], ids=["lower-hex", "upper-hex"])
def test_unsigned_trailer_body_is_decoded_and_verified(http: Any, upper: bool) -> None:
    client, gw = http
    body = aws_chunked(PAYLOAD, upper=upper, trailers={"x-amz-checksum-crc32": crc32_b64(PAYLOAD)})
    response = client.put(
        "/out/trailer.txt",
        content=in_pieces(body),
        headers=chunked_headers(len(PAYLOAD), trailer="x-amz-checksum-crc32"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(PAYLOAD).hexdigest()}"'
    assert stored(gw) == {"trailer.txt": PAYLOAD}
    head = client.head("/out/trailer.txt")
    assert "content-encoding" not in head.headers  # aws-chunked is framing, never stored
    assert head.headers["content-length"] == str(len(PAYLOAD))


def test_wrong_trailer_checksum_is_bad_digest_and_stores_nothing(http: Any) -> None:
    client, gw = http
    body = aws_chunked(PAYLOAD, trailers={"x-amz-checksum-crc32": crc32_b64(b"other")})
    response = client.put(
        "/out/bad.txt",
        content=in_pieces(body),
        headers=chunked_headers(len(PAYLOAD), trailer="x-amz-checksum-crc32"),
    )
    assert response.status_code == 400
    assert "<Code>BadDigest</Code>" in response.text
    assert stored(gw) == {}


def test_signed_streaming_body_is_decoded(http: Any) -> None:
    client, gw = http
    body = aws_chunked(PAYLOAD, signed=True)
    response = client.put(
        "/out/signed.bin",
        content=body,
        headers={
            **chunked_headers(len(PAYLOAD), streaming=SIGNED),
            "content-length": str(len(body)),
        },
    )
    assert response.status_code == 200, response.text
    assert stored(gw) == {"signed.bin": PAYLOAD}


def test_content_encoding_besides_aws_chunked_is_kept(http: Any) -> None:
    client, _gw = http
    headers = chunked_headers(len(PAYLOAD))
    headers["content-encoding"] = "gzip,aws-chunked"
    response = client.put("/out/g.gz", content=aws_chunked(PAYLOAD), headers=headers)
    assert response.status_code == 200, response.text
    assert client.head("/out/g.gz").headers["content-encoding"] == "gzip"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # a size that is not hex
        b"5\r\nabc",  # ends inside a chunk
        b"3\r\nabcXX0\r\n\r\n",  # no CRLF after the data
        b"3\r\nabc\r\n",  # no final chunk
    ],
    ids=["bad-hex", "short-chunk", "missing-crlf", "no-final-chunk"],
)
def test_broken_framing_is_refused_and_stores_nothing(http: Any, body: bytes) -> None:
    client, gw = http
    response = client.put("/out/broken", content=in_pieces(body, 2), headers=chunked_headers(3))
    assert response.status_code == 400
    assert "<Code>IncompleteBody</Code>" in response.text
    assert stored(gw) == {}


def test_decoded_length_mismatch_is_refused(http: Any) -> None:
    client, gw = http
    response = client.put("/out/short", content=aws_chunked(b"abc"), headers=chunked_headers(10))
    assert response.status_code == 400
    assert stored(gw) == {}


def test_plain_body_with_wrong_content_md5(http: Any) -> None:
    client, gw = http
    response = client.put("/out/p", content=b"data", headers={"content-md5": md5_b64(b"atad")})
    assert response.status_code == 400
    assert "<Code>BadDigest</Code>" in response.text
    assert stored(gw) == {}


def test_plain_body_with_right_checksums(http: Any) -> None:
    client, gw = http
    data = b"checked"
    response = client.put(
        "/out/ok",
        content=data,
        headers={
            "content-md5": md5_b64(data),
            "x-amz-checksum-crc32": crc32_b64(data),
            "x-amz-content-sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-amz-checksum-crc32"] == crc32_b64(data)
    assert stored(gw) == {"ok": data}


def test_wrong_payload_sha256_is_refused(http: Any) -> None:
    client, gw = http
    response = client.put(
        "/out/sha",
        content=b"abc",
        headers={"x-amz-content-sha256": hashlib.sha256(b"x").hexdigest()},
    )
    assert response.status_code == 400
    assert "XAmzContentSHA256Mismatch" in response.text
    assert stored(gw) == {}


def test_empty_body_with_empty_checksum(http: Any) -> None:
    client, gw = http
    response = client.put(
        "/out/empty",
        content=b"",
        headers={"x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "content-length": "0"},
    )
    assert response.status_code == 200, response.text
    assert stored(gw) == {"empty": b""}


def test_upload_part_with_aws_chunked_body(http: Any) -> None:
    """pyarrow frames every UploadPart as aws-chunked with a CRC64NVME trailer, even over
    plain http, with upper-case hex (clients.md §1b)."""
    client, gw = http
    created = client.post("/out/part.bin?uploads")
    upload_id = created.text.split("<UploadId>")[1].split("</UploadId>")[0]
    body = aws_chunked(PAYLOAD, upper=True)
    part = client.put(
        f"/out/part.bin?partNumber=1&uploadId={upload_id}",
        content=in_pieces(body, 0xFFF4),
        headers=chunked_headers(len(PAYLOAD)),
    )
    assert part.status_code == 200, part.text
    etag = part.headers["etag"]
    complete = (
        '<?xml version="1.0"?>\n<CompleteMultipartUpload>\n  <Part>\n'
        f"    <PartNumber>1</PartNumber>\n    <ETag>{etag}</ETag>\n  </Part>\n"
        "</CompleteMultipartUpload>"
    )
    done = client.post(f"/out/part.bin?uploadId={upload_id}", content=complete)
    assert done.status_code == 200, done.text
    assert stored(gw) == {"part.bin": PAYLOAD}


def test_put_without_length_or_chunking_is_411(http: Any) -> None:
    client, gw = http
    request = client.build_request("PUT", "/out/nolength")
    request.headers.pop("content-length", None)
    response = client.send(request)
    assert response.status_code == 411
    assert stored(gw) == {}
