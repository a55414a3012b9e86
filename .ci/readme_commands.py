"""Print one of the README's set-up commands, exactly as the README shows it.

The README opens with two fenced ``sh`` blocks: the main job (1) and the test suite (2). CI runs
them from here instead of keeping its own copy, so the two cannot drift apart again (they did
once: CI upgraded pip while the README's command failed with the pip Python ships).

    python3 .ci/readme_commands.py 2        # the second block's command

Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
SET_UP_BLOCKS = 2
FENCED_SH = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_commands(text: str) -> list[str]:
    """The first two ``sh`` blocks, each one command on one line (checked, not assumed)."""
    blocks = [block.strip() for block in FENCED_SH.findall(text)[:SET_UP_BLOCKS]]
    if len(blocks) != SET_UP_BLOCKS:
        raise SystemExit(
            f"README.md: expected {SET_UP_BLOCKS} sh blocks at the top, found {blocks}"
        )
    for block in blocks:
        if "\n" in block:
            raise SystemExit(f"README.md: a set-up block must be one command line, got:\n{block}")
    return blocks


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"1", "2"}:
        print(__doc__, file=sys.stderr)
        return 2
    print(readme_commands(README.read_text(encoding="utf-8"))[int(argv[0]) - 1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
