"""What a spec that cannot be used raises: every ``Problem`` found, in one ``SpecError``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with a spec: where (a field path, "" for the whole text) and what to do."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """A spec that cannot be used; ``problems`` has every reason: syntax and fields, then rules."""

    def __init__(self, problems: Sequence[Problem], *, source: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''}{where}"
        super().__init__("\n".join([head + ":", *(f"  {p}" for p in self.problems)]))
