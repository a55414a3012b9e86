"""Property-based fuzzing (hypothesis) of everything a client controls, through the pure core and
through ``SidecarGateway.handle``: the request parser and routing table, Range and conditional
headers, the aws-chunked decoder, the XML request documents, listing tokens and markers, and the
SigV4 verifier.

Every input gets an S3 error or a success, never an unexpected exception (500), never a hang
(``handle_checked``). Pure functions are also checked against small independent models.

Budgets: a few seconds in the normal run; ``PACHS3_FUZZ_CASES=N`` gives each test a share of N
examples (the ``fuzz`` nox session). Answers excused as known bugs are counted in the tally and
printed (``-s``); each known bug has its own strict-xfail test.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote_plus

import pytest
from hostile_models import expected_range, model_entries
from hostile_strategies import (
    DATE_TEXT,
    ETAG_TEXT,
    HEADER_TEXT,
    QUERY,
    RANGE_TEXT,
    aws_chunked,
    complete_documents,
    crc32_b64,
    delete_documents,
    mutated,
    requests,
    split,
)
from hostile_support import (
    FUZZ_TALLIES,
    INPUT_BUCKET,
    INPUT_FILES,
    Tally,
    budget,
    handle_checked,
    input_snapshot,
    list_page,
    memory_gateway,
    seed_input,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pachs3 import LocalStore, SidecarGateway
from pachs3.core import errors
from pachs3.core.chunked import STREAMING_MODES, AwsChunkedDecoder
from pachs3.core.conditions import check_copy_source_conditions, check_read_conditions
from pachs3.core.http import RequestHead
from pachs3.core.listing import ListingBuilder, decode_token, encode_token
from pachs3.core.ranges import parse_copy_range, parse_range
from pachs3.core.sigv4 import verify_request
from pachs3.core.xml.request_bodies import parse_completion, parse_delete_objects

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)


def fuzz(ci: int, *, share: float = 1.0) -> settings:
    """``ci`` examples normally; ``share`` of PACHS3_FUZZ_CASES in the dedicated mode."""
    return settings(FUZZ, max_examples=budget(ci, share=share))


TALLIES: dict[str, Tally] = {}
FUZZ_TALLIES.append(("hypothesis", TALLIES))


def tally(name: str) -> Tally:
    return TALLIES.setdefault(name, Tally())


@pytest.fixture(scope="module")
def memory_gw() -> Iterator[SidecarGateway]:
    with memory_gateway() as gateway:
        before = input_snapshot(gateway)
        yield gateway
        assert input_snapshot(gateway) == before, "an input bucket changed"


@pytest.fixture(scope="module")
def local_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarGateway]:
    store = LocalStore(tmp_path_factory.mktemp("fuzz-store"))
    seed_input(store)
    try:
        with SidecarGateway(
            store, inputs={INPUT_BUCKET: f"{INPUT_BUCKET}@master"}, output="pipeline"
        ) as gateway:
            before = input_snapshot(gateway)
            yield gateway
            assert input_snapshot(gateway) == before, "an input bucket changed"
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# The whole funnel


@fuzz(300, share=0.25)
@given(request=requests())
def test_handle_answers_every_request_memory(
    memory_gw: SidecarGateway, request: tuple[RequestHead, list[bytes]]
) -> None:
    head, body = request
    handle_checked(memory_gw, head, body, tally("handle/memory"))


@fuzz(80, share=0.05)
@given(request=requests())
def test_handle_answers_every_request_local_store(
    local_gw: SidecarGateway, request: tuple[RequestHead, list[bytes]]
) -> None:
    head, body = request
    handle_checked(local_gw, head, body, tally("handle/local"))


@fuzz(100, share=0.05)
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]),
    path=st.text(max_size=40).map(lambda s: "/" + s),
    query=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=4),
    headers=st.lists(
        st.tuples(
            st.text(
                st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12
            ).map(str.lower),
            st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
        ),
        max_size=5,
    ),
    body=st.binary(max_size=64),
)
def test_handle_answers_arbitrary_text(  # noqa: PLR0917 (one argument per @given strategy)
    memory_gw: SidecarGateway,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Beyond what HTTP can carry: any Unicode in path, query and header values (the in-process
    boto3 transport hands botocore's strings over unchanged)."""
    head = RequestHead(method=method, path=path, query=tuple(query), headers=tuple(headers))
    handle_checked(memory_gw, head, [body], tally("handle/arbitrary-text"))


