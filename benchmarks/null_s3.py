"""A null S3 server: it stores nothing, so a job against it costs what the client alone costs.

    python -m benchmarks.null_s3 BUCKET DIR

Serves the *listing* of DIR's files as bucket BUCKET (names and sizes taken once at start),
answers every GET of one of them with zeros of the right length (``Range`` honoured, as the aws
CLI downloads big objects in ranged parts), and accepts any PUT, multipart upload and
completion to any bucket by reading the body and throwing it away. Just enough S3 for ``aws s3
cp --recursive`` in both directions; it prints ``S3_ENDPOINT=URL`` once it listens.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from benchmarks.targets import LAST_MODIFIED

PAGE = 1000
ETAG = '"' + hashlib.md5(b"").hexdigest() + '"'
ZEROS = bytes(1 << 20)
XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def inventory(directory: Path) -> dict[str, int]:
    """Key -> size for every file under ``directory`` (keys are relative POSIX paths)."""
    return {
        path.relative_to(directory).as_posix(): path.stat().st_size
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def listing(bucket: str, files: dict[str, int], keys: Sequence[str], query: Any) -> bytes:
    prefix = query.get("prefix", "")
    after = query.get("continuation-token") or query.get("start-after") or ""
    wanted = [k for k in keys if k.startswith(prefix) and k > after]
    page, more = wanted[:PAGE], len(wanted) > PAGE
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult {XMLNS}>'
        f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
        f"<MaxKeys>{PAGE}</MaxKeys><IsTruncated>{'true' if more else 'false'}</IsTruncated>"
    ]
    if more:
        parts.append(f"<NextContinuationToken>{escape(page[-1])}</NextContinuationToken>")
    parts.extend(
        f"<Contents><Key>{escape(key)}</Key><LastModified>2025-11-25T19:00:00.000Z"
        f"</LastModified><ETag>&quot;{ETAG[1:-1]}&quot;</ETag><Size>{files[key]}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        for key in page
    )
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a ``bytes=a-b`` header, clipped to the object; None without one."""
    if not header or not header.startswith("bytes="):
        return None
    first_text, _, last_text = header[6:].partition("-")
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


async def zeros(length: int) -> AsyncIterator[bytes]:
    while length > 0:
        chunk = ZEROS[: min(length, len(ZEROS))]
        length -= len(chunk)
        yield chunk


def null_app(bucket_name: str, files: dict[str, int]) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    keys = sorted(files)
    base = {"x-amz-request-id": "0", "last-modified": LAST_MODIFIED, "etag": ETAG}

    async def drain(request: Request) -> None:
        async for _ in request.stream():
            pass

    async def bucket(request: Request) -> Response:
        if request.method != "GET":
            return Response(b"", headers=base)  # CreateBucket, HeadBucket
        body = listing(request.path_params["bucket"], files, keys, request.query_params)
        return Response(body, media_type="application/xml")

    async def obj(request: Request) -> Response:
        key, query = request.path_params["key"], request.query_params
        if request.method in ("GET", "HEAD"):
            if request.path_params["bucket"] != bucket_name or key not in files:
                return Response(b"", status_code=404)
            size = files[key]
            span = byte_range(request.headers.get("range"), size)
            headers = {**base, "accept-ranges": "bytes"}
            status, first, last = 200, 0, size - 1
            if span is not None:
                status, (first, last) = 206, span
                headers["content-range"] = f"bytes {first}-{last}/{size}"
            headers["content-length"] = str(last - first + 1)
            if request.method == "HEAD":
                return Response(b"", status_code=status, headers=headers)
            return StreamingResponse(zeros(last - first + 1), status_code=status, headers=headers)
        await drain(request)
        if request.method == "POST" and "uploads" in query:
            return Response(
                f"<InitiateMultipartUploadResult {XMLNS}><Bucket>{bucket_name}</Bucket>"
                f"<Key>{escape(key)}</Key><UploadId>null</UploadId>"
                "</InitiateMultipartUploadResult>",
                media_type="application/xml",
            )
        if request.method == "POST":  # CompleteMultipartUpload
            return Response(
                f"<CompleteMultipartUploadResult {XMLNS}><Key>{escape(key)}</Key>"
                f"<ETag>&quot;{ETAG[1:-1]}-1&quot;</ETag></CompleteMultipartUploadResult>",
                media_type="application/xml",
            )
        return Response(b"", headers=base)  # PutObject, UploadPart, DeleteObject

    return Starlette(
        routes=[
            Route("/{bucket}/{key:path}", obj, methods=["GET", "HEAD", "PUT", "POST", "DELETE"]),
            Route("/{bucket}", bucket, methods=["GET", "HEAD", "PUT"]),
        ]
    )


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    from benchmarks.servers import _announce_and_wait
    from pachs3.transports.threaded import ThreadedServer

    with ThreadedServer(null_app(argv[0], inventory(Path(argv[1])))) as server:
        _announce_and_wait(server.endpoint_url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
