"""encoding-type=url, continuation tokens, and the listing fold checked against a brute-force
model of S3's ListObjects over random key sets, page by page, driven the way a backend walks
(restarting strictly after ``skip_after``)."""

from __future__ import annotations

import bisect
from urllib.parse import unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pachs3.core.errors import InvalidArgument
from pachs3.core.listing import (
    ListingBuilder,
    Verdict,
    decode_token,
    encode_key_url,
    encode_token,
    prefix_fence,
)

# --- encoding-type=url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("dir/small.txt", "dir/small.txt"),
        ("m/sp ace+plus%25.txt", "m/sp%20ace%2Bplus%2525.txt"),  # clients.md §5 item 13
        (
            "dir/sp ace+plus%pct&amp=eq\u00fc\u20ac~.txt",
            "dir/sp%20ace%2Bplus%25pct%26amp%3Deq%C3%BC%E2%82%AC~.txt",
        ),
        ("a-b_c.d~e", "a-b_c.d~e"),
        ("\x01\r\n", "%01%0D%0A"),
        ("*'()!,;:@$?#[]", "%2A%27%28%29%21%2C%3B%3A%40%24%3F%23%5B%5D"),
        ("", ""),
        # ceph s3-tests test_bucket_list_encoding_basic
        ("quux ab/", "quux%20ab/"),
        ("foo+1/", "foo%2B1/"),
    ],
)
def test_encode_key_url(key: str, encoded: str) -> None:
    assert encode_key_url(key) == encoded


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_encoding_is_what_botocore_decodes(key: str) -> None:
    """botocore decodes listing fields with unquote_plus (handlers._decode_list_object)."""
    encoded = encode_key_url(key)
    assert unquote_plus(encoded) == key
    assert encoded.isascii()
    assert not set(encoded) & set(" &<>")


# --- continuation tokens -------------------------------------------------------------------------


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1))
def test_token_round_trip(key: str) -> None:
    token = encode_token(key)
    assert token.isascii()
    assert all(c.isalnum() or c in "-_" for c in token)  # nothing needs percent-encoding
    assert decode_token(token) == key
    assert decode_token(token + "=" * (-len(token) % 4)) == key  # padded form accepted


@pytest.mark.parametrize(
    "token",
    ["", "=", "a", "!!!!", "ab$d", "ZGlyL2VtcHR5LnR4dA==x", "/w", "_-8", "ZGlyL2VtcHR5LnR4dB"],
)
def test_garbage_tokens(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token)
    assert str(caught.value) == "The continuation token provided is incorrect"
    assert caught.value.status == 400


def test_prefix_fence() -> None:
    fence = prefix_fence("a/")
    for below in ("a/", "a/zzz", "a/\uffff\uffff", "a/\U0010ffff"):
        assert below <= fence
    assert fence < "a0"
    assert fence < "a/\U0010ffffx"  # the one shape it does not cover; the builder skips it


# --- the fold, unit cases ------------------------------------------------------------------------


def run(
    keys: list[str], prefix: str = "", delimiter: str = "", max_keys: int = 1000, after: str = ""
) -> tuple[list[str], list[str], bool, str | None, int]:
    """Drive a builder as the executor does: walk strictly after ``after``, restart after a
    verdict's ``skip_after``. Returns (keys, prefixes, truncated, last, offers made)."""
    index = sorted(set(keys))
    builder = ListingBuilder(
        prefix=prefix, delimiter=delimiter, max_keys=max_keys, start_after=after
    )
    contents: list[str] = []
    offers = 0
    start = after
    while not builder.done:
        position = bisect.bisect_right(index, start)
        restart = None
        for path in index[position:]:
            offers += 1
            verdict = builder.offer(path)
            if verdict.kind == "content":
                contents.append(path)
            elif verdict.kind == "stop":
                break
            if verdict.skip_after is not None:
                restart = verdict.skip_after
                break
        else:
            builder.finish()
        if restart is None:
            break
        start = restart
    assert builder.key_count == len(contents) + len(builder.prefixes)
    return contents, builder.prefixes, builder.truncated, builder.last, offers


KEYS = [
    "a.txt",
    "dir/",
    "dir/big.bin",
    "dir/small.txt",
    "dir/sub/",
    "dir/sub/deep.txt",
    "dir0",
    "dir~x",
    "e",
]


