"""A whole S3-enabled job, the shape of Pachyderm's sidecar example at scale.

The transform copies the input bucket to a scratch directory and the scratch directory to
``out``, both with ``aws s3 cp --recursive`` (``python -m awscli``, the same CLI and settings
for every target). Each input shape (many small files; few big ones) runs against:

* ``pachs3_run``   -- ``python -m pachs3 run`` all in: seeding the input from the directory,
  the gateway, the transform, finishing the output commit (a fresh store each time);
* ``pachs3_noop``  -- the same with a transform that does nothing: what seeding, the process
  and the commit cost without the client;
* ``pachs3_serve`` -- the transform against ``python -m pachs3 serve`` in its own process over a
  store seeded beforehand: the client's wall time, the server's CPU meanwhile, and the time to
  finish the output commit (SIGTERM until the process exits);
* ``moto``         -- the transform against moto's server (input filled through its backend);
* ``null``         -- the transform against ``benchmarks.null_s3``, which stores nothing: the
  aws CLI's own floor;
* ``cp``           -- ``cp -r`` in and ``cp -r`` out: the physical reference.

pachs3's outputs are checked (every file in the finished output commit).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import servers
from benchmarks.harness import Json, Preset, interleave, median, paired_ratio, python_env
from benchmarks.rawhttp import server_cpu_seconds

BUCKET = "data"
PIPELINE = "bench_job"
SCRIPT = (
    'set -e; rm -rf "$SCRATCH"; mkdir -p "$SCRATCH"; '
    'AWS="$BENCH_PYTHON -m awscli --endpoint-url $S3_ENDPOINT"; '
    f'$AWS s3 cp s3://{BUCKET}/ "$SCRATCH/" --recursive --only-show-errors; '
    '$AWS s3 cp "$SCRATCH/" s3://out/ --recursive --only-show-errors'
)
TARGETS = ("pachs3_run", "pachs3_noop", "pachs3_serve", "moto", "null", "cp")


def make_input(directory: Path, count: int, size: int) -> None:
    """``count`` files of ``size`` random bytes, a hundred to a subdirectory."""
    block = os.urandom(size + 64)
    for n in range(count):
        sub = directory / f"d{n // 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{n:05d}.bin").write_bytes(block[n % 64 : n % 64 + size])


def write_spec(path: Path, scratch: Path, script: str) -> None:
    spec = {
        "pipeline": {"name": PIPELINE},
        "input": {"pfs": {"glob": "/", "repo": BUCKET, "name": BUCKET, "s3": True}},
        "transform": {
            "cmd": ["sh"],
            "stdin": [script],
            "env": {"SCRATCH": str(scratch), "BENCH_PYTHON": sys.executable},
        },
        "s3_out": True,
    }
    path.write_text(json.dumps(spec), encoding="utf-8")


def client_env(endpoint: str, scratch: Path) -> dict[str, str]:
    return {
        **python_env(),
        "S3_ENDPOINT": endpoint,
        "SCRATCH": str(scratch),
        "BENCH_PYTHON": sys.executable,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def _run(command: list[str], env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"{command[:4]} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def check_output(store_dir: Path, count: int) -> None:
    from pachs3 import LocalStore
    from pachs3.core.refs import CommitRef

    with LocalStore(store_dir) as store:
        head = store.inspect_branch(PIPELINE, "master").head
        if head is None:
            raise AssertionError("no output commit")
        info = store.inspect_commit(PIPELINE, head)
        if info.error:
            raise AssertionError(f"output commit failed: {info.error}")
        found = sum(1 for _ in store.walk_files(CommitRef(repo=PIPELINE, id=head)))
    if found != count:
        raise AssertionError(f"output commit has {found} files, expected {count}")


class Job:
    """The targets of one input shape, each a callable returning its figures."""

    def __init__(self, workdir: Path, count: int, size: int) -> None:
        self.workdir, self.count, self.size = workdir, count, size
        self.source = workdir / "input"
        make_input(self.source, count, size)
        self.scratch = workdir / "scratch"
        self.spec = workdir / "job.json"
        self.noop_spec = workdir / "noop.json"
        write_spec(self.spec, self.scratch, SCRIPT)
        write_spec(self.noop_spec, self.scratch, "true")
        self.fresh = 0

    def _store(self) -> Path:
        self.fresh += 1
        path = self.workdir / f"store-{self.fresh}"
        shutil.rmtree(path, ignore_errors=True)
        return path

    def pachs3_run(self, spec: Path | None = None, *, check: bool = True) -> Json:
        store = self._store()
        command = [sys.executable, "-m", "pachs3", "run", str(spec or self.spec)]
        command += ["--input", f"{BUCKET}={self.source}", "--store", str(store)]
        seconds = _run(command, python_env())
        if check:
            check_output(store, self.count)
        shutil.rmtree(store, ignore_errors=True)
        return {"seconds": seconds}

    def pachs3_noop(self) -> Json:
        return self.pachs3_run(self.noop_spec, check=False)

    def pachs3_serve(self) -> Json:
        from benchmarks.targets import INPUT_REPO, fill_input
        from pachs3 import LocalStore

        store = self._store()
        began = time.perf_counter()
        with LocalStore(store) as backend:
            fill_input(backend, _files(self.source))
        seeding = time.perf_counter() - began
        command = servers.pachs3_command(
            store, output=PIPELINE, inputs={BUCKET: f"{INPUT_REPO}@master"}
        )
        with servers.start(command, self.workdir / "pachs3.stderr") as server:
            cpu = server_cpu_seconds(server.pid)
            seconds = _run(["sh", "-c", SCRIPT], client_env(server.endpoint_url, self.scratch))
            cpu = server_cpu_seconds(server.pid) - cpu
            began = time.perf_counter()
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(600)
            finish = time.perf_counter() - began
        check_output(store, self.count)
        shutil.rmtree(store, ignore_errors=True)
        return {
            "seconds": seconds,
            "server_cpu_seconds": cpu,
            "finish_seconds": finish,
            "seeding_seconds": seeding,
        }

    def moto(self) -> Json:
        command = ["-m", "benchmarks.servers", "moto-dir", BUCKET, str(self.source)]
        with servers.start(command, self.workdir / "moto.stderr") as server:
            cpu = server_cpu_seconds(server.pid)
            seconds = _run(["sh", "-c", SCRIPT], client_env(server.endpoint_url, self.scratch))
            return {"seconds": seconds, "server_cpu_seconds": server_cpu_seconds(server.pid) - cpu}

    def null(self) -> Json:
        command = ["-m", "benchmarks.null_s3", BUCKET, str(self.source)]
        with servers.start(command, self.workdir / "null.stderr") as server:
            cpu = server_cpu_seconds(server.pid)
            seconds = _run(["sh", "-c", SCRIPT], client_env(server.endpoint_url, self.scratch))
            return {"seconds": seconds, "server_cpu_seconds": server_cpu_seconds(server.pid) - cpu}

    def cp(self) -> Json:
        out = self.workdir / "cp-out"
        shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        seconds = _run(
            [
                "sh",
                "-c",
                f'cp -r "{self.source}" "{self.scratch}" && cp -r "{self.scratch}" "{out}"',
            ]
        )
        shutil.rmtree(out, ignore_errors=True)
        return {"seconds": seconds}


def _files(directory: Path) -> list[tuple[str, bytes]]:
    return [
        (path.relative_to(directory).as_posix(), path.read_bytes())
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    ]


def run(preset: Preset, workdir: Path) -> Json:
    import importlib.util

    if importlib.util.find_spec("awscli") is None:
        return {"not_run": "the aws CLI (pip package awscli, in the bench extra) is not installed"}
    result: Json = {"shapes": {}, "rounds": preset.job_rounds}
    for count, size in preset.job_inputs:
        name = f"{count}x{size}"
        job = Job(workdir / name, count, size)
        measures: dict[str, Callable[[], Json]] = {t: getattr(job, t) for t in TARGETS}
        runs = interleave(measures, preset.job_rounds)
        seconds = {t: [r["seconds"] for r in done] for t, done in runs.items()}
        result["shapes"][name] = {
            "files": count,
            "file_size": size,
            "runs": runs,
            "seconds": {t: median(values) for t, values in seconds.items()},
            "ratios": {
                "pachs3_run/null": paired_ratio(seconds["pachs3_run"], seconds["null"]),
                "pachs3_serve/null": paired_ratio(seconds["pachs3_serve"], seconds["null"]),
                "moto/pachs3_run": paired_ratio(seconds["moto"], seconds["pachs3_run"]),
                "moto/pachs3_serve": paired_ratio(seconds["moto"], seconds["pachs3_serve"]),
            },
        }
        shutil.rmtree(workdir / name, ignore_errors=True)
    return result
