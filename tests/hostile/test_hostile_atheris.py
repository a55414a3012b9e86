"""The coverage-guided fuzz targets (``fuzz_atheris.py``) in the normal run: every seed and a
few thousand deterministic mutations of it go through each target (no atheris needed), and,
when atheris is installed, one short real libFuzzer run proves the harness works."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_atheris import SEEDS, TALLIES, TARGETS
from hostile_support import FUZZ_TALLIES

HERE = Path(__file__).resolve().parent
FUZZ_TALLIES.append(("atheris-replay", TALLIES))


def mutations(seed: bytes, count: int, rng: random.Random) -> list[bytes]:
    """Truncations, byte flips, insertions, deletions and splices of ``seed`` (libFuzzer's
    staple mutations, done by hand)."""
    out = [seed, b"", seed[: len(seed) // 2]]
    for _ in range(count):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(5)
            at = rng.randrange(len(data) + 1)
            if kind == 0 and data:
                data[at % len(data)] = rng.randrange(256)
            elif kind == 1:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif kind == 2 and data:
                del data[at : at + rng.randint(1, 16)]
            elif kind == 3:
                data[at:at] = rng.choice([b"\r\n", b"%", b"%FF", b"..", b"&", b"<", b";", b"\x00"])
            else:
                donor = rng.choice(seed.split(b"\r\n") or [b""])
                data[at:at] = donor
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_replays_seeds_and_mutations(target: str) -> None:
    rng = random.Random(f"pachs3-{target}")
    run = TARGETS[target]
    for seed in SEEDS.get(target, [b""]):
        for data in mutations(seed, 150, rng):
            run(data)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_a_short_libfuzzer_run() -> None:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent)}
    env.pop("PACHS3_FUZZ_REPORT", None)
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_atheris.py"), "request", "-atheris_runs=3000"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "request: 3000 cases" in result.stdout