# ---------------------------------------------------------------------------------------------
# Range


@fuzz(500, share=0.05)
@given(header=st.one_of(RANGE_TEXT, st.text(max_size=30)), size=st.integers(0, 10_000))
def test_range_matches_the_s3_table(header: str, size: int) -> None:
    tally("range").count(0)
    expected = expected_range(header, size)
    if expected == "416":
        with pytest.raises(errors.InvalidRange) as refused:
            parse_range(header, size)
        assert refused.value.headers == (("content-range", f"bytes */{size}"),)
        return
    got = parse_range(header, size)
    if got is None:
        assert expected == "whole", (header, size, expected)
    else:
        assert (got.start, got.end) == expected, (header, size)
        assert 0 <= got.start <= got.end < size
        assert got.content_range == f"bytes {got.start}-{got.end}/{size}"


@fuzz(300, share=0.02)
@given(header=st.one_of(st.none(), RANGE_TEXT, st.text(max_size=30)), size=st.integers(0, 10_000))
def test_copy_range_is_exact_or_refused(header: str | None, size: int) -> None:
    tally("copy-range").count(0)
    try:
        offset, length = parse_copy_range(header, size)
    except (errors.InvalidArgument, errors.InvalidRange):
        return
    assert offset >= 0
    assert length >= 0
    assert offset + length <= size


# ---------------------------------------------------------------------------------------------
# Conditions

ETAG = hashlib.md5(b"x").hexdigest()
MODIFIED = datetime(2025, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)


@fuzz(400, share=0.05)
@given(
    if_match=st.none() | ETAG_TEXT,
    if_none_match=st.none() | ETAG_TEXT,
    if_modified_since=st.none() | DATE_TEXT,
    if_unmodified_since=st.none() | DATE_TEXT,
    etag=st.sampled_from([ETAG, f'"{ETAG}"', f"{ETAG}-2"]),
    modified=st.datetimes(timezones=st.just(UTC)),
)
def test_conditions_give_a_verdict_or_412(  # noqa: PLR0917 (one argument per @given strategy)
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    modified: datetime,
) -> None:
    tally("conditions").count(0)
    conditions: dict[str, Any] = {
        "if_match": if_match,
        "if_none_match": if_none_match,
        "if_modified_since": if_modified_since,
        "if_unmodified_since": if_unmodified_since,
        "etag": etag,
        "last_modified": modified,
    }
    verdict: str
    try:
        verdict = check_read_conditions(**conditions)
    except errors.PreconditionFailed:
        verdict = "412"
    assert verdict in ("ok", "not-modified", "412")
    if if_match is not None and if_match.strip() in ("*", f'"{etag.strip(chr(34))}"'):
        assert verdict != "412"  # a matching If-Match is never overruled by a date
    if if_none_match == "*":
        assert verdict in ("not-modified", "412")
    try:
        check_copy_source_conditions(**conditions)
    except errors.PreconditionFailed:
        assert verdict != "ok"
    else:
        assert verdict == "ok"


# ---------------------------------------------------------------------------------------------
# aws-chunked


def decode_all(pieces: list[bytes], mode: str, decoded_length: int | None) -> tuple[str, Any]:
    """``("ok", (payload, trailers))`` or ``("error", code)`` for one way of feeding."""
    decoder = AwsChunkedDecoder(
        mode=STREAMING_MODES[mode], decoded_length=decoded_length, min_chunk_size=0
    )
    out = bytearray()
    try:
        for piece in pieces:
            for part in decoder.feed(piece):
                out += part
        trailers = decoder.finish()
    except (errors.IncompleteBody, errors.InvalidChunkSizeError) as exc:
        return ("error", exc.code)
    return ("ok", (bytes(out), trailers))


