"""The set-up a newcomer follows: the README's commands, the extras and the locked versions.

CI runs the README's two commands as ``.ci/readme_commands.py`` reads them; these tests keep
what they rely on true between runs: each command installs from ``constraints.txt``, and that
file pins every dependency any extra names, at a version the extra accepts (a dependency added
to pyproject.toml without ``nox -s lock`` fails here, not on a newcomer's machine).
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_EXTRAS = {"server", "boto", "fast", "pachyderm"}


def _load_readme_commands() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "readme_commands", ROOT / ".ci/readme_commands.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _extras() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        name: [Requirement(text) for text in requirements]
        for name, requirements in project["optional-dependencies"].items()
    }


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: not a pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_readme_opens_with_the_two_commands_ci_runs() -> None:
    main_job, suite = _load_readme_commands().readme_commands((ROOT / "README.md").read_text())
    assert "/pachs3 run examples/s3_protocol_enabled_pipeline/pipeline.json" in main_job
    assert suite.endswith("&& .venv/bin/python -m pytest")
    for command in (main_job, suite):
        assert command.startswith("python3 -m venv .venv && ")
        assert "-c constraints.txt" in command, "a fresh install must use the locked versions"


def test_a_readme_block_of_two_lines_is_refused() -> None:
    module = _load_readme_commands()
    with pytest.raises(SystemExit, match="one command line"):
        module.readme_commands("```sh\necho one\necho two\n```\n```sh\necho three\n```\n")
    with pytest.raises(SystemExit, match="expected 2"):
        module.readme_commands("```sh\necho one\n```\n")


def test_all_is_every_runtime_extra_and_nothing_else() -> None:
    (everything,) = _extras()["all"]
    assert canonicalize_name(everything.name) == "pachs3"
    assert everything.extras == RUNTIME_EXTRAS


def test_dev_brings_the_tests_linters_and_docs() -> None:
    (dev_self, *_) = _extras()["dev"]
    assert {"test", "lint", "docs"} <= dev_self.extras


def test_constraints_pin_every_dependency_of_every_extra_within_its_range() -> None:
    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = [Requirement(text) for text in project["dependencies"]]
    required += [
        r for rs in _extras().values() for r in rs if canonicalize_name(r.name) != "pachs3"
    ]
    problems = []
    for requirement in required:
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} is outside {requirement.specifier}")
    assert not problems, "run `nox -s lock`: " + "; ".join(problems)


def test_constraints_do_not_pin_pachs3_itself() -> None:
    assert "pachs3" not in _pins()
    assert not re.search(r"^-e ", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
