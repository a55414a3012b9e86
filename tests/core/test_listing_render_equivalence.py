"""Byte-for-byte equivalence of the fast listing renderer, URL encoder and date formatters with
the straightforward versions they replaced (docs/benchmarks.md, proposals L1-L3 and R2).

The reference functions below are the code as it was before the fast paths, kept verbatim in
spirit: every ``<Contents>`` field goes through the generic element builder and its escaping,
keys through ``quote``, dates through ``strftime`` and ``email.utils``. Hypothesis drives
both over keys with XML-special characters, control characters, lone surrogates, unicode,
spaces, plus and percent signs, over V1 and V2 pages with and without ``encoding-type=url``,
delimiters, common prefixes, truncation, tokens and owners, and over naive, UTC, fixed-offset
and zoneinfo datetimes (with ``fold``). An input the reference refuses must be refused the same
way.
"""

from __future__ import annotations

import email.utils
import re
import string
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pachs3.core.dates import format_http_date, format_iso8601
from pachs3.core.listing import encode_key_url, encode_token
from pachs3.core.listing.document import list_objects
from pachs3.core.outcomes import Listed
from pachs3.core.plans import ListFiles
from pachs3.core.refs import CommitRef, FileInfo
from pachs3.core.xml.render import render_document

# --- the reference: the slow, straightforward versions -----------------------------------------


def ref_to_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def ref_format_http_date(dt: datetime) -> str:
    return email.utils.format_datetime(ref_to_utc(dt), usegmt=True)


def ref_format_iso8601(dt: datetime) -> str:
    utc = ref_to_utc(dt)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def ref_encode_key_url(key: str) -> str:
    return quote(key, safe="/")


