"""Listing: ListObjectsV2 page by page over 10 k and 100 k keys, and delimiter listings.

Keys are ``pNNN/kNNNNNNNN`` spread over ``list_prefixes`` prefixes, so the same store serves a
full listing (1000 keys a page, every page timed) and a delimiter listing (one page of common
prefixes). Stores are filled through their own APIs (pachs3's ``put_files``, moto's backend),
not through S3, and listed in-process by the same client recipe. The client floor answers every
page with a canned 1000-key document: what parsing the pages costs boto3.

The delimiter listing of ``delimiter_prefixes`` prefixes over ``delimiter_keys`` (1 M) keys runs
on pachs3's embedded store alone: it must skip whole prefixes instead of scanning them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Json,
    Preset,
    interleave,
    median,
    paired_ratio,
    settle,
    summary,
    timed,
)
from benchmarks.targets import (
    INPUT_BUCKET,
    CannedReplies,
    fill_input,
    floor_client,
    input_gateway,
    moto_backend,
    moto_in_process,
    pachs3_client,
)

PAGE = 1000
EDGE_PAGES = 3  # first/last page times are the mean of this many pages at each end


@dataclass(frozen=True, slots=True)
class Pass:
    """One full listing: total seconds and each page's seconds."""

    keys: int
    seconds: float
    pages: list[float]

    @property
    def keys_per_second(self) -> float:
        return self.keys / self.seconds

    @property
    def first(self) -> float:
        return _mean(self.pages[:EDGE_PAGES])

    @property
    def last(self) -> float:
        return _mean(self.pages[-EDGE_PAGES:])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def keys(count: int, prefixes: int) -> Iterator[tuple[str, bytes]]:
    for n in range(count):
        yield f"p{n % prefixes:03d}/k{n:08d}", b"v"


def full_listing(client: Any) -> Pass:
    pages: list[float] = []
    total = 0
    token: dict[str, str] = {}
    began = time.perf_counter()
    while True:
        start = time.perf_counter()
        page = client.list_objects_v2(Bucket=INPUT_BUCKET, MaxKeys=PAGE, **token)
        pages.append(time.perf_counter() - start)
        total += page.get("KeyCount", 0)
        if not page.get("IsTruncated"):
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    return Pass(keys=total, seconds=time.perf_counter() - began, pages=pages)


def floor_listing(full: Any, last: Any, count: int) -> Pass:
    """As many canned pages as a real listing of ``count`` keys has, the last one partial."""
    pages = []
    began = time.perf_counter()
    whole, rest = divmod(count, PAGE)
    for client in [full] * whole + ([last] if rest else []):
        pages.append(timed(lambda c=client: c.list_objects_v2(Bucket=INPUT_BUCKET, MaxKeys=PAGE)))
    return Pass(keys=count, seconds=time.perf_counter() - began, pages=pages)


def canned_listing(count: int) -> Any:
    return floor_client(CannedReplies(body=b"", list_keys=[f"k/{n:08d}" for n in range(count)]))


def delimiter_listing(client: Any, expected: int) -> float:
    began = time.perf_counter()
    page = client.list_objects_v2(Bucket=INPUT_BUCKET, Delimiter="/", MaxKeys=PAGE)
    seconds = time.perf_counter() - began
    found = len(page.get("CommonPrefixes", []))
    if found != expected:
        raise AssertionError(f"delimiter listing found {found} prefixes, expected {expected}")
    return seconds


