"""Load: 64 boto3 clients against the threaded server on the embedded store, each doing a mix
of PUT / GET (whole and ranged) / HEAD / LIST / DELETE / DeleteObjects / copy / multipart for a
sustained, bounded run, every byte read checked against what was written; and writers racing on
one key, which must end with one complete version, never a mix.

``PACHS3_SOAK_SECONDS`` sets the run's length (default 20 s; the ``fuzz`` nox session uses 40).
The process's resident memory is sampled throughout and must stay bounded.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hostile_support import INPUT_FILES, Serve, rss_bytes

from pachs3 import SidecarGateway

MiB = 1 << 20
CLIENTS = 64
SOAK_SECONDS = float(os.environ.get("PACHS3_SOAK_SECONDS", "20"))
MULTIPART_AT_ONCE = 4
"""Multipart uploads carry a 5 MiB part; this many at a time keeps the clients' own memory
(not the server's) from dominating the RSS measurement."""


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="default",
        aws_secret_access_key="default",
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=4,
        ),
    )


def payload(seed: str, size: int) -> bytes:
    """Deterministic, distinct bytes for (seed, size)."""
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    reps = size // len(block) + 1
    return (block * reps)[:size]


def slow_down(error: BaseException) -> bool:
    """503 SlowDown: an object rewritten faster than a GET could read one version of it three
    times over. Retryable (every SDK backs off), and no mix: counted, not an error."""
    response = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == "SlowDown"


@dataclass
class Results:
    ops: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    slow_downs: int = 0
    bytes_written: int = 0
    bytes_read: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, op: str, *, written: int = 0, read: int = 0) -> None:
        with self.lock:
            self.ops[op] += 1
            self.bytes_written += written
            self.bytes_read += read

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def slow_down(self) -> None:
        with self.lock:
            self.slow_downs += 1


