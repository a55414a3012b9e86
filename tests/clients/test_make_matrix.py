"""make_matrix.py --check: a committed matrix passes only when every cell and reason is what the
run recorded (the CI stage after README command 2 relies on it)."""

from __future__ import annotations

from make_matrix import differences, matrix_lines

DOC = """# Client compatibility

Run: 3 passed, at commit `abc`.

## Matrix: sidecar mode

| operation | boto3 | s3fs |
|---|---|---|
| get | ✅ | n/a [1] |

1. n/a: s3fs has no such call

## Clients and versions

| client | versions | suite time (s) |
|---|---|---|
| boto3 | 1.0 | 3.2 |
"""


def test_the_matrix_lines_are_the_cells_and_reasons_only() -> None:
    assert matrix_lines(DOC) == [
        "| operation | boto3 | s3fs |",
        "|---|---|---|",
        "| get | ✅ | n/a [1] |",
        "1. n/a: s3fs has no such call",
    ]


def test_a_run_line_or_a_time_may_differ_but_not_a_cell() -> None:
    rerun = DOC.replace("3 passed, at commit `abc`", "3 passed, at commit `def`")
    assert differences(DOC, rerun.replace("| 3.2 |", "| 9.9 |")) == []
    failed = DOC.replace("| get | ✅ |", "| get | 💥 failed [2] |")
    assert differences(DOC, failed) == [
        "- committed: | get | ✅ | n/a [1] |",
        "+ this run:  | get | 💥 failed [2] | n/a [1] |",
    ]
