"""Small independent models the fuzzers compare the core against, and the bytes -> request
decoding the coverage-guided fuzzer uses (through the transports' own helpers)."""

from __future__ import annotations

from pachs3.core.http import RequestHead
from pachs3.transports.base import normalize_raw_path, parse_query


def expected_range(header: str, size: int) -> tuple[int, int] | str:
    """S3's Range table (core/ranges.py docstring), re-derived by hand: ``(start, end)``,
    ``"whole"`` or ``"416"``."""
    unit, eq, spec = header.strip(" \t").partition("=")
    if not eq or unit.strip(" \t").lower() != "bytes":
        return "whole"
    first, dash, last = spec.partition("-")
    first, last = first.strip(" \t"), last.strip(" \t")
    digits = set("0123456789")
    if not dash or not set(first + last) <= digits or len(first) > 100 or len(last) > 100:
        return "whole"
    if first:
        start = int(first)
        if last and int(last) < start:
            return "whole"
        if start >= size:
            return "416"
        end = min(int(last), size - 1) if last else size - 1
        return (start, end)
    if not last:
        return "whole"
    if int(last) == 0:
        return "416"
    if size == 0:
        return "whole"
    return (max(size - int(last), 0), size - 1)


def model_entries(keys: set[str], prefix: str, delimiter: str, start_after: str) -> list[str]:
    """Every entry of a listing after ``start_after``: keys, and common prefixes (ending with
    the delimiter) none of which is at or before ``start_after``."""
    entries: set[str] = set()
    for key in keys:
        if not key.startswith(prefix) or key <= start_after:
            continue
        at = key.find(delimiter, len(prefix)) if delimiter else -1
        if at >= 0:
            common = key[: at + len(delimiter)]
            if common > start_after:
                entries.add(common)
        else:
            entries.add(key)
    return sorted(entries)


_FORBIDDEN_IN_HEADER_VALUES = frozenset(range(0x20)) - {0x09} | {0x7F}


def head_from_http(data: bytes) -> tuple[RequestHead, list[bytes]]:
    """Read ``data`` as an HTTP/1.1 request the way a server would hand it to the gateway.

    ``METHOD SP TARGET [SP VERSION] CRLF (NAME: VALUE CRLF)* CRLF BODY``. The target's path goes
    through ``normalize_raw_path`` and its query through ``parse_query``, as in the ASGI and
    boto3 transports. Header lines an HTTP parser would refuse (no colon, control characters)
    are dropped; names are lower-cased and values trimmed. Whatever cannot be read falls back to
    ``GET /``. The body is cut in two at a point the data chooses, so splits are fuzzed too.
    """
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    request_line = lines[0].split(b" ")
    method = request_line[0].decode("latin-1") if request_line[0] else "GET"
    target = request_line[1] if len(request_line) > 1 else b"/"
    raw_path, _, raw_query = target.partition(b"?")
    headers: list[tuple[str, str]] = []
    host = "127.0.0.1"
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        name = name.strip()
        if (
            not colon
            or not name
            or any(b in _FORBIDDEN_IN_HEADER_VALUES or b == 0x20 for b in name)
        ):
            continue
        value = value.strip(b" \t")
        if any(b in _FORBIDDEN_IN_HEADER_VALUES for b in value):
            continue
        text_name = name.decode("latin-1").lower()
        text_value = value.decode("latin-1")
        if text_name == "host":
            host = text_value
        headers.append((text_name, text_value))
    head = RequestHead(
        method=method,
        path=normalize_raw_path(raw_path),
        query=parse_query(raw_query),
        headers=tuple(headers),
        host=host,
    )
    if not body:
        return head, []
    cut = body[0] % (len(body) + 1)
    return head, [body[:cut], body[cut:]]