_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8"?>\n'
_XMLNS: Final = "http://s3.amazonaws.com/doc/2006-03-01/"
_NEEDS_CARE: Final = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def ref_escape(text: str, illegal: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def fix(match: re.Match[str]) -> str:
        char = match.group()
        if char == "\r" or illegal == "reference":
            return f"&#x{ord(char):X};"
        return "\ufffd"

    return _NEEDS_CARE.sub(fix, text)


def ref_element(out: list[str], name: str, value: object, illegal: str) -> None:
    if value is None:
        return
    if isinstance(value, str):
        out.append(f"<{name}>{ref_escape(value, illegal)}</{name}>")
    elif isinstance(value, Mapping):
        attributes = "".join(
            f' {key[1:]}="{ref_escape(str(v), illegal)}"'
            for key, v in value.items()
            if key[0] == "@"
        )
        children = [(key, v) for key, v in value.items() if key[0] != "@"]
        if not children:
            out.append(f"<{name}{attributes}/>")
            return
        out.append(f"<{name}{attributes}>")
        for child, child_value in children:
            ref_element(out, child, child_value, illegal)
        out.append(f"</{name}>")
    elif isinstance(value, list | tuple):
        for item in value:
            ref_element(out, name, item, illegal)
    elif isinstance(value, bool):
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    elif isinstance(value, int):
        out.append(f"<{name}>{value}</{name}>")
    elif isinstance(value, datetime):
        out.append(f"<{name}>{ref_format_iso8601(value)}</{name}>")
    else:
        raise TypeError(type(value).__name__)


def ref_render_document(
    root: str, body: Mapping[str, object], *, xmlns: bool = True, illegal: str = "replace"
) -> bytes:
    out = [_DECLARATION, f'<{root} xmlns="{_XMLNS}"' if xmlns else f"<{root}"]
    if not body:
        out.append("/>")
    else:
        out.append(">")
        for name, value in body.items():
            ref_element(out, name, value, illegal)
        out.append(f"</{root}>")
    return "".join(out).encode("utf-8")


def _ref_owner() -> dict[str, Any]:
    return {"ID": "0" * 64, "DisplayName": "pachs3"}


def _ref_content(info: FileInfo, enc: Callable[[str], str], with_owner: bool) -> dict[str, Any]:
    content: dict[str, Any] = {
        "Key": enc(info.path),
        "LastModified": ref_format_iso8601(info.modified),
        "ETag": f'"{info.etag}"',
        "Size": str(info.size),
        "StorageClass": "STANDARD",
    }
    algorithms = [
        name.removeprefix("x-amz-checksum-").upper()
        for name in info.metadata
        if name.startswith("x-amz-checksum-")
    ]
    if algorithms:
        content["ChecksumAlgorithm"] = algorithms
        content["ChecksumType"] = "FULL_OBJECT"
    if with_owner:
        content["Owner"] = _ref_owner()
    return content


def ref_list_objects(plan: ListFiles, listed: Listed) -> bytes:
    def enc(value: str) -> str:
        return ref_encode_key_url(value) if plan.encode_url else value

    doc: dict[str, Any] = {
        "Name": plan.bucket,
        "Prefix": enc(plan.prefix) if plan.version == 2 else plan.prefix,
    }
    if plan.version == 1:
        doc["Marker"] = enc(plan.marker)
    if plan.delimiter:
        doc["Delimiter"] = enc(plan.delimiter)
    doc["MaxKeys"] = str(plan.max_keys)
    if plan.encode_url:
        doc["EncodingType"] = "url"
    if plan.version == 2:
        doc["KeyCount"] = str(len(listed.files) + len(listed.prefixes))
    doc["IsTruncated"] = "true" if listed.truncated else "false"
    if plan.version == 1:
        if listed.truncated and listed.last is not None:
            doc["NextMarker"] = enc(listed.last)
    else:
        if plan.continuation_token is not None:
            doc["ContinuationToken"] = plan.continuation_token
        if listed.truncated and listed.last is not None:
            doc["NextContinuationToken"] = encode_token(listed.last)
        if plan.start_after_param:
            doc["StartAfter"] = enc(plan.start_after_param)
    with_owner = plan.version == 1 or plan.fetch_owner
    doc["Contents"] = [_ref_content(info, enc, with_owner) for info in listed.files]
    doc["CommonPrefixes"] = [{"Prefix": enc(p)} for p in listed.prefixes]
    return ref_render_document("ListBucketResult", doc)


def outcome(fn: Callable[..., object], *args: object) -> tuple[str, object]:
    """What a call gives: its value, or the type of what it raised."""
    try:
        return ("value", fn(*args))
    except Exception as exc:  # the comparison is the point
        return ("raised", type(exc))


# --- strategies --------------------------------------------------------------------------------

SAFE_CHARS: Final = string.ascii_letters + string.digits + "-_.~/"
SPECIAL_CHARS: Final = [
    *"<>&\"' +%/=?#!*()[]{}$@,;:\\^`|",
    *"\x00\x01\x08\t\n\x0b\x0c\r\x1b\x1f\x7f",
    "\x80",
    "\x85",
    "\xa0",
    "\u00fc",
    "\u00df",
    "\u0130",  # İ: upper/lower change length
    "\u2028",
    "\u20ac",
    "\ufeff",
    "\ufffd",
    "\ufffe",
    "\uffff",
    "\U0001f600",
    "\U0010ffff",
    "\ud800",  # lone surrogates: refused by quote, replaced by the XML escape
    "\udfff",
]
any_char = st.one_of(
    st.sampled_from(SAFE_CHARS),
    st.sampled_from(SPECIAL_CHARS),
    st.characters(codec="utf-8"),
)
keys = st.one_of(st.text(any_char, max_size=24), st.text(st.sampled_from(SAFE_CHARS), max_size=24))


class NoOffset(tzinfo):
    """An aware-looking tzinfo whose offset is unknown: Python treats such a datetime as naive
    (and ``astimezone`` as local time)."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


class SubDatetime(datetime):
    """A datetime subclass, as some libraries hand out."""


fixed_offsets = st.builds(
    lambda minutes, seconds: timezone(timedelta(minutes=minutes, seconds=seconds)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    st.sampled_from([0, 0, 0, 30]),
)
zones = st.one_of(
    st.none(),
    st.just(UTC),
    st.just(timezone(timedelta(0))),  # UTC, but not the singleton
    st.just(timezone(timedelta(0), "GMT")),
    fixed_offsets,
    st.sampled_from(
        [ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), ZoneInfo("Australia/Lord_Howe")]
    ),
    st.timezones(),
    st.builds(NoOffset),
)


def _make(dt: datetime, fold: int, sub: bool) -> datetime:
    dt = dt.replace(fold=fold)
    if sub:
        dt = SubDatetime.combine(dt.date(), dt.timetz(), tzinfo=dt.tzinfo)
    return dt


datetimes = st.builds(
    _make,
    st.datetimes(timezones=zones),  # the whole range: edges overflow in astimezone
    st.integers(0, 1),
    st.booleans() | st.just(False),
)
# Timestamps a listing meets: recent years, UTC, many sharing one instant.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
listing_datetimes = st.one_of(
    datetimes,
    st.builds(
        lambda us: _EPOCH + timedelta(microseconds=us),
        st.integers(0, 4_000_000_000_000_000),
    ),
    st.sampled_from([_EPOCH + timedelta(microseconds=1_750_000_000_123_456), datetime(2025, 1, 1)]),
)

hex_etags = st.text("0123456789abcdef", min_size=32, max_size=32)
etags = st.one_of(
    hex_etags,
    st.builds(lambda h, n: f"{h}-{n}", hex_etags, st.integers(1, 10000)),
    st.text(any_char, max_size=12),  # whatever another backend keeps
)
metadata_names = st.sampled_from(
    [
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha256",
        "x-amz-checksum-",
        "x-amz-checksum-<&\u00df>",
        "content-type",
        "x-amz-meta-color",
    ]
)
file_infos = st.builds(
    FileInfo,
    path=keys,
    size=st.one_of(st.integers(0, 10_000), st.integers(0, 2**64)),
    etag=etags,
    modified=listing_datetimes,
    commit=st.just("c0ffee"),
    metadata=st.dictionaries(metadata_names, st.text(max_size=4), max_size=3),
)


@st.composite
def pages(draw: st.DrawFn) -> tuple[ListFiles, Listed]:
    version = draw(st.sampled_from([1, 2]))
    plan = ListFiles(
        ref=CommitRef(repo="in", id="c0ffee"),
        bucket=draw(st.sampled_from(["in", "bucket.with-dots", "a&b<c>"])),
        version=version,
        prefix=draw(keys),
        delimiter=draw(st.sampled_from(["", "/", "/", "+", " ", "&", "<d>", "%2F", "\u00fc"])),
        start_after=draw(keys),
        max_keys=draw(st.integers(0, 1000)),
        encode_url=draw(st.booleans()),
        fetch_owner=draw(st.booleans()),
        marker=draw(keys),
        continuation_token=draw(st.none() | st.text(any_char, max_size=16)),
        start_after_param=draw(keys),
    )
    files = draw(st.lists(file_infos, max_size=12))
    listed = Listed(
        files=tuple(files),
        prefixes=tuple(draw(st.lists(keys, max_size=5))),
        truncated=draw(st.booleans()),
        last=draw(st.none() | keys),
    )
    return plan, listed


# --- ListObjects documents ---------------------------------------------------------------------


@settings(max_examples=600, deadline=None)
@given(pages())
def test_list_objects_renders_the_same_bytes(page: tuple[ListFiles, Listed]) -> None:
    plan, listed = page
    assert outcome(list_objects, plan, listed) == outcome(ref_list_objects, plan, listed)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("encode_url", [False, True])
@pytest.mark.parametrize("fetch_owner", [False, True])
def test_list_objects_page_of_1000_renders_the_same_bytes(
    version: int, encode_url: bool, fetch_owner: bool
) -> None:
    """A full page as a benchmark sees it, with an awkward key every few entries."""
    awkward = ["a&b", "<x>", 'q"uote', "sp ace+plus%25", "ctl\x01\r\n\t", "\u00fc\U0001f600", "~"]
    files = tuple(
        FileInfo(
            path=f"dir/{i:06d}-{awkward[i % 7] if i % 3 == 0 else 'plain'}.bin",
            size=i * 1013,
            etag=f"{i:032x}" if i % 5 else f"{i:032x}-{i % 17 + 1}",
            modified=_EPOCH + timedelta(microseconds=1_750_000_000_000_000 + (i // 10) * 997),
            commit="c0ffee",
            metadata={"x-amz-checksum-crc32": "AAAAAA=="} if i % 4 == 0 else {},
        )
        for i in range(1000)
    )
    plan = ListFiles(
        ref=CommitRef(repo="in", id="c0ffee"),
        bucket="in",
        version=version,  # type: ignore[arg-type]
        prefix="dir/",
        delimiter="/",
        encode_url=encode_url,
        fetch_owner=fetch_owner,
        continuation_token="ZGlyLw",
        start_after_param="dir/ a",
    )
    listed = Listed(files=files, prefixes=("dir/a b/", "dir/c&d/"), truncated=True, last="z")
    assert list_objects(plan, listed) == ref_list_objects(plan, listed)


@pytest.mark.parametrize("illegal", ["replace", "reference"])
@settings(max_examples=200, deadline=None)
@given(
    body=st.recursive(
        st.one_of(
            st.none(),
            st.text(any_char, max_size=8),
            st.booleans(),
            st.integers(-(2**70), 2**70),
            st.datetimes(timezones=st.none() | st.just(UTC)),
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.sampled_from(["A", "B", "@c", "D"]), children, max_size=3),
        ),
        max_leaves=12,
    ),
    xmlns=st.booleans(),
)
def test_the_generic_builder_renders_the_same_bytes(body: Any, xmlns: bool, illegal: str) -> None:
    document = {"Body": body}
    assert outcome(
        lambda: render_document("Root", document, xmlns=xmlns, illegal=illegal)  # type: ignore[arg-type]
    ) == outcome(lambda: ref_render_document("Root", document, xmlns=xmlns, illegal=illegal))


# --- encoding-type=url -------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(keys)
@example("")
@example("a/b.c~d-e_f")
@example("a b")
@example("a+b")
@example("a%2Fb")
@example("line\n")
@example("\ud800")
def test_encode_key_url_is_quote(key: str) -> None:
    assert outcome(encode_key_url, key) == outcome(ref_encode_key_url, key)


def test_encode_key_url_single_characters() -> None:
    """Every character quote leaves alone, and no other, is left alone (all of the BMP
    below the CJK blocks, every surrogate, and the planes' first characters)."""
    candidates = [
        *range(0x3000),
        *range(0xD800, 0xE000),
        *range(0xFFF0, 0x10000),
        *range(0x10000, 0x110000, 0x1001),
        0x10FFFF,
    ]
    for code in candidates:
        char = chr(code)
        for key in (char, f"a/{char}", f"{char}~"):
            assert outcome(encode_key_url, key) == outcome(ref_encode_key_url, key), repr(key)


# --- dates -------------------------------------------------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(datetimes)
@example(datetime(1, 1, 1))
@example(datetime(1, 1, 1, tzinfo=UTC))
@example(datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
@example(datetime(1000, 1, 1))
@example(datetime(9999, 12, 31, 23, 59, 59, 999999))
@example(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))))
@example(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
@example(datetime(2025, 1, 1, 0, 0, 0, 999))
@example(datetime(2025, 1, 1, 0, 0, 0, 999999, tzinfo=timezone(timedelta(hours=1))))
def test_dates_render_the_same(dt: datetime) -> None:
    for _ in range(2):  # the second call may come from a cache
        assert outcome(format_iso8601, dt) == outcome(ref_format_iso8601, dt)
        assert outcome(format_http_date, dt) == outcome(ref_format_http_date, dt)


@pytest.mark.parametrize("first_fold", [0, 1])
def test_a_cached_date_is_never_answered_for_an_equal_but_different_instant(
    first_fold: int,
) -> None:
    """Datetimes with one tzinfo compare by their fields: 01:30 in New York on the day clocks go
    back is equal whatever its ``fold`` (and hashes alike), yet the two are an hour apart.
    Naive and aware datetimes never compare equal; a naive one and one whose tzinfo knows no
    offset do, though the second is local time."""
    ny = ZoneInfo("America/New_York")
    ambiguous = [datetime(2021, 11, 7, 1, 30, tzinfo=ny, fold=f) for f in (0, 1)]
    assert ambiguous[0] == ambiguous[1]
    if first_fold:
        ambiguous.reverse()
    for dt in [*ambiguous, *ambiguous]:
        assert format_iso8601(dt) == ref_format_iso8601(dt)
        assert format_http_date(dt) == ref_format_http_date(dt)
    assert format_iso8601(ambiguous[0]) != format_iso8601(ambiguous[1])

    naive = datetime(2021, 6, 1, 12, 0, 0, 123456)
    unknown = naive.replace(tzinfo=NoOffset())
    assert naive == unknown
    for dt in (naive, unknown, naive, unknown):
        assert format_iso8601(dt) == ref_format_iso8601(dt)
        assert format_http_date(dt) == ref_format_http_date(dt)

    utc = naive.replace(tzinfo=UTC)
    plus_one = utc.astimezone(timezone(timedelta(hours=1)))
    for dt in (utc, plus_one, naive, SubDatetime.fromisoformat("2021-06-01T12:00:00.123456")):
        assert format_iso8601(dt) == "2021-06-01T12:00:00.123Z"
        assert format_http_date(dt) == "Tue, 01 Jun 2021 12:00:00 GMT"
