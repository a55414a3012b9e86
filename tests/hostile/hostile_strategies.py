"""Hypothesis strategies for hostile S3 requests: grammar-aware, mixing what real clients send
with what they never do, always within what a transport can deliver to ``handle()``.

What a transport delivers (transports/base.py): an ASCII path still percent-encoded
(``normalize_raw_path``), query pairs percent-decoded with lone surrogates U+DC80..U+DCFF for
bytes that are not UTF-8 (``parse_query``), lower-case header names and latin-1 header values
without CR/LF/NUL (the HTTP parsers refuse those), and a body split anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from hostile_support import INPUT_FILES
from hypothesis import strategies as st

from pachs3.core.http import RequestHead
from pachs3.core.routing import ORDINARY_PARAMETERS, SUBRESOURCES

# ---------------------------------------------------------------------------------------------
# Building blocks

DIGITS = st.text("0123456789", min_size=1, max_size=25)
SMALL_INT = st.integers(min_value=-3, max_value=70_000).map(str)
NUMBER_TEXT = st.one_of(
    SMALL_INT,
    DIGITS,
    st.sampled_from(
        [
            "",
            " ",
            "-1",
            "+5",
            "0x10",
            "1e3",
            "5_000",
            " 7 ",
            "\u0661\u0662",
            "\uff11",
            "NaN",
            "9" * 5000,
            "18446744073709551616",
            "00000000000000000001",
            "1.5",
        ]
    ),
)

_LATIN1_VALUE = st.characters(
    codec="latin-1", exclude_characters="\r\n\x00", exclude_categories=["Cc"]
) | st.sampled_from(["\t", " "])
HEADER_TEXT = st.text(_LATIN1_VALUE, max_size=40)
"""A header value an HTTP/1.1 server hands on: latin-1, no CR/LF/NUL/controls but HTAB."""

QUERY_TEXT = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(["", "a", "/", "dir/", "\u20ac", "%", "..", "\x00", "\r\n", "\udcff"]),
)
"""A query value as ``parse_query`` leaves it: any text, non-UTF-8 bytes as lone surrogates."""

ETAGS = [hashlib.md5(data).hexdigest() for data in INPUT_FILES.values()]
ETAG_TEXT = st.one_of(
    st.sampled_from(ETAGS).map(lambda e: f'"{e}"'),
    st.sampled_from(ETAGS),
    st.sampled_from(["*", '"x"', 'W/"x"', "", ",", '"', "W/", ", ,", '"a", *', "W/*"]),
    st.lists(st.sampled_from([*ETAGS, "*", "nope"]), max_size=4).map(", ".join),
    HEADER_TEXT,
)
DATE_TEXT = st.one_of(
    st.sampled_from(
        [
            "Wed, 01 Jan 2025 00:00:00 GMT",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:00+25:00",
            "0000-00-00",
            "Thu, 01 Jan 1970 00:00:00 +9999",
            "Thu, 32 Foo 99999999999 99:99:99 GMT",
            "",
        ]
    ),
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
    HEADER_TEXT,
)
RANGE_TEXT = st.one_of(
    st.builds(
        lambda unit, a, b: f"{unit}={a}-{b}",
        st.sampled_from(["bytes", "BYTES", "bytes ", "items", ""]),
        st.one_of(st.just(""), DIGITS, st.integers(0, 5000).map(str)),
        st.one_of(st.just(""), DIGITS, st.integers(0, 5000).map(str)),
    ),
    st.sampled_from(
        [
            "bytes=0-0,5-6",
            "bytes=-0",
            "bytes=--1",
            "bytes=1--2",
            "bytes=0-\u0661",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes= 1 - 2 ",
            "bytes=99999999999999999999999-",
        ]
    ),
    HEADER_TEXT,
)
B64 = st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode())
SHA256_TEXT = st.one_of(
    st.sampled_from(
        [
            "UNSIGNED-PAYLOAD",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
            "streaming-unsigned-payload-trailer",
            hashlib.sha256(b"").hexdigest(),
            hashlib.sha256(b"").hexdigest().upper(),
        ]
    ),
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex()),
    HEADER_TEXT,
)
COPY_SOURCE = st.one_of(
    st.sampled_from(
        [
            "/in/a.txt",
            "in/a.txt",
            "in/dir%2Fb.bin",
            "in/sp%20ace%2Bplus",
            "in/caf%C3%A9/%E2%82%AC",
            "in/a.txt?versionId=123",
            "/out/k",
            "out/k",
            "/_pachs3_multipart/00001",
            "/pipeline/a.txt",
            "in",
            "in/",
            "/in/..%2F..%2Fetc%2Fpasswd",
            "/in/%FF",
            "%2Fin%2Fa.txt",
            "",
        ]
    ),
    HEADER_TEXT,
)
TRAILER_NAMES = st.lists(
    st.sampled_from(
        [
            "x-amz-checksum-crc32",
            "x-amz-checksum-crc32c",
            "x-amz-checksum-sha256",
            "x-amz-checksum-crc64nvme",
            "x-amz-checksum-sha1",
            "x-amz-checksum-md5",
            "junk",
        ]
    ),
    max_size=3,
).map(",".join)

HEADER_VALUES: dict[str, Any] = {
    "range": RANGE_TEXT,
    "if-match": ETAG_TEXT,
    "if-none-match": ETAG_TEXT,
    "if-modified-since": DATE_TEXT,
    "if-unmodified-since": DATE_TEXT,
    "x-amz-copy-source-if-match": ETAG_TEXT,
    "x-amz-copy-source-if-none-match": ETAG_TEXT,
    "x-amz-copy-source-if-modified-since": DATE_TEXT,
    "x-amz-copy-source-if-unmodified-since": DATE_TEXT,
    "content-length": NUMBER_TEXT,
    "x-amz-decoded-content-length": NUMBER_TEXT,
    "x-amz-content-sha256": SHA256_TEXT,
    "content-md5": st.one_of(B64, HEADER_TEXT),
    "x-amz-checksum-crc32": st.one_of(B64, HEADER_TEXT),
    "x-amz-checksum-crc32c": B64,
    "x-amz-checksum-crc64nvme": B64,
    "x-amz-checksum-sha1": B64,
    "x-amz-checksum-sha256": B64,
    "x-amz-trailer": TRAILER_NAMES,
    "content-encoding": st.sampled_from(
        ["aws-chunked", "gzip,aws-chunked", "gzip", "AWS-CHUNKED", ""]
    ),
    "transfer-encoding": st.sampled_from(["chunked", "gzip, chunked", "identity", "x"]),
    "x-amz-copy-source": COPY_SOURCE,
    "x-amz-copy-source-range": RANGE_TEXT,
    "x-amz-metadata-directive": st.sampled_from(["COPY", "REPLACE", "copy", "MOVE", ""]),
    "x-amz-checksum-algorithm": st.sampled_from(["CRC32", "crc32c", "SHA256", "MD5", "", "x"]),
    "x-amz-checksum-mode": st.sampled_from(["ENABLED", "enabled", "no"]),
    "expect": st.sampled_from(["100-continue", "x"]),
    "content-type": HEADER_TEXT,
    "x-amz-acl": st.sampled_from(["private", "public-read", "x"]),
    "x-amz-meta-k": st.one_of(HEADER_TEXT, st.integers(0, 3000).map(lambda n: "v" * n)),
    "x-amz-meta-\u00e9": HEADER_TEXT,
    "authorization": HEADER_TEXT,
    "x-amz-date": HEADER_TEXT,
    "host": st.sampled_from(["127.0.0.1:9000", "out.localhost", "in.localhost:1", "x"]),
}

_QUERY_NAMES = st.one_of(
    st.sampled_from(list(SUBRESOURCES)),
    st.sampled_from(sorted(ORDINARY_PARAMETERS)),
    st.text(max_size=12),
)
_QUERY_VALUE_FOR: dict[str, Any] = {
    "partNumber": NUMBER_TEXT,
    "max-keys": NUMBER_TEXT,
    "max-uploads": NUMBER_TEXT,
    "max-parts": NUMBER_TEXT,
    "part-number-marker": NUMBER_TEXT,
    "list-type": st.sampled_from(["1", "2", "3", ""]),
    "encoding-type": st.sampled_from(["url", "URL", "", "x"]),
    "continuation-token": st.one_of(
        st.sampled_from(["YQ", "ZGlyLw", "==", "-_", "YQ==", "Y"]),
        st.text(max_size=10).map(
            lambda s: base64.urlsafe_b64encode(s.encode("utf-8", "surrogatepass")).decode()
        ),
        QUERY_TEXT,
    ),
}


def _query_pair(name: str) -> Any:
    return st.tuples(st.just(name), _QUERY_VALUE_FOR.get(name, QUERY_TEXT))


QUERY = st.lists(_QUERY_NAMES.flatmap(_query_pair), max_size=5).map(tuple)

# Path pieces: printable ASCII without '?' and '#', percent escapes (valid or not), dot segments.
_PATH_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "?#")
SEGMENT = st.one_of(
    st.sampled_from(
        [
            "a.txt",
            "dir",
            "b.bin",
            "sub",
            "c",
            "sp%20ace+plus",
            "caf%C3%A9",
            "%E2%82%AC",
            "empty",
            "..",
            ".",
            "",
            "%2e%2e",
            "%2F",
            "%2f..%2f",
            "k",
            "x%FFy",
            "%",
            "%zz",
            "%C3",
            "a%00b",
            "k%0Ak",
            "%2e",
            "~",
            "%25",
            "out",
            "in",
        ]
    ),
    st.text(_PATH_CHARS, max_size=16),
    st.text(max_size=8).map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")),
)
BUCKET = st.sampled_from(
    [
        "in",
        "out",
        "nope",
        "",
        "..",
        ".",
        "%2e%2e",
        "in%2F..",
        "out%2Fx",
        "_pachs3_multipart",
        "OUT",
        "pipeline",
        "in.",
        "%69n",
        "%6Fut",
        "out%00",
        "in%2F..%2Fout",
    ]
)


VALID_PATHS = st.sampled_from(
    ["/in/" + quote(key, safe="/") for key in INPUT_FILES]
    + ["/out/k", "/out/dir/k", "/in", "/out", "/", "/in/", "/out/"]
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 11))
    if kind >= 10:
        return draw(VALID_PATHS)
    if kind == 0:
        return draw(st.sampled_from(["", "*", "//", "///in", "/", "http://x", "in/a.txt"]))
    bucket = draw(BUCKET)
    segments = draw(st.lists(SEGMENT, max_size=4))
    path = "/" + bucket
    slash = draw(st.booleans())  # "/b/" addresses the bucket too (s3cmd)
    if segments or slash:
        path += "/" + "/".join(segments)
    if kind == 1:
        path += "/" + "k" * draw(st.sampled_from([1015, 1024, 1025, 2000]))
    if kind == 2:
        path = draw(st.sampled_from(["http://h", "https://out.localhost:9", "http://[::1]"])) + path
    return path


@st.composite
def header_lists(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    names = draw(st.lists(st.sampled_from(sorted(HEADER_VALUES)), max_size=6, unique=True))
    headers = [(name, draw(HEADER_VALUES[name])) for name in names]
    if headers and draw(st.integers(0, 9)) == 0:  # a repeated header
        headers.append(draw(st.sampled_from(headers)))
    if draw(st.integers(0, 14)) == 0:  # user metadata past 2 KB, spread over many headers
        headers += [(f"x-amz-meta-m{i}", "v" * 200) for i in range(draw(st.integers(5, 15)))]
    return tuple(headers)


# ---------------------------------------------------------------------------------------------
# Bodies


def aws_chunked(
    payload: bytes,
    sizes: Sequence[int],
    *,
    upper: bool = False,
    signature: bool = False,
    trailers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """``payload`` framed as aws-chunked, cut in chunks of ``sizes`` (the rest in the last)."""
    out = bytearray()
    pos = 0
    cuts = [*sizes, len(payload)]
    for size in cuts:
        piece = payload[pos : pos + max(size, 1)]
        if not piece:
            break
        pos += len(piece)
        out += _size_line(len(piece), upper, signature) + piece + b"\r\n"
        if pos >= len(payload):
            break
    out += _size_line(0, upper, signature)
    for name, value in trailers:
        out += f"{name}:{value}\r\n".encode("latin-1")
    out += b"\r\n"
    return bytes(out)


def _size_line(size: int, upper: bool, signature: bool) -> bytes:
    text = f"{size:X}" if upper else f"{size:x}"
    if signature:
        text += ";chunk-signature=" + "0" * 64
    return text.encode() + b"\r\n"


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    payload = draw(st.binary(max_size=300))
    sizes = draw(st.lists(st.integers(1, 64), max_size=6))
    trailers: list[tuple[str, str]] = []
    if draw(st.booleans()):
        good = draw(st.booleans())
        trailers.append(("x-amz-checksum-crc32", crc32_b64(payload) if good else "AAAAAA=="))
    body = aws_chunked(
        payload,
        sizes,
        upper=draw(st.booleans()),
        signature=draw(st.booleans()),
        trailers=trailers,
    )
    return draw(mutated(body))


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` unchanged, or cut, with a byte changed, inserted or dropped."""
    kind = draw(st.integers(0, 5))
    if kind <= 2 or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if kind == 3:
        return data[:at]
    if kind == 4:
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]


