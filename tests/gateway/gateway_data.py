"""Data shared by the gateway suites (imported by name: tests/ has no packages)."""

from __future__ import annotations

import os

SPECIAL_KEY = "dir/sp ace+plus%pct&amp=eqü€~.txt"

# What the seeded input commit holds: small text, a nested path, the special key, an empty
# file, a directory marker, and one object big enough for ranged and multipart downloads.
INPUT_FILES: dict[str, bytes] = {
    "a.txt": b"hello\n",
    "dir/small.txt": b"small file\n",
    "dir/sub/deep.csv": b"x,y\n1,2\n",
    SPECIAL_KEY: b"special key payload",
    "empty.bin": b"",
    "marker/": b"",
    "big.bin": os.urandom(9 * 1024 * 1024 + 123),
}
