"""CopyObject (input -> out) and CompleteMultipartUpload as the object grows (1, 64, 512 MiB).

Both are metadata operations in pachs3 (a copied file shares the source's blobs; a completed
upload is the list of its parts' segments), so their time must not grow with the object. moto
copies and joins the bytes, which is the contrast. In-process for both, same client recipe; only
the CopyObject or CompleteMultipartUpload call is timed (the parts are uploaded beforehand).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Json,
    MiB,
    Preset,
    chunks_of,
    interleave,
    median,
    settle,
    summary,
    timed,
)
from benchmarks.targets import (
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    fill_input_stream,
    input_gateway,
    moto_backend,
    moto_in_process,
    pachs3_client,
)

FLAT_LIMIT = 2.0
""""Flat": the largest object's median time is at most this many times the smallest's."""


MOTO_BUDGET = 15.0
"""Seconds of moto calls per (series, size) after its first round."""


def source_key(size: int) -> str:
    return f"source-{size // MiB}MiB.bin"


def parts(size: int, part_size: int, block: bytes) -> list[bytes]:
    count, last = divmod(size, part_size)
    pieces = list(chunks_of(block, part_size, count))
    if last:
        pieces.append(os.urandom(last))
    return pieces


def copy(client: Any, size: int, number: int) -> float:
    key = f"copy-{size}-{number}"
    seconds = timed(
        lambda: client.copy_object(
            Bucket=OUTPUT_BUCKET,
            Key=key,
            CopySource={"Bucket": INPUT_BUCKET, "Key": source_key(size)},
        )
    )
    client.delete_object(Bucket=OUTPUT_BUCKET, Key=key)  # moto would hold every copy
    return seconds


def complete(client: Any, size: int, pieces: list[bytes], number: int, *, copy: bool) -> float:
    """Start an upload, add ``pieces`` as its parts, and time CompleteMultipartUpload alone.

    With ``copy`` the parts are made server-side (UploadPartCopy of the matching ranges of the
    source object, which holds the same bytes): moto's in-process upload of a large part body
    crawls through botocore's aws-chunked wrapper (minutes for 512 MiB), and only the
    completion is timed anyway.
    """
    key = f"multipart-{size}-{number}"
    upload = client.create_multipart_upload(Bucket=OUTPUT_BUCKET, Key=key)["UploadId"]
    done = []
    offset = 0
    for index, piece in enumerate(pieces, start=1):
        common = {"Bucket": OUTPUT_BUCKET, "Key": key, "UploadId": upload, "PartNumber": index}
        if copy:
            answer = client.upload_part_copy(
                **common,
                CopySource={"Bucket": INPUT_BUCKET, "Key": source_key(size)},
                CopySourceRange=f"bytes={offset}-{offset + len(piece) - 1}",
            )["CopyPartResult"]
        else:
            answer = client.upload_part(**common, Body=piece)
        offset += len(piece)
        done.append({"PartNumber": index, "ETag": answer["ETag"]})
    seconds = timed(
        lambda: client.complete_multipart_upload(
            Bucket=OUTPUT_BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
        )
    )
    client.delete_object(Bucket=OUTPUT_BUCKET, Key=key)
    return seconds


# Two series for completion: with one part (the object's size grows, nothing else does: this
# is the "flat in object size" verdict) and with parts of ``flat_part_size`` (what
# upload_file sends: the part count grows with the size too, and the document with it).
SERIES = ("copy", "complete_one_part", "complete")


def run(preset: Preset, workdir: Path) -> Json:
    from pachs3 import LocalStore

    block = os.urandom(preset.flat_part_size)
    result: Json = {
        "sizes": list(preset.flat_sizes),
        "part_size": preset.flat_part_size,
        "rounds": preset.flat_rounds,
        "flat_limit": FLAT_LIMIT,
        **{series: {} for series in SERIES},
    }
    with contextlib.ExitStack() as stack:
        store = LocalStore(workdir / "flat-store")
        stack.callback(store.close)
        for size in preset.flat_sizes:
            fill_input_stream(
                store, source_key(size), iter(parts(size, preset.flat_part_size, block))
            )
        clients = {"pachs3": pachs3_client(stack.enter_context(input_gateway(store)))}
        clients["moto"] = stack.enter_context(moto_in_process())
        for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
            clients["moto"].create_bucket(Bucket=bucket)
        for size in preset.flat_sizes:
            moto_backend().put_object(
                INPUT_BUCKET, source_key(size), b"".join(parts(size, preset.flat_part_size, block))
            )
        pieces = {
            size: {
                "complete": parts(size, preset.flat_part_size, block),
                "complete_one_part": [b"".join(parts(size, preset.flat_part_size, block))],
            }
            for size in preset.flat_sizes
        }
        settle()
        for series in SERIES:
            _measure_series(clients, preset, series, pieces, result)
    smallest, largest = str(preset.flat_sizes[0]), str(preset.flat_sizes[-1])
    for series in SERIES:
        result[f"{series}_growth"] = {
            name: _growth(result[series][largest][name], result[series][smallest][name])
            for name in clients
        }
    return result


def _measure_series(
    clients: dict[str, Any],
    preset: Preset,
    series: str,
    pieces: dict[int, dict[str, list[bytes]]],
    result: Json,
) -> None:
    """Every (target, size) of one series in each round, so drift in the machine's load does
    not masquerade as growth with size."""
    counter = iter(range(1_000_000))

    def measure(name: str, size: int) -> Callable[[], float]:
        if series == "copy":
            return lambda: copy(clients[name], size, next(counter))
        return lambda: complete(
            clients[name], size, pieces[size][series], next(counter), copy=name == "moto"
        )

    for name in clients:  # the first call of a kind warms caches: not measured
        measure(name, preset.flat_sizes[0])()
    measures = {
        f"{name}@{size}": measure(name, size) for size in preset.flat_sizes for name in clients
    }
    rounds = max(9, preset.flat_rounds) if series == "copy" else preset.flat_rounds
    # moto copies bytes (seconds a call at 512 MiB): measured while under its budget.
    budgets = {key: MOTO_BUDGET for key in measures if key.startswith("moto@")}
    times = interleave(measures, rounds, budgets=budgets)
    for size in preset.flat_sizes:
        cell = {name: summary(times[f"{name}@{size}"]) for name in clients}
        result[series][str(size)] = {**cell, "parts": len(pieces[size].get(series, [b""]))}


def _growth(large: Json, small: Json) -> float | None:
    top, bottom = median(large["samples"]), median(small["samples"])
    return top / bottom if top is not None and bottom else None