def run(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore

    result: Json = {"page_size": PAGE, "prefixes": preset.list_prefixes, "sizes": {}}
    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(moto_in_process())
        moto.create_bucket(Bucket=INPUT_BUCKET)
        backend = moto_backend()
        filled = 0
        for count in preset.list_sizes:
            store = LocalStore(workdir / f"list-{count}")
            stack.callback(store.close)
            began = time.perf_counter()
            fill_input(store, keys(count, preset.list_prefixes))
            pachs3_fill = time.perf_counter() - began
            # moto's bucket grows from one size to the next (the keys are a common prefix).
            for key, data in _slice(keys(count, preset.list_prefixes), filled):
                backend.put_object(INPUT_BUCKET, key, data)
            filled = count
            with input_gateway(store) as gateway:
                settle()
                clients: dict[str, Any] = {
                    "floor": canned_listing(PAGE),
                    "floor_last": canned_listing(count % PAGE or PAGE),
                    "pachs3": pachs3_client(gateway),
                    "moto": moto,
                }
                result["sizes"][str(count)] = _compare(clients, count, preset)
                result["sizes"][str(count)]["pachs3_fill_seconds"] = pachs3_fill
    result["delimiter_large"] = _delimiter_large(preset, workdir)
    return result


def _slice(items: Iterator[tuple[str, bytes]], skip: int) -> Iterator[tuple[str, bytes]]:
    for n, item in enumerate(items):
        if n >= skip:
            yield item


def _compare(clients: dict[str, Any], count: int, preset: Preset) -> Json:
    measures: dict[str, Callable[[], Pass]] = {
        "floor": lambda: floor_listing(clients["floor"], clients["floor_last"], count),
        "pachs3": lambda: _checked(full_listing(clients["pachs3"]), count),
        "moto": lambda: _checked(full_listing(clients["moto"]), count),
    }
    passes = interleave(measures, preset.list_rounds, budgets={"moto": preset.list_peer_budget})
    rates = {name: [p.keys_per_second for p in runs] for name, runs in passes.items()}
    delimiter = interleave(
        {
            "pachs3": lambda: delimiter_listing(clients["pachs3"], preset.list_prefixes),
            "moto": lambda: delimiter_listing(clients["moto"], preset.list_prefixes),
        },
        max(3, preset.list_rounds),
    )
    return {
        "pages": len(passes["pachs3"][0].pages),
        "keys_per_second": {name: summary(values) for name, values in rates.items()},
        "ratios": {
            "pachs3/moto": paired_ratio(rates["pachs3"], rates["moto"]),
            "pachs3/floor": paired_ratio(rates["pachs3"], rates["floor"]),
            "moto/floor": paired_ratio(rates["moto"], rates["floor"]),
        },
        "first_page_seconds": {n: summary([p.first for p in r]) for n, r in passes.items()},
        "last_page_seconds": {n: summary([p.last for p in r]) for n, r in passes.items()},
        "last_over_first": {n: median([p.last / p.first for p in r]) for n, r in passes.items()},
        "page_seconds": {n: r[0].pages for n, r in passes.items() if n != "floor"},
        "delimiter_seconds": {name: summary(values) for name, values in delimiter.items()},
        "delimiter_speedup": paired_ratio(delimiter["moto"], delimiter["pachs3"]),
    }


def _checked(listing: Pass, count: int) -> Pass:
    if listing.keys != count:
        raise AssertionError(f"listed {listing.keys} keys, expected {count}")
    return listing


def _delimiter_large(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore

    count, prefixes = preset.delimiter_keys, preset.delimiter_prefixes
    with LocalStore(workdir / "delimiter") as store:
        began = time.perf_counter()
        fill_input(store, keys(count, prefixes))
        fill = time.perf_counter() - began
        with input_gateway(store) as gateway:
            client = pachs3_client(gateway)
            settle()
            delimiter_listing(client, prefixes)  # warm
            seeks = store.range_scans
            samples = [delimiter_listing(client, prefixes) for _ in range(5)]
            seeks = (store.range_scans - seeks) / len(samples)
            middle = f"p{prefixes // 2:03d}/"
            one_prefix = [
                timed(
                    lambda: client.list_objects_v2(
                        Bucket=INPUT_BUCKET, Prefix=middle, Delimiter="/", MaxKeys=PAGE
                    )
                )
                for _ in range(5)
            ]
    return {
        "keys": count,
        "prefixes": prefixes,
        "fill_seconds": fill,
        "fill_keys_per_second": count / fill,
        "seconds": summary(samples),
        "seeks": seeks,
        "first_page_of_one_prefix_seconds": summary(one_prefix),
    }
