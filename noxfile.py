"""Developer sessions: the same commands .ci/run uses. `nox -l` lists them."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "types", "layers", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (what CI runs)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "pachs3", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "pachs3")


@nox.session
def types(session: nox.Session) -> None:
    session.install("-e", ".[all]")
    session.run("mypy")


@nox.session
def layers(session: nox.Session) -> None:
    """The import-layer contracts of DESIGN.md §1 (pyproject.toml [tool.importlinter])."""
    session.install("-e", ".", "import-linter")
    session.run("lint-imports")


@nox.session
def bench(session: nox.Session) -> None:
    """pachs3 beside moto, same workloads, same client: results in docs/benchmarks.md."""
    session.install("-e", ".[all,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


FUZZ_RUNS = {
    "request": 400_000,
    "range": 100_000,
    "chunked": 100_000,
    "xml-delete": 100_000,
    "xml-complete": 100_000,
    "token": 50_000,
    "listing": 100_000,
    "sigv4": 100_000,
}
"""libFuzzer inputs per coverage-guided target (tests/hostile/fuzz_atheris.py): 1.05 M."""


@nox.session
def fuzz(session: nox.Session) -> None:
    """Hostile input, faults and load at depth (tests/hostile, docs/reliability.md).

    About 1.15 M fuzz cases (hypothesis, then atheris) and a 40 s run of 64 clients: about
    7 minutes on 2 cores. ``nox -s fuzz -- 200000`` raises the hypothesis budget. Each target's
    figures are appended to .nox/fuzz/tmp/fuzz-report.jsonl; a crashing atheris input is kept
    in .nox/fuzz/tmp/crashes/.
    """
    session.install("-e", ".[test]", "atheris")
    tmp = session.create_tmp()
    report = os.path.join(tmp, "fuzz-report.jsonl")
    if os.path.exists(report):
        os.remove(report)
    crashes = os.path.join(tmp, "crashes")
    os.makedirs(crashes, exist_ok=True)
    env = {
        "PACHS3_FUZZ_CASES": session.posargs[0] if session.posargs else "100000",
        "PACHS3_SOAK_SECONDS": "40",
        "PACHS3_FUZZ_REPORT": report,
        "PACHS3_FUZZ_ARTIFACTS": crashes,
    }
    # hypothesis warns about the repr of a huge failing example; the failure matters more
    ignore = "ignore::hypothesis.errors.HypothesisWarning"
    session.run("pytest", "tests/hostile", "-q", "-p", "no:cacheprovider", "-W", ignore, env=env)
    for target, runs in FUZZ_RUNS.items():
        session.run(
            "python", "tests/hostile/fuzz_atheris.py", target, f"-atheris_runs={runs}", env=env
        )
    session.log(f"fuzz figures: {report}")
