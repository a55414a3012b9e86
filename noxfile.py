"""Developer sessions: the same commands .ci/run uses. `nox -l` lists them."""

from __future__ import annotations

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
    session.install("-e", ".[all]")
    session.run("python", "-m", "benchmarks", *session.posargs)