@fuzz(400, share=0.1)
@given(
    data=st.data(),
    raw=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=300).map(lambda p: aws_chunked(p, [7, 64, 3])),
        st.builds(
            lambda p, sig: aws_chunked(
                p,
                [16, 1],
                upper=True,
                signature=sig,
                trailers=[("x-amz-checksum-crc32", crc32_b64(p))],
            ),
            st.binary(max_size=200),
            st.booleans(),
        ),
    ),
    mode=st.sampled_from(sorted(STREAMING_MODES)),
    decoded_length=st.none() | st.integers(0, 500),
)
def test_chunked_decoder_is_split_invariant(
    data: st.DataObject, raw: bytes, mode: str, decoded_length: int | None
) -> None:
    """Whatever the bytes, the decoder gives the same answer fed whole, in random pieces or one
    byte at a time, and that answer is a payload or IncompleteBody/InvalidChunkSizeError."""
    tally("chunked").count(0)
    raw = data.draw(mutated(raw))
    whole = decode_all([raw], mode, decoded_length)
    pieces = decode_all(data.draw(split(raw)), mode, decoded_length)
    bytewise = decode_all([raw[i : i + 1] for i in range(len(raw))], mode, decoded_length)
    assert whole == pieces == bytewise


@fuzz(200, share=0.03)
@given(
    payload=st.binary(max_size=2000),
    sizes=st.lists(st.integers(1, 300), max_size=8),
    upper=st.booleans(),
)
def test_chunked_round_trip(payload: bytes, sizes: list[int], upper: bool) -> None:
    tally("chunked-round-trip").count(0)
    body = aws_chunked(payload, sizes, upper=upper, trailers=[("x-amz-checksum-crc32", "x")])
    result = decode_all([body], "STREAMING-UNSIGNED-PAYLOAD-TRAILER", len(payload))
    assert result == ("ok", (payload, {"x-amz-checksum-crc32": "x"}))


# ---------------------------------------------------------------------------------------------
# XML documents


def _parse_within(parse: Any, doc: bytes, allowed: tuple[type[errors.S3Error], ...]) -> Any:
    started = time.monotonic()
    try:
        return parse(doc)
    except allowed:
        return None
    finally:
        # A 4 MiB document parses in well under a second; entity expansion would take far longer.
        assert time.monotonic() - started < 5.0, "XML parsing took too long"


XML_ERRORS = (
    errors.MalformedXML,
    errors.MaxMessageLengthExceeded,
    errors.InvalidArgument,
    errors.InvalidPartOrder,
)


@fuzz(250, share=0.05)
@given(doc=st.one_of(delete_documents(), st.binary(max_size=300)))
def test_delete_objects_document(doc: bytes) -> None:
    tally("xml-delete").count(0)
    result = _parse_within(parse_delete_objects, doc, XML_ERRORS)
    if b"<!DOCTYPE" in doc:
        assert result is None, "a document with a DTD was accepted"
    if result is not None:
        assert 1 <= len(result.objects) <= 1000


@fuzz(250, share=0.05)
@given(doc=st.one_of(complete_documents(), st.binary(max_size=300)))
def test_complete_multipart_document(doc: bytes) -> None:
    tally("xml-complete").count(0)
    result = _parse_within(lambda data: parse_completion(data).parts, doc, XML_ERRORS)
    if b"<!DOCTYPE" in doc:
        assert result is None, "a document with a DTD was accepted"
    if result is not None:
        numbers = [number for number, _ in result]
        assert numbers == sorted(set(numbers))
        assert all(1 <= n <= 10_000 for n in numbers)


XML_KEY = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r").filter(
        lambda c: c in "\t\n" or (ord(c) >= 0x20 and c not in "\ufffe\uffff")
    ),
    min_size=1,
    max_size=30,
)


@fuzz(150, share=0.02)
@given(keys=st.lists(XML_KEY, min_size=1, max_size=20), numeric=st.booleans())
def test_delete_objects_keys_round_trip(keys: list[str], numeric: bool) -> None:
    """Keys come back exactly, spaces and entities included (minio-py sends ``&#252;``)."""
    tally("xml-delete-keys").count(0)

    def escape(key: str) -> str:
        if numeric:
            return "".join(c if c.isascii() and c.isalnum() else f"&#{ord(c)};" for c in key)
        return key.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    doc = "<Delete>" + "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    parsed = parse_delete_objects((doc + "</Delete>").encode())
    assert [key for key, _ in parsed.objects] == keys


