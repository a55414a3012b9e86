"""Where pachs3's time goes on a benchmark path: ``python -m benchmarks.profile CASE``.

    python -m benchmarks.profile inprocess-put      # cProfile, in-process hook (also -get, -head)
    python -m benchmarks.profile list --keys 100000 # cProfile, ListObjectsV2 pages
    python -m benchmarks.profile http-get           # py-spy (GIL holder), serve() in-process

In-process cases run under cProfile and print, per request, the client's total, the time inside
``SidecarGateway.handle`` (what pachs3 adds to the client floor), then the pachs3 functions with
the most own time and the library calls pachs3 makes. HTTP cases sample the whole process with
py-spy (``--gil``: the thread holding the GIL, which is what a 2-core, GIL-bound benchmark pays
for) and split the samples into client and server, then list the server's hottest functions.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import listing, small
from benchmarks.harness import rate
from benchmarks.targets import fill_input, input_gateway, new_client, pachs3_client

CASES = (
    "inprocess-put",
    "inprocess-get",
    "inprocess-head",
    "http-put",
    "http-get",
    "http-head",
    "list",
)


@contextlib.contextmanager
def _gateway(workdir: Path, files: list[tuple[str, bytes]], durability: str) -> Iterator[Any]:
    from pachs3 import LocalStore

    with LocalStore(workdir / "store", durability=durability) as store:  # type: ignore[arg-type]
        fill_input(store, iter(files))
        with input_gateway(store) as gateway:
            yield gateway


def _is_pachs3(filename: str) -> bool:
    return f"{os.sep}pachs3{os.sep}" in filename and "benchmarks" not in filename


def _cprofile(op: Callable[[int], object], seconds: float, top: int, ops_label: str) -> None:
    for i in range(50):
        op(i)
    profile = cProfile.Profile()
    count = 0
    began = time.perf_counter()
    profile.enable()
    while time.perf_counter() - began < seconds:
        op(count)
        count += 1
    profile.disable()
    stats = pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    handle = next(
        (
            ct
            for (file, _line, name), (_cc, _nc, _tt, ct, _c) in raw.items()
            if name == "handle" and file.endswith(f"pachs3{os.sep}gateway.py")
        ),
        0.0,
    )
    print(f"{count} {ops_label} in {seconds:.1f} s under cProfile")
    print(f"  per request: {total / count * 1e6:8.0f} us profiled total")
    print(
        f"  inside SidecarGateway.handle: {handle / count * 1e6:8.0f} us "
        f"({handle / total:.0%} of the total; the rest is the client)"
    )
    own = sorted(
        (
            (tt, nc, f"{Path(file).name}:{line} {name}")
            for (file, line, name), (_cc, nc, tt, _ct, _c) in raw.items()
            if _is_pachs3(file)
        ),
        reverse=True,
    )
    print("\n  pachs3 functions by own time (us per request, calls per request):")
    for tt, nc, label in own[:top]:
        print(f"    {tt / count * 1e6:8.1f}  {nc / count:6.1f}  {label}")
    called: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for (file, line, name), (_cc, _nc, _tt, _ct, callers) in raw.items():
        if _is_pachs3(file):
            continue
        from_pachs3 = [k for k in callers if _is_pachs3(k[0])]
        if not from_pachs3:
            continue
        share = sum(callers[k][3] for k in from_pachs3)  # cumulative time under pachs3 callers
        label = f"{Path(file).name}:{line} {name}" if file != "~" else name
        called[label] += share
        calls[label] += sum(callers[k][1] for k in from_pachs3)
    print("\n  library calls made by pachs3 (inclusive us per request, calls per request):")
    for label, seconds_in in called.most_common(top):
        print(f"    {seconds_in / count * 1e6:8.1f}  {calls[label] / count:6.1f}  {label}")


def _is_client(frame: str) -> bool:
    return frame.startswith("rate.<locals>.worker") or any(
        part in frame for part in ("botocore/", "boto3/", "urllib3/", "s3transfer/")
    )


def _in_pachs3(frames: list[str]) -> bool:
    return any("(pachs3/" in frame for frame in frames)


def _outside_client(frames: list[str]) -> bool:
    return not any(_is_client(frame) for frame in frames)


def _py_spy(
    op: Callable[[int], object],
    seconds: float,
    threads: int,
    top: int,
    is_server: Callable[[list[str]], bool] = _outside_client,
) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    rate(op, threads=threads, seconds=1.0)  # warm
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "stacks.txt"
        sampler = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(os.getpid()),
                "--gil",
                "--nonblocking",
                "-r",
                "250",
                "-d",
                str(int(seconds)),
                "-f",
                "raw",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        done = rate(op, threads=threads, seconds=seconds)
        sampler.wait()
        stacks = out.read_text(encoding="utf-8").splitlines()
    print(f"{done.per_second:.0f} ops/s while sampled ({threads} client thread(s))")
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    sides: collections.Counter[str] = collections.Counter()
    for line in stacks:
        stack, _, weight = line.rpartition(" ")
        count = int(weight)
        frames = stack.split(";")
        side = "server" if is_server(frames) else "client"
        sides[side] += count
        if side != "server":
            continue
        for frame in dict.fromkeys(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    total = sum(sides.values()) or 1
    server = sides["server"] or 1
    print(
        f"GIL samples: client {sides['client'] / total:.0%}, server {sides['server'] / total:.0%}"
    )
    print("\nserver functions, inclusive share of server samples:")
    for frame, count in inclusive.most_common(top * 2):
        print(f"  {count / server:6.1%}  {frame}")
    print("\nserver functions, own share of server samples:")
    for frame, count in own.most_common(top):
        print(f"  {count / server:6.1%}  {frame}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--threads", type=int, default=1, help="client threads (in-process: >1 uses py-spy)"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the store (list)")
    parser.add_argument(
        "--durability", default="process-crash", choices=("process-crash", "power-loss")
    )
    args = parser.parse_args(argv)
    body = os.urandom(4096)
    keys = [f"obj/{n:05d}" for n in range(100)]
    with tempfile.TemporaryDirectory(prefix="pachs3-profile-") as scratch:
        workdir = Path(scratch)
        if args.case == "list":
            files = list(listing.keys(args.keys, 100))
            with _gateway(workdir, files, args.durability) as gateway:
                client = pachs3_client(gateway)

                def page(i: int) -> object:
                    return client.list_objects_v2(
                        Bucket="input",
                        MaxKeys=listing.PAGE,
                        StartAfter=files[(i * listing.PAGE) % len(files)][0],
                    )

                _cprofile(page, args.seconds, args.top, "ListObjectsV2 pages")
            return 0
        kind, op = args.case.split("-")
        with _gateway(workdir, [(k, body) for k in keys], args.durability) as gateway:
            if kind == "inprocess":
                calls = small.operations(pachs3_client(gateway), body, keys)
                if args.threads == 1:
                    _cprofile(calls[op], args.seconds, args.top, f"{op.upper()}s")
                else:  # cProfile sees one thread only: sample them all ("server" = pachs3)
                    _py_spy(calls[op], args.seconds, args.threads, args.top, _in_pachs3)
            else:
                server = gateway.serve()
                calls = small.operations(new_client(server.endpoint_url), body, keys)
                _py_spy(calls[op], args.seconds, args.threads, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
