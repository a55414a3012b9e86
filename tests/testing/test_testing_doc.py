"""docs/testing.md runs as written: its moto and pachs3 versions of the same test pass, in a
fresh directory and pytest process, and the line counts the page states are the real ones.

The page marks each block that runs with ``<!-- testing.md runs: FILE -->`` on the line before
its fence; the blocks are written to those files unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
RUNS = re.compile(r"<!-- testing\.md runs: (?P<name>[\w.]+) -->\n```python\n(?P<code>.*?)```", re.S)
COUNTS = re.compile(r"\*\*(?P<moto>\d+) lines with moto, (?P<pachs3>\d+) with pachs3\*\*")


def runnable_blocks() -> dict[str, str]:
    return {m["name"]: m["code"] for m in RUNS.finditer(PAGE.read_text(encoding="utf-8"))}


def code_lines(code: str) -> int:
    return sum(1 for line in code.splitlines() if line.strip())


def test_the_page_marks_the_three_blocks() -> None:
    assert set(runnable_blocks()) == {"lab_summary.py", "test_with_moto.py", "test_with_pachs3.py"}


def test_both_versions_pass_as_written(pytester: pytest.Pytester) -> None:
    for name, code in runnable_blocks().items():
        pytester.path.joinpath(name).write_text(code, encoding="utf-8")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_with_moto.py::test_summarise PASSED*",
            "*test_with_pachs3.py::test_summarise PASSED*",
        ]
    )
    result.assert_outcomes(passed=2)


def test_the_stated_line_counts_are_the_real_ones() -> None:
    blocks = runnable_blocks()
    stated = COUNTS.search(PAGE.read_text(encoding="utf-8"))
    assert stated is not None, "the page states the two line counts"
    moto = code_lines(blocks["test_with_moto.py"])
    pachs3 = code_lines(blocks["test_with_pachs3.py"])
    assert (int(stated["moto"]), int(stated["pachs3"])) == (moto, pachs3)
    assert pachs3 < moto