# ---------------------------------------------------------------------------------------------
# Listing tokens and markers


@fuzz(500, share=0.05)
@given(key=st.text(min_size=1, max_size=40), junk=st.text(max_size=40))
def test_continuation_tokens(key: str, junk: str) -> None:
    tally("listing-tokens").count(0)
    assert decode_token(encode_token(key)) == key
    assert decode_token(encode_token(key) + "==") == key  # boto3 may echo padding
    try:
        decoded = decode_token(junk)
    except errors.InvalidArgument:
        return
    assert encode_token(decoded) == junk.strip().rstrip("=")


LISTING_KEYS = st.sets(st.text("ab/\u00e9\U0001f600", min_size=1, max_size=6), max_size=30)


@fuzz(500, share=0.05)
@given(
    keys=LISTING_KEYS,
    prefix=st.text("ab/", max_size=2),
    delimiter=st.sampled_from(["", "/", "a", "b/", "//"]),
    start_after=st.text("ab/\u00e9", max_size=4),
    max_keys=st.integers(0, 8),
)
def test_listing_builder_matches_model(
    keys: set[str], prefix: str, delimiter: str, start_after: str, max_keys: int
) -> None:
    """One page of the fold over a sorted walk (with the skips it asks for) is the model's
    first ``max_keys`` entries; ``truncated`` says whether more exist; ``last`` is the last."""
    tally("listing-builder").count(0)
    ordered = sorted(keys)
    builder = ListingBuilder(
        prefix=prefix, delimiter=delimiter, max_keys=max_keys, start_after=start_after
    )
    listed: list[str] = []
    position = 0
    while position < len(ordered) and not builder.done:
        verdict = builder.offer(ordered[position])
        position += 1
        if verdict.kind == "content":
            listed.append(ordered[position - 1])
        elif verdict.kind == "prefix":
            assert verdict.common_prefix is not None
            listed.append(verdict.common_prefix)
        if verdict.skip_after is not None:
            while position < len(ordered) and ordered[position] <= verdict.skip_after:
                position += 1
    if not builder.done:
        builder.finish()
    expected = model_entries(keys, prefix, delimiter, start_after)
    assert listed == expected[:max_keys]
    assert builder.truncated == (max_keys > 0 and len(expected) > max_keys)
    if listed and builder.truncated:
        assert builder.last == listed[-1]


@fuzz(60, share=0.02)
@given(
    keys=st.sets(st.text("ab/ +%\u00e9", min_size=1, max_size=6), min_size=0, max_size=25),
    prefix=st.text("ab/", max_size=2),
    delimiter=st.sampled_from(["", "/", "a"]),
    max_keys=st.integers(1, 7),
    version=st.sampled_from(["1", "2"]),
)
def test_listing_pages_reassemble_through_the_gateway(
    keys: set[str], prefix: str, delimiter: str, max_keys: int, version: str
) -> None:
    """Paging with NextMarker (V1) or continuation tokens (V2), whatever max-keys, lists every
    entry exactly once, in order."""
    tally("listing-pages").count(0)
    with memory_gateway() as gateway:
        for key in keys:
            head = RequestHead(
                method="PUT",
                path="/out/" + quote(key, safe="/"),
                headers=(("content-length", "1"),),
            )
            answer = handle_checked(gateway, head, [b"x"])
            assert answer is not None
            assert answer.status == 200
        pages: list[str] = []
        token: str | None = None
        for _ in range(len(keys) + 2):
            query = [
                ("prefix", prefix),
                ("delimiter", delimiter),
                ("max-keys", str(max_keys)),
                ("encoding-type", "url"),
            ]
            if version == "2":
                query.append(("list-type", "2"))
                if token is not None:
                    query.append(("continuation-token", token))
            elif token is not None:
                query.append(("marker", token))
            entries, fields = list_page(gateway, query)
            pages += entries
            if fields["IsTruncated"] != "true":
                break
            token = (
                fields["NextContinuationToken"]
                if version == "2"
                else unquote_plus(fields["NextMarker"])
            )
        else:
            pytest.fail("the listing never ended")
    assert pages == model_entries(keys, prefix, delimiter, "")


