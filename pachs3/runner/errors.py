"""The one error of ``pachs3 run`` that is the user's to fix before anything runs."""

from __future__ import annotations

__all__ = ["RunError"]


class RunError(Exception):
    """The job cannot start as asked (a usage problem: the CLI exits 2); nothing ran."""