@pytest.mark.parametrize(
    ("prefix", "delimiter", "max_keys", "contents", "prefixes", "truncated"),
    [
        ("", "", 1000, KEYS, [], False),
        ("", "/", 1000, ["a.txt", "dir0", "dir~x", "e"], ["dir/"], False),
        ("dir/", "/", 1000, ["dir/", "dir/big.bin", "dir/small.txt"], ["dir/sub/"], False),
        ("dir", "/", 1000, ["dir0", "dir~x"], ["dir/"], False),
        ("dir/s", "/", 1000, ["dir/small.txt"], ["dir/sub/"], False),
        ("nope/", "/", 1000, [], [], False),
        ("", "/", 2, ["a.txt"], ["dir/"], True),
        (
            "",
            "/",
            5,
            ["a.txt", "dir0", "dir~x", "e"],
            ["dir/"],
            False,
        ),  # exactly full: not truncated
        ("", "/", 0, [], [], False),  # max-keys=0: empty and not truncated (S3, moto)
        ("", "", 3, ["a.txt", "dir/", "dir/big.bin"], [], True),
        ("", "ir", 1000, ["a.txt", "e"], ["dir"], False),  # multi-character delimiter
        ("d", "/s", 1000, ["dir/", "dir/big.bin", "dir0", "dir~x"], ["dir/s"], False),
        ("dir/sub/", "/", 1000, ["dir/sub/", "dir/sub/deep.txt"], [], False),
    ],
)
def test_fold(  # noqa: PLR0917 - one parameter per table column
    prefix: str,
    delimiter: str,
    max_keys: int,
    contents: list[str],
    prefixes: list[str],
    truncated: bool,
) -> None:
    got = run(KEYS, prefix, delimiter, max_keys)
    assert got[:3] == (contents, prefixes, truncated)


def test_last_is_the_next_marker() -> None:
    _, _, truncated, last, _ = run(KEYS, "", "/", 2)
    assert truncated
    assert last == "dir/"
    # The next page starts after the prefix: "dir/" is not listed again.
    contents, prefixes, truncated, last, _ = run(KEYS, "", "/", 2, after="dir/")
    assert (contents, prefixes, truncated, last) == (["dir0", "dir~x"], [], True, "dir~x")
    assert run(KEYS, "", "/", 2, after="dir~x")[:3] == (["e"], [], False)


def test_start_after_inside_a_prefix_skips_it_with_one_seek() -> None:
    keys = ["a/" + f"{i:04d}" for i in range(500)] + ["b"]
    contents, prefixes, _, _, offers = run(keys, "", "/", 1000, after="a/0007")
    assert (contents, prefixes) == (["b"], [])
    assert offers == 2  # one key under a/ (then a seek past the prefix), then b


def test_common_prefixes_cost_one_offer_each() -> None:
    keys = [f"{d}/{i:04d}" for d in "abcdef" for i in range(300)]
    contents, prefixes, truncated, _, offers = run(keys, "", "/", 1000)
    assert (contents, prefixes, truncated) == ([], [f"{d}/" for d in "abcdef"], False)
    assert offers == 6


def test_key_past_the_fence_is_skipped_not_relisted() -> None:
    keys = ["a/1", "a/\U0010ffff", "a/\U0010ffffz", "a0", "b"]
    contents, prefixes, _, _, _ = run(keys, "", "/", 1000)
    assert (contents, prefixes) == (["a0", "b"], ["a/"])


def test_paths_outside_the_prefix() -> None:
    builder = ListingBuilder(prefix="m/", delimiter="/")
    assert builder.offer("a") == Verdict(kind="skip")
    assert builder.offer("m/x").kind == "content"
    assert builder.offer("n") == Verdict(kind="stop")
    assert builder.done
    assert not builder.truncated
    assert builder.offer("o").kind == "stop"  # stays done


def test_negative_max_keys() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        ListingBuilder(max_keys=-1)


# --- the fold against a model, page by page ------------------------------------------------------


def model(keys: list[str], prefix: str, delimiter: str, after: str) -> list[tuple[str, str]]:
    """Every entry S3 would list after ``after``, in order: ("key", k) or ("prefix", p)."""
    entries: list[tuple[str, str]] = []
    for key in sorted(set(keys)):
        if not key.startswith(prefix) or key <= after:
            continue
        at = key.find(delimiter, len(prefix)) if delimiter else -1
        if at < 0:
            entries.append(("key", key))
            continue
        common = key[: at + len(delimiter)]
        if common <= after or (entries and entries[-1] == ("prefix", common)):
            continue
        entries.append(("prefix", common))
    return entries


ALPHABET = st.sampled_from(["a", "b", "/", "-", "\u00fc", "\U0010ffff"])
KEY = st.text(alphabet=ALPHABET, min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(KEY, max_size=25),
    prefix=st.text(alphabet=ALPHABET, max_size=2),
    delimiter=st.sampled_from(["", "/", "a/", "-"]),
    max_keys=st.integers(1, 6),
)
def test_pages_match_the_model(keys: list[str], prefix: str, delimiter: str, max_keys: int) -> None:
    expected = model(keys, prefix, delimiter, "")
    seen: list[tuple[str, str]] = []
    after = ""
    for _ in range(len(expected) + 2):
        contents, prefixes, truncated, last, _ = run(keys, prefix, delimiter, max_keys, after)
        page = model(keys, prefix, delimiter, after)[:max_keys]
        assert sorted(contents) == [v for k, v in page if k == "key"]
        assert prefixes == [v for k, v in page if k == "prefix"]
        assert truncated == (len(model(keys, prefix, delimiter, after)) > max_keys)
        seen.extend(page)
        if not truncated:
            break
        assert last == page[-1][1]
        after = last
    assert seen == expected
