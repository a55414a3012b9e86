"""Data shared by the gateway suites (imported by name: tests/ has no packages)."""

from __future__ import annotations

import os

SPECIAL_KEY = "dir/sp ace+plus%pct&amp=eqü€~.txt"
PFS_SPECIAL_KEY = "dir/sp ace%pct&amp=eq~$#,;.txt"
"""The special key on PachydermBackend: pachd holds printable ASCII names without glob
characters only (docs/pachyderm.md, "Paths"), so no ``+`` and no ``ü€``."""

MARKER_KEY = "marker/"
"""An S3 directory marker: an empty object whose key ends with ``/``. PFS cannot store one (it
cleans the trailing ``/`` away), so PachydermBackend refuses such keys (docs/pachyderm.md,
"Paths") and the seeded input holds it only on backends that can (``seeded_input``)."""

# What the seeded input commit holds: small text, a nested path, the special key, an empty
# file, a directory marker, and one object big enough for ranged and multipart downloads.
INPUT_FILES: dict[str, bytes] = {
    "a.txt": b"hello\n",
    "dir/small.txt": b"small file\n",
    "dir/sub/deep.csv": b"x,y\n1,2\n",
    SPECIAL_KEY: b"special key payload",
    "empty.bin": b"",
    MARKER_KEY: b"",
    "big.bin": os.urandom(9 * 1024 * 1024 + 123),
}


def seeded_input(*, holds_markers: bool, special_key: str = SPECIAL_KEY) -> dict[str, bytes]:
    """What the seeded input holds on a backend: ``INPUT_FILES``, without the directory marker
    when the backend cannot store one, with the backend's ``special_key``."""
    files = {special_key if key == SPECIAL_KEY else key: data for key, data in INPUT_FILES.items()}
    if holds_markers:
        return files
    return {key: data for key, data in files.items() if not key.endswith("/")}