KEY_TEXT = st.one_of(
    st.sampled_from([*INPUT_FILES, "k", "out/k", "", " ", "a&amp;b", "\u20ac"]),
    st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=20),
)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def delete_documents(draw: st.DrawFn) -> bytes:
    keys = draw(st.lists(KEY_TEXT, max_size=8))
    if draw(st.integers(0, 19)) == 0:
        keys = [f"k{i}" for i in range(draw(st.sampled_from([1000, 1001])))]
    objects = "".join(f"<Object><Key>{_xml_escape(k)}</Key></Object>" for k in keys)
    quiet = draw(st.sampled_from(["", "<Quiet>true</Quiet>", "<Quiet>maybe</Quiet>"]))
    xmlns = draw(st.sampled_from(["", ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"']))
    doc = f"<Delete{xmlns}>{quiet}{objects}</Delete>".encode()
    return draw(mutated(draw(with_hostile_xml(doc))))


@st.composite
def complete_documents(draw: st.DrawFn) -> bytes:
    parts = draw(
        st.lists(
            st.tuples(st.one_of(st.integers(-2, 10_002).map(str), NUMBER_TEXT), ETAG_TEXT),
            max_size=5,
        )
    )
    body = "".join(
        f"<Part><PartNumber>{_xml_escape(n)}</PartNumber><ETag>{_xml_escape(e)}</ETag></Part>"
        for n, e in parts
    )
    doc = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
    return draw(mutated(draw(with_hostile_xml(doc))))


HOSTILE_PROLOGUES = [
    b"",
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE d SYSTEM "http://127.0.0.1:1/dtd">',
    b'<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p"> %p;]>',
    b'<?xml version="1.0" encoding="UTF-16"?>',
    b'<?xml version="1.0" encoding="EBCDIC"?>',
    b"\xef\xbb\xbf",
]


@st.composite
def with_hostile_xml(draw: st.DrawFn, doc: bytes) -> bytes:
    prologue = draw(st.sampled_from(HOSTILE_PROLOGUES))
    if draw(st.integers(0, 9)) == 0:
        doc = doc.replace(b"</Key>", b"&x;&d;</Key>", 1)
    if draw(st.integers(0, 19)) == 0:
        doc = b"<a>" * draw(st.sampled_from([17, 5000])) + doc
    return prologue + doc


BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    chunked_bodies(),
    delete_documents(),
    complete_documents(),
    st.sampled_from([b"x" * 10_000, b"<CreateBucketConfiguration/>"]),
)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` in pieces (sometimes one byte at a time, sometimes with empty pieces)."""
    mode = draw(st.integers(0, 4))
    if mode == 0 or len(data) < 2:
        return [data]
    if mode == 1 and len(data) < 400:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    pieces, last = [], 0
    for cut in [*cuts, len(data)]:
        pieces.append(data[last:cut])
        last = cut
    return pieces


@st.composite
def requests(draw: st.DrawFn) -> tuple[RequestHead, list[bytes]]:
    """A request for ``handle()``: head and body pieces, Content-Length usually consistent."""
    if draw(st.integers(0, 19)):
        method = draw(st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]))
    else:
        method = draw(st.sampled_from(["OPTIONS", "PATCH", "TRACE", "get", "PROPFIND", ""]))
    headers = list(draw(header_lists()))
    body = draw(BODIES) if method in ("PUT", "POST") or draw(st.integers(0, 9)) == 0 else b""
    names = {name for name, _ in headers}
    framed = "content-length" in names or "transfer-encoding" in names
    if body and not framed and draw(st.integers(0, 9)):
        headers.append(("content-length", str(len(body))))
    host = draw(st.sampled_from(["127.0.0.1:9000", "127.0.0.1", "out.localhost", "in.x:1", ""]))
    head = RequestHead(
        method=method,
        path=draw(paths()),
        query=draw(QUERY) if draw(st.booleans()) else (),
        headers=tuple(headers),
        host=host,
    )
    return head, draw(split(body))
