"""The S3 error family: its docstring's table is the classes' own codes and statuses."""

from __future__ import annotations

import inspect
import re

from pachs3.core import errors


def test_the_docstring_table_lists_every_code_under_its_status() -> None:
    table = errors.__doc__.split("Hierarchy::")[1].split("304 Not Modified")[0]
    documented: dict[int, set[str]] = {}
    status = 0
    for line in table.splitlines():
        found = re.search(r"(\d{3}): ", line)
        if found:
            status = int(found.group(1))
        documented.setdefault(status, set()).update(re.findall(r"\b[A-Z][A-Za-z0-9]+\b", line))
    documented.pop(0, None)
    actual: dict[int, set[str]] = {}
    for cls in vars(errors).values():
        if inspect.isclass(cls) and issubclass(cls, errors.S3Error) and cls is not errors.S3Error:
            actual.setdefault(cls.status, set()).add(cls.code)
    assert documented == actual
