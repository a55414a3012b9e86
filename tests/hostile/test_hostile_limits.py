"""AWS's limits, with AWS's errors, and nothing stored or expanded past them: key length,
user metadata, XML document size and key count, part numbers, DTDs and entities, header
sections (uvicorn's limits, checked on the wire), and query values that are not UTF-8."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from hostile_support import (
    INPUT_FILES,
    KnownBug,
    RawHTTP,
    Serve,
    Tally,
    Violation,
    check_answer,
    handle_checked,
    request_bytes,
    rss_bytes,
)

from pachs3 import SidecarGateway
from pachs3.core.http import RequestHead


def call(
    gateway: SidecarGateway,
    method: str,
    path: str,
    *,
    query: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes | list[bytes] = b"",
) -> tuple[int, str | None, bytes]:
    pieces = body if isinstance(body, list) else [body]
    if body and not any(name in ("content-length", "transfer-encoding") for name, _ in headers):
        headers = (*headers, ("content-length", str(sum(map(len, pieces)))))
    head = RequestHead(method=method, path=path, query=query, headers=headers)
    answer = handle_checked(gateway, head, pieces)
    assert answer is not None
    return answer.status, answer.code, answer.body


def exists(gateway: SidecarGateway, key_path: str) -> bool:
    return call(gateway, "HEAD", key_path)[0] == 200


class CountingBody(Iterator[bytes]):
    """A request body that records how much of it the gateway pulled."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = iter(pieces)
        self.pulled = 0

    def __next__(self) -> bytes:
        piece = next(self._pieces)
        self.pulled += len(piece)
        return piece


# ---------------------------------------------------------------------------------------------
# Keys


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("k" * 1024, True),
        ("k" * 1025, False),
        ("\u20ac" * 341 + "k", True),  # 1024 bytes of UTF-8
        ("\u20ac" * 342, False),  # 1026 bytes, 342 characters
        ("\U0001f600" * 256, True),  # 1024 bytes, 256 characters
        ("\U0001f600" * 256 + "k", False),
    ],
)
def test_keys_over_1024_bytes_are_refused_everywhere(
    gw: SidecarGateway, key: str, ok: bool
) -> None:
    from urllib.parse import quote

    path = "/out/" + quote(key)
    if ok:
        assert call(gw, "PUT", path, body=b"x")[0] == 200
        assert call(gw, "GET", path)[2] == b"x"
        return
    assert call(gw, "PUT", path, body=b"x")[1] == "KeyTooLongError"
    assert call(gw, "GET", path)[1] == "KeyTooLongError"
    assert call(gw, "HEAD", path)[0] == 400
    copy = (("x-amz-copy-source", "in/a.txt"),)
    assert call(gw, "PUT", path, headers=copy)[1] == "KeyTooLongError"
    assert call(gw, "POST", path, query=(("uploads", ""),))[1] == "KeyTooLongError"
    assert call(gw, "GET", "/out", query=(("list-type", "2"),))[2].count(b"<Key>") == 0


# ---------------------------------------------------------------------------------------------
# User metadata: "limited to 2 KB in size", counted as UTF-8 bytes of names and values


def meta(total: int, *, names: int = 1) -> tuple[tuple[str, str], ...]:
    """``names`` x-amz-meta-* headers whose names (after the prefix) and values sum to
    ``total`` bytes."""
    headers = []
    share = total // names
    for index in range(names):
        name = f"n{index:03d}"
        size = share if index < names - 1 else total - share * (names - 1)
        headers.append((f"x-amz-meta-{name}", "v" * (size - len(name))))
    return tuple(headers)


