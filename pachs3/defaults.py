"""Pachyderm's default names, spelled once for every layer (the core, the spec model, the gateway).

The lowest module of the package: it imports nothing, so the pure layers, which may not import
each other, can all take these from here.
"""

DEFAULT_BRANCH = "master"
"""The branch an input or an output names when it names none (Pachyderm's default)."""

DEFAULT_PROJECT = "default"
"""The project of a repo when none is named (Pachyderm 2.5+)."""
