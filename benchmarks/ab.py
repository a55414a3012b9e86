"""Before/after figures of an optimization, measured in the same run:

    python -m benchmarks.ab REF [--ops get,head,put,list] [--connections 8] [--rounds 5]

Exports ``pachs3/`` as it is at git REF (``git archive``) to a temporary directory and serves
the same store with both versions, ``before`` (REF) and ``after`` (this work tree), each
``python -m pachs3 serve`` in its own process. The raw client of the ``server`` group drives
them in interleaved rounds (the order rotating); it prints requests/s and server CPU
microseconds per request, medians, and the median of the per-round after/before CPU ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import servers
from benchmarks.harness import interleave, median, paired_ratio, python_env
from benchmarks.rawhttp import drive
from benchmarks.server import OPS, SIZE, check, requests_for
from benchmarks.targets import INPUT_BUCKET, INPUT_REPO, OUTPUT_REPO, fill_input

ROOT = Path(__file__).resolve().parent.parent


def export(ref: str, into: Path) -> None:
    """``pachs3/`` at ``ref`` into ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "pachs3"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    parser.add_argument("ref")
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from pachs3 import LocalStore

    with tempfile.TemporaryDirectory(prefix="pachs3-ab-") as temp:
        work = Path(temp)
        export(args.ref, work / "before")
        envs = {"before": python_env(), "after": python_env()}
        envs["before"]["PYTHONPATH"] = os.pathsep.join([str(work / "before"), str(ROOT)])
        for name, env in envs.items():  # which pachs3 each server will import
            where = subprocess.run(
                [sys.executable, "-c", "import pachs3; print(pachs3.__file__)"],
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            print(f"{name}: {where}")
        stores = {}
        for name in envs:
            stores[name] = work / f"store-{name}"
            with LocalStore(stores[name]) as store:
                fill_input(store, servers.fill_keys(100, SIZE, 1000))
        with contextlib.ExitStack() as stack:
            started = {
                name: stack.enter_context(
                    servers.start(
                        servers.pachs3_command(
                            stores[name],
                            output=OUTPUT_REPO,
                            inputs={INPUT_BUCKET: f"{INPUT_REPO}@master"},
                        ),
                        work / f"{name}.stderr",
                        env=env,
                        cwd=work,
                    )
                )
                for name, env in envs.items()
            }
            for server in started.values():
                check(server.endpoint_url, 1000)
            print(
                f"{'op':5} {'before req/s':>12} {'after req/s':>12} {'before us':>10} "
                f"{'after us':>10} {'after/before CPU':>17}"
            )
            for op in args.ops.split(","):
                makers = {
                    name: requests_for(op, urlsplit(s.endpoint_url).netloc, 100)
                    for name, s in started.items()
                }
                for name, server in started.items():
                    drive(
                        server.endpoint_url,
                        makers[name],
                        connections=2,
                        seconds=0.3,
                        pid=server.pid,
                    )
                runs = interleave(
                    {
                        name: (
                            lambda s=server, make=makers[name]: drive(
                                s.endpoint_url,
                                make,
                                connections=args.connections,
                                seconds=args.seconds,
                                pid=s.pid,
                            )
                        )
                        for name, server in started.items()
                    },
                    args.rounds,
                )
                rps = {n: median([r.per_second for r in done]) for n, done in runs.items()}
                cpu = {n: [r.server_cpu_us for r in done] for n, done in runs.items()}
                ratio = paired_ratio(cpu["after"], cpu["before"])
                print(
                    f"{op:5} {rps['before']:12,.0f} {rps['after']:12,.0f} "
                    f"{median(cpu['before']):10,.0f} {median(cpu['after']):10,.0f} "
                    f"{ratio:17.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