# ---------------------------------------------------------------------------------------------
# SigV4: hostile authentication never gets past the verifier, and never crashes it

SIGV4_ERRORS = (
    errors.AccessDenied,
    errors.AuthorizationHeaderMalformed,
    errors.AuthorizationQueryParametersError,
    errors.InvalidAccessKeyId,
    errors.InvalidArgument,
    errors.InvalidRequest,
    errors.RequestTimeTooSkewed,
    errors.SignatureDoesNotMatch,
    errors.IncompleteBody,
)

AUTH_VALUE = st.one_of(
    st.builds(
        lambda ak, date, region, service, term, names, sig: (
            f"AWS4-HMAC-SHA256 Credential={ak}/{date}/{region}/{service}/{term}, "
            f"SignedHeaders={names}, Signature={sig}"
        ),
        st.sampled_from(["AKID", "", "nope", "A/B"]),
        st.sampled_from(["20250101", "2025010", "", "abcdefgh"]),
        st.sampled_from(["us-east-1", "", "x"]),
        st.sampled_from(["s3", "iam", ""]),
        st.sampled_from(["aws4_request", "aws5_request", ""]),
        st.sampled_from(["host", "host;x-amz-date", "HOST", "", "host;host", "x-amz-date"]),
        st.sampled_from(["0" * 64, "z" * 64, "", "0" * 63]),
    ),
    st.sampled_from(["AWS AKID:c2ln", "AWS4-ECDSA-P256-SHA256 Credential=x", "Bearer x", ""]),
    HEADER_TEXT,
)


@fuzz(300, share=0.05)
@given(
    method=st.sampled_from(["GET", "PUT"]),
    path=st.sampled_from(["/in/a.txt", "/out/k%2Fx", "http://h/in/a", "", "/%FF"]),
    query=QUERY,
    authorization=st.none() | AUTH_VALUE,
    amz_date=st.none()
    | st.sampled_from(["20250101T000000Z", "20250101T250000Z", "x"])
    | HEADER_TEXT,
    date=st.none() | DATE_TEXT,
    sha=st.none()
    | st.sampled_from(["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "x"]),
    presign=st.none()
    | st.fixed_dictionaries(
        {
            "X-Amz-Algorithm": st.sampled_from(["AWS4-HMAC-SHA256", "x"]),
            "X-Amz-Credential": st.sampled_from(["AKID/20250101/us-east-1/s3/aws4_request", "x"]),
            "X-Amz-Date": st.sampled_from(["20250101T000000Z", "bad"]),
            "X-Amz-Expires": st.sampled_from(["60", "-1", "604801", "", "\u0661"]),
            "X-Amz-SignedHeaders": st.sampled_from(["host", "", "x"]),
            "X-Amz-Signature": st.sampled_from(["0" * 64, "x"]),
        }
    ),
)
def test_sigv4_refuses_forgeries_with_s3_errors(  # noqa: PLR0917 (one argument per @given strategy)
    method: str,
    path: str,
    query: tuple[tuple[str, str], ...],
    authorization: str | None,
    amz_date: str | None,
    date: str | None,
    sha: str | None,
    presign: dict[str, str] | None,
) -> None:
    tally("sigv4").count(0)
    headers = [("host", "127.0.0.1")]
    for name, value in (
        ("authorization", authorization),
        ("x-amz-date", amz_date),
        ("date", date),
        ("x-amz-content-sha256", sha),
    ):
        if value is not None:
            headers.append((name, value))
    if presign is not None:
        query = (*query, *presign.items())
    head = RequestHead(method=method, path=path, query=query, headers=tuple(headers))
    now = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=30)
    with pytest.raises(SIGV4_ERRORS):
        verify_request(head, {"AKID": "secret"}, now)


def test_known_bug_filters_do_not_swallow_everything() -> None:
    """The tolerances for known bugs are narrow: an ordinary request is never excused."""
    with memory_gateway() as gateway:
        seen = Tally()
        head = RequestHead(method="GET", path="/in/a.txt")
        answer = handle_checked(gateway, head, [], seen)
        assert answer is not None
        assert answer.body == INPUT_FILES["a.txt"]
        assert seen.known == {}
