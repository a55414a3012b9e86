"""How S3 keys are laid onto PFS paths: which keys PFS can hold, and where pachs3 keeps its
records. Pure functions, testable without a cluster.

An S3 key ``K`` is the PFS path ``/K``. PFS cleans every path it is given (``path.Clean`` plus
one leading ``/``), so a key that cleaning would change has no faithful PFS path: it would
silently alias another key. Such keys are refused (``NotSupported``, S3 ``InvalidArgument``)
when written and are simply absent when read: an empty key, a leading or trailing ``/``
(``dir/`` markers), ``//``, a ``.`` or ``..`` segment, and keys under the reserved directory
``.pachs3/``. pachd itself refuses names that are not printable ASCII or hold a glob
character (``ValidateFilename``), and a name with ``\\`` cannot be read back by GetFile; those
are refused too, before any byte of a body is read (``KEY_RULES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

RESERVED_DIR = ".pachs3"
"""The top-level PFS directory pachs3 keeps its records in; hidden from walks, never writable."""

META_ROOT = f"/{RESERVED_DIR}/meta"
HIDDEN_BRANCH_PREFIX = "pachs3_commit_"

_COMMIT_ID = re.compile(r"[0-9a-f]{32}")


def is_commit_id(ref: str) -> bool:
    """PFS 2.x commit ids are dash-less UUIDs; anything else names a branch."""
    return _COMMIT_ID.fullmatch(ref) is not None


# --------------------------------------------------------------------------------------------
# Keys and paths


_NOT_PRINTABLE_ASCII = re.compile(r"[^ -~]")
_GLOB_CHARACTERS = re.compile(r"[*?[\]{}!()@+^]")


def _non_ascii(key: str) -> str | None:
    found = _NOT_PRINTABLE_ASCII.search(key)
    if found is None:
        return None
    return (
        f"PFS cannot hold the name {key!r}: pachd accepts printable ASCII only (0x20-0x7E), "
        f"not {found.group()!r}"
    )


def _glob_character(key: str) -> str | None:
    found = _GLOB_CHARACTERS.search(key)
    if found is None:
        return None
    return (
        f"PFS cannot hold the name {key!r}: pachd refuses the glob characters "
        f"* ? [ ] {{ }} ! ( ) @ + ^ in paths (found {found.group()!r})"
    )


def _backslash(key: str) -> str | None:
    if "\\" not in key:
        return None
    # pachd stores the name, but GetFile reads by glob: '\' escapes there, while the literal
    # prefix pachd filters on keeps it, so no pattern reads the file back by its name.
    return f"PFS cannot serve the name {key!r}: pachd's GetFile cannot read a name with '\\'"


def _slashes(key: str) -> str | None:
    if "" not in key.split("/"):
        return None
    if key.endswith("/"):
        return (
            f"{key!r} ends with '/': PFS has no directory markers (it would store the key "
            "without the slash)"
        )
    return f"{key!r} has an empty path segment: PFS would collapse it ('//' or a leading '/')"


def _dot_segment(key: str) -> str | None:
    if not {".", ".."} & set(key.split("/")):
        return None
    return f"{key!r} has a '.' or '..' segment: PFS would resolve it to another path"


def _reserved(key: str) -> str | None:
    if key.split("/", 1)[0] != RESERVED_DIR:
        return None
    return f"keys under {RESERVED_DIR}/ are reserved for pachs3's object records"


KEY_RULES: tuple[Callable[[str], str | None], ...] = (
    _non_ascii,  # ValidateFilename (pfs/server/paths.go), on every AddFile and DeleteFile
    _glob_character,  # ValidateFilename
    _backslash,  # GetFile's glob (driver_file.go getFile, paths.go globLiteralPrefix)
    _slashes,  # CleanPath would change the key
    _dot_segment,  # CleanPath would resolve it; ValidateFilename refuses it too
    _reserved,  # pachs3's own records
)
"""Why PFS cannot hold a key, one rule each, in the order they are asked."""


def key_problem(key: str) -> str | None:
    """Why ``key`` has no faithful PFS path, or None when ``/key`` is one."""
    if not key:
        return "a key cannot be empty"
    for rule in KEY_RULES:
        problem = rule(key)
        if problem is not None:
            return problem
    return None


def pfs_path(key: str) -> str:
    return "/" + key


def meta_path(key: str) -> str:
    return f"{META_ROOT}/{key}"


def is_reserved_path(path: str) -> bool:
    return path == f"/{RESERVED_DIR}" or path.startswith(f"/{RESERVED_DIR}/")