@pytest.mark.parametrize("names", [1, 8])
def test_user_metadata_over_2_kb_is_refused(gw: SidecarGateway, names: int) -> None:
    assert call(gw, "PUT", "/out/fits", headers=meta(2048, names=names), body=b"x")[0] == 200
    status, code, _ = call(gw, "PUT", "/out/big", headers=meta(2049, names=names), body=b"x")
    assert (status, code) == (400, "MetadataTooLarge")
    assert not exists(gw, "/out/big")
    # The same limit on the other ways of writing an object.
    replace = (("x-amz-copy-source", "in/a.txt"), ("x-amz-metadata-directive", "REPLACE"))
    assert call(gw, "PUT", "/out/big", headers=replace + meta(2049, names=names))[1] == (
        "MetadataTooLarge"
    )
    start = call(gw, "POST", "/out/big", query=(("uploads", ""),), headers=meta(2049))
    assert start[1] == "MetadataTooLarge"
    assert not exists(gw, "/out/big")


def test_metadata_counts_the_bytes_sent(gw: SidecarGateway) -> None:
    # 1000 two-byte characters as a transport hands them over (latin-1 decoded UTF-8 bytes).
    value = ("\u00e9" * 1000).encode().decode("latin-1")
    headers = (("x-amz-meta-a", value + "v" * 47),)  # 1 + 2000 + 47 = 2048 bytes
    assert call(gw, "PUT", "/out/k", headers=headers, body=b"x")[0] == 200
    headers = (("x-amz-meta-a", value + "v" * 48),)
    assert call(gw, "PUT", "/out/k", headers=headers, body=b"x")[1] == "MetadataTooLarge"


@pytest.mark.parametrize("name", ["x-amz-meta-a b", "x-amz-meta-x(y", "x-amz-meta-\u00e9"])
def test_metadata_names_must_be_http_tokens(gw: SidecarGateway, name: str) -> None:
    status, code, _ = call(gw, "PUT", "/out/k", headers=((name, "v"),), body=b"x")
    assert (status, code) == (400, "InvalidArgument")


def test_a_non_token_metadata_name_is_refused_in_process(gw: SidecarGateway) -> None:
    """botocore sends such names as is; over HTTP no server would take them, in-process the
    gateway must refuse them itself (else the object could never be read over HTTP)."""
    s3 = gw.client()
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="out", Key="k", Body=b"x", Metadata={"a b": "c"})
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert not exists(gw, "/out/k")


# ---------------------------------------------------------------------------------------------
# XML documents: size, key count, part numbers


def delete_doc(count: int, *, key_size: int = 8) -> bytes:
    keys = "".join(f"<Object><Key>{i:0{key_size}d}</Key></Object>" for i in range(count))
    return f"<Delete><Quiet>true</Quiet>{keys}</Delete>".encode()


def test_delete_objects_takes_1000_keys_and_refuses_1001(gw: SidecarGateway) -> None:
    for i in range(3):
        call(gw, "PUT", f"/out/{i:08d}", body=b"x")
    assert call(gw, "POST", "/out", query=(("delete", ""),), body=delete_doc(1000))[0] == 200
    assert not exists(gw, "/out/00000000")
    call(gw, "PUT", "/out/00000001", body=b"x")
    status, code, _ = call(gw, "POST", "/out", query=(("delete", ""),), body=delete_doc(1001))
    assert (status, code) == (400, "MalformedXML")
    assert exists(gw, "/out/00000001"), "a refused DeleteObjects deleted something"