class Worker:
    """One client: its own keys under ``c<n>/`` (a model of them), plus the shared hot key."""

    def __init__(self, number: int, s3: Any, results: Results, multipart: threading.Semaphore):
        self.number = number
        self.s3 = s3
        self.results = results
        self.multipart_slots = multipart
        self.random = random.Random(number)
        self.model: dict[str, bytes] = {}
        self.counter = 0

    def key(self) -> str:
        if self.model and self.random.random() < 0.7:
            return self.random.choice(sorted(self.model))
        self.counter += 1
        return f"c{self.number:02d}/{self.random.choice(['', 'sub/', 'sp ace/'])}k{self.counter}"

    def run(self, deadline: float) -> None:
        operations = [
            (self.put, 30),
            (self.get, 25),
            (self.ranged_get, 10),
            (self.head, 5),
            (self.list, 8),
            (self.delete, 6),
            (self.delete_many, 3),
            (self.copy, 5),
            (self.multipart, 2),
            (self.hot_put, 3),
            (self.hot_get, 3),
        ]
        functions = [f for f, _ in operations]
        weights = [w for _, w in operations]
        while time.monotonic() < deadline:
            operation = self.random.choices(functions, weights)[0]
            try:
                operation()
            except Exception as exc:
                self.results.fail(f"client {self.number} {operation.__name__}: {exc!r}"[:500])
        self.verify_all()

    # -- operations ---------------------------------------------------------------------------

    def put(self) -> None:
        key = self.key()
        size = self.random.choice([0, 1, 100, 4096, 65_536, 200_000, MiB + 7])
        self.counter += 1
        data = payload(f"{key}#{self.counter}", size)
        answer = self.s3.put_object(Bucket="out", Key=key, Body=data)
        self.check(answer["ETag"] == f'"{hashlib.md5(data).hexdigest()}"', f"PUT etag {key}")
        self.model[key] = data
        self.results.done("put", written=size)

    def get(self) -> None:
        if not self.model:
            return self.put()
        key = self.random.choice(sorted(self.model))
        data = self.s3.get_object(Bucket="out", Key=key)["Body"].read()
        self.check(data == self.model[key], f"GET {key}: {len(data)} bytes differ")
        self.results.done("get", read=len(data))
        return None

    def ranged_get(self) -> None:
        candidates = [k for k, v in self.model.items() if v]
        if not candidates:
            return self.put()
        key = self.random.choice(sorted(candidates))
        stored = self.model[key]
        start = self.random.randrange(len(stored))
        end = self.random.randrange(start, len(stored))
        data = self.s3.get_object(Bucket="out", Key=key, Range=f"bytes={start}-{end}")
        body = data["Body"].read()
        self.check(body == stored[start : end + 1], f"range {start}-{end} of {key}")
        self.results.done("ranged-get", read=len(body))
        return None

    def head(self) -> None:
        key = self.key()
        try:
            answer = self.s3.head_object(Bucket="out", Key=key)
        except self.s3.exceptions.ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            self.check(status == 404 and key not in self.model, f"HEAD {key}: {status}")
        else:
            self.check(key in self.model, f"HEAD {key} exists but was deleted")
            self.check(answer["ContentLength"] == len(self.model.get(key, b"")), f"HEAD {key}")
        self.results.done("head")

    def list(self) -> None:
        prefix = f"c{self.number:02d}/"
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self.s3.list_objects_v2(Bucket="out", Prefix=prefix, MaxKeys=7, **token)
            keys += [entry["Key"] for entry in page.get("Contents", [])]
            if not page["IsTruncated"]:
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        self.check(keys == sorted(self.model), f"LIST {prefix}: {len(keys)} vs {len(self.model)}")
        self.results.done("list")

    def delete(self) -> None:
        key = self.key()
        self.s3.delete_object(Bucket="out", Key=key)
        self.model.pop(key, None)
        self.results.done("delete")

    def delete_many(self) -> None:
        keys = [self.key() for _ in range(self.random.randint(1, 5))]
        answer = self.s3.delete_objects(
            Bucket="out", Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        self.check(not answer.get("Errors"), f"DeleteObjects: {answer.get('Errors')}")
        for key in keys:
            self.model.pop(key, None)
        self.results.done("delete-objects")

    def copy(self) -> None:
        dst = self.key()
        if self.model and self.random.random() < 0.6:
            src = self.random.choice(sorted(self.model))
            if src == dst:
                return
            source = {"Bucket": "out", "Key": src}
            data = self.model[src]
        else:
            src = self.random.choice(sorted(INPUT_FILES))
            source = {"Bucket": "in", "Key": src}
            data = INPUT_FILES[src]
        self.s3.copy_object(Bucket="out", Key=dst, CopySource=source)
        self.model[dst] = data
        self.results.done("copy")

    def multipart(self) -> None:
        if not self.multipart_slots.acquire(blocking=False):
            return self.put()
        try:
            key = self.key()
            first = payload(f"{key}#mp1#{self.counter}", 5 * MiB)
            last = payload(f"{key}#mp2#{self.counter}", self.random.randint(1, 300_000))
            started = self.s3.create_multipart_upload(Bucket="out", Key=key)
            upload_id = started["UploadId"]
            parts = []
            for number, data in ((1, first), (2, last)):
                answer = self.s3.upload_part(
                    Bucket="out", Key=key, UploadId=upload_id, PartNumber=number, Body=data
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            if self.random.random() < 0.25:
                self.s3.abort_multipart_upload(Bucket="out", Key=key, UploadId=upload_id)
                self.results.done("multipart-abort", written=len(first) + len(last))
                return None
            self.s3.complete_multipart_upload(
                Bucket="out", Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            self.model[key] = first + last
            self.results.done("multipart", written=len(first) + len(last))
        finally:
            self.multipart_slots.release()
        return None

    def hot_put(self) -> None:
        """Every client writes the one shared key; the body names its own digest."""
        self.counter += 1
        body = payload(f"hot#{self.number}#{self.counter}", self.random.choice([10, 300_000]))
        tagged = hashlib.sha256(body).hexdigest().encode() + body
        self.s3.put_object(Bucket="out", Key="shared/hot", Body=tagged)
        self.results.done("hot-put", written=len(tagged))

    def hot_get(self) -> None:
        try:
            data = self.s3.get_object(Bucket="out", Key="shared/hot")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return
        except Exception as exc:
            if not slow_down(exc):
                raise
            self.results.slow_down()
            return
        complete = hashlib.sha256(data[64:]).hexdigest().encode() == data[:64]
        self.check(complete, "a read of the shared key saw a mix of two versions")
        self.results.done("hot-get", read=len(data))

    def verify_all(self) -> None:
        """After the run: everything this client believes it stored, byte for byte."""
        for key, data in sorted(self.model.items()):
            try:
                got = self.s3.get_object(Bucket="out", Key=key)["Body"].read()
            except Exception as exc:
                self.results.fail(f"final GET {key}: {exc!r}")
                continue
            self.check(got == data, f"final GET {key}")
            self.results.done("verify", read=len(got))

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.results.fail(f"client {self.number}: {message}")


@pytest.fixture
def sampler() -> Iterator[list[int]]:
    """RSS samples every 50 ms while the test runs."""
    samples = [rss_bytes()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            samples.append(rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    yield samples
    stop.set()
    thread.join(5)


def test_64_clients_mixed_operations(
    local_gw: SidecarGateway, serve: Serve, sampler: list[int]
) -> None:
    server = serve(local_gw)
    results = Results()
    slots = threading.Semaphore(MULTIPART_AT_ONCE)
    workers = [Worker(n, s3_client(server.endpoint_url), results, slots) for n in range(CLIENTS)]
    baseline = rss_bytes()
    deadline = time.monotonic() + SOAK_SECONDS
    threads = [threading.Thread(target=w.run, args=(deadline,), daemon=True) for w in workers]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SOAK_SECONDS + 120)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "a client hung"
    # Everything stored is what the clients think they stored, and nothing else.
    out = local_gw.output_commit
    assert out is not None
    listed = [info.path for info in local_gw.backend.walk_files(out.ref)]
    expected = sorted({k for w in workers for k in w.model} | {"shared/hot"})
    peak = max(sampler) - baseline
    summary = {
        "engine": "soak",
        "target": "64-clients",
        "clients": CLIENTS,
        "seconds": round(elapsed, 1),
        "ops": dict(results.ops),
        "total_ops": sum(results.ops.values()),
        "bytes_written": results.bytes_written,
        "bytes_read": results.bytes_read,
        "errors": len(results.errors),
        "slow_downs": results.slow_downs,
        "rss_growth_mib": round(peak / MiB, 1),
    }
    print("\n[soak]", json.dumps(summary))
    if os.environ.get("PACHS3_FUZZ_REPORT"):
        with open(os.environ["PACHS3_FUZZ_REPORT"], "a") as report:
            report.write(json.dumps(summary) + "\n")
    assert results.errors == [], results.errors[:10]
    assert [k for k in listed if k != "shared/hot"] == [k for k in expected if k != "shared/hot"]
    assert results.ops["get"] > 0
    assert results.ops["multipart"] + results.ops["multipart-abort"] > 0
    # The server streams: its memory does not follow the bytes moved (GBs) - only the clients'
    # own buffers (a 5 MiB part per multipart slot, a few MiB per client) and caches.
    assert peak < 768 * MiB, f"RSS grew by {peak / MiB:.0f} MiB"


def test_racing_writers_leave_one_complete_version(local_gw: SidecarGateway, serve: Serve) -> None:
    """32 writers PUT 1 MiB each to one key at the same instant while readers read it; every
    read and the final state is exactly one writer's bytes."""
    server = serve(local_gw)
    writers = 32
    clients = [s3_client(server.endpoint_url) for _ in range(writers + 4)]
    versions = {payload(f"race#{i}", MiB): i for i in range(writers)}
    by_writer = {i: data for data, i in versions.items()}
    failures: list[str] = []
    slow_downs: list[str] = []
    for round_number in range(3):
        barrier = threading.Barrier(writers + 4)
        stop = threading.Event()

        def write(i: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                clients[i].put_object(Bucket="out", Key="race/key", Body=by_writer[i])
            except Exception as exc:
                failures.append(f"writer {i}: {exc!r}")

        def read(
            i: int,
            barrier: threading.Barrier = barrier,
            stop: threading.Event = stop,
            round_number: int = round_number,
        ) -> None:
            barrier.wait()
            while not stop.is_set():
                try:
                    data = clients[i].get_object(Bucket="out", Key="race/key")["Body"].read()
                except clients[i].exceptions.NoSuchKey:
                    continue
                except Exception as exc:
                    (slow_downs if slow_down(exc) else failures).append(f"reader {i}: {exc!r}")
                    continue
                if data not in versions:
                    failures.append(f"round {round_number}: a read saw {len(data)} mixed bytes")

        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        threads += [threading.Thread(target=read, args=(i,)) for i in range(writers, writers + 4)]
        for thread in threads:
            thread.start()
        for thread in threads[:writers]:
            thread.join(120)
        stop.set()
        for thread in threads[writers:]:
            thread.join(30)
        final = clients[0].get_object(Bucket="out", Key="race/key")
        data = final["Body"].read()
        assert data in versions, "the final version is a mix"
        assert final["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    print(f"\n[race] 3 rounds x {writers} writers, 4 readers: {len(slow_downs)} SlowDown answers")
    assert failures == []
