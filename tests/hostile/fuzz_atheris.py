"""Coverage-guided fuzzing (atheris / libFuzzer) of the gateway's request handling.

    python tests/hostile/fuzz_atheris.py TARGET -atheris_runs=200000 [libFuzzer options]
    python tests/hostile/fuzz_atheris.py --list

Each target turns libFuzzer's bytes into one input and checks the same invariants as the
hypothesis suite (``hostile_support.check_answer`` and the models in ``hostile_models``):

- ``request``: the bytes are an HTTP/1.1 request (``hostile_models.head_from_http``, through the
  transports' own path and query helpers) answered by ``SidecarGateway.handle`` on a memory
  backend: parser, routing table, planner, conditions, ranges, executor, responder;
- ``range``, ``chunked``, ``xml-delete``, ``xml-complete``, ``token``, ``listing``, ``sigv4``:
  the pure core functions, each against its model or its error contract.

Known bugs (``hostile_support.KNOWN_BUGS``) are counted, not reported as crashes. On exit the
count of inputs run per target is printed and, with PACHS3_FUZZ_REPORT, appended there as JSON.
A crashing input is written under PACHS3_FUZZ_ARTIFACTS (default: a new temp directory), never
into the working tree.
The target functions need no atheris: ``test_hostile_atheris.py`` replays the seeds through
them in the normal test run.
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":  # instrument pachs3 for coverage before anything imports it
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports(include=["pachs3"]):
        import pachs3
        import pachs3.core.sigv4
        import pachs3.transports.base  # noqa: F401

from hostile_models import expected_range, head_from_http, model_entries
from hostile_support import (
    Tally,
    handle_checked,
    memory_gateway,
    report_fuzz_counts,
)

from pachs3 import SidecarGateway
from pachs3.core import errors
from pachs3.core.chunked import STREAMING_MODES, AwsChunkedDecoder
from pachs3.core.listing import ListingBuilder, decode_token, encode_token
from pachs3.core.ranges import parse_range
from pachs3.core.sigv4 import verify_request
from pachs3.core.xml.request_bodies import parse_completion, parse_delete_objects

TALLIES: dict[str, Tally] = {}


def _tally(name: str) -> Tally:
    return TALLIES.setdefault(name, Tally())


class _Gateway:
    """A memory gateway per process, replaced every ``ROTATE`` inputs: what fuzzed PUTs leave
    in ``out`` would otherwise slow every later listing down."""

    ROTATE = 2000
    context: AbstractContextManager[SidecarGateway] | None = None
    gateway: SidecarGateway | None = None
    uses = 0

    @classmethod
    def get(cls) -> SidecarGateway:
        cls.uses += 1
        if cls.gateway is None or cls.uses % cls.ROTATE == 0:
            cls.close()
            cls.context = memory_gateway()
            cls.gateway = cls.context.__enter__()
        return cls.gateway

    @classmethod
    def close(cls) -> None:
        if cls.context is not None:
            cls.context.__exit__(None, None, None)
        cls.context = cls.gateway = None


atexit.register(_Gateway.close)


def fuzz_request(data: bytes) -> None:
    head, body = head_from_http(data)
    handle_checked(_Gateway.get(), head, body, _tally("request"))


def fuzz_range(data: bytes) -> None:
    _tally("range").count(0)
    size = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
    header = data[2:].decode("latin-1")
    expected = expected_range(header, size)
    try:
        got = parse_range(header, size)
    except errors.InvalidRange:
        assert expected == "416", (header, size)
        return
    if got is None:
        assert expected == "whole", (header, size, expected)
    else:
        assert (got.start, got.end) == expected, (header, size)


_MODES = sorted(STREAMING_MODES)


def _decode(pieces: list[bytes], mode: str, length: int | None) -> tuple[str, object]:
    decoder = AwsChunkedDecoder(mode=STREAMING_MODES[mode], decoded_length=length)
    out = bytearray()
    try:
        for piece in pieces:
            for part in decoder.feed(piece):
                out += part
        return ("ok", (bytes(out), decoder.finish()))
    except (errors.IncompleteBody, errors.InvalidChunkSizeError) as exc:
        return ("error", exc.code)


def fuzz_chunked(data: bytes) -> None:
    _tally("chunked").count(0)
    if len(data) < 2:
        return
    mode = _MODES[data[0] % len(_MODES)]
    length = None if data[1] >= 128 else data[1] * 3
    raw = data[2:]
    whole = _decode([raw], mode, length)
    cut = (data[0] * 7) % (len(raw) + 1)
    assert _decode([raw[:cut], raw[cut:]], mode, length) == whole
    if len(raw) < 300:
        assert _decode([raw[i : i + 1] for i in range(len(raw))], mode, length) == whole


_XML_ERRORS = (
    errors.MalformedXML,
    errors.MaxMessageLengthExceeded,
    errors.InvalidArgument,
    errors.InvalidPartOrder,
)


def _xml(name: str, parse: Callable[[bytes], object], data: bytes) -> None:
    seen = _tally(name)
    seen.count(0)
    with suppress(*_XML_ERRORS):
        parse(data)


def fuzz_xml_delete(data: bytes) -> None:
    _xml("xml-delete", parse_delete_objects, data)


def fuzz_xml_complete(data: bytes) -> None:
    _xml("xml-complete", parse_completion, data)


def fuzz_token(data: bytes) -> None:
    _tally("token").count(0)
    text = data.decode("utf-8", "replace")
    try:
        key = decode_token(text)
    except errors.InvalidArgument:
        return
    assert encode_token(key) == text.strip().rstrip("=")


def fuzz_listing(data: bytes) -> None:
    """Bytes -> keys, prefix, delimiter, start-after, max-keys; one page vs the model."""
    _tally("listing").count(0)
    if len(data) < 4:
        return
    alphabet = "ab/\u00e9"
    max_keys, prefix_len, start_len, delimiter_kind = (
        data[0] % 9,
        data[1] % 3,
        data[2] % 4,
        data[3] % 4,
    )
    rest = data[4:]
    text = "".join(alphabet[b % len(alphabet)] if b % 17 else "|" for b in rest)
    prefix, start_after = text[:prefix_len].replace("|", ""), text[:start_len].replace("|", "")
    keys = {key for key in text.split("|") if key}
    delimiter = ["", "/", "a", "b/"][delimiter_kind]
    builder = ListingBuilder(
        prefix=prefix, delimiter=delimiter, max_keys=max_keys, start_after=start_after
    )
    ordered = sorted(keys)
    listed: list[str] = []
    position = 0
    while position < len(ordered) and not builder.done:
        verdict = builder.offer(ordered[position])
        position += 1
        if verdict.kind == "content":
            listed.append(ordered[position - 1])
        elif verdict.kind == "prefix" and verdict.common_prefix is not None:
            listed.append(verdict.common_prefix)
        if verdict.skip_after is not None:
            while position < len(ordered) and ordered[position] <= verdict.skip_after:
                position += 1
    expected = model_entries(keys, prefix, delimiter, start_after)
    assert listed == expected[:max_keys], (keys, prefix, delimiter, start_after, max_keys)


_SIGV4_ERRORS = (
    errors.AccessDenied,
    errors.AuthorizationHeaderMalformed,
    errors.AuthorizationQueryParametersError,
    errors.InvalidAccessKeyId,
    errors.InvalidArgument,
    errors.InvalidRequest,
    errors.RequestTimeTooSkewed,
    errors.SignatureDoesNotMatch,
)


def fuzz_sigv4(data: bytes) -> None:
    _tally("sigv4").count(0)
    head, _ = head_from_http(data)
    try:
        verify_request(head, {"AKID": "secret"}, datetime(2025, 1, 1, tzinfo=UTC))
    except _SIGV4_ERRORS:
        return
    raise AssertionError(f"a forged request verified: {head}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "request": fuzz_request,
    "range": fuzz_range,
    "chunked": fuzz_chunked,
    "xml-delete": fuzz_xml_delete,
    "xml-complete": fuzz_xml_complete,
    "token": fuzz_token,
    "listing": fuzz_listing,
    "sigv4": fuzz_sigv4,
}

_AUTH = (
    b"Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, "
    b"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + b"0" * 64 + b"\r\n"
    b"x-amz-date: 20250101T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
)

SEEDS: dict[str, list[bytes]] = {
    "request": [
        b"GET /in/a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n",
        b"HEAD /in/dir/b.bin HTTP/1.1\r\nIf-None-Match: *\r\n\r\n",
        b"GET /in?list-type=2&prefix=dir/&delimiter=/&max-keys=1 HTTP/1.1\r\n\r\n",
        b"GET /out?encoding-type=url&marker=a&prefix=%FF HTTP/1.1\r\n\r\n",
        b"PUT /out/k HTTP/1.1\r\nContent-Length: 5\r\nContent-MD5: XUFAKrxLKna5cZ2REBfFkg==\r\n"
        b"\r\n\x03hello",
        b"PUT /out/k HTTP/1.1\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
        b"Content-Encoding: aws-chunked\r\nx-amz-decoded-content-length: 5\r\n"
        b"x-amz-trailer: x-amz-checksum-crc32\r\nContent-Length: 49\r\n\r\n"
        b"\x055\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n",
        b"PUT /out/copy HTTP/1.1\r\nx-amz-copy-source: /in/a.txt\r\n"
        b"x-amz-copy-source-if-match: *\r\nx-amz-metadata-directive: REPLACE\r\n\r\n",
        b"POST /out?delete HTTP/1.1\r\nContent-Length: 60\r\n\r\n"
        b"\x10<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>",
        b"POST /out/k?uploads HTTP/1.1\r\n\r\n",
        b"PUT /out/k?partNumber=1&uploadId=x HTTP/1.1\r\nContent-Length: 1\r\n\r\n\x00x",
        b"POST /out/k?uploadId=x HTTP/1.1\r\nContent-Length: 99\r\n\r\n\x00<Complete"
        b"MultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
        b"</CompleteMultipartUpload>",
        b"GET http://out.localhost/k?response-content-type=a HTTP/1.1\r\n"
        b"Host: out.localhost\r\n\r\n",
        b"DELETE /in/a.txt HTTP/1.1\r\n\r\n",
        b"GET /in/a.txt HTTP/1.1\r\n" + _AUTH + b"\r\n",
    ],
    "range": [
        b"\x00\x10bytes=0-5",
        b"\x00\x00bytes=-1",
        b"\x01\x00bytes = 7 -",
        b"\x00\x05bytes=1-0",
    ],
    "chunked": [
        b"\x02\xff5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n",
        b"\x00\x015;chunk-signature="
        + b"0" * 64
        + b"\r\nhello\r\n0;chunk-signature="
        + b"0" * 64
        + b"\r\n\r\n",
    ],
    "xml-delete": [
        b'<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Object><Key>a &#252;</Key><VersionId>1</VersionId></Object><Quiet>true</Quiet></Delete>",
        b'<!DOCTYPE d [<!ENTITY a "x">]><Delete><Object><Key>&a;</Key></Object></Delete>',
    ],
    "xml-complete": [
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&#34;x&#34;</ETag>"
        b"<ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>",
    ],
    "token": [b"YQ", b"ZGlyLw==", b"8J-YgA"],
    "listing": [b"\x03\x01\x02\x01ab/a|b/b|aa|" + bytes(range(40))],
    "sigv4": [
        b"GET /in/a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _AUTH + b"\r\n",
        b"GET /in/a.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250101"
        b"%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=60"
        b"&X-Amz-SignedHeaders=host"
        b"&X-Amz-Signature=" + b"0" * 64 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ],
}


def main() -> None:
    import logging
    import os
    import tempfile

    # A known bug's 500 is logged with its traceback by the gateway; the checks see it anyway.
    logging.getLogger("pachs3").setLevel(logging.CRITICAL)

    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "--list"):
        print("targets:", " ".join(TARGETS))
        return
    name = sys.argv[1]
    target = TARGETS[name]
    import atheris

    corpus = tempfile.mkdtemp(prefix=f"pachs3-fuzz-{name}-")
    for index, seed in enumerate(SEEDS.get(name, [])):
        Path(corpus, f"seed-{index}").write_bytes(seed)
    atexit.register(lambda: report_fuzz_counts("atheris", TALLIES))
    if os.environ.get("PACHS3_FUZZ_REPORT"):
        print(f"[fuzz:atheris] {name}: corpus in {corpus}")
    artifacts = os.environ.get("PACHS3_FUZZ_ARTIFACTS") or tempfile.mkdtemp(prefix="pachs3-crash-")
    options = [f"-artifact_prefix={artifacts.rstrip('/')}/", *sys.argv[2:]]
    atheris.Setup([sys.argv[0], *options, corpus], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