@pytest.mark.parametrize("operation", ["delete", "complete"])
def test_oversize_documents_are_refused_unread(gw: SidecarGateway, operation: str) -> None:
    """A document announced past 4 MiB is refused before a byte is read; one without a length
    (chunked) is refused as soon as it passes the cap, without reading the rest."""
    if operation == "delete":
        query: tuple[tuple[str, str], ...] = (("delete", ""),)
        path = "/out"
    else:
        started = call(gw, "POST", "/out/k", query=(("uploads", ""),))
        upload_id = started[2].split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        query, path = (("uploadId", upload_id),), "/out/k"
    piece = b"<!-- " + b"x" * (1 << 20) + b" -->"
    pieces = [piece] * 64  # 64 MiB if anyone read it all
    body = CountingBody(pieces)
    head = RequestHead(
        method="POST", path=path, query=query, headers=(("content-length", str(64 * len(piece))),)
    )
    answer = check_answer(head, gw.handle(head, body))
    assert answer.code == "MaxMessageLengthExceeded"
    assert body.pulled == 0
    body = CountingBody(pieces)
    head = RequestHead(
        method="POST", path=path, query=query, headers=(("transfer-encoding", "chunked"),)
    )
    answer = check_answer(head, gw.handle(head, body))
    assert answer.code == "MaxMessageLengthExceeded"
    assert body.pulled <= 5 * len(piece)


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("1", True),
        ("10000", True),
        ("0", False),
        ("10001", False),
        ("-1", False),
        ("", False),
        ("x", False),
        ("99999999999999999999999", False),
    ],
)
def test_part_numbers_outside_1_to_10000(gw: SidecarGateway, number: str, ok: bool) -> None:
    started = call(gw, "POST", "/out/k", query=(("uploads", ""),))
    upload_id = started[2].split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    query = (("partNumber", number), ("uploadId", upload_id))
    status, code, _ = call(gw, "PUT", "/out/k", query=query, body=b"part")
    copy = (("x-amz-copy-source", "in/a.txt"),)
    copy_status, copy_code, _ = call(gw, "PUT", "/out/k", query=query, headers=copy)
    if ok:
        assert (status, copy_status) == (200, 200)
        return
    assert (status, code) == (400, "InvalidArgument")
    assert (copy_status, copy_code) == (400, "InvalidArgument")
    doc = (
        f"<CompleteMultipartUpload><Part><PartNumber>{number}</PartNumber>"
        '<ETag>"x"</ETag></Part></CompleteMultipartUpload>'
    ).encode()
    status, code, _ = call(gw, "POST", "/out/k", query=(("uploadId", upload_id),), body=doc)
    assert status == 400
    assert code in ("InvalidArgument", "MalformedXML")
    assert not exists(gw, "/out/k")


# ---------------------------------------------------------------------------------------------
# DTDs and entities: refused before anything is expanded or fetched


@pytest.fixture
def canary() -> Iterator[tuple[str, threading.Event]]:
    """A loopback listener that records any connection: an external entity being fetched."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    touched = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            touched.set()
            connection.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/x.dtd", touched
    stop.set()
    thread.join(5)
    listener.close()


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]>"
)


@pytest.mark.parametrize(
    "prologue",
    [
        LAUGHS,
        b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        b'<!DOCTYPE d [<!ENTITY x SYSTEM "{canary}">]>',
        b'<!DOCTYPE d [<!ENTITY % p SYSTEM "{canary}"> %p;]>',
        b'<!DOCTYPE d SYSTEM "{canary}">',
        b'<!DOCTYPE d [<!ENTITY x "plain">]>',
    ],
    ids=[
        "billion-laughs",
        "file",
        "external-general",
        "external-parameter",
        "external-dtd",
        "internal",
    ],
)
@pytest.mark.parametrize("operation", ["delete", "complete"])
def test_xml_with_a_dtd_is_refused_unexpanded(
    gw: SidecarGateway, canary: tuple[str, threading.Event], prologue: bytes, operation: str
) -> None:
    url, touched = canary
    prologue = prologue.replace(b"{canary}", url.encode())
    entity = b"&lol9;" if prologue is LAUGHS or b"lol9" in prologue else b"&x;"
    call(gw, "PUT", "/out/a", body=b"x")
    if operation == "delete":
        doc = prologue + b"<Delete><Object><Key>a" + entity + b"</Key></Object></Delete>"
        query: tuple[tuple[str, str], ...] = (("delete", ""),)
        path = "/out"
    else:
        started = call(gw, "POST", "/out/k", query=(("uploads", ""),))
        upload_id = started[2].split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        doc = (
            prologue
            + b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"
            + entity
            + b"</ETag></Part></CompleteMultipartUpload>"
        )
        query, path = (("uploadId", upload_id),), "/out/k"
    started_at = time.monotonic()
    status, code, body = call(gw, "POST", path, query=query, body=doc)
    assert (status, code) == (400, "MalformedXML")
    assert time.monotonic() - started_at < 1.0
    assert b"root:" not in body
    assert b"lollol" not in body
    assert not touched.wait(0.3), "the gateway fetched an external entity"
    assert exists(gw, "/out/a")


# ---------------------------------------------------------------------------------------------
# Header sections on the wire (uvicorn's limits)


def test_h11_refuses_a_header_section_past_its_buffer_limit(
    gw: SidecarGateway, serve: Serve
) -> None:
    """h11 buffers at most 16 KiB of an incomplete request head (uvicorn's
    ``h11_max_incomplete_event_size`` default), so a client trickling a 100 KiB header is refused
    by the parser; the threaded server's protocol answers that refusal with an S3 400 BadRequest
    error document (not uvicorn's plain text) and closes the connection."""
    server = serve(gw, http="h11")
    with RawHTTP(server.port) as client:
        try:
            client.send(b"GET /in/a.txt HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(100):
                client.send(b"a" * 1024)
                time.sleep(0.001)
            client.send(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished sending: what we are checking
        response = client.read_response()
        assert response.status == 400
        assert b"<Code>BadRequest</Code>" in response.body
        assert response.headers["content-type"] == "application/xml"
        assert client.closed_by_peer(5)


def test_a_header_section_past_8_kib_gets_the_s3_error(
    gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    """AWS's 8 KiB: past it, 400 RequestHeaderSectionTooLarge (12 KiB stays below h11's own
    16 KiB buffer, so both HTTP implementations hand it to the app)."""
    server = serve(gw, http=http_impl)
    with RawHTTP(server.port) as client:
        headers = [(f"X-H{i}", "v" * 1000) for i in range(12)]
        client.send(request_bytes("GET", "/in/a.txt", headers))
        response = client.read_response()
        assert response.status == 400
        assert b"<Code>RequestHeaderSectionTooLarge</Code>" in response.body


def test_httptools_answers_a_huge_header_section_with_the_s3_error(
    gw: SidecarGateway, serve: Serve
) -> None:
    server = serve(gw, http="httptools")
    with RawHTTP(server.port) as client:
        client.send(request_bytes("GET", "/in/a.txt", [("X-Big", "a" * (1 << 20))]))
        response = client.read_response()
        assert response.status == 400
        assert b"<Code>RequestHeaderSectionTooLarge</Code>" in response.body


def test_httptools_bounds_the_memory_of_a_huge_header_section(
    gw: SidecarGateway, serve: Serve
) -> None:
    server = serve(gw, http="httptools")
    before = rss_bytes()
    peak = before
    with (
        RawHTTP(server.port, timeout=30) as client,
        contextlib.suppress(BrokenPipeError, ConnectionResetError),
    ):
        client.send(b"GET /in/a.txt HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(64):
            client.send(b"a" * (1 << 20))
            peak = max(peak, rss_bytes())
    assert peak - before < 16 << 20, f"RSS grew by {(peak - before) >> 20} MiB"


def test_the_request_line_is_bounded(gw: SidecarGateway, serve: Serve, http_impl: str) -> None:
    server = serve(gw, http=http_impl)
    with RawHTTP(server.port) as client:
        client.send(b"GET /in/" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response()
        assert response.status == 400


# ---------------------------------------------------------------------------------------------
# Bugs the fuzzers found (docs/reliability.md, section 8: fixed; these keep them fixed)


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/in", (("prefix", "\udcff"), ("encoding-type", "url"))),
        ("GET", "/in", (("list-type", "2"), ("start-after", "\udcff"), ("encoding-type", "url"))),
        ("GET", "/out", (("uploads", ""), ("prefix", "\udcff"), ("encoding-type", "url"))),
        ("PUT", "/out/k", (("partNumber", "1"), ("uploadId", "\udcff"))),
        ("DELETE", "/out/k", (("uploadId", "\udcff"),)),
        ("GET", "/in/a.txt", (("response-content-type", "\udcff"),)),
    ],
)
def test_query_values_that_are_not_utf8_are_refused(
    local_gw: SidecarGateway, method: str, path: str, query: tuple[tuple[str, str], ...]
) -> None:
    head = RequestHead(method=method, path=path, query=query, headers=(("content-length", "1"),))
    answer = handle_checked(local_gw, head, [b"x"])
    assert answer is not None
    assert (answer.status, answer.code) == (400, "InvalidArgument")


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x", "a\x00b", "a\nb"])
def test_response_override_with_control_characters_is_refused(
    gw: SidecarGateway, value: str
) -> None:
    head = RequestHead(method="GET", path="/in/a.txt", query=(("response-content-type", value),))
    answer = handle_checked(gw, head, [])
    assert answer is not None
    assert (answer.status, answer.code) == (400, "InvalidArgument")


def test_response_override_with_control_characters_on_the_wire(
    gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    """Refused with an answer, never a split response (before the fix: a dropped connection)."""
    server = serve(gw, http=http_impl)
    with RawHTTP(server.port) as client:
        client.send(request_bytes("GET", "/in/a.txt?response-content-type=a%0d%0aX-Evil:%201"))
        response = client.read_response()
    assert response.status == 400
    assert b"<Code>InvalidArgument</Code>" in response.body
    assert "x-evil" not in response.headers


@pytest.mark.parametrize("operation", ["delete", "complete"])
def test_xml_with_an_unknown_encoding_is_malformed(gw: SidecarGateway, operation: str) -> None:
    prologue = b'<?xml version="1.0" encoding="EBCDIC"?>'
    if operation == "delete":
        doc = prologue + b"<Delete><Object><Key>a</Key></Object></Delete>"
        status, code, _ = call(gw, "POST", "/out", query=(("delete", ""),), body=doc)
    else:
        started = call(gw, "POST", "/out/k", query=(("uploads", ""),))
        upload_id = started[2].split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        doc = prologue + (
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
            b"</CompleteMultipartUpload>"
        )
        status, code, _ = call(gw, "POST", "/out/k", query=(("uploadId", upload_id),), body=doc)
    assert (status, code) == (400, "MalformedXML")


@pytest.mark.parametrize(
    "target", ["http://out.l[calhost/k", "http://[::1/in/a.txt", "https://x]/in/a.txt"]
)
def test_absolute_uri_with_a_bad_authority_is_refused(gw: SidecarGateway, target: str) -> None:
    status, code, _ = call(gw, "GET", target)
    assert (status, code) == (400, "InvalidRequest")


def test_absolute_uri_with_a_bad_authority_on_the_wire(
    gw: SidecarGateway, serve: Serve, http_impl: str
) -> None:
    """httptools refuses such a target itself; h11 passes it on and the gateway refuses it."""
    server = serve(gw, http=http_impl)
    with RawHTTP(server.port) as client:
        client.send(b"GET http://out.l[calhost/k HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response()
    assert response.status == 400
    if http_impl == "h11":
        assert b"<Code>InvalidRequest</Code>" in response.body


def test_known_bug_tolerance_is_narrow(gw: SidecarGateway) -> None:
    """The fuzzers' tolerance for known bugs excuses exactly the inputs and kinds it names."""
    bug = KnownBug(
        id="example",
        kinds=frozenset({"internal-error"}),
        applies=lambda head, body, violation: head.path == "/in/nope",
    )
    seen = Tally(bugs=(bug,))
    for path in ("/in/nope", "/in/a.txt"):
        head = RequestHead(method="GET", path=path)
        assert not seen.excuse(head, b"", Violation("leak", "x"))
    assert seen.excuse(
        RequestHead(method="GET", path="/in/nope"), b"", Violation("internal-error", "")
    )
    assert not seen.excuse(
        RequestHead(method="GET", path="/in/a.txt"), b"", Violation("internal-error", "")
    )
    assert seen.known == {"example": 1}
    answer = handle_checked(gw, RequestHead(method="GET", path="/in/a.txt"), [], seen)
    assert answer is not None
    assert answer.body == INPUT_FILES["a.txt"]
